"""A seeded DICOM corpus with planted PHI and its answer key, after the MIDI-B benchmark.

A de-identifier can only be scored on files whose every identifying value,
and every value that must survive, is known in advance. This module writes
such a corpus from the repository's synthetic factories and lists, file by
file and tag by tag, what a correct output must look like; ``score.py``
checks an output folder against that list.

Usage::

    python benchmarks/corpus.py OUT [--files 200] [--seed 2026]

writes ``OUT/dicom/...`` (the inputs to de-identify) and
``OUT/answer_key.json``. The key sits beside, not inside, the input folder
so that a tool run on ``OUT/dicom`` never sees it (it holds the PHI).

What the corpus holds
---------------------
* ``meta/`` - :func:`tests.factories.write_corpus`: several patients, each
  with studies of CT, MR, US, DX and secondary capture, two series of two
  instances, one multi-frame instance, every transfer syntax the project
  encodes; PHI in standard tags, nested sequences, a known private creator
  (TCIA knowledge base dispositions), an unknown private creator, the file
  meta AE title and free-text descriptions that also carry non-PHI words.
* ``pixel/`` - :func:`tests.pixel_factory.build_pixel_corpus`: 512-pixel
  images with burned-in names, dates, ids and institutions in varied fonts,
  sizes, positions and contrasts, non-PHI annotations, lossless and lossy
  syntaxes, single- and multi-frame; a quarter carry no text.
* ``cine/`` - :func:`tests.cine_factory.build_cine` ultrasound loops with a
  PHI banner (and, on every other loop, a name appearing part-way through).
* ``overlay/`` - :func:`tests.overlay_factory.overlay_case` images whose
  60xx overlay planes hold a name and a birth date.

The cine and overlay files belong to one more synthetic patient, so patient
and study consistency spans file kinds.

Answer key format (``answer_key.json``)
---------------------------------------
A JSON object::

    {"format": "sparkdeid-answer-key/1", "seed": 2026, "n_files": 207,
     "input_root": "dicom", "mask_delta": 0.08, "non_phi_padding": 4,
     "files": {RELPATH: FileInfo, ...}, "checks": [Check, ...]}

``RELPATH`` is the POSIX path below ``input_root`` (a directory relative to
the key file); a de-identified output must sit at the same relative path.
``FileInfo`` describes a file without PHI: ``source`` (meta, pixel, cine,
overlay), ``patient`` (a corpus-local key such as ``meta-03``, never a real
id), ``modality``, ``transfer_syntax``, ``frames``, ``rows``, ``columns``,
``samples``, ``bits_stored``, ``lossy`` and ``tolerance`` (per-sample
difference, in stored units, below which two decodings count as equal: 0
for lossless originals).

Each ``Check`` has ``file`` (a RELPATH), ``check`` (its type), ``tag`` (a
tag path) and ``keyword`` (the same path in keywords, for people), plus the
fields its type needs. A tag path is ``(GGGG,EEEE)`` elements joined by
``.``, a sequence item as ``[i]``, a private element by its creator and
offset ``(GGGG,"CREATOR",EE)`` (block numbers may change when a tool
rewrites private groups); group 0002 is the file meta. Types:

``text_removed``
    ``value`` (the PHI) must occur nowhere in the output: no element value,
    sequence item, private or file meta element, nor the raw (inflated)
    bytes, case-insensitively. ``where`` lists every tag path it was planted
    in; ``tag`` is the most telling of them (the element holding exactly
    that value, else a person name). One check per file and value, so a
    value planted in five tags is not counted five times.
``text_retained``
    Non-PHI ``value`` must still be in ``tag``: equal after trimming (or
    numerically equal) when ``match`` is ``exact``, every word present when
    it is ``words`` (a cleaned description may lose the PHI words around
    them).
``tag_retained``
    ``tag`` must exist (Type 2 attributes: emptied, not removed).
``text_notnull``
    ``tag`` must exist with a non-empty value (the patient's new name and
    id, Patient Identity Removed, the Type 1 instance UIDs).
``date_shifted``
    ``value`` is the original DA (or DT); the output's date must differ, and
    every date of the same ``patient`` must move by the same number of days,
    so intervals survive. Birth dates are ``text_removed`` instead.
``uid_changed``
    Where the output still has ``tag`` (a profile may remove a reference
    sequence), its UID must differ from the original ``value``.
``uid_consistent``
    Every occurrence of the original ``value`` still present in any file
    (instance UIDs, references to them, file meta) must be one and the same
    new UID, used by no other original.
``patid_consistent``
    All files of ``patient`` get one new PatientID, and no two patients
    share one (``value`` is the original).
``pixels_hidden``
    Text whose ink must be masked: ``box`` ``[x0, y0, x1, y1]`` (half-open,
    stored-pixel coordinates), ``frames`` it is drawn on, ``ink`` (the glyph
    pixels of the box: ``numpy.packbits`` of the row-major boolean crop,
    base64), ``kind`` (patient_name, birth_date, ...), ``threshold`` (stored
    units). ``plane`` is ``pixel`` for Pixel Data, or an overlay group such
    as ``6000`` (box and frames in overlay coordinates; ``origin`` is the
    overlay origin, ``bit`` the Pixel Data bit of an embedded overlay).
``pixels_retained``
    ``value`` is the MD5 of the original Pixel Data element bytes of a file
    with no PHI text; the output's must be identical.

Everything is reproducible for a seed within one environment (the factories
depend on the installed pydicom, Pillow, Faker and codec versions).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import os
import random
import re
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from pydicom import Dataset, dcmread  # noqa: E402
from pydicom._uid_dict import UID_dictionary  # noqa: E402
from pydicom.dataelem import DataElement  # noqa: E402
from pydicom.multival import MultiValue  # noqa: E402
from pydicom.tag import BaseTag, Tag  # noqa: E402
from pydicom.uid import (  # noqa: E402
    PYDICOM_ROOT_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)
from pydicom.valuerep import PersonName  # noqa: E402

from tests.cine_factory import build_cine  # noqa: E402
from tests.factories import (  # noqa: E402
    PRIVATE_TAGS,
    RESEARCH_KEYWORDS,
    pseudo_word,
    write_corpus,
)
from tests.overlay_factory import overlay_case  # noqa: E402
from tests.pixel_factory import build_pixel_corpus  # noqa: E402

__all__ = [
    "CHECK_TYPES",
    "KEY_FORMAT",
    "MASK_DELTA",
    "NON_PHI_PADDING",
    "AnswerKey",
    "Check",
    "FileInfo",
    "build_corpus",
    "decode_ink",
    "encode_ink",
    "iter_elements",
    "resolve",
    "value_text",
]

KEY_FORMAT = "sparkdeid-answer-key/1"
CHECK_TYPES: tuple[str, ...] = (
    "text_removed",
    "text_retained",
    "tag_retained",
    "text_notnull",
    "date_shifted",
    "uid_changed",
    "uid_consistent",
    "patid_consistent",
    "pixels_hidden",
    "pixels_retained",
)
#: An ink pixel counts as masked when it moved by more than this share of the
#: stored range: re-encoding noise (and the 8 % lossy tolerance of the pixel
#: factory) must not pass for masking.
MASK_DELTA = 0.08
#: Pixels this close to a PHI box are not counted when measuring damage.
NON_PHI_PADDING = 4

# Type 2 attributes that must survive (emptied at most) when present.
_TYPE2_KEYWORDS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
)
# Birth dates are PHI to remove, not intervals to keep.
_NOT_SHIFTED = frozenset({"PatientBirthDate", "PatientBirthTime"})
# UI attributes naming a class or syntax, not an instance: not PHI.
_NOT_INSTANCE_UIDS = frozenset(
    {
        "SOPClassUID",
        "ReferencedSOPClassUID",
        "MediaStorageSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ReferencedSOPClassUIDInFile",
    }
)
_BULK_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})


# --------------------------------------------------------------------------
# The key


@dataclass
class Check:
    """One expectation about one output file; see the module docstring per type."""

    file: str
    check: str
    tag: str
    keyword: str = ""
    value: str | None = None
    match: str | None = None
    patient: str | None = None
    where: list[str] | None = None
    plane: str | None = None
    box: list[int] | None = None
    frames: list[int] | None = None
    ink: str | None = None
    kind: str | None = None
    threshold: int | None = None
    origin: list[int] | None = None
    bit: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The check without its unset fields."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Check:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def ink_mask(self) -> np.ndarray:
        """The boolean glyph crop of a ``pixels_hidden`` check, box-shaped."""
        if self.box is None or self.ink is None:
            raise ValueError(f"{self.check} check of {self.file} has no ink")
        x0, y0, x1, y1 = self.box
        return decode_ink(self.ink, (y1 - y0, x1 - x0))


@dataclass
class FileInfo:
    """What the scorer needs to know about an input file, without PHI."""

    source: str
    patient: str
    modality: str
    transfer_syntax: str
    frames: int
    rows: int
    columns: int
    samples: int
    bits_stored: int
    lossy: bool = False
    tolerance: int = 0


@dataclass
class AnswerKey:
    """The checks a correct de-identified copy of the corpus must pass.

    ``root`` is where the inputs are (the scorer reads originals from it to
    measure pixel changes); it is stored relative to the key file.
    """

    root: Path
    seed: int
    files: dict[str, FileInfo]
    checks: list[Check]
    mask_delta: float = MASK_DELTA
    non_phi_padding: int = NON_PHI_PADDING
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.checks)

    def by_file(self) -> dict[str, list[Check]]:
        """Checks grouped by file, files in key order."""
        grouped: dict[str, list[Check]] = {relpath: [] for relpath in self.files}
        for check in self.checks:
            grouped.setdefault(check.file, []).append(check)
        return grouped

    def counts(self) -> dict[str, int]:
        """Number of checks per type, in :data:`CHECK_TYPES` order."""
        found = {t: 0 for t in CHECK_TYPES}
        for check in self.checks:
            found[check.check] += 1
        return found

    def to_json(self, key_dir: Path | None = None) -> dict[str, Any]:
        root = self.root
        if key_dir is not None:
            root = Path(os.path.relpath(self.root.resolve(), key_dir.resolve()))
        return {
            "format": KEY_FORMAT,
            "seed": self.seed,
            "n_files": len(self.files),
            "input_root": root.as_posix(),
            "mask_delta": self.mask_delta,
            "non_phi_padding": self.non_phi_padding,
            "meta": self.meta,
            "files": {relpath: asdict(info) for relpath, info in self.files.items()},
            "checks": [c.to_json() for c in self.checks],
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the key as JSON, one check per line (diffable, grep-able)."""
        path = Path(path)
        data = self.to_json(path.parent)
        checks = data.pop("checks")
        head = json.dumps(data, indent=1)[:-2]  # reopen the object to append the checks
        lines = ",\n".join("  " + json.dumps(c) for c in checks)
        path.write_text(f'{head},\n "checks": [\n{lines}\n ]\n}}\n', encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AnswerKey:
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != KEY_FORMAT:
            raise ValueError(f"{path}: not a {KEY_FORMAT} answer key")
        return cls(
            root=path.parent / data["input_root"],
            seed=data["seed"],
            files={k: FileInfo(**v) for k, v in data["files"].items()},
            checks=[Check.from_json(c) for c in data["checks"]],
            mask_delta=data.get("mask_delta", MASK_DELTA),
            non_phi_padding=data.get("non_phi_padding", NON_PHI_PADDING),
            meta=data.get("meta", {}),
        )


def encode_ink(mask: np.ndarray) -> str:
    """A boolean crop as base64 of its packed bits (row-major)."""
    packed = np.packbits(np.asarray(mask, dtype=bool), axis=None)
    return base64.b64encode(packed.tobytes()).decode("ascii")


def decode_ink(text: str, shape: tuple[int, int]) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))
    return bits[: shape[0] * shape[1]].reshape(shape).astype(bool)


