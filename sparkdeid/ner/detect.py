"""Deciding which text is PHI: recognizers, then fail-closed masking of everything unverified.

Two kinds of text reach the detector:

* **OCR text of a frame** (:meth:`PhiDetector.detect_frame`). Recognizers
  find what is recognisably PHI; then, failing closed, every word that no
  recognizer claimed and that is not *confidently safe* (allow-listed and
  read by OCR with at least ``min_confidence``) becomes an ``UNVERIFIED``
  entity. OCR garbles small text, so a word we cannot vouch for is masked: a
  missed name is a breach, an extra black box is a nuisance. With
  ``redact_all`` every word is masked.
* **Tag documents** (:meth:`PhiDetector.detect_document`): one tag value per
  line. Only recognizer entities are removed (:meth:`PhiDetector.redact_text`);
  descriptions keep their clinical words.

What wins where entities overlap, strongest first: ``header`` (the file's own
values: if the patient is called HEAD, HEAD is masked), ``rule``, ``names``,
``model``, ``unverified``, ``redact_all``. Model entities are an extra
signal: one that covers only confidently safe words is dropped.

Labels: NAME, DATE, TIME, AGE, ID, UID, SSN, PHONE, EMAIL, URL, ADDRESS,
ZIP, LOCATION, ORGANIZATION, OTHER (header values of other kinds), DENY
(user deny words, source ``rule``), UNVERIFIED, REDACT_ALL. Spans are
half-open character offsets into the text given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sparkdeid.ner.allow_list import UNIT_PATTERN, is_safe_word, normalise_words
from sparkdeid.ner.base import Entity, HeaderTerm, Recognizer
from sparkdeid.ner.header import HeaderRecognizer, match_terms
from sparkdeid.ner.names import NameRecognizer
from sparkdeid.ner.rules import RulesRecognizer
from sparkdeid.ocr.base import FrameText, PlacedWord
from sparkdeid.text_patterns import GENERIC_PLACE_WORDS, remove_spans

logger = logging.getLogger(__name__)

SOURCE_PRIORITY = {
    "header": 0,
    "rule": 1,
    "names": 2,
    "model": 3,
    "unverified": 4,
    "redact_all": 5,
}
UNVERIFIED = "UNVERIFIED"
REDACT_ALL = "REDACT_ALL"
# Score of an UNVERIFIED entity: nothing says it is PHI, nothing says it is not.
_UNVERIFIED_SCORE = 0.5


@dataclass(frozen=True)
class DetectorConfig:
    """What the detector uses and how cautious it is (hashable: one detector per config).

    Parameters
    ----------
    use_header, use_rules, use_names
        Turn the header-value, rule and census-name recognizers on or off.
    spacy_model
        Name (or path) of an installed spaCy pipeline to add as a recognizer.
    fail_closed
        OCR text only: mask every word not confidently recognised as safe.
    min_confidence
        OCR confidence a word needs before the allow-list may keep it.
    redact_all
        OCR text only: mask every word (full anonymisation of burned-in text).
    allow_words
        Site-specific overlay words to keep (added to the shipped vocabulary;
        they never beat a recognizer, except a model's).
    deny_words
        Words or phrases always masked, wherever they appear.
    """

    use_header: bool = True
    use_rules: bool = True
    use_names: bool = True
    spacy_model: str | None = None
    fail_closed: bool = True
    min_confidence: float = 0.8
    redact_all: bool = False
    allow_words: tuple[str, ...] = ()
    deny_words: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ValueError("min_confidence must be between 0 and 1")
        # lists from Params become tuples so the config stays hashable
        object.__setattr__(self, "allow_words", tuple(self.allow_words))
        object.__setattr__(self, "deny_words", tuple(self.deny_words))


class PhiDetector:
    """Runs the configured recognizers and applies the masking policy.

    Build one per executor process and configuration (loading the name lists
    or a spaCy pipeline is the slow part); a missing back-end raises
    :class:`~sparkdeid.errors.BackendUnavailableError` here, not on a row.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        recognizers: list[Recognizer] = []
        if self.config.use_header:
            recognizers.append(HeaderRecognizer())
        if self.config.use_rules:
            recognizers.append(RulesRecognizer())
        if self.config.use_names:
            recognizers.append(NameRecognizer())
        if self.config.spacy_model:
            from sparkdeid.ner.models import SpacyRecognizer

            recognizers.append(SpacyRecognizer(self.config.spacy_model))
        self.recognizers: tuple[Recognizer, ...] = tuple(recognizers)
        self._allow = normalise_words(self.config.allow_words)
        self._deny = tuple(HeaderTerm("other", w) for w in self.config.deny_words if w.strip())

    # ------------------------------------------------------------------ public

    def find(self, text: str, header: tuple[HeaderTerm, ...] = ()) -> list[Entity]:
        """Every recognizer's entities, unmerged (deny words included)."""
        found: list[Entity] = []
        for recognizer in self.recognizers:
            found.extend(recognizer.find(text, header))
        if self._deny:
            found.extend(
                Entity(e.begin, e.end, "DENY", "rule", 1.0)
                for e in match_terms(text, self._deny, source="rule")
            )
        return found

    def detect_document(self, text: str, header: tuple[HeaderTerm, ...] = ()) -> list[Entity]:
        """Entities in a tag document (recognizers only, no fail-closed), merged."""
        found = [
            e for e in self.find(text, header)
            if not (e.source == "model" and self._all_safe(text[e.begin : e.end].split()))
        ]
        entities = merge_entities(found)
        logger.debug("document: %d entities", len(entities))
        return entities

    def detect_frame(self, frame: FrameText, header: tuple[HeaderTerm, ...] = ()) -> list[Entity]:
        """Entities in a frame's OCR text: recognizers, then redact-all or fail-closed, merged."""
        words = [w for w in frame.words if w.end > w.begin]
        found = [
            e for e in self.find(frame.text, header)
            if not (e.source == "model" and self._model_on_safe_words(e, words))
        ]
        found += self._split_values(frame.text, words, header)
        extra: list[Entity] = []
        if self.config.redact_all:
            extra = [
                Entity(w.begin, w.end, REDACT_ALL, "redact_all", 1.0)
                for w in words
                if not _covered(w, found)
            ]
        elif self.config.fail_closed:
            lone = _lone_glyphs(words)
            extra = [
                Entity(w.begin, w.end, UNVERIFIED, "unverified", _UNVERIFIED_SCORE)
                for w in words
                if not _covered(w, found) and not self.confidently_safe(w) and w not in lone
            ]
        entities = merge_entities(found + extra)
        if not self.config.redact_all:
            entities = merge_entities(entities + _absorb_neighbours(words, entities))
            entities = merge_entities(entities + _wrapped_values(words, entities))
        entities = _whole_words(entities, words)
        logger.debug(
            "frame: %d words, %d recognized, %d masked unverified or redact-all",
            len(words), len(found), len(extra),
        )
        return entities

    def confidently_safe(self, word: PlacedWord) -> bool:
        """OCR is sure of the word and the word is safe (allow-listed or a safe value)."""
        return word.confidence >= self.config.min_confidence and is_safe_word(
            word.text, self._allow
        )

    @staticmethod
    def redact_text(text: str, entities: Sequence[Entity]) -> str:
        """``text`` without the entity spans, line by line; the line count never changes.

        Lines without entities are returned as they are; in the others spaces
        are tidied and separators left dangling at either end are dropped.
        """
        lines = text.split("\n")
        out = []
        position = 0
        for line in lines:
            start, end = position, position + len(line)
            spans = [
                (max(e.begin, start) - start, min(e.end, end) - start)
                for e in entities
                if e.begin < end and e.end > start
            ]
            out.append(remove_spans(line, spans) if spans else line)
            position = end + 1
        return "\n".join(out)

    # ------------------------------------------------------------------ helpers

    def _split_values(
        self, text: str, words: Sequence[PlacedWord], header: tuple[HeaderTerm, ...]
    ) -> list[Entity]:
        """Dates and ids that OCR broke with spurious spaces (``03/1 4/201 4``).

        Runs of adjacent digit-like words on one line are joined without the
        spaces and read again; a match covers the whole run.
        """
        found: list[Entity] = []
        for run in _numeric_runs(words):
            compact = "".join(w.text for w in run)
            hits = [e for e in self.find(compact, header) if e.source in ("header", "rule")]
            if hits or sum(c.isdigit() for c in compact) >= 5:
                label = hits[0].label if hits else "ID"
                source = hits[0].source if hits else "rule"
                found.append(Entity(run[0].begin, run[-1].end, label, source, 1.0))
        return found

    def _all_safe(self, words: Iterable[str]) -> bool:
        texts = list(words)
        return bool(texts) and all(is_safe_word(w, self._allow) for w in texts)

    def _model_on_safe_words(self, entity: Entity, words: Sequence[PlacedWord]) -> bool:
        touched = [w for w in words if w.begin < entity.end and w.end > entity.begin]
        return bool(touched) and all(self.confidently_safe(w) for w in touched)


def merge_entities(entities: Iterable[Entity]) -> list[Entity]:
    """Overlapping entities become one; the strongest source names it (see module doc).

    The merged span covers both; its score is the higher of the two.
    Entities that merely touch (one ends where the next begins) stay apart.
    """
    merged: list[Entity] = []
    for entity in sorted(entities, key=lambda e: (e.begin, -e.end)):
        if entity.end <= entity.begin:
            continue
        if merged and entity.begin < merged[-1].end:
            last = merged[-1]
            winner = min((last, entity), key=_strength)
            merged[-1] = Entity(
                last.begin,
                max(last.end, entity.end),
                winner.label,
                winner.source,
                max(last.score, entity.score),
            )
        else:
            merged.append(entity)
    return merged


def _strength(entity: Entity) -> tuple[int, int]:
    return SOURCE_PRIORITY.get(entity.source, len(SOURCE_PRIORITY)), entity.begin - entity.end


_UNIT = re.compile(UNIT_PATTERN, re.IGNORECASE)
_NUMERIC_WORD = re.compile(r"[0-9OoIl|/.:,\-]*[0-9][0-9OoIl|/.:,\-]*")


def _numeric_runs(words: Sequence[PlacedWord]) -> list[list[PlacedWord]]:
    """Maximal runs (two or more) of consecutive digit-like words on the same line."""
    runs: list[list[PlacedWord]] = []
    current: list[PlacedWord] = []
    for word in words:
        numeric = bool(_NUMERIC_WORD.fullmatch(word.text))
        if numeric and current and current[-1].line == word.line:
            current.append(word)
            continue
        if len(current) >= 2:
            runs.append(current)
        current = [word] if numeric else []
    if len(current) >= 2:
        runs.append(current)
    return runs


def _lone_glyphs(words: Sequence[PlacedWord]) -> set[PlacedWord]:
    """Words alone on their line that are one character in a glyph-sized box.

    One character identifies nobody, and a stroke of a grey-scale bar or a
    calliper end read as ``1`` or ``I`` is not text worth a black box. A box
    much wider than tall that reads as one character is garbled text, and is
    not counted here.
    """
    per_line: dict[int, list[PlacedWord]] = {}
    for word in words:
        per_line.setdefault(word.line, []).append(word)
    return {
        line[0]
        for line in per_line.values()
        if len(line) == 1
        and sum(c.isalnum() for c in line[0].text) <= 1
        and line[0].box.width <= 1.2 * line[0].box.height
    }


_PLACE_LABELS = frozenset({"LOCATION", "ORGANIZATION"})
_PERSON_LABELS = frozenset({"NAME", "AGE", "DATE", "UNVERIFIED"})
_SEX_LETTERS = frozenset({"M", "F", "O"})


def _label_at(word: PlacedWord, entities: Sequence[Entity]) -> str | None:
    for entity in entities:
        if entity.begin < word.end and entity.end > word.begin:
            return entity.label
    return None


def _absorb_neighbours(words: Sequence[PlacedWord], entities: Sequence[Entity]) -> list[Entity]:
    """Words that belong to the PHI beside them on the same line are masked with it.

    * Digit-like words next to any masked word: a date whose month OCR misread
      (``2013 Jam 21``) leaves its year and day looking like harmless numbers,
      and a number beside PHI is part of it far more often than a measurement
      is (a number followed by a unit stays: ``5 cm``).
    * Generic place words and stray letters next to a place: when OCR garbles
      the distinctive part of ``Velzhigrex General Hospital`` the header match
      covers only that part (or nothing: an unverified word), and ``General
      Hospital`` would still name the site.
    * A sex letter (``M``, ``F``, ``O``) beside a name, an age or a date:
      ``JAMES THOMAS M``, ``67 F``; with the name beside it, it is PHI.
    """
    labels = [_label_at(w, entities) for w in words]
    changed = True
    while changed:
        changed = False
        for index, word in enumerate(words):
            if labels[index] is not None:
                continue
            following = words[index + 1] if index + 1 < len(words) else None
            unit_follows = (
                following is not None
                and following.line == word.line
                and bool(_UNIT.fullmatch(following.text))
            )
            numeric = bool(_NUMERIC_WORD.fullmatch(word.text)) and not unit_follows
            core = word.text.strip(".,:;").lower()
            place_like = core in GENERIC_PLACE_WORDS or (len(core) == 1 and core.isalpha())
            for other in (index - 1, index + 1):
                if not (0 <= other < len(words)) or words[other].line != word.line:
                    continue
                beside = labels[other]
                if beside is None:
                    continue
                if numeric:
                    labels[index], changed = UNVERIFIED, True
                    break
                if place_like and (beside in _PLACE_LABELS or beside == UNVERIFIED):
                    labels[index], changed = "LOCATION", True
                    break
                if word.text.strip(".,:;") in _SEX_LETTERS and beside in _PERSON_LABELS:
                    labels[index], changed = "SEX", True
                    break
    return [
        Entity(w.begin, w.end, label, "unverified", _UNVERIFIED_SCORE)
        for w, label in zip(words, labels, strict=True)
        if label is not None and not _covered(w, entities)
    ]


def _wrapped_values(words: Sequence[PlacedWord], entities: Sequence[Entity]) -> list[Entity]:
    """Lines that continue a labelled PHI value wrapped under it are PHI too.

    ``Institution Name: Nielsen, Jimenez`` / ``and Aguilar`` / ``Community`` /
    ``Hospital``: an overlay wraps a long value onto the lines below it, and
    ``Community`` or ``Hospital`` alone is an ordinary word that fail-closed
    masking keeps. The block starts at a labelled field (a word ending in
    ``:``) whose whole value is PHI. A line joins it when it lies just below
    a line of the block (within one line height), overlaps that line's value
    horizontally, starts no further left than two line heights before it,
    and carries no label of its own; then all its words are PHI and the
    line below it may join in turn.
    """
    lines: dict[int, list[PlacedWord]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    # each block line: the horizontal span of its value and its lowest word
    block: dict[int, tuple[float, float, PlacedWord]] = {}
    for index, line in lines.items():
        labels = [i for i, w in enumerate(line) if w.text.endswith(":")]
        if not labels or labels[-1] == len(line) - 1:
            continue
        value = line[labels[-1] + 1 :]
        if all(_covered(w, entities) for w in value):
            block[index] = _span(value)
    added: list[Entity] = []
    changed = True
    while changed:
        changed = False
        for index, line in lines.items():
            if index in block or any(w.text.endswith(":") for w in line):
                continue
            x0, x1, lowest = _span(line)
            height = max(w.box.height for w in line)
            top = min(w.box.y0 for w in line)
            for left, right, anchor in list(block.values()):
                gap = top - anchor.box.y1
                reach = 2 * max(height, anchor.box.height)
                if (
                    -0.5 * anchor.box.height <= gap <= anchor.box.height
                    and x0 < right and x1 > left and x0 >= left - reach
                ):
                    added.extend(
                        Entity(w.begin, w.end, UNVERIFIED, "unverified", _UNVERIFIED_SCORE)
                        for w in line
                        if not _covered(w, entities)
                    )
                    block[index] = (x0, x1, lowest)
                    changed = True
                    break
    return added


def _span(words: Sequence[PlacedWord]) -> tuple[float, float, PlacedWord]:
    """Leftmost x, rightmost x and the lowest word of a line's words."""
    return (min(w.box.x0 for w in words), max(w.box.x1 for w in words),
            max(words, key=lambda w: w.box.y1))


def _whole_words(entities: list[Entity], words: Sequence[PlacedWord]) -> list[Entity]:
    """Entities grown to the words they touch: a rule that matched ``200`` of an
    OCR-garbled ``200O`` must not leave the ``O`` (the word is the masking unit)."""
    grown = []
    for entity in entities:
        touched = [w for w in words if w.begin < entity.end and w.end > entity.begin]
        begin = min([entity.begin, *(w.begin for w in touched)])
        end = max([entity.end, *(w.end for w in touched)])
        grown.append(
            entity if (begin, end) == (entity.begin, entity.end)
            else Entity(begin, end, entity.label, entity.source, entity.score)
        )
    return merge_entities(grown)


def _covered(word: PlacedWord, entities: Sequence[Entity]) -> bool:
    return any(e.begin < word.end and e.end > word.begin for e in entities)


