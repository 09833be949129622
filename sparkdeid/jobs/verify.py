"""Re-scan de-identified outputs against their originals: did any PHI survive?

``sparkdeid verify`` pairs every original with its output by relative path
(the batch job keeps relative paths) and checks two things:

* **metadata** -- every identifying value of the original (person names,
  identifiers and dates of PS3.15 Table E.1-1, the header terms the pixel
  recognizer uses, at any depth and in private tags too) is looked for in
  *every* element of the output: nested sequences, private tags, file meta,
  and OB/UN bytes read as latin-1. Each place a value turns up is a finding
  naming where it was found and which original attribute it came from;
  the value itself is kept only masked (``D*******``);
* **pixels** -- the output's frames are read by OCR and searched for PHI
  with the original's header terms, so a name from the header still burned
  into the output is found; and the regions where output pixels differ
  from the original's are boxed, so a reviewer sees what was removed.

Everything here is in-process and pure apart from reading files; no Spark.
Values never reach log lines or exception messages: logs carry hashed file
ids, keywords and counts.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pydicom.uid import JPEGLossless as JPEGLosslessP14

from sparkdeid.dicom.codec import element_vr, read_dataset
from sparkdeid.dicom.frames import (
    PixelInfo,
    RenderedFrame,
    decode_frame,
    frame_indices,
    pixel_info,
    render_decoded,
)
from sparkdeid.errors import SparkDeidError
from sparkdeid.jobs.manifest import MANIFEST_CSV, QUARANTINE_DIR, STATUS_ERROR
from sparkdeid.metadata.actions import DUMMY_BY_VR
from sparkdeid.metadata.text_cleaner import name_parts
from sparkdeid.ner.allow_list import is_vocabulary_word
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.header import header_terms_of
from sparkdeid.rows import file_id, safe_message

logger = logging.getLogger(__name__)

TABLE_RESOURCE = "ps3.15-table-e1-1-2024b.csv"
MAX_REGIONS = 30
FRAME_CHOICES = ("sample", "all")

STATUS_CLEAN = "clean"
STATUS_LEAK = "leak"
STATUS_MISSING = "missing output"
STATUS_QUARANTINED = "quarantined"
STATUS_UNVERIFIED = "unverified"

# Values that name nobody: the engine's dummies and the usual placeholders.
SAFE_VALUES = frozenset(
    {str(v).upper() for v in DUMMY_BY_VR.values() if isinstance(v, str) and v}
    | {
        "ANONYMOUS", "ANONYMIZED", "ANONYMISED", "DEIDENTIFIED", "DE-IDENTIFIED",
        "REMOVED", "REDACTED", "UNKNOWN", "NONE", "NULL", "N/A", "YES", "NO",
        "MALE", "FEMALE", "OTHER", "TEST", "PATIENT", "PHYSICIAN", "DOCTOR",
    }
)

_MIN_LENGTH = 3
_STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC",
     "UI", "UR", "UT"}
)
_BYTE_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})
_SKIP_BYTES = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010, 0xFFFAFFFA})
# Table E.1-1 attributes that hold identifiers, names, places and dates; free
# text (descriptions, comments) is cleaned rather than removed, and whole
# descriptions identify nobody: names inside them are caught by the PN values.
_IDENTIFYING_NAME = re.compile(
    r"(ID|IDs|Identifier|Number|Numbers|Name|Names|Address|Telephone|Location|Institution"
    r"|Station|Serial|Issuer|Residence|UID|Date|DateTime|AETitle|Mail|Physician)"
)
_FREE_TEXT_NAME = re.compile(r"(Description|Comment|Protocol|Reason|History|Text|Label|Code)")
_LOSSLESS = frozenset(
    {
        ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian, RLELossless, JPEGLosslessP14, JPEGLosslessSV1,
        JPEGLSLossless, JPEG2000Lossless, HTJ2KLossless, HTJ2KLosslessRPCL,
    }
)
_SKIP_NAMES = (MANIFEST_CSV, "_manifest.parquet")


class VerifyError(SparkDeidError, ValueError):
    """A usage problem: a folder that does not exist, an unknown option."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class PhiValue:
    """An identifying value of the original and the attributes it came from."""

    kind: str  # name, id, date, uid, place
    value: str
    sources: tuple[str, ...]

    @property
    def masked(self) -> str:
        return mask_value(self.value)


