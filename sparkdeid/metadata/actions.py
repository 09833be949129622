"""The one registry of strategy actions: name -> (VRs it fits, options, function).

Adding an action is one entry in :data:`ACTIONS`, which also says whether it
keeps, changes or removes what it is applied to (:class:`ActionSpec`
``effect``): the engine acts on that and records it, and the residual-PHI
gate reads the record, so nothing else lists the keeping actions. Each function receives the
dataset that holds the element, so it can delete it, and an
:class:`ActionContext` with everything that derives replacement values; it
never sees the Spark row. Values that cannot be transformed safely (a date
that does not parse, an age in an odd form) are emptied, not kept: the
engine fails closed.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from sparkdeid.dicom.codec import values_of
from sparkdeid.metadata.decisions import Decision, Fate
from sparkdeid.metadata.pseudonyms import Pseudonymizer

ANY_VR: frozenset[str] | None = None
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS", "AE", "UN"})
ID_VRS = frozenset({"LO", "SH", "CS", "UI", "UN", "ST", "UC", "IS"})
DATE_VRS = frozenset({"DA", "DT", "TM"})
NUMBER_VRS = frozenset(
    {"DS", "IS", "UL", "SL", "US", "SS", "FL", "FD", "UV", "SV", "LO", "SH", "UN"}
)
BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
# Dates also live in text and in binary numbers (YYYYMMDD or epoch seconds, private tags).
SHIFTABLE_DATE_VRS = DATE_VRS | {"UN", "OB", "LO", "SH", "US", "SS", "UL", "SL", "UV", "SV",
                                 "FL", "FD"}
STRING_MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "UI": 64, "AS": 4}

DEFAULT_DATE_SHIFT_DAYS = 365
DEFAULT_TIME_SHIFT_SECONDS = 3600
DEFAULT_AGE_SHIFT_YEARS = 2

# Dummy values for D: valid for the VR and meaningless.
DUMMY_BY_VR: dict[str, Any] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": "ANONYMIZED",
    "LT": "ANONYMIZED",
    "PN": "ANONYMIZED",
    "SH": "ANONYMIZED",
    "ST": "ANONYMIZED",
    "UC": "ANONYMIZED",
    "UT": "ANONYMIZED",
    "UR": "",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
}


@dataclass
class ActionContext:
    """Per-file state shared by every action: derivations, caller inputs, counters.

    ``clean_text`` is the free-text cleaner for ``cleanTag`` (header-informed
    rules now, NER later); ``clean_narrative`` cleans narrative text (SR Text
    Values, annotation text objects) with the full PHI detector, since a
    report sentence names people no header attribute holds; ``cleaned_texts``
    holds texts already cleaned upstream (NerDeid), keyed by tag path;
    ``mapping`` is the caller's ``replaceWithMapping`` table. Both cleaners
    default to removing everything, so a context built without them fails closed.
    ``decisions``, when given, receives the engine's decision for every element
    it reaches, by tag path (:meth:`~sparkdeid.metadata.engine.MetadataEngine.decisions`).
    """

    pseudonyms: Pseudonymizer
    patient_key: str
    date_shift_max_days: int = DEFAULT_DATE_SHIFT_DAYS
    clean_text: Callable[[str], str] = lambda text: ""
    clean_narrative: Callable[[str], str] = lambda text: ""
    cleaned_texts: dict[str, str] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    sop_class_uid: str | None = None
    path: str = ""
    stats: Counter[str] = field(default_factory=Counter)
    dates_shifted: bool = False
    decisions: dict[str, Decision] | None = None

    def day_offset(self) -> int:
        """The patient's one date offset in days, shared by every date of every file."""
        return self.pseudonyms.offset("date-days", self.patient_key, self.date_shift_max_days)


ActionFn = Callable[[ActionContext, Dataset, DataElement, str], None]


