"""Read one rendered frame: OCR words with boxes in the frame's original pixels.

Every route reads frames through :func:`read_frame` -- the TextDetector
stage, the streamed large-file route, verify, the residual gate's pixel mode
and document pages -- so a change to how text is read lands everywhere.

Burned-in annotations are drawn at the brightest level of the display, and
on real images they often lie over bright, busy anatomy, where the detector
loses their edges or runs close lines into one box (a radiograph's
``Name:`` / ``Age:`` / ``DOB:`` lines, 12 px high and 7 px apart, came back
as one box read as the date alone). So each frame is also read on its
*bright-ink* copy: the pixels at the frame's brightest level, white on black
(:func:`bright_ink`), where such text stands alone. The two readings are
merged (:func:`merge_readings`), and a word on a busy background is fitted
to its bright ink (:func:`fit_to_bright_ink`) so its mask stays near the text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from sparkdeid.boxes import Box
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.ocr.base import FrameText, OcrEngine, OcrLine, PlacedWord, layout_text, read_area
from sparkdeid.ocr.ink import tighten_to_ink


def _line_end_indices(words: Sequence[PlacedWord]) -> dict[int, str]:
    """Which words open or close their line: index -> first / last / only."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for index, word in enumerate(words):
        first.setdefault(word.line, index)
        last[word.line] = index
    ends = {index: "first" for index in first.values()}
    for index in last.values():
        ends[index] = "only" if index in ends else "last"
    return ends


# Pixels within this many grey levels of the frame's brightest count as its ink.
INK_TOLERANCE = 6
# An ink copy is read only when the brightest level is this bright and covers at most
# this share of the frame (a frame mostly at its brightest, saturated anatomy, has no
# text-like ink to isolate).
INK_MIN_LEVEL = 160
INK_MAX_SHARE = 0.2
# A line only the ink copy shows is kept when read at least this confidently: text alone
# on black reads cleanly (0.9 and more on real files), bright specks of anatomy do not.
INK_ONLY_CONFIDENCE = 0.6
# A word is fitted to its bright ink only when the ink fills this share of its box, spans
# this share of its width, and covers at most this share of its top and bottom rows; the
# fit follows glyphs outwards across gaps up to this share of the box height (a word
# space: a detector that clipped the line may have left out a whole short word).
_MIN_INK_SHARE = 0.05
_MIN_INK_SPAN = 0.6
_MAX_EDGE_INK = 0.2
_WORD_SPACE = 0.35
# Two lines are one reading of the same text when their boxes share this much of the smaller.
_SAME_LINE = 0.5


def bright_ink(pixels: np.ndarray) -> np.ndarray | None:
    """The frame's brightest pixels white on black, or None when that isolates nothing.

    Colour frames count a pixel as ink only when all its channels are bright
    (white text); coloured annotations are left to the plain reading.
    """
    grey = pixels if pixels.ndim == 2 else pixels.min(axis=2)
    level = int(grey.max()) if grey.size else 0
    if level < INK_MIN_LEVEL:
        return None
    mask = grey >= level - INK_TOLERANCE
    share = float(mask.mean())
    if share == 0.0 or share > INK_MAX_SHARE:
        return None
    return np.where(mask, np.uint8(255), np.uint8(0))


def merge_readings(plain: Sequence[OcrLine], ink: Sequence[OcrLine]) -> list[OcrLine]:
    """The lines of two readings of one frame, each text once, top to bottom.

    A plain line over two or more ink lines was several lines run together:
    the ink lines replace it. A plain line over one ink line is the same text
    read twice: the plain reading is kept unless the ink one is surer and no
    shorter. Plain lines over nothing of the ink reading are kept as they
    are; ink lines over nothing of the plain reading only when read
    confidently (:data:`INK_ONLY_CONFIDENCE`).
    """
    taken: set[int] = set()
    merged: list[OcrLine] = []
    for line in plain:
        under = [i for i, other in enumerate(ink) if _same_text_place(line.box, other.box)]
        if len(under) >= 2:
            merged += [ink[i] for i in under if i not in taken]
        elif under and _better(ink[under[0]], line):
            if under[0] not in taken:
                merged.append(ink[under[0]])
        else:
            merged.append(line)
        taken.update(under)
    merged += [other for i, other in enumerate(ink)
               if i not in taken and other.confidence >= INK_ONLY_CONFIDENCE]
    merged.sort(key=lambda line: (line.box.y0, line.box.x0))
    return merged


def _better(ink: OcrLine, plain: OcrLine) -> bool:
    """The ink reading of a line wins only when surer and no shorter: thresholding at the
    brightest level can drop a dimmer glyph (``2021 Apr 15`` read ``2021 pr 15``)."""
    return ink.confidence > plain.confidence and _letters(ink.text) >= _letters(plain.text)


