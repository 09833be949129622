"""The original's identifying values, and every place they turn up in another dataset.

:func:`phi_values` collects an original file's PHI values: person names
(every PN, private tags included), the identifiers, places, UIDs and dates
of PS3.15 Table E.1-1, every DA/DT value, and the header terms the pixel
recognizer uses, at any depth. :func:`find_in_dataset` looks for them in
*every* element of a (de-identified) dataset: nested sequences, private
tags, file meta, and OB/UN bytes read as latin-1. Each place a value turns
up is a finding naming where it was found and which original attribute it
came from; the value itself is kept only masked (``D*******``).

Used by ``sparkdeid verify`` (:mod:`sparkdeid.jobs.verify`) and by the
residual-PHI gate (:mod:`sparkdeid.verify.residual`). Pure: no Spark,
no files. Values never reach log lines or exception messages.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset

from sparkdeid.dicom.codec import element_vr
from sparkdeid.dicom.identity import name_parts
from sparkdeid.metadata.actions import DUMMY_BY_VR
from sparkdeid.ner.allow_list import is_vocabulary_word
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.header import header_terms_of

TABLE_RESOURCE = "ps3.15-table-e1-1-2024b.csv"

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


def element_label(tag: int) -> str:
    """How findings name an element: its keyword, else ``(gggg,eeee)``."""
    keyword = keyword_for_tag(tag)
    if keyword:
        return str(keyword)
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def walk_elements(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, Dataset, int, str]]:
    """(location, dataset holding it, tag, VR) of every element at any depth.

    A sequence comes before the elements of its items, which are located as
    ``Sequence[n].Keyword``; an unreadable sequence is yielded but not entered.
    """
    for key in list(ds.keys()):
        tag = int(key)
        path = prefix + element_label(tag)
        vr = element_vr(ds, tag)
        yield path, ds, tag, vr
        if vr == "SQ":
            try:
                items = ds[tag].value or []
            except Exception:
                continue
            for number, item in enumerate(items):
                yield from walk_elements(item, f"{path}[{number}].")


def element_texts(ds: Dataset, tag: int) -> list[str]:
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
    for path, holder, tag, vr in walk_elements(ds, prefix):
        if vr == "SQ":
            continue
        kind = table.get(tag)
        if vr == "PN":
            kind = "name"
        elif vr in ("DA", "DT"):
            kind = "date"
        if kind is None:
            continue
        for text in element_texts(holder, tag):
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


def output_texts(ds: Dataset, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(location, text) of every element of ``ds``, sequences and bytes included."""
    for path, holder, tag, vr in walk_elements(ds, prefix):
        if vr == "SQ":
            continue
        if tag in _SKIP_BYTES or ((tag >> 16) & 0xFF01) == 0x6000 and (tag & 0xFFFF) == 0x3000:
            continue  # pixel and overlay bits: random bytes, scanned as pixels instead
        raw = holder.get_item(tag)
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
        for text in element_texts(holder, tag):
            yield path, text
        if isinstance(raw_value, (bytes, bytearray)):
            yield path, bytes(raw_value).decode("latin-1")  # undecoded spelling too


def find_in_dataset(ds: Dataset, values: Sequence[PhiValue]) -> list[MetadataFinding]:
    """Every place in ``ds`` (file meta included) where one of ``values`` appears."""
    patterns = patterns_for(values)
    if not patterns:
        return []
    found: dict[tuple[str, str, str], MetadataFinding] = {}
    texts = list(output_texts(ds))
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        texts += list(output_texts(meta, "FileMeta."))
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