# --------------------------------------------------------------------------
# Tag paths


def value_text(elem: DataElement | None) -> str:
    """An element's value as one trimmed string (multi-values joined by ``\\``)."""
    if elem is None:
        return ""
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("latin-1").strip(" \0")
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value).strip()
    if isinstance(value, PersonName):
        return str(value).strip()
    return str(value).strip()


def _hex_tag(tag: BaseTag) -> str:
    return f"({tag.group:04X},{tag.element:04X})"


def _segment(ds: Dataset, elem: DataElement) -> tuple[str, str]:
    """Path and keyword segment of ``elem`` within ``ds`` (private: by creator)."""
    tag = elem.tag
    if tag.is_private and tag.element >= 0x1000:
        creator_tag = Tag(tag.group, tag.element >> 8)
        if creator_tag in ds:
            creator = value_text(ds[creator_tag])
            offset = tag.element & 0xFF
            return f'({tag.group:04X},"{creator}",{offset:02X})', f"{creator}[{offset:02X}]"
    return _hex_tag(tag), elem.keyword or _hex_tag(tag)


def iter_elements(ds: Dataset, *, meta: bool = True) -> Iterator[tuple[str, str, DataElement]]:
    """Every element of ``ds`` at any depth as ``(tag path, keyword path, element)``.

    File meta comes first; sequences are entered item by item. An element
    pydicom cannot convert is yielded raw (its value as bytes).
    """
    if meta and getattr(ds, "file_meta", None) is not None:
        yield from _walk(ds.file_meta, "", "")
    yield from _walk(ds, "", "")


