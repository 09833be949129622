"""Write strategy CSVs computed from the packaged PS3.15 Table E.1-1.

With no arguments, rewrites the shipped ``basic.csv`` and ``tcia.csv`` next to
this script; run it after replacing the table with a new edition and review
the diff. With ``--profile`` / ``--option`` it writes any combination of
options, to ``--output`` or to standard output::

    python strategies/generate_strategies.py
    python strategies/generate_strategies.py --profile basic \\
        --option retain-uids --option clean-descriptors --output my.csv
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

# The script belongs to the repository and must use the repository's table and
# code, also when an older sparkdeid is installed or none is.
_REPO = Path(__file__).resolve().parents[1]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

from sparkdeid.errors import StrategyError  # noqa: E402
from sparkdeid.metadata.profiles import (  # noqa: E402
    OPTIONS,
    PROFILES,
    build_strategy_csv,
    resolve_options,
)

SHIPPED = ("basic", "tcia")
"""Profiles whose CSV is kept in ``strategies/``."""


def shipped_path(profile: str) -> Path:
    """Where the shipped CSV of ``profile`` lives (tests compare against it)."""
    return Path(__file__).resolve().parent / f"{profile}.csv"


def _write(path: Path, text: str) -> None:
    # newline="" keeps the "\n" line ends on every platform, so regenerating
    # on another OS never shows a whole-file diff.
    path.write_text(text, encoding="utf-8", newline="")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        help="named profile to start from (default: basic when --option is given)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME",
        help=f"option to add, repeatable; one of: {', '.join(OPTIONS)}",
    )
    parser.add_argument(
        "--output", type=Path, help="file to write (default: standard output)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = _parser().parse_args(argv)
    if args.profile is None and not args.option and args.output is None:
        for profile in SHIPPED:
            path = shipped_path(profile)
            _write(path, build_strategy_csv(PROFILES[profile]))
            print(f"wrote {path}")
        return 0
    try:
        options = resolve_options(args.profile or "basic", args.option)
    except StrategyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = build_strategy_csv(options)
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write(args.output, text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
