"""Codestream headers checked against the DICOM header before a codec (GDCM) sees them."""

from __future__ import annotations

import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.codestream import (
    JPEG_2000_SYNTAXES,
    JPEG_LS_SYNTAXES,
    JPEG_SYNTAXES,
    check_frame_codestream,
    read_frame_header,
    read_j2k_header,
    read_jpeg_header,
)
from sparkdeid.dicom.frames import PixelInfo, decode_frame, encoded_frame, pixel_info
from sparkdeid.errors import DicomDecodeError
from tests.factories import pydicom_pixel_files

ROOT = Path(__file__).resolve().parents[2]
CHECKED = JPEG_SYNTAXES | JPEG_LS_SYNTAXES | JPEG_2000_SYNTAXES


def _first_frame(name: str) -> tuple[PixelInfo, bytes]:
    with open(get_testdata_file(name), "rb") as handle:
        ds = read_dataset(handle.read())
    info = pixel_info(ds)
    assert info is not None
    return info, encoded_frame(ds, info, 0)


def _pydicom_decodes(path: str, index: int) -> bool:
    """Whether pydicom itself decodes the frame (real files only: they do not abort GDCM)."""
    import pydicom
    from pydicom.pixels import pixel_array

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pixel_array(pydicom.dcmread(path), index=index)
        return True
    except Exception:
        return False


def test_every_real_compressed_frame_passes() -> None:
    """pydicom's (and pydicom-data's, when installed) JPEG, JPEG-LS and J2K files all pass.

    A frame the check refuses must be one that pydicom cannot decode either
    (``JPEG2000-embedded-sequence-delimiter.dcm``: the frame split is broken).
    """
    checked, refused = 0, []
    for path in pydicom_pixel_files():
        with open(path, "rb") as handle:
            try:
                ds = read_dataset(handle.read())
                info = pixel_info(ds)
            except DicomDecodeError:
                continue
        if info is None or info.transfer_syntax not in CHECKED:
            continue
        for index in range(info.num_frames):
            try:
                frame = encoded_frame(ds, info, index)
            except DicomDecodeError:
                continue
            checked += 1
            try:
                check_frame_codestream(info, frame)
            except DicomDecodeError as exc:
                refused.append((Path(path).name, index, str(exc)))
    assert checked >= 40
    wrongly = [r for r in refused if _pydicom_decodes(
        next(p for p in pydicom_pixel_files() if Path(p).name == r[0]), r[1])]
    assert not wrongly
    assert len(refused) <= 1, refused


@pytest.mark.parametrize(
    ("name", "family", "geometry"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", "JPEG", (100, 100, 3, 8)),
        ("JPEG-lossy.dcm", "JPEG", (256, 1024, 1, 12)),
        ("JPEG-LL.dcm", "JPEG", (256, 1024, 1, 16)),
        ("JPEGLSNearLossless_08.dcm", "JPEG-LS", (10, 45, 1, 8)),
        ("SC_rgb_jls_lossy_line.dcm", "JPEG-LS", (100, 100, 3, 8)),
        ("MR2_J2KR.dcm", "JPEG 2000", (1024, 1024, 1, 12)),
        ("US1_J2KI.dcm", "JPEG 2000", (640, 480, 3, 8)),
    ],
)
def test_frame_header_is_read(name: str, family: str, geometry: tuple[int, ...]) -> None:
    info, frame = _first_frame(name)
    found = read_frame_header(info.transfer_syntax, frame)
    assert found is not None
    assert found.family == family
    assert (found.width, found.height, found.components, found.precision) == geometry


