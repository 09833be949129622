"""A corpus of malformed and hostile inputs, built by byte-level mutation.

Each :class:`HostileCase` is one file that a batch run must either reject
with an error row naming the problem (and quarantine) or turn into a correct
de-identified output; the job must finish whatever the file holds.

Files are built from a small synthetic image written element by element
(so lengths, VRs and delimiters can be broken exactly where wanted) and from
pydicom's bundled test files with their patient values replaced. Every file
carries the invented values in :data:`PLANTED_PHI`, so a test can check that
no error message, manifest cell, log line or output contains them.
"""

from __future__ import annotations

import gzip
import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from tests.factories import SyntheticPatient, build_study, dataset_bytes

# Invented values, planted in every file that has room for them.
PATIENT_NAME = "Quaxley^Zorbina"
PATIENT_ID = "QZX884211"
INSTITUTION = "Vorplexham Infirmary"
PLANTED_PHI = ("Quaxley", "Zorbina", PATIENT_ID, "Vorplexham")

SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_ITEM = b"\xfe\xff\x00\xe0"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_PIXEL_TAG = b"\xe0\x7f\x10\x00"

# What error messages must say, by problem (case-insensitive regexes).
NOT_DICOM = r"not a DICOM|empty file"
TRUNCATED = r"truncat|beyond the end|past the end|shorter than"
TRANSFER_SYNTAX = r"transfer syntax"
PIXELS = r"pixel"
SEQUENCE = r"sequence|truncat|delimit|item"
NESTING = r"nested|truncat"
ENCAPSULATED = r"encapsulated|fragment|pixel data|frame"
DIMENSION = r"zero dimension|Rows|Columns"
BITS = r"BitsAllocated|BitsStored|bits"
FRAMES = r"NumberOfFrames|frames|\(0028,0008\)"


@dataclass(frozen=True)
class HostileCase:
    """One hostile file and what a batch run must make of it.

    ``full`` / ``metadata``: the outcome under the full pixel pipeline and
    under the metadata-only one: ``"error"``, ``"ok"`` or ``"either"``.
    ``problem``: a regex (case-insensitive) every error message for this file
    must match, naming what is wrong with it.
    """

    name: str
    data: bytes
    full: str
    metadata: str
    problem: str
    description: str

    @property
    def path_name(self) -> str:
        return f"{self.name}.dcm"


# --------------------------------------------------------------------------
# Element-level encoding (explicit VR little endian unless said otherwise)


def _text(value: str | bytes, pad: bytes = b" ") -> bytes:
    raw = value.encode("ascii") if isinstance(value, str) else value
    return raw + pad * (len(raw) % 2)


def _uid(value: str) -> bytes:
    return _text(value, b"\x00")


def _tag(tag: int) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF)


