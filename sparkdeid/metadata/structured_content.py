"""SR content items: each value is cleaned according to what its Value Type says it is.

A Structured Report keeps its findings in trees of content items (Content
Sequence (0040,A730), and the same item structure in Acquisition Context and
a few other sequences). An item holds one value whose attribute depends on
its Value Type (0040,A040): a Person Name for PNAME, a Text Value for TEXT, a
Date for DATE... The generic walk would treat those attributes like any other
(a dummy ``ANONYMIZED`` name, header-only text cleaning); here they are
treated for what they are:

* PNAME: a keyed pseudonym name, the same person getting the same name for
  one secret (observers stay distinguishable, nobody is named);
* TEXT: cleaned with the full PHI detector (header values, rules, name
  lists), so "No evidence of malignancy" stays and "seen by Dr X on
  03/14/2021" loses the name and the date;
* DATE, TIME, DATETIME, UIDREF: as the strategy's row says (shifted with the
  patient's one offset, dummied, kept...); with no row, shifted or replaced;
* CODE, NUM, CONTAINER, SCOORD, SCOORD3D, TCOORD, COMPOSITE, IMAGE, WAVEFORM:
  kept; their codes, numbers, units and coordinates carry no PHI, and the
  walk still remaps the UIDs of referenced instances.

The strategy decides how much of a value survives, this module how what
survives is made safe: a row that removes or empties a value (``X``, ``Z``,
``delete``, ``remove``) or replaces it with the caller's value
(``replaceWithLiteral``, ``replaceWithMapping``) is applied as written; any
other row on a name or a text, even ``keep``, gets the treatment above. Fail
closed: an item of an unknown (or no) Value Type keeps only its structure
(relationship, concept name, children), and an item of a known type keeps
standard attributes that type does not have only as empty values (present,
so the tree keeps its shape, but holding nothing).

Header terms for the detector come from the file as it was read; they are
gathered before the walk changes it, and only for files that hold narrative
text (a quick look through the sequence items first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from types import MappingProxyType

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset

from sparkdeid.dicom.codec import element_vr
from sparkdeid.metadata import actions as act
from sparkdeid.metadata.attribute_types import is_combined, resolve_combined
from sparkdeid.metadata.strategy import Strategy
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.detect import DetectorConfig, PhiDetector
from sparkdeid.ner.header import header_terms_of

__all__ = [
    "CONTENT_ITEM_SEQUENCES",
    "NARRATIVE_TEXT_TAGS",
    "VALUE_ELEMENTS",
    "NarrativeTextCleaner",
    "StructuredContentCleaner",
    "holds_narrative_text",
    "is_content_item",
    "shared_detector",
]

logger = logging.getLogger(__name__)

VALUE_TYPE = 0x0040A040
PERSON_NAME = 0x0040A123
TEXT_VALUE = 0x0040A160
DATE = 0x0040A121
TIME = 0x0040A122
DATETIME = 0x0040A120
UID = 0x0040A124
UNFORMATTED_TEXT_VALUE = 0x00700006  # a presentation state's text object

NARRATIVE_TEXT_TAGS = frozenset({TEXT_VALUE, UNFORMATTED_TEXT_VALUE})
"""Free text someone wrote as sentences: cleaned with the full detector."""

CONTENT_ITEM_SEQUENCES = frozenset(
    {
        0x0040A730,  # Content Sequence
        0x00400555,  # Acquisition Context Sequence
        0x00400440,  # Protocol Context Sequence
        0x00400441,  # Content Item Modifier Sequence
        0x00400612,  # Specimen Preparation Step Content Item Sequence
    }
)
"""Sequences whose items are content items even when one lacks a Value Type."""

# Document Relationship and Content Item macros: present whatever the value.
_STRUCTURE = frozenset(
    {
        0x0040A010,  # Relationship Type
        VALUE_TYPE,
        0x0040A043,  # Concept Name Code Sequence
        0x0040A730,  # Content Sequence
        0x0040A032,  # Observation DateTime (strategy row)
        0x0040A033,  # Observation Start DateTime (strategy row)
        0x0040A171,  # Observation UID (strategy row)
        0x0040DB73,  # Referenced Content Item Identifier (by-reference items)
        0x0040A136,  # Referenced Frame Numbers (acquisition context)
        0x00400441,  # Content Item Modifier Sequence
    }
)
_REFERENCE = frozenset({0x00081199})  # Referenced SOP Sequence
_GRAPHIC = frozenset(
    {
        0x00700022,  # Graphic Data
        0x00700023,  # Graphic Type
        0x0070031A,  # Fiducial UID
    }
)

VALUE_ELEMENTS = MappingProxyType(
    {
        "CONTAINER": frozenset({0x0040A050, 0x0040A504}),  # continuity, template
        "TEXT": frozenset({TEXT_VALUE}),
        "PNAME": frozenset({PERSON_NAME}),
        "DATE": frozenset({DATE}),
        "TIME": frozenset({TIME}),
        "DATETIME": frozenset({DATETIME}),
        "UIDREF": frozenset({UID}),
        "CODE": frozenset({0x0040A168}),  # Concept Code Sequence
        "NUM": frozenset(
            {
                0x0040A300,  # Measured Value Sequence (SR)
                0x0040A301,  # Numeric Value Qualifier Code Sequence
                0x0040A30A,  # Numeric Value (content item macro, no sequence)
                0x0040A161,  # Floating Point Value
                0x0040A162,  # Rational Numerator Value
                0x0040A163,  # Rational Denominator Value
                0x004008EA,  # Measurement Units Code Sequence
            }
        ),
        "COMPOSITE": _REFERENCE,
        "IMAGE": _REFERENCE,
        "WAVEFORM": _REFERENCE,
        "SCOORD": _GRAPHIC | {0x00480301},  # Pixel Origin Interpretation
        "SCOORD3D": _GRAPHIC | {0x30060024},  # Referenced Frame of Reference UID
        "TCOORD": frozenset(
            {
                0x0040A130,  # Temporal Range Type
                0x0040A132,  # Referenced Sample Positions
                0x0040A138,  # Referenced Time Offsets
                0x0040A13A,  # Referenced DateTime (strategy row)
            }
        ),
    }
)
"""Standard attributes of an item of each Value Type besides the common structure."""

# Rows applied as written to a name or a text: they remove it, or the caller
# supplies the replacement.
_STRATEGY_WINS = frozenset(
    {"X", "Z", "delete", "remove", "replaceWithLiteral", "replaceWithMapping"}
)


@lru_cache(maxsize=1)
def shared_detector() -> PhiDetector:
    """One detector per process: loading the name lists is the slow part."""
    return PhiDetector(DetectorConfig())


def holds_narrative_text(ds: Dataset) -> bool:
    """Whether any sequence item at any depth holds a Text Value or an Unformatted Text Value.

    Only keys are looked at (sequences are already parsed when read), so
    files without narrative text never pay for header terms; the loop is
    kept lean because it runs once per file over every item.
    """
    for elem in ds.values():
        for item in _items(ds, elem):
            keys = item.keys()
            if TEXT_VALUE in keys or UNFORMATTED_TEXT_VALUE in keys:
                return True
            if holds_narrative_text(item):
                return True
    return False


def _items(ds: Dataset, elem: DataElement | RawDataElement) -> Iterable[Dataset]:
    """A sequence's items without converting other elements; nothing for non-sequences."""
    vr = elem.VR
    if vr != "SQ":
        # implicit VR (or UN): only the dictionary knows whether it is a sequence
        if (vr is not None and vr != "UN") or element_vr(ds, int(elem.tag)) != "SQ":
            return ()
    value = elem.value if isinstance(elem, DataElement) else ds[elem.tag].value
    return value or ()


