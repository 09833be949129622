"""Pipelines saved by sparkdeid 0.1.0 load and give the same bytes as today's pipelines."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.ml import PipelineModel

from sparkdeid import schemas
from tests.saved_pipelines import FIXTURES, NAMES, SAVED_WITH, build

pytestmark = pytest.mark.spark

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "dicom"
# the pixel pipelines are slow: the files that exercise every stage of them
PIXEL_SAMPLES = ("burned-in", "hidden-text")


def _inputs(spark, name: str):
    folders = [SAMPLES] if name == "metadata" else [SAMPLES / f for f in PIXEL_SAMPLES]
    frames = [
        spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(str(f))
        for f in folders
    ]
    df = frames[0]
    for other in frames[1:]:
        df = df.unionByName(other)
    return df.select(schemas.PATH_COL, schemas.CONTENT_COL)


def _with_secret(model: PipelineModel, secret_file: str) -> PipelineModel:
    for stage in model.stages:
        if stage.hasParam("secretFile"):
            stage.set(stage.getParam("secretFile"), secret_file)
    return model


def _outputs(model: PipelineModel, df) -> dict[str, tuple[bytes | None, str | None]]:
    rows = model.transform(df).select(
        schemas.PATH_COL, schemas.DICOM_COL, schemas.ERROR_COL
    ).collect()
    return {
        Path(r[schemas.PATH_COL]).name: (
            None if r[schemas.DICOM_COL] is None else bytes(r[schemas.DICOM_COL]),
            r[schemas.ERROR_COL],
        )
        for r in rows
    }


@pytest.mark.parametrize("name", NAMES)
def test_saved_pipeline_loads_and_matches_todays(spark, secret_file, name):
    saved = FIXTURES / f"{name}-{SAVED_WITH}"
    assert saved.is_dir(), "fixture missing: python -m tests.saved_pipelines"
    df = _inputs(spark, name).cache()
    loaded = _with_secret(PipelineModel.load(str(saved)), secret_file)
    fresh = _with_secret(build(name).fit(df.limit(0)), secret_file)
    assert [type(s).__name__ for s in loaded.stages] == [type(s).__name__ for s in fresh.stages]
    old, new = _outputs(loaded, df), _outputs(fresh, df)
    assert old.keys() == new.keys() and len(old) >= 7
    assert sum(data is not None for data, _ in new.values()) >= len(new) - 1
    assert old == new
    df.unpersist()
