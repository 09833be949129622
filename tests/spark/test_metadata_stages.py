"""The two metadata stages inside real Spark: schemas, errors, save/load."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from pydicom.data import get_testdata_file
from pyspark.ml import Pipeline, PipelineModel

from sparkdeid import DicomMetadataDeidentifier, DicomToMetadata

pytestmark = pytest.mark.spark

FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "rtplan.dcm")


@pytest.fixture(scope="module")
def binary_df(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("binary-input")
    for name in FILES:
        shutil.copy(get_testdata_file(name), folder / name)
    (folder / "notes.txt").write_text("not an image")
    return spark.read.format("binaryFile").load(str(folder))


def test_dicom_to_metadata_outputs_json_and_error_rows(binary_df):
    stage = DicomToMetadata().setExtractTagForNer(True).setStrategyFile("tcia")
    rows = {os.path.basename(r["path"]): r for r in stage.transform(binary_df).collect()}
    assert set(rows) == set(FILES) | {"notes.txt"}
    ct = json.loads(rows["CT_small.dcm"]["metadata"])
    assert ct["00100010"]["Value"][0]["Alphabetic"]  # patient name present before de-id
    assert "7FE00010" not in ct  # pixels are never extracted
    assert rows["CT_small.dcm"]["error"] is None
    assert rows["notes.txt"]["metadata"] is None
    assert rows["notes.txt"]["error"].startswith("not a DICOM file")
    mapping = rows["CT_small.dcm"]["tag_mapping"]
    document = rows["CT_small.dcm"]["tag_document"]
    assert len(document.split("\n")) == len(mapping) > 0
    for entry in mapping:
        assert document[entry["begin"] : entry["end"]] in document.split("\n")


def test_deidentifier_output_and_handle_invalid(binary_df, secret_file):
    stage = DicomMetadataDeidentifier(secretFile=secret_file)
    rows = {os.path.basename(r["path"]): r for r in stage.transform(binary_df).collect()}
    assert "content" not in stage.transform(binary_df).columns  # keepInput defaults off
    assert rows["notes.txt"]["dicom"] is None and rows["notes.txt"]["error"]
    assert all(rows[name]["dicom"] for name in FILES)
    skipped = stage.copy().setHandleInvalid("skip").transform(binary_df)
    assert skipped.count() == len(FILES)
    with pytest.raises(Exception, match="failed: not a DICOM file"):
        stage.copy().setHandleInvalid("error").transform(binary_df).collect()


def test_cleaned_documents_from_upstream_replace_builtin_cleaner(binary_df, secret_file):
    """A NER stage's cleaned document (same lines) is what lands in the tags."""
    import pydicom
    from pyspark.sql import functions as F

    extracted = DicomToMetadata(extractTagForNer=True).transform(binary_df)
    upper = extracted.withColumn(
        "cleaned", F.regexp_replace(F.col("tag_document"), "[^\\n]+", "REDACTED BY NER")
    )
    stage = DicomMetadataDeidentifier(
        secretFile=secret_file, tagMappingCol="tag_mapping", cleanedDocumentCol="cleaned"
    )
    row = [r for r in stage.transform(upper).collect() if r["path"].endswith("CT_small.dcm")][0]
    ds = pydicom.dcmread(__import__("io").BytesIO(row["dicom"]))
    mapped = [e["tag_path"] for e in row["tag_mapping"]]
    top_level = [p for p in mapped if "." not in p]
    assert top_level, "CT_small has descriptions to clean"
    for path in top_level:
        group, element = int(path[1:5], 16), int(path[6:10], 16)
        assert str(ds[group, element].value) == "REDACTED BY NER"


def test_pipeline_save_load_gives_identical_output(binary_df, secret_file, tmp_path):
    pipeline = Pipeline(
        stages=[
            DicomToMetadata(),
            DicomMetadataDeidentifier(secretFile=secret_file, strategyFile="basic"),
        ]
    )
    model = pipeline.fit(binary_df)
    before = {r["path"]: bytes(r["dicom"] or b"") for r in model.transform(binary_df).collect()}
    model.write().overwrite().save(str(tmp_path / "model"))
    saved_text = "".join(
        open(os.path.join(folder, name), encoding="utf-8", errors="replace").read()
        for folder, _, names in os.walk(tmp_path / "model")
        for name in names
        if not name.startswith(".")
    )
    assert open(secret_file).read().strip() not in saved_text  # only the path is saved
    reloaded = PipelineModel.load(str(tmp_path / "model"))
    after = {r["path"]: bytes(r["dicom"] or b"") for r in reloaded.transform(binary_df).collect()}
    assert before == after and any(before.values())
    stage = reloaded.stages[1]
    assert isinstance(stage, DicomMetadataDeidentifier)
    assert stage.getStrategyFile() == "basic" and stage.getSecretFile() == secret_file
