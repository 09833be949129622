"""Structured Streaming over a landing folder, with exactly-once results across crashes.

Spark's file source lists new files into a numbered batch and records the
batch in its offset log *before* running it; the batch is marked done in the
commit log only *after* ``foreachBatch`` returns. A crash in between replays
the same batch id with the same files. So every side effect of a batch is
made idempotent:

* each output is written atomically (temp name + rename) under its path
  relative to the landing folder, so a replay overwrites, never duplicates;
* failed files are copied to ``_quarantine`` under the same relative path;
* the batch's manifest rows go, atomically and last, to
  ``_manifest/batch-<id>.csv``, which a replay overwrites.

:func:`read_stream_manifest` combines the per-batch files into one row per
input path. Files whose names begin with ``.`` or ``_`` are ignored by
Spark's listing (Hadoop's hidden-file rule): land files under such a name
and rename them into place when complete.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd

from sparkdeid import schemas
from sparkdeid.errors import OutputConflictError
from sparkdeid.jobs.batch import DEFAULT_LARGE_FILE_BYTES, concat_rows, deidentify_jobs
from sparkdeid.jobs.crosswalk import check_location as crosswalk_location
from sparkdeid.jobs.crosswalk import merge as merge_crosswalk
from sparkdeid.jobs.crosswalk import take_rows
from sparkdeid.jobs.manifest import MANIFEST_COLUMNS, STATUS_OK
from sparkdeid.jobs.options import add_deid_arguments, deid_run
from sparkdeid.jobs.output_names import check_layout
from sparkdeid.storage import is_s3, local_path, write_bytes_atomic

if TYPE_CHECKING:
    from pyspark.ml import Transformer
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

logger = logging.getLogger(__name__)

STREAM_MANIFEST_DIR = "_manifest"
BATCH_ID_COL = "batch_id"
TEMP_PREFIX = ".tmp-"  # what write_bytes_atomic names its temp files
TRIGGERS = ("available-now", "once", "interval:<seconds>")
# Spark's fixed binaryFile schema; a streaming source cannot infer it. (Belongs in
# schemas.py, which this module's author was asked not to touch.)
BINARY_FILE_DDL = "path STRING, modificationTime TIMESTAMP, length BIGINT, content BINARY"


def trigger_kwargs(trigger: str) -> dict[str, Any]:
    """``available-now`` / ``once`` / ``interval:5`` as ``DataStreamWriter.trigger`` keywords.

    ``once`` runs one batch with everything new and ignores
    ``maxFilesPerTrigger``; ``available-now`` honours it, splitting the
    backlog into several batches, then stops.
    """
    if trigger == "available-now":
        return {"availableNow": True}
    if trigger == "once":
        return {"once": True}
    if trigger.startswith("interval:"):
        seconds = trigger.split(":", 1)[1]
        try:
            value = float(seconds)
        except ValueError:
            value = -1.0
        if value > 0:
            return {"processingTime": f"{seconds} seconds"}
    raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}; got {trigger!r}")


def relative_to(root: str, path: str) -> str:
    """``path`` (as the binaryFile source spells it) relative to the landing ``root``.

    This is the output's name, so it must be the same on every replay: it
    depends on nothing but the input's own path.
    """
    if is_s3(root):
        prefix = root.rstrip("/") + "/"
        relative = path[len(prefix):] if path.startswith(prefix) else ""
    else:
        relative = os.path.relpath(os.path.abspath(local_path(path)),
                                   os.path.abspath(local_path(root)))
    if not relative or relative.startswith(".."):
        raise ValueError("an input lies outside the landing folder")  # no path: PHI
    return relative


def _inside(child: str, parent: str) -> bool:
    child, parent = os.path.abspath(local_path(child)), os.path.abspath(local_path(parent))
    return os.path.commonpath([child, parent]) == parent


def remove_stale_temps(output: str) -> int:
    """Delete temp files a killed writer left behind; return how many.

    Called when a query starts, before any writer of this output runs: a
    temp file then can only belong to a dead process. Temps are never named
    in the manifest, so they are never counted even before this runs.
    """
    if is_s3(output):
        return 0  # S3 puts are atomic; no temps
    removed = 0
    for folder, _dirs, files in os.walk(local_path(output)):
        for name in files:
            if name.startswith(TEMP_PREFIX):
                try:
                    os.unlink(os.path.join(folder, name))
                    removed += 1
                except OSError:
                    pass
    if removed:
        logger.info("stream: removed %d stale temp file(s)", removed)
    return removed


def write_batch_outputs(
    batch: DataFrame,
    landing: str,
    output: str,
    transformer: Transformer,
    output_col: str = schemas.DICOM_COL,
    error_col: str = schemas.ERROR_COL,
    *,
    output_layout: str = "relative",
    large_file_bytes: int = DEFAULT_LARGE_FILE_BYTES,
    crosswalk: bool = False,
) -> pd.DataFrame:
    """De-identify one micro-batch and write its outputs; return its manifest rows.

    Only the paths are taken from the stream (the binaryFile source then
    never reads ``content``). The files then take the batch job's routes
    (:func:`~sparkdeid.jobs.batch.deidentify_jobs`): executors read each
    file themselves, one file per task so slow files run in parallel, and
    files of ``large_file_bytes`` or more go frame by frame from disk to
    disk. ``output_layout`` names the outputs as in the batch job; ``uids``
    names depend only on the file and the secret, so a replay rewrites the
    same names.
    """
    paths = [row[0] for row in batch.select(schemas.PATH_COL).collect()]
    if not paths:
        return pd.DataFrame(columns=MANIFEST_COLUMNS)
    inputs = [(path, relative_to(landing, path)) for path in paths]
    output_root = output.rstrip("/") if is_s3(output) else os.path.abspath(local_path(output))
    jobs = deidentify_jobs(batch.sparkSession, transformer, inputs, output_root,
                           output_col=output_col, error_col=error_col, layout=output_layout,
                           large_file_bytes=large_file_bytes, wave_files=len(inputs),
                           crosswalk=crosswalk)
    # the in-memory files and the big ones side by side, as in the batch job
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sparkdeid-stream") as pool:
        parts = list(pool.map(lambda job: job(), jobs))
    return concat_rows(parts)


def checkpoint_started(checkpoint: str) -> bool:
    """Whether Spark has logged a batch in ``checkpoint`` (its offset log is not empty).

    The offset log gets a batch's entry before the batch runs, so an output
    holding that batch's manifest always has a started checkpoint.
    """
    offsets = os.path.join(local_path(checkpoint), "offsets")
    return os.path.isdir(offsets) and any(not n.startswith(".") for n in os.listdir(offsets))


_CHECKPOINT_ENTRIES = {"metadata", "offsets", "commits", "sources", "state"}


def prepare_release(output: str, checkpoint: str, overwrite: bool,
                    crosswalk: str | None = None) -> None:
    """Check (or, with ``overwrite``, clear) the state a new query would continue.

    A new checkpoint numbers its batches from 0 again, so over an output that
    already holds a stream's ``_manifest/`` it would overwrite some of the old
    batch files and leave the others: one manifest of two releases. Without
    ``overwrite`` that is refused. With it the checkpoint and the output's
    manifest are deleted first, so every landed file is done again and the
    manifest describes this release only; outputs are rewritten in place.
    A checkpoint folder holding anything Spark does not write there is left
    alone (refused), in case it was named by mistake. Local folders only.
    """
    if is_s3(output) or is_s3(checkpoint):
        if overwrite:
            raise OutputConflictError("--overwrite needs a local output and checkpoint; "
                                      "clear the S3 prefixes yourself")
        return
    manifest_dir = os.path.join(local_path(output), STREAM_MANIFEST_DIR)
    checkpoint_dir = local_path(checkpoint)
    if overwrite:
        if os.path.isdir(checkpoint_dir):
            unknown = [n for n in os.listdir(checkpoint_dir)
                       if n not in _CHECKPOINT_ENTRIES and not n.startswith(".")]
            if unknown:
                raise OutputConflictError("the checkpoint folder holds files Spark did not "
                                          "write; not deleting it")
            shutil.rmtree(checkpoint_dir)
        if os.path.isdir(manifest_dir):
            shutil.rmtree(manifest_dir)
        if crosswalk is not None and os.path.exists(crosswalk):
            os.remove(crosswalk)
        logger.info("stream: starting a fresh release (checkpoint and manifest cleared)")
        return
    if glob.glob(os.path.join(manifest_dir, "batch-*.csv")) and not checkpoint_started(
            checkpoint):
        raise OutputConflictError(
            "the output holds another stream's manifest but the checkpoint is new: reuse "
            "that stream's --checkpoint to continue it, or pass --overwrite for a fresh release")


def write_batch_manifest(rows: pd.DataFrame, output: str, batch_id: int) -> str:
    """Write a batch's manifest rows atomically to ``_manifest/batch-<id>.csv``.

    This is the batch's last side effect: a replay of the same id rewrites
    the same file, so the combined manifest never holds a batch twice.
    """
    frame = rows.reindex(columns=MANIFEST_COLUMNS).sort_values("input_path", kind="stable")
    frame = frame.astype({"input_bytes": "Int64", "output_bytes": "Int64"})
    frame[BATCH_ID_COL] = batch_id
    target = os.path.join(output, STREAM_MANIFEST_DIR, f"batch-{batch_id:08d}.csv")
    write_bytes_atomic(target, frame.to_csv(index=False).encode("utf-8"))
    return target


def read_stream_manifest(output: str) -> pd.DataFrame:
    """Every batch's manifest rows, one row per input path (the latest batch wins).

    A file landed again under the same path after it was processed is
    counted once, with its latest result.
    """
    pattern = os.path.join(local_path(output), STREAM_MANIFEST_DIR, "batch-*.csv")
    parts = [pd.read_csv(name, dtype={"error": "string", "document_action": "string"})
             for name in sorted(glob.glob(pattern))]
    columns = [*MANIFEST_COLUMNS, BATCH_ID_COL]
    if not parts:
        return pd.DataFrame(columns=columns)
    frame = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    frame = frame.sort_values(BATCH_ID_COL, kind="stable")
    frame = frame.drop_duplicates("input_path", keep="last")
    return frame.sort_values("input_path", kind="stable").reset_index(drop=True)


def run_stream(
    spark: SparkSession,
    landing: str,
    output: str,
    checkpoint: str,
    transformer: Transformer,
    *,
    trigger: str = "available-now",
    max_files_per_trigger: int = 100,
    on_batch: Callable[[int, pd.DataFrame], None] | None = None,
    output_layout: str = "relative",
    large_file_bytes: int = DEFAULT_LARGE_FILE_BYTES,
    overwrite: bool = False,
    crosswalk: str | None = None,
) -> StreamingQuery:
    """Start de-identifying files as they land; return the running query.

    ``transformer`` is a fitted pipeline reading files from ``path`` (built
    with ``input_col="path"``; a full pipeline may aggregate on
    ``("path", "relative_path")`` as in the batch job). Restarting with the
    same ``checkpoint`` resumes where the last run stopped, replaying an
    unfinished batch. Run one query per ``output`` folder. ``on_batch`` is
    called on the driver with each committed batch's id and manifest rows.

    ``output_layout`` and ``large_file_bytes`` are as in
    :func:`~sparkdeid.jobs.batch.run_batch`. ``overwrite`` starts a fresh
    release (see :func:`prepare_release`); without it a new checkpoint over
    an output that already holds a stream's manifest is refused.

    ``crosswalk`` is as in :func:`~sparkdeid.jobs.batch.run_batch`; a batch's
    rows are merged into it before its manifest is written, one row per
    original however often a batch is replayed.
    """
    if max_files_per_trigger < 1:
        raise ValueError("max_files_per_trigger must be at least 1")
    kwargs = trigger_kwargs(trigger)
    if not is_s3(landing):
        for name, folder in (("output", output), ("checkpoint", checkpoint)):
            if not is_s3(folder) and _inside(folder, landing):
                raise ValueError(f"the {name} folder must not be inside the landing folder")
    check_layout(output_layout)
    crosswalk_path = (crosswalk_location(crosswalk, output, landing, checkpoint)
                      if crosswalk else None)
    prepare_release(output, checkpoint, overwrite, crosswalk_path)
    remove_stale_temps(output)

    def process(batch: DataFrame, batch_id: int) -> None:
        rows = write_batch_outputs(batch, landing, output, transformer,
                                   output_layout=output_layout,
                                   large_file_bytes=large_file_bytes,
                                   crosswalk=crosswalk_path is not None)
        rows, pairs = take_rows(rows)
        if crosswalk_path is not None:
            merge_crosswalk(crosswalk_path, pairs)
        write_batch_manifest(rows, output, batch_id)
        ok = int((rows["status"] == STATUS_OK).sum()) if len(rows) else 0
        logger.info("stream: batch %d: %d files, %d ok", batch_id, len(rows), ok)
        if on_batch is not None:
            on_batch(batch_id, rows)

    source = (
        spark.readStream.format("binaryFile")
        .schema(BINARY_FILE_DDL)
        .option("recursiveFileLookup", "true")
        .option("maxFilesPerTrigger", str(max_files_per_trigger))
        .load(landing)
    )
    return (
        source.writeStream.foreachBatch(process)
        .option("checkpointLocation", checkpoint)
        .trigger(**kwargs)
        .start()
    )


def process_landed(
    spark: SparkSession,
    landing: str,
    output: str,
    checkpoint: str,
    transformer: Transformer,
    *,
    trigger: str = "available-now",
    max_files_per_trigger: int = 100,
    **options: Any,
) -> pd.DataFrame:
    """Process everything landed so far, block until done; return the combined manifest.

    ``options`` are :func:`run_stream`'s (``output_layout``, ``large_file_bytes``,
    ``overwrite``). Raises ``pyspark.errors.StreamingQueryException`` if a
    batch failed.
    """
    if trigger not in ("available-now", "once"):
        raise ValueError("process_landed needs trigger 'available-now' or 'once'")
    query = run_stream(spark, landing, output, checkpoint, transformer, trigger=trigger,
                       max_files_per_trigger=max_files_per_trigger, **options)
    query.awaitTermination()
    return read_stream_manifest(output)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``sparkdeid stream``: its source, then the options it shares with ``deid``."""
    parser.add_argument("--landing", required=True, help="folder watched recursively")
    parser.add_argument("--output", required=True,
                        help="folder for outputs, _quarantine/ and _manifest/batch-*.csv")
    parser.add_argument("--checkpoint", required=True,
                        help="Spark checkpoint folder; reuse it to resume after a stop or crash")
    parser.add_argument("--trigger", default="available-now",
                        help="available-now (default: all landed files, then stop), once "
                        "(one batch), or interval:<seconds> (run until stopped)")
    parser.add_argument("--max-files-per-trigger", type=int, default=100,
                        help="files per micro-batch (default 100; ignored by 'once')")
    add_deid_arguments(parser, "stream")


