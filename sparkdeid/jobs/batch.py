"""Batch de-identification of a folder: list, de-identify on Spark, write, account.

Inputs are listed on the driver and spread evenly over tasks as paths;
executors read, de-identify and write each file themselves, so file bytes
never travel through the driver. Failed files are copied to ``_quarantine``
under their relative path, and the manifest holds one row per input.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.ml import Transformer
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from sparkdeid import schemas
from sparkdeid.documents.document_cleaner import DOCUMENT_ACTION_COL
from sparkdeid.jobs.large_files import (
    LargeFileSettings,
    deidentify_large_path,
    large_file_settings,
)
from sparkdeid.jobs.manifest import (
    MANIFEST_CSV,
    MANIFEST_PARQUET,
    QUARANTINE_DIR,
    STATUS_ERROR,
    STATUS_OK,
    write_manifest,
)
from sparkdeid.rows import file_id, safe_message
from sparkdeid.storage import local_path, write_bytes_atomic

logger = logging.getLogger(__name__)

RELPATH_COL = "relative_path"
DEFAULT_LARGE_FILE_BYTES = 256 * 1024 * 1024
_SKIP_NAMES = {MANIFEST_CSV, MANIFEST_PARQUET}


@dataclass(frozen=True)
class BatchSummary:
    total: int
    ok: int
    errors: int
    seconds: float
    manifest: pd.DataFrame

    @property
    def accounted(self) -> bool:
        return len(self.manifest) == self.total


def list_inputs(input_dir: str, exclude: str | None = None) -> list[tuple[str, str]]:
    """Every regular file under ``input_dir`` as (absolute path, relative path).

    Whether a file is DICOM is decided by its content when it is processed, so
    files without a suffix are included and a non-DICOM file becomes an error
    row rather than vanishing. ``exclude`` skips an output folder nested inside.
    """
    root = os.path.abspath(input_dir)
    skip = os.path.abspath(exclude) if exclude else None
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if os.path.join(folder, d) != skip)
        for name in sorted(files):
            full = os.path.join(folder, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found.append((full, os.path.relpath(full, root)))
    return found


def run_batch(
    spark: SparkSession,
    input_dir: str,
    output_dir: str,
    transformer: Transformer,
    output_col: str = schemas.DICOM_COL,
    error_col: str = schemas.ERROR_COL,
    large_file_bytes: int = DEFAULT_LARGE_FILE_BYTES,
) -> BatchSummary:
    """De-identify every file under ``input_dir`` into ``output_dir``.

    ``transformer`` (a stage or fitted pipeline, e.g. from :mod:`sparkdeid.pipeline`
    built with ``input_col="path"`` and ``agg_cols=("path", "relative_path")``)
    reads each file from its ``path`` and must keep ``path`` and ``relative_path``.
    Files of ``large_file_bytes`` or more (0 = never) go frame by frame from
    disk to disk with the same settings when ``transformer`` is a full pipeline
    (:mod:`sparkdeid.jobs.large_files`), so no executor holds one whole.
    """
    started = time.monotonic()
    inputs = list_inputs(input_dir, exclude=output_dir)
    output_root = os.path.abspath(output_dir)
    os.makedirs(output_root, exist_ok=True)
    logger.info("batch: %d input files", len(inputs))
    if not inputs:
        manifest = write_manifest([], output_root)
        return BatchSummary(0, 0, 0, time.monotonic() - started, manifest)

    settings = large_file_settings(transformer) if large_file_bytes > 0 else None
    large = [i for i in inputs if settings is not None and _size(i[0]) >= large_file_bytes]
    streamed = set(large)
    small = [i for i in inputs if i not in streamed]
    parts = []
    if small:
        deidentified = transformer.transform(_paths_frame(spark, small))

        def write(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return write_outputs(batches, output_root, output_col, error_col)

        parts.append(deidentified.mapInPandas(write, schemas.MANIFEST_SCHEMA).toPandas())
    if large and settings is not None:
        logger.info("batch: %d file(s) over %d bytes go frame by frame", len(large),
                    large_file_bytes)

        def stream(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return write_large_outputs(batches, output_root, settings)

        frame = _paths_frame(spark, large, slices=len(large))
        parts.append(frame.mapInPandas(stream, schemas.MANIFEST_SCHEMA).toPandas())
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    manifest = write_manifest(rows, output_root)
    ok = int((manifest["status"] == STATUS_OK).sum())
    return BatchSummary(len(inputs), ok, len(manifest) - ok, time.monotonic() - started, manifest)


def _size(path: str) -> int:
    try:
        return os.path.getsize(local_path(path))
    except OSError:
        return 0  # unreadable: the normal route reports it


def _paths_frame(spark: SparkSession, inputs: list[tuple[str, str]], slices: int = 0) -> Any:
    count = slices or max(1, min(len(inputs), spark.sparkContext.defaultParallelism * 4))
    return spark.createDataFrame(
        inputs,
        StructType(
            [
                StructField(schemas.PATH_COL, StringType(), False),
                StructField(RELPATH_COL, StringType(), False),
            ]
        ),
    ).repartition(count)


def write_large_outputs(
    batches: Iterator[pd.DataFrame], output_root: str, settings: LargeFileSettings
) -> Iterator[pd.DataFrame]:
    """Executor side, big files: stream each one to its output (or quarantine it)."""
    for pdf in batches:
        records: list[tuple[str, str | None, str, str | None, int, int | None]] = []
        for path, relative in zip(pdf[schemas.PATH_COL], pdf[RELPATH_COL], strict=True):
            source = local_path(path)
            size = _size(path)
            target = os.path.join(output_root, relative)
            try:
                result = deidentify_large_path(source, target, settings)
                records.append((path, target, STATUS_OK, None, size, result.bytes_out))
            except Exception as exc:  # one bad file never stops the job
                error = safe_message(exc)
                quarantined = _quarantine(source, os.path.join(output_root, QUARANTINE_DIR,
                                                               relative))
                logger.warning("file %s quarantined: %s", file_id(path), error)
                records.append((path, quarantined, STATUS_ERROR, error, size, None))
        yield _manifest_frame(records, [None] * len(records))


def _manifest_frame(records: list[Any], document_actions: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(
        records,
        columns=["input_path", "output_path", "status", "error", "input_bytes", "output_bytes"],
    )
    frame["input_id"] = [file_id(p) for p in frame["input_path"]]
    frame["document_action"] = document_actions
    for column in ("input_bytes", "output_bytes"):
        frame[column] = pd.array(frame[column], dtype="Int64")
    return frame


def write_outputs(
    batches: Iterator[pd.DataFrame], output_root: str, output_col: str, error_col: str
) -> Iterator[pd.DataFrame]:
    """Executor side: write each result (or quarantine its input); yield manifest rows."""
    for pdf in batches:
        records: list[tuple[str, str | None, str, str | None, int | None, int | None]] = []
        for path, relative, data, error in zip(
            pdf[schemas.PATH_COL], pdf[RELPATH_COL], pdf[output_col], pdf[error_col], strict=False
        ):
            source = local_path(path)
            size = os.path.getsize(source) if os.path.exists(source) else None
            if error is None and data is not None:
                target = os.path.join(output_root, relative)
                try:
                    write_bytes_atomic(target, bytes(data))
                    records.append((path, target, STATUS_OK, None, size, len(data)))
                    continue
                except OSError as exc:
                    error = f"could not write output ({type(exc).__name__})"
            quarantined = _quarantine(source, os.path.join(output_root, QUARANTINE_DIR, relative))
            logger.warning("file %s quarantined: %s", file_id(path), error)
            records.append((path, quarantined, STATUS_ERROR, error, size, None))
        yield _manifest_frame(
            records,
            list(pdf[DOCUMENT_ACTION_COL]) if DOCUMENT_ACTION_COL in pdf.columns
            else [None] * len(records),
        )


def _quarantine(source: str, target: str) -> str | None:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
        return target
    except OSError:
        return None
