"""Fuzzing the per-file work of the stages on mutated real DICOM files.

The harness drives the *real* per-batch functions the stages hand to Spark,
without Spark: each stage's ``_transform`` is called once on a stand-in
DataFrame that records the function given to ``mapInPandas`` /
``applyInPandas``; every case then feeds a one-row pandas batch through it,
so the per-row error handling under test is exactly the stages' own.

Per case, on one mutated file:

* metadata path: DicomToMetadata (with the NER document and header terms),
  then DicomMetadataDeidentifier with the ``tcia`` or ``basic`` profile;
* pixel path (a share of the cases, small seeds only): DicomToImage (frames,
  frame reuse, overlays), DicomDrawRegions with a box on the first frame and
  on every overlay plane (so masked frames are re-encoded), then the
  de-identifier on the masked file.

An *escape* is what the stages' per-row handling would not turn into an
error row: an exception out of a batch function, a RecursionError even when
caught (it can take a worker down), a case slower than the deadline, a hang
(the worker is killed) or a crash of the worker process (a C codec fault).
A *failure* is also a "successful" output that pydicom cannot read back, or
one that still holds a seed's original value in an attribute the strategy
removes or replaces. Error rows are counted by message: ``internal error
(Type)`` versus sparkdeid's own messages.

Cases are generated from ``(seed, index)`` only, so any case can be rebuilt
alone: ``python benchmarks/fuzz.py --replay SEED:INDEX``.
"""

from __future__ import annotations

import functools
import io
import multiprocessing as mp
import os
import random
import struct
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tests.factories import value_texts

# --------------------------------------------------------------------------
# Seeds

#: pydicom test files: (name, run the pixel path on it). Pixel seeds are small
#: enough that decoding them costs milliseconds.
PYDICOM_SEEDS: tuple[tuple[str, bool], ...] = (
    ("CT_small.dcm", True),
    ("MR_small.dcm", True),
    ("MR_small_implicit.dcm", True),
    ("ExplVR_BigEnd.dcm", True),
    ("rtplan.dcm", False),
    ("JPEG2000.dcm", True),
    ("emri_small_RLE.dcm", True),
    ("SC_rgb_rle.dcm", True),
    ("SC_rgb_rle_2frame.dcm", True),
    ("SC_rgb_small_odd.dcm", True),
    ("SC_rgb_small_odd_jpeg.dcm", True),
    ("SC_rgb_jpeg_dcmtk.dcm", True),
    ("JPEGLSNearLossless_08.dcm", True),
    ("JPEG-LL.dcm", False),
    ("emri_small_jpeg_2k_lossless.dcm", True),
    ("test-SR.dcm", False),
    ("image_dfl.dcm", False),
    ("nested_priv_SQ.dcm", False),
)

#: Attributes whose seed value must never survive a successful de-identification
#: (every profile removes, empties or replaces them; none is only cleaned).
SENSITIVE_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientAddress",
    "PatientTelephoneNumbers", "PatientMotherBirthName", "ReferringPhysicianName",
    "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
    "NameOfPhysiciansReadingStudy", "RequestingPhysician", "InstitutionName",
    "InstitutionAddress", "InstitutionalDepartmentName", "AccessionNumber", "StationName",
    "DeviceSerialNumber",
)  # fmt: skip
_KEEPING_ACTIONS = frozenset({"keep", "K", "ensureTagExists", "cleanTag", "C"})
STRATEGIES = ("tcia", "basic")
SECRET = b"fuzz-secret-0123456789abcdef"


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    pixels: bool
    #: per strategy: keyword -> seed values (or name parts) that must not survive
    needles: dict[str, dict[str, tuple[str, ...]]]


