"""Header terms of a file, and finding them again in garbled OCR text."""

from __future__ import annotations

import random

import pytest
from pydicom.dataset import Dataset

from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.header import (
    HeaderRecognizer,
    fold,
    header_terms_of,
    match_terms,
    max_edits,
    within_edits,
)
from tests.factories import pseudo_word

RNG = random.Random(5150)
FAMILY, GIVEN, MIDDLE = pseudo_word(RNG, 6, 9), pseudo_word(RNG, 5, 8), pseudo_word(RNG, 5, 8)
REFERRER = pseudo_word(RNG, 6, 9)
OBSERVER = pseudo_word(RNG, 6, 9)
TOWN = pseudo_word(RNG, 6, 9)


def header() -> Dataset:
    """A synthetic header: names (one inside a sequence), ids, dates, places."""
    ds = Dataset()
    ds.PatientName = f"{FAMILY}^{GIVEN}^{MIDDLE}"
    ds.ReferringPhysicianName = f"{REFERRER}^ANA"
    ds.PatientID = "PID77123"
    ds.OtherPatientIDs = ["E40404040404"]
    ds.AccessionNumber = "QX88120345"
    ds.IssuerOfPatientID = "ZGHS"
    ds.StationName = "CTSTN01"
    ds.PatientBirthDate = "19760616"
    ds.StudyDate = "20130713"
    ds.AcquisitionDateTime = "20130714101500"
    ds.InstitutionName = f"{TOWN} General Hospital"
    ds.InstitutionalDepartmentName = "Radiology"
    ds.StudyDescription = "CT CHEST W CONTRAST"
    observer = Dataset()
    observer.PersonName = f"{OBSERVER}^ESTRID"
    ds.ContentSequence = [observer]
    ds.OperatorsName = "^^"
    return ds


TERMS = header_terms_of(header())


def found(text: str, terms: tuple[HeaderTerm, ...] = TERMS) -> list[tuple[str, str]]:
    return [(text[e.begin : e.end], e.label) for e in HeaderRecognizer().find(text, terms)]


def masked(text: str, terms: tuple[HeaderTerm, ...] = TERMS) -> str:
    """``text`` with every matched character replaced by '#'."""
    chars = list(text)
    for e in HeaderRecognizer().find(text, terms):
        chars[e.begin : e.end] = "#" * (e.end - e.begin)
    return "".join(chars)


# --------------------------------------------------------------------------- header_terms_of


def test_header_terms_are_typed_by_kind():
    by_kind: dict[str, set[str]] = {}
    for term in TERMS:
        by_kind.setdefault(term.kind, set()).add(term.value)
    assert {f"{FAMILY}^{GIVEN}^{MIDDLE}", f"{REFERRER}^ANA", f"{OBSERVER}^ESTRID"} <= by_kind[
        "person_name"
    ]
    assert {"PID77123", "E40404040404", "QX88120345", "ZGHS", "CTSTN01"} <= by_kind["id"]
    assert {"19760616", "20130713", "20130714"} <= by_kind["date"]  # DT gives its date
    assert {f"{TOWN} General Hospital", "Radiology"} <= by_kind["place"]
    assert "CT CHEST W CONTRAST" not in {t.value for t in TERMS}


def test_header_terms_skip_empty_names_and_repeat_no_value():
    assert "^^" not in {t.value for t in TERMS}
    assert len(TERMS) == len(set(TERMS))


def test_header_terms_of_an_empty_header_are_empty():
    assert header_terms_of(Dataset()) == ()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    "text",
    [
        f"{FAMILY}^{GIVEN}",
        f"{GIVEN.title()} {FAMILY.title()}",
        f"{FAMILY}, {GIVEN}",
        f"{FAMILY.lower()} {GIVEN.lower()}",
        f"{FAMILY}{GIVEN}",  # run together by the UI
        f"{GIVEN} {MIDDLE[0]} {FAMILY}",
        f"{FAMILY} {GIVEN} {MIDDLE[0]}",
    ],
)
def test_a_name_is_found_in_any_order_case_and_punctuation(text):
    assert masked(text).strip("#") == ""


def test_a_name_part_alone_is_found():
    assert found(f"Pt {GIVEN.title()} 45Y") == [(GIVEN.title(), "NAME")]


def test_a_name_in_a_sequence_and_other_people_are_found():
    assert masked(f"read by {OBSERVER} ref {REFERRER}") == (
        f"read by {'#' * len(OBSERVER)} ref {'#' * len(REFERRER)}"
    )


@pytest.mark.parametrize(
    "garbled",
    [
        lambda w: w.replace("O", "0").replace("I", "1").replace("S", "5").replace("B", "8"),
        lambda w: w[:-1] + ("Q" if w[-1] != "Q" else "X"),  # one character misread
        lambda w: w[:3] + w[4:],  # one character dropped
        lambda w: w[:5] + "...",  # truncated by the scanner UI
    ],
)
def test_ocr_garbled_names_are_found(garbled):
    text = f"AXIAL {garbled(FAMILY)} 5 cm"
    assert found(text) and found(text)[0][1] == "NAME"
    assert "AXIAL" in masked(text) and "5 cm" in masked(text)


