"""handleInvalid is one rule in every stage (see sparkdeid.stages.base.DeidStage).

``skip`` drops a failed file where a row is a whole file (the per-file
stages; DicomDrawRegions once it has grouped a file's frames) and never
drops a frame row, so a file's frames stay whole until DicomDrawRegions;
``error`` raises at the first failure; ``keep`` keeps the row with its error.
"""

from __future__ import annotations

import os
import shutil

import pytest
from pydicom.data import get_testdata_file
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from sparkdeid import schemas
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.dicom_to_metadata import DicomToMetadata
from sparkdeid.stages.document_cleaner import DicomDocumentCleaner
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector

pytestmark = pytest.mark.spark

MULTI = "multi.dcm"  # emri_small: 10 frames
BAD_FRAME = 3


@pytest.fixture(scope="module")
def files_df(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("handle-invalid")
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "ct.dcm")
    shutil.copy(get_testdata_file("emri_small.dcm"), folder / MULTI)
    (folder / "junk.dcm").write_bytes(b"definitely not dicom")
    return spark.read.format("binaryFile").load(str(folder)).cache()


def _names(df: DataFrame) -> list[str]:
    return sorted(os.path.basename(r["path"]) for r in df.select("path").collect())


def _errors(df: DataFrame) -> dict[str, str | None]:
    return {os.path.basename(r["path"]): r["error"] for r in df.select("path", "error").collect()}


def _modes(stage: DeidStage, df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The stage's output under keep and under skip; under error it must raise."""
    kept = stage.copy().setHandleInvalid("keep").transform(df)
    skipped = stage.copy().setHandleInvalid("skip").transform(df)
    with pytest.raises(Exception, match="failed"):
        stage.copy().setHandleInvalid("error").transform(df).collect()
    return kept, skipped


@pytest.mark.parametrize(
    "stage",
    [DicomToMetadata(), DicomMetadataDeidentifier(), DicomDocumentCleaner()],
    ids=lambda s: type(s).__name__,
)
def test_per_file_stages_skip_a_failed_file(stage, files_df, secret_file):
    if stage.hasParam("secretFile"):
        stage = stage.copy().setSecretFile(secret_file)
    kept, skipped = _modes(stage, files_df)
    assert _names(kept) == ["ct.dcm", "junk.dcm", MULTI]
    assert _errors(kept)["junk.dcm"] and _errors(kept)["ct.dcm"] is None
    assert _names(skipped) == ["ct.dcm", MULTI]


def test_residual_gate_skips_a_failed_file(files_df, secret_file):
    deidentified = DicomMetadataDeidentifier(secretFile=secret_file).transform(files_df)
    ct_path = files_df.filter(F.col("path").endswith("ct.dcm")).first()["path"]
    # an output that cannot be read: the gate's own failure, on a row nothing failed before
    unreadable = deidentified.filter(F.col("path").endswith(MULTI)).withColumn(
        schemas.DICOM_COL, F.lit(b"not dicom either")
    ).withColumn("path", F.lit(ct_path + ".copy"))
    outputs = deidentified.unionByName(unreadable).withColumn(
        "original", F.when(F.col("path").endswith(".copy"), F.lit(ct_path)).otherwise(F.col("path"))
    )
    kept, skipped = _modes(ResidualPhiGate(originalCol="original"), outputs)
    errors = _errors(kept)
    assert errors["ct.dcm"] is None and errors[MULTI] is None
    assert errors["junk.dcm"] and errors["ct.dcm.copy"]  # failed before / failed here
    assert _names(skipped) == ["ct.dcm", MULTI]


def test_ner_on_tag_documents_skips_a_file_failed_before(files_df):
    documents = DicomToMetadata(extractTagForNer=True).transform(files_df)
    stage = NerDeid(inputCol=schemas.DOCUMENT_COL)
    kept = stage.copy().setHandleInvalid("keep").transform(documents)
    skipped = stage.copy().setHandleInvalid("skip").transform(documents)
    assert _names(kept) == ["ct.dcm", "junk.dcm", MULTI]
    assert _names(skipped) == ["ct.dcm", MULTI]


@pytest.fixture(scope="module")
def frames_df(spark, files_df):
    """DicomToImage's frame rows, with frame 3 of the multi-frame file's image broken."""
    frames = DicomToImage(frameReuse="off", handleInvalid="skip").transform(files_df)
    rows = []
    for row in frames.collect():
        record = row.asDict()
        if record["path"].endswith(MULTI) and record["frame"] == BAD_FRAME:
            image = record["image"].asDict()
            image["data"] = image["data"][:7]  # fewer bytes than height x width
            record["image"] = image
        rows.append(record)
    return frames.sparkSession.createDataFrame(rows, frames.schema).cache()


def test_dicom_to_image_never_drops_a_failed_file_row(frames_df, files_df):
    errors = [r["error"] for r in frames_df.collect() if r["path"].endswith("junk.dcm")]
    assert len(errors) == 1 and errors[0]  # 'skip' kept it for DicomDrawRegions
    with pytest.raises(Exception, match="failed"):
        DicomToImage(handleInvalid="error").transform(files_df).collect()


def _multi_frames(df: DataFrame) -> dict[int, str | None]:
    rows = df.filter(F.col("path").endswith(MULTI)).select("frame", "error").collect()
    return {r["frame"]: r["error"] for r in rows}


def test_per_frame_stages_never_drop_a_frame_row(frames_df):
    detector = TextDetector(handleInvalid="skip")
    ocr = detector.transform(frames_df).cache()
    frames = _multi_frames(ocr)
    assert sorted(frames) == list(range(10))
    assert frames[BAD_FRAME] and frames[BAD_FRAME].startswith("OCR failed")
    assert all(error is None for frame, error in frames.items() if frame != BAD_FRAME)
    with pytest.raises(Exception, match="OCR failed"):
        detector.copy().setHandleInvalid("error").transform(frames_df).collect()

    entities = NerDeid(handleInvalid="skip").transform(ocr)
    regions = PositionFinder(handleInvalid="skip").transform(entities).cache()
    for stage_output in (entities, regions):
        assert _multi_frames(stage_output) == frames  # every frame row, the same errors

    # files are whole again: 'skip' drops the file with the failed frame, 'keep' reports it
    skipped = DicomDrawRegions(handleInvalid="skip").transform(regions)
    assert _names(skipped) == ["ct.dcm"]
    kept = _errors(DicomDrawRegions().transform(regions))
    assert kept["ct.dcm"] is None and kept[MULTI].startswith("OCR failed")
    assert kept["junk.dcm"]
    with pytest.raises(Exception, match="failed"):
        DicomDrawRegions(handleInvalid="error").transform(
            regions.filter(F.col("path").endswith("ct.dcm")).withColumn("content", F.lit(b"x"))
        ).collect()
    ocr.unpersist()
    regions.unpersist()
