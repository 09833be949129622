"""ResidualPhiGate in Spark: save/load, and a batch run that quarantines a leaky output."""

from __future__ import annotations

import os

import pandas as pd
import pydicom
import pytest
from pyspark.ml import Pipeline, PipelineModel

from sparkdeid import pipeline, schemas
from sparkdeid.jobs.batch import run_batch
from sparkdeid.metadata.strategy import resolve_strategy
from sparkdeid.stages.residual_gate import ResidualPhiGate
from tests.factories import SyntheticPatient, build_study, dataset_bytes

pytestmark = pytest.mark.spark


def test_gate_save_load_round_trip(spark, tmp_path) -> None:
    gate = ResidualPhiGate(mode="pixels", originalCol="content", strategyFile="basic",
                           removePrivateTags=False, engine="tesseract")
    path = str(tmp_path / "gate")
    gate.save(path)
    loaded = ResidualPhiGate.load(path)
    assert loaded.getMode() == "pixels"
    assert loaded.getOriginalCol() == "content"
    assert loaded.getStrategyFile() == "basic"
    assert loaded.getRemovePrivateTags() is False
    assert loaded.getEngine() == "tesseract"
    assert loaded.getInputCol() == schemas.DICOM_COL
    model = PipelineModel(stages=[gate])
    model.write().overwrite().save(str(tmp_path / "model"))
    assert isinstance(PipelineModel.load(str(tmp_path / "model")).stages[0], ResidualPhiGate)
    assert isinstance(Pipeline(stages=[gate]), Pipeline)


def test_builders_append_the_gate_with_the_strategy() -> None:
    stages = pipeline.metadata_pipeline(strategy="basic", remove_private_tags=False).getStages()
    gate = stages[-1]
    assert isinstance(gate, ResidualPhiGate)
    assert gate.getMode() == "metadata" and gate.getStrategyFile() == "basic"
    assert gate.getRemovePrivateTags() is False
    full = pipeline.full_pipeline(residual_check="pixels").getStages()
    assert isinstance(full[-1], ResidualPhiGate) and full[-1].getMode() == "pixels"
    # what the pixel stages cleaned is kept by the engine, and the gate reads the same list
    assert full[-1].getCleanedUpstream() == full[-2].getCleanedUpstream() == [
        "overlays", "documents"]
    assert full[-1].policy().cleaned_upstream == ("overlays", "documents")
    assert not isinstance(pipeline.anonymisation_pipeline(residual_check="off").getStages()[-1],
                          ResidualPhiGate)
    with pytest.raises(ValueError, match="residual.check"):
        pipeline.metadata_pipeline(residual_check="sometimes")


def _keeps_image_comments(tmp_path) -> str:
    """tcia, except Image Comments are kept as typed: a realistic strategy mistake."""
    lines = resolve_strategy("tcia").csv_text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('"(0020, 4000)"'):
            cells = line.split(",")
            cells[-2] = "K"
            lines[i] = ",".join(cells)
    path = tmp_path / "keeps-comments.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _manifest(output: str) -> pd.DataFrame:
    return pd.read_csv(os.path.join(output, "_manifest.csv"), dtype={"error": "string"})


def test_batch_quarantines_a_file_whose_output_leaks(spark, tmp_path, secret_file) -> None:
    source = tmp_path / "in"
    source.mkdir()
    leaky_id = ""
    for seed in (1, 2, 3):
        ds = build_study(SyntheticPatient.from_seed(seed), seed=seed, n_series=1,
                         n_instances=1)[0]
        if seed == 2:
            leaky_id = str(ds.PatientID)
            ds.ImageComments = f"MRN {leaky_id} checked"
        else:
            ds.ImageComments = "contrast checked"
        (source / f"file{seed}.dcm").write_bytes(dataset_bytes(ds))
    strategy = _keeps_image_comments(tmp_path)

    def run(check: str) -> tuple[str, pd.DataFrame]:
        output = str(tmp_path / f"out-{check}")
        chosen = pipeline.metadata_pipeline(input_col=schemas.PATH_COL, strategy=strategy,
                                            secret_file=secret_file, residual_check=check)
        summary = run_batch(spark, str(source), output, chosen.fit(spark.range(0)))
        assert summary.total == 3
        return output, _manifest(output)

    output, manifest = run("metadata")
    rows = {os.path.basename(p): r for p, r in zip(manifest["input_path"],
                                                   manifest.to_dict("records"), strict=True)}
    assert rows["file1.dcm"]["status"] == "ok" and rows["file3.dcm"]["status"] == "ok"
    leaked = rows["file2.dcm"]
    assert leaked["status"] == "error"
    assert leaked["error"] == "residual PHI: a value of PatientID found at ImageComments"
    assert leaky_id not in leaked["error"]
    assert not os.path.exists(os.path.join(output, "file2.dcm"))
    assert os.path.exists(os.path.join(output, "_quarantine", "file2.dcm"))
    kept = pydicom.dcmread(os.path.join(output, "file1.dcm"))
    assert str(kept.ImageComments) == "contrast checked"

    output, manifest = run("off")
    assert set(manifest["status"]) == {"ok"}
    assert leaky_id in str(pydicom.dcmread(os.path.join(output, "file2.dcm")).ImageComments)