class NarrativeTextCleaner:
    """Removes PHI from narrative text with the full detector, informed by the file's header.

    Build it with :meth:`for_dataset` before the dataset is de-identified:
    the header terms (every person name in the file, ids, places, dates) are
    what lets "seen by Dr QUORVEN" lose the name although no name list knows it.
    """

    def __init__(self, header: tuple[HeaderTerm, ...] = ()) -> None:
        self.header = header

    @classmethod
    def for_dataset(cls, ds: Dataset) -> NarrativeTextCleaner:
        """A cleaner for ``ds`` as it is now; header terms only if it holds narrative text."""
        if not holds_narrative_text(ds):
            return cls()
        return cls(header_terms_of(ds))

    def __call__(self, text: str) -> str:
        if not text.strip():
            return text
        detector = shared_detector()
        entities = detector.detect_document(text, self.header)
        logger.debug("narrative text: %d entities removed", len(entities))
        return PhiDetector.redact_text(text, entities)


def is_content_item(item: Dataset, sequence_tag: int) -> bool:
    """Items of a content-item sequence, and any item that declares a Value Type."""
    return sequence_tag in CONTENT_ITEM_SEQUENCES or VALUE_TYPE in item.keys()


def _value_type(item: Dataset) -> str:
    if VALUE_TYPE not in item:
        return ""
    return str(item[VALUE_TYPE].value or "").strip().upper()


