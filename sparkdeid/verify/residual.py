"""The residual-PHI check: does a final output still hold PHI from its own header?

:class:`~sparkdeid.stages.residual_gate.ResidualPhiGate` runs it as the last
stage of the ready-made pipelines (:mod:`sparkdeid.pipeline`). Per file it
reads the original's header (no pixels), collects its identifying values
with :func:`~sparkdeid.verify.phi_values.phi_values` and looks for them in
every element of the output (nested, private, file meta, bytes).
In ``pixels`` mode it also renders the output's first, middle and last
frames, reads them by OCR and looks for the original's header terms with
the header recognizer only (:func:`sparkdeid.ner.header.match_terms`):
other detectors would re-flag words the pipeline legitimately kept.

A finding nulls the output cell and writes an error such as ``residual PHI:
a value of PatientID found at OtherPatientIDsSequence[0].PatientID`` --
keywords and tag paths, never the value -- so the batch and streaming jobs
quarantine the input instead of writing the output.

**The strategy decides what is PHI**, and the gate does not restate it: it
reads the metadata engine's own decisions for the original
(:meth:`~sparkdeid.metadata.engine.MetadataEngine.decisions`, the engine's
walk run on a copy). Values the engine keeps on purpose are not residual: an
element whose rule keeps it (an action whose registry entry says it keeps),
a standard tag no rule names that the engine keeps as read, a private tag
TCIA's knowledge base marks ``k`` under ``retainSafePrivate``. Their values
are excluded wherever they turn up. A private tag kept only wholesale
(``removePrivateTags`` off, a catch-all keep) is not on purpose, so a
patient id copied into one is still found. Further guards against
quarantining a good file:

* the strategy's own replacement values (``replaceWithLiteral`` and
  ``ensureTagExists`` options, the dummies) and placeholders are never PHI;
* very short values (fewer than 4 letters or digits, digit-only ids of
  fewer than 5) and ids or places made only of dictionary words are skipped;
* a value that is the whole value of an attribute the strategy keeps by
  name, in the original too, is not counted there (a Manufacturer that is
  also the InstitutionName), unless it names or identifies the patient;
* an original date met again in a date or UID element is not counted (a
  shifted date can land on another of the file's dates; kept UIDs embed
  dates), nor a lone name part in a person-name element (a replacement name
  can share a family name with the patient); whole names still count there,
  unless the strategy keeps that person-name element;
* OCR matches count only when exact or exact after folding OCR confusions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.errors import SparkDeidError
from sparkdeid.metadata.decisions import ElementDecisions, Fate
from sparkdeid.metadata.engine import EngineConfig, compiled_engine
from sparkdeid.ner.allow_list import is_vocabulary_word
from sparkdeid.ner.base import HeaderTerm
from sparkdeid.ner.header import LABELS, header_terms_of, match_terms
from sparkdeid.verify.phi_values import (
    SAFE_VALUES,
    MetadataFinding,
    PhiValue,
    element_label,
    find_in_dataset,
    output_texts,
    phi_values,
    walk_elements,
)

logger = logging.getLogger(__name__)

STANDARD_UID_ROOT = "1.2.840.10008."
PIXEL_MIN_SCORE = 0.9  # exact, or exact after folding OCR confusions (header.match_terms)
MAX_NAMED_FINDINGS = 3
_DATE_VRS = frozenset({"DA", "DT", "TM", "UI"})
_TOKEN = re.compile(r"[^\W_]+")
_TAG_IN_PATH = re.compile(r"\(([0-9A-F]{4}),([0-9A-F]{4})\)")


class GateMode(str, Enum):
    """How much the gate re-scans: header metadata, also OCR of pixels, or nothing."""

    METADATA = "metadata"
    PIXELS = "pixels"
    OFF = "off"


GATE_MODES = tuple(m.value for m in GateMode)


def gate_mode(value: str) -> GateMode:
    """``value`` as a :class:`GateMode`; ``ValueError`` naming the choices otherwise."""
    try:
        return GateMode(value)
    except ValueError:
        raise ValueError(f"residual check must be one of {', '.join(GATE_MODES)}") from None


class ResidualPhiError(SparkDeidError, ValueError):
    """An output still holds PHI from its own original; the message names places only."""


# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class GatePolicy:
    """The parts of the engine config that decide what is kept on purpose.

    Hashable and picklable (no secret), so the engine compiled from it is
    cached per process. ``cleaned_upstream`` is the engine's (which pixel
    stages cleaned overlays, icons, documents); empty when unknown.
    """

    strategy_csv: str
    group_strategy_csv: str | None = None
    remove_private_tags: bool = True
    cleaned_upstream: tuple[str, ...] = ()

    @classmethod
    def from_engine_config(cls, config: EngineConfig) -> GatePolicy:
        """From an :class:`~sparkdeid.metadata.engine.EngineConfig` (the secret is not kept)."""
        return cls(
            config.strategy_csv,
            config.group_strategy_csv,
            config.remove_private_tags,
            tuple(config.cleaned_upstream),
        )

    def engine_config(self) -> EngineConfig:
        """The engine config whose decisions the gate reads (no secret: values are discarded)."""
        return EngineConfig.for_decisions(
            self.strategy_csv,
            self.group_strategy_csv,
            self.remove_private_tags,
            self.cleaned_upstream,
        )


# How the strategy treats one element of the original, by tag path.
DELIBERATE = "deliberate"  # kept: by its rule, as a standard tag no rule names, or per TCIA's KB
PROCESSED = "processed"  # a rule (or the engine's cleaner) changed it as needed: unchanged = safe
DEFAULT = "default"  # kept only by a blanket private rule (or removePrivateTags off)

_GATE_DECISION = {
    Fate.KEPT: DELIBERATE,
    Fate.CHANGED: PROCESSED,
    Fate.KEPT_BY_DEFAULT: DEFAULT,
}


def engine_decisions(ds: Dataset, policy: GatePolicy) -> ElementDecisions:
    """What the metadata engine does to each element of ``ds`` under ``policy``."""
    return compiled_engine(policy.engine_config()).decisions(ds)


def _label(engine_path: str) -> str:
    """``(0040,A730)[0].(0040,A160)`` as :func:`phi_values` names it.

    That is ``ContentSequence[0].TextValue``: keywords, ``(gggg,eeee)`` for private tags.
    """
    return _TAG_IN_PATH.sub(lambda m: element_label(int(m.group(1) + m.group(2), 16)), engine_path)


def strategy_decisions(ds: Dataset, policy: GatePolicy) -> dict[str, str]:
    """Tag path (as :func:`phi_values` names sources) -> how the strategy treats it.

    Read from :func:`engine_decisions`. Removed elements are absent. A value
    the engine keeps on purpose is deliberate; one kept only because private
    tags are kept wholesale (``removePrivateTags`` off, a catch-all private
    ``K``) is not, so a patient id copied into a private tag is still found.
    """
    decisions = engine_decisions(ds, policy)
    return {
        _label(path): _GATE_DECISION[decision.fate]
        for path, decision in decisions.by_path.items()
        if decision.fate is not Fate.REMOVED
    }


def replacement_values(policy: GatePolicy) -> frozenset[str]:
    """The strategy's own literal values, upper-cased: never a file's PHI."""
    literals = compiled_engine(policy.engine_config()).literal_values
    return frozenset(value.strip().upper() for value in literals)


# --------------------------------------------------------------------------- metadata


def _identifying(value: PhiValue) -> bool:
    """Long enough, not a placeholder, not made of dictionary words only."""
    text = value.value.strip()
    compact = "".join(_TOKEN.findall(text))
    if len(compact) < 4 or text.upper() in SAFE_VALUES:
        return False
    if value.kind == "uid":
        return not (text.startswith(STANDARD_UID_ROOT) or text in UID_dictionary)
    if value.kind in ("id", "place"):
        if compact.isdigit() or compact.isalpha():
            if len(compact) < 5:
                return False  # 1234, HERE: too common to prove anything
        words = [t for t in _TOKEN.findall(text) if not t.isdigit()]
        return not words or not all(is_vocabulary_word(w) for w in words)
    return True


@dataclass(frozen=True)
class ResidualValue:
    """An original value the output must not hold, and where it may legitimately stay."""

    value: PhiValue
    allowed_at: frozenset[str]  # original places the strategy left it on purpose


def _texts_by_location(ds: Dataset) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for location, text in output_texts(ds):
        found.setdefault(location, []).append(text.upper())
    return found


def residual_values(
    original: Dataset, output: Dataset, policy: GatePolicy
) -> list[ResidualValue]:
    """The original's PHI values that must not be in ``output`` under ``policy``.

    A value is allowed where the strategy left it on purpose: at an original
    place whose rule keeps it, or whose rule (or cleaner) processed it and
    left it as it was. A value allowed at every original place it had is
    dropped altogether (the strategy deems it safe, so a copy elsewhere leaks
    nothing more).
    """
    return _residual_values(original, output, policy, strategy_decisions(original, policy))


def _residual_values(
    original: Dataset, output: Dataset, policy: GatePolicy, decisions: dict[str, str]
) -> list[ResidualValue]:
    texts = _texts_by_location(output)
    replacements = replacement_values(policy)
    candidates = [
        v for v in phi_values(original)
        if _identifying(v) and v.value.strip().upper() not in replacements
    ]
    places: dict[str, set[str]] = {}
    for v in candidates:
        places.setdefault(v.value.upper(), set()).update(s for s in v.sources if s in decisions)
    residual = []
    for v in candidates:
        upper = v.value.upper()
        sources = places[upper]
        allowed = frozenset(
            s for s in sources
            if decisions[s] == DELIBERATE
            or (decisions[s] == PROCESSED and any(upper in t for t in texts.get(s, ())))
        )
        if sources and allowed == sources:
            continue
        residual.append(ResidualValue(v, allowed))
    return residual


def metadata_residuals(
    original: Dataset, output: Dataset, policy: GatePolicy
) -> list[MetadataFinding]:
    """Places in ``output`` that still hold a value of ``original`` the strategy removes.

    Empty for a correct output. See the module docstring for what is not counted.
    """
    decisions = strategy_decisions(original, policy)
    residual = _residual_values(original, output, policy, decisions)
    if not residual:
        return []
    # findings name a value by kind and sources; values sharing both share the strictest set
    allowed: dict[tuple[str, tuple[str, ...]], frozenset[str]] = {}
    for r in residual:
        key = (r.value.kind, r.value.sources)
        allowed[key] = allowed[key] & r.allowed_at if key in allowed else r.allowed_at
    vrs = {path: vr for path, _, _, vr in walk_elements(output)}
    meta = getattr(output, "file_meta", None)
    if meta is not None:
        vrs.update((path, vr) for path, _, _, vr in walk_elements(meta, "FileMeta."))
    before = _texts_by_location(original)
    by_key: dict[tuple[str, tuple[str, ...]], set[str]] = {}
    for r in residual:
        by_key.setdefault((r.value.kind, r.value.sources), set()).add(r.value.value.upper())
    found = []
    for finding in find_in_dataset(output, [r.value for r in residual]):
        vr = vrs.get(finding.location, "")
        values = by_key.get((finding.kind, finding.sources), set())
        if (
            decisions.get(finding.location) == DELIBERATE
            and values & {t.strip() for t in before.get(finding.location, ())}
            and finding.kind != "name"
            and not any("Patient" in s for s in finding.sources)
        ):
            continue  # a kept attribute whose whole value it is (Manufacturer = institution)
        if finding.kind == "date" and vr in _DATE_VRS:
            continue
        if finding.match == "name part" and vr == "PN":
            continue
        if vr == "PN" and decisions.get(finding.location) == DELIBERATE:
            continue  # a person name the strategy keeps: other spellings of it are kept too
        if finding.location in allowed.get((finding.kind, finding.sources), frozenset()):
            continue
        found.append(finding)
    return found


# --------------------------------------------------------------------------- pixels


@dataclass(frozen=True)
class PixelResidual:
    """A header value of the original read by OCR in an output frame: kind only."""

    frame: int
    label: str


def residual_terms(
    original: Dataset, output: Dataset, policy: GatePolicy
) -> tuple[HeaderTerm, ...]:
    """The original's header terms the output must not show (kept or trivial ones left out)."""
    wanted = {r.value.value.upper() for r in residual_values(original, output, policy)}
    terms = []
    for term in header_terms_of(original):
        value = term.value.strip().upper()
        if term.kind == "date":
            value = value[:8]
        if value in wanted:
            terms.append(term)
    return tuple(terms)



