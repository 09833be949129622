"""PhiDetector: recognizers, fail-closed masking, redact-all, documents, merging."""

from __future__ import annotations

import random

import pytest

from sparkdeid.boxes import Box
from sparkdeid.ner.base import Entity, HeaderTerm
from sparkdeid.ner.detect import DetectorConfig, PhiDetector, merge_entities
from sparkdeid.ocr.base import OcrLine, OcrWord, layout_text
from tests.factories import pseudo_word

RNG = random.Random(77)
FAMILY, GIVEN = pseudo_word(RNG), pseudo_word(RNG)
HEADER = (
    HeaderTerm("person_name", f"{FAMILY}^{GIVEN}"),
    HeaderTerm("id", "PID77123"),
    HeaderTerm("date", "19760616"),
)


def frame(*lines: str | list[tuple[str, float]]):
    """OCR lines; a line is text (every word at confidence 0.99) or (word, confidence) pairs."""
    ocr = []
    for line in lines:
        pairs = [(w, 0.99) for w in line.split()] if isinstance(line, str) else line
        words = tuple(
            OcrWord(w, Box(i * 10, 0, i * 10 + 8, 8), c) for i, (w, c) in enumerate(pairs)
        )
        ocr.append(OcrLine(words, min(c for _, c in pairs)))
    return layout_text(ocr)


def masked_words(detector: PhiDetector, text_frame, header=HEADER) -> list[str]:
    entities = detector.detect_frame(text_frame, header)
    return [
        w.text
        for w in text_frame.words
        if any(e.begin < w.end and e.end > w.begin for e in entities)
    ]


FAIL_CLOSED = PhiDetector(DetectorConfig())
OPEN = PhiDetector(DetectorConfig(fail_closed=False))


# --------------------------------------------------------------------------- configuration


def test_config_is_hashable_and_turns_lists_into_tuples():
    config = DetectorConfig(allow_words=["a"], deny_words=["b"])  # type: ignore[arg-type]
    assert config.allow_words == ("a",) and config.deny_words == ("b",)
    assert {config: 1}[DetectorConfig(allow_words=("a",), deny_words=("b",))] == 1


def test_config_rejects_a_confidence_outside_0_1():
    with pytest.raises(ValueError):
        DetectorConfig(min_confidence=1.5)


def test_recognizers_follow_the_config():
    assert [r.name for r in PhiDetector(DetectorConfig()).recognizers] == [
        "header", "rules", "names"
    ]
    none = PhiDetector(DetectorConfig(use_header=False, use_rules=False, use_names=False))
    assert none.recognizers == ()


# --------------------------------------------------------------------------- OCR frames


def test_overlay_words_are_kept_and_phi_is_masked():
    text_frame = frame(
        f"{FAMILY},{GIVEN} PID77123",
        "DOB: 06/16/1976 45Y",
        "TIS0.0 MI 0.6 L12-5 36Hz 2D 60%",
        "Dyn R 58 AXIAL Liver 5 cm",
    )
    assert masked_words(FAIL_CLOSED, text_frame) == [
        f"{FAMILY},{GIVEN}", "PID77123", "06/16/1976", "45Y"
    ]


def test_fail_closed_masks_a_garbled_or_unknown_word():
    text_frame = frame("AXIAL IH⊥ Liver", f"{pseudo_word(RNG)} 5 cm")
    assert masked_words(FAIL_CLOSED, text_frame, ()) == ["IH⊥", text_frame.words[3].text]
    entities = FAIL_CLOSED.detect_frame(text_frame, ())
    assert {(e.label, e.source) for e in entities} == {("UNVERIFIED", "unverified")}


def test_fail_closed_masks_a_safe_word_read_with_low_confidence():
    text_frame = frame([("AXIAL", 0.99), ("L", 0.72), ("Liver", 0.81)])
    assert masked_words(FAIL_CLOSED, text_frame, ()) == ["L"]
    strict = PhiDetector(DetectorConfig(min_confidence=0.9))
    assert masked_words(strict, text_frame, ()) == ["L", "Liver"]


def test_without_fail_closed_only_recognized_phi_is_masked():
    text_frame = frame(f"AXIAL {pseudo_word(RNG)} 06/16/1976")
    assert masked_words(OPEN, text_frame, ()) == ["06/16/1976"]


def test_a_header_match_beats_the_allow_list():
    header = (HeaderTerm("person_name", "HEAD^ORSA"),)
    entities = FAIL_CLOSED.detect_frame(frame("CT HEAD AXIAL"), header)
    assert [(e.label, e.source) for e in entities] == [("NAME", "header")]