def _synthetic_seeds() -> list[tuple[str, bytes, bool]]:
    """Studies with planted PHI (names, ids, private blocks, free text), 32 px images."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

    from tests.factories import SyntheticPatient, build_study, dataset_bytes

    patient = SyntheticPatient.from_seed(7)
    out = []
    for modality, syntax, frames in (
        ("CT", ExplicitVRLittleEndian, 1),
        ("US", ImplicitVRLittleEndian, 3),
        ("OT", RLELossless, 2),
    ):
        try:
            built = build_study(
                patient, seed=11, modality=modality, n_series=1, n_instances=1,
                transfer_syntax=syntax, n_frames=frames, image_size=32,
            )
        except Exception:  # an encoder missing here: that seed is skipped
            continue
        out.append((f"synthetic-{modality}-{frames}f", dataset_bytes(built[-1]), True))
    return out


def _needles_for(data: bytes) -> dict[str, dict[str, tuple[str, ...]]]:
    import pydicom
    from pydicom.datadict import tag_for_keyword

    from sparkdeid.metadata.strategy import load_strategy, resolve_strategy

    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    found: dict[str, tuple[str, ...]] = {}
    for keyword in SENSITIVE_KEYWORDS:
        if keyword not in ds:
            continue
        parts: list[str] = []
        for text in value_texts(ds[keyword].value):
            for part in text.replace("=", "^").replace("\\", "^").split("^"):
                part = part.strip(" \x00")
                if len(part) >= 4 and not part.isdigit() or len(part) >= 6:
                    parts.append(part)
        if parts:
            found[keyword] = tuple(dict.fromkeys(parts))
    result = {}
    for name in STRATEGIES:
        strategy = load_strategy(resolve_strategy(name).csv_text)
        result[name] = {
            k: v for k, v in found.items()
            if (rule := strategy.rule_for(tag_for_keyword(k))) is not None
            and rule.action not in _KEEPING_ACTIONS
        }
    return result


@functools.cache
def load_seeds() -> tuple[Seed, ...]:
    from pydicom.data import get_testdata_file

    raw: list[tuple[str, bytes, bool]] = []
    for name, pixels in PYDICOM_SEEDS:
        path = get_testdata_file(name)
        if path and os.path.isfile(str(path)):
            raw.append((name, Path(str(path)).read_bytes(), pixels))
    raw += _synthetic_seeds()
    return tuple(Seed(n, d, p, _needles_for(d)) for n, d, p in raw)


# --------------------------------------------------------------------------
# Element map: where tags, VRs, lengths and values sit, so mutations hit them

_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_LONG_VRS = frozenset(
    b"OB OD OF OL OV OW SQ UC UN UR UT SV UV".split()
)
_UNDEFINED = 0xFFFFFFFF


@dataclass(frozen=True)
class Element:
    tag: int
    start: int  # first byte of the tag
    vr_at: int | None  # explicit VR's two letters
    length_at: int
    length_size: int  # 2 or 4
    value_at: int
    length: int  # declared (0xFFFFFFFF = undefined)
    end: int  # one past the element (for undefined length: past its delimiter)
    little: bool


def element_map(data: bytes, limit: int = 4000) -> list[Element]:
    """Elements of a Part 10 file or bare dataset, nested items included; stops at damage."""
    found: list[Element] = []
    try:
        _map_into(data, found, limit)
    except (struct.error, IndexError):
        pass  # damaged past here: what was mapped is enough
    return found


def _map_into(data: bytes, found: list[Element], limit: int) -> None:
    pos, explicit, little = 0, True, True
    if len(data) >= 132 and data[128:132] == b"DICM":
        end, syntax = _walk(data, 132, len(data), True, True, found, limit, meta=True)
        pos = end
        if syntax == "1.2.840.10008.1.2":
            explicit = False
        elif syntax == "1.2.840.10008.1.2.2":
            little = False
        elif syntax == "1.2.840.10008.1.2.1.99":
            return  # deflated: the rest is a zlib stream
    elif len(data) >= 6:
        explicit = data[4:6].isalpha() and data[4:6].isupper()
    _walk(data, pos, len(data), explicit, little, found, limit)


def _walk(
    data: bytes, pos: int, stop: int, explicit: bool, little: bool, found: list[Element],
    limit: int, *, meta: bool = False, item_level: bool = False,
) -> tuple[int, str]:
    from pydicom.datadict import dictionary_VR

    syntax = ""
    order = "<" if little else ">"
    while pos + 8 <= stop and len(found) < limit:
        m_order = "<" if meta else order
        group, elem = struct.unpack(m_order + "HH", data[pos:pos + 4])
        tag = (group << 16) | elem
        if meta and group != 0x0002:
            return pos, syntax
        if group == 0xFFFE:
            (length,) = struct.unpack(m_order + "I", data[pos + 4:pos + 8])
            value_at = pos + 8
            element = Element(tag, pos, None, pos + 4, 4, value_at, length, value_at, little)
            if tag == _ITEM:
                found.append(element)
                if length == _UNDEFINED:
                    pos = _walk(data, value_at, stop, explicit, little, found, limit,
                                item_level=True)[0]
                else:
                    _walk(data, value_at, min(stop, value_at + length), explicit, little,
                          found, limit)
                    pos = value_at + length
                continue
            found.append(element)
            return value_at, syntax  # a delimiter ends this level
        vr = data[pos + 4:pos + 6] if (explicit or meta) else b""
        if vr and not (vr.isalpha() and vr.isupper()):
            return pos, syntax  # damaged: stop mapping here
        if vr and vr in _LONG_VRS:
            (length,) = struct.unpack(m_order + "I", data[pos + 8:pos + 12])
            length_at, size, value_at = pos + 8, 4, pos + 12
        elif vr:
            (length,) = struct.unpack(m_order + "H", data[pos + 6:pos + 8])
            length_at, size, value_at = pos + 6, 2, pos + 8
        else:
            (length,) = struct.unpack(order + "I", data[pos + 4:pos + 8])
            length_at, size, value_at = pos + 4, 4, pos + 8
        index = len(found)
        found.append(Element(tag, pos, pos + 4 if vr else None, length_at, size, value_at,
                             length, value_at if length == _UNDEFINED else value_at + length,
                             little))
        if tag == 0x00020010 and meta:
            syntax = data[value_at:value_at + length].decode("ascii", "replace").strip("\x00 ")
        try:
            is_sq = vr == b"SQ" or (not vr and dictionary_VR(tag) == "SQ")
        except KeyError:
            is_sq = False
        if length == _UNDEFINED:
            if tag == 0x7FE00010:
                end = _fragments(data, value_at, stop, little, found, limit)
            else:
                end = _walk(data, value_at, stop, explicit, little, found, limit)[0]
            found[index] = Element(tag, pos, found[index].vr_at, length_at, size, value_at,
                                   length, end, little)
            pos = end
            continue
        if is_sq:
            _walk(data, value_at, min(stop, value_at + length), explicit, little, found, limit)
        pos = value_at + length
    return pos, syntax


def _fragments(data: bytes, pos: int, stop: int, little: bool, found: list[Element],
               limit: int) -> int:
    order = "<" if little else ">"
    while pos + 8 <= stop and len(found) < limit:
        tag = (struct.unpack(order + "H", data[pos:pos + 2])[0] << 16) | struct.unpack(
            order + "H", data[pos + 2:pos + 4])[0]
        (length,) = struct.unpack(order + "I", data[pos + 4:pos + 8])
        found.append(Element(tag, pos, None, pos + 4, 4, pos + 8, length, pos + 8, little))
        if tag != _ITEM or length == _UNDEFINED:
            return pos + 8
        pos += 8 + length
    return pos


# --------------------------------------------------------------------------
# Mutators: each takes (rng, bytearray, element map) and edits the bytes in place

_VRS = (b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM "
        b"UC UI UL UN UR US UT UV").split() + [b"ZZ", b"\x00\x00", b"sq", b"  "]
_SYNTAXES = (
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.8.1", "1.2.3.4", "", "1.2.840.10008.1.2.1\x00\x00",
)
_INTERESTING_LENGTHS = (0, 1, 2, 3, 4, 7, 0x7F, 0xFF, 0x100, 0x7FFF, 0xFFFE, 0xFFFF,
                        0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, _UNDEFINED)
# Image Pixel module and friends: values here drive decoders and allocations.
_PIXEL_TAGS = (0x00280002, 0x00280004, 0x00280006, 0x00280008, 0x00280010, 0x00280011,
               0x00280100, 0x00280101, 0x00280102, 0x00280103, 0x00281052, 0x00281053,
               0x00281050, 0x00281051, 0x00283010, 0x00281201, 0x00281101, 0x60000010,
               0x60000011, 0x60000100, 0x60003000, 0x00080005, 0x7FE00010)
_TEXT_VALUES = (b"0", b"-1", b"1", b"2", b"3", b"8", b"16", b"99999999", b"2147483648",
                b"-2147483649", b"1e308", b"nan", b"inf", b"1.5", b" ", b"\\", b"1\\2\\3",
                b"MONOCHROME1", b"PALETTE COLOR", b"YBR_FULL_422", b"YBR_RCT", b"RGB",
                b"ISO_IR 192", b"ISO 2022 IR 87", b"\x1b$B", b"ISO_IR 6\\ISO 2022 IR 13",
                b"\xff\xfe\xfd", b"A" * 300)
_BINARY_VALUES = (b"\x00\x00", b"\x01\x00", b"\xff\xff", b"\x00\x80", b"\x03\x00",
                  b"\x10\x00", b"\x21\x00", b"\x00\x01", b"\x07\x00", b"\x00\x00\x00\x00",
                  b"\xff\xff\xff\xff")


def _pick(rng: random.Random, elements: list[Element],
          want: Callable[[Element], bool] | None = None) -> Element | None:
    chosen = [e for e in elements if want(e)] if want else elements
    return rng.choice(chosen) if chosen else None


def _put_length(buf: bytearray, e: Element, value: int) -> None:
    fmt = ("<" if e.little or e.tag >> 16 == 2 else ">") + ("H" if e.length_size == 2 else "I")
    value &= 0xFFFF if e.length_size == 2 else 0xFFFFFFFF
    if e.length_at + e.length_size <= len(buf):
        buf[e.length_at:e.length_at + e.length_size] = struct.pack(fmt, value)


def m_bit_flips(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    if not buf:
        return "flip(empty)"
    header_end = max((e.value_at for e in elements), default=len(buf))
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(min(len(buf), header_end + 1) if rng.random() < 0.7 else len(buf))
        at = min(at, len(buf) - 1)
        buf[at] ^= 1 << rng.randrange(8)
    return "flip"


def m_truncate(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements)
    near_element = e is not None and rng.random() < 0.7
    cut = e.start + rng.randint(0, 14) if near_element and e else rng.randrange(len(buf) + 1)
    del buf[min(cut, len(buf)):]
    return f"truncate@{cut}"


def m_insert(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements)
    at = e.start if e and rng.random() < 0.7 else rng.randrange(len(buf) + 1)
    n = rng.choice((1, 2, 4, 8, rng.randint(1, 64)))
    if buf and rng.random() < 0.5:
        src = rng.randrange(len(buf))
        chunk = bytes(buf[src:src + n])
    else:
        chunk = bytes(rng.getrandbits(8) for _ in range(n))
    buf[at:at] = chunk
    return f"insert@{at}+{len(chunk)}"


def m_delete(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements)
    if e and rng.random() < 0.6:
        end = e.end if e.end > e.start else e.value_at
        del buf[e.start:end]
        return f"delete-element({e.tag:08X})"
    at = rng.randrange(len(buf) + 1)
    n = rng.randint(1, 32)
    del buf[at:at + n]
    return f"delete@{at}+{n}"


def m_duplicate(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements, lambda x: x.end > x.start and x.end - x.start < 100_000)
    if e is None:
        return "duplicate(none)"
    chunk = bytes(buf[e.start:e.end])
    at = e.end if rng.random() < 0.7 else rng.choice(elements).start
    buf[at:at] = chunk * rng.choice((1, 1, 2, 50))
    return f"duplicate({e.tag:08X})"


def m_length(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements)
    if e is None:
        return "length(none)"
    choice = rng.random()
    if choice < 0.5:
        value = rng.choice(_INTERESTING_LENGTHS)
    elif choice < 0.8 and e.length != _UNDEFINED:
        value = e.length + rng.choice((-2, -1, 1, 2, 8, len(buf), -e.length))
    else:
        value = len(buf) - e.value_at + rng.choice((-1, 0, 1, 2))
    _put_length(buf, e, max(0, value))
    return f"length({e.tag:08X})"


def m_vr(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements, lambda x: x.vr_at is not None)
    if e is None or e.vr_at is None:
        return "vr(none)"
    buf[e.vr_at:e.vr_at + 2] = rng.choice(_VRS)
    return f"vr({e.tag:08X})"


def m_tag(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements)
    if e is None:
        return "tag(none)"
    new = rng.choice((
        _ITEM, _ITEM_END, _SEQ_END, 0x7FE00010, 0x00100010, 0x00080005, 0x00091010,
        0x00090010, 0x00280010, 0x00400275, 0x0040A730, 0x00000000, 0xFFFFFFFF,
        e.tag ^ (1 << rng.randrange(32)), (e.tag | 0x00010000),
    ))
    fmt = "<HH" if e.little or e.tag >> 16 == 2 else ">HH"
    buf[e.start:e.start + 4] = struct.pack(fmt, new >> 16, new & 0xFFFF)
    return f"tag({e.tag:08X}->{new:08X})"


def m_syntax(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements, lambda x: x.tag == 0x00020010)
    if e is None:
        return "syntax(none)"
    uid = rng.choice(_SYNTAXES).encode()
    if len(uid) % 2:
        uid += b"\x00"
    buf[e.value_at:e.value_at + e.length] = uid
    if rng.random() < 0.9:
        _put_length(buf, e, len(uid))
    return f"syntax({uid.decode('latin-1').strip(chr(0))})"


def m_delimiter(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    e = _pick(rng, elements, lambda x: x.tag in (_ITEM_END, _SEQ_END, _ITEM))
    if e is None:
        return "delimiter(none)"
    del buf[e.start:e.start + 8]
    return f"drop-delimiter({e.tag:08X})"


def m_value(rng: random.Random, buf: bytearray, elements: list[Element]) -> str:
    pixel = [e for e in elements if e.tag in _PIXEL_TAGS]
    e = rng.choice(pixel) if pixel and rng.random() < 0.7 else _pick(rng, elements)
    if e is None or e.length == _UNDEFINED:
        return "value(none)"
    vr = bytes(buf[e.vr_at:e.vr_at + 2]) if e.vr_at is not None else b""
    binary = vr in (b"US", b"SS", b"UL", b"SL", b"OW", b"OB") or (
        not vr and e.length in (2, 4) and e.tag >> 16 == 0x0028
    )
    value = rng.choice(_BINARY_VALUES if binary else _TEXT_VALUES)
    if not binary and len(value) % 2:
        value += b" "
    if e.tag == 0x7FE00010:  # pixel data: smash a window of its bytes
        at = e.value_at + rng.randrange(max(1, e.length))
        buf[at:at + len(value)] = value
        return "pixels-smash"
    if rng.random() < 0.5 and len(value) <= e.length:  # same length: the structure holds
        buf[e.value_at:e.value_at + len(value)] = value
    else:
        buf[e.value_at:e.value_at + e.length] = value
        _put_length(buf, e, len(value))
    return f"value({e.tag:08X})"


MUTATORS: tuple[tuple[Callable[[random.Random, bytearray, list[Element]], str], int], ...] = (
    (m_bit_flips, 3), (m_truncate, 1), (m_insert, 1), (m_delete, 2), (m_duplicate, 1),
    (m_length, 2), (m_vr, 3), (m_tag, 3), (m_syntax, 1), (m_delimiter, 1), (m_value, 7),
)


@dataclass(frozen=True)
class Case:
    index: int
    seed: Seed
    data: bytes
    mutations: tuple[str, ...]
    strategy: str
    pixels: bool


def make_case(run_seed: int, index: int, pixel_share: float = 0.3) -> Case:
    """The mutated file of case ``index``: depends on ``(run_seed, index)`` only."""
    rng = random.Random(f"sparkdeid-fuzz:{run_seed}:{index}")
    seeds = load_seeds()
    seed = seeds[rng.randrange(len(seeds))]
    buf = bytearray(seed.data)
    names = []
    funcs, weights = zip(*MUTATORS, strict=True)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        mutate = rng.choices(funcs, weights)[0]
        names.append(mutate(rng, buf, element_map(bytes(buf))))
    strategy = STRATEGIES[rng.randrange(len(STRATEGIES))]
    pixels = seed.pixels and rng.random() < pixel_share
    return Case(index, seed, bytes(buf), tuple(names), strategy, pixels)


# --------------------------------------------------------------------------
# The stages' own per-batch functions, captured without Spark


class _Captured:
    """Stands in for a DataFrame: records what ``_transform`` hands to Spark."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema
        self.columns = schema.fieldNames()
        self.fn: Callable[..., Any] | None = None
        self.out_schema: Any = None

    def mapInPandas(self, fn: Callable[..., Any], schema: Any) -> _Captured:  # noqa: N802
        self.fn, self.out_schema = fn, schema
        return self

    applyInPandas = mapInPandas  # noqa: N815

    def select(self, *cols: Any) -> _Captured:
        return self

    def groupBy(self, *cols: Any) -> _Captured:  # noqa: N802
        return self


