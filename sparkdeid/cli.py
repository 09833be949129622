"""``sparkdeid`` command line: wiring only; the work lives in jobs/ and metadata/."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from sparkdeid.errors import SparkDeidError
from sparkdeid.jobs.options import add_deid_arguments, deid_run

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
    add_deid_arguments(deid, "deid")

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
    from sparkdeid.jobs.batch import run_batch
    from sparkdeid.jobs.progress import ProgressLine
    from sparkdeid.session import local_session

    run = deid_run(args)  # fails on a bad strategy or secret before Spark starts
    spark = local_session(run.master)
    summary = run_batch(spark, args.input, args.output, run.fit(spark),
                        large_file_bytes=run.large_file_bytes,
                        overwrite=run.overwrite,
                        output_layout=run.output_layout,
                        crosswalk=run.crosswalk,
                        progress=ProgressLine() if run.progress else None)
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
    from sparkdeid.jobs.verify import verify
    from sparkdeid.jobs.verify_report import write_report

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
