"""``sparkdeid`` command line: wiring only; the work lives in jobs/ and metadata/."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sparkdeid import schemas
from sparkdeid.errors import SparkDeidError

logger = logging.getLogger("sparkdeid")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparkdeid", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True)

    deid = commands.add_parser("deid", help="de-identify every DICOM file under a folder")
    deid.add_argument("--input", required=True,
                      help="folder read recursively, or an s3://bucket/prefix")
    deid.add_argument("--output", required=True,
                      help="folder or s3://bucket/prefix for outputs and _manifest.*")
    deid.add_argument("--overwrite", action="store_true",
                      help="redo every file; by default files the output's manifest lists "
                      "as ok (same path and size) are skipped")
    deid.add_argument(
        "--strategy",
        default=None,
        help="'basic', 'tcia', a profile with options ('basic+retain-uids'), or a CSV path "
        "(default: tcia; basic with --redact-all)",
    )
    deid.add_argument("--group-strategy", default="", help="optional group strategy CSV")
    deid.add_argument("--secret-file", default="", help="pseudonym secret (else $SPARKDEID_SECRET)")
    deid.add_argument("--keep-private-tags", action="store_true",
                      help="keep private tags the strategy has no row for (default: remove)")
    deid.add_argument("--metadata-only", action="store_true",
                      help="de-identify metadata only; Pixel Data is left byte-identical")
    deid.add_argument("--redact-all", action="store_true",
                      help="full anonymisation: mask every burned-in word and use the basic "
                      "profile unless --strategy names another")
    deid.add_argument("--ocr-engine", default="rapidocr",
                      help="OCR back-end: rapidocr (default), tesseract, paddleocr")
    deid.add_argument("--scale", type=int, default=0,
                      help="render frames at this width for OCR (0 = original size)")
    deid.add_argument("--fill", choices=("black", "background"), default="black",
                      help="how masked regions are filled")
    deid.add_argument("--force-output", action="store_true",
                      help="write Explicit VR Little Endian when a changed frame cannot be "
                      "re-encoded in its own transfer syntax (default: error row)")
    deid.add_argument("--frame-reuse", choices=("changed", "strict", "off"), default="changed",
                      help="multi-frame files: read only frames/areas with new text (changed), "
                      "every changed area (strict), or every frame whole (off)")
    deid.add_argument("--large-file-mb", type=int, default=256,
                      help="files of this size or more go frame by frame from disk to disk "
                      "(bounded memory; 0 = never)")
    deid.add_argument("--max-file-mb", type=int, default=1024,
                      help="refuse (error row) files of more MiB on the in-memory route, "
                      "before reading them (0 = no limit; files of --large-file-mb or more "
                      "are streamed and not subject to it)")
    deid.add_argument("--max-frames", type=int, default=100_000,
                      help="refuse files declaring more frames (0 = no limit)")
    deid.add_argument("--max-decoded-mpixels", type=int, default=2048,
                      help="refuse files whose header declares more decoded pixel values "
                      "(rows x columns x samples x frames; one frame on the streamed route), "
                      "in units of 2**20 (0 = no limit)")
    deid.add_argument("--residual-check", choices=("metadata", "pixels", "off"),
                      default="metadata",
                      help="after de-identification, fail (quarantine) a file whose output "
                      "still holds values from its own header that the strategy does not "
                      "keep: in the metadata (default), also in OCR of the output's frames "
                      "(pixels; roughly doubles OCR cost), or not at all (off)")
    deid.add_argument("--output-layout", choices=("relative", "uids"), default="relative",
                      help="relative: each output at its input's relative path (folder and "
                      "file names are released as they are; they may hold PHI); uids: "
                      "<study>/<series>/<instance>.dcm by the de-identified UIDs")
    deid.add_argument("--no-progress", action="store_true",
                      help="no progress line on stderr (files done/total, files/s, errors)")
    deid.add_argument("--master", default=None, help="Spark master URL (default: local[*])")

    strategy = commands.add_parser("strategy", help="write a strategy CSV for a profile")
    strategy.add_argument("--profile", default="basic", help="basic or tcia")
    strategy.add_argument("--option", action="append", default=[],
                          help="PS3.15 option, e.g. retain-uids (repeatable)")
    strategy.add_argument("--output", default="-", help="file to write (default: stdout)")

    stream = commands.add_parser(
        "stream", help="de-identify files as they land in a folder (Structured Streaming)"
    )
    from sparkdeid.jobs import streaming

    streaming.add_arguments(stream)
    commands.add_parser("check", help="check that Java and Spark can start here")

    verify = commands.add_parser(
        "verify", help="re-scan de-identified outputs against their originals; HTML report"
    )
    verify.add_argument("--original", required=True, help="folder of the original files")
    verify.add_argument("--deid", required=True, help="folder the deid job wrote")
    verify.add_argument("--report", required=True, help="HTML report to write")
    verify.add_argument("--include-original-thumbnails", action="store_true",
                        help="also show crops of the ORIGINAL pixels (the report then "
                        "holds PHI and says so)")
    verify.add_argument("--no-pixels", action="store_true",
                        help="check metadata only (no OCR, no masked regions)")
    verify.add_argument("--ocr-engine", default="rapidocr", help="OCR back-end for pixels")
    verify.add_argument("--frames", choices=("sample", "all"), default="sample",
                        help="multi-frame files: first, middle and last frame (sample) or all")
    verify.add_argument("--workers", type=int, default=1,
                        help="processes checking files in parallel")
    return parser


def _deid(args: argparse.Namespace) -> int:
    from sparkdeid import pipeline
    from sparkdeid.jobs.batch import RELPATH_COL, run_batch
    from sparkdeid.jobs.progress import ProgressLine
    from sparkdeid.session import local_session

    metadata = {
        "strategy": args.strategy or ("basic" if args.redact_all else "tcia"),
        "group_strategy": args.group_strategy,
        "secret_file": args.secret_file,
        "remove_private_tags": not args.keep_private_tags,
        "max_file_bytes": args.max_file_mb * 1024 * 1024,
    }
    pipeline.metadata_deidentifier(**metadata).engine_config()  # fail before Spark starts
    if args.metadata_only:
        chosen = pipeline.metadata_pipeline(input_col=schemas.PATH_COL,
                                            residual_check=args.residual_check, **metadata)
    else:
        build = pipeline.anonymisation_pipeline if args.redact_all else pipeline.full_pipeline
        chosen = build(
            input_col=schemas.PATH_COL,
            agg_cols=(schemas.PATH_COL, RELPATH_COL),
            engine=args.ocr_engine,
            scale=args.scale,
            frame_reuse=args.frame_reuse,
            fill=args.fill,
            force_output=args.force_output,
            max_frames=args.max_frames,
            max_decoded_pixels=args.max_decoded_mpixels * 1024 * 1024,
            residual_check=args.residual_check,
            **metadata,
        )
    spark = local_session(args.master)
    empty = spark.createDataFrame([], "path string, relative_path string")
    summary = run_batch(spark, args.input, args.output, chosen.fit(empty),
                        large_file_bytes=args.large_file_mb * 1024 * 1024,
                        overwrite=args.overwrite,
                        output_layout=args.output_layout,
                        progress=None if args.no_progress else ProgressLine())
    processed = summary.total - summary.skipped
    rate = processed / summary.seconds if summary.seconds else 0.0
    print(
        f"sparkdeid: {summary.total} files: {summary.ok} ok ({summary.skipped} done before), "
        f"{summary.errors} errors, {summary.quarantined} quarantined "
        f"(under {args.output}/_quarantine) in {summary.seconds:.1f} s "
        f"({rate:.1f} files/s); manifest: {args.output}/_manifest.csv"
    )
    return 0 if summary.accounted else 3


def _stream(args: argparse.Namespace) -> int:
    from sparkdeid.jobs import streaming

    return streaming.main(args)


def _strategy(args: argparse.Namespace) -> int:
    from sparkdeid.metadata.profiles import build_strategy_csv, resolve_options

    text = build_strategy_csv(resolve_options(args.profile, args.option))
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from sparkdeid.verify.report import write_report
    from sparkdeid.verify.run import verify

    result = verify(
        args.original, args.deid, pixels=not args.no_pixels,
        include_originals=args.include_original_thumbnails, engine=args.ocr_engine,
        frames=args.frames, workers=args.workers,
    )
    write_report(result, args.report)
    print(f"{result.summary_line()}; report: {args.report}")
    return 0 if result.passed else 1


def _check(args: argparse.Namespace) -> int:
    from sparkdeid.session import check_java

    print(f"sparkdeid: Java {check_java()} OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from sparkdeid.log_safety import quiet_debug_loggers

    quiet_debug_loggers()  # py4j's DEBUG prints pickled functions, which carry the secret
    handlers = {"deid": _deid, "stream": _stream, "strategy": _strategy, "check": _check,
                "verify": _verify}
    try:
        return handlers[args.command](args)
    except SparkDeidError as exc:
        print(f"sparkdeid: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