def _walk(ds: Dataset, prefix: str, kw_prefix: str) -> Iterator[tuple[str, str, DataElement]]:
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except Exception:  # an unconvertible value: search its raw bytes
            raw = ds.get_item(tag)
            elem = DataElement(raw.tag, "UN", raw.value)
        seg, kw = _segment(ds, elem)
        path, kw_path = prefix + seg, kw_prefix + kw
        yield path, kw_path, elem
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value or []):
                yield from _walk(item, f"{path}[{index}].", f"{kw_path}[{index}].")


_SEGMENT = re.compile(
    r'\((?P<g>[0-9A-Fa-f]{4}),(?:"(?P<creator>[^"]*)",(?P<off>[0-9A-Fa-f]{2})'
    r"|(?P<e>[0-9A-Fa-f]{4}))\)(?:\[(?P<i>\d+)\])?(?P<sep>\.|$)"
)


def _private_tag(ds: Dataset, group: int, creator: str, offset: int) -> BaseTag | None:
    for block in range(0x10, 0x100):
        tag = Tag(group, block)
        if tag in ds and value_text(ds[tag]) == creator:
            return Tag(group, (block << 8) | offset)
    return None


def resolve(ds: Dataset, path: str) -> DataElement | None:
    """The element a tag path names in ``ds``, or None when it is not there."""
    current: Dataset | None = ds
    pos = 0
    while current is not None and pos < len(path):
        m = _SEGMENT.match(path, pos)
        if m is None:
            raise ValueError(f"malformed tag path {path!r}")
        pos = m.end()
        group = int(m["g"], 16)
        where = current
        if group == 0x0002:
            where = getattr(current, "file_meta", None) or Dataset()
        if m["creator"] is not None:
            tag = _private_tag(where, group, m["creator"], int(m["off"], 16))
        else:
            tag = Tag(group, int(m["e"], 16))
        if tag is None or tag not in where:
            return None
        try:
            elem = where[tag]
        except Exception:
            raw = where.get_item(tag)
            elem = DataElement(raw.tag, "UN", raw.value)
        if m["i"] is None:
            if pos < len(path):  # more segments after a non-sequence step
                return None
            return elem
        items = elem.value if elem.VR == "SQ" else None
        index = int(m["i"])
        if not items or index >= len(items):
            return None
        current = items[index]
    return None


