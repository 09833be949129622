"""The hostile corpus through the codec and frame decoder, without Spark.

Every file the batch acceptance (tests/spark/test_hostile_inputs.py) expects
to fail must fail here already with a :class:`DicomDecodeError` naming the
problem, and no file may raise anything else (no RecursionError,
MemoryError, zlib or pydicom exception escaping as "internal error").
"""

from __future__ import annotations

import re

import pytest

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.frames import decode_frame, pixel_info
from sparkdeid.errors import DicomDecodeError
from tests.hostile_factory import HostileCase, hostile_cases, phi_in

CASES = hostile_cases()


def _decode_first_frame(case: HostileCase) -> None:
    ds = read_dataset(case.data)
    info = pixel_info(ds)
    if info is not None:
        decode_frame(ds, 0, info=info)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_reading_fails_only_with_a_clear_decode_error(case: HostileCase) -> None:
    try:
        read_dataset(case.data)
    except DicomDecodeError as exc:
        assert case.metadata != "ok", str(exc)
        assert re.search(case.problem, str(exc), re.IGNORECASE), str(exc)
        assert not phi_in(str(exc))
        return
    assert case.metadata != "error" or case.full == "error"  # some fail only in later stages


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decoding_fails_only_with_a_clear_decode_error(case: HostileCase) -> None:
    try:
        _decode_first_frame(case)
    except DicomDecodeError as exc:
        assert case.full != "ok", str(exc)
        assert re.search(case.problem, str(exc), re.IGNORECASE), str(exc)
        assert not phi_in(str(exc))
        return
    assert case.full != "error"


def test_nesting_deeper_than_the_limit_is_refused_by_depth() -> None:
    deep = next(c for c in CASES if c.name == "nested_100_deep")
    with pytest.raises(DicomDecodeError, match="nested more than 64 deep"):
        read_dataset(deep.data)