@pytest.mark.parametrize(
    ("name", "edit", "message"),
    [
        ("JPEGLSNearLossless_08.dcm", {"columns": 256},
         "JPEG-LS codestream is 10 x 45 x 1 sample(s) but the header says Columns 256"),
        ("JPEGLSNearLossless_08.dcm", {"rows": 44},
         "JPEG-LS codestream is 10 x 45 x 1 sample(s) but the header says Rows 44"),
        ("SC_rgb_jls_lossy_line.dcm", {"samples_per_pixel": 1, "photometric": "MONOCHROME2"},
         "but the header says SamplesPerPixel 1"),
        ("SC_rgb_jpeg_dcmtk.dcm", {"columns": 101, "rows": 99},
         "JPEG codestream is 100 x 100 x 3 sample(s) but the header says Columns 101, Rows 99"),
        ("SC_rgb_jpeg_dcmtk.dcm", {"bits_stored": 7},
         "JPEG codestream has 8-bit samples but the header says BitsStored 7"),
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", {"bits_stored": 5},
         "JPEG codestream has 8-bit samples but the header says BitsStored 5"),
        ("JPEG-LL.dcm", {"bits_allocated": 8, "bits_stored": 8},
         "JPEG codestream has 16-bit samples but the header says BitsAllocated 8"),
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", {"bits_allocated": 16, "bits_stored": 12},
         "JPEG codestream has 8-bit samples but the header says BitsStored 12"),
        ("JPEGLSNearLossless_16.dcm", {"bits_allocated": 8, "bits_stored": 8},
         "JPEG-LS codestream has 16-bit samples but the header says BitsAllocated 8"),
        ("MR2_J2KR.dcm", {"columns": 1023},
         "JPEG 2000 codestream is 1024 x 1024 x 1 sample(s) but the header says Columns 1023"),
        ("MR2_J2KR.dcm", {"samples_per_pixel": 3, "photometric": "RGB"},
         "but the header says SamplesPerPixel 3"),
        ("US1_J2KR.dcm", {"samples_per_pixel": 1, "photometric": "MONOCHROME2"},
         "JPEG 2000 codestream is 640 x 480 x 3 sample(s) but the header says SamplesPerPixel 1"),
    ],
)
def test_edited_header_is_refused(name: str, edit: dict, message: str) -> None:
    info, frame = _first_frame(name)
    check_frame_codestream(info, frame)  # the unedited file passes
    with pytest.raises(DicomDecodeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_frame_codestream(replace(info, **edit), frame)


def test_lenient_where_real_files_vary() -> None:
    # a stream more precise than Bits Stored (12-bit JPEG for 10-bit data)
    info, frame = _first_frame("JPEG-lossy.dcm")
    check_frame_codestream(replace(info, bits_stored=10), frame)
    # JPEG-LS and J2K decoders take the precision from the stream
    info, frame = _first_frame("MR_small_jpeg_ls_lossless.dcm")
    check_frame_codestream(replace(info, bits_stored=12), frame)
    info, frame = _first_frame("MR2_J2KR.dcm")
    check_frame_codestream(replace(info, bits_stored=16), frame)
    check_frame_codestream(replace(info, bits_stored=10), frame)
    # height 0 in a JPEG SOF: the height comes later in a DNL segment
    info, frame = _first_frame("SC_rgb_jpeg_dcmtk.dcm")
    at = frame.index(b"\xff\xc0") + 5
    check_frame_codestream(info, frame[:at] + b"\x00\x00" + frame[at + 2:])
    # RLE has no frame header to compare
    info, frame = _first_frame("OBXXXX1A_rle.dcm")
    check_frame_codestream(replace(info, columns=7), frame)


def _drop_segments(frame: bytes, marker: int, keep: int) -> bytes:
    """``frame`` without its ``marker`` segments after the first ``keep`` of them."""
    out, at, seen = bytearray(frame[:2]), 2, 0
    while frame[at + 1] != 0xDA:
        length = int.from_bytes(frame[at + 2:at + 4], "big")
        if frame[at + 1] != marker or (seen := seen + 1) <= keep:
            out += frame[at:at + 2 + length]
        at += 2 + length
    return bytes(out + frame[at:])


def _drop_last_dht(frame: bytes) -> bytes:
    return _drop_segments(frame, 0xC4, 3)


def _drop_dqts(frame: bytes) -> bytes:
    return _drop_segments(frame, 0xDB, 0)


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: b"\x00" + f, "does not start with an SOI"),
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: f[:2] + b"\xff\xda\x00\x04" + f[2:], "before its scan"),
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: f[:2] + b"\x12\x34" + f[2:], "not a marker"),
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: f[:f.index(b"\xff\xc0") + 6], "truncated"),
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: f[:f.index(b"\xff\xc0")], "no scan"),
        # bytes cut out of a Huffman table: libjpeg skips the rest, GDCM aborts (fuzz 8:781)
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: f[:290] + f[315:], "malformed DHT|not a marker"),
        ("SC_rgb_jpeg_dcmtk.dcm", _drop_last_dht, "Huffman table it does not define"),
        ("SC_rgb_jpeg_dcmtk.dcm", _drop_dqts, "quantisation table it does not define"),
        ("SC_rgb_jpeg_dcmtk.dcm", lambda f: f[:2] + b"\xff\xfe\x00\x00" + f[2:], "length 0"),
        ("JPEGLSNearLossless_08.dcm", lambda f: f.replace(b"\xff\xf7", b"\xff\xc3", 1),
         "JPEG-LS transfer syntax holds a JPEG codestream"),
        ("MR2_J2KR.dcm", lambda f: f[1:], "does not start with an SOC"),
        ("MR2_J2KR.dcm", lambda f: f[:2] + b"\xff\x52" + f[4:], "no SIZ"),
        ("MR2_J2KR.dcm", lambda f: f[:30], "SIZ segment is truncated"),
    ],
)
def test_unparsable_codestream_is_refused(name: str, damage, message: str) -> None:
    info, frame = _first_frame(name)
    with pytest.raises(DicomDecodeError, match=message):
        check_frame_codestream(info, damage(frame))


