"""Default column names and every Spark schema the stages produce, in one place."""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
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

MANIFEST_SCHEMA = StructType(
    [
        StructField("input_path", StringType(), False),
        StructField("output_path", StringType(), True),
        StructField("status", StringType(), False),
        StructField("error", StringType(), True),
        StructField("input_bytes", LongType(), True),
        StructField("output_bytes", LongType(), True),
        StructField("input_id", StringType(), False),
    ]
)

FIELD_BINARY = BinaryType()
FIELD_STRING = StringType()
