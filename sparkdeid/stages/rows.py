"""The one per-row loop of the stages inside ``mapInPandas``: cells in, columns out, errors as rows.

Every stage that maps one input row to one output row runs
:func:`run_per_row` (the per-file stages through :func:`run_per_file`, which
first reads the row's file bytes), so that all of them skip rows an earlier
stage failed, catch a row's failure into the error column and honour
``handleInvalid`` the same way (the rule is written down in
:class:`sparkdeid.stages.base.DeidStage`). Messages carry a hashed file id,
never a path or a value.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql.types import StringType, StructField, StructType

from sparkdeid.dicom.limits import FileLimits, check_file_size
from sparkdeid.errors import SparkDeidError
from sparkdeid.storage import read_bytes
from sparkdeid.storage import size as stored_size

logger = logging.getLogger(__name__)

FileFn = Callable[[bytes, dict[str, Any]], dict[str, Any]]
"""A per-file step: the file's bytes and the row's extra cells -> its output cells."""
RowFn = Callable[[Any, dict[str, Any]], dict[str, Any]]
"""A per-row step: the input cell and the row's extra cells -> its output cells (absent = null)."""


def file_id(path: str) -> str:
    """Short stable id for a path, safe to log (paths can hold patient names)."""
    return hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:12]


def safe_message(exc: BaseException) -> str:
    """Our own errors are written without PHI; anything else is named by type only."""
    if isinstance(exc, SparkDeidError):
        return str(exc)
    return f"internal error ({type(exc).__name__})"


def source_bytes(source: Any, max_bytes: int = 0) -> bytes:
    """A cell holding file bytes (binaryFile ``content``) or a path to read them from.

    With ``max_bytes`` (see :mod:`sparkdeid.dicom.limits`) a bigger file is
    refused with ``ResourceLimitError``; a path's size is checked before the
    file is read, so it is never loaded.
    """
    limits = FileLimits(max_bytes=max_bytes)
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_file_size(len(source), limits)
        return bytes(source)
    if source is None:
        raise SparkDeidError("no file content or path in the input column")
    if max_bytes:
        check_file_size(stored_size(str(source)), limits)
    content = read_bytes(str(source))
    check_file_size(len(content), limits)  # the size was unknown, or it grew
    return content


@dataclass(frozen=True)
class RowSettings:
    input_col: str
    path_col: str
    error_col: str
    handle_invalid: str
    keep_input: bool
    extra_cols: tuple[str, ...] = ()
    max_bytes: int = 0  # refuse bigger files (0 = no limit); see sparkdeid.dicom.limits
    whole_files: bool = True  # each row is a whole file, so 'skip' may drop a failed one
    label: str = ""  # names the step in a row's error message: "<label> failed: ..."


class FileStageError(SparkDeidError, RuntimeError):
    """Raised with handleInvalid='error' to stop the job on the first bad file."""


def row_failure(exc: BaseException, handle_invalid: str, path: str = "", label: str = "") -> str:
    """A failed row's PHI-free message; with ``handle_invalid='error'`` it raises at once.

    ``path`` only names the file by its hashed id, in the log and in the raised error.
    """
    error = safe_message(exc)
    if label:
        error = f"{label} failed: {error}"
    where = f"file {file_id(path)}" if path else "a row"
    logger.warning("%s failed: %s", where, error)
    if handle_invalid == "error":
        raise FileStageError(f"file {file_id(path)} failed: {error}" if path else error) from None
    return error


def output_schema(
    input_schema: StructType, settings: RowSettings, new_fields: list[StructField]
) -> StructType:
    """Input fields (minus the dropped input), then the stage's own, then the error column.

    Fields are copied, never mutated (``StructType.add`` would change the cached
    input schema). A column the stage writes replaces an input column of the
    same name, so stages chain without duplicate ``error`` columns.
    """
    produced = {f.name for f in new_fields} | {settings.error_col}
    fields = [
        StructField(f.name, f.dataType, f.nullable, f.metadata)
        for f in input_schema.fields
        if f.name not in produced and (settings.keep_input or f.name != settings.input_col)
    ]
    fields += new_fields
    fields.append(StructField(settings.error_col, StringType(), True))
    return StructType(fields)