@dataclass(frozen=True)
class ActionSpec:
    """How an action is checked when a strategy loads and what it does per element.

    ``effect`` is what it does to the element: ``KEPT`` actions keep it as
    read (the engine does not even convert it, except a sequence, whose items
    are still walked when ``recurse``), ``REMOVED`` ones delete it, every other
    action ``CHANGED`` it. ``writes_option``: the Option is a value written
    into the output, so it is the strategy's and never a file's PHI.
    """

    name: str
    fn: ActionFn
    vrs: frozenset[str] | None = ANY_VR
    min_options: int = 0
    max_options: int = 0
    validate_option: Callable[[str], object] | None = None
    recurse: bool = False  # walk into sequence items after the action
    description: str = ""
    effect: Fate = Fate.CHANGED
    writes_option: bool = False


def action_accepts_vr(spec: ActionSpec, vr_text: str) -> bool:
    """True when the row's VR (possibly ``US or SS``, ``*`` or empty) fits the action."""
    if spec.vrs is None:
        return True
    alternatives = [v.strip().upper() for v in vr_text.split(" or ") if v.strip()]
    if not alternatives or alternatives == ["*"]:
        return True
    return any(v in spec.vrs for v in alternatives)


# --------------------------------------------------------------------------- values


def set_values(elem: DataElement, values: list[Any]) -> None:
    """Assign values back, keeping single values scalar and UN / OB as bytes."""
    if elem.VR in ("UN", "OB"):
        text = "\\".join(str(v) for v in values)
        elem.value = (text + (" " if len(text) % 2 else "")).encode("latin-1", "replace")
        return
    if not values:
        elem.value = None
    elif len(values) == 1:
        elem.value = values[0]
    else:
        elem.value = values


def fit(text: str, vr: str) -> str:
    """Truncate to the VR's maximum length so replacements stay valid."""
    limit = STRING_MAX_LENGTH.get(vr)
    return text[:limit] if limit else text


def map_strings(elem: DataElement, fn: Callable[[str], str]) -> None:
    set_values(elem, [fit(fn(str(v)), elem.VR) for v in values_of(elem)])


def empty_value(elem: DataElement) -> None:
    """Zero-length value, VR-aware: an empty sequence stays a sequence."""
    if elem.VR == "SQ":
        elem.value = Sequence([])
    elif elem.VR in BINARY_VRS:
        elem.value = b""
    else:
        elem.value = None


# --------------------------------------------------------------------------- dates


def _shift_da(value: str, days: int) -> str:
    text = value.strip().replace(".", "")
    if not re.fullmatch(r"\d{8}", text):
        raise ValueError("bad DA")
    date = dt.datetime.strptime(text, "%Y%m%d").date() + dt.timedelta(days=days)
    return date.strftime("%Y%m%d")


_DT_RE = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")


def _shift_dt(value: str, days: int, seconds: int = 0) -> str:
    match = _DT_RE.match(value.strip())
    if not match:
        raise ValueError("bad DT")
    parts = match.groups()
    present = sum(1 for p in parts[:6] if p is not None)
    defaults = (0, 1, 1, 0, 0, 0)
    fields = [int(p) if p is not None else d for p, d in zip(parts[:6], defaults, strict=True)]
    year, month, day, hour, minute, second = fields
    moment = dt.datetime(year, month, day, hour, minute, second)
    moment += dt.timedelta(days=days, seconds=seconds)
    out = moment.strftime("%Y%m%d%H%M%S")[: (4 + 2 * (present - 1))]
    return out + (parts[6] or "" if present == 6 else "") + (parts[7] or "")


def _shift_tm(value: str, seconds: int) -> str:
    text = value.strip().replace(":", "")
    match = re.fullmatch(r"(\d{2})(\d{2})?(\d{2})?(\.\d{1,6})?", text)
    if not match:
        raise ValueError("bad TM")
    if seconds == 0:
        return text
    hh, mm, ss = (int(g) if g else 0 for g in match.groups()[:3])
    total = (hh * 3600 + mm * 60 + ss + seconds) % 86400
    out = f"{total // 3600:02d}{total % 3600 // 60:02d}{total % 60:02d}"
    present = sum(1 for g in match.groups()[:3] if g)
    return out[: 2 * present] + (match.group(4) or "" if present == 3 else "")


