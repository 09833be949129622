"""The file's own identifying values, and finding them again in OCR or tag text.

The strongest evidence that a burned-in word is PHI is that the same file's
header holds it: the patient's name, the accession number, the birth date.
:func:`header_terms_of` collects those values, typed by kind;
:class:`HeaderRecognizer` finds them in text tolerantly, because OCR and
scanner user interfaces rarely print a value the way the header stores it:

* names in any order, case and punctuation (``DOE^JOHN``, ``John Doe``,
  ``DOE, JOHN``, ``DOE JOHN M``), a name part alone, name parts run together;
* OCR confusions (O/0, I/l/1, S/5, B/8, Z/2, G/6) folded away before comparing;
* a small edit distance scaled by length for words of four characters or
  more, and truncation (``PATIENTFI...`` for ``PATIENTFIVE``: a prefix of five
  characters or more counts);
* ids with separators inserted or dropped (``QX-8812 0345``);
* dates in the many ways people write them (``06/16/1976``, ``16.06.1976``,
  ``19760616``, ``16-JUN-1976``, ``Jun 16, 1976``, two-digit years).

Terms travel as :class:`~sparkdeid.ner.base.HeaderTerm` values (plain
strings), so they can ride along in a Spark column; the matching index is
built once per distinct header tuple and cached.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from sparkdeid.dicom.identity import (
    ID_KEYWORDS,
    PLACE_KEYWORDS,
    date_forms,
    identifying_values,
    name_parts,
)
from sparkdeid.ner.allow_list import is_vocabulary_word
from sparkdeid.ner.base import Entity, HeaderTerm
from sparkdeid.text_patterns import GENERIC_PLACE_WORDS

# Beyond the ids and places text_cleaner removes from descriptions: values that
# can be burned into pixels or typed into comments.
_EXTRA_ID_KEYWORDS = (
    "ReferringPhysicianTelephoneNumbers",
    "PersonTelephoneNumbers",
    "FillerOrderNumberImagingServiceRequest",
    "PlacerOrderNumberImagingServiceRequest",
    "ClinicalTrialSubjectID",
    "ClinicalTrialSubjectReadingID",
    "ServiceEpisodeID",
    "IssuerOfAdmissionID",
    "LocalNamespaceEntityID",
    "PerformedStationName",
    "ScheduledStationName",
)
_EXTRA_PLACE_KEYWORDS = (
    "ReferringPhysicianAddress",
    "PersonAddress",
    "CurrentPatientLocation",
    "PatientInstitutionResidence",
    "PerformedLocation",
    "ScheduledProcedureStepLocation",
    "AssignedLocation",
    "ResponsibleOrganization",
)


def _tags(keywords: Iterable[str]) -> frozenset[int]:
    return frozenset(t for t in (tag_for_keyword(k) for k in keywords) if t is not None)


_ID_TAGS = _tags((*ID_KEYWORDS, *_EXTRA_ID_KEYWORDS))
_PLACE_TAGS = _tags((*PLACE_KEYWORDS, *_EXTRA_PLACE_KEYWORDS))

LABELS = {
    "person_name": "NAME",
    "id": "ID",
    "date": "DATE",
    "place": "LOCATION",
    "other": "OTHER",
}


def header_terms_of(ds: Dataset) -> tuple[HeaderTerm, ...]:
    """Identifying values of ``ds`` (sequences included), typed, deduplicated, in file order.

    ``person_name``: every PN value anywhere; ``id``: patient and other ids,
    issuer, accession, study and procedure ids, phone numbers, station names,
    device serial; ``date``: every DA value and the date part of every DT
    value (``YYYYMMDD``); ``place``: institution, department, addresses,
    patient location. Call it before the header is de-identified.
    """
    seen: dict[HeaderTerm, None] = {}
    for kind, raw in identifying_values(ds, _ID_TAGS, _PLACE_TAGS):
        value = raw.strip()
        if kind == "datetime":
            kind, value = "date", value[:8]
        if kind == "person_name" and not name_parts(value):
            continue
        if kind == "date" and _parse_date(value) is None:
            continue
        if kind in ("id", "place") and len(_compact(value)) < 2:
            continue
        seen[HeaderTerm(kind, value)] = None
    return tuple(seen)


class HeaderRecognizer:
    """Finds the file's own header values in text (entities with source ``header``)."""

    name = "header"

    def find(self, text: str, header: tuple[HeaderTerm, ...]) -> list[Entity]:
        if not text or not header:
            return []
        return match_terms(text, header)