@dataclass(frozen=True)
class MetadataFinding:
    """An original value found in the output: where, from which attribute, masked."""

    location: str
    sources: tuple[str, ...]
    kind: str
    masked: str
    match: str  # "value" (the whole value in some spelling) or "name part"


@dataclass(frozen=True)
class PixelFinding:
    """PHI read by OCR in the output's pixels. ``crop_png`` only when originals are shown."""

    frame: int
    box: tuple[int, int, int, int]
    label: str
    masked: str
    crop_png: bytes | None = None


@dataclass(frozen=True)
class MaskedRegion:
    """Where output pixels differ from the original's: what was removed."""

    frame: int
    box: tuple[int, int, int, int]
    after_png: bytes
    before_png: bytes | None = None


@dataclass
class FileResult:
    relative_path: str
    status: str
    metadata: list[MetadataFinding] = field(default_factory=list)
    pixels: list[PixelFinding] = field(default_factory=list)
    masked: list[MaskedRegion] = field(default_factory=list)
    masked_total: int = 0
    frames_scanned: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def has_findings(self) -> bool:
        return bool(self.metadata or self.pixels)


@dataclass
class VerifyResult:
    original_dir: str
    deid_dir: str
    files: list[FileResult]
    include_originals: bool = False
    pixels_scanned: bool = True
    extra_outputs: int = 0

    def _count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def files_checked(self) -> int:
        return sum(1 for f in self.files if f.status in (STATUS_CLEAN, STATUS_LEAK))

    @property
    def files_with_findings(self) -> int:
        return self._count(STATUS_LEAK)

    @property
    def metadata_findings(self) -> int:
        return sum(len(f.metadata) for f in self.files)

    @property
    def pixel_findings(self) -> int:
        return sum(len(f.pixels) for f in self.files)

    @property
    def missing(self) -> int:
        return self._count(STATUS_MISSING)

    @property
    def quarantined(self) -> int:
        return self._count(STATUS_QUARANTINED)

    @property
    def unverified(self) -> int:
        return self._count(STATUS_UNVERIFIED)

    @property
    def passed(self) -> bool:
        """No leak found and every output that exists could be checked."""
        return self.files_with_findings == 0 and self.unverified == 0

    def summary_line(self) -> str:
        return (
            f"sparkdeid verify: {self.files_checked} files checked, "
            f"{self.files_with_findings} with findings ({self.metadata_findings} metadata, "
            f"{self.pixel_findings} pixel), {self.missing} missing, {self.quarantined} "
            f"quarantined, {self.unverified} unverified"
        )


def mask_value(value: str) -> str:
    """First character and one asterisk per further character (never more than 12)."""
    value = value.strip()
    if not value:
        return ""
    return value[0] + "*" * min(12, max(2, len(value) - 1))


# --------------------------------------------------------------------------- PHI values


@lru_cache(maxsize=1)
def identifying_table_tags() -> dict[int, str]:
    """Table E.1-1 attributes that hold names, identifiers, places, UIDs or dates: tag -> kind."""
    text = resources.files("sparkdeid").joinpath("data").joinpath(TABLE_RESOURCE).read_text(
        encoding="utf-8-sig"
    )
    found: dict[int, str] = {}
    for record in csv.DictReader(io.StringIO(text, newline="")):
        raw = record["tag"].strip().strip("()").replace(",", "")
        try:
            tag = int(raw, 16) if len(raw) == 8 else -1
        except ValueError:  # repeating groups (50xx, 60xx) and the private-tags row
            continue
        if tag < 0:
            continue
        keyword = keyword_for_tag(tag)
        try:
            vr = str(dictionary_VR(tag)).split(" or ")[0]
        except KeyError:
            continue
        if not keyword or _FREE_TEXT_NAME.search(keyword):
            continue
        if vr == "PN":
            found[tag] = "name"
        elif vr in ("DA", "DT"):
            found[tag] = "date"
        elif vr == "UI":
            found[tag] = "uid"
        elif vr in ("LO", "SH", "LT", "ST", "UT", "UC", "AE") and _IDENTIFYING_NAME.search(
            keyword
        ):
            found[tag] = "id"
    return found


