"""The invisible text layer of a cleaned PDF page: kept words over the page image.

Searchable scans are made this way (the "OCR sandwich"): the page shows an
image, and text drawn in render mode 3 (neither filled nor stroked) lies
over it, each word where the image shows it, so viewers can search, select
and copy words they cannot otherwise see as text. The words come from the
cleaner (:mod:`sparkdeid.documents.pdf`), which decides which are safe to
keep; this module only places them.

The text is written through pdfium, which also writes the output page's
image: one text object per word, in the standard Helvetica (not embedded;
pdfium declares it with WinAnsiEncoding and writes each string in hex, so
parentheses and backslashes need no escaping). A word is stretched along
its reading direction to the width of its box, and sized so Helvetica's
ascent-to-descent spans the box's height, the way pdfium measures
characters on extraction. Characters WinAnsi cannot encode would come out
as other characters, so a word holding one (after compatibility
normalisation, which turns ligatures back into letters) is left out.
"""

from __future__ import annotations

import ctypes
import unicodedata
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from sparkdeid.boxes import Box

FONT_NAME = "Helvetica"

# Reading direction in PDF space (y up) for each clockwise quarter turn on the
# image (y down): the baseline's unit vector, the glyphs' "up" vector, and
# which corner of the box the word starts at (as (use x1?, use y1?)).
_DIRECTIONS = {
    0: ((1.0, 0.0), (0.0, 1.0), (False, False)),
    1: ((0.0, -1.0), (1.0, 0.0), (False, True)),
    2: ((-1.0, 0.0), (0.0, -1.0), (True, True)),
    3: ((0.0, 1.0), (-1.0, 0.0), (True, False)),
}


@dataclass(frozen=True)
class SearchableWord:
    """A word to put in the text layer.

    Attributes
    ----------
    text
        The word as it reads.
    box
        Where the page image shows it, in image pixels (y down).
    turn
        Its reading direction on the image, in clockwise quarter turns from
        left-to-right (0-3): a page shown turned by /Rotate has turned text.
    """

    text: str
    box: Box
    turn: int = 0


def winansi_text(text: str) -> str | None:
    """``text`` if every character is a visible WinAnsi character (NFKC tried), else None."""
    for candidate in (text, unicodedata.normalize("NFKC", text)):
        if candidate and all(_is_winansi(c) for c in candidate):
            return candidate
    return None


def _is_winansi(char: str) -> bool:
    # The printable cp1252 characters except the non-breaking and soft hyphen
    # codes, which pdfium's WinAnsi mapping does not round-trip.
    if not char.isprintable() or char.isspace() or char in "\x7f\xa0\xad":
        return False
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


class TextLayerFont:
    """Helvetica loaded into one output document, with its vertical metrics and widths."""

    def __init__(self, pdf: pdfium.PdfDocument) -> None:
        self.pdf = pdf
        self.font = pdfium.PdfFont.load_standard(pdf, FONT_NAME)
        ascent, descent = ctypes.c_float(), ctypes.c_float()
        one = ctypes.c_float(1.0)
        if not (
            pdfium_c.FPDFFont_GetAscent(self.font.raw, one, ctypes.byref(ascent))
            and pdfium_c.FPDFFont_GetDescent(self.font.raw, one, ctypes.byref(descent))
        ):
            raise pdfium.PdfiumError("standard font has no metrics")
        self.ascent, self.descent = float(ascent.value), float(descent.value)
        self._widths: dict[str, float] = {}

    def advance(self, text: str) -> float:
        """Width of ``text`` at size 1, in text-space units (sum of glyph advances)."""
        total = 0.0
        for char in text:
            width = self._widths.get(char)
            if width is None:
                value = ctypes.c_float()
                ok = pdfium_c.FPDFFont_GetGlyphWidth(
                    self.font.raw, ord(char), ctypes.c_float(1.0), ctypes.byref(value)
                )
                width = float(value.value) if ok else 0.0
                self._widths[char] = width
            total += width
        return total


def place_words(
    page: pdfium.PdfPage,
    font: TextLayerFont,
    words: list[SearchableWord] | tuple[SearchableWord, ...],
    image_size: tuple[int, int],
    page_size: tuple[float, float],
) -> int:
    """Add ``words`` to ``page`` as invisible text; the number placed.

    ``image_size`` (pixels, width and height) and ``page_size`` (points) map
    image boxes onto the page the image is stretched over. Call
    ``page.gen_content()`` afterwards.
    """
    image_width, image_height = image_size
    page_width, page_height = page_size
    kx, ky = page_width / image_width, page_height / image_height
    placed = 0
    for word in words:
        text = winansi_text(word.text)
        if text is None or word.turn not in _DIRECTIONS:
            continue
        box = Box(word.box.x0 * kx, page_height - word.box.y1 * ky,
                  word.box.x1 * kx, page_height - word.box.y0 * ky)
        if _place(page, font, text, box, word.turn):
            placed += 1
    return placed


def _place(page: pdfium.PdfPage, font: TextLayerFont, text: str, box: Box, turn: int) -> bool:
    """One invisible text object covering ``box`` (PDF points, y up)."""
    along, up, (at_x1, at_y1) = _DIRECTIONS[turn]
    length, height = (box.width, box.height) if turn in (0, 2) else (box.height, box.width)
    span = font.ascent - font.descent
    advance = font.advance(text)
    if length <= 0 or height <= 0 or span <= 0 or advance <= 0:
        return False
    size = height / span
    stretch = length / (advance * size)
    rise = -font.descent * size  # baseline above the box's bottom edge
    start_x = box.x1 if at_x1 else box.x0
    start_y = box.y1 if at_y1 else box.y0
    obj = pdfium_c.FPDFPageObj_CreateTextObj(font.pdf, font.font.raw, ctypes.c_float(size))
    if not obj:
        return False
    encoded = ctypes.create_string_buffer((text + "\0").encode("utf-16-le"))
    matrix = pdfium.PdfMatrix(
        along[0] * stretch, along[1] * stretch, up[0], up[1],
        start_x + up[0] * rise, start_y + up[1] * rise,
    )
    if not (
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(encoded, pdfium_c.FPDF_WIDESTRING))
        and pdfium_c.FPDFTextObj_SetTextRenderMode(obj, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
        and pdfium_c.FPDFPageObj_SetMatrix(obj, matrix)
        and pdfium_c.FPDFPage_InsertObject(page, obj)
    ):
        pdfium_c.FPDFPageObj_Destroy(obj)  # not on the page: still ours to free
        return False
    return True
