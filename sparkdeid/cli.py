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
    return parser


def _deid(args: argparse.Namespace) -> int:
    from sparkdeid import pipeline
    from sparkdeid.jobs.batch import RELPATH_COL, run_batch
    from sparkdeid.session import local_session

    metadata = {
        "strategy": args.strategy or ("basic" if args.redact_all else "tcia"),
        "group_strategy": args.group_strategy,
        "secret_file": args.secret_file,
        "remove_private_tags": not args.keep_private_tags,
    }
    pipeline.metadata_deidentifier(**metadata).engine_config()  # fail before Spark starts
    if args.metadata_only:
        chosen = pipeline.metadata_pipeline(input_col=schemas.PATH_COL, **metadata)
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
            **metadata,
        )
    spark = local_session(args.master)
    empty = spark.createDataFrame([], "path string, relative_path string")
    summary = run_batch(spark, args.input, args.output, chosen.fit(empty),
                        large_file_bytes=args.large_file_mb * 1024 * 1024,
                        overwrite=args.overwrite)
    rate = summary.total / summary.seconds if summary.seconds else 0.0
    print(
        f"sparkdeid: {summary.total} files: {summary.ok} ok ({summary.skipped} done before), "
        f"{summary.errors} errors "
        f"(quarantined under {args.output}/_quarantine) in {summary.seconds:.1f} s "
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
    handlers = {"deid": _deid, "stream": _stream, "strategy": _strategy, "check": _check}
    try:
        return handlers[args.command](args)
    except SparkDeidError as exc:
        print(f"sparkdeid: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