def match_terms(text: str, terms: Sequence[HeaderTerm], source: str = "header") -> list[Entity]:
    """Entities for every occurrence of ``terms`` in ``text`` (the header recognizer's core).

    Labels follow the term kind: NAME, ID, DATE, LOCATION, OTHER. Scores say
    how the match was made: 1.0 exact, 0.95 equal after folding OCR
    confusions, 0.85 within the edit distance, 0.8 a truncated prefix.
    """
    index = _index_for(tuple(terms))
    entities: list[Entity] = []
    position = 0
    for line in text.split("\n"):
        entities.extend(_match_line(line, position, index, source))
        position += len(line) + 1
    return entities


# --------------------------------------------------------------------------- folding


_CONFUSABLE = str.maketrans({"0": "O", "1": "I", "L": "I", "5": "S", "8": "B", "2": "Z", "6": "G"})
_TOKEN = re.compile(r"[^\W_]+")


def _plain(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).upper()


def fold(value: str) -> str:
    """Upper case, accents dropped, OCR-confusable characters mapped to one of each pair."""
    return _plain(value).translate(_CONFUSABLE)


def _compact(value: str) -> str:
    return "".join(_TOKEN.findall(value))


def max_edits(length: int) -> int:
    """Edits tolerated in a word of ``length`` characters: none below four, then 1, 2, 3."""
    if length < 4:
        return 0
    if length <= 7:
        return 1
    if length <= 12:
        return 2
    return 3


def _id_edits(length: int) -> int:
    # Ids are compared whole, not word by word: short ones must match exactly.
    if length < 6:
        return 0
    return 1 if length < 12 else 2


def within_edits(a: str, b: str, limit: int) -> bool:
    """Levenshtein distance of ``a`` and ``b`` is at most ``limit`` (stops early)."""
    if abs(len(a) - len(b)) > limit:
        return False
    if limit == 0 or a == b:
        return a == b
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
        if min(current) > limit:
            return False
        previous = current
    return previous[-1] <= limit


# --------------------------------------------------------------------------- index


@dataclass(frozen=True)
class _Word:
    folded: str
    plain: str  # upper case, before folding confusions
    label: str
    person: int  # which person name it belongs to, -1 for other kinds
    tolerant: bool  # fuzzy and prefix matches allowed


@dataclass
class _Index:
    words: dict[str, list[_Word]] = field(default_factory=dict)
    tolerant: list[_Word] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    dates: set[tuple[str, ...]] = field(default_factory=set)
    date_compacts: set[str] = field(default_factory=set)
    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    initials: dict[int, frozenset[str]] = field(default_factory=dict)

    def add_word(self, word: _Word) -> None:
        self.words.setdefault(word.folded, []).append(word)
        if word.tolerant and len(word.folded) >= 4:
            self.tolerant.append(word)


@lru_cache(maxsize=256)
def _index_for(terms: tuple[HeaderTerm, ...]) -> _Index:
    index = _Index()
    for number, term in enumerate(terms):
        value = term.value.strip()
        if not value:
            continue
        if term.kind == "person_name":
            _index_name(index, value, number)
        elif term.kind == "date":
            _index_date(index, value)
        elif term.kind == "id":
            _index_id(index, value)
        elif term.kind == "place":
            _index_place(index, value)
        else:
            tokens = tuple(fold(t) for t in _TOKEN.findall(value))
            if len(tokens) == 1:
                index.add_word(_Word(tokens[0], _plain(value), LABELS["other"], -1, False))
            elif tokens:
                index.phrases[tokens] = LABELS["other"]
    return index


def _index_name(index: _Index, value: str, person: int) -> None:
    parts = [_plain(t) for part in name_parts(value) for t in _TOKEN.findall(part)]
    parts = [p for p in parts if len(p) >= 2]
    # Names run together by OCR or by the UI: DOEJOHN, JOHNDOE.
    joined = {"".join(parts), parts[0] + parts[1], parts[1] + parts[0]} if len(parts) > 1 else set()
    for word in {*parts, *joined}:
        index.add_word(_Word(fold(word), word, LABELS["person_name"], person, True))
    components = re.split(r"[\^=\s,.]+", value)
    index.initials[person] = frozenset(fold(c[0]) for c in components if c and c[0].isalpha())


