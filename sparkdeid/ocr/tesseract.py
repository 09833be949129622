"""Tesseract through pytesseract: an alternative engine for machines with tesseract-ocr.

Tesseract reads dark text on a light page, and its LSTM models work best at
a cap height of 20-30 px; burned-in text is the opposite (light on dark,
8-14 px). So each frame is turned grey, inverted when its background is
dark, and enlarged (``scale``) before Tesseract sees it; boxes are mapped
back to the frame's pixels. Page segmentation mode 11 ("sparse text")
looks for text everywhere instead of a page layout, which is what
annotation overlays look like.

Tesseract has no learned text detector: it binarises the whole page, so on
noisy or textured frames it reads the background as dozens of garbage
words and misses the overlay. On the synthetic grid the rapidocr engine is
tuned on it boxed 39 % of the planted texts (75-83 % on clean black, 12-33 %
on noise, texture or gradients) at ~1.7 s a frame; prefer rapidocr, and use
this engine for clean, high-contrast screens or as a second opinion.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from sparkdeid.boxes import Box
from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ocr.base import OcrLine, OcrWord

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "the tesseract engine needs the Python package pytesseract (pip install pytesseract) "
    "and the tesseract program (Debian/Ubuntu: apt-get install tesseract-ocr)"
)


@dataclass(frozen=True)
class TesseractOptions:
    """Engine options.

    Parameters
    ----------
    lang
        Tesseract language(s), e.g. ``"eng"`` or ``"eng+deu"`` (each needs its
        ``tesseract-ocr-<lang>`` package).
    psm
        Page segmentation mode; 11 (sparse text) suits scattered overlays,
        6 (one block) suits a single text panel.
    oem
        OCR engine mode (1 = LSTM only; 3 = Tesseract's default choice).
    scale
        Enlarge frames this much before OCR (small text needs it).
    min_confidence
        Drop words Tesseract is less sure of (0..1; 0 keeps every word).
    timeout
        Seconds before a frame's OCR is abandoned with an error (0 = never).
    tesseract_cmd
        Path to the tesseract program when it is not on ``PATH``.
    """

    lang: str = "eng"
    psm: int = 11
    oem: int = 1
    scale: float = 2.0
    min_confidence: float = 0.0
    timeout: float = 0.0
    tesseract_cmd: str | None = None

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> TesseractOptions:
        known = {f.name for f in fields(cls)}
        given = dict(options or {})
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown tesseract options {unknown}; known: {sorted(known)}")
        opts = cls(**given)
        if opts.scale <= 0:
            raise ValueError("scale must be positive")
        return opts


class TesseractEngine:
    """Words from ``pytesseract.image_to_data``, grouped by (block, paragraph, line)."""

    name = "tesseract"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = TesseractOptions.from_mapping(options)
        try:
            import pytesseract
        except ImportError as exc:
            raise BackendUnavailableError(INSTALL_HINT) from exc
        self._tess = pytesseract
        if self.options.tesseract_cmd:
            pytesseract.pytesseract.tesseract_cmd = self.options.tesseract_cmd
        elif shutil.which("tesseract") is None:
            raise BackendUnavailableError(f"tesseract program not found on PATH; {INSTALL_HINT}")
        try:
            self.version = str(pytesseract.get_tesseract_version())
        except pytesseract.TesseractNotFoundError as exc:
            raise BackendUnavailableError(INSTALL_HINT) from exc
        self._config = f"--psm {self.options.psm} --oem {self.options.oem}"

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Lines of text in ``image`` (uint8 grey or RGB), boxes in its pixels."""
        grey = prepare(image, self.options.scale)
        data = self._tess.image_to_data(
            grey,
            lang=self.options.lang,
            config=self._config,
            output_type=self._tess.Output.DICT,
            timeout=self.options.timeout,
        )
        return group_lines(data, self.options.scale, self.options.min_confidence)


def prepare(image: np.ndarray, scale: float) -> np.ndarray:
    """Grey, dark text on a light background, enlarged by ``scale``."""
    import cv2

    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("OCR input must be a uint8 array")
    if image.ndim == 3 and image.shape[2] == 3:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    elif image.ndim == 3 and image.shape[2] == 1:
        grey = image[..., 0]
    elif image.ndim == 2:
        grey = image
    else:
        raise ValueError(f"OCR input must be H x W or H x W x 3, got shape {image.shape}")
    if np.median(grey) < 128:
        grey = 255 - grey
    if scale != 1.0:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(grey)


def group_lines(
    data: Mapping[str, Any], scale: float, min_confidence: float = 0.0
) -> list[OcrLine]:
    """Tesseract's word rows as lines: one per (block, paragraph, line), words left to right.

    Rows that are not words (``conf`` -1: pages, blocks, lines) and blank
    words are skipped; confidences are rescaled from 0..100 to 0..1.
    Tesseract's word boxes are tight and sometimes clip a word's last
    letter, so words are widened to meet halfway across the gaps between
    them and share the line's height (the gaps are blank; a clipped letter
    would stay unmasked).
    """
    groups: dict[tuple[int, int, int, int], list[OcrWord]] = {}
    for i, text in enumerate(data.get("text", [])):
        text = str(text).strip()
        conf = float(data["conf"][i])
        if not text or conf < 0:
            continue
        conf = min(max(conf / 100.0, 0.0), 1.0)
        if conf < min_confidence:
            continue
        left, top = float(data["left"][i]) / scale, float(data["top"][i]) / scale
        width, height = float(data["width"][i]) / scale, float(data["height"][i]) / scale
        key = (
            int(data["page_num"][i]) if "page_num" in data else 1,
            int(data["block_num"][i]),
            int(data["par_num"][i]),
            int(data["line_num"][i]),
        )
        groups.setdefault(key, []).append(
            OcrWord(text, Box(left, top, left + width, top + height), conf)
        )
    lines = []
    for words in groups.values():
        words.sort(key=lambda w: w.box.x0)
        tiled = _tile(words)
        lines.append(OcrLine(tiled, float(np.mean([w.confidence for w in tiled]))))
    lines.sort(key=lambda line: (line.box.y0, line.box.x0))
    return lines


def _tile(words: list[OcrWord]) -> tuple[OcrWord, ...]:
    top = min(w.box.y0 for w in words)
    bottom = max(w.box.y1 for w in words)
    edges = [w.box.x0 for w in words[:1]]
    for left, right in zip(words, words[1:], strict=False):
        edges.append(max(left.box.x1, (left.box.x1 + right.box.x0) / 2))
    edges.append(words[-1].box.x1)
    return tuple(
        OcrWord(w.text, Box(min(w.box.x0, edges[i]), top, max(w.box.x1, edges[i + 1]), bottom),
                w.confidence)
        for i, w in enumerate(words)
    )
