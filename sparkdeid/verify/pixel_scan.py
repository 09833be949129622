"""Pixels of a de-identified output: PHI read by OCR, and what masking changed.

:func:`ocr_findings` reads one rendered output frame and runs the PHI
detector with the original's header terms, so a name from the header still
burned into the output is found; :func:`scan_pixels` does that for the
sampled frames and boxes the regions where output pixels differ from the
original's (:func:`changed_boxes`), with PNG crops (:func:`crop_png`) for the
report. Crops of original pixels are made only when asked for.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pydicom.uid import JPEGLossless as JPEGLosslessP14

from sparkdeid.dicom.frames import (
    PixelInfo,
    RenderedFrame,
    decode_frame,
    frame_indices,
    pixel_info,
    render_decoded,
)
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.verify.phi_values import mask_value

MAX_REGIONS = 30
_LOSSLESS = frozenset(
    {
        ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian, RLELossless, JPEGLosslessP14, JPEGLosslessSV1,
        JPEGLSLossless, JPEG2000Lossless, HTJ2KLossless, HTJ2KLosslessRPCL,
    }
)


@dataclass(frozen=True)
class PixelFinding:
    """PHI read by OCR in the output's pixels. ``crop_png`` only when originals are shown."""

    frame: int
    box: tuple[int, int, int, int]
    label: str
    masked: str
    crop_png: bytes | None = None


@dataclass(frozen=True)
class MaskedRegion:
    """Where output pixels differ from the original's: what was removed."""

    frame: int
    box: tuple[int, int, int, int]
    after_png: bytes
    before_png: bytes | None = None



@dataclass
class PixelScan:
    """What :func:`scan_pixels` found in one output; merged into the file's result."""

    pixels: list[PixelFinding] = field(default_factory=list)
    masked: list[MaskedRegion] = field(default_factory=list)
    masked_total: int = 0
    frames_scanned: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PixelOptions:
    engine: str = "rapidocr"
    frames: str = "sample"
    include_originals: bool = False
    padding: float = 2.0


@lru_cache(maxsize=4)
def _scanner(engine: str) -> tuple[Any, Any]:
    from sparkdeid.ner.detect import DetectorConfig
    from sparkdeid.ner.finder import detector_for
    from sparkdeid.ocr.registry import get_engine

    return get_engine(engine), detector_for(DetectorConfig())


def _is_lossless(info: PixelInfo) -> bool:
    return UID(info.transfer_syntax) in _LOSSLESS