def _index_id(index: _Index, value: str) -> None:
    raw = _compact(value)
    compact = fold(raw)
    # A study id of 1-3 digits is everywhere on a screen (AO 100%) and names nobody.
    if len(compact) >= (4 if raw.isdigit() else 3):
        index.ids.append(compact)
    # An id made of letters only (an issuer such as CCHS) is also a word.
    if raw.isalpha() and len(compact) >= 3:
        index.add_word(_Word(compact, _plain(_compact(value)), LABELS["id"], -1, False))


def _index_place(index: _Index, value: str) -> None:
    tokens = tuple(fold(t) for t in _TOKEN.findall(value))
    if len(tokens) >= 2:
        index.phrases[tokens] = LABELS["place"]
    for raw in _TOKEN.findall(value):
        if (
            len(raw) >= 4
            and raw.lower() not in GENERIC_PLACE_WORDS
            and not is_vocabulary_word(raw)
            and not raw.isdigit()
        ):
            index.add_word(_Word(fold(raw), _plain(raw), LABELS["place"], -1, True))


def _parse_date(value: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def _index_date(index: _Index, value: str) -> None:
    date = _parse_date(value)
    if date is None:
        return
    d, m, y, yy = date.day, date.month, date.year, date.strftime("%y")
    forms = set(date_forms(value))
    forms.update(
        date.strftime(fmt)
        for fmt in ("%d %b %y", "%b %d %y", "%y%m%d", "%d%m%y", "%m%d%y", "%d %B %y", "%y %b %d")
    )
    forms.update(
        f"{a}/{b}/{c}" for a, b, c in ((m, d, yy), (d, m, yy), (y, m, d), (m, d, y), (d, m, y))
    )
    for form in forms:
        tokens = tuple(fold(t) for t in _TOKEN.findall(form))
        if not tokens:
            continue
        index.dates.add(tokens)
        # Written without separators only when every number is zero-padded.
        if all(not t[0].isdigit() or len(t) in (2, 4) for t in _TOKEN.findall(form)):
            index.date_compacts.add("".join(tokens))


# --------------------------------------------------------------------------- matching

_MAX_WINDOW = 5
_ID_GAP = re.compile(r"[\s\-./_:#]{1,2}")
_DATE_GAP = re.compile(r"[\s\-./,]{1,3}")
_PHRASE_GAP = re.compile(r"[\s\-.,/&']{1,3}")
_NAME_GAP = re.compile(r"[\s,^.'\-]{0,3}")


@dataclass(frozen=True)
class _Match:
    first: int  # token indices, inclusive
    last: int
    label: str
    score: float
    person: int = -1


def _match_line(line: str, offset: int, index: _Index, source: str) -> list[Entity]:
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(line)]
    if not tokens:
        return []
    folded = [fold(t[2]) for t in tokens]
    gaps = [line[tokens[i][1] : tokens[i + 1][0]] for i in range(len(tokens) - 1)]
    matches = _window_matches(folded, gaps, index) + _word_matches(tokens, folded, index)
    matches += _initials(tokens, gaps, matches, index)
    entities = []
    for first, last, label, score in _join_names(matches, gaps):
        entities.append(
            Entity(offset + tokens[first][0], offset + tokens[last][1], label, source, score)
        )
    return entities


def _window_matches(folded: list[str], gaps: list[str], index: _Index) -> list[_Match]:
    """Dates, ids and multi-word phrases: runs of tokens joined by short separators."""
    found: list[_Match] = []
    for i in range(len(folded)):
        for size in range(1, _MAX_WINDOW + 1):
            j = i + size - 1
            if j >= len(folded):
                break
            window = tuple(folded[i : j + 1])
            joined = [gaps[k] for k in range(i, j)]
            if size > 1 and all(_DATE_GAP.fullmatch(g) for g in joined):
                if window in index.dates:
                    found.append(_Match(i, j, LABELS["date"], 1.0))
            if size == 1 and window[0] in index.date_compacts:
                found.append(_Match(i, j, LABELS["date"], 1.0))
            if size > 1 and window in index.phrases and all(
                _PHRASE_GAP.fullmatch(g) for g in joined
            ):
                found.append(_Match(i, j, index.phrases[window], 1.0))
            if size == 1 or all(_ID_GAP.fullmatch(g) for g in joined):
                score = _id_score("".join(window), size, index.ids)
                if score:
                    found.append(_Match(i, j, LABELS["id"], score))
    return found


