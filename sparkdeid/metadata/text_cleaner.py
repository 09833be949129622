"""Free-text cleaning for ``cleanTag`` before a model is involved.

A description such as ``CT CHEST DOE 06/16/1976`` keeps ``CT CHEST`` and loses
the rest. Two sources say what to remove: the same file's own header (names
of everyone in it, ids, accession numbers, institution, its dates written in
common forms) and rules for things that are PHI wherever they appear (dates,
phone numbers, e-mail, URLs, long digit runs). NerDeid plugs in behind the
same ``Callable[[str], str]`` interface.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from sparkdeid.dicom.codec import element_vr
from sparkdeid.metadata.actions import values_of

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
RULE_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "url": re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "phone": re.compile(
        r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{3,4}(?!\w)"
    ),
    "date_numeric": re.compile(r"(?<!\d)\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}(?!\d)"),
    "date_text": re.compile(
        rf"(?<![a-z])(?:\d{{1,2}}(?:st|nd|rd|th)?[\s,.-]*{_MONTHS}[\s,.-]*\d{{2,4}}"
        rf"|{_MONTHS}[\s,.-]*\d{{1,2}}(?:st|nd|rd|th)?[\s,.-]+\d{{4}}"
        rf"|\d{{4}}[\s,.-]*{_MONTHS}[\s,.-]*\d{{1,2}}"
        rf"|{_MONTHS}[\s,.-]*\d{{4}})(?![a-z])",
        re.IGNORECASE,
    ),
    "uid": re.compile(r"(?<![\d.])\d+(?:\.\d+){3,}(?![\d.])"),
    "digit_run": re.compile(r"(?<!\d)(?<!\d\.)\d{5,}(?!\d|\.\d)"),
}

# Header attributes whose values are identifying wherever they reappear in text.
ID_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "IssuerOfPatientID",
    "AccessionNumber",
    "StudyID",
    "MedicalRecordLocator",
    "RequestedProcedureID",
    "ScheduledProcedureStepID",
    "PerformedProcedureStepID",
    "AdmissionID",
    "DeviceSerialNumber",
    "PatientTelephoneNumbers",
    "StationName",
)
PLACE_KEYWORDS = (
    "InstitutionName",
    "InstitutionAddress",
    "InstitutionalDepartmentName",
    "PatientAddress",
    "RegionOfResidence",
)
# Words too generic to remove on their own when they are part of a place name.
GENERIC_PLACE_WORDS = frozenset(
    """hospital medical center centre clinic clinics general university universitat
    institute health healthcare regional community children childrens department dept
    radiology imaging diagnostic diagnostics saint memorial county city national the and of
    for street road avenue suite floor unit ward""".split()
)
_NAME_PART_MIN = 2
_ID_MIN = 3


@lru_cache(maxsize=4096)
def date_forms(value: str) -> frozenset[str]:
    """A DA value as people write it: 06/16/1976, 16.06.1976, 1976-06-16, 16 Jun 1976."""
    try:
        date = dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return frozenset()
    forms = {
        date.strftime(fmt)
        for fmt in (
            "%Y%m%d", "%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d",
            "%m-%d-%Y", "%d-%m-%Y", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y",
            "%b %d, %Y", "%B %d, %Y", "%Y %b %d", "%m/%d/%y", "%d/%m/%y",
        )
    }
    forms.add(f"{date.month}/{date.day}/{date.year}")
    forms.add(f"{date.day}/{date.month}/{date.year}")
    return frozenset(forms)


def _texts(elem: DataElement) -> list[str]:
    return [str(v) for v in values_of(elem) if v]


def _tags(keywords: Iterable[str]) -> frozenset[int]:
    return frozenset(t for t in (tag_for_keyword(k) for k in keywords) if t is not None)


_ID_TAGS = _tags(ID_KEYWORDS)
_PLACE_TAGS = _tags(PLACE_KEYWORDS)


def identifying_values(
    ds: Dataset,
    id_tags: frozenset[int] = _ID_TAGS,
    place_tags: frozenset[int] = _PLACE_TAGS,
) -> Iterator[tuple[str, str]]:
    """``(kind, value)`` for every identifying value in ``ds`` and its sequences.

    Kinds: ``person_name`` (every PN), ``date`` (every DA), ``datetime``
    (every DT), ``id`` and ``place`` (the elements of ``id_tags`` and
    ``place_tags``). Values are as stored (``DOE^JOHN``, ``19760616``); only
    the elements that can hold such strings are converted from their raw form.
    """
    for key in list(ds.keys()):
        tag = int(key)
        vr = element_vr(ds, tag)
        if vr == "SQ":
            for item in ds[tag].value or []:
                yield from identifying_values(item, id_tags, place_tags)
        elif vr == "PN":
            yield from (("person_name", v) for v in _texts(ds[tag]))
        elif vr == "DA":
            yield from (("date", v) for v in _texts(ds[tag]))
        elif vr == "DT":
            yield from (("datetime", v) for v in _texts(ds[tag]))
        elif tag in id_tags:
            yield from (("id", v) for v in _texts(ds[tag]))
        elif tag in place_tags:
            yield from (("place", v) for v in _texts(ds[tag]))


def name_parts(value: str) -> list[str]:
    """Family, given and middle name words of a PN value, at least two letters long.

    All component groups (alphabetic, ideographic, phonetic) are read; name
    prefixes and suffixes (DR, MR, JR) are not names and are left out.
    """
    parts = []
    for group in value.split("="):
        for component in group.split("^")[:3]:
            for part in re.split(r"[\s,]+", component):
                if len(part.strip(".")) >= _NAME_PART_MIN:
                    parts.append(part.strip("."))
    return parts


def header_terms(ds: Dataset) -> set[str]:
    """Identifying strings of this file: every person name part, ids, places, dates."""
    terms: set[str] = set()
    for kind, value in identifying_values(ds):
        if kind == "person_name":
            terms.update(name_parts(value))
        elif kind == "date":
            terms.update(date_forms(value))
        elif kind == "id":
            if len(value.strip()) >= _ID_MIN:
                terms.add(value.strip())
        elif kind == "place":
            value = value.strip()
            if len(value) >= _ID_MIN:
                terms.add(value)
            terms.update(
                word
                for word in re.split(r"[\s,^/]+", value)
                if len(word) >= 4 and word.lower() not in GENERIC_PLACE_WORDS
            )
    return terms


_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['.\-][A-Za-z0-9]+)*")


class HeaderMatcher:
    """Finds a file's header terms in text: single words by set lookup, phrases by search.

    Set lookups instead of one big regular expression per file: compiling an
    alternation of every term cost more than the rest of the cleaning.
    """

    def __init__(self, terms: Iterable[str]) -> None:
        words, phrases = set(), set()
        for term in terms:
            folded = term.strip().lower()
            if not folded:
                continue
            if _TOKEN.fullmatch(folded):
                words.add(folded)
            else:
                phrases.add(folded)
        self.words = frozenset(words)
        self.phrases = sorted(phrases, key=len, reverse=True)

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = [m.span() for m in _TOKEN.finditer(text) if m.group().lower() in self.words]
        lowered = text.lower()
        for phrase in self.phrases:
            start = lowered.find(phrase)
            while start >= 0:
                end = start + len(phrase)
                before = lowered[start - 1] if start else " "
                after = lowered[end] if end < len(lowered) else " "
                if not before.isalnum() and not after.isalnum():
                    found.append((start, end))
                start = lowered.find(phrase, end)
        return found


def clean_text(text: str, header: HeaderMatcher | None) -> str:
    """Remove header terms and rule matches; keep the other words in their order."""
    spans: list[tuple[int, int]] = []
    for pattern in RULE_PATTERNS.values():
        spans.extend(m.span() for m in pattern.finditer(text))
    if header is not None:
        spans.extend(header.spans(text))
    if not spans:
        return text
    return remove_spans(text, spans)


def remove_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` without the character spans, spaces tidied and stray separators trimmed."""
    keep = []
    position = 0
    for start, end in sorted(spans):
        if start > position:
            keep.append(text[position:start])
        position = max(position, end)
    keep.append(text[position:])
    cleaned = re.sub(r"\s{2,}", " ", " ".join(part.strip() for part in keep))
    return cleaned.strip(" ,;:-/^")


def header_text_cleaner(ds: Dataset) -> Callable[[str], str]:
    """A cleaner bound to one file's header as it is now (call before changing it).

    Terms are gathered at once, since de-identification is about to erase
    them; the regular expression is only compiled if some text needs cleaning.
    """
    terms = header_terms(ds)
    state: dict[str, HeaderMatcher] = {}

    def cleaner(text: str) -> str:
        if "matcher" not in state:
            state["matcher"] = HeaderMatcher(terms)
        return clean_text(text, state["matcher"])

    return cleaner
