"""Peak memory of de-identifying a ~1 GB multi-frame file, streamed versus whole-file.

Generates (frame by frame, so generation itself stays small) a native 16-bit
MONOCHROME2 cine whose every frame carries the same synthetic PHI banner (an
invented name, date and id drawn with Pillow at a known box) over changing
noise and anatomy. Then, each in a fresh child process so its peak RSS is its
own:

1. ``deidentify_large_file`` on the big file with the batch job's finder
   (:class:`~sparkdeid.jobs.large_files.FrameBoxFinder`: frame reuse,
   OCR only where new text appears), the tcia metadata profile as
   ``header_transform``;
2. the whole-file path on a smaller file: read the bytes, the same regions,
   ``mask_pixels`` then ``deidentify_bytes``, write the result.

Prints size, frames, seconds, frames/s, peak RSS and peak RSS / file size
(target < 1.5 for the streamed path). Usage::

    python benchmarks/large_file_memory.py [--frames 2048] [--compare-frames 400]
        [--workdir DIR] [--keep] [--engine rapidocr]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from pydicom import dcmwrite  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import (  # noqa: E402
    ExplicitVRLittleEndian,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    generate_uid,
)

from sparkdeid.boxes import Box  # noqa: E402
from sparkdeid.dicom.frames import RenderedFrame  # noqa: E402
from sparkdeid.jobs.large_files import FrameBoxFinder, LargeFileSettings  # noqa: E402
from sparkdeid.ner.detect import DetectorConfig  # noqa: E402

SIZE = 512
BITS_STORED = 12
# Invented identity: no real person. Drawn on every frame and stored in the header.
NAME, BIRTH_DATE, PATIENT_ID = "QUILLBERT^ZANDOR", "19610314", "48271630"
BANNER_LINES = ("QUILLBERT, ZANDOR", "DOB 03/14/1961  MRN 48271630")
BANNER_PHI = ("QUILLBERT,", "ZANDOR", "03/14/1961", "48271630")  # labels DOB/MRN may stay
BANNER_XY = (16, 12)  # top-left of the first line


# --------------------------------------------------------------------------
# Generating the file


def banner() -> tuple[np.ndarray, np.ndarray]:
    """Ink of the banner lines on a SIZE-wide strip, and the ink of its PHI words only."""
    from PIL import Image, ImageDraw, ImageFont

    strip, phi = Image.new("L", (SIZE, 80), 0), Image.new("L", (SIZE, 80), 0)
    draw, draw_phi = ImageDraw.Draw(strip), ImageDraw.Draw(phi)
    font = ImageFont.load_default(size=22)
    x, y = BANNER_XY
    for line in BANNER_LINES:
        draw.text((x, y), line, fill=255, font=font)
        for word in BANNER_PHI:
            at = line.find(word)
            if at >= 0:
                draw_phi.text((x + font.getlength(line[:at]), y), word, fill=255, font=font)
        y += 30
    return np.asarray(strip) > 0, np.asarray(phi) > 0


def _header(frames: int) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = MultiFrameGrayscaleWordSecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientBirthDate, ds.PatientID = NAME, BIRTH_DATE, PATIENT_ID
    ds.StudyDate, ds.Modality = "20240102", "XA"
    ds.BurnedInAnnotation = "YES"
    ds.NumberOfFrames = frames
    ds.Rows = ds.Columns = SIZE
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, BITS_STORED, BITS_STORED - 1
    ds.PixelRepresentation = 0
    return ds


def generate(path: Path, frames: int, seed: int = 7) -> None:
    """Write the cine frame by frame (one frame in memory at a time)."""
    ink, _ = banner()
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    top = (1 << BITS_STORED) - 1
    frame_bytes = SIZE * SIZE * 2
    with open(path, "wb") as out:
        dcmwrite(out, _header(frames), enforce_file_format=True)
        out.write(struct.pack("<HH", 0x7FE0, 0x0010) + b"OW\0\0")
        out.write(struct.pack("<I", frame_bytes * frames))
        for index in range(frames):
            # A beating "heart": an ellipse whose size and place change every frame.
            phase = 2 * np.pi * index / 24
            cy, cx = SIZE * 0.55 + 20 * np.sin(phase), SIZE * 0.5 + 15 * np.cos(phase)
            ry, rx = 110 + 25 * np.sin(phase), 140 + 20 * np.cos(phase)
            inside = ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1
            frame = rng.integers(200, 900, size=(SIZE, SIZE), dtype=np.uint16)
            frame[inside] += 1800
            strip = frame[: ink.shape[0]]
            strip[:] = 0
            strip[ink] = top
            out.write(frame.tobytes())


# --------------------------------------------------------------------------
# Finding regions: OCR + PHI detection + PositionFinder's word -> box geometry


def ocr_regions(rendered: RenderedFrame, engine: str, header: tuple[Any, ...] = ()) -> list[Box]:
    """PHI regions of one rendered frame, as the pixel pipeline's stages find them."""
    from sparkdeid.ner.detect import DetectorConfig
    from sparkdeid.ner.finder import detector_for, find_in_frame
    from sparkdeid.ocr.registry import get_engine

    return find_in_frame(get_engine(engine), detector_for(DetectorConfig()), rendered,
                         header).boxes


