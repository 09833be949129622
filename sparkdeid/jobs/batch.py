"""Batch de-identification of a folder: list, de-identify on Spark, write, account.

Inputs are listed on the driver and spread evenly over tasks as paths;
executors read, de-identify and write each file themselves, so file bytes
never travel through the driver. Failed files are copied to ``_quarantine``
under their relative path, and the manifest holds one row per input.

Input and output may each be a local folder or an ``s3://`` (``s3a://``,
``s3n://``) prefix. Inputs are listed as :mod:`sparkdeid.jobs.listing` says
(Spark's own filesystem where the cluster has one, else boto3 on the
executors); objects are read and written with boto3 on the executors
(:mod:`sparkdeid.storage`), which need the usual AWS settings.

Re-runs into the same output skip inputs whose manifest row is ``ok`` for the
same path and size, carrying that row over; errors are retried.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd
from pyspark.ml import Transformer
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType, StructField, StructType

from sparkdeid import schemas
from sparkdeid.jobs import crosswalk as xwalk
from sparkdeid.jobs.crosswalk import CROSSWALK_COL, file_rows_json
from sparkdeid.jobs.large_files import (
    LargeFileSettings,
    deidentify_large_path,
    large_file_settings,
    streamable,
)
from sparkdeid.jobs.listing import list_sized
from sparkdeid.jobs.manifest import (
    MANIFEST_COLUMNS,
    MANIFEST_CSV,
    MANIFEST_PARQUET,
    QUARANTINE_DIR,
    STATUS_ERROR,
    STATUS_OK,
    previous_manifest,
    write_manifest,
)
from sparkdeid.jobs.output_names import check_layout, output_name
from sparkdeid.metadata.engine import EngineConfig
from sparkdeid.stages.document_cleaner import DOCUMENT_ACTION_COL
from sparkdeid.stages.rows import file_id, safe_message
from sparkdeid.storage import copy, is_s3, join, local_path, size, write_bytes_atomic

logger = logging.getLogger(__name__)

RELPATH_COL = "relative_path"
DEFAULT_LARGE_FILE_BYTES = 256 * 1024 * 1024
MANIFEST_CHECKPOINT_SECONDS = 60.0
INCOMING_DIR = ".sparkdeid-incoming"  # big files by UIDs: written here, then renamed
_SKIP_NAMES = {MANIFEST_CSV, MANIFEST_PARQUET}


@dataclass(frozen=True)
class BatchSummary:
    """Counts for one run; ``ok`` includes the ``skipped`` files done by an earlier run."""

    total: int
    ok: int
    errors: int
    seconds: float
    manifest: pd.DataFrame
    skipped: int = 0

    @property
    def accounted(self) -> bool:
        return len(self.manifest) == self.total

    @property
    def quarantined(self) -> int:
        """Failed inputs copied aside (an error row whose copy failed has no path)."""
        failed = self.manifest[self.manifest["status"] != STATUS_OK]
        return int(failed["output_path"].notna().sum())


def run_batch(
    spark: SparkSession,
    input_dir: str,
    output_dir: str,
    transformer: Transformer,
    output_col: str = schemas.DICOM_COL,
    error_col: str = schemas.ERROR_COL,
    large_file_bytes: int = DEFAULT_LARGE_FILE_BYTES,
    overwrite: bool = False,
    progress: Callable[[BatchProgress], None] | None = None,
    wave_files: int = 0,
    output_layout: str = "relative",
    crosswalk: str | None = None,
) -> BatchSummary:
    """De-identify every file under ``input_dir`` into ``output_dir``.

    ``transformer`` (a stage or fitted pipeline, e.g. from :mod:`sparkdeid.pipeline`
    built with ``input_col="path"`` and ``agg_cols=("path", "relative_path")``)
    reads each file from its ``path`` and must keep ``path`` and ``relative_path``.
    Either folder may be an ``s3://`` prefix.

    When ``output_dir`` already holds a manifest, inputs it lists as ``ok`` with
    the same path and size are not processed again and keep their row;
    ``overwrite=True`` redoes everything.

    Files of ``large_file_bytes`` or more (0 = never) go frame by frame from
    disk to disk with the same settings when ``transformer`` is a full pipeline
    (:mod:`sparkdeid.jobs.large_files`), so no executor holds one whole. That
    route needs local files, so it is used only when input and output are both
    local; S3 files of any size take the normal route.

    Files go to Spark in waves of ``wave_files`` (0 = a size fitted to the
    cluster), two jobs in flight. ``progress`` is called on the driver at the
    start and after every wave; the manifest is rewritten at least every
    :data:`MANIFEST_CHECKPOINT_SECONDS` while the run goes on.

    ``output_layout`` is ``relative`` (each output at its input's relative
    path) or ``uids`` (named by its de-identified UIDs, so no input folder or
    file name, which may hold PHI, is released); see
    :mod:`sparkdeid.jobs.output_names`.

    ``crosswalk`` (a local file path outside ``output_dir``; off by default)
    receives original -> replacement for every UID, Patient ID and Accession
    Number the run replaced (:mod:`sparkdeid.jobs.crosswalk`): PHI, to be kept
    like the secret. It is updated before each manifest checkpoint, so every
    file the manifest lists as ok has its rows; rows of files done by an
    earlier run stay in it unless ``overwrite``.
    """
    check_layout(output_layout)
    crosswalk_path = xwalk.check_location(crosswalk, output_dir, input_dir) if crosswalk else None
    if crosswalk_path is not None and overwrite and os.path.exists(crosswalk_path):
        os.remove(crosswalk_path)
    started = time.monotonic()
    remote_out = is_s3(output_dir)
    output_root = output_dir.rstrip("/") if remote_out else os.path.abspath(output_dir)
    if not remote_out:
        os.makedirs(output_root, exist_ok=True)
    sized = list_sized(spark, input_dir, output_root)
    previous = None if overwrite else previous_manifest(output_root)
    carried, inputs = _split_done(sized, previous)
    logger.info("batch: %d input files, %d already done", len(sized), len(carried))
    jobs = deidentify_jobs(
        spark, transformer, inputs, output_root, output_col=output_col, error_col=error_col,
        layout=output_layout, large_file_bytes=large_file_bytes, wave_files=wave_files,
        crosswalk=crosswalk_path is not None,
    )
    pending: list[list[str]] = []
    tally = _Tally(len(sized), len(carried), started, progress)
    parts = [carried]
    checkpointed = time.monotonic()
    # Two waves in flight: the next one's tasks fill the cores the last one's
    # stragglers leave idle. Each finished wave updates progress, and the
    # manifest is rewritten now and then so a killed run resumes from it.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sparkdeid-wave") as pool:
        for done in as_completed([pool.submit(job) for job in jobs]):
            rows, pairs = xwalk.take_rows(done.result())
            pending.extend(pairs)
            parts.append(rows)
            tally.add(rows)
            if time.monotonic() - checkpointed > MANIFEST_CHECKPOINT_SECONDS:
                _merge_crosswalk(crosswalk_path, pending)
                write_manifest(concat_rows(parts), output_root)
                checkpointed = time.monotonic()
    _merge_crosswalk(crosswalk_path, pending)
    manifest = write_manifest(concat_rows(parts), output_root)
    ok = int((manifest["status"] == STATUS_OK).sum())
    return BatchSummary(len(sized), ok, len(manifest) - ok, time.monotonic() - started,
                        manifest, skipped=len(carried))


def _merge_crosswalk(path: str | None, pending: list[list[str]]) -> None:
    if path is not None:
        xwalk.merge(path, pending)
        pending.clear()


def deidentify_jobs(
    spark: SparkSession,
    transformer: Transformer,
    inputs: list[tuple[str, str]],
    output_root: str,
    *,
    output_col: str = schemas.DICOM_COL,
    error_col: str = schemas.ERROR_COL,
    layout: str = "relative",
    large_file_bytes: int = DEFAULT_LARGE_FILE_BYTES,
    wave_files: int = 0,
    crosswalk: bool = False,
) -> list[Callable[[], pd.DataFrame]]:
    """The Spark jobs that de-identify and write ``(path, relative_path)`` inputs.

    Each job returns its files' manifest rows. Files of ``large_file_bytes``
    or more (0 = never) go, in one job of their own, frame by frame from disk
    to disk when ``transformer`` is a full pipeline, the files and
    ``output_root`` are local and the file can be streamed
    (:func:`~sparkdeid.jobs.large_files.streamable`); the rest go in waves of ``wave_files`` (0 = a
    size fitted to the cluster). The batch job and every streaming
    micro-batch route their files through here, so both apply the same rules.
    With ``crosswalk`` each ok row carries its file's crosswalk rows in
    :data:`~sparkdeid.jobs.crosswalk.CROSSWALK_COL`.
    """
    config = xwalk.engine_config_of(transformer) if crosswalk else None
    check_layout(layout)
    local = not is_s3(output_root) and not any(is_s3(path) for path, _ in inputs)
    settings = large_file_settings(transformer) if large_file_bytes > 0 and local else None
    large = [i for i in inputs if settings is not None and _size(i[0]) >= large_file_bytes
             and streamable(local_path(i[0]))]
    streamed = set(large)
    small = [i for i in inputs if i not in streamed]
    jobs: list[Callable[[], pd.DataFrame]] = [
        partial(_deidentify_wave, spark, transformer, wave, output_root, output_col, error_col,
                layout, config)
        for wave in _waves(small, wave_files or _wave_size(spark))
    ]
    if large and settings is not None:
        logger.info("%d file(s) over %d bytes go frame by frame", len(large), large_file_bytes)
        jobs.append(partial(_stream_large, spark, large, output_root, settings, layout,
                            crosswalk))
    return jobs


@dataclass(frozen=True)
class BatchProgress:
    """How far a run is: ``done`` counts files finished so far, ``skipped`` included."""

    total: int
    done: int
    errors: int
    skipped: int
    seconds: float

    @property
    def rate(self) -> float:
        """Files per second processed by this run (skipped files excluded)."""
        return (self.done - self.skipped) / self.seconds if self.seconds > 0 else 0.0


class _Tally:
    """Counts finished files and hands a :class:`BatchProgress` to the caller."""

    def __init__(self, total: int, skipped: int, started: float,
                 report: Callable[[BatchProgress], None] | None) -> None:
        self.total, self.skipped, self.started, self.report = total, skipped, started, report
        self.done, self.errors = skipped, 0
        self._emit()

    def add(self, rows: pd.DataFrame) -> None:
        self.done += len(rows)
        self.errors += int((rows["status"] != STATUS_OK).sum())
        self._emit()

    def _emit(self) -> None:
        if self.report is not None:
            self.report(BatchProgress(self.total, self.done, self.errors, self.skipped,
                                      time.monotonic() - self.started))


def _wave_size(spark: SparkSession) -> int:
    """Files per Spark job: enough tasks to keep every core busy, few enough that
    progress and manifest checkpoints come often."""
    return max(64, 16 * spark.sparkContext.defaultParallelism)


def _waves(inputs: list[tuple[str, str]], size: int) -> list[list[tuple[str, str]]]:
    return [inputs[i:i + size] for i in range(0, len(inputs), size)]


def _deidentify_wave(spark: SparkSession, transformer: Transformer,
                     wave: list[tuple[str, str]], output_root: str, output_col: str,
                     error_col: str, layout: str,
                     crosswalk: EngineConfig | None = None) -> pd.DataFrame:
    """One Spark job: de-identify and write these files; their manifest rows."""
    deidentified = transformer.transform(_paths_frame(spark, wave))

    def write(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return write_outputs(batches, output_root, output_col, error_col, layout, crosswalk)

    return deidentified.mapInPandas(write, schemas.MANIFEST_SCHEMA).toPandas()


def _stream_large(spark: SparkSession, large: list[tuple[str, str]], output_root: str,
                  settings: LargeFileSettings, layout: str,
                  crosswalk: bool = False) -> pd.DataFrame:
    """One Spark job, a task per big file, each streamed from disk to disk."""

    def stream(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return write_large_outputs(batches, output_root, settings, layout, crosswalk)

    frame = _paths_frame(spark, large, slices=len(large))
    return frame.mapInPandas(stream, schemas.MANIFEST_SCHEMA).toPandas()


def concat_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Manifest rows of several jobs as one frame (the first part when all are empty)."""
    filled = [p for p in parts if len(p)]
    if len(filled) <= 1:
        return filled[0] if filled else parts[0]
    # As objects: all-empty columns (document_action) must not sway dtypes.
    return pd.concat([p.astype(object) for p in filled], ignore_index=True)


