"""Resolution of the PS3.15 combined codes from attribute Types."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.uid import (
    CTImageStorage,
    EncapsulatedPDFStorage,
    EnhancedCTImageStorage,
    EnhancedSRStorage,
    PositronEmissionTomographyImageStorage,
)

from sparkdeid.metadata.attribute_types import (
    COMBINED_CODES,
    SHARED_TYPES,
    attribute_type,
    resolve_combined,
)
from sparkdeid.metadata.profiles import TABLE_RESOURCE


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    return tag


def _basic_codes() -> dict[int, str]:
    text = (
        resources.files("sparkdeid")
        .joinpath("data")
        .joinpath(TABLE_RESOURCE)
        .read_text(encoding="utf-8-sig")
    )
    codes = {}
    for row in csv.DictReader(io.StringIO(text, newline="")):
        if all(c in "0123456789ABCDEF," for c in row["tag"]):
            codes[int(row["tag"].replace(",", ""), 16)] = row["basic_profile"]
    return codes


def test_table_codes_used_below_are_what_the_standard_says() -> None:
    codes = _basic_codes()
    assert codes[_tag("PatientID")] == "Z/D"
    assert codes[_tag("ContentDate")] == "Z/D"
    assert codes[_tag("AcquisitionDate")] == "X/Z"
    assert codes[_tag("SeriesDate")] == "X/D"
    assert codes[_tag("DeviceSerialNumber")] == "X/Z/D"
    assert codes[_tag("ReferencedImageSequence")] == "X/Z/U*"
    assert codes[_tag("AccessionNumber")] == "Z"
    assert codes[_tag("StudyDate")] == "Z"
    assert {c for c in codes.values() if "/" in c} == COMBINED_CODES


def test_every_shared_type_is_a_valid_type() -> None:
    assert set(SHARED_TYPES.values()) <= {"1", "1C", "2", "2C", "3"}


def test_type_2_gives_z() -> None:
    assert attribute_type(_tag("AccessionNumber"), CTImageStorage) == "2"
    assert attribute_type(_tag("StudyDate"), CTImageStorage) == "2"
    assert resolve_combined("Z", _tag("AccessionNumber"), CTImageStorage) == "Z"
    assert resolve_combined("Z/D", _tag("PatientID"), CTImageStorage) == "Z"
    assert resolve_combined("Z/D", _tag("ContentDate"), CTImageStorage) == "Z"  # 2C


def test_type_3_gives_the_first_code() -> None:
    assert resolve_combined("X/Z", _tag("AcquisitionDate"), CTImageStorage) == "X"
    assert resolve_combined("X/D", _tag("SeriesDate"), CTImageStorage) == "X"
    assert resolve_combined("X/Z/D", _tag("InstitutionName"), CTImageStorage) == "X"
    assert resolve_combined("X/Z/U*", _tag("SourceImageSequence"), CTImageStorage) == "X"


def test_type_1_gives_a_value() -> None:
    serial = _tag("DeviceSerialNumber")
    assert resolve_combined("X/Z/D", serial, CTImageStorage) == "X"
    assert resolve_combined("X/Z/D", serial, EnhancedCTImageStorage) == "D"
    assert resolve_combined("Z/D", _tag("ContentDate"), EnhancedSRStorage) == "D"
    pet = PositronEmissionTomographyImageStorage
    assert resolve_combined("X/D", _tag("SeriesDate"), pet) == "D"
    assert resolve_combined("X/Z", _tag("AcquisitionDate"), pet) == "Z"


def test_type_1_uid_sequence_gives_u(monkeypatch: pytest.MonkeyPatch) -> None:
    import sparkdeid.metadata.attribute_types as module

    sequence = _tag("ReferencedImageSequence")
    monkeypatch.setattr(module, "SHARED_TYPES", {**SHARED_TYPES, sequence: "1"})
    assert resolve_combined("X/Z/U*", sequence, CTImageStorage) == "U"


def test_iod_overrides() -> None:
    acquired = _tag("AcquisitionDateTime")
    assert attribute_type(acquired, CTImageStorage) == "3"
    assert attribute_type(acquired, EnhancedCTImageStorage) == "1C"
    assert attribute_type(acquired, EncapsulatedPDFStorage) == "2"
    assert resolve_combined("X/Z/D", acquired, EncapsulatedPDFStorage) == "Z"


def test_unknown_attribute_or_iod_gives_the_last_code() -> None:
    detector = _tag("DetectorID")  # X/D, not in the shared modules
    assert attribute_type(detector, CTImageStorage) is None
    assert resolve_combined("X/D", detector, CTImageStorage) == "D"
    patient_id = _tag("PatientID")
    assert resolve_combined("Z/D", patient_id, None) == "D"
    assert resolve_combined("Z/D", patient_id, "1.2.3.4.5") == "D"  # private SOP class
    assert resolve_combined("X/Z/U*", _tag("ReferencedImageSequence"), None) == "U"


def test_plain_codes_are_unchanged() -> None:
    for code in ("X", "Z", "D", "K", "C", "U", "cleanTag"):
        assert resolve_combined(code, _tag("PatientID"), CTImageStorage) == code
