"""What every OCR engine returns, and how a frame's words become one text for NER.

Engines differ in how they group text (PP-OCR returns lines with word boxes,
Tesseract words with line numbers); they all return :class:`OcrLine` objects
with :class:`OcrWord` children so the rest of the pipeline sees one shape.
:func:`layout_text` joins them into the frame text NER reads, remembering the
character span of every word so an entity span maps back to word boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from sparkdeid.boxes import Box


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: Box
    confidence: float


@dataclass(frozen=True)
class OcrLine:
    """One line of text; ``words`` are in reading order and never empty."""

    words: tuple[OcrWord, ...]
    confidence: float

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def box(self) -> Box:
        box = self.words[0].box
        for word in self.words[1:]:
            box = box.union(word.box)
        return box


@runtime_checkable
class OcrEngine(Protocol):
    """An OCR back-end, loaded once per executor process by the registry."""

    name: str

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Text in ``image`` (uint8, H x W grey or H x W x 3 RGB), boxes in its pixels."""
        ...


def shifted(lines: Sequence[OcrLine], dx: float, dy: float) -> list[OcrLine]:
    """``lines`` read on a crop, moved into the coordinates of the image it was cut from."""
    return [
        OcrLine(
            tuple(
                OcrWord(w.text, Box(w.box.x0 + dx, w.box.y0 + dy, w.box.x1 + dx, w.box.y1 + dy),
                        w.confidence)
                for w in line.words
            ),
            line.confidence,
        )
        for line in lines
    ]


def read_area(engine: OcrEngine, image: np.ndarray, area: Box, margin: int = 8) -> list[OcrLine]:
    """Text inside ``area`` of ``image`` (boxes in ``image`` pixels).

    Engines that can read a crop at the scale of the whole image (so small
    text is not blown up to the detector's minimum size) do so through their
    own ``read_area``; the others read the crop as an image of its own.
    """
    own = getattr(engine, "read_area", None)
    if own is not None:
        return list(own(image, area, margin))
    height, width = image.shape[:2]
    x0, y0, x1, y1 = area.padded(margin).clipped(width, height).pixel_bounds()
    if x1 <= x0 or y1 <= y0:
        return []
    return shifted(engine.read(np.ascontiguousarray(image[y0:y1, x0:x1])), x0, y0)


@dataclass(frozen=True)
class PlacedWord:
    """A word with its character span in the frame text (``text[begin:end]``)."""

    text: str
    begin: int
    end: int
    confidence: float
    box: Box
    line: int


@dataclass(frozen=True)
class FrameText:
    """What OCR read on one frame: text, its words with spans and boxes, the frame size.

    Word boxes are in the frame's original pixels, ``width`` x ``height``
    (0 when the text did not come from a frame, such as a PDF text layer).
    """

    text: str
    words: tuple[PlacedWord, ...]
    width: int = 0
    height: int = 0
    engine: str = ""


def layout_text(lines: Sequence[OcrLine]) -> FrameText:
    """Lines joined by newlines, words by single spaces, with each word's span."""
    parts: list[str] = []
    words: list[PlacedWord] = []
    position = 0
    for line_index, line in enumerate(lines):
        if line_index:
            parts.append("\n")
            position += 1
        for word_index, word in enumerate(line.words):
            if word_index:
                parts.append(" ")
                position += 1
            begin = position
            parts.append(word.text)
            position += len(word.text)
            words.append(
                PlacedWord(word.text, begin, position, word.confidence, word.box, line_index)
            )
    return FrameText("".join(parts), tuple(words))