def pixel_residuals(
    output: Dataset, terms: Sequence[HeaderTerm], engine: Any
) -> list[PixelResidual]:
    """Header terms read by OCR in the output's first, middle and last frames."""
    from sparkdeid.dicom.frames import frame_indices, pixel_info, render_frame
    from sparkdeid.ocr.frame_ocr import read_frame

    if not terms:
        return []
    info = pixel_info(output)
    if info is None:
        return []
    found = []
    for index in frame_indices(info.num_frames, 0, "first_middle_last"):
        text = read_frame(engine, render_frame(output, index, info=info)).text
        for entity in match_terms(text, tuple(terms)):
            if entity.score >= PIXEL_MIN_SCORE:
                found.append(PixelResidual(index, entity.label))
    return found


# --------------------------------------------------------------------------- per file


def residual_message(
    metadata: Sequence[MetadataFinding], pixels: Sequence[PixelResidual] = ()
) -> str:
    """``residual PHI: a value of PatientID found at ...``: keywords and paths, no values."""
    parts = []
    for finding in metadata:
        source = next((s for s in finding.sources if s != "header term"), "")
        what = f"a value of {source}" if source else f"a header {finding.kind}"
        parts.append(f"{what} found at {finding.location}")
    labels = {value: key for key, value in LABELS.items()}
    for pixel in pixels:
        kind = labels.get(pixel.label, "other").replace("_", " ")
        parts.append(f"a header {kind} read by OCR in frame {pixel.frame}")
    parts = list(dict.fromkeys(parts))  # one line per place, whichever value it was
    shown = "; ".join(parts[:MAX_NAMED_FINDINGS])
    more = len(parts) - MAX_NAMED_FINDINGS
    return "residual PHI: " + shown + (f" (and {more} more)" if more > 0 else "")


def check_output(
    original: bytes,
    output: bytes,
    policy: GatePolicy,
    mode: GateMode = GateMode.METADATA,
    engine: Any = None,
) -> None:
    """Raise :class:`ResidualPhiError` when ``output`` still holds PHI of ``original``.

    ``engine`` is the OCR engine for ``pixels`` mode.
    """
    if mode is GateMode.OFF:
        return
    header = read_dataset(original, stop_before_pixels=True)
    ds = read_dataset(output)
    metadata = metadata_residuals(header, ds, policy)
    pixels: list[PixelResidual] = []
    if mode is GateMode.PIXELS and engine is not None:
        pixels = pixel_residuals(ds, residual_terms(header, ds, policy), engine)
    if metadata or pixels:
        raise ResidualPhiError(residual_message(metadata, pixels))
