"""sparkdeid and its peers on the same synthetic corpus, scored by the same checks.

One command (``make bench``, or ``python benchmarks/compare.py``):

1. generates the corpus and its answer key (:mod:`benchmarks.corpus`);
2. runs sparkdeid's batch job (full pipeline, ``tcia``) on Spark ``local[1]``;
3. runs the peers (:mod:`benchmarks.peers`): Presidio's DICOM image redactor,
   dicognito and deid, each in a child process limited to one thread;
4. scores every output folder (:mod:`benchmarks.score`; header-only tools on
   header checks only) and prints one table.

files/s is measured per tool on one core; for sparkdeid it excludes the
Spark session's start-up (~8 s), which a long batch amortises. Usage::

    python benchmarks/compare.py [--files 200] [--seed 2026] [--workdir DIR] [--tools ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

from benchmarks import peers  # noqa: E402
from benchmarks.corpus import build_corpus  # noqa: E402
from benchmarks.score import score  # noqa: E402


@dataclass
class Row:
    tool: str
    result: Any
    note: str
    checks: str
    boxes: str
    non_phi: str
    files_per_s: float
    errors: int


def run_sparkdeid(input_dir: Path, output_dir: Path, secret: Path) -> tuple[float, int, str]:
    """The batch job on local[1]; (seconds without session start-up, errors, note)."""
    from sparkdeid import pipeline, schemas
    from sparkdeid.jobs.batch import RELPATH_COL, run_batch
    from sparkdeid.session import local_session

    spark = local_session("local[1]", app_name="sparkdeid-compare")
    empty = spark.createDataFrame([], "path string, relative_path string")
    model = pipeline.full_pipeline(
        input_col=schemas.PATH_COL,
        agg_cols=(schemas.PATH_COL, RELPATH_COL),
        strategy="tcia",
        secret_file=str(secret),
    ).fit(empty)
    summary = run_batch(spark, str(input_dir), str(output_dir), model)
    spark.stop()
    return summary.seconds, summary.errors, "full pipeline, tcia, rapidocr, Spark local[1]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workdir", default=None, help="kept when given; else a temp folder")
    parser.add_argument("--tools", default="presidio,dicognito,deid")
    args = parser.parse_args()

    root = Path(args.workdir or tempfile.mkdtemp(prefix="sparkdeid-compare-"))
    corpus_dir, out_root = root / "corpus", root / "outputs"
    shutil.rmtree(out_root, ignore_errors=True)
    started = time.perf_counter()
    key = build_corpus(corpus_dir, seed=args.seed, n_files=args.files)
    n_files = len(key.files)
    print(f"corpus: {n_files} files in {time.perf_counter() - started:.0f} s ({root})")

    secret = root / "secret.key"
    secret.write_text("compare-secret-0123456789")
    rows: list[Row] = []
    seconds, errors, note = run_sparkdeid(key.root, out_root / "sparkdeid", secret)
    ours = n_files / seconds if seconds else 0.0
    result = score(out_root / "sparkdeid", key)
    rows.append(_row("sparkdeid", note, result, ours, errors, header_only=False))

    for tool in [t.strip() for t in args.tools.split(",") if t.strip()]:
        run = peers.run_peer(tool, key.root, out_root / tool)
        if run.status != "ok":
            print(f"  {tool}: {run.status} ({run.note})")
            continue
        rate = n_files / run.seconds if run.seconds else 0.0
        result = score(out_root / tool, key, header_only=run.header_only)
        rows.append(
            _row(
                f"{tool} {run.version}",
                run.note,
                result,
                rate,
                run.error_count,
                header_only=run.header_only,
            )
        )

    print()
    print(
        "| tool | checks passed | PHI boxes hidden | non-PHI pixels changed | files/s "
        "(1 core) | ratio to sparkdeid | errors |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = row.files_per_s / ours if ours else 0.0
        print(
            f"| {row.tool} | {row.checks} | {row.boxes} | {row.non_phi} | "
            f"{row.files_per_s:.2f} | {ratio:.2f} | {row.errors} |"
        )
    print()
    for row in rows:
        print(f"- {row.tool}: {row.note}")
    kinds = sorted({kind for row in rows for kind in row.result.by_type})
    print("\n| check | " + " | ".join(row.tool.split(" (")[0] for row in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for kind in kinds:
        cells = []
        for row in rows:
            tally = row.result.by_type.get(kind)
            cells.append(f"{100 * tally.passed / tally.total:.1f} %" if tally and tally.total
                         else "-")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")
    if not args.workdir:
        shutil.rmtree(root, ignore_errors=True)


def _row(tool: str, note: str, result, rate: float, errors: int, *, header_only: bool) -> Row:
    checks = (
        f"{100 * result.passed / result.total:.1f} % ({result.passed}/{result.total})"
        if result.total
        else "-"
    )
    hidden, boxes = result.phi_boxes_hidden
    return Row(
        tool=tool + (" (header checks only)" if header_only else ""),
        result=result,
        note=note,
        checks=checks,
        boxes="-" if header_only else f"{hidden}/{boxes}",
        non_phi="-" if header_only else f"{100 * result.non_phi_changed_share:.2f} %",
        files_per_s=rate,
        errors=errors,
    )


if __name__ == "__main__":
    main()
