"""The pixel stages inside real Spark: real OCR, real files, save/load, adapters."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pyspark.ml import Pipeline, PipelineModel, Transformer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    FloatType,
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from sparkdeid import pipeline, schemas
from sparkdeid.ocr.registry import get_engine
from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.text_detector import TextDetector

pytestmark = pytest.mark.spark

deid_data = pytest.importorskip("deid_data", reason="needs the PyPI package deid-data")
ULTRASOUNDS = Path(deid_data.__file__).parent / "data" / "ultrasounds"
US_FILES = ("GREYSCALE_IMAGE.dcm", "RGB_IMAGE.dcm")
# Real pydicom files whose pixels carry no burned-in text.
NO_TEXT_FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm")


def _rows_by_name(df: DataFrame) -> dict[str, dict]:
    return {os.path.basename(r["path"]): r.asDict() for r in df.collect()}


def _ocr_words(ds: pydicom.Dataset) -> list[str]:
    """Re-read a de-identified image with the same OCR: what a viewer would still show."""
    arr = ds.pixel_array
    if arr.dtype != np.uint8:
        arr = (255 * (arr - arr.min()) / max(1, np.ptp(arr))).astype(np.uint8)
    return [w.text for line in get_engine("rapidocr").read(arr) for w in line.words]


@pytest.fixture(scope="module")
def ultrasound_df(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("us")
    for name in US_FILES:
        shutil.copy(ULTRASOUNDS / name, folder / name)
    return spark.read.format("binaryFile").load(str(folder))


@pytest.fixture(scope="module")
def full_output(ultrasound_df, secret_file_module):
    model = pipeline.full_pipeline(secret_file=secret_file_module).fit(ultrasound_df)
    return _rows_by_name(model.transform(ultrasound_df))


@pytest.fixture(scope="module")
def secret_file_module(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "secret.key"
    path.write_bytes(b"pixel-stage-test-secret-0123456789\n")
    return str(path)


def test_deid_data_ultrasounds_lose_their_burned_in_phi(full_output):
    for name in US_FILES:
        row = full_output[name]
        assert row["error"] is None, row["error"]
        original = pydicom.dcmread(ULTRASOUNDS / name)
        out = pydicom.dcmread(io.BytesIO(row["dicom"]))
        assert out.BurnedInAnnotation == "NO"
        assert row["regions_masked"] > 0
        # PHI the scanner printed (also in the header): name parts, ids, dates
        family = str(original.PatientName).split("^")[0].replace("ZZZ", "").strip()
        leaked_words = " ".join(_ocr_words(out)).upper()
        for needle in (family, str(original.PatientID).lstrip("0"), "CLEVELAND"):
            assert needle and needle.upper() not in leaked_words, f"{name}: PHI still legible"
        for date in (original.get("StudyDate", ""), original.get("PatientBirthDate", "")):
            if date:
                us = f"{date[4:6]}/{date[6:8]}/{date[:4]}"
                assert us not in leaked_words
        assert out.Rows == original.Rows and out.PhotometricInterpretation == (
            original.PhotometricInterpretation
        )
        assert out.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_ultrasound_keeps_most_of_the_image(full_output):
    for name in US_FILES:
        original = pydicom.dcmread(ULTRASOUNDS / name).pixel_array
        masked = pydicom.dcmread(io.BytesIO(full_output[name]["dicom"])).pixel_array
        changed = np.any(original != masked, axis=-1) if original.ndim == 3 else original != masked
        assert 0 < changed.mean() < 0.15  # text boxes only, not the anatomy


def test_files_without_text_keep_pixel_data_byte_identical(spark, tmp_path, secret_file):
    for name in NO_TEXT_FILES:
        shutil.copy(get_testdata_file(name), tmp_path / name)
    df = spark.read.format("binaryFile").load(str(tmp_path))
    rows = _rows_by_name(pipeline.full_pipeline(secret_file=secret_file).fit(df).transform(df))
    for name in NO_TEXT_FILES:
        assert rows[name]["error"] is None, (name, rows[name]["error"])
        original = pydicom.dcmread(get_testdata_file(name))
        out = pydicom.dcmread(io.BytesIO(rows[name]["dicom"]))
        assert rows[name]["regions_masked"] == 0, name
        assert out["PixelData"].value == original["PixelData"].value, name
        assert out.PatientName != original.PatientName  # metadata still de-identified


def test_dicom_to_image_rows_per_frame_and_error_rows(spark, tmp_path):
    shutil.copy(get_testdata_file("emri_small.dcm"), tmp_path / "multi.dcm")  # 10 frames
    shutil.copy(get_testdata_file("rtplan.dcm"), tmp_path / "no_pixels.dcm")
    (tmp_path / "junk.dcm").write_bytes(b"definitely not dicom")
    df = spark.read.format("binaryFile").load(str(tmp_path))
    frames = DicomToImage().transform(df).collect()
    by_name: dict[str, list] = {}
    for row in frames:
        by_name.setdefault(os.path.basename(row["path"]), []).append(row)
    multi = sorted(by_name["multi.dcm"], key=lambda r: r["frame"])
    assert [r["frame"] for r in multi] == list(range(10))
    assert all(r["num_frames"] == 10 for r in multi)
    assert sum(r["content"] is not None for r in multi) == 1  # bytes ride on one row only
    image = multi[0]["image"]
    assert len(image["data"]) == image["height"] * image["width"] * image["nChannels"]
    assert multi[0]["header_terms"]  # the header's identifying values travel along
    (no_pixels,) = by_name["no_pixels.dcm"]
    assert no_pixels["frame"] == -1 and no_pixels["image"] is None and no_pixels["error"] is None
    (junk,) = by_name["junk.dcm"]
    assert junk["error"] and junk["image"] is None

    sampled = DicomToImage(frameLimit=3, frameSampling="first_middle_last", scale=32)
    rows = sampled.transform(df).filter(F.col("frame") >= 0).collect()
    multi_rows = [r for r in rows if r["path"].endswith("multi.dcm")]
    assert len(multi_rows) == 3
    assert all(r["image"]["width"] == 32 for r in multi_rows)
    assert multi_rows[0]["image"]["scale"] == pytest.approx(32 / 64)


def test_pipeline_accounts_for_every_input(spark, tmp_path, secret_file):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(get_testdata_file("rtplan.dcm"), folder / "plan.dcm")
    shutil.copy(get_testdata_file("emri_small.dcm"), folder / "multi.dcm")
    (folder / "junk.dcm").write_bytes(b"\0" * 300)
    df = spark.read.format("binaryFile").load(str(folder))
    model = pipeline.full_pipeline(secret_file=secret_file).fit(df)
    rows = _rows_by_name(model.transform(df))
    assert set(rows) == {"plan.dcm", "multi.dcm", "junk.dcm"}
    assert rows["plan.dcm"]["error"] is None and rows["plan.dcm"]["dicom"]
    assert rows["multi.dcm"]["error"] is None
    assert rows["junk.dcm"]["dicom"] is None and rows["junk.dcm"]["error"]
    out = pydicom.dcmread(io.BytesIO(rows["multi.dcm"]["dicom"]))
    assert out.NumberOfFrames == 10
    skipped = model.copy()
    skipped.stages[4].setHandleInvalid("skip")
    assert {os.path.basename(r["path"]) for r in skipped.transform(df).collect()} == {
        "plan.dcm", "multi.dcm"
    }


def test_full_pipeline_save_load_round_trip(ultrasound_df, tmp_path, secret_file_module):
    built = pipeline.full_pipeline(secret_file=secret_file_module, scale=512, padding=3.0)
    built.write().overwrite().save(str(tmp_path / "pipeline"))
    loaded = Pipeline.load(str(tmp_path / "pipeline"))
    assert [type(s).__name__ for s in loaded.getStages()] == [
        type(s).__name__ for s in built.getStages()
    ]
    model = loaded.fit(ultrasound_df)
    model.write().overwrite().save(str(tmp_path / "model"))
    reloaded = PipelineModel.load(str(tmp_path / "model"))
    for before, after in zip(built.getStages(), reloaded.stages, strict=True):
        assert before.extractParamMap().keys() == after.extractParamMap().keys()
        for param, value in before.extractParamMap().items():
            assert after.getOrDefault(after.getParam(param.name)) == value, param.name
    first = _rows_by_name(model.transform(ultrasound_df))
    second = _rows_by_name(reloaded.transform(ultrasound_df))
    for name in US_FILES:
        assert first[name]["dicom"] == second[name]["dicom"]  # keyed pseudonyms: same output


@pytest.mark.parametrize(
    "stage",
    [
        DicomToImage(frameLimit=2, frameSampling="stride", scale=256),
        TextDetector(engine="rapidocr", engineOptions='{"det_box_thresh": 0.4}'),
        NerDeid(failClosed=False, allowList=["ACME"], denyList=["SECRETWORD"]),
        PositionFinder(padding=4.0, mergeGap=1.0),
        DicomDrawRegions(aggCols=["path", "relative_path"], fill="background", forceOutput=True),
    ],
)
def test_stage_save_load(stage, tmp_path):
    stage.write().overwrite().save(str(tmp_path / "stage"))
    loaded = type(stage).load(str(tmp_path / "stage"))
    for param, value in stage.extractParamMap().items():
        assert loaded.getOrDefault(loaded.getParam(param.name)) == value


CHUNK_TYPE = ArrayType(
    StructType(
        [
            StructField("annotatorType", StringType()),
            StructField("begin", IntegerType()),
            StructField("end", IntegerType()),
            StructField("result", StringType()),
            StructField("metadata", MapType(StringType(), StringType())),
            StructField("embeddings", ArrayType(FloatType())),
        ]
    )
)


class ChunkStandIn(Transformer, DefaultParamsReadable, DefaultParamsWritable):
    """Emits Spark NLP's NER-chunk schema: every upper-case word of 6+ letters is a PERSON.

    Spark NLP's jar cannot be downloaded here; this stand-in produces the same
    column shape a real ``PipelineModel`` (DocumentAssembler ... NerConverter) does.
    """

    def _transform(self, dataset: DataFrame) -> DataFrame:
        import re

        def chunks(text: str | None) -> list[dict]:
            return [
                {
                    "annotatorType": "chunk",
                    "begin": m.start(),
                    "end": m.end() - 1,  # Spark NLP ends are inclusive
                    "result": m.group(),
                    "metadata": {"entity": "PERSON", "confidence": "0.91", "sentence": "0"},
                    "embeddings": [],
                }
                for m in re.finditer(r"\b[A-Z]{6,}\b", text or "")
            ]

        return dataset.withColumn("ner_chunk", F.udf(chunks, CHUNK_TYPE)(F.col("text")))


def test_external_spark_nlp_style_model_adds_entities(spark, tmp_path):
    doc = spark.createDataFrame(
        [("p1", "CT CHEST QWERTYX followup")],
        StructType([StructField("path", StringType()), StructField("doc", StringType())]),
    )
    plain = NerDeid(inputCol="doc", useNames=False).transform(doc).first()
    assert "QWERTYX" in plain["cleaned_document"]  # nothing else knows this word

    stand_in = PipelineModel(stages=[ChunkStandIn()])
    stand_in.write().overwrite().save(str(tmp_path / "ner-model"))
    stage = NerDeid(
        inputCol="doc", useNames=False, externalNerModelPath=str(tmp_path / "ner-model")
    )
    row = stage.transform(doc).first()
    assert row["cleaned_document"] == "CT CHEST followup"
    sources = {(e["label"], e["source"]) for e in row["entities"]}
    assert ("PERSON", "model") in sources
    assert "ner_chunk" not in row.asDict() and "text" not in row.asDict()


def test_tag_documents_cleaned_by_ner_flow_into_the_metadata_stage(spark, tmp_path, secret_file):
    from sparkdeid import DicomMetadataDeidentifier, DicomToMetadata

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    family = "Quorvandel"
    ds.PatientName = f"{family}^Imra"
    ds.StudyDescription = f"CT CHEST {family.upper()} 06/16/1976"
    ds.save_as(tmp_path / "ct.dcm")
    df = spark.read.format("binaryFile").load(str(tmp_path))
    flow = Pipeline(
        stages=[
            DicomToMetadata(extractTagForNer=True, strategyFile="tcia"),
            NerDeid(inputCol=schemas.DOCUMENT_COL),
            DicomMetadataDeidentifier(
                secretFile=secret_file,
                tagMappingCol=schemas.TAG_MAPPING_COL,
                cleanedDocumentCol=schemas.CLEANED_DOCUMENT_COL,
            ),
        ]
    )
    row = flow.fit(df).transform(df).first()
    assert row["error"] is None
    lines = row["cleaned_document"].split("\n")
    assert len(lines) == len(row["tag_mapping"])
    assert "CT CHEST" in lines and family.upper() not in row["cleaned_document"]
    out = pydicom.dcmread(io.BytesIO(row["dicom"]))
    assert out.StudyDescription == "CT CHEST"