def _split_done(
    sized: list[tuple[str, str, int | None]], previous: pd.DataFrame | None
) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Split inputs into manifest rows to carry over (done before) and inputs to process."""
    if previous is None or previous.empty:
        return pd.DataFrame(columns=MANIFEST_COLUMNS), [(p, r) for p, r, _ in sized]
    done = previous[previous["status"] == STATUS_OK].drop_duplicates("input_path", keep="last")
    done_size = dict(zip(done["input_path"], done["input_bytes"], strict=True))
    keep = {p for p, _, n in sized
            if p in done_size and n is not None and not pd.isna(done_size[p])
            and int(done_size[p]) == n}
    carried = done[done["input_path"].isin(keep)]
    return carried, [(p, r) for p, r, _ in sized if p not in keep]


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
    batches: Iterator[pd.DataFrame], output_root: str, settings: LargeFileSettings,
    layout: str = "relative", crosswalk: bool = False,
) -> Iterator[pd.DataFrame]:
    """Executor side, big files: stream each one to its output (or quarantine it).

    Local paths only (frames are streamed from disk to disk by file path);
    :func:`run_batch` never routes S3 files here.
    """
    for pdf in batches:
        records: list[tuple[str, str | None, str, str | None, int, int | None]] = []
        pairs: list[str | None] = []
        for path, relative in zip(pdf[schemas.PATH_COL], pdf[RELPATH_COL], strict=True):
            source = local_path(path)
            size = _size(path)
            # Named by its UIDs, an output is first written under a neutral name.
            target = (os.path.join(output_root, relative) if layout == "relative" else
                      os.path.join(output_root, INCOMING_DIR, f"{file_id(path)}.dcm"))
            try:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                result = deidentify_large_path(source, target, settings)
                if layout != "relative":
                    named = os.path.join(output_root, output_name(layout, relative, path=target))
                    os.makedirs(os.path.dirname(named), exist_ok=True)
                    os.replace(target, named)
                    target = named
                records.append((path, target, STATUS_OK, None, size, result.bytes_out))
                pairs.append(_large_file_rows(source, target, settings) if crosswalk else None)
            except Exception as exc:  # one bad file never stops the job
                error = safe_message(exc)
                quarantined = _quarantine(source, os.path.join(output_root, QUARANTINE_DIR,
                                                               relative))
                logger.warning("file %s quarantined: %s", file_id(path), error)
                records.append((path, quarantined, STATUS_ERROR, error, size, None))
                pairs.append(None)
        yield _manifest_frame(records, [None] * len(records), pairs)


def _large_file_rows(source: str, target: str, settings: LargeFileSettings) -> str:
    """A streamed file's crosswalk rows, from the headers of its input and output."""
    return file_rows_json(source, target, settings.metadata)


