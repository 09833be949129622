"""Default column names and every Spark schema the stages produce, in one place."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

PATH_COL = "path"
CONTENT_COL = "content"
METADATA_COL = "metadata"
DICOM_COL = "dicom"
ERROR_COL = "error"
DOCUMENT_COL = "tag_document"
TAG_MAPPING_COL = "tag_mapping"
IMAGE_COL = "image"
FRAME_COL = "frame"
NUM_FRAMES_COL = "num_frames"
HEADER_TERMS_COL = "header_terms"
OCR_COL = "ocr"
ENTITIES_COL = "entities"
REGIONS_COL = "regions"
CLEANED_DOCUMENT_COL = "cleaned_document"
MASKED_DICOM_COL = "masked_dicom"
OCR_AREAS_COL = "ocr_areas"
REUSE_FRAMES_COL = "reuse_frames"
PLANE_COL = "plane"  # null for Pixel Data rows, the overlay group ("6000") for overlay rows

# One entry per line of the tag document: which element the line came from and
# where it sits in the document, so NER spans map back to tags.
TAG_MAPPING_TYPE = ArrayType(
    StructType(
        [
            StructField("tag_path", StringType(), False),
            StructField("keyword", StringType(), True),
            StructField("begin", IntegerType(), False),
            StructField("end", IntegerType(), False),
        ]
    )
)

# One frame rendered for OCR (8-bit grey or RGB, row-major, H x W x nChannels
# bytes), after Visual NLP's image struct; ``scale`` is width / original_width.
IMAGE_TYPE = StructType(
    [
        StructField("origin", StringType(), True),
        StructField("height", IntegerType(), False),
        StructField("width", IntegerType(), False),
        StructField("nChannels", IntegerType(), False),
        StructField("mode", IntegerType(), False),
        StructField("data", BinaryType(), False),
        StructField("original_height", IntegerType(), False),
        StructField("original_width", IntegerType(), False),
        StructField("scale", DoubleType(), False),
    ]
)

# Identifying values from a file's own header, for header-informed NER.
HEADER_TERMS_TYPE = ArrayType(
    StructType(
        [
            StructField("kind", StringType(), False),
            StructField("value", StringType(), False),
        ]
    )
)

_BOX_FIELDS = [
    StructField("x0", FloatType(), False),
    StructField("y0", FloatType(), False),
    StructField("x1", FloatType(), False),
    StructField("y1", FloatType(), False),
]

# A frame's OCR: lines joined by "\n", words by " "; word boxes in ORIGINAL
# pixel coordinates; begin/end locate each word in ``text``.
OCR_TYPE = StructType(
    [
        StructField("text", StringType(), False),
        StructField(
            "words",
            ArrayType(
                StructType(
                    [
                        StructField("text", StringType(), False),
                        StructField("begin", IntegerType(), False),
                        StructField("end", IntegerType(), False),
                        StructField("confidence", FloatType(), False),
                        *_BOX_FIELDS,
                        StructField("line", IntegerType(), False),
                    ]
                )
            ),
            False,
        ),
        StructField("engine", StringType(), True),
        # original frame size, so regions can be clipped without the image
        StructField("frame_width", IntegerType(), False),
        StructField("frame_height", IntegerType(), False),
    ]
)

ENTITIES_TYPE = ArrayType(
    StructType(
        [
            StructField("begin", IntegerType(), False),
            StructField("end", IntegerType(), False),
            StructField("label", StringType(), False),
            StructField("source", StringType(), False),
            StructField("score", FloatType(), False),
        ]
    )
)

# Where to read a rendered frame (rendered-image pixels); null = the whole frame.
AREAS_TYPE = ArrayType(StructType(list(_BOX_FIELDS)))

# Pixel regions to mask on one frame, original coordinates, clipped.
REGIONS_TYPE = ArrayType(
    StructType([*_BOX_FIELDS, StructField("label", StringType(), False)])
)

MANIFEST_SCHEMA = StructType(
    [
        StructField("input_path", StringType(), False),
        StructField("output_path", StringType(), True),
        StructField("status", StringType(), False),
        StructField("error", StringType(), True),
        StructField("input_bytes", LongType(), True),
        StructField("output_bytes", LongType(), True),
        StructField("input_id", StringType(), False),
        StructField("document_action", StringType(), True),
        # the file's crosswalk rows (JSON) when one was asked for; never written to the manifest
        StructField("crosswalk", StringType(), True),
    ]
)

FIELD_BINARY = BinaryType()
FIELD_STRING = StringType()