def difference_mask(original: np.ndarray, output: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels whose value changed by more than ``tolerance`` (any channel)."""
    diff = np.asarray(np.abs(original.astype(np.int64) - output.astype(np.int64)) > tolerance)
    return np.asarray(diff.any(axis=-1)) if diff.ndim == 3 else diff


def changed_boxes(mask: np.ndarray, min_pixels: int = 4) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(x0, y0, x1, y1)`` (half-open) of the connected changed areas.

    Components are found on a grid of small blocks, so the strokes of one
    masked word come back as one box; largest first.
    """
    height, width = mask.shape
    if not mask.any():
        return []
    block = max(4, math.ceil(max(height, width) / 256))
    rows, cols = math.ceil(height / block), math.ceil(width / block)
    padded = np.zeros((rows * block, cols * block), dtype=bool)
    padded[:height, :width] = mask
    grid = np.asarray(padded.reshape(rows, block, cols, block).any(axis=(1, 3)))
    seen = np.zeros_like(grid)
    boxes = []
    for start in zip(*np.nonzero(grid), strict=True):
        if seen[start]:
            continue
        stack = [start]
        seen[start] = True
        cells = []
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    nr, nc = r + dr, c + dc
                    if 0 <= nr < rows and 0 <= nc < cols and grid[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        r0 = min(r for r, _ in cells) * block
        r1 = (max(r for r, _ in cells) + 1) * block
        c0 = min(c for _, c in cells) * block
        c1 = (max(c for _, c in cells) + 1) * block
        part = mask[r0:r1, c0:c1]
        ys, xs = np.nonzero(part)
        if len(ys) < min_pixels:
            continue
        boxes.append((c0 + int(xs.min()), r0 + int(ys.min()),
                      c0 + int(xs.max()) + 1, r0 + int(ys.max()) + 1))
    boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return boxes


def crop_png(image: np.ndarray, box: tuple[int, int, int, int], margin: int = 4,
             max_size: int = 240) -> bytes:
    """A PNG of ``box`` (plus ``margin``) from a rendered frame, at most ``max_size`` wide."""
    from PIL import Image

    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    if max(crop.size) > max_size:
        crop.thumbnail((max_size, max_size))
    elif max(crop.size) < 48:
        factor = max(1, 48 // max(crop.size))
        crop = crop.resize((crop.size[0] * factor, crop.size[1] * factor),
                           Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    crop.save(buffer, format="PNG")
    return buffer.getvalue()


def ocr_findings(
    rendered: RenderedFrame, frame: int, header: tuple[HeaderTerm, ...], options: PixelOptions
) -> list[PixelFinding]:
    """PHI the detector finds in one rendered output frame, as the pipeline finds it."""
    from sparkdeid.ner.finder import find_in_frame

    engine, detector = _scanner(options.engine)
    found = find_in_frame(engine, detector, rendered, header,
                          padding=options.padding, merge_gap=options.padding)
    text = found.text.text
    findings = []
    for region in found.regions:
        r = region.box
        box = (int(r.x0), int(r.y0), int(math.ceil(r.x1)), int(math.ceil(r.y1)))
        words = [text[w.begin:w.end] for w in found.text.words if w.box.overlaps(r)]
        masked = " ".join(mask_value(w) for w in words if w.strip())
        crop = crop_png(rendered.image, box) if options.include_originals else None
        findings.append(PixelFinding(frame, box, region.label, masked, crop))
    return findings


def scan_pixels(
    original: Dataset, output: Dataset, header: tuple[HeaderTerm, ...], options: PixelOptions,
    result: PixelScan | None = None,
) -> PixelScan:
    """OCR the output's frames for PHI and box what changed against the original.

    Findings accumulate in ``result`` (a new one when None), so a caller
    passing its own keeps what was found before a later frame failed.
    """
    result = PixelScan() if result is None else result
    out_info = pixel_info(output)
    if out_info is None:
        if pixel_info(original) is not None:
            result.notes.append("output has no pixel data; the original has")
        return result
    org_info = pixel_info(original)
    comparable = (
        org_info is not None
        and (org_info.rows, org_info.columns, org_info.num_frames)
        == (out_info.rows, out_info.columns, out_info.num_frames)
    )
    if org_info is not None and not comparable:
        result.notes.append("output frames differ in size or number; no masked regions shown")
    sampling = "all" if options.frames == "all" else "first_middle_last"
    frames = frame_indices(out_info.num_frames, 0, sampling)
    result.frames_scanned = tuple(frames)
    regions: list[tuple[int, tuple[int, int, int, int], RenderedFrame, RenderedFrame | None]] = []
    for index in frames:
        out_arr = decode_frame(output, index, info=out_info)
        rendered = render_decoded(output, out_info, out_arr, index)
        result.pixels.extend(ocr_findings(rendered, index, header, options))
        if not comparable or org_info is None:
            continue
        org_arr = decode_frame(original, index, info=org_info)
        if org_arr.shape != out_arr.shape:
            continue
        low, high = org_info.value_range()
        lossless = _is_lossless(org_info) and _is_lossless(out_info)
        tolerance = 0 if lossless else max(1, int((high - low) * 0.04))
        boxes = changed_boxes(difference_mask(org_arr, out_arr, tolerance))
        if not boxes:
            continue
        before = (render_decoded(original, org_info, org_arr, index)
                  if options.include_originals else None)
        regions.extend((index, box, rendered, before) for box in boxes)
    result.masked_total = len(regions)
    regions.sort(key=lambda r: (r[1][2] - r[1][0]) * (r[1][3] - r[1][1]), reverse=True)
    for index, box, rendered, before in sorted(regions[:MAX_REGIONS], key=lambda r: r[0]):
        result.masked.append(MaskedRegion(
            index, box, crop_png(rendered.image, box),
            crop_png(before.image, box) if before is not None else None,
        ))
    return result
