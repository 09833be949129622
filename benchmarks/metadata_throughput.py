"""Metadata de-identification throughput against the bare pydicom floor, one run.

Prints files/s for
  1. the floor: pydicom read + write of each file (no changes), one core;
  2. sparkdeid's metadata path (strategy + pseudonyms + write), one core, no Spark;
  3. the CLI end to end (``sparkdeid deid --metadata-only``), Spark start-up included,
and the ratios between them. Usage::

    python benchmarks/metadata_throughput.py [--files 200] [--strategy tcia] [--master local[2]]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sparkdeid.metadata.engine import EngineConfig, compiled_engine, deidentify_bytes  # noqa: E402
from sparkdeid.metadata.strategy import resolve_strategy  # noqa: E402
from tests.factories import write_corpus  # noqa: E402


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def floor(contents: list[bytes]) -> float:
    started = time.perf_counter()
    for data in contents:
        ds = pydicom.dcmread(io.BytesIO(data))
        pydicom.dcmwrite(io.BytesIO(), ds, enforce_file_format=True)
    return _rate(len(contents), time.perf_counter() - started)


def metadata_path(contents: list[bytes], strategy: str) -> float:
    resolved = resolve_strategy(strategy)
    config = EngineConfig(
        strategy_csv=resolved.csv_text,
        secret=b"benchmark-secret",
        method_description=resolved.method_description,
        method_codes=resolved.method_codes,
    )
    compiled_engine(config)  # strategy and KB parse once per worker, as in Spark
    started = time.perf_counter()
    for data in contents:
        deidentify_bytes(data, config)
    return _rate(len(contents), time.perf_counter() - started)


def cli(folder: str, output: str, strategy: str, master: str, count: int) -> tuple[float, float]:
    env = dict(os.environ, SPARKDEID_SECRET="benchmark-secret")
    command = [sys.executable, "-m", "sparkdeid.cli", "deid", "--input", folder, "--output",
               output, "--strategy", strategy, "--metadata-only", "--master", master]
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    total = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"CLI failed ({result.returncode}): {result.stderr[-2000:]}")
    job_seconds = float(result.stdout.split(" in ")[1].split(" s")[0])
    return _rate(count, total), _rate(count, job_seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--strategy", default="tcia")
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        per_patient = 2 * 2 * 5
        corpus = write_corpus(Path(tmp) / "in", n_patients=max(1, args.files // per_patient),
                              studies_per_patient=2, series_per_study=2, instances_per_series=5,
                              seed=11, image_size=256)
        contents = [Path(f.path).read_bytes() for f in corpus]
        size_mb = sum(map(len, contents)) / 1e6
        print(f"corpus: {len(contents)} files, {size_mb:.1f} MB, strategy {args.strategy}")
        floor_rate = floor(contents)
        ours = metadata_path(contents, args.strategy)
        end_to_end, in_job = cli(str(corpus.root), str(Path(tmp) / "out"), args.strategy,
                                 args.master, len(contents))

    print(f"{'path':<48}{'files/s':>10}{'floor/this':>12}")
    rows = [
        ("pydicom read+write (floor, 1 core)", floor_rate),
        ("sparkdeid metadata path (1 core, no Spark)", ours),
        (f"CLI job, Spark {args.master} (excl. start-up)", in_job),
        (f"CLI end to end, Spark {args.master} (incl. start-up)", end_to_end),
    ]
    for name, rate in rows:
        print(f"{name:<48}{rate:>10.1f}{floor_rate / rate:>12.2f}")
    verdict = "within" if floor_rate / ours <= 1.5 else "OUTSIDE"
    print(f"metadata path is {floor_rate / ours:.2f}x the floor: {verdict} the 1.5x target")


if __name__ == "__main__":
    main()
