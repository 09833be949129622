"""Pipelines saved by an earlier release, kept as test fixtures (saved pipelines are public API).

A fitted pipeline stores each stage's module path and Params. Users save
pipelines and load them with a later release, so moving a stage or renaming a
Param breaks them. ``tests/data/saved_pipelines/`` holds the ready-made
pipelines as sparkdeid 0.1.0 saved them (with an empty secret: the secret is
never saved); ``tests/spark/test_saved_pipelines.py`` loads them and compares
their output with pipelines built by today's code.

``python -m tests.saved_pipelines`` writes them again; only do that for a
release that deliberately breaks saved pipelines, and say so in its notes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "data" / "saved_pipelines"
SAVED_WITH = "0.1.0"


def build(name: str):  # -> pyspark.ml.Pipeline
    from sparkdeid import pipeline

    if name == "metadata":
        return pipeline.metadata_pipeline(strategy="tcia")
    if name == "full":
        return pipeline.full_pipeline(strategy="tcia")
    if name == "anonymisation":
        return pipeline.anonymisation_pipeline()
    raise ValueError(f"no saved pipeline named {name}")


NAMES = ("metadata", "full", "anonymisation")


def main() -> None:
    from sparkdeid.session import local_session

    spark = local_session("local[1]", app_name="save-fixtures")
    empty = spark.createDataFrame([], "path string, content binary")
    shutil.rmtree(FIXTURES, ignore_errors=True)
    for name in NAMES:
        build(name).fit(empty).write().save(str(FIXTURES / f"{name}-{SAVED_WITH}"))
    spark.stop()


if __name__ == "__main__":
    main()