def element(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """One explicit VR little endian element; ``length`` overrides the true length."""
    size = len(value) if length is None else length
    if vr in _LONG_VRS:
        return _tag(tag) + vr + b"\x00\x00" + struct.pack("<I", size) + value
    return _tag(tag) + vr + struct.pack("<H", size) + value


def implicit_element(tag: int, value: bytes) -> bytes:
    return _tag(tag) + struct.pack("<I", len(value)) + value


def file_meta(transfer_syntax: str | None, sop_uid: str = "2.25.4242") -> bytes:
    """Group 0002 with its group length; ``None`` leaves the transfer syntax out."""
    body = element(0x00020001, b"OB", b"\x00\x01")
    body += element(0x00020002, b"UI", _uid(SC_CLASS))
    body += element(0x00020003, b"UI", _uid(sop_uid))
    if transfer_syntax is not None:
        body += element(0x00020010, b"UI", _uid(transfer_syntax))
    body += element(0x00020012, b"UI", _uid("2.25.1234567"))
    return element(0x00020000, b"UL", struct.pack("<I", len(body))) + body


def part10(dataset: bytes, transfer_syntax: str | None = EXPLICIT_LE, *,
           preamble: bool = True, meta: bool = True) -> bytes:
    head = b"\x00" * 128 + b"DICM" if preamble else b""
    return head + (file_meta(transfer_syntax) if meta else b"") + dataset


def _pixels(rows: int, columns: int, frames: int = 1, bits: int = 16) -> bytes:
    ramp = (np.arange(rows * columns * frames) % 251).astype(np.uint16 if bits == 16 else np.uint8)
    return ramp.tobytes()


def image_elements(
    *,
    rows: int = 16,
    columns: int = 16,
    bits: int = 16,
    samples: int = 1,
    photometric: str = "MONOCHROME2",
    frames: str | None = None,
    pixels: bytes | None = None,
    charset: bytes | None = None,
    name: bytes | None = None,
) -> dict[int, tuple[bytes, bytes]]:
    """A small secondary-capture image as tag -> (VR, value bytes), planted PHI included."""
    elements: dict[int, tuple[bytes, bytes]] = {
        0x00080016: (b"UI", _uid(SC_CLASS)),
        0x00080018: (b"UI", _uid("2.25.4242")),
        0x00080020: (b"DA", b"20190412"),
        0x00080060: (b"CS", _text("OT")),
        0x00080080: (b"LO", _text(INSTITUTION)),
        0x00100010: (b"PN", _text(name if name is not None else PATIENT_NAME)),
        0x00100020: (b"LO", _text(PATIENT_ID)),
        0x00100030: (b"DA", b"19711103"),
        0x0020000D: (b"UI", _uid("2.25.5151")),
        0x0020000E: (b"UI", _uid("2.25.6161")),
        0x00280002: (b"US", struct.pack("<H", samples)),
        0x00280004: (b"CS", _text(photometric)),
        0x00280010: (b"US", struct.pack("<H", rows)),
        0x00280011: (b"US", struct.pack("<H", columns)),
        0x00280100: (b"US", struct.pack("<H", bits)),
        0x00280101: (b"US", struct.pack("<H", bits)),
        0x00280102: (b"US", struct.pack("<H", max(bits - 1, 0))),
        0x00280103: (b"US", struct.pack("<H", 0)),
    }
    if charset is not None:
        elements[0x00080005] = (b"CS", _text(charset))
    if frames is not None:
        elements[0x00280008] = (b"IS", _text(frames))
    if samples > 1:
        elements[0x00280006] = (b"US", struct.pack("<H", 0))
    count = int(frames) if frames and frames.isdigit() and int(frames) < 100 else 1
    data = pixels if pixels is not None else _pixels(rows, columns, count, 16 if bits > 8 else 8)
    elements[0x7FE00010] = (b"OW" if bits > 8 else b"OB", _text(data, b"\x00"))
    return elements


def encode(elements: dict[int, tuple[bytes, bytes]], *, implicit: bool = False) -> bytes:
    """Elements in tag order, explicit (or implicit) VR little endian."""
    out = b""
    for tag in sorted(elements):
        vr, value = elements[tag]
        out += implicit_element(tag, value) if implicit else element(tag, vr, value)
    return out


def image(**kwargs: object) -> bytes:
    """The synthetic image as a Part 10 explicit VR little endian file."""
    return part10(encode(image_elements(**kwargs)))  # type: ignore[arg-type]


def with_inserted(elements: dict[int, tuple[bytes, bytes]], before: int, raw: bytes) -> bytes:
    """The dataset encoded with ``raw`` bytes spliced in before element ``before``."""
    out = b""
    for tag in sorted(elements):
        if tag == before:
            out += raw
        vr, value = elements[tag]
        out += element(tag, vr, value)
    return out


def _header_only(**kwargs: object) -> dict[int, tuple[bytes, bytes]]:
    elements = image_elements(**kwargs)  # type: ignore[arg-type]
    del elements[0x7FE00010]
    return elements


# --------------------------------------------------------------------------
# Real files with the patient values replaced


def _planted(ds: Dataset) -> Dataset:
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.InstitutionName = INSTITUTION
    return ds


def real_file(name: str) -> bytes:
    """A pydicom test file, planted PHI in place of its own patient values."""
    path = get_testdata_file(name)
    assert path is not None, name
    ds = pydicom.dcmread(path)
    return dataset_bytes(_planted(ds))


def synthetic_study_file() -> bytes:
    """One instance of a :func:`tests.factories.build_study` study, planted PHI set."""
    ds = build_study(SyntheticPatient.from_seed(4711), seed=4711, n_series=1, n_instances=1,
                     transfer_syntax=ExplicitVRLittleEndian, image_size=16)[0]
    return dataset_bytes(_planted(ds))


def _dicomdir() -> bytes:
    """pydicom's test DICOMDIR with the planted values in its patient records."""
    path = get_testdata_file("DICOMDIR")
    assert path is not None
    ds = pydicom.dcmread(path)
    for record in ds.DirectoryRecordSequence:
        if "PatientName" in record:
            record.PatientName = PATIENT_NAME
            record.PatientID = PATIENT_ID
    return dataset_bytes(ds)


def _pixel_offset(data: bytes) -> int:
    """Where the (7FE0,0010) element starts (its last occurrence)."""
    offset = data.rfind(_PIXEL_TAG)
    assert offset > 0
    return offset


def _fragments(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Offset of encapsulated Pixel Data's first item and (offset, length) of every item."""
    start = _pixel_offset(data) + 12  # tag, VR, reserved, 0xFFFFFFFF
    items: list[tuple[int, int]] = []
    at = start
    while data[at:at + 4] == _ITEM:
        length = struct.unpack("<I", data[at + 4:at + 8])[0]
        items.append((at, length))
        at += 8 + length
    return start, items


def _rewrite_items(data: bytes, items: list[bytes], *, delimiter: bool = True) -> bytes:
    """Encapsulated Pixel Data of ``data`` replaced by ``items`` (raw, already framed)."""
    start, _ = _fragments(data)
    return data[:start] + b"".join(items) + (_SEQ_END if delimiter else b"")


def _item(value: bytes, length: int | None = None) -> bytes:
    return _ITEM + struct.pack("<I", len(value) if length is None else length) + value


# --------------------------------------------------------------------------
# The corpus


def _nested_sequences(depth: int) -> bytes:
    """``depth`` sequences nested inside each other, undefined lengths, all closed."""
    inner = element(0x00100010, b"PN", _text(PATIENT_NAME))
    for _ in range(depth):
        item = _ITEM + b"\xff\xff\xff\xff" + inner + _ITEM_END
        inner = element(0x00400275, b"SQ", b"", length=0xFFFFFFFF) + item + _SEQ_END
    return inner


def hostile_cases() -> list[HostileCase]:
    """Every case, built in memory (:func:`hostile_corpus` writes them to a folder)."""
    ct = real_file("CT_small.dcm")
    j2k = real_file("JPEG2000.dcm")
    rle = real_file("emri_small_RLE.dcm")
    header = _header_only()
    cases: list[HostileCase] = []

    def add(name: str, data: bytes, full: str, metadata: str, problem: str, text: str) -> None:
        cases.append(HostileCase(name, data, full, metadata, problem, text))

    # -- not DICOM at all ---------------------------------------------------
    add("empty", b"", "error", "error", NOT_DICOM, "zero-byte file")
    add("one_byte", b"\x08", "error", "error", NOT_DICOM, "a single byte")
    add("preamble_only", b"\x00" * 128 + b"DICM", "error", "error", NOT_DICOM + "|truncat|no data",
        "preamble and DICM magic, nothing after")
    rng = np.random.default_rng(7)
    add("dicm_then_garbage", b"\x00" * 128 + b"DICM" + rng.bytes(600), "error", "error",
        NOT_DICOM + "|truncat|file meta|unreadable|malformed", "DICM magic then random bytes")
    add("text_file", f"Patient: {PATIENT_NAME}, id {PATIENT_ID}\n".encode() * 20,
        "error", "error", NOT_DICOM, "a text file named .dcm")
    add("pdf_renamed", b"%PDF-1.4\n1 0 obj\n<< /Title (" + PATIENT_NAME.encode()
        + b") >>\nendobj\ntrailer\n%%EOF\n", "error", "error", NOT_DICOM, "a PDF named .dcm")
    add("png_renamed", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + rng.bytes(300),
        "error", "error", NOT_DICOM, "a PNG named .dcm")
    add("gzip_file", gzip.compress(ct), "error", "error", NOT_DICOM, "a gzipped DICOM file")
    add("dicomdir", _dicomdir(), "either", "either", NOT_DICOM + "|director",
        "a DICOMDIR media directory, planted names in its patient records")

    # -- truncation and declared lengths ------------------------------------
    add("truncated_header", ct[:300], "error", "error", TRUNCATED,
        "a real CT cut inside its header")
    add("truncated_private_group", ct[:3000], "error", "error", TRUNCATED + "|" + PIXELS,
        "a real CT cut inside its private group: the rest reads as an image without pixels")
    add("truncated_pixels", ct[: _pixel_offset(ct) + 12 + 1000], "error", "error", TRUNCATED,
        "a real CT cut inside its Pixel Data")
    add("length_beyond_eof",
        part10(with_inserted(header, 0x00100010, element(0x00081030, b"LO", b"AB", 0xF000))),
        "error", "error", TRUNCATED, "a short-VR element declaring more bytes than remain")
    huge_pixels = dict(header)
    add("huge_pixel_length",
        part10(encode(huge_pixels) + element(0x7FE00010, b"OW", _pixels(16, 16), 0x7FFFFFF0)),
        "error", "error", TRUNCATED, "Pixel Data declaring 2 GiB in a small file")
    add("length_fffffffe",
        part10(with_inserted(header, 0x00100010,
                             element(0x00091010, b"OB", b"\x00" * 64, 0xFFFFFFFE))),
        "error", "error", TRUNCATED + "|length", "an OB element of length 0xFFFFFFFE")
    odd = image_elements()
    odd[0x00100020] = (b"LO", PATIENT_ID.encode())  # 9 bytes, no padding
    add("odd_length_value", part10(encode(odd)), "ok", "ok", "", "a value of odd length")

    # -- file meta, preamble, transfer syntax -------------------------------
    add("no_meta_no_preamble", encode(image_elements(), implicit=True), "ok", "ok", "",
        "a bare implicit VR dataset, no preamble, no file meta")
    add("meta_without_preamble", part10(encode(image_elements()), preamble=False),
        "either", "either", NOT_DICOM, "file meta but no preamble or DICM")
    add("missing_transfer_syntax", part10(encode(image_elements()), None), "either", "either",
        TRANSFER_SYNTAX, "file meta without (0002,0010)")
    add("explicit_declared_implicit_data",
        part10(encode(image_elements(), implicit=True), EXPLICIT_LE),
        "either", "either", TRANSFER_SYNTAX + "|VR", "explicit VR declared, implicit VR data")
    add("implicit_declared_explicit_data", part10(encode(image_elements()), IMPLICIT_LE),
        "either", "either", TRANSFER_SYNTAX + "|VR", "implicit VR declared, explicit VR data")
    add("unknown_transfer_syntax", part10(encode(image_elements()), "1.2.3.4.5.6.7"),
        "error", "error", TRANSFER_SYNTAX, "an unknown transfer syntax UID")
    add("big_endian_declared", part10(encode(image_elements()), EXPLICIT_BE),
        "error", "error", TRANSFER_SYNTAX + "|truncat|byte order|endian",
        "explicit big endian declared for little endian data")
    add("deflate_not_deflated", part10(encode(image_elements()), DEFLATED),
        "error", "error", TRANSFER_SYNTAX + "|deflat", "deflate declared, data not deflated")
    deflated = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw_deflate = deflated.compress(encode(image_elements())) + deflated.flush()
    add("deflate_cut", part10(raw_deflate[: len(raw_deflate) // 2], DEFLATED),
        "error", "error", TRANSFER_SYNTAX + "|deflat|truncat", "deflated data cut in half")

    # -- VRs ------------------------------------------------------------------
    add("invalid_vr_zz", part10(with_inserted(header, 0x00100010,
                                              element(0x00081030, b"ZZ", _text("ABCD")))),
        "either", "either", r"VR|unreadable|malformed", "an element with VR bytes 'ZZ'")
    private = image_elements()
    private[0x00110010] = (b"LO", _text("QZ CORP"))
    bogus = (_ITEM + b"\xff\xff\xff\xff" + element(0x00100010, b"PN", _text(PATIENT_NAME))
             + b"\xfe\xff\x0d\xe0\x10\x00\x00\x00" + b"\xff" * 30)
    private[0x00111001] = (b"UN", _text(bogus, b"\x00"))
    add("private_un_bogus_sequence", part10(encode(private)), "either", "either",
        SEQUENCE + "|private", "private UN element holding a broken nested sequence")

    # -- sequences ----------------------------------------------------------
    unclosed = element(0x00081140, b"SQ", b"", 0xFFFFFFFF) + _ITEM + b"\xff\xff\xff\xff" + \
        element(0x00081150, b"UI", _uid("1.2.3")) + _ITEM_END
    add("sequence_never_closed", part10(encode(_header_only()) + unclosed), "error", "error",
        SEQUENCE, "undefined-length sequence with no delimiter before the end of file")
    no_item_end = element(0x00081140, b"SQ", b"", 0xFFFFFFFF) + _ITEM + b"\xff\xff\xff\xff" + \
        element(0x00081150, b"UI", _uid("1.2.3")) + _SEQ_END
    add("item_delimiter_missing", part10(with_inserted(header, 0x00100010, no_item_end)),
        "either", "either", SEQUENCE, "undefined-length item closed by a sequence delimiter")
    add("nested_40_deep",  # an image must keep its pixels to be ok
        part10(with_inserted(image_elements(), 0x00100010, _nested_sequences(40))),
        "ok", "ok", "", "sequences nested 40 deep (deep but legal)")
    add("nested_100_deep", part10(with_inserted(header, 0x00100010, _nested_sequences(100))),
        "error", "error", NESTING, "sequences nested 100 deep")
    add("nested_200_deep", part10(with_inserted(header, 0x00100010, _nested_sequences(200))),
        "error", "error", NESTING, "sequences nested 200 deep")
    add("nested_2000_deep", part10(with_inserted(header, 0x00100010, _nested_sequences(2000))),
        "error", "error", NESTING, "sequences nested 2000 deep")

    # -- encapsulated pixel data -------------------------------------------
    start, items = _fragments(j2k)
    frags = [j2k[at:at + 8 + length] for at, length in items]
    add("encaps_no_sequence_delimiter", j2k[: -len(_SEQ_END)], "either", "either",
        ENCAPSULATED + "|truncat|sequence", "encapsulated Pixel Data without its delimiter")
    bad_tag = frags[0] + b"\xfe\xff\x00\xee" + frags[1][4:] + b"".join(frags[2:])
    add("encaps_bad_item_tag", _rewrite_items(j2k, [bad_tag]), "error", "either",
        ENCAPSULATED + "|item|truncat", "a fragment with a wrong item tag")
    past = frags[0] + _ITEM + struct.pack("<I", len(frags[1]) + 5000) + frags[1][8:]
    add("encaps_fragment_past_end", _rewrite_items(j2k, [past], delimiter=False),
        "error", "error", ENCAPSULATED + "|truncat", "a fragment longer than the file")
    add("encaps_empty_fragments", _rewrite_items(j2k, [frags[0], _item(b""), _item(b"")]),
        "error", "either", ENCAPSULATED, "encapsulated Pixel Data with empty fragments only")
    bot = _item(struct.pack("<I", 0x00FFFF00))
    # a table that does not fit the items is not trusted (dicom/encapsulation.py): the one
    # frame is all the fragments, so the file may be read; refusing it is fine too
    add("encaps_bot_past_end", _rewrite_items(j2k, [bot, *frags[1:]]), "either", "either",
        ENCAPSULATED + "|offset", "Basic Offset Table pointing past the end")
    rle_start, rle_items = _fragments(rle)
    first = rle_items[1]
    garbage = _item(b"\x01" + b"\x00" * 63 + b"\x7f" * 200)
    add("rle_bad_segment_header",
        rle[:first[0]] + garbage + rle[first[0] + 8 + first[1]:],
        "error", "either", ENCAPSULATED, "an RLE frame whose header is garbage")

    # -- image pixel module -------------------------------------------------
    add("native_pixels_short", image(pixels=_pixels(4, 16)), "error", "either",
        PIXELS, "native Pixel Data shorter than Rows x Columns")
    add("rows_zero", image(rows=0), "error", "either", DIMENSION, "Rows = 0")
    add("columns_zero", image(columns=0), "error", "either", DIMENSION, "Columns = 0")
    add("bits_allocated_0", image(bits=0, pixels=_pixels(16, 16)), "error", "either", BITS,
        "BitsAllocated = 0")
    add("bits_allocated_7", image(bits=7, pixels=_pixels(16, 16, bits=8)), "error", "either",
        BITS, "BitsAllocated = 7")
    add("samples_per_pixel_5", image(samples=5, photometric="RGB"), "error", "either",
        r"SamplesPerPixel|samples|pixel", "SamplesPerPixel = 5")
    add("frames_abc", image(frames="abc"), "error", "either", FRAMES, "NumberOfFrames 'abc'")
    add("frames_negative", image(frames="-3"), "either", "either", FRAMES,
        "NumberOfFrames -3 (read as one frame)")
    add("frames_more_than_data", image(frames="40", pixels=_pixels(16, 16)), "error", "either",
        PIXELS, "NumberOfFrames 40 with one frame of data")
    add("frames_huge", image(frames="1000000000"), "error", "either", FRAMES + "|" + PIXELS,
        "NumberOfFrames 1e9 with one frame of data")
    add("photometric_unknown", image(photometric="QUUXCOLOR"), "error", "either",
        r"PhotometricInterpretation|photometric|pixel", "an unknown PhotometricInterpretation")

    # -- character sets -----------------------------------------------------
    jis = b"Quaxley^Zorbina=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B"
    add("charset_iso2022_jis", image(charset=b"\\ISO 2022 IR 87", name=jis), "ok", "ok", "",
        "ISO 2022 IR 87 with escape sequences in PatientName")
    add("charset_unknown", image(charset=b"ISO_IR 999", name=b"Quaxley^Zorbina\xe9"),
        "either", "either", r"character set|charset", "an unknown SpecificCharacterSet")
    add("charset_gb18030", image(charset=b"GB18030", name="Quaxley^Zorbina=张^伟".encode(
        "gb18030")), "ok", "ok", "", "GB18030 PatientName")
    add("charset_utf8_bad_bytes", image(charset=b"ISO_IR 192",
                                        name=b"Quaxley^Zorbina\xc3\x28\xff\xfe"),
        "either", "either", r"character set|charset|decode", "UTF-8 declared, invalid bytes")
    add("charset_mixed_latin_escapes", image(charset=b"ISO 2022 IR 100\\ISO 2022 IR 87",
                                             name=b"Quaxley^Zorbina\x1b$B\xff\xff\x1b(B"),
        "either", "either", r"character set|charset|decode",
        "ISO 2022 with a broken escape sequence and bytes invalid in the set")

    # -- a whole synthetic study file, mutated ------------------------------
    study = synthetic_study_file()
    add("study_pixels_cut_in_half", study[: (_pixel_offset(study) + len(study)) // 2],
        "error", "error", TRUNCATED, "a factory study file cut in its Pixel Data")
    return cases


def hostile_corpus(folder: str | Path) -> list[HostileCase]:
    """Write every case to ``folder`` as ``<name>.dcm``; return the cases."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    cases = hostile_cases()
    assert len({c.name for c in cases}) == len(cases)
    for case in cases:
        (root / case.path_name).write_bytes(case.data)
    return cases


def phi_in(data: bytes | str) -> list[str]:
    """Planted values found in ``data`` (bytes as latin-1, any case)."""
    text = data.decode("latin-1") if isinstance(data, bytes) else data
    folded = text.casefold()
    return [value for value in PLANTED_PHI if value.casefold() in folded]


def dataset_text(data: bytes) -> str:
    """Every string value pydicom can read back from an output file, joined."""
    ds = pydicom.dcmread(io.BytesIO(data))
    parts = []
    for elem in ds.iterall():
        try:
            parts.append(str(elem.value))
        except Exception:  # noqa: BLE001 - a value that does not convert holds no text
            continue
    return " ".join(parts)