# --------------------------------------------------------------------------
# Checks derived from a written file


def _text_forms(elem: DataElement) -> list[str]:
    value = elem.value
    if isinstance(value, MultiValue | list | tuple):
        return [value_text(DataElement(elem.tag, elem.VR, v)) for v in value]
    return [value_text(elem)]


def _removed(relpath: str, ds: Dataset, raw: bytes, values: Iterable[str]) -> list[Check]:
    """``text_removed`` for each value found in the file, with where it was planted.

    ``tag`` is the most telling location: an element holding exactly the
    value, else a person name holding it, else the first in file order.
    """
    texts = [
        (path, kw, elem.VR, [t.lower() for t in _text_forms(elem)])
        for path, kw, elem in iter_elements(ds)
        if elem.VR != "SQ" and not _is_bulk(elem.tag)
    ]
    haystack = raw.lower()
    checks = []
    for value in sorted(set(values), key=lambda v: (-len(v), v)):
        needle = value.lower()
        hits = [
            (needle not in forms, vr != "PN", order, path, kw)
            for order, (path, kw, vr, forms) in enumerate(texts)
            if any(needle in t for t in forms)
        ]
        where = [hit[3] for hit in hits]
        if hits:
            tag, keyword = min(hits)[3:]
        elif needle.encode("latin-1", "replace") in haystack:
            tag, keyword, where = "raw", "raw bytes", ["raw"]
        else:
            continue
        checks.append(Check(relpath, "text_removed", tag, keyword, value=value, where=where))
    return checks


def _is_bulk(tag: BaseTag) -> bool:
    """Pixel Data and Overlay Data: image bits, not text (raw bytes still cover them)."""
    return tag in _BULK_TAGS or (tag.group & 0xFF01 == 0x6000 and tag.element == 0x3000)


def _by_path(ds: Dataset) -> dict[str, tuple[str, DataElement]]:
    return {path: (kw, elem) for path, kw, elem in iter_elements(ds)}


def _header_checks(relpath: str, ds: Dataset, patient: str) -> list[Check]:
    """Presence, patient id and identity-removed checks every file gets."""
    checks = []
    for keyword in _TYPE2_KEYWORDS:
        if keyword in ds:
            checks.append(Check(relpath, "tag_retained", _hex_tag(ds[keyword].tag), keyword))
    checks.append(Check(relpath, "text_notnull", "(0010,0010)", "PatientName"))
    checks.append(Check(relpath, "text_notnull", "(0010,0020)", "PatientID"))
    # PS3.15 E.1.1: a de-identified file says so
    checks.append(Check(relpath, "text_notnull", "(0012,0062)", "PatientIdentityRemoved"))
    checks.append(
        Check(
            relpath,
            "patid_consistent",
            "(0010,0020)",
            "PatientID",
            value=value_text(ds["PatientID"]),
            patient=patient,
        )
    )
    return checks