@dataclass(frozen=True)
class RowJob:
    """What one stage's row loop needs on the executors: plain values, no stage."""

    settings: RowSettings
    output_cols: tuple[str, ...]
    schema: StructType

    @classmethod
    def plan(
        cls, input_schema: StructType, settings: RowSettings, new_fields: list[StructField]
    ) -> RowJob:
        return cls(
            settings,
            tuple(f.name for f in new_fields),
            output_schema(input_schema, settings, new_fields),
        )

    def map_rows(self, dataset: DataFrame, fn: RowFn) -> DataFrame:
        """``dataset`` with ``fn`` applied to every row's input cell (see :func:`run_per_row`)."""
        job = self

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return run_per_row(batches, job, fn)

        return dataset.mapInPandas(partition, self.schema)

    def map_files(self, dataset: DataFrame, fn: FileFn) -> DataFrame:
        """``dataset`` with ``fn`` applied to every row's file bytes (see :func:`run_per_file`)."""
        job = self

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return run_per_file(batches, job, fn)

        return dataset.mapInPandas(partition, self.schema)


def _cells(pdf: pd.DataFrame, col: str) -> list[Any]:
    return list(pdf[col]) if col and col in pdf.columns else [None] * len(pdf)


def run_per_row(batches: Iterator[pd.DataFrame], job: RowJob, fn: RowFn) -> Iterator[pd.DataFrame]:
    """Apply ``fn`` to each row's input cell; a failure becomes the row's error.

    A row an earlier stage failed keeps that error and is not worked on. Under
    ``skip`` failed rows are dropped only when rows are whole files
    (``whole_files``): a frame row is never dropped, or a half-scanned file
    could be rebuilt.
    """
    settings = job.settings
    error_col = settings.error_col
    for pdf in batches:
        upstream = [e if isinstance(e, str) else None for e in _cells(pdf, error_col)]
        values = _cells(pdf, settings.input_col)
        paths = _cells(pdf, settings.path_col)
        extras = {col: list(pdf[col]) for col in settings.extra_cols if col in pdf.columns}
        outputs: dict[str, list[Any]] = {col: [] for col in job.output_cols}
        errors: list[str | None] = []
        for index, value in enumerate(values):
            result: dict[str, Any] = {}
            error = upstream[index]  # an earlier stage failed this row: carry it, do no work
            if error is None:
                try:
                    result = fn(value, {col: cells[index] for col, cells in extras.items()})
                except Exception as exc:  # one bad row never stops the job
                    path = paths[index]
                    error = row_failure(
                        exc, settings.handle_invalid, "" if path is None else str(path),
                        settings.label,
                    )
            for col in job.output_cols:
                outputs[col].append(result.get(col))
            errors.append(error)
        out = pdf.drop(columns=[c for c in (*job.output_cols, error_col) if c in pdf.columns])
        for col, cells in outputs.items():
            out[col] = cells
        out[error_col] = errors
        if settings.handle_invalid == "skip" and settings.whole_files:
            out = out[out[error_col].isna()]
        yield out[job.schema.fieldNames()]


def run_per_file(
    batches: Iterator[pd.DataFrame], job: RowJob, fn: FileFn
) -> Iterator[pd.DataFrame]:
    """:func:`run_per_row` over each row's file bytes (the input cell holds bytes or a path)."""
    max_bytes = job.settings.max_bytes

    def per_row(source: Any, extras: dict[str, Any]) -> dict[str, Any]:
        return fn(source_bytes(source, max_bytes), extras)

    return run_per_row(batches, job, per_row)
