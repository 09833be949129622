"""Apply a strategy to a dataset: the per-file work of DicomMetadataDeidentifier.

The walk visits every element, nested and private, once. Standard tags take
their strategy row (exact, wildcard, then group row); tags no row names are
kept except person names (emptied), instance-like UIDs (replaced) and free
text (cleaned), which fail closed. Private tags are removed, or
kept/hashed/shifted per TCIA's knowledge base under ``retainSafePrivate``; a
private block with nothing left loses its creator too.

Two kinds of sequence item get more than their rows:

* SR content items have their value cleaned by Value Type
  (:mod:`sparkdeid.metadata.structured_content`);
* an item holding pixel data (an icon, a private thumbnail) is an image the
  engine cannot read: it is removed, unless it is the top-level Icon Image
  Sequence and the caller says a pixel stage regenerated it from the cleaned
  image (:mod:`sparkdeid.metadata.embedded_images`, ``cleaned_upstream``).

Each element's handling returns a :class:`~sparkdeid.metadata.decisions.Decision`
(kept on purpose, changed, removed, kept by default); :meth:`MetadataEngine.decisions`
collects them by running this very walk on a copy, which is how the
residual-PHI gate learns what the strategy keeps instead of restating it.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary

from sparkdeid.dicom.codec import dictionary_vr, element_vr, read_dataset, write_dataset
from sparkdeid.metadata import actions as act
from sparkdeid.metadata import embedded_images as images
from sparkdeid.metadata.decisions import Decision, ElementDecisions, Fate
from sparkdeid.metadata.private_tags import PathStep, PrivateTagKnowledgeBase
from sparkdeid.metadata.pseudonyms import Pseudonymizer
from sparkdeid.metadata.strategy import Strategy, load_strategy
from sparkdeid.metadata.structured_content import (
    NARRATIVE_TEXT_TAGS,
    NarrativeTextCleaner,
    StructuredContentCleaner,
    is_content_item,
)
from sparkdeid.metadata.text_cleaner import header_text_cleaner

logger = logging.getLogger(__name__)

STANDARD_UID_ROOT = "1.2.840.10008."
PATIENT_KEY_KEYWORDS = ("PatientID", "PatientName", "StudyInstanceUID")
_SHIFT_ACTIONS = ("shiftDateByRandomNbOfDays",)
# Pseudonyms made while only collecting decisions are thrown away: any key will do.
_DECISIONS_ONLY_KEY = b"sparkdeid decisions only: every derived value is discarded"
_UNLISTED_NEEDS_LOOK = frozenset({"SQ", "PN", "UI", "UT", "LT", "ST"})
# Long free text no row names (e.g. a Text Value inside a Content Sequence) is
# cleaned rather than trusted; short LO/SH values such as Code Meanings are kept.
_FREE_TEXT_VRS = frozenset({"UT", "LT", "ST"})
_NOTHING_DONE: frozenset[int] = frozenset()


@dataclass(frozen=True)
class EngineConfig:
    """Everything a worker needs, hashable so compiled engines are cached per process.

    ``method_codes`` are the CID 7050 (code, meaning) pairs written to the
    De-identification Method Code Sequence; empty for custom strategies, which
    then only get a De-identification Method text.

    ``cleaned_upstream`` names what pixel stages already cleaned, so the
    top-level copy is kept instead of removed: ``"overlays"`` (Overlay Data
    and the attributes describing it; overlay labels and descriptions are
    cleaned), ``"documents"`` (Encapsulated Document and its length),
    ``"icons"`` (the top-level Icon Image Sequence). Unknown names raise
    ``ValueError``; the names are stored sorted and deduplicated.
    """

    strategy_csv: str
    secret: bytes = field(repr=False)  # never in a log line, traceback or plan string
    group_strategy_csv: str | None = None
    remove_private_tags: bool = True
    regenerate_series: bool = False
    method_description: str = "sparkdeid custom strategy"
    method_codes: tuple[tuple[str, str], ...] = ()
    cleaned_upstream: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "cleaned_upstream", images.validate_cleaned_upstream(self.cleaned_upstream)
        )

    @classmethod
    def for_decisions(
        cls,
        strategy_csv: str,
        group_strategy_csv: str | None = None,
        remove_private_tags: bool = True,
        cleaned_upstream: tuple[str, ...] = (),
    ) -> EngineConfig:
        """The parts that decide what happens to each element, without the secret.

        For :meth:`MetadataEngine.decisions` only: no value the engine derives
        under this config is ever written anywhere.
        """
        return cls(
            strategy_csv,
            _DECISIONS_ONLY_KEY,
            group_strategy_csv,
            remove_private_tags,
            cleaned_upstream=cleaned_upstream,
        )


@dataclass
class DeidReport:
    """What happened to one file: counts only, never values."""

    actions: Counter[str] = field(default_factory=Counter)
    dates_shifted: bool = False


class MetadataEngine:
    """A compiled strategy plus its pseudonymizer; reused for every file in a worker."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.strategy: Strategy = load_strategy(config.strategy_csv, config.group_strategy_csv)
        self.pseudonyms = Pseudonymizer(config.secret)
        private_rule = self.strategy.private_rule
        self._retain_safe_private = (
            private_rule is not None and private_rule.action == "retainSafePrivate"
        )
        self._kb = PrivateTagKnowledgeBase.default() if self._retain_safe_private else None
        shift_rules = [r for r in self.strategy.rules if r.action in _SHIFT_ACTIONS and r.option]
        self._date_shift_max_days = (
            int(shift_rules[0].option) if shift_rules else act.DEFAULT_DATE_SHIFT_DAYS
        )
        self._ensure_rules = [
            r for r in self.strategy.exact_rules() if r.action == "ensureTagExists"
        ]
        self._content = StructuredContentCleaner(self.strategy)
        self._cleaned_upstream = frozenset(config.cleaned_upstream)
        self.literal_values = frozenset(
            rule.option for rule in self.strategy.rules
            if act.ACTIONS[rule.action].writes_option and rule.option.strip()
        )

    # ------------------------------------------------------------------ public

    def deidentify(
        self,
        ds: Dataset,
        *,
        mapping: dict[str, str] | None = None,
        cleaned_texts: dict[str, str] | None = None,
        text_cleaner: Callable[[str], str] | None = None,
    ) -> DeidReport:
        """De-identify ``ds`` in place and return counts of what was done."""
        ctx = act.ActionContext(
            pseudonyms=self.pseudonyms,
            patient_key=patient_key(ds),
            date_shift_max_days=self._date_shift_max_days,
            clean_text=text_cleaner or header_text_cleaner(ds),
            clean_narrative=NarrativeTextCleaner.for_dataset(ds),
            cleaned_texts=cleaned_texts or {},
            mapping=mapping or {},
            sop_class_uid=str(ds.get("SOPClassUID", "")) or None,
        )
        original_series = str(ds.get("SeriesInstanceUID", ""))
        had_study_date = bool(ds.get("StudyDate"))
        self._walk(ds, ctx, "", ())
        self._ensure_tags(ds)
        if self.config.regenerate_series and original_series:
            ds.SeriesInstanceUID = self.pseudonyms.uid("regenerated-series\x1f" + original_series)
        self._replace_orphan_media_uid(ds)
        self._mark(ds, ctx, had_study_date)
        return DeidReport(actions=ctx.stats, dates_shifted=ctx.dates_shifted)

    def decisions(self, ds: Dataset) -> ElementDecisions:
        """What :meth:`deidentify` decides for each element of ``ds``; ``ds`` is not changed.

        Found by running the walk itself on a copy, so it cannot disagree with
        it: same rule lookup, private-tag knowledge base, ``removePrivateTags``
        and sequence handling. Free text is cleaned by the fail-closed default
        (its fate is *changed* either way) and no ``replaceWithMapping`` table
        is known, so mapped elements are decided by the row's fallback.
        """
        ctx = act.ActionContext(
            pseudonyms=self.pseudonyms,
            patient_key=patient_key(ds),
            date_shift_max_days=self._date_shift_max_days,
            sop_class_uid=str(ds.get("SOPClassUID", "")) or None,
            decisions={},
        )
        self._walk(copy.deepcopy(ds), ctx, "", ())
        assert ctx.decisions is not None
        return ElementDecisions(MappingProxyType(ctx.decisions), self.literal_values)

    # ------------------------------------------------------------------ walk

    def _walk(
        self,
        ds: Dataset,
        ctx: act.ActionContext,
        prefix: str,
        steps: tuple,
        done: frozenset[int] = _NOTHING_DONE,
    ) -> None:
        """Visit every element once; only those a rule must read are converted.

        ``done`` are tags already dealt with (a content item's value).
        """
        creators: dict[int, str] = {}
        for key in list(ds.keys()):
            tag = int(key)
            if tag in done:
                continue
            group, element = tag >> 16, tag & 0xFFFF
            path = f"{prefix}({group:04X},{element:04X})"
            ctx.path = path
            if group & 1 and 0x0010 <= element <= 0x00FF:
                creators[tag] = str(ds[tag].value or "").strip()
                continue
            if group & 1:
                decision = self._private(ds, tag, ctx, path, steps, creators)
            else:
                decision = self._standard(ds, tag, ctx, path, prefix, steps)
            if ctx.decisions is not None:
                ctx.decisions[path] = (
                    decision if tag in ds else Decision(Fate.REMOVED, decision.action)
                )
        self._drop_empty_private_blocks(ds, creators, ctx, prefix)

    def _standard(
        self, ds: Dataset, tag: int, ctx: act.ActionContext, path: str, prefix: str, steps: tuple
    ) -> Decision:
        """A standard element: its rule (exact, wildcard, group), else what fails closed."""
        group, element = tag >> 16, tag & 0xFFFF
        if element == 0x0000:  # group lengths go stale once values change
            del ds[tag]
            return Decision(Fate.REMOVED, "group_length")
        upstream = (
            images.upstream_decision(tag, self._cleaned_upstream)
            if self._cleaned_upstream and not prefix
            else None
        )
        rule = self.strategy.rule_for(tag)
        vr = element_vr(ds, tag)
        if upstream == "keep":
            ctx.stats["kept_cleaned_upstream"] += 1
            if vr == "SQ":
                self._walk_items(
                    ds, ds[tag], ctx, path, steps + (PathStep(group, None, element),),
                    images_cleaned=True,
                )
            return Decision(Fate.CHANGED, "kept_cleaned_upstream")  # a pixel stage cleaned it
        if rule is None:
            if upstream == "clean":
                act.apply_action(act.ACTIONS["cleanTag"], ctx, ds, ds[tag], "")
                ctx.stats["cleanTag"] += 1
                return Decision(Fate.CHANGED, "cleanTag")
            if tag not in DicomDictionary:
                del ds[tag]  # not in the standard: nobody can say it is safe
                ctx.stats["unknown_tag_removed"] += 1
                return Decision(Fate.REMOVED, "unknown_tag_removed")
            if vr in _UNLISTED_NEEDS_LOOK:
                return self._unlisted(ds, ds[tag], ctx, path, steps)
            return Decision(Fate.KEPT, "unlisted_kept")
        spec = act.ACTIONS[rule.action]
        if spec.effect is Fate.KEPT and vr != "SQ":
            ctx.stats[rule.action] += 1
            return Decision(Fate.KEPT, rule.action)  # the raw bytes are written back untouched
        if spec.effect is Fate.REMOVED:
            del ds[tag]
            ctx.stats[rule.action] += 1
            return Decision(Fate.REMOVED, rule.action)
        elem = ds[tag]
        act.apply_action(spec, ctx, ds, elem, rule.option)
        ctx.stats[rule.action] += 1
        if elem.VR == "SQ" and tag in ds:
            if spec.recurse:
                self._walk_items(
                    ds, elem, ctx, path, steps + (PathStep(group, None, element),)
                )
            else:
                self._drop_unwalked_images(ds, tag, ctx, path, Fate.KEPT_BY_DEFAULT)
        return Decision(spec.effect, rule.action)

    def _walk_items(
        self,
        parent: Dataset,
        elem: DataElement,
        ctx: act.ActionContext,
        path: str,
        steps: tuple,
        *,
        images_cleaned: bool = False,
    ) -> None:
        """Walk each item; content items get their value cleaned, image items go.

        Item paths keep the original indices, which upstream-cleaned texts use.
        A sequence that held nothing but images is removed.
        """
        sequence_tag = int(elem.tag)
        items = list(elem.value or [])
        survivors = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]."
            if not images_cleaned and images.holds_image(item):
                ctx.stats["embedded_image_removed"] += 1
                continue
            survivors.append(item)
            done = _NOTHING_DONE
            if is_content_item(item, sequence_tag):
                done = self._content.clean_item(item, ctx, item_path)
                if ctx.decisions is not None:
                    for tag in done:
                        fate = Fate.CHANGED if tag in item else Fate.REMOVED
                        ctx.decisions[item_path + _tag_text(tag)] = Decision(
                            fate, "content_item_value"
                        )
            self._walk(item, ctx, item_path, steps, done)
        if len(survivors) < len(items):
            if survivors:
                elem.value = Sequence(survivors)
            else:
                del parent[sequence_tag]

    def _drop_unwalked_images(
        self, ds: Dataset, tag: int, ctx: act.ActionContext, path: str, fate: Fate
    ) -> None:
        """A sequence kept without a walk (a catch-all private rule) still loses its images.

        What stays below it is kept as read: ``fate`` (on purpose or by default).
        """
        if tag in ds and element_vr(ds, tag) == "SQ":
            if ctx.decisions is not None:
                _record_unwalked(ds[tag], path, fate, ctx.decisions)
            removed = images.drop_images_below(ds, tag)
            if removed:
                ctx.stats["embedded_image_removed"] += removed

    def _unlisted(
        self, ds: Dataset, elem: DataElement, ctx: act.ActionContext, path: str, steps: tuple
    ) -> Decision:
        """No row names this tag: keep it, except what fails closed (looked at: changed)."""
        vr = elem.VR
        tag = int(elem.tag)
        if vr == "SQ":
            self._walk_items(
                ds, elem, ctx, path, steps + (PathStep(tag >> 16, None, tag & 0xFFFF),)
            )
            return Decision(Fate.CHANGED, "unlisted_sequence_walked")
        if vr == "PN":
            act.empty_value(elem)
            ctx.stats["unlisted_person_name_emptied"] += 1
            return Decision(Fate.CHANGED, "unlisted_person_name_emptied")
        if vr in _FREE_TEXT_VRS:
            # Sentences (an annotation's text object) name people no header holds.
            cleaner = ctx.clean_narrative if tag in NARRATIVE_TEXT_TAGS else ctx.clean_text
            act.map_strings(elem, cleaner)
            ctx.stats["unlisted_free_text_cleaned"] += 1
            return Decision(Fate.CHANGED, "unlisted_free_text_cleaned")
        if vr == "UI" and any(not _is_standard_uid(str(v)) for v in act.values_of(elem)):
            act.set_values(
                elem,
                [v if _is_standard_uid(str(v)) else self.pseudonyms.uid(str(v))
                 for v in act.values_of(elem)],
            )
            ctx.stats["unlisted_uid_replaced"] += 1
            return Decision(Fate.CHANGED, "unlisted_uid_replaced")
        return Decision(Fate.CHANGED, "unlisted_uid_checked")  # standard UIDs, left as read

    def _private(
        self,
        ds: Dataset,
        tag: int,
        ctx: act.ActionContext,
        path: str,
        steps: tuple,
        creators: dict[int, str],
    ) -> Decision:
        """A private element: a row naming it, else the private rule or ``removePrivateTags``."""
        group, element = tag >> 16, tag & 0xFFFF
        exact = self.strategy.rule_for(tag)
        if exact is not None:  # a row naming this private tag wins over the private rule
            spec = act.ACTIONS[exact.action]
            act.apply_action(spec, ctx, ds, ds[tag], exact.option)
            ctx.stats[exact.action] += 1
            self._drop_unwalked_images(ds, tag, ctx, path, spec.effect)
            return Decision(spec.effect, exact.action)
        rule = self.strategy.private_rule
        creator = creators.get((group << 16) | (element >> 8))
        if creator is None or element < 0x1000:
            del ds[tag]  # orphan private element: no creator says what it is
            ctx.stats["private_orphan_removed"] += 1
            return Decision(Fate.REMOVED, "private_orphan_removed")
        if rule is None:
            if self.config.remove_private_tags:
                del ds[tag]
                ctx.stats["private_removed"] += 1
                return Decision(Fate.REMOVED, "private_removed")
            self._drop_unwalked_images(ds, tag, ctx, path, Fate.KEPT_BY_DEFAULT)
            return Decision(Fate.KEPT_BY_DEFAULT, "private_kept")
        if rule.action != "retainSafePrivate":
            spec = act.ACTIONS[rule.action]
            act.apply_action(spec, ctx, ds, ds[tag], rule.option)
            ctx.stats[f"private_{rule.action}"] += 1
            # a blanket keep says nothing about this tag's value
            fate = Fate.KEPT_BY_DEFAULT if spec.effect is Fate.KEPT else spec.effect
            self._drop_unwalked_images(ds, tag, ctx, path, fate)
            return Decision(fate, f"private_{rule.action}")
        step = PathStep(group, creator, element & 0xFF)
        assert self._kb is not None
        disposition = self._kb.disposition(steps + (step,))
        if disposition in (None, "d", "na"):
            del ds[tag]
            ctx.stats[f"private_{disposition or 'unknown'}"] += 1
            return Decision(Fate.REMOVED, f"private_{disposition or 'unknown'}")
        return self._apply_disposition(ds, ds[tag], ctx, path, steps + (step,), disposition)

    def _apply_disposition(
        self,
        ds: Dataset,
        elem: DataElement,
        ctx: act.ActionContext,
        path: str,
        steps: tuple,
        disposition: str | None,
    ) -> Decision:
        """TCIA's disposition for a private element: keep, hash, shift or remove."""
        name = f"private_{disposition or 'unknown'}"
        ctx.stats[name] += 1
        if disposition == "k":
            if elem.VR == "SQ":
                self._walk_items(ds, elem, ctx, path, steps)
            return Decision(Fate.KEPT, name)
        if disposition == "h":
            values = act.values_of(elem)
            looks_uid = values and all(_looks_like_uid(str(v)) for v in values)
            act.apply_action(act.ACTIONS["U" if looks_uid else "hashId"], ctx, ds, elem, "")
            return Decision(Fate.CHANGED, name)
        if disposition in ("o", "oi"):
            shifted = (
                act.shift_temporal(ctx, elem, ctx.day_offset())
                if disposition == "o" or act.is_numeric_vr(elem.VR)
                else _shift_integer_date(ctx, ds, elem)
            )
            if not shifted and elem.tag in ds:
                del ds[elem.tag]  # a date whose form is unknown: nothing safe to keep
                ctx.stats["private_date_removed"] += 1
            return Decision(Fate.CHANGED, name)
        del ds[elem.tag]  # d, na and anything unknown
        return Decision(Fate.REMOVED, name)

    @staticmethod
    def _drop_empty_private_blocks(
        ds: Dataset, creators: dict[int, str], ctx: act.ActionContext, prefix: str
    ) -> None:
        """A creator stays (as read) while its block keeps an element, and goes with the last."""
        for creator_tag in creators:
            group, block = creator_tag >> 16, creator_tag & 0xFF
            low, high = (group << 16) | (block << 8), (group << 16) | (block << 8) | 0xFF
            kept = any(low <= int(t) <= high for t in ds.keys() if (int(t) >> 16) == group)
            if not kept:
                del ds[creator_tag]
            if ctx.decisions is not None:
                ctx.decisions[prefix + _tag_text(creator_tag)] = Decision(
                    Fate.KEPT_BY_DEFAULT if kept else Fate.REMOVED, "private_creator"
                )

    def _ensure_tags(self, ds: Dataset) -> None:
        for rule in self._ensure_rules:
            tag = rule.pattern.value
            if tag not in ds:
                declared = rule.vr.split(" or ")[0] if rule.vr and rule.vr != "*" else "UN"
                vr = dictionary_vr(tag, declared)
                ds.add_new(tag, vr, rule.option or (Sequence([]) if vr == "SQ" else None))

    def _replace_orphan_media_uid(self, ds: Dataset) -> None:
        """Without a SOP Instance UID the codec cannot refresh File Meta's copy: map it here."""
        meta = getattr(ds, "file_meta", None)
        original = meta.get("MediaStorageSOPInstanceUID") if meta is not None else None
        if meta is not None and original and "SOPInstanceUID" not in ds:
            meta.MediaStorageSOPInstanceUID = self.pseudonyms.uid(str(original))

    def _mark(self, ds: Dataset, ctx: act.ActionContext, had_study_date: bool) -> None:
        """Record what was done, as PS3.15 E.1.1 asks of a de-identifying application."""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = self.config.method_description[:64]
        if self.config.method_codes:
            items = []
            for code, meaning in self.config.method_codes:
                item = Dataset()
                item.CodeValue = code
                item.CodingSchemeDesignator = "DCM"
                item.CodeMeaning = meaning[:64]
                items.append(item)
            ds.DeidentificationMethodCodeSequence = Sequence(items)
        if ctx.dates_shifted:
            ds.LongitudinalTemporalInformationModified = "MODIFIED"
        elif had_study_date and not ds.get("StudyDate"):
            ds.LongitudinalTemporalInformationModified = "REMOVED"
        elif had_study_date:
            ds.LongitudinalTemporalInformationModified = "UNMODIFIED"