def _retained(relpath: str, ds: Dataset, keywords: Iterable[str]) -> list[Check]:
    checks = []
    for keyword in keywords:
        if keyword in ds and value_text(ds[keyword]):
            elem = ds[keyword]
            checks.append(
                Check(
                    relpath,
                    "text_retained",
                    _hex_tag(elem.tag),
                    keyword,
                    value=value_text(elem),
                    match="exact",
                )
            )
    return checks


def _date_checks(relpath: str, ds: Dataset, patient: str) -> list[Check]:
    """``date_shifted`` for every standard DA/DT except birth dates."""
    checks = []
    for path, kw, elem in iter_elements(ds, meta=False):
        if elem.VR not in ("DA", "DT") or elem.tag.is_private or elem.keyword in _NOT_SHIFTED:
            continue
        text = value_text(elem)
        if len(text) >= 8 and text[:8].isdigit():
            checks.append(Check(relpath, "date_shifted", path, kw, value=text, patient=patient))
    return checks


# Type 1 instance UIDs: a file without them is broken, whatever the profile.
_REQUIRED_UIDS = {
    "(0002,0003)": "MediaStorageSOPInstanceUID",
    "(0008,0018)": "SOPInstanceUID",
    "(0020,000D)": "StudyInstanceUID",
    "(0020,000E)": "SeriesInstanceUID",
}


def _uid_checks(relpath: str, ds: Dataset) -> list[Check]:
    """``uid_changed`` and ``uid_consistent`` for every instance UID, at any depth.

    A profile may remove a reference sequence, so these two checks judge a
    UID only where the output still has it; the Type 1 UIDs also get
    ``text_notnull`` so that removing them is never a way to pass.
    """
    checks = []
    for path, kw, elem in iter_elements(ds):
        if elem.VR != "UI" or elem.keyword in _NOT_INSTANCE_UIDS:
            continue
        value = value_text(elem)
        if not value or value in UID_dictionary or "\\" in value:
            continue
        checks.append(Check(relpath, "uid_changed", path, kw, value=value))
        checks.append(Check(relpath, "uid_consistent", path, kw, value=value))
        if path in _REQUIRED_UIDS:
            checks.append(Check(relpath, "text_notnull", path, kw))
    return checks


def _pixel_md5(ds: Dataset) -> str:
    return hashlib.md5(bytes(ds.PixelData)).hexdigest()


def _retained_pixels(relpath: str, ds: Dataset) -> Check:
    return Check(relpath, "pixels_retained", "(7FE0,0010)", "PixelData", value=_pixel_md5(ds))


def _threshold(bits_stored: int) -> int:
    return math.ceil(MASK_DELTA * ((1 << bits_stored) - 1))


def _hidden(
    relpath: str,
    box: tuple[int, int, int, int],
    frames: Iterable[int],
    ink: np.ndarray,
    kind: str,
    threshold: int,
    *,
    plane: str = "pixel",
    origin: tuple[int, int] | None = None,
    bit: int | None = None,
) -> Check:
    tag = "(7FE0,0010)" if plane == "pixel" else f"({plane},3000)"
    return Check(
        relpath,
        "pixels_hidden",
        tag,
        "PixelData" if plane == "pixel" else "OverlayData",
        plane=plane,
        box=[int(v) for v in box],
        frames=[int(f) for f in frames],
        ink=encode_ink(ink),
        kind=kind,
        threshold=threshold,
        origin=list(origin) if origin else None,
        bit=bit,
    )


def _file_info(
    ds: Dataset, source: str, patient: str, *, lossy: bool = False, tolerance: int = 0
) -> FileInfo:
    return FileInfo(
        source=source,
        patient=patient,
        modality=str(ds.get("Modality", "")),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        frames=int(ds.get("NumberOfFrames", 1) or 1),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        samples=int(ds.get("SamplesPerPixel", 1)),
        bits_stored=int(ds.BitsStored),
        lossy=lossy,
        tolerance=tolerance,
    )


# --------------------------------------------------------------------------
# The four parts of the corpus


@dataclass
class _Part:
    files: dict[str, FileInfo] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    def add(self, other: _Part) -> None:
        self.files.update(other.files)
        self.checks.extend(other.checks)