def test_truncated_name_like_a_scanner_ui_matches_its_prefix():
    terms = (HeaderTerm("person_name", "ZZZ TEST PATIENTFIVE^NEW^P^"),)
    assert masked("ZZZ TEST PATIENTFI... 00079241539", terms) == (
        "##################... 00079241539"
    )


def test_a_name_run_with_its_comma_is_one_entity():
    entities = HeaderRecognizer().find(f"{FAMILY}, {GIVEN} {MIDDLE[0]}", TERMS)
    assert len(entities) == 1


def test_similar_words_and_short_tokens_are_not_names():
    text = f"{FAMILY[:2]} {pseudo_word(RNG)} ANA-LOG"
    assert found(text) == [("ANA", "NAME")]  # a two-letter part matches exactly only
    assert found("TIS 0.5 MI 1.4 AXIAL Liver") == []


def test_an_overlay_word_matches_a_name_only_exactly():
    terms = (HeaderTerm("person_name", "JAIN^ORSA"),)
    assert found("Gain 50", terms) == []  # one letter from JAIN, but a known overlay word
    assert found("JA1N", terms) == [("JA1N", "NAME")]  # an OCR confusion still matches


def test_a_patient_called_like_an_overlay_word_is_masked():
    terms = (HeaderTerm("person_name", "HEAD^VORNA"),)
    assert found("CT HEAD", terms) == [("HEAD", "NAME")]


def test_a_name_with_a_digit_glued_on_is_found():
    terms = (HeaderTerm("person_name", "DOE^ORSA"),)
    assert found("DOE1 AXIAL", terms) == [("DOE1", "NAME")]


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    "text",
    [
        "QX88120345",
        "QX-8812-0345",
        "QX 8812 0345",
        "0X88120345",  # Q read as 0
        "QX8812O345",  # 0 read as O
        "QX881203",  # truncated on screen
        "ACC:QX88120345",
        "E4O4O4O4O4O4",
        "PlD77123",
    ],
)
def test_ids_survive_ocr_confusions_and_separators(text):
    assert masked(text).replace("ACC:", "").strip("#") == ""


def test_short_ids_match_only_exactly():
    terms = (HeaderTerm("id", "7712"),)
    assert found("7712 7713", terms) == [("7712", "ID")]


def test_a_study_id_of_three_digits_is_not_searched_for():
    terms = (HeaderTerm("id", "100"), HeaderTerm("id", "A12"))
    assert found("AO 100% A12", terms) == [("A12", "ID")]


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "written",
    [
        "06/16/1976", "16.06.1976", "1976-06-16", "19760616", "16/06/1976", "6/16/1976",
        "06/16/76", "16-JUN-1976", "Jun 16, 1976", "1976 Jun 16", "16 June 1976", "June 16 1976",
        "O6/16/l976",
    ],
)
def test_the_birth_date_is_found_as_people_write_it(written):
    assert masked(f"DOB: {written} M") == f"DOB: {'#' * len(written)} M"


def test_a_datetime_value_gives_its_date():
    assert found("13-JUL-2013 14-JUL-2013") == [
        ("13-JUL-2013", "DATE"),
        ("14-JUL-2013", "DATE"),
    ]


def test_unpadded_dates_need_their_separators():
    terms = (HeaderTerm("date", "20010102"),)
    assert found("1/2/2001", terms) == [("1/2/2001", "DATE")]
    assert found("122001", terms) == []


# --------------------------------------------------------------------------- places


def test_places_match_whole_and_by_distinctive_word():
    assert masked(f"CT {TOWN} General Hospital") == "CT " + "#" * len(f"{TOWN} General Hospital")
    assert found(f"{TOWN[:6]}... US") == [(TOWN[:6], "LOCATION")]
    assert found("General Radiology") == []  # generic words alone are not the place


def test_other_terms_match_exactly():
    terms = (HeaderTerm("other", "Kwellix Wing"),)
    assert found("Kwellix Wing 3", terms) == [("Kwellix Wing", "OTHER")]
    assert match_terms("KWELLIX WING", terms, source="rule")[0].source == "rule"


def test_no_header_no_entities():
    assert HeaderRecognizer().find(f"{FAMILY} 06/16/1976", ()) == []


def test_offsets_are_kept_across_lines():
    text = f"AXIAL\nL12-5 {GIVEN}\n{FAMILY}"
    assert [text[e.begin : e.end] for e in HeaderRecognizer().find(text, TERMS)] == [GIVEN, FAMILY]


# --------------------------------------------------------------------------- helpers


def test_fold_merges_ocr_confusions_and_accents():
    assert fold("O0Il1S5B8Z2G6") == "OOIIISSBBZZGG"
    assert fold("Jörg") == fold("JORG")


@pytest.mark.parametrize("length, edits", [(3, 0), (4, 1), (7, 1), (8, 2), (12, 2), (13, 3)])
def test_edit_budget_grows_with_length(length, edits):
    assert max_edits(length) == edits


def test_within_edits():
    assert within_edits("PATIENT", "PATlENT", 1)
    assert within_edits("ABCD", "ABD", 1)
    assert not within_edits("ABCD", "AXYD", 1)
    assert within_edits("SAME", "SAME", 0)