# --------------------------------------------------------------------------
# Measurements, each run in a fresh child process


def _peak_rss() -> int:
    """Peak resident set size of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _warm_up(engine: str) -> None:
    """Load the OCR engine and detector before timing (their memory still counts)."""
    ocr_regions(RenderedFrame(np.zeros((64, 64), np.uint8), 1.0, 64, 64), engine)


def _metadata_config() -> Any:
    from sparkdeid.metadata.engine import EngineConfig
    from sparkdeid.metadata.strategy import resolve_strategy

    return EngineConfig(strategy_csv=resolve_strategy("tcia").csv_text, secret=b"benchmark")


def streamed_child(src: str, dst: str, engine: str) -> dict[str, Any]:
    from sparkdeid.dicom.frame_source import FrameSource
    from sparkdeid.dicom.large_file import deidentify_large_file
    from sparkdeid.metadata.engine import compiled_engine
    from sparkdeid.ner.header import header_terms_of

    _warm_up(engine)
    metadata = compiled_engine(_metadata_config())
    with FrameSource(src) as source:
        header = header_terms_of(source.header)
        frames = source.num_frames
    baseline = _peak_rss()
    settings = LargeFileSettings(engine=engine, engine_options=(), detector=DetectorConfig(),
                                 metadata=_metadata_config())
    finder = FrameBoxFinder(settings, header, frames)  # what the batch job's route uses
    found: list[int] = []
    after_first: list[int] = []

    def counted(frames: Iterator[tuple[int, RenderedFrame]]) -> Iterator[tuple[int, list[Box]]]:
        for index, boxes in finder.frame_boxes(frames):
            if index == 1:  # frame 0 is written: OCR ran, every buffer has been used once
                after_first.append(_peak_rss())
            if index == 0:
                found.append(len(boxes))
            yield index, boxes

    started = time.perf_counter()
    result = deidentify_large_file(
        src, dst, frame_boxes=counted, header_transform=metadata.deidentify
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "frames": result.frames,
        "frames_masked": result.frames_masked,
        "bytes_out": result.bytes_out,
        "regions": found[0],
        "baseline_rss": baseline,
        "after_first_rss": after_first[0] if after_first else _peak_rss(),
        "peak_rss": _peak_rss(),
    }


def whole_file_child(src: str, dst: str, engine: str) -> dict[str, Any]:
    from sparkdeid.dicom.codec import read_dataset
    from sparkdeid.dicom.frames import pixel_info, render_frame
    from sparkdeid.dicom.pixel_writer import mask_pixels
    from sparkdeid.metadata.engine import deidentify_bytes
    from sparkdeid.ner.header import header_terms_of
    from sparkdeid.stages.rows import source_bytes

    _warm_up(engine)
    config = _metadata_config()
    baseline = _peak_rss()
    started = time.perf_counter()
    content = source_bytes(src)
    ds = read_dataset(content)
    info = pixel_info(ds)
    assert info is not None
    boxes = ocr_regions(render_frame(ds, 0, info=info), engine, header_terms_of(ds))
    del ds
    masked = mask_pixels(content, {i: boxes for i in range(info.num_frames)})
    del content
    output, _ = deidentify_bytes(masked.content, config)
    del masked
    Path(dst).write_bytes(output)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "frames": info.num_frames,
        "frames_masked": info.num_frames,
        "bytes_out": len(output),
        "regions": len(boxes),
        "baseline_rss": baseline,
        "peak_rss": _peak_rss(),
    }


def in_child(function: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def phi_ink_left(path: Path, indices: Sequence[int]) -> int:
    """PHI ink pixels still at full brightness on the given frames of an output."""
    from sparkdeid.dicom.frame_source import FrameSource

    _, phi = banner()
    top = (1 << BITS_STORED) - 1
    with FrameSource(path) as source:
        return sum(
            int((source.decoded_frame(i)[: phi.shape[0]][phi] == top).sum()) for i in indices
        )


# --------------------------------------------------------------------------


def _mib(n: float) -> str:
    return f"{n / 2**20:8.1f} MiB"


def _report(label: str, size: int, run: dict[str, Any]) -> float:
    ratio = run["peak_rss"] / size
    print(f"{label}")
    print(f"  file size            {_mib(size)}   frames {run['frames']}"
          f" ({run['frames_masked']} masked, {run['regions']} region(s) each)")
    print(f"  time                 {run['seconds']:8.1f} s      "
          f"{run['frames'] / run['seconds']:7.1f} frames/s")
    print(f"  peak RSS             {_mib(run['peak_rss'])}   "
          f"(before the file: {_mib(run['baseline_rss']).strip()}, OCR model included)")
    if "after_first_rss" in run:
        growth = run["peak_rss"] - run["after_first_rss"]
        print(f"  growth after frame 0 {_mib(growth)}   (frames 1..{run['frames'] - 1})")
    print(f"  peak RSS / file size {ratio:8.2f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=2048, help="frames of the big file")
    parser.add_argument("--compare-frames", type=int, default=400,
                        help="frames of the whole-file comparison (0 skips it)")
    parser.add_argument("--workdir", type=Path, help="where files go (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--engine", default="rapidocr")
    args = parser.parse_args()

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sparkdeid-large-"))
    workdir.mkdir(parents=True, exist_ok=True)
    frame_bytes = SIZE * SIZE * 2
    needed = 2 * frame_bytes * (args.frames + args.compare_frames) + (64 << 20)
    free = shutil.disk_usage(workdir).free
    if free < needed:
        sys.exit(f"not enough disk space in {workdir}: {_mib(free)} free, {_mib(needed)} needed")
    print(f"workdir {workdir}: {_mib(free).strip()} free, {_mib(needed).strip()} needed; "
          f"engine {args.engine}; {os.cpu_count()} CPUs")
    try:
        big, big_out = workdir / "cine_large.dcm", workdir / "cine_large_deid.dcm"
        started = time.perf_counter()
        generate(big, args.frames)
        print(f"generated {big.name}: {_mib(big.stat().st_size).strip()} in "
              f"{time.perf_counter() - started:.1f} s")

        run = in_child(streamed_child, str(big), str(big_out), args.engine)
        ratio = _report("streamed: deidentify_large_file", big.stat().st_size, run)
        last = args.frames - 1
        print(f"  PHI ink pixels left on frames 0, {last // 2}, {last}: "
              f"{phi_ink_left(big_out, [0, last // 2, last])}")
        verdict = "meets" if ratio < 1.5 else "misses"
        print(f"  target peak RSS / file size < 1.5: {verdict} it")
        if not args.keep:
            big.unlink()
            big_out.unlink()

        if args.compare_frames:
            small, small_out = workdir / "cine_small.dcm", workdir / "cine_small_deid.dcm"
            generate(small, args.compare_frames)
            whole = in_child(whole_file_child, str(small), str(small_out), args.engine)
            whole_ratio = _report("whole file: source_bytes + mask_pixels + deidentify_bytes",
                                  small.stat().st_size, whole)
            print(f"  PHI ink pixels left on frames 0, {args.compare_frames - 1}: "
                  f"{phi_ink_left(small_out, [0, args.compare_frames - 1])}")
            small_run = in_child(streamed_child, str(small), str(small_out), args.engine)
            small_ratio = _report("streamed, same smaller file", small.stat().st_size, small_run)
            print(f"whole-file / streamed peak RSS on the smaller file: "
                  f"{whole['peak_rss'] / small_run['peak_rss']:.2f}x "
                  f"(ratios {whole_ratio:.2f} vs {small_ratio:.2f})")
    finally:
        if not args.keep:
            for path in workdir.glob("cine_*.dcm"):
                path.unlink()
            if not args.workdir:
                shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
