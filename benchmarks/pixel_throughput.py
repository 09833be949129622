"""Pixel de-identification throughput on 512x512 single-frame files, one core, one run.

Prints files/s for
  1. OCR alone: render each frame and run the OCR engine (one ONNX thread);
  2. the full per-file path without Spark: render, OCR, PHI detection, regions,
     masking and re-encoding, then metadata de-identification;
  3. the full Spark pipeline on ``local[1]`` (one core), steady state: the
     pipeline runs once to warm up the Python worker and model, then is timed;
and the ratios between them. Usage::

    python benchmarks/pixel_throughput.py [--files 24] [--engine rapidocr]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402

from sparkdeid import schemas  # noqa: E402
from sparkdeid.boxes import Box  # noqa: E402
from sparkdeid.dicom.codec import read_dataset  # noqa: E402
from sparkdeid.dicom.frames import pixel_info, render_frame  # noqa: E402
from sparkdeid.dicom.pixel_writer import mask_pixels  # noqa: E402
from sparkdeid.metadata.engine import EngineConfig, deidentify_bytes  # noqa: E402
from sparkdeid.metadata.strategy import resolve_strategy  # noqa: E402
from sparkdeid.ner.detect import DetectorConfig, PhiDetector  # noqa: E402
from sparkdeid.ner.finder import find_in_frame  # noqa: E402
from sparkdeid.ner.header import header_terms_of  # noqa: E402
from sparkdeid.ocr.registry import get_engine  # noqa: E402
from tests.factories import write_corpus  # noqa: E402


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def ocr_only(contents: list[bytes], engine_name: str) -> float:
    engine = get_engine(engine_name)
    started = time.perf_counter()
    for data in contents:
        ds = read_dataset(data)
        info = pixel_info(ds)
        for index in range(info.num_frames if info else 0):
            engine.read(render_frame(ds, index).image)
    return _rate(len(contents), time.perf_counter() - started)


def full_path(contents: list[bytes], engine_name: str, config: EngineConfig) -> float:
    """What the pipeline's stages do to one file, chained in-process."""
    engine = get_engine(engine_name)
    detector = PhiDetector(DetectorConfig())
    started = time.perf_counter()
    for data in contents:
        ds = read_dataset(data)
        header = header_terms_of(ds)
        info = pixel_info(ds)
        regions: dict[int, list[Box]] = {}
        for index in range(info.num_frames if info else 0):
            regions[index] = find_in_frame(engine, detector, render_frame(ds, index), header).boxes
        masked = mask_pixels(data, regions, mark_clean=True).content
        deidentify_bytes(masked, config)
    return _rate(len(contents), time.perf_counter() - started)


def spark_pipeline(folder: str, count: int, engine_name: str, secret_file: str) -> float:
    from pyspark.sql import functions as F

    from sparkdeid import pipeline
    from sparkdeid.session import local_session

    spark = local_session("local[1]", app_name="pixel-benchmark")
    df = (
        spark.read.format("binaryFile")
        .option("recursiveFileLookup", "true")
        .load(folder)
        .filter(~F.col("path").endswith(".key"))
        .cache()
    )
    df.count()
    model = pipeline.full_pipeline(engine=engine_name, secret_file=secret_file).fit(df)
    model.transform(df).select(schemas.ERROR_COL).collect()  # warm-up: worker + model load
    started = time.perf_counter()
    rows = model.transform(df).select(schemas.DICOM_COL, schemas.ERROR_COL).collect()
    seconds = time.perf_counter() - started
    failed = sum(r[schemas.ERROR_COL] is not None for r in rows)
    if failed:
        print(f"  note: {failed} files failed in the Spark run")
    spark.stop()
    return _rate(count, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=24, help="about this many files")
    parser.add_argument("--engine", default="rapidocr")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        per_patient = 8
        corpus = write_corpus(
            tmp,
            n_patients=max(1, args.files // per_patient),
            seed=11,
            transfer_syntaxes=[ExplicitVRLittleEndian],
            image_size=512,
            burn_in_text=True,
        )
        paths = [str(p) for p in corpus.paths()]
        contents = [Path(p).read_bytes() for p in paths]
        frames = sum(f.n_frames for f in corpus)
        secret = Path(tmp) / "secret.key"
        secret.write_text("benchmark-secret-0123456789")
        config = EngineConfig(strategy_csv=resolve_strategy("tcia").csv_text, secret=b"bench")
        print(f"{len(contents)} files, {frames} frames of 512x512, one core, engine "
              f"{args.engine}")

        ocr_rate = ocr_only(contents, args.engine)
        print(f"  OCR alone (render + OCR)        {ocr_rate:6.2f} files/s")
        full_rate = full_path(contents, args.engine, config)
        print(f"  full path, no Spark             {full_rate:6.2f} files/s"
              f"   ({full_rate / ocr_rate:.2f}x OCR alone)")
        spark_rate = spark_pipeline(tmp, len(paths), args.engine, str(secret))
        print(f"  full Spark pipeline, local[1]   {spark_rate:6.2f} files/s"
              f"   ({spark_rate / ocr_rate:.2f}x OCR alone)")
        target = 2.0
        verdict = "meets" if spark_rate >= target else "misses"
        print(f"target >= {target:.1f} files/s per core: the Spark pipeline {verdict} it")


if __name__ == "__main__":
    main()
