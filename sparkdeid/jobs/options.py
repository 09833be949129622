"""The de-identification options of ``sparkdeid deid`` and ``sparkdeid stream``, once.

Both commands de-identify files with the same pipeline; they differ only in
where the files come from (a folder listed once, or a landing folder watched
by Structured Streaming). So the options that choose the pipeline, the
large-file route, the output names and what a re-run redoes are declared
here, by :func:`add_deid_arguments`, and turned into what a run needs by
:func:`deid_run`; each command adds only its own source options. A new
de-identification option is one ``add_argument`` call below plus, where it
changes the run, one line in :func:`deid_run`.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparkdeid import schemas
from sparkdeid.jobs.output_names import LAYOUTS, check_layout
from sparkdeid.pipeline import FILL_CHOICES, FRAME_REUSE, GATE_MODES, DeidSettings

if TYPE_CHECKING:
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.sql import SparkSession

MIB = 1024 * 1024
DEFAULTS = DeidSettings()  # the run's defaults, written once (sparkdeid.pipeline)
COMMANDS = ("deid", "stream")
GROUP_TITLE = "de-identification options (shared by deid and stream)"

# What "redo everything" undoes differs with where each command keeps its state.
_OVERWRITE_HELP = {
    "deid": "start a fresh release: redo every file (by default files the output's manifest "
    "lists as ok, same path and size, are skipped and keep their row)",
    "stream": "start a fresh release: delete --checkpoint and the output's _manifest/ "
    "first, so every landed file is done again (by default the stream resumes from its "
    "checkpoint, and refuses a new checkpoint over an output that already holds a "
    "stream's manifest); outputs are rewritten in place, none are deleted",
}


def add_deid_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the de-identification options to ``command``'s parser (``deid`` or ``stream``)."""
    if command not in COMMANDS:
        raise ValueError(f"command must be one of {COMMANDS}")
    group = parser.add_argument_group(GROUP_TITLE)
    add = group.add_argument
    add("--overwrite", action="store_true", help=_OVERWRITE_HELP[command])
    add("--strategy", default=None,
        help="'basic', 'tcia', a profile with options ('basic+retain-uids'), or a CSV path "
        "(default: tcia; basic with --redact-all)")
    add("--group-strategy", default="", help="optional group strategy CSV")
    add("--secret-file", default="", help="pseudonym secret (else $SPARKDEID_SECRET)")
    add("--keep-private-tags", action="store_true",
        help="keep private tags the strategy has no row for (default: remove)")
    add("--metadata-only", action="store_true",
        help="de-identify metadata only; Pixel Data is left byte-identical")
    add("--redact-all", action="store_true",
        help="full anonymisation: mask every burned-in word and use the basic profile "
        "unless --strategy names another")
    add("--ocr-engine", default=DEFAULTS.engine,
        help="OCR back-end: rapidocr (default), tesseract, paddleocr")
    add("--scale", type=int, default=DEFAULTS.scale,
        help="render frames at this width for OCR (0 = original size)")
    add("--fill", choices=FILL_CHOICES, default=DEFAULTS.fill,
        help="how masked regions are filled")
    add("--force-output", action="store_true",
        help="write Explicit VR Little Endian when a changed frame cannot be re-encoded in "
        "its own transfer syntax (default: error row)")
    add("--frame-reuse", choices=FRAME_REUSE, default=DEFAULTS.frame_reuse,
        help="multi-frame files: read only frames/areas with new text (changed), every "
        "changed area (strict), or every frame whole (off)")
    add("--large-file-mb", type=int, default=256,
        help="local files of this size or more go frame by frame from disk to disk "
        "(bounded memory; 0 = never)")
    add("--max-file-mb", type=int, default=DEFAULTS.max_file_bytes // MIB,
        help="refuse (error row) files of more MiB on the in-memory route, before reading "
        "them (0 = no limit; files of --large-file-mb or more are streamed and not "
        "subject to it)")
    add("--max-frames", type=int, default=DEFAULTS.max_frames,
        help="refuse files declaring more frames (0 = no limit)")
    add("--max-decoded-mpixels", type=int, default=DEFAULTS.max_decoded_pixels // MIB,
        help="refuse files whose header declares more decoded pixel values (rows x columns "
        "x samples x frames; one frame on the streamed route), in units of 2**20 "
        "(0 = no limit)")
    add("--residual-check", choices=GATE_MODES, default=DEFAULTS.residual_check,
        help="after de-identification, fail (quarantine) a file whose output still holds "
        "values from its own header that the strategy does not keep: in the metadata "
        "(default), also in OCR of the output's frames (pixels; roughly doubles OCR cost), "
        "or not at all (off)")
    add("--output-layout", choices=LAYOUTS, default="relative",
        help="relative: each output at its input's relative path (folder and file names are "
        "released as they are; they may hold PHI); uids: <study>/<series>/<instance>.dcm "
        "by the de-identified UIDs")
    add("--crosswalk", default=None, metavar="PATH",
        help="also write original -> replacement for every UID, Patient ID and Accession "
        "Number replaced, as CSV at PATH (outside the output folder; refused inside it). "
        "It re-identifies the release: keep it like the secret. Off by default")
    add("--no-progress", action="store_true",
        help="no progress lines on stderr (deid: files done/total, files/s, errors; "
        "stream: one line per micro-batch)")
    add("--master", default=None, help="Spark master URL (default: local[*])")


@dataclass(frozen=True)
class DeidRun:
    """What the shared options ask of a run: the pipeline to fit and how to write outputs.

    ``pipeline`` is not fitted yet, so it can be built (and its strategy and
    secret checked) before Spark starts; :meth:`fit` fits it on a session.
    """

    pipeline: Pipeline
    large_file_bytes: int
    output_layout: str
    overwrite: bool
    progress: bool
    master: str | None
    crosswalk: str | None = None

    def fit(self, spark: SparkSession) -> PipelineModel:
        empty = spark.createDataFrame([], "path string, relative_path string")
        return self.pipeline.fit(empty)


def deid_run(args: argparse.Namespace) -> DeidRun:
    """Build the run the parsed options describe; fails (strategy, secret) before Spark starts.

    The pipeline reads each file from ``path`` and, with pixel stages,
    aggregates on ``path`` and ``relative_path``, which both the batch job and
    the stream provide.
    """
    from sparkdeid.jobs.batch import RELPATH_COL

    settings = DeidSettings(
        metadata_only=args.metadata_only,
        redact_all=args.redact_all,
        strategy=args.strategy or "",
        group_strategy=args.group_strategy,
        secret_file=args.secret_file,
        remove_private_tags=not args.keep_private_tags,
        engine=args.ocr_engine,
        scale=args.scale,
        frame_reuse=args.frame_reuse,
        fill=args.fill,
        force_output=args.force_output,
        max_file_bytes=args.max_file_mb * MIB,
        max_frames=args.max_frames,
        max_decoded_pixels=args.max_decoded_mpixels * MIB,
        residual_check=args.residual_check,
        input_col=schemas.PATH_COL,
        agg_cols=(schemas.PATH_COL, RELPATH_COL),
    )
    settings.deidentifier().engine_config()  # fail (strategy, secret) before Spark starts
    return DeidRun(
        pipeline=settings.pipeline(),
        large_file_bytes=args.large_file_mb * MIB,
        output_layout=check_layout(args.output_layout),
        overwrite=args.overwrite,
        progress=not args.no_progress,
        master=args.master,
        crosswalk=args.crosswalk,
    )
