"""The identifying values of a header: names, ids, places and dates, and their forms.

What a file says about its patient is read here once; the header text
cleaner, the burned-in text recognisers and the residual checks all look
for these values.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from sparkdeid.dicom.codec import element_vr, values_of
from sparkdeid.text_patterns import GENERIC_PLACE_WORDS

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
