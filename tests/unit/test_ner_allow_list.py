"""The allow-list: which burned-in words are safe to keep."""

from __future__ import annotations

import pytest

from sparkdeid.ner.allow_list import (
    is_safe_word,
    is_vocabulary_word,
    looks_like_phi,
    normalise_confusions,
    normalise_words,
    safe_spans,
    vocabulary,
)

# Overlay words the project guide names as non-PHI, plus common vendor variants.
OVERLAY_WORDS = (
    # orientation markers
    "R", "L", "A", "P", "H", "F",
    # units and scale
    "5", "cm", "10", "mm", "10mm", "4.0cm", "4.0cm⁻", "16cm", "2.5MHz", "cm/s", "75", "bpm",
    # modality, protocol, anatomy
    "AXIAL", "SAG", "CT", "T2", "Liver", "Renal", "General", "*Renal", "Breast", "Adv",
    "FLAIR", "Kidney", "Carotid", "Thyroid",
    # probe and acquisition parameters
    "L12-5", "36Hz", "TIS", "0.5", "MI", "1.4", "2D", "60%", "Dyn", "58", "19fps", "H4.00",
    "MHz", "20dB/DR60", "kV", "120", "mAs", "250", "W", "400", "40", "IM", "12", "SE", "3",
    "1/30", "12/30", "TIS0.0", "TIB:0.5", "MI:1.4", "2D--100%", "MapE/ST2", "ASC3", "TAC1",
    "x3", "X2", "M3", "C50", "6C1", "HD", "RS", "HGen", "Sag", "L-M", "+59.3", "-59.3",
    "3850Hz", "12000Hz", "512x512", "230*230", "B30f", "Cor>Tra", "0.9:1", "PVT-375BT",
    "SIEMENS", "Philips", "LOGIQ", "Voluson", "EPIQ", "Aplio",
)


def test_vocabulary_has_several_hundred_lower_case_entries():
    words = vocabulary()
    assert len(words) >= 500
    assert all(w == w.lower() for w in words)


@pytest.mark.parametrize("word", OVERLAY_WORDS)
def test_overlay_words_are_safe(word):
    assert is_safe_word(word)


@pytest.mark.parametrize(
    "word",
    [
        "06/16/1976", "16.06.1976", "1976-06-16", "19760616", "13-JUL-2013", "Jul13,2013",
        "4/14/2020", "03/02/2017", "1O/8/2OO3",  # OCR confusions undone
        "05:24:57PM", "8:48AM", "45Y", "045Y", "67yo",
        "120907058", "00047431395", "QX12345678", "E4O4O4O4O4O4", "PID77123",
        "(753)567-0301x5925", "555-867-5309", "a.b@example.org", "www.example.org",
        "123-45-6789", "1.2.840.113619.2.55.3",
    ],
)
def test_dates_ids_and_contacts_are_never_safe(word):
    assert looks_like_phi(word)
    assert not is_safe_word(word)


@pytest.mark.parametrize("word", ["VORANEK", "Talisha", "KELDOR^BRASK", "PATIENTFI...", "IH⊥"])
def test_unknown_words_are_not_safe(word):
    assert not is_safe_word(word)


def test_a_word_that_is_only_punctuation_is_safe():
    assert is_safe_word("--")
    assert is_safe_word("|")
    assert is_safe_word("")


def test_a_whole_line_read_as_one_word_is_safe_only_if_every_part_is():
    assert is_safe_word("Dyn R 58")
    assert is_safe_word("W 400 L 40")
    assert not is_safe_word("Dyn R VORANEK")


def test_user_allow_words_extend_the_vocabulary():
    extra = normalise_words([" Zorvath ", "", "KWELLIX"])
    assert extra == frozenset({"zorvath", "kwellix"})
    assert is_safe_word("ZORVATH", extra)
    assert is_vocabulary_word("Kwellix:", extra)
    assert not is_safe_word("ZORVATH")


def test_user_allow_words_never_make_a_date_safe():
    assert not is_safe_word("06/16/1976", frozenset({"06/16/1976"}))


def test_safe_spans_are_offsets_of_safe_words():
    text = "TIS 0.5 VORANEK 36Hz\nAXIAL 06/16/1976"
    spans = safe_spans(text)
    assert [text[b:e] for b, e in spans] == ["TIS", "0.5", "36Hz", "AXIAL"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1O/8/2OO3", "10/8/2003"),
        ("5ep", "Sep"),
        ("l976", "1976"),
        ("J0HN", "JOHN"),
        ("36Hz", "36Hz"),  # a unit is not a misread number
        ("2S", "25"),
        ("AXIAL 512", "AXIAL 512"),
        ("l/29/1953", "1/29/1953"),  # a lone letter read with the digits around it
        ("3/S/1969", "3/5/1969"),
        ("C1-5-D", "C1-5-D"),  # as many letters as digits: left alone
    ],
)
def test_normalise_confusions_reads_tokens_as_numbers_or_words(text, expected):
    assert normalise_confusions(text) == expected
    assert len(normalise_confusions(text)) == len(text)


@pytest.mark.parametrize("word", ["04/1932", "/04/1932", "4/1932", "04.1932", "1932-04", "12/2019"])
def test_a_month_and_year_is_not_safe(word: str) -> None:
    """OCR that loses a date's day (``08/04/1932`` read ``/04/1932``) still leaves a date."""
    assert not is_safe_word(word)


@pytest.mark.parametrize("word", ["12/30", "1/20", "1999", "2.5", "512x512"])
def test_counters_years_and_numbers_stay_safe(word: str) -> None:
    assert is_safe_word(word)
