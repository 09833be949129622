"""Dates held in numbers: shifted as numbers of the same VR, or removed; never text.

GE writes (0009,xx27) "Image actual date" of GEMS_IDEN_01 as SL 20000101, and
other private elements hold epoch seconds. Shifting them as text made the
output unwritable ("could not write DICOM"). Every numeric VR is checked on
a GE block, and every date row of TCIA's private tag knowledge base on an
element of the VR that row names: the output is written, reads back, and
the value is shifted (a different valid value of the same VR) or gone.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from importlib import resources

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from sparkdeid.errors import StrategyError
from sparkdeid.metadata.engine import compiled_engine, deidentify_bytes
from sparkdeid.metadata.private_tags import KB_RESOURCE
from tests.factories import dataset_bytes, engine_config, private_element_image

SECRET = b"numeric-dates-test-secret"
GE = (0x0009, "GEMS_IDEN_01", 0x27)
DATE = 20000101
EPOCH = 946_728_000  # 2000-01-01 12:00 UTC


def _config():
    return engine_config("tcia", SECRET)


def _offset_days(ds: Dataset) -> int:
    engine = compiled_engine(_config())
    return engine.pseudonyms.offset("date-days", f"PatientID:{ds.PatientID}",
                                    engine._date_shift_max_days)


def _run(ds: Dataset) -> Dataset:
    out, _ = deidentify_bytes(dataset_bytes(ds), _config())
    return pydicom.dcmread(io.BytesIO(out))


def _ge_value(out: Dataset):
    block = out.private_block(GE[0], GE[1]) if 0x00090010 in out else None
    if block is None or block.get_tag(GE[2]) not in out:
        return None
    return out[block.get_tag(GE[2])]


@pytest.mark.parametrize("vr", ["SL", "UL", "SV", "UV", "FD"])
def test_a_yyyymmdd_date_in_a_numeric_vr_is_shifted_as_a_number(vr):
    value = float(DATE) if vr == "FD" else DATE
    ds = private_element_image(*GE, vr, value)
    days = _offset_days(ds)
    elem = _ge_value(_run(ds))
    assert elem is not None and elem.VR == vr
    expected = (dt.date(2000, 1, 1) + dt.timedelta(days=days)).strftime("%Y%m%d")
    assert elem.value == int(expected) and elem.value != DATE


@pytest.mark.parametrize("vr", ["SL", "UL", "SV", "UV", "FD"])
def test_epoch_seconds_in_a_numeric_vr_move_by_the_day_offset(vr):
    value = float(EPOCH) if vr == "FD" else EPOCH
    ds = private_element_image(*GE, vr, value)
    days = _offset_days(ds)
    elem = _ge_value(_run(ds))
    assert elem is not None and elem.VR == vr
    assert elem.value == EPOCH + days * 86400


@pytest.mark.parametrize("vr", ["US", "SS", "FL"])
def test_a_number_too_small_to_be_a_date_or_inexact_is_removed(vr):
    # US/SS cannot hold YYYYMMDD or epoch seconds: the meaning is unknown. FL
    # holds 20000101 only approximately: a shifted value would not be exact.
    value = {"US": 2000, "SS": 2000, "FL": float(DATE)}[vr]
    out = _run(private_element_image(*GE, vr, value))
    assert _ge_value(out) is None


def test_a_shift_row_on_a_number_that_is_no_date_removes_it():
    # US cannot hold a date: the value under a shift row has no known meaning
    rows = ("Tags,VR,Name,Status,Action,Option\n"
            "\"(0028, 0106)\",US,Smallest Image Pixel Value,,shiftDateByRandomNbOfDays,\n")
    ds = private_element_image(*GE, "SL", DATE)
    ds.add_new(0x00280106, "US", 7)
    out, _ = deidentify_bytes(dataset_bytes(ds), engine_config(rows, SECRET))
    assert pydicom.dcmread(io.BytesIO(out)).get("SmallestImagePixelValue") in (None, "")


def test_a_shift_row_on_a_decimal_string_is_refused_when_loaded():
    rows = ("Tags,VR,Name,Status,Action,Option\n"
            "\"(0018, 1242)\",IS,Actual Frame Duration,,shiftDateByRandomNbOfDays,\n")
    with pytest.raises(StrategyError, match="does not apply to VR 'IS'"):
        deidentify_bytes(dataset_bytes(private_element_image(*GE, "SL", DATE)),
                         engine_config(rows, SECRET))


# --------------------------------------------------------------------------- KB rows


def _date_rows() -> list[tuple[str, str, str]]:
    text = (resources.files("sparkdeid").joinpath("data").joinpath(KB_RESOURCE)
            .read_text(encoding="utf-8-sig"))
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        disposition = (record["private_disposition"] or "").strip().lower()
        if disposition in ("o", "oi"):
            rows.append((record["element_sig_pattern"], record["vr"].strip(), disposition))
    return sorted(set(rows))


_STEP = re.compile(r"\(\s*([0-9a-fA-F]{4})\s*,(.*?),?\s*([0-9a-fA-F]{2,4})\s*\)$")


def _steps(signature: str) -> list[tuple[int, str | None, int]]:
    steps = []
    for piece in re.split(r"\[<\d+>\]", signature):
        group, creator, element = _STEP.match(piece.strip()).groups()
        name = creator.strip().strip('"').strip() or None
        steps.append((int(group, 16), name, int(element, 16)))
    return steps


def _sample(vr: str, disposition: str):
    integer = disposition == "oi"
    return {
        "DA": "20000101", "DT": "20000101120000", "TM": "120000",
        "LO": str(EPOCH) if integer else "20000101120000",
        "SH": str(EPOCH) if integer else "20000101",
        "UN": b"20000101", "OB": b"20000101",
        "SL": DATE, "FD": float(EPOCH),
    }[vr]


def _place(ds: Dataset, steps, vr: str, value) -> tuple[Dataset, int]:
    """Build the path of nested sequences down to the element; return its parent and tag."""
    parent = ds
    for index, (group, creator, element) in enumerate(steps):
        last = index == len(steps) - 1
        if creator is not None:
            block = parent.private_block(group, creator, create=True)
            tag = block.get_tag(element)
        else:
            tag = (group << 16) | element
        if last:
            parent.add_new(tag, vr, value)
            return parent, tag
        item = Dataset()
        parent.add_new(tag, "SQ", Sequence([item]))
        parent = item
    raise AssertionError("empty path")


DATE_ROWS = _date_rows()


def test_the_kb_has_date_rows_of_numeric_and_binary_vrs():
    vrs = {vr for _, vr, _ in DATE_ROWS}
    assert {"SL", "FD", "OB", "UN", "DA", "DT", "LO", "SH"} <= vrs


@pytest.mark.parametrize(("signature", "vr", "disposition"), DATE_ROWS,
                         ids=[f"{s[:50]}-{v}" for s, v, _ in DATE_ROWS])
def test_every_kb_date_row_is_written_and_shifted_or_removed(signature, vr, disposition):
    ds = private_element_image(0x0011, "SPARKDEID TEST", 0x01, "LO", "x")
    del ds[0x00110010], ds[0x00111001]
    value = _sample(vr, disposition)
    _place(ds, _steps(signature), vr, value)
    out, _ = deidentify_bytes(dataset_bytes(ds), _config())
    again = pydicom.dcmread(io.BytesIO(out))
    found = [elem for elem in again.iterall()
             if elem.VR == vr and elem.value not in (None, "", b"")
             and (elem.tag >> 16, elem.tag & 0xFF) == (_steps(signature)[-1][0],
                                                      _steps(signature)[-1][2] & 0xFF)]
    for elem in found:  # any survivor is a shifted value of the same VR
        assert elem.value != value
        if isinstance(value, (int, float)):
            assert isinstance(elem.value, (int, float))