def _relpath(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _metadata_part(root: Path, *, seed: int, n_patients: int, studies: int) -> _Part:
    """Metadata-heavy files of several patients (64-pixel images, no text)."""
    corpus = write_corpus(
        root / "meta",
        n_patients=n_patients,
        studies_per_patient=studies,
        series_per_study=2,
        instances_per_series=2,
        seed=seed,
    )
    patients = {p.seed: f"meta-{i:02d}" for i, p in enumerate(corpus.patients)}
    part = _Part()
    for f in corpus:
        relpath = _relpath(f.path, root)
        raw = f.path.read_bytes()
        ds = dcmread(f.path)
        patient = patients[f.patient.seed]
        part.files[relpath] = _file_info(ds, "meta", patient)
        checks = part.checks
        checks += _removed(relpath, ds, raw, f.phi)
        checks += _retained(relpath, ds, RESEARCH_KEYWORDS)
        for keyword, words in f.keep_words.items():  # cleaned descriptions keep these
            if keyword in ds:
                checks.append(
                    Check(
                        relpath,
                        "text_retained",
                        _hex_tag(ds[keyword].tag),
                        keyword,
                        value=" ".join(words),
                        match="words",
                    )
                )
        paths = _by_path(ds)
        nested = {
            "(0008,1032)[0].(0008,0104)": "exact",  # ProcedureCodeSequence CodeMeaning
            "(0040,0275)[0].(0032,1060)": "words",  # RequestedProcedureDescription
        }
        for path, match in nested.items():
            if path in paths:
                kw, elem = paths[path]
                checks.append(
                    Check(relpath, "text_retained", path, kw, value=value_text(elem), match=match)
                )
        for (group, creator, offset), disposition in PRIVATE_TAGS.items():
            path = f'({group:04X},"{creator}",{offset:02X})'
            if path not in paths:
                continue
            kw = paths[path][0]
            value = f.private[(group, creator, offset)]
            if disposition == "k":
                checks.append(Check(relpath, "text_retained", path, kw, value=value, match="exact"))
            elif disposition == "o":
                checks.append(
                    Check(relpath, "date_shifted", path, kw, value=value, patient=patient)
                )
        checks += _date_checks(relpath, ds, patient)
        checks += _uid_checks(relpath, ds)
        checks += _header_checks(relpath, ds, patient)
        checks.append(_retained_pixels(relpath, ds))
    return part


# Header PHI of a pixel case that must go; dates and times are shifted instead.
_PIXEL_REMOVED = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "InstitutionName",
    "AccessionNumber",
    "ReferringPhysicianName",
)
_PIXEL_RETAINED = ("Modality", "Rows", "Columns", "BitsStored", "SamplesPerPixel", "PatientSex")


def _pixel_part(root: Path, *, seed: int, n_files: int) -> _Part:
    """Burned-in text files, one synthetic identity each."""
    corpus = build_pixel_corpus(root / "pixel", seed=seed, n_files=n_files)
    part = _Part()
    for index, case in enumerate(corpus):
        relpath = _relpath(case.path, root)
        patient = f"pixel-{index:03d}"
        raw = case.path.read_bytes()
        ds = dcmread(case.path)
        part.files[relpath] = _file_info(
            ds, "pixel", patient, lossy=case.lossy, tolerance=case.tolerance
        )
        checks = part.checks
        # full values only: a Faker name's parts may be a replacement's parts
        checks += _removed(relpath, ds, raw, (case.header_phi[k] for k in _PIXEL_REMOVED))
        checks += _retained(relpath, ds, _PIXEL_RETAINED)
        checks += _date_checks(relpath, ds, patient)
        checks += _uid_checks(relpath, ds)
        checks += _header_checks(relpath, ds, patient)
        if not case.phi:
            checks.append(_retained_pixels(relpath, ds))
        threshold = _threshold(case.bits_stored)
        for mark in case.phi:
            checks.append(
                _hidden(relpath, mark.bounds, mark.frames, mark.ink_crop, mark.kind, threshold)
            )
    return part


@dataclass(frozen=True)
class _OtherPatient:
    """The cine and overlay patient: the values the cine and overlay factories burn in."""

    name: str = "QUORNBY^ZELDA"
    patient_id: str = "48213377"
    birth_date: str = "19610314"
    institution: str = "Harrowgate Valley Clinic"
    key: str = "cine-overlay"


def _uid(seed: int, *parts: object) -> str:
    return generate_uid(
        PYDICOM_ROOT_UID, entropy_srcs=["sparkdeid-benchmark", str(seed), *map(str, parts)]
    )


def _set_identity(
    ds: Dataset,
    who: _OtherPatient,
    *,
    seed: int,
    study: str,
    series: int,
    study_date: date,
    referring: str,
) -> None:
    """Give a factory dataset the patient's header and reproducible UIDs."""
    ds.PatientName = who.name
    ds.PatientID = who.patient_id
    ds.PatientBirthDate = who.birth_date
    ds.PatientSex = "F"
    ds.InstitutionName = who.institution
    ds.ReferringPhysicianName = referring
    ds.AccessionNumber = (
        f"QZ{int(hashlib.sha256(f'{seed}{study}'.encode()).hexdigest(), 16) % 10**8:08d}"
    )
    ds.StudyDate = study_date.strftime("%Y%m%d")
    ds.SeriesDate = study_date.strftime("%Y%m%d")
    ds.ContentDate = (study_date + timedelta(days=1)).strftime("%Y%m%d")
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.StudyInstanceUID = _uid(seed, study, "study")
    ds.SeriesInstanceUID = _uid(seed, study, "series", series)
    ds.SOPInstanceUID = _uid(seed, study, "instance", series)
    ds.SeriesNumber = series + 1
    ds.InstanceNumber = 1
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID


def _other_checks(
    relpath: str, path: Path, ds: Dataset, who: _OtherPatient, referring: str
) -> list[Check]:
    family, given = who.name.split("^")
    referring_parts = referring.split("^")
    values = (
        who.name,
        family,
        given,
        who.patient_id,
        who.birth_date,
        who.institution,
        referring,
        *referring_parts,
        str(ds.AccessionNumber),
    )
    checks = _removed(relpath, ds, path.read_bytes(), values)
    checks += _retained(relpath, ds, ("Modality", "Rows", "Columns", "BitsStored"))
    checks += _date_checks(relpath, ds, who.key)
    checks += _uid_checks(relpath, ds)
    checks += _header_checks(relpath, ds, who.key)
    return checks


def _late_label_ink(cine_text: Any, columns: int, rows: int) -> np.ndarray:
    """Ink of the label drawn over moving anatomy, redrawn as the cine factory drew it.

    The anatomy under it changes every frame, so the ink cannot be read back
    from the file; if the factory ever draws it elsewhere, the whole box
    counts as ink (stricter, never looser).
    """
    from PIL import Image

    from tests.cine_factory import _draw

    canvas = Image.new("L", (columns, rows), 0)
    box = _draw(canvas, cine_text.text, (columns // 2 - 40, rows // 2), 16)
    x0, y0, x1, y1 = cine_text.box
    if box != cine_text.box:
        return np.ones((y1 - y0, x1 - x0), dtype=bool)
    return np.asarray(canvas)[y0:y1, x0:x1] > 127


def _cine_part(root: Path, *, seed: int, n_cines: int, who: _OtherPatient, referring: str) -> _Part:
    """Ultrasound loops with a PHI banner; odd ones also show the name part-way through."""
    part = _Part()
    syntaxes = (ExplicitVRLittleEndian, RLELossless)
    for i in range(n_cines):
        path = root / "cine" / f"cine{i}.dcm"
        frames = 8
        late = frames // 2 if i % 2 == 1 else None
        cine = build_cine(path, frames=frames, seed=seed + i, late_label_at=late, name=who.name)
        ds = dcmread(path)
        pixels = ds.pixel_array
        _set_identity(
            ds,
            who,
            seed=seed,
            study="cine",
            series=i,
            study_date=date(2024, 6, 11),
            referring=referring,
        )
        ts = syntaxes[i % len(syntaxes)]
        if ts != ExplicitVRLittleEndian:
            ds.compress(ts, generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)
        relpath = _relpath(path, root)
        ds = dcmread(path)
        part.files[relpath] = _file_info(ds, "cine", who.key)
        part.checks += _other_checks(relpath, path, ds, who, referring)
        for text in cine.phi:
            x0, y0, x1, y1 = text.box
            first, last = text.frames
            if late is not None and first == late:
                ink = _late_label_ink(text, cine.columns, cine.rows)
            else:  # banner text on a black strip: its ink is what is bright there
                ink = pixels[first, y0:y1, x0:x1] > 127
            part.checks.append(
                _hidden(relpath, text.box, range(first, last + 1), ink, "banner", _threshold(8))
            )
    return part


_OVERLAY_CASES = ("basic", "offset", "multiframe", "odd", "embedded")
_OVERLAY_SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian)


def _overlay_part(
    root: Path, *, seed: int, n_overlays: int, who: _OtherPatient, referring: str
) -> _Part:
    """Images whose overlay planes carry the name and birth date (one embedded in Pixel Data)."""
    part = _Part()
    for i in range(n_overlays):
        name = _OVERLAY_CASES[i % len(_OVERLAY_CASES)]
        ts = UID(_OVERLAY_SYNTAXES[i % len(_OVERLAY_SYNTAXES)])
        case = overlay_case(name, ts, vr="OB" if i % 2 and ts != ImplicitVRLittleEndian else "OW")
        ds = case.ds
        _set_identity(
            ds,
            who,
            seed=seed,
            study="overlay",
            series=i,
            study_date=date(2024, 9, 3),
            referring=referring,
        )
        if name == "basic":  # overlay header text is cleaned like any description
            family = who.name.split("^")[0]
            ds.add_new((0x6000, 0x0022), "LO", f"ANNOTATIONS FOR {family}")
        path = root / "overlay" / f"{name}{i // len(_OVERLAY_CASES) or ''}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        relpath = _relpath(path, root)
        ds = dcmread(path)
        part.files[relpath] = _file_info(ds, "overlay", who.key)
        part.checks += _other_checks(relpath, path, ds, who, referring)
        embedded = name == "embedded"
        if not embedded:  # the overlay is apart from the image: pixels stay
            part.checks.append(_retained_pixels(relpath, ds))
        for text in case.texts:
            if not text.phi:
                continue
            x0, y0, x1, y1 = text.box.pixel_bounds()
            group = text.group
            origin = tuple(int(v) for v in ds[(group, 0x0050)].value)
            part.checks.append(
                _hidden(
                    relpath,
                    (x0, y0, x1, y1),
                    [text.frame],
                    case.bits[group][text.frame, y0:y1, x0:x1],
                    "overlay_text",
                    1,
                    plane=f"{group:04X}",
                    origin=(origin[0], origin[1]),
                    bit=int(ds[(group, 0x0102)].value) if embedded else None,
                )
            )
    return part


# --------------------------------------------------------------------------
# The corpus


@dataclass(frozen=True)
class _Plan:
    meta_patients: int
    studies_per_patient: int
    pixel_files: int
    cines: int
    overlays: int


def _plan(n_files: int) -> _Plan:
    """Share ``n_files`` out: ~40 % burned-in text, a few cines and overlays, the rest metadata."""
    overlays = min(len(_OVERLAY_CASES), max(1, n_files // 40))
    cines = min(2, n_files // 60)
    pixel = max(2, round(0.4 * n_files))
    rest = max(1, n_files - overlays - cines - pixel)
    studies = 3 if rest >= 24 else 2
    patients = max(1, math.ceil(rest / (4 * studies)))
    return _Plan(patients, studies, pixel, cines, overlays)


def build_corpus(
    out_dir: str | os.PathLike[str], *, seed: int = 2026, n_files: int = 200
) -> AnswerKey:
    """Write at least ``n_files`` DICOM files under ``out_dir/dicom`` and their answer key.

    Parameters
    ----------
    out_dir
        Created if needed. Inputs go to ``dicom/`` below it and the key to
        ``answer_key.json`` beside that folder, never inside it.
    seed
        Fixes every patient, image, text placement and UID: the same seed
        gives the same files in the same environment.
    n_files
        A lower bound: parts are whole patients and studies, so a few more
        files may be written.

    Returns
    -------
    AnswerKey
        Also saved as ``out_dir/answer_key.json``; ``key.root`` is the
        input folder.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    root = out / "dicom"
    root.mkdir(parents=True, exist_ok=True)
    plan = _plan(n_files)
    rng = random.Random(f"sparkdeid-benchmark:{seed}")
    who = _OtherPatient()
    referring = f"{pseudo_word(rng)}^{pseudo_word(rng)}"

    corpus = _Part()
    corpus.add(
        _metadata_part(
            root, seed=seed, n_patients=plan.meta_patients, studies=plan.studies_per_patient
        )
    )
    corpus.add(_pixel_part(root, seed=seed + 1, n_files=plan.pixel_files))
    corpus.add(_cine_part(root, seed=seed + 2, n_cines=plan.cines, who=who, referring=referring))
    corpus.add(
        _overlay_part(root, seed=seed + 3, n_overlays=plan.overlays, who=who, referring=referring)
    )
    key = AnswerKey(
        root=root,
        seed=seed,
        files=corpus.files,
        checks=corpus.checks,
        meta={
            "requested_files": n_files,
            "expected_profile": (
                "PS3.15 Basic + Clean Pixel Data, Clean Descriptors, Retain Longitudinal "
                "Temporal Information Modified Dates, Retain Patient Characteristics, "
                "Retain Safe Private (TCIA / MIDI-B)"
            ),
            "build_seconds": round(time.perf_counter() - started, 1),
        },
    )
    key.save(out / "answer_key.json")
    return key


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write dicom/ and answer_key.json into")
    parser.add_argument("--files", type=int, default=200, help="at least this many files")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    key = build_corpus(args.out, seed=args.seed, n_files=args.files)
    seconds = time.perf_counter() - started
    sources: dict[str, int] = {}
    for info in key.files.values():
        sources[info.source] = sources.get(info.source, 0) + 1
    print(
        f"{len(key.files)} files ({', '.join(f'{n} {s}' for s, n in sources.items())}), "
        f"{_size(key.root) / 1e6:.1f} MB in {key.root}, built in {seconds:.1f} s"
    )
    print(f"{len(key.checks)} checks in {args.out / 'answer_key.json'}:")
    for check_type, n in key.counts().items():
        print(f"  {check_type:17s} {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
