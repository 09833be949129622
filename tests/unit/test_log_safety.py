"""Library log records and warnings never carry element values or py4j payloads."""

from __future__ import annotations

import logging
import warnings

from pydicom import Dataset
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

import sparkdeid  # noqa: F401  (installs the guards)
from sparkdeid.log_safety import WITHHELD, WithholdPayloads, WithholdQuotedValues


def test_pydicom_invalid_value_is_withheld_from_logs_and_warnings(caplog):
    ds = Dataset()
    ds[0x00200013] = RawDataElement(Tag(0x00200013), "IS", 8, b"Zorblatt", 0, True, True)
    with caplog.at_level(logging.DEBUG), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        sparkdeid.log_safety.install_library_guards()  # catch_warnings reset the filters
        ds.get("InstanceNumber")
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "Invalid value for VR IS" in text and WITHHELD in text
    assert "zorblatt" not in text.lower()
    assert not [w for w in caught if "zorblatt" in str(w.message).lower()]


def test_quoted_values_withheld_whatever_the_quotes():
    record = logging.LogRecord("pydicom", logging.WARNING, __file__, 1,
                               "Unable to convert %r to 'DA' object, %s", ("Zorblatt", 'b"x"'),
                               None)
    assert WithholdQuotedValues().filter(record)
    assert record.getMessage() == f"Unable to convert {WITHHELD} to {WITHHELD} object, {WITHHELD}"


def test_py4j_payloads_withheld():
    record = logging.LogRecord("py4j.clientserver", logging.DEBUG, __file__, 1,
                               "Command to send: c\nz:o\nsecretpayload\ne\n", None,
                               None)
    assert WithholdPayloads().filter(record)
    assert "secretpayload" not in record.getMessage()
    assert record.getMessage().startswith("Command to send: " + WITHHELD)
    assert logging.getLogger("py4j.clientserver").filters  # installed at import
