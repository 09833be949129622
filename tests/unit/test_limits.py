"""Per-file resource limits: pure checks on sizes and declared headers, no Spark."""

from __future__ import annotations

import pickle

import pytest
from pydicom import Dataset
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from sparkdeid.dicom.limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODED_PIXELS,
    DEFAULT_MAX_FRAMES,
    FileLimits,
    check_file_size,
    check_header,
    declared_size,
)
from sparkdeid.errors import ResourceLimitError, SparkDeidError
from sparkdeid.stages.rows import safe_message, source_bytes


def _header(rows=4096, columns=4096, frames=100_000, samples=1, bits=16, pixels=True):
    ds = Dataset()
    ds.PatientName = "Zorblatt^Quimby"  # must never reach a message
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated = rows, columns, samples, bits
    ds.NumberOfFrames = frames
    if pixels:
        ds.PixelData = b"\0" * 8
    return ds


def test_defaults_are_documented_values():
    limits = FileLimits()
    assert (limits.max_bytes, limits.max_frames, limits.max_decoded_pixels) == (
        DEFAULT_MAX_BYTES, DEFAULT_MAX_FRAMES, DEFAULT_MAX_DECODED_PIXELS)
    assert DEFAULT_MAX_BYTES == 1 << 30 and DEFAULT_MAX_DECODED_PIXELS == 1 << 31
    with pytest.raises(ValueError):
        FileLimits(max_frames=-1)


def test_error_is_ours_and_a_value_error_and_survives_pickling():
    with pytest.raises(ResourceLimitError) as info:
        check_file_size(2049, FileLimits(max_bytes=2048))
    error = info.value
    assert isinstance(error, SparkDeidError) and isinstance(error, ValueError)
    assert error.limit == "maxFileBytes"
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.limit == "maxFileBytes"
    assert safe_message(error) == str(error)  # reaches the error column as written


def test_file_size_message_names_limit_and_numbers():
    with pytest.raises(ResourceLimitError, match=r"2049 bytes.*maxFileBytes = 2048"):
        check_file_size(2049, FileLimits(max_bytes=2048))
    check_file_size(2048, FileLimits(max_bytes=2048))  # at the limit passes
    check_file_size(10**12, FileLimits(max_bytes=0))  # 0 = no limit
    check_file_size(None, FileLimits(max_bytes=1))  # unknown size: checked after reading


def test_declared_size_from_header_only():
    size = declared_size(_header(rows=10, columns=20, frames=3, samples=3, bits=16))
    assert size is not None
    assert (size.frame_pixels, size.pixels, size.decoded_bytes) == (600, 1800, 3600)
    assert declared_size(_header(bits=1)).bytes_per_sample == 1
    assert declared_size(_header(bits=32)).bytes_per_sample == 4
    no_image = Dataset()
    no_image.PatientName = "Zorblatt^Quimby"
    assert declared_size(no_image) is None
    check_header(no_image, FileLimits(max_frames=1, max_decoded_pixels=1))


def test_header_read_without_pixels_is_still_checked():
    ds = _header(pixels=False)  # as FrameSource parses a big file's header
    with pytest.raises(ResourceLimitError):
        check_header(ds, FileLimits())


def test_oversized_declared_frames_and_pixels():
    ds = _header()  # 100000 frames of 4096 x 4096: ~1.7e12 pixel values, 8 bytes of data
    with pytest.raises(ResourceLimitError) as info:
        check_header(ds, FileLimits())
    message = str(info.value)
    assert info.value.limit == "maxDecodedPixels"
    assert "100000 frame(s) of 4096 x 4096 x 1" in message and "TiB decoded" in message
    assert str(DEFAULT_MAX_DECODED_PIXELS) in message
    assert "zorblatt" not in message.lower() and "quimby" not in message.lower()
    with pytest.raises(ResourceLimitError, match=r"100000 frames.*maxFrames = 50000") as info:
        check_header(ds, FileLimits(max_frames=50_000))
    assert info.value.limit == "maxFrames"
    check_header(ds, FileLimits(max_frames=0, max_decoded_pixels=0))  # both off


def test_per_frame_mode_checks_one_frame():
    cine = _header(rows=512, columns=512, frames=20_000)  # 5.2e9 values in all, 262144 a frame
    with pytest.raises(ResourceLimitError):
        check_header(cine, FileLimits())
    check_header(cine, FileLimits(), per_frame=True)  # the streamed route holds one frame
    huge_frame = _header(rows=65_535, columns=65_535, frames=1, samples=3)
    with pytest.raises(ResourceLimitError, match="one frame of 65535 x 65535 x 3"):
        check_header(huge_frame, FileLimits(), per_frame=True)


def test_unreadable_header_values_do_not_hide_or_crash():
    ds = _header(rows=10, columns=10, frames=1)
    # as read from a file: the decoder reports it as bad DICOM, not this check
    ds[0x00280008] = RawDataElement(Tag(0x00280008), "IS", 2, b"1A", 0, True, True)
    check_header(ds, FileLimits(max_frames=1))
    ds = _header(rows=0, columns=10, frames=1)
    assert declared_size(ds) is None


def test_source_bytes_refuses_a_path_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "Zorblatt_Quimby" / "big.dcm"
    path.parent.mkdir()
    path.write_bytes(b"\0" * 4096)
    assert source_bytes(str(path), 4096) == b"\0" * 4096

    def no_read(_path: str) -> bytes:
        raise AssertionError("an oversized file must not be read")

    monkeypatch.setattr("sparkdeid.stages.rows.read_bytes", no_read)
    with pytest.raises(ResourceLimitError) as info:
        source_bytes(str(path), 4095)
    assert "zorblatt" not in str(info.value).lower()
    with pytest.raises(ResourceLimitError):
        source_bytes(b"\0" * 4096, 4095)
    assert source_bytes(b"\0" * 10, 0) == b"\0" * 10