# Binary numeric VRs and the range of values each holds.
_NUMERIC_RANGE: dict[str, tuple[float, float]] = {
    "US": (0, 2**16 - 1), "SS": (-(2**15), 2**15 - 1), "UL": (0, 2**32 - 1),
    "SL": (-(2**31), 2**31 - 1), "UV": (0, 2**64 - 1), "SV": (-(2**63), 2**63 - 1),
    "FL": (-3.4e38, 3.4e38), "FD": (-1.7e308, 1.7e308),
}
_EPOCH_SECONDS = (1e8, 4.2e9)  # 1973 .. 2103
_EPOCH_MILLISECONDS = (1e11, 4.2e12)


def _shift_number_date(value: Any, vr: str, days: int) -> Any:
    """A date held as a number (``20000101`` as SL, or epoch seconds), shifted as a number.

    Returned as the same Python type and checked against the VR's range, so
    the element is still written in its binary VR; anything else raises
    ValueError (the caller then removes the value: its meaning is unknown).
    """
    number = float(value)
    if not number.is_integer():
        raise ValueError("not a whole number")
    whole = int(number)
    if 10_000_000 <= whole <= 99_999_999:
        shifted: float = int(_shift_da(str(whole), days))
    elif _EPOCH_SECONDS[0] <= abs(whole) <= _EPOCH_SECONDS[1]:
        shifted = whole + days * 86_400
    elif _EPOCH_MILLISECONDS[0] <= abs(whole) <= _EPOCH_MILLISECONDS[1]:
        shifted = whole + days * 86_400_000
    else:
        raise ValueError("not a date")
    low, high = _NUMERIC_RANGE[vr]
    if not low <= shifted <= high:
        raise ValueError("shifted date does not fit the VR")
    if vr == "FL" and struct.unpack("<f", struct.pack("<f", shifted))[0] != shifted:
        raise ValueError("shifted date is not exact in 32-bit floating point")
    return float(shifted) if vr in ("FL", "FD") else int(shifted)


def _shift_epoch(number: float, vr: str, days: int) -> Any:
    """Seconds (or milliseconds) since the epoch in a numeric VR, moved by ``days``."""
    scale = 1000 if abs(number) > 1e11 else 1
    shifted = number + days * 86_400 * scale
    low, high = _NUMERIC_RANGE[vr]
    if not low <= shifted <= high:
        raise ValueError("shifted timestamp does not fit the VR")
    if vr in ("FL", "FD"):
        return float(shifted)
    if not float(shifted).is_integer():
        raise ValueError("not a whole number")
    return int(shifted)


def is_numeric_vr(vr: str) -> bool:
    """True for the binary number VRs (US, SS, UL, SL, UV, SV, FL, FD)."""
    return vr in _NUMERIC_RANGE


def shift_temporal(ctx: ActionContext, elem: DataElement, days: int, seconds: int = 0) -> bool:
    """Shift every date or time value by VR; one that does not parse is emptied (fail closed).

    Dates in binary numeric VRs (private tags such as GE's Image actual date,
    SL ``20000101``, or epoch seconds) are shifted as numbers of the same VR,
    never written back as text into a binary VR. Text in UN / OB is shifted
    and written back as bytes; the other opaque binary VRs (OW, OF, ...) hold
    no readable date and are emptied. Returns False when the value was emptied.
    """
    vr = elem.VR
    try:
        if vr in BINARY_VRS - {"UN", "OB"}:
            raise ValueError("no date in an opaque binary value")
        if vr in _NUMERIC_RANGE:
            set_values(elem, [_shift_number_date(v, vr, days) for v in values_of(elem)])
        elif vr == "DA":
            map_strings(elem, lambda v: _shift_da(v, days))
        elif vr == "DT":
            map_strings(elem, lambda v: _shift_dt(v, days, seconds))
        elif vr == "TM":
            map_strings(elem, lambda v: _shift_tm(v, seconds))
        else:
            map_strings(elem, lambda v: _shift_text_date(v, days))
    except (ValueError, OverflowError):
        empty_value(elem)
        ctx.stats["unparseable_date_emptied"] += 1
        return False
    ctx.dates_shifted = True
    return True