def _label(ds: Dataset, tag: int) -> str:
    keyword = keyword_for_tag(tag)
    if keyword:
        return str(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _texts_of(ds: Dataset, tag: int) -> list[str]:
    """String values of one element, multi-valued split; [] when unreadable."""
    try:
        value = ds[tag].value
    except Exception:
        return []
    if value is None:
        return []
    if isinstance(value, (bytes, bytearray)):
        return [bytes(value).decode("latin-1")]
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _is_trivial(value: str) -> bool:
    stripped = value.strip()
    if len(stripped) < _MIN_LENGTH or not any(ch.isalnum() for ch in stripped):
        return True
    return stripped.upper() in SAFE_VALUES


def _dates_in(value: str) -> list[str]:
    """``YYYYMMDD`` parts of a DA or DT value (ranges split), valid dates only."""
    found = []
    for part in value.split("-"):
        part = part.strip()[:8]
        if len(part) == 8 and part.isdigit() and 1 <= int(part[4:6]) <= 12 and 1 <= int(
            part[6:8]
        ) <= 31:
            found.append(part)
    return found


def _walk_originals(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(kind, value, source path) of identifying values at any depth."""
    table = identifying_table_tags()
    for key in list(ds.keys()):
        tag = int(key)
        vr = element_vr(ds, tag)
        path = prefix + _label(ds, tag)
        if vr == "SQ":
            try:
                items = ds[tag].value or []
            except Exception:
                continue
            for number, item in enumerate(items):
                yield from _walk_originals(item, f"{path}[{number}].")
            continue
        kind = table.get(tag)
        if vr == "PN":
            kind = "name"
        elif vr in ("DA", "DT"):
            kind = "date"
        if kind is None:
            continue
        for text in _texts_of(ds, tag):
            if kind == "date":
                for date in _dates_in(text):
                    yield kind, date, path
            else:
                yield kind, text.strip(), path


_TERM_KINDS = {"person_name": "name", "id": "id", "date": "date", "place": "place"}


def phi_values(ds: Dataset) -> list[PhiValue]:
    """Every non-trivial identifying value of ``ds`` with the attributes holding it.

    Names (every PN, private tags included), the identifiers, places, UIDs
    and dates of Table E.1-1, every DA/DT value (as ``YYYYMMDD``), and the
    header terms the pixel recognizer uses (:func:`header_terms_of`).
    """
    collected: dict[tuple[str, str], dict[str, None]] = {}
    for kind, value, source in _walk_originals(ds):
        if _is_trivial(value):
            continue
        if kind == "name" and not name_parts(value):
            continue
        collected.setdefault((kind, value.upper()), {})[source] = None
    try:
        terms: tuple[HeaderTerm, ...] = header_terms_of(ds)
    except Exception:
        terms = ()
    for term in terms:
        kind = _TERM_KINDS.get(term.kind, "id")
        value = term.value.strip()
        if kind == "date":
            value = value[:8]
        if _is_trivial(value) or (kind, value.upper()) in collected:
            continue
        collected.setdefault((kind, value.upper()), {})["header term"] = None
    return [PhiValue(kind, value, tuple(sources)) for (kind, value), sources in collected.items()]


# --------------------------------------------------------------------------- matching


_BEFORE = r"(?<![A-Z0-9])(?<!\d\.)"
_AFTER = r"(?![A-Z0-9]|\.\d)"
_NAME_GAP = r"[\s,^.\-]{1,3}"


@dataclass(frozen=True)
class _Pattern:
    value: PhiValue
    regex: re.Pattern[str]
    match: str


def _loose(text: str) -> str:
    """``text`` as a regex where any run of separators matches any other."""
    words = [w for w in re.split(r"[\s^,]+", text.upper()) if w]
    return _NAME_GAP.join(re.escape(w) for w in words)


def patterns_for(values: Iterable[PhiValue]) -> list[_Pattern]:
    """Case-insensitive search patterns, whole tokens only, longest spelling first."""
    found = []
    for value in values:
        upper = value.value.upper()
        if value.kind == "date":
            found.append(_Pattern(value, re.compile(r"(?<!\d)" + re.escape(upper)), "value"))
            continue
        if value.kind != "name":
            body = re.escape(upper) if value.kind == "uid" else _loose(upper)
            found.append(_Pattern(value, re.compile(_BEFORE + body + _AFTER), "value"))
            continue
        spellings = {_loose(upper)}
        groups = upper.split("=")[0].split("^")
        family, given = groups[0].strip(), groups[1].strip() if len(groups) > 1 else ""
        if family and given:
            spellings.add(_loose(f"{given} {family}"))
            spellings.add(_loose(f"{family} {given}"))
        alternation = "|".join(sorted(spellings, key=len, reverse=True))
        found.append(_Pattern(value, re.compile(_BEFORE + f"(?:{alternation})" + _AFTER),
                              "value"))
        for part in name_parts(upper):
            if len(part) < _MIN_LENGTH or part in SAFE_VALUES or is_vocabulary_word(part):
                continue
            found.append(_Pattern(value, re.compile(_BEFORE + re.escape(part) + _AFTER),
                                  "name part"))
    return found


def _output_texts(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(location, text) of every element of ``ds``, sequences and bytes included."""
    for key in list(ds.keys()):
        tag = int(key)
        path = prefix + _label(ds, tag)
        vr = element_vr(ds, tag)
        if vr == "SQ":
            try:
                items = ds[tag].value or []
            except Exception:
                items = []
            for number, item in enumerate(items):
                yield from _output_texts(item, f"{path}[{number}].")
            continue
        if tag in _SKIP_BYTES or ((tag >> 16) & 0xFF01) == 0x6000 and (tag & 0xFFFF) == 0x3000:
            continue  # pixel and overlay bits: random bytes, scanned as pixels instead
        raw = ds.get_item(tag)
        raw_value = getattr(raw, "value", None)
        if vr in _BYTE_VRS or vr not in _STRING_VRS:
            if isinstance(raw_value, (bytes, bytearray)):
                data = bytes(raw_value)
                yield path, data.decode("latin-1")
                if any(b > 0x7F for b in data[:4096]):
                    yield path, data.decode("utf-8", "ignore")
                continue
            if vr not in _STRING_VRS:
                continue
        for text in _texts_of(ds, tag):
            yield path, text
        if isinstance(raw_value, (bytes, bytearray)):
            yield path, bytes(raw_value).decode("latin-1")  # undecoded spelling too


def find_in_dataset(ds: Dataset, values: Sequence[PhiValue]) -> list[MetadataFinding]:
    """Every place in ``ds`` (file meta included) where one of ``values`` appears."""
    patterns = patterns_for(values)
    if not patterns:
        return []
    found: dict[tuple[str, str, str], MetadataFinding] = {}
    texts = list(_output_texts(ds))
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        texts += list(_output_texts(meta, "FileMeta."))
    for location, text in texts:
        upper = text.upper()
        for pattern in patterns:
            key = (location, pattern.value.kind, pattern.value.value.upper())
            if key in found and found[key].match == "value":
                continue
            if pattern.regex.search(upper):
                if key in found and pattern.match != "value":
                    continue
                found[key] = MetadataFinding(
                    location=location,
                    sources=pattern.value.sources,
                    kind=pattern.value.kind,
                    masked=pattern.value.masked,
                    match=pattern.match,
                )
    return list(found.values())


# --------------------------------------------------------------------------- pixels


@dataclass(frozen=True)
class PixelOptions:
    engine: str = "rapidocr"
    frames: str = "sample"
    include_originals: bool = False
    padding: float = 2.0


@lru_cache(maxsize=4)
def _scanner(engine: str) -> tuple[Any, Any]:
    from sparkdeid.ner.detect import DetectorConfig
    from sparkdeid.ner.ner_deid import detector_for
    from sparkdeid.ocr.registry import get_engine

    return get_engine(engine), detector_for(DetectorConfig())


def _is_lossless(info: PixelInfo) -> bool:
    return UID(info.transfer_syntax) in _LOSSLESS


def difference_mask(original: np.ndarray, output: np.ndarray, tolerance: int) -> np.ndarray:
    """Pixels whose value changed by more than ``tolerance`` (any channel)."""
    diff = np.asarray(np.abs(original.astype(np.int64) - output.astype(np.int64)) > tolerance)
    return np.asarray(diff.any(axis=-1)) if diff.ndim == 3 else diff


def changed_boxes(mask: np.ndarray, min_pixels: int = 4) -> list[tuple[int, int, int, int]]:
    """Bounding boxes ``(x0, y0, x1, y1)`` (half-open) of the connected changed areas.

    Components are found on a grid of small blocks, so the strokes of one
    masked word come back as one box; largest first.
    """
    height, width = mask.shape
    if not mask.any():
        return []
    block = max(4, math.ceil(max(height, width) / 256))
    rows, cols = math.ceil(height / block), math.ceil(width / block)
    padded = np.zeros((rows * block, cols * block), dtype=bool)
    padded[:height, :width] = mask
    grid = np.asarray(padded.reshape(rows, block, cols, block).any(axis=(1, 3)))
    seen = np.zeros_like(grid)
    boxes = []
    for start in zip(*np.nonzero(grid), strict=True):
        if seen[start]:
            continue
        stack = [start]
        seen[start] = True
        cells = []
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    nr, nc = r + dr, c + dc
                    if 0 <= nr < rows and 0 <= nc < cols and grid[nr, nc] and not seen[nr, nc]:
                        seen[nr, nc] = True
                        stack.append((nr, nc))
        r0 = min(r for r, _ in cells) * block
        r1 = (max(r for r, _ in cells) + 1) * block
        c0 = min(c for _, c in cells) * block
        c1 = (max(c for _, c in cells) + 1) * block
        part = mask[r0:r1, c0:c1]
        ys, xs = np.nonzero(part)
        if len(ys) < min_pixels:
            continue
        boxes.append((c0 + int(xs.min()), r0 + int(ys.min()),
                      c0 + int(xs.max()) + 1, r0 + int(ys.max()) + 1))
    boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return boxes


def crop_png(image: np.ndarray, box: tuple[int, int, int, int], margin: int = 4,
             max_size: int = 240) -> bytes:
    """A PNG of ``box`` (plus ``margin``) from a rendered frame, at most ``max_size`` wide."""
    from PIL import Image

    height, width = image.shape[:2]
    x0, y0, x1, y1 = box
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    crop = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]))
    if max(crop.size) > max_size:
        crop.thumbnail((max_size, max_size))
    elif max(crop.size) < 48:
        factor = max(1, 48 // max(crop.size))
        crop = crop.resize((crop.size[0] * factor, crop.size[1] * factor),
                           Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    crop.save(buffer, format="PNG")
    return buffer.getvalue()


def ocr_findings(
    rendered: RenderedFrame, frame: int, header: tuple[HeaderTerm, ...], options: PixelOptions
) -> list[PixelFinding]:
    """PHI the detector finds in one rendered output frame, as phi_boxes finds it."""
    from sparkdeid.dicom.dicom_to_image import image_struct
    from sparkdeid.ner.ner_deid import frame_text
    from sparkdeid.ocr.text_detector import ocr_image
    from sparkdeid.regions.position_finder import find_regions

    engine, detector = _scanner(options.engine)
    ocr = ocr_image(engine, image_struct(rendered))
    entities = detector.detect_frame(frame_text(ocr), header)
    rows = [{"begin": e.begin, "end": e.end, "label": e.label} for e in entities]
    text = str(ocr["text"])
    findings = []
    for region in find_regions(ocr, rows, padding=options.padding, merge_gap=options.padding):
        box = (int(region["x0"]), int(region["y0"]),
               int(math.ceil(region["x1"])), int(math.ceil(region["y1"])))
        words = [
            text[int(w["begin"]):int(w["end"])] for w in ocr["words"]
            if w["x0"] < region["x1"] and w["x1"] > region["x0"]
            and w["y0"] < region["y1"] and w["y1"] > region["y0"]
        ]
        masked = " ".join(mask_value(w) for w in words if w.strip())
        crop = crop_png(rendered.image, box) if options.include_originals else None
        findings.append(PixelFinding(frame, box, str(region["label"]), masked, crop))
    return findings


def scan_pixels(
    original: Dataset, output: Dataset, header: tuple[HeaderTerm, ...], options: PixelOptions,
    result: FileResult,
) -> None:
    """OCR the output's frames for PHI and box what changed against the original."""
    out_info = pixel_info(output)
    if out_info is None:
        if pixel_info(original) is not None:
            result.notes.append("output has no pixel data; the original has")
        return
    org_info = pixel_info(original)
    comparable = (
        org_info is not None
        and (org_info.rows, org_info.columns, org_info.num_frames)
        == (out_info.rows, out_info.columns, out_info.num_frames)
    )
    if org_info is not None and not comparable:
        result.notes.append("output frames differ in size or number; no masked regions shown")
    sampling = "all" if options.frames == "all" else "first_middle_last"
    frames = frame_indices(out_info.num_frames, 0, sampling)
    result.frames_scanned = tuple(frames)
    regions: list[tuple[int, tuple[int, int, int, int], RenderedFrame, RenderedFrame | None]] = []
    for index in frames:
        out_arr = decode_frame(output, index, info=out_info)
        rendered = render_decoded(output, out_info, out_arr, index)
        result.pixels.extend(ocr_findings(rendered, index, header, options))
        if not comparable or org_info is None:
            continue
        org_arr = decode_frame(original, index, info=org_info)
        if org_arr.shape != out_arr.shape:
            continue
        low, high = org_info.value_range()
        lossless = _is_lossless(org_info) and _is_lossless(out_info)
        tolerance = 0 if lossless else max(1, int((high - low) * 0.04))
        boxes = changed_boxes(difference_mask(org_arr, out_arr, tolerance))
        if not boxes:
            continue
        before = (render_decoded(original, org_info, org_arr, index)
                  if options.include_originals else None)
        regions.extend((index, box, rendered, before) for box in boxes)
    result.masked_total = len(regions)
    regions.sort(key=lambda r: (r[1][2] - r[1][0]) * (r[1][3] - r[1][1]), reverse=True)
    for index, box, rendered, before in sorted(regions[:MAX_REGIONS], key=lambda r: r[0]):
        result.masked.append(MaskedRegion(
            index, box, crop_png(rendered.image, box),
            crop_png(before.image, box) if before is not None else None,
        ))


# --------------------------------------------------------------------------- pairs


def verify_pair(
    original_path: str,
    output_path: str,
    relative_path: str,
    pixels: PixelOptions | None = None,
) -> FileResult:
    """Check one output against its original; never raises for a bad file."""
    result = FileResult(relative_path, STATUS_CLEAN)
    fid = file_id(relative_path)
    try:
        with open(original_path, "rb") as handle:
            original = read_dataset(handle.read())
    except Exception as exc:
        result.status = STATUS_UNVERIFIED
        result.notes.append(f"original unreadable: {safe_message(exc)}")
        logger.warning("verify %s: original unreadable (%s)", fid, type(exc).__name__)
        return result
    try:
        with open(output_path, "rb") as handle:
            output = read_dataset(handle.read())
    except Exception as exc:
        result.status = STATUS_UNVERIFIED
        result.notes.append(f"output unreadable: {safe_message(exc)}")
        logger.warning("verify %s: output unreadable (%s)", fid, type(exc).__name__)
        return result
    values = phi_values(original)
    result.metadata = find_in_dataset(output, values)
    if pixels is not None:
        try:
            header = header_terms_of(original)
            scan_pixels(original, output, header, pixels, result)
        except Exception as exc:
            result.status = STATUS_UNVERIFIED
            result.notes.append(f"pixel scan failed: {safe_message(exc)}")
            logger.warning("verify %s: pixel scan failed (%s)", fid, type(exc).__name__)
            return result
    if result.has_findings:
        result.status = STATUS_LEAK
    logger.info(
        "verify %s: %d values, %d metadata findings (%s), %d pixel findings, %d masked regions",
        fid, len(values), len(result.metadata),
        ",".join(sorted({f.location for f in result.metadata})) or "-",
        len(result.pixels), result.masked_total,
    )
    return result


def list_relative(root: str, skip_deid_files: bool = False) -> dict[str, str]:
    """Regular files under ``root``: relative path (``/``-separated) -> absolute path."""
    found: dict[str, str] = {}
    root = os.path.abspath(root)
    for folder, dirs, files in os.walk(root):
        if skip_deid_files and folder == root:
            dirs[:] = [d for d in dirs if d != QUARANTINE_DIR]
        dirs.sort()
        for name in sorted(files):
            if skip_deid_files and folder == root and name in _SKIP_NAMES:
                continue
            full = os.path.join(folder, name)
            if os.path.isfile(full) and not os.path.islink(full):
                found[os.path.relpath(full, root).replace(os.sep, "/")] = full
    return found


def quarantined_paths(original_dir: str, deid_dir: str) -> set[str]:
    """Relative paths the deid folder's manifest lists as errors (empty without one)."""
    path = os.path.join(deid_dir, MANIFEST_CSV)
    if not os.path.isfile(path):
        return set()
    root = os.path.abspath(original_dir)
    marker = "/" + QUARANTINE_DIR + "/"
    found = set()
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if (row.get("status") or "") != STATUS_ERROR:
                continue
            output = (row.get("output_path") or "").replace(os.sep, "/")
            source = (row.get("input_path") or "").removeprefix("file://").removeprefix("file:")
            if marker in output:
                found.add(output.split(marker, 1)[1])
            elif source and os.path.abspath(source).startswith(root + os.sep):
                found.add(os.path.relpath(os.path.abspath(source), root).replace(os.sep, "/"))
    return found


def verify(
    original_dir: str,
    deid_dir: str,
    *,
    pixels: bool = True,
    include_originals: bool = False,
    engine: str = "rapidocr",
    frames: str = "sample",
    workers: int = 1,
) -> VerifyResult:
    """Re-scan every output under ``deid_dir`` against its original under ``original_dir``.

    Raises
    ------
    VerifyError
        When a folder does not exist or an option is unknown.
    """
    for folder in (original_dir, deid_dir):
        if not os.path.isdir(folder):
            raise VerifyError("verify needs two existing folders (--original and --deid)")
    if frames not in FRAME_CHOICES:
        raise VerifyError(f"--frames must be one of {', '.join(FRAME_CHOICES)}")
    originals = list_relative(original_dir)
    outputs = list_relative(deid_dir, skip_deid_files=True)
    quarantined = quarantined_paths(original_dir, deid_dir)
    options = PixelOptions(engine, frames, include_originals) if pixels else None
    if options is not None:
        _check_engine(engine)
    files: dict[str, FileResult] = {}
    pairs = []
    for relative, path in originals.items():
        if relative in outputs:
            pairs.append((path, outputs[relative], relative, options))
        elif relative in quarantined:
            files[relative] = FileResult(relative, STATUS_QUARANTINED,
                                         notes=["listed as an error in the manifest"])
        else:
            files[relative] = FileResult(relative, STATUS_MISSING)
    if workers > 1 and len(pairs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            checked = list(pool.map(_verify_args, pairs))
    else:
        checked = [verify_pair(*pair) for pair in pairs]
    files.update((r.relative_path, r) for r in checked)
    extra = len(set(outputs) - set(originals))
    result = VerifyResult(
        original_dir, deid_dir, [files[k] for k in sorted(files)],
        include_originals=include_originals and pixels, pixels_scanned=pixels,
        extra_outputs=extra,
    )
    logger.info("verify: %d pairs, %d leaks, %d missing, %d quarantined, %d extra outputs",
                len(pairs), result.files_with_findings, result.missing, result.quarantined,
                extra)
    return result


def _verify_args(args: tuple[str, str, str, PixelOptions | None]) -> FileResult:
    return verify_pair(*args)


def _check_engine(engine: str) -> None:
    from sparkdeid.ocr.registry import known_engines

    if engine not in known_engines():
        raise VerifyError(f"unknown OCR engine {engine!r}; known: {', '.join(known_engines())}")