def test_fill_bytes_and_jp2_wrapper_are_read() -> None:
    info, frame = _first_frame("SC_rgb_jpeg_dcmtk.dcm")
    padded = frame[:2] + b"\xff\xff\xff" + frame[2:]  # fill bytes before a marker
    assert read_jpeg_header(padded).width == 100
    info, frame = _first_frame("MR2_J2KR.dcm")
    jp2 = (b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 "
           + (len(frame) + 8).to_bytes(4, "big") + b"jp2c" + frame)
    assert read_j2k_header(jp2).width == 1024


def test_every_frame_is_checked_in_the_decode_path(monkeypatch) -> None:
    """A mismatch planted in a later frame is refused there, before the codec."""
    import sparkdeid.dicom.frames as frames

    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")
    with open(path, "rb") as handle:
        ds = read_dataset(handle.read())
    info = pixel_info(ds)
    assert info is not None
    seen: list[int] = []
    real = frames.check_frame_codestream

    def spy(info: PixelInfo, frame: bytes) -> None:
        seen.append(len(frame))
        real(info, frame)

    monkeypatch.setattr(frames, "check_frame_codestream", spy)
    decode_frame(ds, 0, info=info)
    assert seen
    with pytest.raises(DicomDecodeError, match="header says Columns 99"):
        decode_frame(ds, 0, info=replace(info, columns=99))


_REPLAY = """
import sys
sys.path.insert(0, {root!r})
from tests import fuzz_harness as fh
case = fh.make_case({seed}, {index})
result = fh.run_case(fh.StageHarness(), case)
print("OUTCOME", result.outcomes.get("DicomToImage"))
print("FAILURES", result.failures)
"""


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("0:8271", "error: JPEG-LS codestream is 10 x 45 x 1 sample(s) but the header says "
                   "Columns 256"),
        ("0:9841", "error: JPEG codestream has 8-bit samples but the header says BitsStored 7"),
        # the fragment item claims more bytes than the value holds: refused before decoding
        ("8:781", "error: truncated DICOM: a Pixel Data fragment is shorter than its declared "
                  "length"),
    ],
)
def test_fuzz_reproducers_no_longer_abort(case: str, message: str) -> None:
    """The two cases that made GDCM abort the process now end in a DicomDecodeError."""
    seed, index = case.split(":")
    done = subprocess.run(
        [sys.executable, "-c", _REPLAY.format(root=str(ROOT), seed=seed, index=index)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert f"OUTCOME {message}" in done.stdout
    assert "FAILURES []" in done.stdout
