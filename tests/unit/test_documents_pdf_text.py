"""The invisible text layer writer: real pdfium documents, read back with pdfium's text page."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest

from sparkdeid.boxes import Box
from sparkdeid.documents.pdf_text import SearchableWord, TextLayerFont, place_words, winansi_text

PAGE = (612.0, 792.0)
IMAGE = (850, 1100)  # pixels of a letter page at 100 dpi
K = PAGE[0] / IMAGE[0]  # points per pixel


def written(words: list[SearchableWord]) -> tuple[bytes, int]:
    pdf = pdfium.PdfDocument.new()
    font = TextLayerFont(pdf)
    page = pdf.new_page(*PAGE)
    placed = place_words(page, font, words, IMAGE, PAGE)
    page.gen_content()
    page.close()
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue(), placed


def read_back(data: bytes) -> tuple[str, list[tuple[float, float, float, float]]]:
    textpage = pdfium.PdfDocument(data)[0].get_textpage()
    count = textpage.count_chars()
    return textpage.get_text_range(), [textpage.get_charbox(i, loose=True) for i in range(count)]


def page_box(pixels: Box) -> tuple[float, float, float, float]:
    """Pixel box (y down) as the PDF box pdfium reports (left, bottom, right, top)."""
    return (pixels.x0 * K, PAGE[1] - pixels.y1 * K, pixels.x1 * K, PAGE[1] - pixels.y0 * K)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("café", "café"),
        ("£12.50", "£12.50"),
        ("(a\\b)", "(a\\b)"),
        ("\ufb01le", "file"),  # a ligature back to letters
        ("m²", "m²"),
        ("snow\u2603", None),
        ("Ĳssel", "IJssel"),
        ("Łódź", None),
        ("two words", None),
        ("soft\xadhyphen", None),
        ("", None),
    ],
)
def test_winansi_text(text: str, expected: str | None) -> None:
    assert winansi_text(text) == expected


def test_words_read_back_exactly_and_fill_their_boxes() -> None:
    box = Box(100.0, 200.0, 300.0, 222.0)
    data, placed = written([SearchableWord("(Impression)", box)])
    text, boxes = read_back(data)
    assert placed == 1 and text == "(Impression)"
    left, bottom, right, top = page_box(box)
    assert min(b[0] for b in boxes) == pytest.approx(left, abs=0.05)
    assert max(b[2] for b in boxes) == pytest.approx(right, abs=0.05)
    assert min(b[1] for b in boxes) == pytest.approx(bottom, abs=0.05)
    assert max(b[3] for b in boxes) == pytest.approx(top, abs=0.05)
    assert b"(Impression)" not in data  # written in hex: no string to escape


def test_parentheses_and_backslashes_read_back() -> None:
    data, placed = written([SearchableWord("a)(b\\c\\(", Box(10, 10, 200, 30))])
    assert placed == 1 and read_back(data)[0] == "a)(b\\c\\("


def test_words_outside_winansi_are_left_out() -> None:
    words = [
        SearchableWord("Łódź", Box(10, 10, 90, 30)),
        SearchableWord("fine", Box(10, 40, 60, 60)),
    ]
    data, placed = written(words)
    assert placed == 1 and read_back(data)[0] == "fine"


@pytest.mark.parametrize("turn", [0, 1, 2, 3])
def test_turned_words_read_in_their_direction_inside_their_box(turn: int) -> None:
    box = Box(400.0, 300.0, 420.0, 500.0) if turn % 2 else Box(300.0, 400.0, 500.0, 420.0)
    data, placed = written([SearchableWord("lungs", box, turn)])
    text, boxes = read_back(data)
    assert placed == 1 and text == "lungs"
    left, bottom, right, top = page_box(box)
    for b in boxes:
        assert left - 0.05 <= b[0] <= b[2] <= right + 0.05
        assert bottom - 0.05 <= b[1] <= b[3] <= top + 0.05
    centres = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in boxes]
    # pdf space is y up: turn 1 reads downwards on the image, so y falls
    step = {0: (1, 0), 1: (0, -1), 2: (-1, 0), 3: (0, 1)}[turn]
    dx, dy = centres[-1][0] - centres[0][0], centres[-1][1] - centres[0][1]
    assert dx * step[0] + dy * step[1] > 0.5 * ((box.width + box.height) * K - 20 * K)


def test_empty_boxes_and_unknown_turns_are_skipped() -> None:
    data, placed = written([
        SearchableWord("flat", Box(10, 10, 10, 30)),
        SearchableWord("odd", Box(10, 10, 50, 30), turn=5),
    ])
    assert placed == 0 and read_back(data)[0] == ""
