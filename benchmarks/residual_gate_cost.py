"""What the residual-PHI gate costs: the same batch with the gate off, on metadata, on pixels.

Runs the benchmark corpus (benchmarks/corpus.py) through the batch job on
Spark local[1], once per gate mode, in one session, and prints files/s and
the ratio to the run without the gate. A first untimed pass warms the OCR
model and Python workers so no mode pays for start-up.

    python benchmarks/residual_gate_cost.py [--files 100] [--pipeline metadata|full]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.corpus import build_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--pipeline", choices=("metadata", "full"), default="full")
    args = parser.parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    from sparkdeid import pipeline, schemas
    from sparkdeid.jobs.batch import RELPATH_COL, run_batch
    from sparkdeid.session import local_session

    root = Path(tempfile.mkdtemp(prefix="sparkdeid-gate-"))
    build_corpus(root / "corpus", n_files=args.files)
    secret = root / "secret"
    secret.write_bytes(b"gate-benchmark-secret")
    spark = local_session("local[1]", app_name="sparkdeid-gate-cost")
    empty = spark.createDataFrame([], "path string, relative_path string")

    def model(mode: str):
        common = {"strategy": "tcia", "secret_file": str(secret), "residual_check": mode,
                  "input_col": schemas.PATH_COL}
        if args.pipeline == "metadata":
            return pipeline.metadata_pipeline(**common).fit(empty)
        return pipeline.full_pipeline(agg_cols=(schemas.PATH_COL, RELPATH_COL),
                                      **common).fit(empty)

    warm = run_batch(spark, str(root / "corpus"), str(root / "warm"), model("off"))
    print(f"{args.pipeline} pipeline, tcia, Spark local[1], corpus of {warm.total} files")
    baseline = 0.0
    for mode in ("off", "metadata", "pixels"):
        summary = run_batch(spark, str(root / "corpus"), str(root / mode), model(mode))
        rate = summary.total / summary.seconds
        baseline = baseline or rate
        print(f"  gate {mode:<9} {summary.seconds:7.1f} s  {rate:6.2f} files/s  "
              f"{rate / baseline:5.2f}x of no gate  ({summary.errors} errors)")
    spark.stop()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
