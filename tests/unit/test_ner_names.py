"""Census-list person names: shapes, frequency weights, OCR garbles, the missing package."""

from __future__ import annotations

import importlib.util
import random

import pytest

from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ner import names as names_module
from sparkdeid.ner.names import NameRecognizer, census_lists, name_weight, unfold_digits
from tests.factories import pseudo_word

NAMES = NameRecognizer()


def synthetic_person(seed: int) -> tuple[str, str]:
    """A made-up pairing of a common census first name and a common census last name.

    Both come from the middle of the frequency lists (not from any real
    person) and carry full weight, so the expected result does not depend on
    which pair the seed draws.
    """
    rng = random.Random(seed)
    lists = census_lists()
    firsts = [n for n, c in lists.first.items() if 20 < c < 60 and len(n) >= 4]
    lasts = [n for n, c in lists.last.items() if 20 < c < 50 and len(n) >= 4]
    while True:
        first, last = rng.choice(sorted(firsts)), rng.choice(sorted(lasts))
        if name_weight(first, "first") == 1.0 and name_weight(last, "last") == 1.0:
            return first, last


def flagged(text: str) -> list[str]:
    return [text[e.begin : e.end] for e in NAMES.find(text)]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "form",
    [
        "{LAST}^{FIRST}",
        "{LAST}^{FIRST}^Q",
        "{LAST}, {FIRST}",
        "{Last}, {First} Q.",
        "{First} {Last}",
        "{FIRST} {LAST}",
        "{LAST} {FIRST} Q",
        "{First} Q. {Last}",
    ],
)
def test_name_shapes_are_flagged_whole(seed, form):
    first, last = synthetic_person(seed)
    name = form.format(FIRST=first, LAST=last, First=first.title(), Last=last.title())
    assert flagged(f"{name} MRN 12345678") == [name]


@pytest.mark.parametrize("surname", ["WALL", "STONE", "DIXON", "HEAD"])
def test_a_middle_initial_makes_a_word_surname_a_name(surname):
    """Surnames that are also overlay words (chest wall, kidney stone, MR Dixon)."""
    assert flagged(f"{surname} TERRI A MRN 12345678") == [f"{surname} TERRI A"]


def test_upper_case_overlay_name_before_an_id():
    first, last = synthetic_person(11)
    assert flagged(f"{last}^{first} MRN 12345678") == [f"{last}^{first}"]


def test_made_up_names_are_flagged_by_dicom_shape_and_titles():
    rng = random.Random(3)
    family, given = pseudo_word(rng), pseudo_word(rng)
    assert flagged(f"ZZZ {family}^{given}^^") == [f"ZZZ {family}^{given}"]
    assert flagged(f"reviewed by Dr. {family.title()} today") == [family.title()]
    assert flagged(f"Mrs {given.title()} {family.title()}") == [f"{given.title()} {family.title()}"]


def test_ocr_garbled_names_are_flagged():
    first, last = synthetic_person(4)
    garbled = f"{first[0]}{first[1:].replace('O', '0').replace('I', '1')} {last}"
    text = garbled if any(ch.isdigit() for ch in garbled) else f"{first[:-1]}0 {last}"
    assert NAMES.find(text)


@pytest.mark.parametrize(
    "text",
    [
        "CT HEAD WO CONTRAST",
        "US CHEST WALL/SOFT TISSUE",
        "Long Axis",
        "MARK LEFT",
        "Sag Liver L-M",
        "General Renal",
        "abdomen^liver",
        "MR Brain",  # MR without a dot is the modality, not Mister
        "DR Chest PA",
        "20 ms Gain",
        "Demonstration of SR Features",
        "TIS0.0 MI 0.6 L12-5",
    ],
)
def test_overlay_and_description_words_are_not_names(text):
    assert flagged(text) == []


def test_a_single_name_word_alone_is_left_to_other_recognizers():
    first, _ = synthetic_person(8)
    assert flagged(f"AXIAL {first}") == []


def test_weights_follow_frequency_and_ordinary_words():
    first, last = synthetic_person(9)
    assert name_weight(first, "first") == 1.0
    assert name_weight(last, "last") == 1.0
    assert name_weight("LIVER", "last") == 0.0  # not a census name
    assert name_weight("HEAD", "last") == 0.25  # an overlay word
    assert name_weight("BROWN", "last") == 0.75  # a very common name that is also a word
    rare = max(census_lists().last.items(), key=lambda item: item[1])[0]
    assert name_weight(rare, "last") <= 0.5


def test_name_lists_load_once():
    assert census_lists() is census_lists()
    assert len(census_lists().last) > 80000 and len(census_lists().first) > 5000


def test_unfold_digits():
    assert unfold_digits("J0HN") == "JOHN"


def test_missing_names_package_names_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        names_module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "names" else real(name, *a),
    )
    with pytest.raises(BackendUnavailableError, match="pip install names"):
        NameRecognizer()
    with pytest.raises(ImportError):  # BackendUnavailableError is an ImportError too
        NameRecognizer()