def _id_score(compact: str, size: int, ids: list[str]) -> float:
    best = 0.0
    for value in ids:
        if compact == value:
            return 1.0
        if len(value) >= 5 and size == 1 and value in compact:
            best = max(best, 0.95)  # the id inside a longer token: MRN12345678
        elif within_edits(compact, value, _id_edits(len(value))):
            best = max(best, 0.85)
        elif size == 1 and len(compact) >= 6 and value.startswith(compact):
            best = max(best, 0.8)  # truncated on screen
    return best


def _word_matches(
    tokens: list[tuple[int, int, str]], folded: list[str], index: _Index
) -> list[_Match]:
    """Name parts and place words, one token at a time."""
    found: list[_Match] = []
    for i, ((_, _, raw), word) in enumerate(zip(tokens, folded, strict=True)):
        exact = index.words.get(word)
        if exact:
            score = 1.0 if any(_plain(raw) == w.plain for w in exact) else 0.95
            found.extend(_Match(i, i, w.label, score, w.person) for w in exact)
            continue
        letters = "".join(ch for ch in raw if not ch.isdigit())
        if letters != raw and len(letters) >= 3 and fold(letters) in index.words:
            found.extend(_Match(i, i, w.label, 0.9, w.person) for w in index.words[fold(letters)])
            continue
        if len(word) < 4 or is_vocabulary_word(raw):
            continue  # a known overlay word must match a header value exactly
        for entry in index.tolerant:
            score = _tolerant_score(word, entry.folded)
            if score:
                found.append(_Match(i, i, entry.label, score, entry.person))
    return found


def _tolerant_score(word: str, term: str) -> float:
    if within_edits(word, term, max_edits(len(term))):
        return 0.85
    if len(term) > len(word) >= 5 and term.startswith(word):
        return 0.8  # PATIENTFI... for PATIENTFIVE
    if len(word) > len(term) >= 5 and term in word:
        return 0.8  # junk glued to a name
    if len(term) > len(word) >= 6 and within_edits(word, term[: len(word)], 1):
        return 0.75  # truncated and misread
    return 0.0


def _initials(
    tokens: list[tuple[int, int, str]], gaps: list[str], matches: list[_Match], index: _Index
) -> list[_Match]:
    """A single letter next to a matched name that is one of that person's initials."""
    found = []
    for match in matches:
        if match.person < 0:
            continue
        initials = index.initials.get(match.person, frozenset())
        for k, gap_index in ((match.first - 1, match.first - 1), (match.last + 1, match.last)):
            if 0 <= k < len(tokens) and len(tokens[k][2]) == 1:
                if fold(tokens[k][2]) in initials and _NAME_GAP.fullmatch(gaps[gap_index]):
                    found.append(_Match(k, k, match.label, 0.7, match.person))
    return found


def _join_names(matches: list[_Match], gaps: list[str]) -> list[tuple[int, int, str, float]]:
    """One span per run of name tokens (``DOE, JOHN M``); other matches as they are."""
    spans: list[tuple[int, int, str, float]] = []
    name_tokens: dict[int, float] = {}
    for match in matches:
        if match.label == LABELS["person_name"]:
            for k in range(match.first, match.last + 1):
                name_tokens[k] = max(name_tokens.get(k, 0.0), match.score)
        else:
            spans.append((match.first, match.last, match.label, match.score))
    run: list[int] = []
    for k in sorted(name_tokens):
        if run and (k != run[-1] + 1 or not _NAME_GAP.fullmatch(gaps[run[-1]])):
            spans.append((run[0], run[-1], LABELS["person_name"], min(name_tokens[t] for t in run)))
            run = []
        run.append(k)
    if run:
        spans.append((run[0], run[-1], LABELS["person_name"], min(name_tokens[t] for t in run)))
    return spans
