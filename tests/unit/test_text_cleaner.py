"""Header-informed free-text cleaning (the cleanTag default before NER)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from sparkdeid.dicom.identity import header_terms
from sparkdeid.metadata.text_cleaner import clean_text, header_text_cleaner
from sparkdeid.text_patterns import RULE_PATTERNS


def header() -> Dataset:
    """A header holding synthetic PHI in names, ids, places and a birth date."""
    ds = Dataset()
    ds.PatientName = "VORANEK^TALISHA^MIREN"
    ds.ReferringPhysicianName = "KELDOR^BRASK"
    ds.OperatorsName = ["PELLIN^ORSA", "DRAVEK^UNNA"]
    ds.PatientID = "PID77123"
    ds.AccessionNumber = "QX88120345"
    ds.StationName = "CTSTN01"
    ds.InstitutionName = "Zorvath General Hospital"
    ds.PatientBirthDate = "19760616"
    ds.StudyDescription = "CT CHEST W CONTRAST"  # not a source of terms
    observer = Dataset()
    observer.PersonName = "QUILLAN^ESTRID"
    ds.ContentSequence = [observer]
    return ds


# --------------------------------------------------------------------------- header_terms


def test_header_terms_hold_every_name_part_of_every_pn():
    terms = header_terms(header())
    for part in (
        "VORANEK",
        "TALISHA",
        "MIREN",
        "KELDOR",
        "BRASK",
        "PELLIN",
        "ORSA",
        "DRAVEK",
        "UNNA",
        "QUILLAN",
        "ESTRID",
    ):
        assert part in terms


def test_header_terms_hold_ids_and_institution():
    terms = header_terms(header())
    assert {"PID77123", "QX88120345", "CTSTN01"} <= terms
    assert "Zorvath General Hospital" in terms and "Zorvath" in terms
    assert "General" not in terms and "Hospital" not in terms  # generic place words


@pytest.mark.parametrize(
    "written",
    [
        "19760616",
        "06/16/1976",
        "16/06/1976",
        "1976-06-16",
        "16.06.1976",
        "16 Jun 1976",
        "June 16, 1976",
        "6/16/1976",
    ],
)
def test_header_terms_hold_the_birth_date_as_people_write_it(written):
    assert written in header_terms(header())


def test_header_terms_ignore_description_words_and_one_letter_parts():
    ds = header()
    ds.PatientName = "VORANEK^T"
    terms = header_terms(ds)
    assert "T" not in terms
    assert not {"CT", "CHEST", "CONTRAST"} & terms


def test_header_terms_of_an_empty_header_are_empty():
    assert header_terms(Dataset()) == set()


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail talisha.v@zorvath.example now", "mail now"),
        ("see https://portal.zorvath.example/x?id=3 now", "see now"),
        ("see www.zorvath.example now", "see now"),
        ("call 555-867-5309 today", "call today"),
        ("call (555) 867-5309 today", "call today"),
        ("call +1 555.867.5309 today", "call today"),
        ("ssn 123-45-6789 ok", "ssn ok"),
        ("seen 06/16/1976 CT", "seen CT"),
        ("seen 16.06.1976 CT", "seen CT"),
        ("seen 1976-06-16 CT", "seen CT"),
        ("seen 3/4/21 CT", "seen CT"),
        ("born June 16, 1976 CT", "born CT"),
        ("born 16 Jun 1976 CT", "born CT"),
        ("born 16-JUN-1976 CT", "born CT"),
        ("born 1976 Jun 16 CT", "born CT"),
        ("since Jun 1976 CT", "since CT"),
        ("MRN 12345678 CT", "MRN CT"),
        ("ACC 88120345 CT", "ACC CT"),
        ("ref 1.2.840.113619.2.55.3 CT", "ref CT"),  # a UID goes whole, not in pieces
    ],
)
def test_rules_remove_phi_anywhere(text, expected):
    assert clean_text(text, None) == expected


@pytest.mark.parametrize(
    "text",
    [
        "CT CHEST W CONTRAST",
        "AXIAL T2 FLAIR",
        "3D 5MM RECON",
        "CT 2.5MM",
        "SERIES 3",
        "T1 POST GAD 512x512",
        "CT CHEST W/O CONTRAST",
        "MR BRAIN WO CONTRAST",
        "",
    ],
)
def test_rules_keep_clinical_words(text):
    assert clean_text(text, None) == text


def test_every_rule_pattern_is_exercised():
    assert set(RULE_PATTERNS) == {
        "email",
        "url",
        "ssn",
        "phone",
        "date_numeric",
        "date_text",
        "uid",
        "digit_run",
    }


def test_digit_run_at_the_end_of_a_sentence_is_removed():
    assert "12345678" not in clean_text("Patient MRN 12345678.", None)


def test_digit_run_after_an_abbreviation_is_removed():
    assert "12345678" not in clean_text("Acc No.12345678 CT", None)


# --------------------------------------------------------------------------- header cleaner


def test_header_cleaner_drops_names_ids_and_dates_and_keeps_the_rest():
    cleaner = header_text_cleaner(header())
    assert cleaner("CT CHEST VORANEK 06/16/1976") == "CT CHEST"
    assert cleaner("talisha voranek ct head") == "ct head"  # case-insensitive
    assert cleaner("PID77123 QX88120345 AXIAL T2") == "AXIAL T2"
    assert cleaner("Zorvath scan by PELLIN reviewed by QUILLAN") == "scan by reviewed by"
    assert cleaner("3D 5MM RECON") == "3D 5MM RECON"
    assert cleaner("born 16 Jun 1976") == "born"


def test_header_terms_match_whole_words_only():
    ds = Dataset()
    ds.PatientName = "ORSA^UNNA"
    cleaner = header_text_cleaner(ds)
    assert cleaner("ORSA CORSAGE TUNNAGE") == "CORSAGE TUNNAGE"


def test_header_cleaner_binds_the_header_as_it_was():
    ds = header()
    cleaner = header_text_cleaner(ds)
    ds.PatientName = ""  # de-identification erases the header afterwards
    assert cleaner("CT VORANEK") == "CT"


def test_clean_text_keeps_word_order_and_tidies_separators():
    ds = Dataset()
    ds.PatientName = "VORANEK^TALISHA"
    cleaner = header_text_cleaner(ds)
    assert cleaner("VORANEK, CT CHEST - TALISHA") == "CT CHEST"


def test_name_prefix_and_suffix_are_not_header_terms():
    ds = Dataset()
    ds.PatientName = "VORANEK^TALISHA^^MR"
    ds.ReferringPhysicianName = "KELDOR^BRASK^^DR"
    cleaner = header_text_cleaner(ds)
    assert cleaner("MR BRAIN VORANEK") == "MR BRAIN"
    assert cleaner("DR CHEST PA") == "DR CHEST PA"