class StructuredContentCleaner:
    """The content-item part of the metadata walk, for one strategy (one per engine)."""

    def __init__(self, strategy: Strategy) -> None:
        self._strategy = strategy
        self._cleaners: dict[int, Callable[[Dataset, DataElement, act.ActionContext], None]] = {
            PERSON_NAME: self._person_name,
            TEXT_VALUE: self._text,
            DATE: self._temporal,
            TIME: self._temporal,
            DATETIME: self._temporal,
            UID: self._uid,
        }

    def clean_item(self, item: Dataset, ctx: act.ActionContext, prefix: str) -> frozenset[int]:
        """Make the item's own value safe; return the tags done, which the walk must skip.

        Parameters
        ----------
        item
            A content item (see :func:`is_content_item`), changed in place.
        ctx
            The file's action context: pseudonyms, offsets, cleaners, counters.
        prefix
            The item's tag path, e.g. ``(0040,A730)[2].``, for upstream-cleaned texts.
        """
        value_type = _value_type(item)
        expected = VALUE_ELEMENTS.get(value_type)
        if expected is None:
            expected = frozenset()
            if value_type:
                ctx.stats["sr_unknown_value_type"] += 1
        done = self._empty_unexpected(item, _STRUCTURE | expected, ctx)
        for tag, cleaner in self._cleaners.items():
            if tag in item and tag not in done:
                ctx.path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
                cleaner(item, item[tag], ctx)
                done.add(tag)
        return frozenset(done)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _empty_unexpected(
        item: Dataset, allowed: frozenset[int], ctx: act.ActionContext
    ) -> set[int]:
        """Standard attributes the Value Type does not have are emptied, not trusted.

        Group lengths and private elements are left to the walk, which drops
        the former and applies the private rule to the latter.
        """
        emptied = set()
        for key in list(item.keys()):
            tag = int(key)
            if tag in allowed or (tag >> 16) & 1 or not tag & 0xFFFF:
                continue
            act.empty_value(item[tag])
            emptied.add(tag)
            ctx.stats["sr_unexpected_element_emptied"] += 1
        return emptied

    def _rule(self, tag: int) -> tuple[str | None, str]:
        """The strategy's action (combined codes resolved as inside a sequence) and option."""
        rule = self._strategy.rule_for(tag)
        if rule is None:
            return None, ""
        action = rule.action
        if is_combined(action):
            action = resolve_combined(action, tag, None)
        return action, rule.option

    def _apply(self, action: str, option: str, item: Dataset, elem: DataElement,
               ctx: act.ActionContext) -> None:
        act.apply_action(act.ACTIONS[action], ctx, item, elem, option)
        ctx.stats[action] += 1

    def _person_name(self, item: Dataset, elem: DataElement, ctx: act.ActionContext) -> None:
        action, option = self._rule(int(elem.tag))
        if action in _STRATEGY_WINS:
            self._apply(action, option, item, elem, ctx)
            return
        act.map_strings(elem, ctx.pseudonyms.name)
        ctx.stats["sr_person_name_replaced"] += 1

    def _text(self, item: Dataset, elem: DataElement, ctx: act.ActionContext) -> None:
        action, option = self._rule(int(elem.tag))
        if action in _STRATEGY_WINS:
            self._apply(action, option, item, elem, ctx)
            return
        upstream = ctx.cleaned_texts.get(ctx.path)
        if upstream is not None:  # NerDeid already cleaned this very value
            act.set_values(elem, [upstream] if upstream else [])
        else:
            act.map_strings(elem, ctx.clean_narrative)
        ctx.stats["sr_text_cleaned"] += 1

    def _temporal(self, item: Dataset, elem: DataElement, ctx: act.ActionContext) -> None:
        action, option = self._rule(int(elem.tag))
        if action is None:  # no row: shifted like the patient's other dates
            act.shift_temporal(ctx, elem, ctx.day_offset())
            ctx.stats["sr_temporal_shifted"] += 1
            return
        self._apply(action, option, item, elem, ctx)

    def _uid(self, item: Dataset, elem: DataElement, ctx: act.ActionContext) -> None:
        action, option = self._rule(int(elem.tag))
        if action is None:  # no row: a UID in a report may point anywhere; replace it
            act.ACTIONS["U"].fn(ctx, item, elem, "")
            ctx.stats["sr_uid_replaced"] += 1
            return
        self._apply(action, option, item, elem, ctx)