def _binary_file_schema() -> Any:
    from pyspark.sql.types import (
        BinaryType,
        LongType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    return StructType([
        StructField("path", StringType(), True),
        StructField("modificationTime", TimestampType(), True),
        StructField("length", LongType(), True),
        StructField("content", BinaryType(), True),
    ])


class StageHarness:
    """Per-file functions of DicomToMetadata, DicomMetadataDeidentifier (per profile),
    DicomToImage and DicomDrawRegions, as Spark would run them."""

    def __init__(self) -> None:
        from pyspark.sql.types import StructField, StructType

        from sparkdeid import schemas
        from sparkdeid.stages.dicom_to_image import DicomToImage
        from sparkdeid.stages.dicom_to_metadata import DicomToMetadata
        from sparkdeid.stages.draw_regions import DicomDrawRegions
        from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier

        files = _binary_file_schema()
        self.to_metadata = self._capture(
            DicomToMetadata(extractTagForNer=True, strategyFile="tcia"), files)
        self.deid: dict[str, Callable[..., Any]] = {}
        self.deid_masked: dict[str, Callable[..., Any]] = {}
        for name in STRATEGIES:
            stage = DicomMetadataDeidentifier(strategyFile=name)
            stage.setSecret(SECRET)
            self.deid[name] = self._capture(stage, files)
            masked = DicomMetadataDeidentifier(strategyFile=name, inputCol="masked_dicom")
            masked.setSecret(SECRET)
            masked_schema = StructType([*files.fields[:3],
                                        StructField("masked_dicom", files["content"].dataType)])
            self.deid_masked[name] = self._capture(masked, masked_schema)
        to_image = _Captured(files)
        DicomToImage()._transform(to_image)  # type: ignore[arg-type]
        assert to_image.fn is not None
        self.to_image = to_image.fn
        draw_input = StructType([*to_image.out_schema.fields,
                                 StructField(schemas.REGIONS_COL, schemas.REGIONS_TYPE, True)])
        self.draw = self._capture(DicomDrawRegions(), draw_input)

    @staticmethod
    def _capture(stage: Any, schema: Any) -> Callable[..., Any]:
        captured = _Captured(schema)
        stage._transform(captured)
        assert captured.fn is not None
        return captured.fn

    # ------------------------------------------------------------------ runs

    def metadata(self, content: bytes) -> pd.DataFrame:
        return _single(self.to_metadata(iter([_file_row(content)])))

    def deidentify(self, content: bytes, strategy: str) -> pd.DataFrame:
        return _single(self.deid[strategy](iter([_file_row(content)])))

    def images(self, content: bytes) -> pd.DataFrame:
        frames = list(self.to_image(iter([_file_row(content)])))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def draw_regions(self, image_rows: pd.DataFrame) -> pd.DataFrame:
        """Mask the middle of the first frame and of every overlay frame, as PositionFinder
        would hand over, so masked frames are re-encoded."""
        from sparkdeid import schemas

        regions: list[list[dict[str, float]] | None] = []
        boxed_frame = False
        for _, row in image_rows.iterrows():
            image = row.get(schemas.IMAGE_COL)
            plane = row.get(schemas.PLANE_COL)
            if isinstance(image, dict) and (plane is not None or not boxed_frame):
                w, h = float(image["original_width"]), float(image["original_height"])
                regions.append([{"x0": w / 4, "y0": h / 4, "x1": w / 2, "y1": h / 2}])
                boxed_frame = boxed_frame or plane is None
            else:
                regions.append([])
        group = image_rows.assign(**{schemas.REGIONS_COL: regions})
        return self.draw(group)

    def deidentify_masked(self, masked: bytes, strategy: str) -> pd.DataFrame:
        row = pd.DataFrame({"path": ["fuzz-case"], "modificationTime": [None],
                            "length": [len(masked)], "masked_dicom": [masked]})
        return _single(self.deid_masked[strategy](iter([row])))


def _file_row(content: bytes) -> pd.DataFrame:
    return pd.DataFrame({"path": ["fuzz-case"], "modificationTime": [None],
                         "length": [len(content)], "content": [content]})


def _single(batches: Iterator[pd.DataFrame]) -> pd.DataFrame:
    frames = list(batches)
    return pd.concat(frames, ignore_index=True) if len(frames) != 1 else frames[0]


# --------------------------------------------------------------------------
# One case


@dataclass
class CaseResult:
    index: int
    seed: str
    mutations: tuple[str, ...]
    #: stage -> "ok", "error: <message>" or "internal: <Type>"
    outcomes: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0
    #: output elements pydicom read back but could not convert (kept as read)
    unconvertible: int = 0


def _outcome(error: Any) -> str:
    if not isinstance(error, str):
        return "ok"
    if error.startswith("internal error ("):
        return "internal: " + error[len("internal error ("):].rstrip(")")
    return "error: " + error


def run_case(harness: StageHarness, case: Case) -> CaseResult:
    """Run every stage on the case's bytes; escapes propagate, failures are listed."""
    from sparkdeid import schemas

    result = CaseResult(case.index, case.seed.name, case.mutations)
    started = time.perf_counter()
    odd_before = sum(UNCONVERTIBLE.values())
    meta = harness.metadata(case.data)
    result.outcomes["DicomToMetadata"] = _outcome(meta[schemas.ERROR_COL].iloc[0])
    deid = harness.deidentify(case.data, case.strategy)
    result.outcomes["DicomMetadataDeidentifier"] = _outcome(deid[schemas.ERROR_COL].iloc[0])
    if deid[schemas.ERROR_COL].iloc[0] is None:
        result.failures += check_output(deid[schemas.DICOM_COL].iloc[0], case, "metadata")
    if case.pixels:
        frames = harness.images(case.data)
        errors = [e for e in frames.get(schemas.ERROR_COL, []) if isinstance(e, str)]
        result.outcomes["DicomToImage"] = _outcome(errors[0] if errors else None)
        if not errors and len(frames):
            drawn = harness.draw_regions(frames)
            error = drawn[schemas.ERROR_COL].iloc[0] if len(drawn) else "no row"
            result.outcomes["DicomDrawRegions"] = _outcome(error)
            if error is None:
                final = harness.deidentify_masked(drawn[schemas.MASKED_DICOM_COL].iloc[0],
                                                  case.strategy)
                result.outcomes["DicomMetadataDeidentifier(masked)"] = _outcome(
                    final[schemas.ERROR_COL].iloc[0])
                if final[schemas.ERROR_COL].iloc[0] is None:
                    result.failures += check_output(final[schemas.DICOM_COL].iloc[0], case,
                                                    "pixel")
    for stage, outcome in result.outcomes.items():
        if outcome == "internal: RecursionError":
            result.failures.append(f"escape: RecursionError in {stage}")
    result.seconds = time.perf_counter() - started
    result.unconvertible = sum(UNCONVERTIBLE.values()) - odd_before
    return result


def check_output(out: Any, case: Case, path: str) -> list[str]:
    """A successful output must read back and must not keep a removed attribute's value."""
    import pydicom

    if not isinstance(out, bytes | bytearray) or not out:
        return [f"{path}: success without output bytes"]
    try:
        ds = pydicom.dcmread(io.BytesIO(out))
        elements = list(_elements(ds))
    except Exception as exc:
        return [f"{path}: output does not re-read ({type(exc).__name__})"]
    needles = case.seed.needles.get(case.strategy, {})
    leaks = []
    for keyword, value in elements:
        wanted = needles.get(keyword)
        if not wanted:
            continue
        texts = list(value_texts(value))
        for text in texts:
            if any(n.lower() in text.lower() for n in wanted):
                leaks.append(f"{path}: leak of {keyword} ({case.strategy})")
                break
    return leaks


#: Raised by pydicom converting a value it read (counted, see :func:`_elements`).
UNCONVERTIBLE: Counter[str] = Counter()


def _elements(ds: Any) -> Iterator[tuple[str, Any]]:
    """(keyword, value) of every element at any depth; a value pydicom cannot
    convert is given as its raw bytes and counted in :data:`UNCONVERTIBLE`
    (the structure read back; only that element's value is odd)."""
    from pydicom.datadict import keyword_for_tag

    for tag in list(ds.keys()):
        keyword = keyword_for_tag(int(tag))
        try:
            elem = ds[tag]
        except Exception as exc:
            UNCONVERTIBLE[type(exc).__name__] += 1
            yield keyword, ds.get_item(tag).value
            continue
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _elements(item)
        else:
            yield keyword, elem.value


# --------------------------------------------------------------------------
# The run: worker processes, per-case deadline, crash and hang detection


@dataclass
class Summary:
    cases: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    internal: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    escapes: list[tuple[int, str, tuple[str, ...]]] = field(default_factory=list)
    slowest: tuple[float, int] = (0.0, -1)
    unconvertible_cases: int = 0

    def add(self, result: CaseResult) -> None:
        self.cases += 1
        self.unconvertible_cases += bool(result.unconvertible)
        for stage, outcome in result.outcomes.items():
            kind = outcome.split(":")[0]
            self.outcomes[f"{stage} {kind}"] += 1
            if kind == "internal":
                self.internal[f"{stage}: {outcome[len('internal: '):]}"] += 1
            elif kind == "error":
                self.errors[outcome[len("error: "):][:90]] += 1
        for failure in result.failures:
            self.escapes.append((result.index, failure, result.mutations))
        self.slowest = max(self.slowest, (result.seconds, result.index))

    def report(self, top: int = 10) -> str:
        rate = self.cases / self.seconds if self.seconds else 0.0
        lines = [f"{self.cases} cases in {self.seconds:.1f} s ({rate:.0f} cases/s); "
                 f"slowest case {self.slowest[1]}: {self.slowest[0]:.2f} s",
                 "outcomes:"]
        lines += [f"  {k}: {v}" for k, v in sorted(self.outcomes.items())]
        lines.append("internal errors (top):")
        lines += [f"  {v:6d}  {k}" for k, v in self.internal.most_common(top)]
        lines.append("sparkdeid errors (top):")
        lines += [f"  {v:6d}  {k}" for k, v in self.errors.most_common(top)]
        lines.append(f"outputs with an element pydicom cannot convert (kept as read): "
                     f"{self.unconvertible_cases}")
        lines.append(f"escapes and failures: {len(self.escapes)}")
        lines += [f"  case {i}: {what} {list(m)}" for i, what, m in self.escapes[:50]]
        return "\n".join(lines)


def _limit_memory(megabytes: int) -> None:
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # pragma: no cover - not on this platform
        pass


def _worker(conn: Any, run_seed: int, pixel_share: float, deadline: float,
            harness: StageHarness, memory_mb: int, quiet: bool) -> None:
    """Run the case indices the parent sends, one at a time, and send back results."""
    warnings.simplefilter("ignore")
    if quiet:  # C codecs print their complaints straight to fd 2
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    if memory_mb:
        _limit_memory(memory_mb)
    while True:
        index = conn.recv()
        if index is None:
            return
        case = make_case(run_seed, index, pixel_share)
        cpu = time.process_time()
        try:
            result = run_case(harness, case)
        except BaseException as exc:  # what the stages let through is the finding
            result = CaseResult(index, case.seed.name, case.mutations,
                                failures=[f"escape: {type(exc).__name__}"])
        # CPU time, not wall time: a loaded CI machine must not fail a fast case
        used = time.process_time() - cpu
        if used > deadline:
            result.failures.append(f"slow: {used:.2f} s CPU > {deadline} s deadline")
        conn.send(result)


def run_fuzz(
    cases: int,
    *,
    seed: int = 0,
    seconds: float | None = None,
    workers: int = 2,
    pixel_share: float = 0.3,
    deadline: float = 2.0,
    hang_after: float = 60.0,
    memory_mb: int = 0,
    reproducers: str | os.PathLike[str] | None = None,
    progress: Callable[[Summary], None] | None = None,
    quiet: bool = False,
    warm: bool = True,
) -> Summary:
    """Run cases ``0..cases-1`` of ``seed`` (or until ``seconds`` pass) on ``workers`` processes.

    Each worker has its own pipe and one case in flight, so a worker that
    dies or is killed takes no shared lock with it. A worker that dies is
    replaced and its case recorded as a crash; one that spends more than
    ``hang_after`` wall seconds on a case is killed (a hang). ``deadline`` is
    CPU seconds per case. ``memory_mb`` caps each worker's address space, as
    a memory-capped executor would: codecs then meet failed allocations (GDCM
    aborts the process on some, see the fuzzing notes); 0 = no cap.
    Escaping cases' bytes are saved in ``reproducers`` as ``SEED-INDEX.dcm``.
    ``quiet`` silences what C codecs print on the workers' stderr; ``warm``
    runs every seed once before forking, so workers start with every engine,
    codec and cache loaded.
    """
    from multiprocessing.connection import wait

    warnings.simplefilter("ignore")
    harness = StageHarness()
    for s in load_seeds() if warm else ():
        for name in STRATEGIES:
            harness.deidentify(s.data, name)
        if s.pixels:
            run_case(harness, Case(-1, s, s.data, (), "tcia", True))
    context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    summary = Summary()
    started = time.monotonic()

    def spawn() -> tuple[Any, Any]:
        parent_end, child_end = context.Pipe()
        proc = context.Process(
            target=_worker, daemon=True,
            args=(child_end, seed, pixel_share, deadline, harness, memory_mb, quiet),
        )
        proc.start()
        child_end.close()
        return proc, parent_end

    def record_lost(index: int, what: str) -> None:
        case = make_case(seed, index, pixel_share)
        summary.add(CaseResult(index, case.seed.name, case.mutations, failures=[what]))
        if reproducers:
            _save(reproducers, seed, index, pixel_share)

    slots = [spawn() for _ in range(workers)]
    in_flight: list[tuple[int, float] | None] = [None] * workers
    next_index = 0
    try:
        while True:
            out_of_time = seconds is not None and time.monotonic() - started > seconds
            for slot in range(workers):
                if in_flight[slot] is None and next_index < cases and not out_of_time:
                    if not slots[slot][0].is_alive():  # died between cases
                        slots[slot][1].close()
                        slots[slot] = spawn()
                    slots[slot][1].send(next_index)
                    in_flight[slot] = (next_index, time.monotonic())
                    next_index += 1
            if all(job is None for job in in_flight):
                break
            ready = wait([conn for _, conn in slots], timeout=0.5)
            for slot, (proc, conn) in enumerate(slots):
                job = in_flight[slot]
                if job is None:
                    continue
                if conn in ready:
                    try:
                        result = conn.recv()
                    except (EOFError, OSError):
                        result = None
                    if result is not None:
                        in_flight[slot] = None
                        summary.add(result)
                        if result.failures and reproducers:
                            _save(reproducers, seed, result.index, pixel_share)
                        if progress and summary.cases % 1000 == 0:
                            summary.seconds = time.monotonic() - started
                            progress(summary)
                        continue
                hung = time.monotonic() - job[1] > hang_after
                if proc.is_alive() and not hung:
                    continue
                if hung:
                    proc.kill()
                proc.join()
                record_lost(job[0], "hang: killed" if hung else f"crash: exit {proc.exitcode}")
                in_flight[slot] = None
                conn.close()
                slots[slot] = spawn()
    finally:
        for _, conn in slots:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
        for proc, _ in slots:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
    summary.seconds = time.monotonic() - started
    return summary


def _save(folder: str | os.PathLike[str], seed: int, index: int, pixel_share: float) -> None:
    case = make_case(seed, index, pixel_share)
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{seed}-{index}.dcm").write_bytes(case.data)
    (path / f"{seed}-{index}.txt").write_text(
        f"seed file: {case.seed.name}\nmutations: {list(case.mutations)}\n"
        f"strategy: {case.strategy}\npixel path: {case.pixels}\n"
        f"replay: python benchmarks/fuzz.py --replay {seed}:{index}\n"
    )


def replay(seed: int, index: int, pixel_share: float = 0.3) -> CaseResult:
    """Run one case in this process (tracebacks show), for debugging a finding."""
    case = make_case(seed, index, pixel_share)
    return run_case(StageHarness(), case)
