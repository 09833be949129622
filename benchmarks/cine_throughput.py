"""Multi-frame throughput: a 200-frame 640x480 cine with a static text banner, one core.

Prints frames/s for
  1. OCR every frame: render, OCR, PHI detection and regions on each frame
     (timed on the first ``--sample`` frames: it is the slow baseline);
  2. frame reuse, no Spark: what DicomToImage (frameReuse='changed'),
     TextDetector, NerDeid, PositionFinder and DicomDrawRegions do to the
     file, chained in-process, including masking and re-encoding;
  3. the same pipeline on Spark ``local[1]`` (one core), steady state;
and the ratio of each to OCR-every-frame, plus how much of the planted PHI
ink the reuse path masked on every frame (it must not fall). Usage::

    python benchmarks/cine_throughput.py [--frames 200] [--sample 20] [--no-spark]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

import numpy as np  # noqa: E402
from pydicom import dcmread  # noqa: E402

from sparkdeid import schemas  # noqa: E402
from sparkdeid.boxes import Box  # noqa: E402
from sparkdeid.dicom.codec import read_dataset  # noqa: E402
from sparkdeid.dicom.frames import pixel_info, render_frame  # noqa: E402
from sparkdeid.dicom.pixel_writer import mask_pixels  # noqa: E402
from sparkdeid.ner.detect import DetectorConfig, PhiDetector  # noqa: E402
from sparkdeid.ner.finder import find_in_frame  # noqa: E402
from sparkdeid.ner.header import header_terms_of  # noqa: E402
from sparkdeid.ocr.frame_reuse import planned_frames  # noqa: E402
from sparkdeid.ocr.registry import get_engine  # noqa: E402
from tests.cine_factory import Cine, build_cine  # noqa: E402


def every_frame(data: bytes, sample: int) -> float:
    """frames/s reading each of the first ``sample`` frames whole."""
    engine, detector = get_engine("rapidocr"), PhiDetector(DetectorConfig())
    ds = read_dataset(data)
    header = header_terms_of(ds)
    started = time.perf_counter()
    for index in range(sample):
        find_in_frame(engine, detector, render_frame(ds, index), header)
    return sample / (time.perf_counter() - started)


def with_reuse(data: bytes, frames: int) -> tuple[float, bytes, int]:
    """frames/s of the frame-reuse path over the whole file, its output and frames read."""
    engine, detector = get_engine("rapidocr"), PhiDetector(DetectorConfig())
    started = time.perf_counter()
    ds = read_dataset(data)
    header = header_terms_of(ds)
    own: dict[int, list[Box]] = {}
    reuse: dict[int, tuple[int, ...]] = {}
    reads = 0
    for plan, rendered in planned_frames(ds, pixel_info(ds), 0, "changed"):
        reuse[plan.index] = plan.reuse
        if plan.read:
            reads += 1
            own[plan.index] = find_in_frame(engine, detector, rendered, header,
                                            areas=plan.areas).boxes
    regions = {
        index: [*own.get(index, []), *(b for k in earlier for b in own.get(k, []))]
        for index, earlier in reuse.items()
    }
    output = mask_pixels(data, regions, mark_clean=True).content
    return frames / (time.perf_counter() - started), output, reads


def spark_rates(path: Path, frames: int, secret_file: str) -> tuple[float, float]:
    """frames/s on local[1] reading the file's bytes (binaryFile) and reading it by path."""
    from sparkdeid import pipeline
    from sparkdeid.session import local_session

    spark = local_session("local[1]", app_name="cine-benchmark")
    rates = []
    for by_path in (False, True):
        if by_path:  # what the batch job does: executors read the file themselves
            df = spark.createDataFrame([(str(path),)], f"{schemas.PATH_COL} string")
            model = pipeline.full_pipeline(input_col=schemas.PATH_COL,
                                           secret_file=secret_file).fit(df)
        else:
            df = spark.read.format("binaryFile").load(str(path)).cache()
            df.count()
            model = pipeline.full_pipeline(secret_file=secret_file).fit(df)
        model.transform(df).select(schemas.ERROR_COL).collect()  # warm-up: worker + models
        started = time.perf_counter()
        rows = model.transform(df).select(schemas.ERROR_COL).collect()
        seconds = time.perf_counter() - started
        if rows[0][schemas.ERROR_COL] is not None:
            print("  note: the Spark run failed the file")
        rates.append(frames / seconds)
    spark.stop()
    return rates[0], rates[1]


def phi_ink_masked(cine: Cine, output: bytes) -> float:
    """Smallest share, over PHI texts and the frames showing them, of ink masked."""
    before = dcmread(cine.path).pixel_array
    after = read_dataset(output).pixel_array
    worst = 1.0
    for text in cine.phi:
        x0, y0, x1, y1 = text.box
        for f in range(text.frames[0], text.frames[1] + 1):
            ink = before[f, y0:y1, x0:x1] >= 128
            if ink.any():
                worst = min(worst, float((after[f, y0:y1, x0:x1][ink] <= 16).mean()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--sample", type=int, default=20,
                        help="frames timed for the OCR-every-frame baseline")
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cine = build_cine(Path(tmp) / "cine.dcm", frames=args.frames)
        data = cine.path.read_bytes()
        secret = Path(tmp) / "secret.key"
        secret.write_text("benchmark-secret-0123456789")
        print(f"{args.frames}-frame {cine.columns}x{cine.rows} cine, static banner, "
              f"{len(data) / 1e6:.0f} MB, one core (one ONNX thread)")
        base = every_frame(data, min(args.sample, args.frames))
        print(f"  OCR every frame                  {base:7.2f} frames/s   1.00x")
        reuse, output, reads = with_reuse(data, args.frames)
        print(f"  frame reuse, no Spark            {reuse:7.2f} frames/s "
              f"{reuse / base:6.2f}x   ({reads} of {args.frames} frames read, "
              f"PHI ink masked on every frame >= {phi_ink_masked(cine, output):.1%})")
        if not args.no_spark:
            content, by_path = spark_rates(cine.path, args.frames, str(secret))
            print(f"  frame reuse, Spark local[1]      {content:7.2f} frames/s "
                  f"{content / base:6.2f}x   (binaryFile bytes; steady state)")
            print(f"  frame reuse, Spark local[1]      {by_path:7.2f} frames/s "
                  f"{by_path / base:6.2f}x   (read by path, as the batch job; steady state)")
        print(f"  target >= 20 frames/s per core without Spark: "
              f"{'met' if reuse >= 20 else 'NOT met'}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