def _shift_text_date(value: str, days: int) -> str:
    """Dates held in text or unknown VRs (private tags): YYYYMMDD[HHMMSS...] only."""
    text = value.strip()
    if re.fullmatch(r"\d{8}", text):
        return _shift_da(text, days)
    return _shift_dt(text, days)


def _unfit_for_vr(elem: DataElement) -> bool:
    """A value its VR cannot encode: text in a binary number, a number out of range."""
    vr = elem.VR
    value = elem.value
    if value is None:
        return False
    if vr in _NUMERIC_RANGE:
        items = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
        low, high = _NUMERIC_RANGE[vr]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                return True
            if vr not in ("FL", "FD") and not float(item).is_integer():
                return True
            if not low <= item <= high:
                return True
        return False
    if vr in BINARY_VRS:
        return not isinstance(value, (bytes, bytearray))
    return False


def apply_action(
    spec: ActionSpec, ctx: ActionContext, ds: Dataset, elem: DataElement, option: str
) -> None:
    """Run one action, then make sure what it left can be written in the element's VR.

    Every action is written for a family of VRs, but a row's VR (or a private
    element's real VR) can differ from the one it assumed; a value its VR
    cannot encode would make the whole file unwritable, so it is emptied
    instead (fail closed) and counted.
    """
    spec.fn(ctx, ds, elem, option)
    if elem.tag in ds and ds.get_item(elem.tag) is elem and _unfit_for_vr(elem):
        empty_value(elem)
        ctx.stats["value_unfit_for_vr_emptied"] += 1


# --------------------------------------------------------------------------- actions