class BatchLines:
    """One stderr line per committed micro-batch: its counts and the running totals."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.files = self.errors = 0

    def __call__(self, batch_id: int, rows: pd.DataFrame) -> None:
        failed = int((rows["status"] != STATUS_OK).sum()) if len(rows) else 0
        self.files += len(rows)
        self.errors += failed
        rate = self.files / max(time.monotonic() - self.started, 1e-9)
        self.stream.write(
            f"sparkdeid: batch {batch_id}: {len(rows)} files, {failed} errors; "
            f"{self.files} files so far ({rate:.1f} files/s), {self.errors} errors\n"
        )
        self.stream.flush()


def main(args: argparse.Namespace) -> int:
    """``sparkdeid stream``: 0 when the query ends cleanly, 1 when a batch failed.

    A failed batch is not committed, so rerunning with the same checkpoint
    retries it.
    """
    from pyspark.errors import StreamingQueryException

    from sparkdeid.session import local_session

    trigger_kwargs(args.trigger)  # fail before Spark starts
    run = deid_run(args)
    spark = local_session(run.master)
    query = run_stream(spark, args.landing, args.output, args.checkpoint, run.fit(spark),
                       trigger=args.trigger, max_files_per_trigger=args.max_files_per_trigger,
                       on_batch=BatchLines() if run.progress else None,
                       output_layout=run.output_layout,
                       large_file_bytes=run.large_file_bytes, overwrite=run.overwrite,
                       crosswalk=run.crosswalk)
    try:
        query.awaitTermination()
    except StreamingQueryException as exc:
        # Spark's message can quote file paths; name the failure by type only.
        print(f"sparkdeid: the stream stopped on an error ({type(exc).__name__}); "
              f"rerun with the same --checkpoint to resume", file=sys.stderr)
        return 1
    manifest = read_stream_manifest(args.output)
    ok = int((manifest["status"] == STATUS_OK).sum())
    print(f"sparkdeid: {len(manifest)} files so far: {ok} ok, {len(manifest) - ok} errors "
          f"(quarantined under {args.output}/_quarantine); "
          f"manifest: {args.output}/{STREAM_MANIFEST_DIR}/batch-*.csv")
    return 0
