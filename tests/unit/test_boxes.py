"""Box geometry and the mapping of entity spans to pixel regions."""

from __future__ import annotations

import pytest

from sparkdeid.boxes import Box, merge_overlapping
from sparkdeid.ner.base import Entity
from sparkdeid.ner.finder import locate
from sparkdeid.ocr.base import FrameText, OcrLine, OcrWord, layout_text


def test_scaled_padded_clipped_and_pixel_bounds():
    box = Box(10.2, 20.5, 30.1, 40.0)
    assert box.scaled(0.5) == Box(20.4, 41.0, 60.2, 80.0)
    assert box.padded(2) == Box(8.2, 18.5, 32.1, 42.0)
    assert Box(-5, -5, 600, 20).clipped(512, 512) == Box(0, 0, 512, 20)
    assert box.pixel_bounds() == (10, 20, 31, 40)  # never shrinks a mask
    with pytest.raises(ValueError):
        box.scaled(0)


def test_around_a_rotated_quad():
    assert Box.around([(5, 1), (20, 3), (19, 9), (4, 7)]) == Box(4, 1, 20, 9)


def test_words_of_one_line_merge_but_stacked_lines_stay_apart():
    words = [Box(0, 0, 40, 10), Box(42, 0, 90, 10)]
    assert merge_overlapping(words, gap=3) == [Box(0, 0, 90, 10)]
    long_line, short_line = Box(0, 0, 200, 10), Box(150, 11, 200, 21)
    assert merge_overlapping([long_line, short_line], gap=3) == [long_line, short_line]
    assert merge_overlapping([Box(0, 0, 10, 10), Box(5, 5, 8, 8)]) == [Box(0, 0, 10, 10)]
    assert merge_overlapping([Box(3, 3, 3, 9)]) == []  # empty boxes vanish


def _text(*lines: list[tuple[str, Box]], width: int = 512, height: int = 512) -> FrameText:
    frame = layout_text(
        [OcrLine(tuple(OcrWord(t, b, 0.99) for t, b in line), 0.99) for line in lines]
    )
    return FrameText(frame.text, frame.words, width, height)


def test_an_entity_masks_every_word_it_touches_padded_and_clipped():
    frame = _text(
        [("DOE^JOHN", Box(0, 0, 60, 12)), ("MRN", Box(66, 0, 90, 12)),
         ("12345678", Box(94, 0, 150, 12))],
        [("5", Box(400, 500, 408, 511)), ("cm", Box(410, 500, 430, 511))],
    )
    text = frame.text
    entities = [
        Entity(0, 3, "NAME", "rule"),  # part of a word masks the whole word
        Entity(text.index("12345678"), len("DOE^JOHN MRN 12345678"), "ID", "rule"),
    ]
    regions = locate(frame, entities, padding=2, merge_gap=2)
    boxes = [(r.box.x0, r.box.y0, r.box.x1, r.box.y1, r.label) for r in regions]
    # 12 px glyphs: a fifth of their height (2.4 px) is more than the 2 px asked for, but
    # the ID's padding stops half-way to the kept "MRN" (x1 = 90) before it
    assert boxes == [(0.0, 0.0, 62.4, 14.4, "NAME"), (92.0, 0.0, 152.4, 14.4, "ID")]
    assert locate(frame, []) == []


def test_regions_are_clipped_to_the_frame():
    frame = _text([("DOE^JOHN", Box(0, 500, 60, 511))])
    (region,) = locate(frame, [Entity(0, 8, "NAME", "rule")], padding=4)
    assert region.box.y1 == 512 and region.box.x0 == 0
