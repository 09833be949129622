"""Rules: PHI recognisable by its shape, with no header and no model."""

from __future__ import annotations

import pytest

from sparkdeid.ner.rules import RulesRecognizer, find_in_line

RULES = RulesRecognizer()


def spans(text: str) -> set[tuple[str, str]]:
    return {(text[e.begin : e.end], e.label) for e in RULES.find(text, ())}


def covered(text: str) -> str:
    """``text`` with every matched character replaced by '#'."""
    chars = list(text)
    for e in RULES.find(text, ()):
        chars[e.begin : e.end] = "#" * (e.end - e.begin)
    return "".join(chars)


@pytest.mark.parametrize(
    "text, phi",
    [
        # dates, numeric and textual
        ("Exam 4/14/2020 done", "4/14/2020"),
        ("03/02/2017 05:24PM", "03/02/2017"),
        ("DATE 16.06.1976", "16.06.1976"),
        ("1976-06-16", "1976-06-16"),
        ("seen 3/4/21", "3/4/21"),
        ("2013 Jul 13", "2013 Jul 13"),
        ("13-JUL-2013", "13-JUL-2013"),
        ("Jul 13, 2013", "Jul 13, 2013"),
        ("on Jul 13 at", "Jul 13"),
        ("06 / 16 / 1976", "06 / 16 / 1976"),
        ("1O/8/2OO3 CT", "1O/8/2OO3"),  # OCR confusions
        ("1977 5ep 27", "1977 5ep 27"),
        ("1977 Oct l1", "1977 Oct l1"),  # a month name does not veto re-reading the day
        ("DOB: l/25/1949", "l/25/1949"),  # a lone misread digit between separators
        ("3/S/1969", "3/S/1969"),
        # times
        ("05:24:57PM", "05:24:57PM"),
        ("8:48:26 AM", "8:48:26 AM"),
        ("at 17:02 h", "17:02"),
        # ages
        ("45Y M", "45Y"),
        ("a 45 yo woman", "45 yo"),
        ("67-year-old", "67-year-old"),
        ("AGE: 45", "45"),
        ("045Y", "045Y"),
        # contacts
        ("call (216) 444-2200 now", "(216) 444-2200"),
        ("call 216.444.2200x123 now", "216.444.2200x123"),
        ("mail talisha.v@zorvath.example now", "talisha.v@zorvath.example"),
        ("see https://portal.example/x?id=3 now", "https://portal.example/x?id=3"),
        ("ssn 123-45-6789", "123-45-6789"),
        # ids
        ("00047431395", "00047431395"),
        ("MRN 12345678", "12345678"),
        ("QX12345678 CT", "QX12345678"),
        ("MC19UUS03", "MC19UUS03"),
        ("acc 1234-5678", "1234-5678"),
        ("uid 1.2.840.113619.2.55.3", "1.2.840.113619.2.55.3"),
        # addresses
        ("1234 Euclid Avenue", "1234 Euclid Avenue"),
        ("12 N Kwellix St Apt 4B", "12 N Kwellix St Apt 4B"),
        ("PO Box 1234", "PO Box 1234"),
        ("Zorvath, OH 44195", "Zorvath, OH 44195"),
        ("Zorvath, PW 96940", "Zorvath, PW 96940"),  # Palau: every USPS state code
        ("44195-0001", "44195-0001"),
    ],
)
def test_rules_find_phi(text, phi):
    start = text.index(phi)
    assert covered(text)[start : start + len(phi)] == "#" * len(phi)


@pytest.mark.parametrize(
    "text, value, label",
    [
        ("MRN: QX12345678", "QX12345678", "ID"),
        ("Acc# 88120345", "88120345", "ID"),
        ("ID: AB12", "AB12", "ID"),
        ("Pt ID 4521", "4521", "ID"),
        ("DOB: 08/29/1951", "08/29/1951", "DATE"),
        ("DOB 1951", "1951", "DATE"),
        ("Name: VORANEK^TALISHA MRN 12345678", "VORANEK^TALISHA", "NAME"),
        ("Patient: Talisha Q Voranek Sex: M", "Talisha Q Voranek", "NAME"),
        ("Operator: AC", "AC", "NAME"),
        ("Ref Phys: Dr. Keldor Brask", "Dr. Keldor Brask", "NAME"),
        ("Tel: 0161 496 0000", "0161 496 0000", "PHONE"),
        ("Institution: Zorvath Clinic", "Zorvath Clinic", "LOCATION"),
    ],
)
def test_labelled_fields_mark_the_value_not_the_label(text, value, label):
    assert (value, label) in spans(text)
    label_text = text[: text.index(value)].strip(" :#")
    assert all(label_text not in found for found, _ in spans(text) if found != value)


@pytest.mark.parametrize(
    "text",
    [
        "TIS0.0 MI 0.6 L12-5 36Hz M3 2D 60% Dyn R 58",
        "H4.00 MHz 20dB/DR60 19fps 2D--100% MapE/ST2 3850Hz WF 384Hz 75 bpm",
        "kV 120 mAs 250 W 400 L 40 IM 12 SE 3 1/30 12/30",
        "12000Hz 1024x1024 256x192/1.00 NEX TA 2:12 0.9:1",
        "Se: 3 Im: 45 DFOV 36.0cm STND 5.0mm Tilt: 0.0 Rot 0.80s",
        "Sag Liver L-M 16cm *Renal General SIEMENS 6C1 HD",
        "EPIQ5G S2000 VE10B ep2d_diff b1000",
        "CT CHEST W CONTRAST",
        "MR BRAIN WO CONTRAST",
        "May 2 views",  # a month word needs a day and no following text to be a date
        "Name:",  # a label with no value
    ],
)
def test_rules_keep_overlay_parameters(text):
    found = spans(text)
    assert not found or found == {("May 2", "DATE")}


def test_rules_never_join_two_lines():
    text = "216\n444 2200"
    assert spans(text) == set()


def test_find_in_line_offsets_are_line_offsets():
    assert find_in_line("CT 06/16/1976")[0][:2] == (3, 13)