def test_redact_all_masks_every_word_and_keeps_recognizer_labels():
    detector = PhiDetector(DetectorConfig(redact_all=True))
    text_frame = frame("AXIAL Liver 06/16/1976")
    entities = detector.detect_frame(text_frame, ())
    assert masked_words(detector, text_frame, ()) == ["AXIAL", "Liver", "06/16/1976"]
    assert [e.source for e in entities] == ["redact_all", "redact_all", "rule"]


def test_user_allow_and_deny_words():
    detector = PhiDetector(DetectorConfig(allow_words=("Kwellix",), deny_words=("Liver",)))
    assert masked_words(detector, frame("Kwellix Liver AXIAL"), ()) == ["Liver"]
    denied = detector.detect_frame(frame("Kwellix Liver AXIAL"), ())
    assert [(e.label, e.source) for e in denied] == [("DENY", "rule")]
    assert masked_words(FAIL_CLOSED, frame("Kwellix AXIAL"), ()) == ["Kwellix"]


class _Model:
    """A model recognizer that calls every capitalised word an organisation."""

    name = "fake-model"

    def find(self, text, header):
        import re

        return [Entity(m.start(), m.end(), "ORGANIZATION", "model", 0.5)
                for m in re.finditer(r"[A-Z][A-Za-z]+", text)]


def test_model_entities_on_confidently_safe_words_are_dropped():
    detector = PhiDetector(DetectorConfig())
    detector.recognizers = (*detector.recognizers, _Model())
    word = pseudo_word(RNG).title()
    text_frame = frame(f"AXIAL Liver {word}")
    entities = detector.detect_frame(text_frame, ())
    assert [(text_frame.text[e.begin : e.end], e.source) for e in entities] == [(word, "model")]
    document = f"CT Liver {word}"
    assert [document[e.begin : e.end] for e in detector.detect_document(document)] == [word]


def test_empty_frame_gives_no_entities():
    assert FAIL_CLOSED.detect_frame(layout_text([]), HEADER) == []


# --------------------------------------------------------------------------- documents


def test_documents_use_recognizers_only():
    document = f"CT CHEST W CONTRAST\n{FAMILY}^{GIVEN}\nIH⊥ unknownish words\nDOB 06/16/1976"
    entities = FAIL_CLOSED.detect_document(document, HEADER)
    assert {e.source for e in entities} <= {"header", "rule", "names"}
    assert [document[e.begin : e.end] for e in entities] == [f"{FAMILY}^{GIVEN}", "06/16/1976"]


def test_redacted_document_keeps_its_line_count_and_tidies_spaces():
    document = (
        f"CT CHEST {FAMILY} 06/16/1976\n"
        f"{FAMILY}^{GIVEN}\n"
        "\n"
        "Name: " + GIVEN.title() + " seen\n"
        "AXIAL T2 FLAIR"
    )
    entities = FAIL_CLOSED.detect_document(document, HEADER)
    cleaned = FAIL_CLOSED.redact_text(document, entities)
    assert cleaned.split("\n") == ["CT CHEST", "", "", "Name: seen", "AXIAL T2 FLAIR"]


def test_redact_text_keeps_newlines_inside_a_span():
    text = "ab\ncd\nef"
    assert PhiDetector.redact_text(text, [Entity(1, 7, "X", "rule")]) == "a\n\nf"


def test_redact_text_leaves_lines_without_entities_untouched():
    text = "A  B\nC"
    assert PhiDetector.redact_text(text, []) == text


# --------------------------------------------------------------------------- merging


def test_overlapping_entities_merge_and_the_strongest_source_names_them():
    merged = merge_entities(
        [
            Entity(5, 9, "UNVERIFIED", "unverified", 0.5),
            Entity(0, 6, "NAME", "names", 0.8),
            Entity(3, 7, "NAME", "header", 0.95),
            Entity(9, 12, "DATE", "rule", 1.0),  # touches, does not overlap
            Entity(4, 4, "EMPTY", "rule", 1.0),
        ]
    )
    assert merged == [Entity(0, 9, "NAME", "header", 0.95), Entity(9, 12, "DATE", "rule", 1.0)]


def test_a_date_broken_by_spurious_ocr_spaces_is_masked_whole():
    broken = frame("03/1 4/201 4 13:18:40", "kV 80")
    assert masked_words(OPEN, broken, ()) == ["03/1", "4/201", "4", "13:18:40"]
    assert masked_words(FAIL_CLOSED, broken, ()) == ["03/1", "4/201", "4", "13:18:40"]


def test_numbers_beside_masked_text_go_with_it_but_measurements_stay():
    text_frame = frame("2013 Jam 21", "Xyqzorv 5 cm", "kV 120")
    assert masked_words(FAIL_CLOSED, text_frame, ()) == ["2013", "Jam", "21", "Xyqzorv"]


