"""Reading a frame twice: as rendered, and its brightest ink alone (ocr/frame_ocr.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sparkdeid.boxes import Box
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.ocr.base import OcrLine, OcrWord
from sparkdeid.ocr.frame_ocr import (
    INK_MAX_SHARE,
    bright_ink,
    fit_to_bright_ink,
    merge_readings,
    read_frame,
)
from sparkdeid.ocr.registry import get_engine
from tests.ocr_images import load_font, plant, similarity


def _line(text: str, box: Box, confidence: float = 0.9) -> OcrLine:
    return OcrLine((OcrWord(text, box, confidence),), confidence)


def test_bright_ink_isolates_the_brightest_level_only_when_it_is_a_small_part() -> None:
    frame = np.full((64, 64), 90, np.uint8)
    frame[10:14, 10:30] = 250
    frame[20:24, 10:30] = 247  # within the tolerance of the brightest level
    ink = bright_ink(frame)
    assert ink is not None and ink.dtype == np.uint8
    assert set(np.unique(ink)) == {0, 255}
    assert ink[10:14, 10:30].all() and ink[20:24, 10:30].all() and not ink[30:, :].any()
    assert bright_ink(np.full((64, 64), 120, np.uint8)) is None  # too dark to be burned-in text
    saturated = np.full((64, 64), 255, np.uint8)
    saturated[: int(64 * (1 - 2 * INK_MAX_SHARE))] = 30
    assert bright_ink(saturated) is None  # saturated anatomy: nothing to isolate


def test_coloured_pixels_are_not_ink_but_white_ones_are() -> None:
    frame = np.zeros((32, 32, 3), np.uint8)
    frame[4:8, 4:20] = (255, 255, 0)  # a yellow annotation
    frame[12:16, 4:20] = 255
    ink = bright_ink(frame)
    assert ink is not None and ink[12:16, 4:20].all() and not ink[4:8].any()


def test_a_box_holding_several_ink_lines_is_replaced_by_them() -> None:
    merged = _line("06/16/1976", Box(0, 20, 200, 70), 0.88)
    kept = _line("Study Date: 2013", Box(0, 0, 200, 15), 0.8)
    ink = [_line("Age:37", Box(5, 22, 90, 40), 0.99), _line("DOB:06/16/1976", Box(5, 45, 160, 66)),
           _line("Study Date: 2013", Box(1, 1, 199, 14), 0.95), _line("R", Box(300, 300, 310, 312)),
           _line("ii", Box(200, 200, 210, 212), 0.3)]  # a bright speck read as junk
    lines = merge_readings([kept, merged], ink)
    assert [line.text for line in lines] == ["Study Date: 2013", "Age:37", "DOB:06/16/1976", "R"]
    assert lines[0].confidence == 0.95  # the more confident reading of the same text
    # a surer ink reading that lost a dimmer glyph does not replace the plain one
    plain_date = _line("2021 Apr 15", Box(0, 100, 80, 112), 0.9)
    (kept_date,) = merge_readings([plain_date], [_line("2021 pr 15", Box(0, 100, 80, 112), 0.99)])
    assert kept_date is plain_date
    lone = _line("AXIAL", Box(400, 0, 440, 12))
    assert merge_readings([lone], []) == [lone] and merge_readings([], [lone]) == [lone]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_close_white_lines_over_bright_busy_anatomy_are_all_read() -> None:
    """12 px lines 7 px apart on bright noise, as on a real portable chest radiograph."""
    rng = np.random.default_rng(11)
    image = np.clip(rng.normal(185, 30, (420, 560)), 0, 235).astype(np.uint8)
    font = load_font("pillow", 14)
    texts = ["Name: QUAXLEY ZORBINA", "Age: 37", "DOB: 06/16/1976"]
    for row, text in enumerate(texts):
        plant(image, text, (300, 150 + 19 * row), font, 255)
    rendered = RenderedFrame(image=image, scale=1.0, original_height=420, original_width=560)
    read = read_frame(get_engine("rapidocr"), rendered)
    words = [w.text for w in read.words]
    for expected in ("QUAXLEY", "ZORBINA", "37", "1976"):
        assert any(similarity(expected, word.split(":")[-1]) >= 0.8 for word in words), words


def test_a_word_on_busy_anatomy_is_fitted_to_its_bright_ink_and_clipped_ends_followed() -> None:
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(170, 35, (80, 240)), 0, 230).astype(np.uint8)
    planted = plant(image, "ZORBINA F", (40, 30), load_font("pillow", 14), 255)
    ink = bright_ink(image)
    assert ink is not None
    detector_box = Box(36, 22, 100, 50)  # taller than the text, and clipped before "A F"
    reach = Box(20, 22, 130, 50)
    fitted = fit_to_bright_ink(ink, detector_box, reach)
    assert fitted is not None
    text = planted.box
    assert fitted.x0 <= text.x0 and fitted.x1 >= text.x1  # the clipped "A F" is followed
    assert fitted.y0 <= text.y0 and fitted.y1 >= text.y1
    assert fitted.height <= text.height + 3 < detector_box.height


def test_bright_anatomy_or_a_speck_is_not_taken_for_a_word() -> None:
    ink = np.zeros((60, 200), np.uint8)
    ink[:, 50:120] = 255  # a bright band running through the box's top and bottom
    assert fit_to_bright_ink(ink, Box(40, 10, 130, 40), Box(30, 10, 140, 40)) is None
    speck = np.zeros((60, 200), np.uint8)
    speck[20:24, 60:64] = 255
    assert fit_to_bright_ink(speck, Box(40, 10, 130, 40), Box(30, 10, 140, 40)) is None
