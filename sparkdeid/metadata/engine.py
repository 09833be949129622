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
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from pydicom.datadict import DicomDictionary
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import UID_dictionary

from sparkdeid.dicom.codec import dictionary_vr, element_vr, read_dataset, write_dataset
from sparkdeid.metadata import actions as act
from sparkdeid.metadata import embedded_images as images
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
_KEEP_ACTIONS = frozenset({"keep", "K", "ensureTagExists"})
_DELETE_ACTIONS = frozenset({"delete", "X"})
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
            if group & 1:
                if 0x0010 <= element <= 0x00FF:
                    creators[tag] = str(ds[tag].value or "").strip()
                    continue
                self._private(ds, tag, ctx, path, steps, creators)
                continue
            if element == 0x0000:  # group lengths go stale once values change
                del ds[tag]
                continue
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
                continue
            if rule is None:
                if upstream == "clean":
                    act.apply_action(act.ACTIONS["cleanTag"], ctx, ds, ds[tag], "")
                    ctx.stats["cleanTag"] += 1
                elif tag not in DicomDictionary:
                    del ds[tag]  # not in the standard: nobody can say it is safe
                    ctx.stats["unknown_tag_removed"] += 1
                elif vr in _UNLISTED_NEEDS_LOOK:
                    self._unlisted(ds, ds[tag], ctx, path, steps)
                continue
            if rule.action in _KEEP_ACTIONS and vr != "SQ":
                ctx.stats[rule.action] += 1
                continue  # kept as read: the raw bytes are written back untouched
            if rule.action in _DELETE_ACTIONS:
                del ds[tag]
                ctx.stats[rule.action] += 1
                continue
            elem = ds[tag]
            spec = act.ACTIONS[rule.action]
            act.apply_action(spec, ctx, ds, elem, rule.option)
            ctx.stats[rule.action] += 1
            if elem.VR == "SQ" and tag in ds:
                if spec.recurse:
                    self._walk_items(
                        ds, elem, ctx, path, steps + (PathStep(group, None, element),)
                    )
                else:
                    self._drop_unwalked_images(ds, tag, ctx)
        self._drop_empty_private_blocks(ds, creators)

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
            self._walk(item, ctx, item_path, steps, done)
        if len(survivors) < len(items):
            if survivors:
                elem.value = Sequence(survivors)
            else:
                del parent[sequence_tag]

    def _drop_unwalked_images(self, ds: Dataset, tag: int, ctx: act.ActionContext) -> None:
        """A sequence kept without a walk (a catch-all private rule) still loses its images."""
        if tag in ds and element_vr(ds, tag) == "SQ":
            removed = images.drop_images_below(ds, tag)
            if removed:
                ctx.stats["embedded_image_removed"] += removed

    def _unlisted(
        self, ds: Dataset, elem: DataElement, ctx: act.ActionContext, path: str, steps: tuple
    ) -> None:
        """No row names this tag: keep it, except what fails closed."""
        vr = elem.VR
        tag = int(elem.tag)
        if vr == "SQ":
            self._walk_items(
                ds, elem, ctx, path, steps + (PathStep(tag >> 16, None, tag & 0xFFFF),)
            )
        elif vr == "PN":
            act.empty_value(elem)
            ctx.stats["unlisted_person_name_emptied"] += 1
        elif vr in _FREE_TEXT_VRS:
            # Sentences (an annotation's text object) name people no header holds.
            cleaner = ctx.clean_narrative if tag in NARRATIVE_TEXT_TAGS else ctx.clean_text
            act.map_strings(elem, cleaner)
            ctx.stats["unlisted_free_text_cleaned"] += 1
        elif vr == "UI" and any(not _is_standard_uid(str(v)) for v in act.values_of(elem)):
            act.set_values(
                elem,
                [v if _is_standard_uid(str(v)) else self.pseudonyms.uid(str(v))
                 for v in act.values_of(elem)],
            )
            ctx.stats["unlisted_uid_replaced"] += 1

    def _private(
        self,
        ds: Dataset,
        tag: int,
        ctx: act.ActionContext,
        path: str,
        steps: tuple,
        creators: dict[int, str],
    ) -> None:
        group, element = tag >> 16, tag & 0xFFFF
        exact = self.strategy.rule_for(tag)
        if exact is not None:  # a row naming this private tag wins over the private rule
            act.apply_action(act.ACTIONS[exact.action], ctx, ds, ds[tag], exact.option)
            ctx.stats[exact.action] += 1
            self._drop_unwalked_images(ds, tag, ctx)
            return
        rule = self.strategy.private_rule
        creator = creators.get((group << 16) | (element >> 8))
        if creator is None or element < 0x1000:
            del ds[tag]  # orphan private element: no creator says what it is
            ctx.stats["private_orphan_removed"] += 1
            return
        if rule is None:
            if self.config.remove_private_tags:
                del ds[tag]
                ctx.stats["private_removed"] += 1
            else:
                self._drop_unwalked_images(ds, tag, ctx)
            return
        if rule.action != "retainSafePrivate":
            spec = act.ACTIONS[rule.action]
            act.apply_action(spec, ctx, ds, ds[tag], rule.option)
            ctx.stats[f"private_{rule.action}"] += 1
            self._drop_unwalked_images(ds, tag, ctx)
            return
        step = PathStep(group, creator, element & 0xFF)
        assert self._kb is not None
        disposition = self._kb.disposition(steps + (step,))
        if disposition in (None, "d", "na"):
            del ds[tag]
            ctx.stats[f"private_{disposition or 'unknown'}"] += 1
            return
        self._apply_disposition(ds, ds[tag], ctx, path, steps + (step,), disposition)

    def _apply_disposition(
        self,
        ds: Dataset,
        elem: DataElement,
        ctx: act.ActionContext,
        path: str,
        steps: tuple,
        disposition: str | None,
    ) -> None:
        ctx.stats[f"private_{disposition or 'unknown'}"] += 1
        if disposition == "k":
            if elem.VR == "SQ":
                self._walk_items(ds, elem, ctx, path, steps)
            return
        if disposition == "h":
            values = act.values_of(elem)
            looks_uid = values and all(_looks_like_uid(str(v)) for v in values)
            act.apply_action(act.ACTIONS["U" if looks_uid else "hashId"], ctx, ds, elem, "")
            return
        if disposition in ("o", "oi"):
            shifted = (
                act.shift_temporal(ctx, elem, ctx.day_offset())
                if disposition == "o" or act.is_numeric_vr(elem.VR)
                else _shift_integer_date(ctx, ds, elem)
            )
            if not shifted and elem.tag in ds:
                del ds[elem.tag]  # a date whose form is unknown: nothing safe to keep
                ctx.stats["private_date_removed"] += 1
            return
        del ds[elem.tag]  # d, na and anything unknown

    @staticmethod
    def _drop_empty_private_blocks(ds: Dataset, creators: dict[int, str]) -> None:
        for creator_tag in creators:
            group, block = creator_tag >> 16, creator_tag & 0xFF
            low, high = (group << 16) | (block << 8), (group << 16) | (block << 8) | 0xFF
            if not any(low <= int(t) <= high for t in ds.keys() if (int(t) >> 16) == group):
                del ds[creator_tag]

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