def test_a_lone_glyph_read_with_low_confidence_is_not_masked():
    """A grey-scale bar read as "1" (0.7) identifies nobody; a garbled wide word does."""
    from sparkdeid.ner.detect import _lone_glyphs
    from sparkdeid.ocr.base import FrameText, PlacedWord

    bar = PlacedWord("1", 0, 1, 0.7, Box(618, 135, 640, 173), 0)
    smeared = PlacedWord("1", 2, 3, 0.7, Box(10, 10, 90, 22), 1)
    assert _lone_glyphs([bar, smeared]) == {bar}
    text_frame = FrameText("1\n1", (bar, smeared))
    assert masked_words(FAIL_CLOSED, text_frame, ()) == ["1"]
    assert [e.begin for e in FAIL_CLOSED.detect_frame(text_frame, ())] == [2]


def test_generic_words_of_a_garbled_place_name_go_with_it():
    header = (HeaderTerm("place", "Velzhigrex General Hospital"),)
    text_frame = frame("Velzhigre General Hospital", "AXIAL")
    assert masked_words(OPEN, text_frame, header) == ["Velzhigre", "General", "Hospital"]


# --------------------------------------------------------------------------- layout


def placed(*rows: tuple[float, float, str]):
    """OCR lines at (x, y) positions; words 7 px wide per character, 10 px tall."""
    ocr = []
    for x, y, text in rows:
        words, cursor = [], x
        for word in text.split():
            words.append(OcrWord(word, Box(cursor, y, cursor + 7 * len(word), y + 10), 0.99))
            cursor += 7 * len(word) + 6
        ocr.append(OcrLine(tuple(words), 0.99))
    return layout_text(ocr)


def test_a_wrapped_labelled_value_is_masked_on_every_line() -> None:
    """Institution Name: X Y / and Z / Community / Hospital: the ordinary words too."""
    place = pseudo_word(random.Random(5)).title()
    label_width = 7 * len("Institution") + 6 + 7 * len("Name:") + 6
    text = placed(
        (10, 10, f"Institution Name: {place} and"),
        (10 + label_width, 22, "Community"),
        (10 + label_width, 34, "Hospital"),
        (10, 46, "Study Date: 2013 Jul 13"),
        (10, 58, "AXIAL"),
    )
    header = (HeaderTerm("place", f"{place} Community Hospital"),)
    masked = masked_words(FAIL_CLOSED, text, header)
    assert {"Community", "Hospital", place, "and"} <= set(masked)
    assert "AXIAL" not in masked and "Study" not in masked and "Date:" not in masked


def test_a_line_under_a_label_is_not_a_continuation() -> None:
    """Only lines starting in the value's column continue it."""
    text = placed((10, 10, "Name: QUAXLEY ZORBINA"), (10, 22, "AXIAL"), (10, 34, "R"))
    assert masked_words(FAIL_CLOSED, text, ()) == ["QUAXLEY", "ZORBINA"]


def test_a_wrapped_value_whose_lines_start_left_of_its_column_is_masked() -> None:
    """As OCR read a real CT: each wrapped line starts up to 1.5 line heights left of the
    value (centred lines, boxes widened on a busy background), the last an ordinary word."""
    place, other = (pseudo_word(random.Random(seed)).title() for seed in (7, 8))
    label_width = 7 * len("Institution") + 6 + 7 * len("Name:") + 6
    column = 10 + label_width
    text = placed(
        (10, 10, f"Institution Name: {place}, {other}"),
        (column - 15, 22, f"and {other}"),
        (column - 13, 34, "Community"),
        (column - 11, 46, "Hospital"),
        (10, 58, "Study Date: 2013 Jul 13"),
        (10, 70, "AXIAL"),
    )
    header = (HeaderTerm("place", f"{place}, {other} and {other} Community Hospital"),)
    masked = masked_words(FAIL_CLOSED, text, header)
    assert {"Community", "Hospital", "and"} <= set(masked)
    assert "AXIAL" not in masked and "Study" not in masked and "Date:" not in masked


def test_a_sex_letter_beside_a_name_or_an_age_is_masked_but_not_alone() -> None:
    text = placed((10, 10, "2008 Jan 05 QUAXLEY ZORBINA M"), (10, 22, "Age: 67 F"), (300, 300, "R"),
                  (10, 60, "F"))
    header = (HeaderTerm("person_name", "QUAXLEY^ZORBINA"),)
    masked = masked_words(FAIL_CLOSED, text, header)
    assert "M" in masked and "F" in masked[-2:] and masked.count("F") == 1
    assert "R" not in masked