def _letters(text: str) -> int:
    return sum(ch.isalnum() for ch in text)


def _same_text_place(a: Box, b: Box) -> bool:
    x0, y0 = max(a.x0, b.x0), max(a.y0, b.y0)
    x1, y1 = min(a.x1, b.x1), min(a.y1, b.y1)
    if x1 <= x0 or y1 <= y0:
        return False
    smaller = min(a.width * a.height, b.width * b.height)
    return smaller > 0 and (x1 - x0) * (y1 - y0) >= _SAME_LINE * smaller


def fit_to_bright_ink(ink: np.ndarray, box: Box, reach: Box) -> Box | None:
    """The ink-copy glyphs of a word boxed on a busy background, or None when not sure.

    ``box`` is the word's detector box, ``reach`` the same box widened to where
    clipped glyph ends may lie. The word is taken to be white text only when
    its ink fills at least a twentieth of the box, spans most of its width,
    and does not run through the box's top and bottom edges (bright anatomy
    would); the result is the ink's extent within ``reach``, plus a pixel.
    """
    height, width = ink.shape[:2]
    x0, y0, x1, y1 = box.clipped(width, height).pixel_bounds()
    rx0, _, rx1, _ = reach.clipped(width, height).pixel_bounds()
    if x1 - x0 < 3 or y1 - y0 < 3:
        return None
    inside = ink[y0:y1, x0:x1] > 0
    if inside.mean() < _MIN_INK_SHARE:
        return None
    columns = np.flatnonzero(inside.any(axis=0))
    if columns[-1] - columns[0] + 1 < _MIN_INK_SPAN * (x1 - x0):
        return None
    if inside[0].mean() > _MAX_EDGE_INK or inside[-1].mean() > _MAX_EDGE_INK:
        return None
    around: np.ndarray = np.asarray((ink[y0:y1, rx0:rx1] > 0).any(axis=0))
    # clipped ends: follow ink outwards across gaps up to a word space, within ``reach``
    gap = max(2, round(_WORD_SPACE * (y1 - y0)))
    left, right = x0 - rx0 + int(columns[0]), x0 - rx0 + int(columns[-1])
    while left > 0 and around[max(0, left - gap) : left].any():
        left -= 1
    while right < len(around) - 1 and around[right + 1 : right + 1 + gap].any():
        right += 1
    rows = np.flatnonzero((ink[y0:y1, rx0 + left : rx0 + right + 1] > 0).any(axis=1))
    return Box(float(max(0, rx0 + left - 1)), float(max(0, y0 + int(rows[0]) - 1)),
               float(min(width, rx0 + right + 2)), float(min(height, y0 + int(rows[-1]) + 2)))


def _read(engine: OcrEngine, pixels: np.ndarray, areas: Sequence[Box] | None) -> list[OcrLine]:
    if areas is None:
        return list(engine.read(pixels))
    lines = [line for area in areas for line in read_area(engine, pixels, area)]
    lines.sort(key=lambda line: (line.box.y0, line.box.x0))
    return lines


def read_frame(
    engine: OcrEngine, rendered: RenderedFrame, areas: Sequence[Box] | None = None
) -> FrameText:
    """OCR one rendered frame; word boxes are divided by the render scale.

    ``areas`` (rendered-image pixels) restricts reading to those parts of the
    image, for frames whose other parts were read on an earlier frame.
    """
    scale = float(rendered.scale) or 1.0
    pixels = rendered.image
    lines = _read(engine, pixels, areas)
    ink = bright_ink(pixels)
    if ink is not None:
        lines = merge_readings(lines, _read(engine, ink, areas))
    frame = layout_text(lines)
    line_ends = _line_end_indices(frame.words)
    words = []
    for index, word in enumerate(frame.words):
        box = tighten_to_ink(pixels, word.box)
        if box == word.box:  # busy background: the box could not be tightened
            if index in line_ends and len(word.text) >= 3:
                # detectors clip the ends of such lines: the outer words reach two
                # characters further
                reach = 2.0 * box.width / max(1, len(word.text))
                left = reach if line_ends[index] in ("first", "only") else 0.0
                right = reach if line_ends[index] in ("last", "only") else 0.0
                box = Box(box.x0 - left, box.y0, box.x1 + right, box.y1).clipped(
                    pixels.shape[1], pixels.shape[0]
                )
            if ink is not None:  # white text there: its bright ink says where it is
                box = fit_to_bright_ink(ink, word.box, box) or box
        words.append(dataclasses.replace(word, box=box.scaled(scale)))
    return FrameText(
        frame.text,
        tuple(words),
        width=int(rendered.original_width),
        height=int(rendered.original_height),
        engine=engine.name,
    )