def _manifest_frame(records: list[Any], document_actions: list[Any],
                    crosswalk: list[str | None] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        records,
        columns=["input_path", "output_path", "status", "error", "input_bytes", "output_bytes"],
    )
    frame["input_id"] = [file_id(p) for p in frame["input_path"]]
    frame["document_action"] = document_actions
    frame[CROSSWALK_COL] = crosswalk or [None] * len(records)
    for column in ("input_bytes", "output_bytes"):
        frame[column] = pd.array(frame[column], dtype="Int64")
    return frame


def write_outputs(
    batches: Iterator[pd.DataFrame], output_root: str, output_col: str, error_col: str,
    layout: str = "relative", crosswalk: EngineConfig | None = None,
) -> Iterator[pd.DataFrame]:
    """Executor side: write each result (or quarantine its input); yield manifest rows.

    With ``crosswalk`` (the metadata engine's configuration) each ok row also
    carries the file's crosswalk rows.
    """
    for pdf in batches:
        records: list[tuple[str, str | None, str, str | None, int | None, int | None]] = []
        pairs: list[str | None] = []
        for path, relative, data, error in zip(
            pdf[schemas.PATH_COL], pdf[RELPATH_COL], pdf[output_col], pdf[error_col], strict=False
        ):
            source = path if is_s3(path) else local_path(path)
            input_bytes = size(source)
            if error is None and data is not None:
                try:
                    target = join(output_root, output_name(layout, relative, bytes(data)))
                    found = (file_rows_json(source, bytes(data), crosswalk)
                             if crosswalk is not None else None)
                    write_bytes_atomic(target, bytes(data))
                    records.append((path, target, STATUS_OK, None, input_bytes, len(data)))
                    pairs.append(found)
                    continue
                except Exception as exc:  # OSError locally, botocore errors on S3
                    error = f"could not write output ({type(exc).__name__})"
            quarantined = _quarantine(source, join(output_root, join(QUARANTINE_DIR, relative)))
            logger.warning("file %s quarantined: %s", file_id(path), error)
            records.append((path, quarantined, STATUS_ERROR, error, input_bytes, None))
            pairs.append(None)
        yield _manifest_frame(
            records,
            list(pdf[DOCUMENT_ACTION_COL]) if DOCUMENT_ACTION_COL in pdf.columns
            else [None] * len(records),
            pairs,
        )


def _quarantine(source: str, target: str) -> str | None:
    """Copy a failed input aside (local or S3); None when even that is impossible."""
    try:
        copy(source, target)
        return target
    except Exception:  # OSError locally, botocore errors on S3: the row still says error
        return None