def _delete(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    del ds[elem.tag]


def _empty(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    empty_value(elem)


def _keep(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    return None


def _dummy(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    if elem.VR == "SQ":
        return  # items are cleaned by the recursive walk
    if elem.VR == "UI":
        _uid(ctx, ds, elem, option)
        return
    if elem.VR in DUMMY_BY_VR and values_of(elem):
        elem.value = DUMMY_BY_VR[elem.VR]
    else:
        empty_value(elem)


def _uid(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    if elem.VR == "SQ":
        return
    set_values(elem, [ctx.pseudonyms.uid(str(v)) for v in values_of(elem)])


def _clean(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    """PS3.15 C: replace with values of similar meaning that do not identify."""
    vr = elem.VR
    if vr == "SQ":
        return
    if vr in DATE_VRS:
        shift_temporal(ctx, elem, ctx.day_offset())
    elif vr == "PN":
        _random_name(ctx, ds, elem, option)
    elif vr == "UI":
        _uid(ctx, ds, elem, option)
    elif vr in TEXT_VRS - {"UN"}:
        _clean_tag(ctx, ds, elem, option)
    else:
        del ds[elem.tag]  # binary content (overlays, curves) cannot be cleaned here


def _clean_tag(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    upstream = ctx.cleaned_texts.get(ctx.path)
    if upstream is not None:
        set_values(elem, [fit(upstream, elem.VR)] if upstream else [])
        return
    if elem.VR == "PN":
        _random_name(ctx, ds, elem, option)
        return
    map_strings(elem, ctx.clean_text)


def _ensure_exists(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    return None  # present: kept; absent ones are added by the engine after the walk


def _literal(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    set_values(elem, [option] if option else [])


def _random_name(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    map_strings(elem, ctx.pseudonyms.name)


def _mapping(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    values = values_of(elem)
    if values and all(str(v).strip() in ctx.mapping for v in values):
        set_values(elem, [fit(ctx.mapping[str(v).strip()], elem.VR) for v in values])
        return
    ctx.stats["mapping_missing"] += 1
    ACTIONS[option or "remove"].fn(ctx, ds, elem, "")


def _patient_hash_id(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    map_strings(elem, lambda v: ctx.pseudonyms.digits(v, len(v.strip())))


def _hash_id(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    if elem.VR == "UI":
        _uid(ctx, ds, elem, option)
        return
    if elem.VR == "IS":
        map_strings(elem, lambda v: ctx.pseudonyms.digits(v, min(len(v.strip()), 12)))
        return
    length = int(option) if option else STRING_MAX_LENGTH.get(elem.VR, 16)
    map_strings(elem, lambda v: ctx.pseudonyms.token(v, min(length, 16)))


def _known_action(name: str) -> str:
    """A replaceWithMapping fallback must exist and run without an Option of its own."""
    if name not in ACTIONS:
        raise ValueError(f"unknown fallback action {name[:40]!r}")
    if ACTIONS[name].min_options > 0 or name in ("retainSafePrivate", "replaceWithMapping"):
        raise ValueError(f"{name} cannot be a fallback")
    return name


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _shift_random_days(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    shift_temporal(ctx, elem, ctx.day_offset())


def _shift_fixed_days(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    shift_temporal(ctx, elem, int(option))


def _shift_time(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    maximum = int(option) if option else DEFAULT_TIME_SHIFT_SECONDS
    seconds = ctx.pseudonyms.offset("time-seconds", ctx.patient_key, maximum)
    shift_temporal(ctx, elem, 0, seconds)


def _shift_unix(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    """Epoch seconds (or milliseconds) move by the patient's day offset, like its dates."""
    days = ctx.day_offset()
    offset = days * 86400
    try:
        shifted = []
        for value in values_of(elem):
            number = float(value)
            if elem.VR in _NUMERIC_RANGE:  # same VR, range-checked
                shifted.append(_shift_epoch(number, elem.VR, days))
                continue
            scale = 1000 if abs(number) > 1e11 else 1  # milliseconds since the epoch
            shifted.append(str(int(number + offset * scale)))
        set_values(elem, shifted)
        ctx.dates_shifted = True
    except (TypeError, ValueError):
        empty_value(elem)
        ctx.stats["unparseable_timestamp_emptied"] += 1


_AGE_RE = re.compile(r"^(\d{3})([DWMY])$")


def _age_years(value: str) -> tuple[int, str]:
    match = _AGE_RE.match(value.strip())
    if not match:
        raise ValueError("bad AS")
    return int(match.group(1)), match.group(2)


def _shift_age(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    maximum = int(option) if option else DEFAULT_AGE_SHIFT_YEARS
    years = ctx.pseudonyms.offset("age-years", ctx.patient_key, maximum)

    def shift(value: str) -> str:
        number, unit = _age_years(value)
        if unit != "Y":
            return value  # infant ages in days/weeks/months are kept as measured
        return f"{min(max(number + years, 0), 999):03d}Y"

    try:
        map_strings(elem, shift)
    except ValueError:
        empty_value(elem)


def _cap_age(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    """Ages above 90 years all read ``099Y``: one bucket, as HIPAA asks for the oldest."""

    def cap(value: str) -> str:
        number, unit = _age_years(value)
        return "099Y" if unit == "Y" and number > 90 else value

    try:
        map_strings(elem, cap)
    except ValueError:
        empty_value(elem)


def _retain_safe_private(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
    raise RuntimeError("retainSafePrivate is resolved by the engine per private element")


def _combined(code: str) -> ActionFn:
    """X/Z, X/D, Z/D, X/Z/D: pick one code by the attribute's Type in the IOD."""

    def apply(ctx: ActionContext, ds: Dataset, elem: DataElement, option: str) -> None:
        from sparkdeid.metadata.attribute_types import resolve_combined

        resolved = resolve_combined(code, int(elem.tag), ctx.sop_class_uid)
        ACTIONS[resolved].fn(ctx, ds, elem, option)

    return apply


_SPECS = [
    ActionSpec("cleanTag", _clean_tag, TEXT_VRS, description="keep non-PHI words of free text"),
    ActionSpec("delete", _delete, description="remove the element", effect=Fate.REMOVED),
    ActionSpec("remove", _empty, recurse=False, description="VR-aware empty value"),
    ActionSpec("keep", _keep, recurse=True, description="keep; sequence items still cleaned",
               effect=Fate.KEPT),
    ActionSpec("ensureTagExists", _ensure_exists, max_options=1, recurse=True,
               description="keep; add with the Option (or empty) when missing",
               effect=Fate.KEPT, writes_option=True),
    ActionSpec("replaceWithLiteral", _literal, min_options=1, max_options=1,
               writes_option=True),
    ActionSpec("replaceWithRandomName", _random_name, frozenset({"PN", "LO", "SH", "UN"})),
    ActionSpec("replaceWithMapping", _mapping, max_options=1,
               validate_option=lambda o: _known_action(o),
               description="external mapping; Option names the fallback action"),
    ActionSpec("patientHashId", _patient_hash_id, ID_VRS),
    ActionSpec("hashId", _hash_id, ID_VRS, max_options=1, validate_option=_positive_int),
    ActionSpec("shiftDateByRandomNbOfDays", _shift_random_days, SHIFTABLE_DATE_VRS,
               max_options=1, validate_option=_positive_int),
    ActionSpec("shiftDateByFixedNbOfDays", _shift_fixed_days, SHIFTABLE_DATE_VRS,
               min_options=1, max_options=1, validate_option=int),
    ActionSpec("shiftTimeByRandom", _shift_time, frozenset({"TM", "DT"}), max_options=1,
               validate_option=_positive_int),
    ActionSpec("shiftUnixTimeStampRandom", _shift_unix, NUMBER_VRS, max_options=1,
               validate_option=_positive_int),
    ActionSpec("shiftAgeByRandom", _shift_age, frozenset({"AS"}), max_options=1,
               validate_option=_positive_int),
    ActionSpec("capAgeAt99IfOver90", _cap_age, frozenset({"AS"})),
    ActionSpec("retainSafePrivate", _retain_safe_private,
               description="private tags: keep/hash/shift per TCIA's knowledge base"),
    # DICOM PS3.15 Table E.1-1a action codes.
    ActionSpec("D", _dummy, recurse=True, description="dummy value of the same VR"),
    ActionSpec("Z", _empty, description="zero-length value"),
    ActionSpec("X", _delete, description="remove", effect=Fate.REMOVED),
    ActionSpec("K", _keep, recurse=True, description="keep; sequences still cleaned",
               effect=Fate.KEPT),
    ActionSpec("C", _clean, recurse=True, description="clean: similar meaning, not identifying"),
    ActionSpec("U", _uid, recurse=True, description="consistent replacement UID"),
    ActionSpec("Z/D", _combined("Z/D"), recurse=True),
    ActionSpec("X/Z", _combined("X/Z"), recurse=True),
    ActionSpec("X/D", _combined("X/D"), recurse=True),
    ActionSpec("X/Z/D", _combined("X/Z/D"), recurse=True),
    # References are kept with remapped UIDs (items still cleaned): replaced UIDs carry
    # no PHI, and dropping Type 3 reference sequences would break links research needs.
    ActionSpec("X/Z/U*", _uid, recurse=True, description="keep references, UIDs replaced"),
]

ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in _SPECS}
