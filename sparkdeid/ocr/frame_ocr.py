"""Read one rendered frame: OCR words with boxes in the frame's original pixels.

Every route reads frames through :func:`read_frame` -- the TextDetector
stage, the streamed large-file route, verify, the residual gate's pixel mode
and document pages -- so a change to how text is read lands everywhere.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sparkdeid.boxes import Box
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.ocr.base import FrameText, OcrEngine, PlacedWord, layout_text, read_area
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


def read_frame(
    engine: OcrEngine, rendered: RenderedFrame, areas: Sequence[Box] | None = None
) -> FrameText:
    """OCR one rendered frame; word boxes are divided by the render scale.

    ``areas`` (rendered-image pixels) restricts reading to those parts of the
    image, for frames whose other parts were read on an earlier frame.
    """
    scale = float(rendered.scale) or 1.0
    pixels = rendered.image
    if areas is None:
        lines = engine.read(pixels)
    else:
        lines = [line for area in areas for line in read_area(engine, pixels, area)]
        lines.sort(key=lambda line: (line.box.y0, line.box.x0))
    frame = layout_text(lines)
    line_ends = _line_end_indices(frame.words)
    words = []
    for index, word in enumerate(frame.words):
        box = tighten_to_ink(pixels, word.box)
        if box == word.box and index in line_ends and len(word.text) >= 3:
            # Busy background (the box could not be tightened): detectors clip the
            # ends of such lines, so the outer words reach two characters further.
            reach = 2.0 * box.width / max(1, len(word.text))
            left = reach if line_ends[index] in ("first", "only") else 0.0
            right = reach if line_ends[index] in ("last", "only") else 0.0
            box = Box(box.x0 - left, box.y0, box.x1 + right, box.y1).clipped(
                pixels.shape[1], pixels.shape[0]
            )
        words.append(dataclasses.replace(word, box=box.scaled(scale)))
    return FrameText(
        frame.text,
        tuple(words),
        width=int(rendered.original_width),
        height=int(rendered.original_height),
        engine=engine.name,
    )
