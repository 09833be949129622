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

from sparkdeid.regions.boxes import Box


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
    text: str
    words: tuple[PlacedWord, ...]


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