def _tag_text(tag: int) -> str:
    """A tag as the walk's paths write it: ``(0010,0020)``."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _record_unwalked(
    elem: DataElement, path: str, fate: Fate, decisions: dict[str, Decision]
) -> None:
    """Everything below a sequence kept without a walk, as :func:`images.drop_images_below`
    leaves it: image items removed, the rest kept as read."""
    for index, item in enumerate(elem.value or []):
        if images.holds_image(item):
            continue  # removed, with all it holds
        for key in list(item.keys()):
            tag = int(key)
            child = f"{path}[{index}].{_tag_text(tag)}"
            if element_vr(item, tag) != "SQ":
                decisions[child] = Decision(fate, "kept_unwalked")
                continue
            items = list(item[tag].value or [])
            only_images = bool(items) and all(images.holds_image(i) for i in items)
            decisions[child] = Decision(Fate.REMOVED if only_images else fate, "kept_unwalked")
            _record_unwalked(item[tag], child, fate, decisions)


def _is_standard_uid(value: str) -> bool:
    value = value.strip("\x00 ")
    return not value or value in UID_dictionary or value.startswith(STANDARD_UID_ROOT)


def _looks_like_uid(value: str) -> bool:
    parts = value.strip("\x00 ").split(".")
    return len(parts) >= 3 and all(p.isdigit() for p in parts)


def _shift_integer_date(ctx: act.ActionContext, ds: Dataset, elem: DataElement) -> bool:
    """Private 'oi' values held as text: YYYYMMDD shifts as a date, epoch seconds as a timestamp.

    Numeric VRs go to :func:`actions.shift_temporal`, which reads both forms
    as numbers. False when the value is of neither form (the caller removes it).
    """
    values = act.values_of(elem)
    # 20000101.0 in an FD is the same date as 20000101 in an SL
    text = [_whole_number_text(v) for v in values]
    if text and all(len(t) == 8 and t.isdigit() for t in text):
        return act.shift_temporal(ctx, elem, ctx.day_offset())
    if text and all(t.lstrip("-").isdigit() and len(t) >= 9 for t in text):
        act.apply_action(act.ACTIONS["shiftUnixTimeStampRandom"], ctx, ds, elem, "")
        return elem.tag in ds and bool(act.values_of(elem))
    return False


def _whole_number_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def patient_key(ds: Dataset) -> str:
    """Which patient a file belongs to, for the per-patient date offset."""
    for keyword in PATIENT_KEY_KEYWORDS:
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            return f"{keyword}:{value.upper() if keyword == 'PatientName' else value}"
    return ""


@lru_cache(maxsize=8)
def compiled_engine(config: EngineConfig) -> MetadataEngine:
    """One engine per configuration per process: strategy and KB parse once."""
    return MetadataEngine(config)


def deidentify_bytes(
    content: bytes,
    config: EngineConfig,
    *,
    mapping: dict[str, str] | None = None,
    cleaned_texts: dict[str, str] | None = None,
) -> tuple[bytes, DeidReport]:
    """Bytes in, de-identified bytes out, same transfer syntax, Pixel Data untouched."""
    ds = read_dataset(content)
    report = compiled_engine(config).deidentify(ds, mapping=mapping, cleaned_texts=cleaned_texts)
    return write_dataset(ds), report
