"""A longer fuzz run over the stages' per-file work than the CI test makes.

Prints cases/s, counts by outcome, the most common error messages and every
escape (exception out of a stage, RecursionError, case over the deadline,
hang, worker crash, unreadable or leaking output); the bytes of each escaping
case are saved with a note on how to replay it. Usage::

    python benchmarks/fuzz.py --cases 200000 --seconds 1800 --seed 1 --out fuzz-findings
    python benchmarks/fuzz.py --replay 1:4711      # one case in-process, with traceback

Exit status 1 when anything escaped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import fuzz_harness as fh  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases to run at most")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long")
    parser.add_argument("--seed", type=int, default=1, help="run seed (0 is the CI run's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pixel-share", type=float, default=0.3,
                        help="share of cases on small pixel seeds that also run the pixel path")
    parser.add_argument("--deadline", type=float, default=2.0, help="seconds per case")
    parser.add_argument("--memory-mb", type=int, default=0,
                        help="cap each worker's address space (simulates a memory-capped "
                             "executor; 0 = no cap)")
    parser.add_argument("--out", default="fuzz-findings", help="folder for reproducers")
    parser.add_argument("--verbose", action="store_true", help="keep the codecs' stderr")
    parser.add_argument("--replay", metavar="SEED:INDEX", help="run one case here and exit")
    args = parser.parse_args(argv)

    if args.replay:
        seed, index = (int(part) for part in args.replay.split(":"))
        case = fh.make_case(seed, index, args.pixel_share)
        print(f"seed file {case.seed.name}, mutations {list(case.mutations)}, "
              f"strategy {case.strategy}, pixel path {case.pixels}")
        result = fh.run_case(fh.StageHarness(), case)  # an escape raises here, with traceback
        print(f"outcomes {result.outcomes}\nfailures {result.failures}\n"
              f"{result.seconds:.3f} s")
        return 1 if result.failures else 0

    def progress(summary: fh.Summary) -> None:
        print(f"  {summary.cases} cases, {summary.cases / summary.seconds:.0f}/s, "
              f"{len(summary.escapes)} escapes", flush=True)

    summary = fh.run_fuzz(
        args.cases, seed=args.seed, seconds=args.seconds, workers=args.workers,
        pixel_share=args.pixel_share, deadline=args.deadline, reproducers=args.out,
        progress=progress, quiet=not args.verbose, memory_mb=args.memory_mb,
    )
    print(summary.report(top=20))
    if summary.escapes:
        print(f"reproducers in {args.out}/")
    return 1 if summary.escapes else 0


if __name__ == "__main__":
    sys.exit(main())
