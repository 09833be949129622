"""Per-file processing inside ``mapInPandas``: bytes in, columns out, errors as rows.

Both metadata stages and the batch writer share this loop so that every one
of them reads paths the same way, reports failures the same way and honours
``handleInvalid`` the same way. Messages carry a hashed file id, never a path
or a value.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from pyspark.sql.types import StringType, StructField, StructType

from sparkdeid.dicom.limits import FileLimits, check_file_size
from sparkdeid.errors import SparkDeidError
from sparkdeid.storage import read_bytes
from sparkdeid.storage import size as stored_size

logger = logging.getLogger(__name__)

FileFn = Callable[[bytes, dict[str, Any]], dict[str, Any]]


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


class FileStageError(SparkDeidError, RuntimeError):
    """Raised with handleInvalid='error' to stop the job on the first bad file."""


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


def run_per_file(
    batches: Iterator[pd.DataFrame],
    settings: RowSettings,
    fn: FileFn,
    output_cols: tuple[str, ...],
) -> Iterator[pd.DataFrame]:
    """Apply ``fn`` to each row's file bytes; failures become error rows."""
    for pdf in batches:
        outputs: dict[str, list[Any]] = {col: [] for col in output_cols}
        errors: list[str | None] = []
        upstream = (
            list(pdf[settings.error_col])
            if settings.error_col in pdf.columns
            else [None] * len(pdf)
        )
        for index in range(len(pdf)):
            row = pdf.iloc[index]
            path = str(row[settings.path_col]) if settings.path_col in pdf.columns else ""
            if isinstance(upstream[index], str):
                # an earlier stage already failed this file: carry its error, do no work
                for col in output_cols:
                    outputs[col].append(None)
                errors.append(None)
                continue
            try:
                content = source_bytes(row[settings.input_col], settings.max_bytes)
                extras = {col: row[col] for col in settings.extra_cols if col in pdf.columns}
                result = fn(content, extras)
                error = None
            except Exception as exc:  # one bad file never stops the job
                error = safe_message(exc)
                result = {}
                logger.warning("file %s failed: %s", file_id(path), error)
                if settings.handle_invalid == "error":
                    raise FileStageError(f"file {file_id(path)} failed: {error}") from None
            for col in output_cols:
                outputs[col].append(result.get(col))
            errors.append(error)
        dropped = [c for c in (*output_cols, settings.error_col) if c in pdf.columns]
        if not settings.keep_input:
            dropped.append(settings.input_col)
        out = pdf.drop(columns=dropped)
        for col, values in outputs.items():
            out[col] = values
        # An earlier stage's error stays visible unless this stage has its own.
        out[settings.error_col] = [
            own or before for own, before in zip(errors, upstream, strict=True)
        ]
        if settings.handle_invalid == "skip":
            out = out[out[settings.error_col].isna()]
        yield out
