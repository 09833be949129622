"""Strategy CSV text for the PS3.15 Basic Profile and any mix of its options.

The shipped strategies are not hand-written: they are computed from the packaged
copy of DICOM PS3.15 Table E.1-1, so a new edition of the standard is one
re-run of ``strategies/generate_strategies.py`` away, and a reviewer can check
any row against the table instead of against someone's memory.

For each attribute of the table the action is the Basic Profile code unless a
selected option gives a code for it, in which case the option wins (that is
what an option is for: retaining or cleaning what the Basic Profile removes).
When two selected options disagree on one attribute the more protective code
wins, in the order of :data:`PROTECTION_ORDER` (``X > Z > D > C > U > K``):
removal beats replacement beats cleaning beats keeping, so combining options
never discloses more than one of them would on its own.

Where an option's ``C`` (clean) has one clear meaning it is written as the
product's named action instead, so the engine needs no per-option logic:

* Retain Longitudinal Temporal Information with Modified Dates on a DA, DT or
  TM attribute: ``shiftDateByRandomNbOfDays`` (one offset per patient);
* Clean Descriptors on a PN attribute: ``replaceWithRandomName``, on the
  other text VRs: ``cleanTag``;
* Retain Safe Private on the private-attributes row: ``retainSafePrivate``.

Every other code is written as the PS3.15 code itself (``D, Z, X, K, C, U,
Z/D, X/Z, X/D, X/Z/D, X/Z/U*``); the combined ones are resolved per file by
:mod:`sparkdeid.metadata.attribute_types`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from pydicom.datadict import dictionary_VR

from sparkdeid.errors import StrategyError

__all__ = [
    "BASIC_PROFILE_CODE",
    "BASIC_PROFILE_MEANING",
    "CODING_SCHEME_DESIGNATOR",
    "HEADER",
    "OPTIONS",
    "PROFILES",
    "PROTECTION_ORDER",
    "ProfileOption",
    "StrategyRowSpec",
    "TABLE_RESOURCE",
    "build_strategy_csv",
    "build_strategy_rows",
    "method_codes",
    "method_description",
    "resolve_options",
]

TABLE_RESOURCE = "ps3.15-table-e1-1-2024b.csv"
"""File name of PS3.15 Table E.1-1 inside ``sparkdeid/data``."""

HEADER = ("Tags", "VR", "Name", "Status", "Action", "Option")
"""Header of every strategy CSV (the product's format)."""

CODING_SCHEME_DESIGNATOR = "DCM"
"""Coding scheme of the CID 7050 codes written to (0012,0064)."""

BASIC_PROFILE_CODE = "113100"
BASIC_PROFILE_MEANING = "Basic Application Confidentiality Profile"

PROTECTION_ORDER = ("X", "Z", "D", "C", "U", "K")
"""PS3.15 codes from most to least protective; decides between options."""

_PRIVATE_ROW = "gggg,eeee"
_DATE_VRS = frozenset({"DA", "DT", "TM"})
_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
# The table's wildcard rows stand for whole families of tags; pydicom knows the
# VR of one member, which is the same for the whole family.
_REPRESENTATIVE_TAGS = {"50xx,xxxx": 0x50003000}
_DESCRIPTION_PREFIX = "DICOM PS3.15 Basic Profile"
_LO_MAX = 64


@dataclass(frozen=True)
class ProfileOption:
    """One PS3.15 Annex E option.

    Attributes
    ----------
    column
        Column of Table E.1-1 holding the codes this option substitutes, or
        ``None`` for the pixel options, which change no attribute and are done
        by the pixel pipeline; they are still recorded in (0012,0064).
    code
        CID 7050 code value, written to the De-identification Method Code
        Sequence so a recipient knows what was retained.
    meaning
        CID 7050 code meaning for the same sequence item.
    """

    column: str | None
    code: str
    meaning: str


# Declared in code-value order, which is also the canonical order of every
# tuple of option names this module returns.
OPTIONS: Mapping[str, ProfileOption] = MappingProxyType(
    {
        "clean-pixel-data": ProfileOption(None, "113101", "Clean Pixel Data Option"),
        "clean-recognizable-visual-features": ProfileOption(
            None, "113102", "Clean Recognizable Visual Features Option"
        ),
        "clean-graphics": ProfileOption(
            "clean_graph_opt", "113103", "Clean Graphics Option"
        ),
        "clean-structured-content": ProfileOption(
            "clean_struct_cont_opt", "113104", "Clean Structured Content Option"
        ),
        "clean-descriptors": ProfileOption(
            "clean_desc_opt", "113105", "Clean Descriptors Option"
        ),
        "retain-long-full-dates": ProfileOption(
            "rtn_long_full_dates_opt",
            "113106",
            "Retain Longitudinal Temporal Information Full Dates Option",
        ),
        "retain-long-modified-dates": ProfileOption(
            "rtn_long_modif_dates_opt",
            "113107",
            "Retain Longitudinal Temporal Information Modified Dates Option",
        ),
        "retain-patient-chars": ProfileOption(
            "rtn_pat_chars_opt", "113108", "Retain Patient Characteristics Option"
        ),
        "retain-device-id": ProfileOption(
            "rtn_dev_id_opt", "113109", "Retain Device Identity Option"
        ),
        "retain-uids": ProfileOption("rtn_uids_opt", "113110", "Retain UIDs Option"),
        "retain-safe-private": ProfileOption(
            "rtn_safe_priv_opt", "113111", "Retain Safe Private Option"
        ),
        "retain-institution-id": ProfileOption(
            "rtn_inst_id_opt", "113112", "Retain Institution Identity Option"
        ),
    }
)
"""Every option by its kebab-case name."""

# Options of this product beyond CID 7050: attribute -> action they substitute.
# "pseudonymize-patient" keeps a patient's studies linkable (what TCIA does with
# its patient pseudonyms): the id becomes keyed digits of the same length and
# the name a keyed synthetic name, instead of the Basic Profile's empty values.
PRODUCT_OPTIONS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "pseudonymize-patient": MappingProxyType(
            {"0010,0010": "replaceWithRandomName", "0010,0020": "patientHashId"}
        ),
    }
)

PROFILES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "basic": (),
        # As The Cancer Imaging Archive applies it, and the MIDI-B benchmark
        # scores against it.
        "tcia": (
            "clean-pixel-data",
            "clean-descriptors",
            "retain-long-modified-dates",
            "retain-patient-chars",
            "retain-safe-private",
            "pseudonymize-patient",
        ),
    }
)
"""Named profiles: the options each one selects on top of the Basic Profile."""

_EXCLUSIVE = (("retain-long-full-dates", "retain-long-modified-dates"),)


@dataclass(frozen=True)
class StrategyRowSpec:
    """One strategy CSV row, every field already formatted as written."""

    tags: str
    vr: str
    name: str
    status: str
    action: str
    option: str

    def as_tuple(self) -> tuple[str, str, str, str, str, str]:
        """Fields in :data:`HEADER` order, ready for ``csv.writer``."""
        return (self.tags, self.vr, self.name, self.status, self.action, self.option)


@dataclass(frozen=True)
class _TableRow:
    tag: str
    name: str
    retired: bool
    basic: str
    by_column: Mapping[str, str]


def _codes(code: str) -> list[str]:
    return [part.rstrip("*") for part in code.split("/")]


def _check_code(code: str, tag: str) -> None:
    if not code or any(part not in PROTECTION_ORDER for part in _codes(code)):
        raise StrategyError(f"PS3.15 table row {tag}: unknown action code {code!r}")


@lru_cache(maxsize=1)
def _table() -> tuple[_TableRow, ...]:
    """The packaged Table E.1-1, parsed and checked once per process."""
    text = (
        resources.files("sparkdeid")
        .joinpath("data")
        .joinpath(TABLE_RESOURCE)
        .read_text(encoding="utf-8-sig")
    )
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = ["tag", "name", "retired", "basic_profile"]
    columns += [o.column for o in OPTIONS.values() if o.column is not None]
    missing = [c for c in columns if c not in (reader.fieldnames or ())]
    if missing:
        raise StrategyError(f"PS3.15 table lacks columns {missing}")
    rows = []
    for record in reader:
        tag = record["tag"].strip()
        by_column = {}
        for option in OPTIONS.values():
            if option.column is None:
                continue
            code = record[option.column].strip()
            if code:
                _check_code(code, tag)
                by_column[option.column] = code
        basic = record["basic_profile"].strip()
        _check_code(basic, tag)
        rows.append(
            _TableRow(
                tag=tag,
                name=record["name"].strip(),
                retired=record["retired"].strip().upper() == "Y",
                basic=basic,
                by_column=MappingProxyType(by_column),
            )
        )
    return tuple(rows)


def _validate(options: Iterable[str]) -> tuple[str, ...]:
    """Known names, canonical order, no duplicates, no contradictory pair."""
    chosen = set()
    for name in options:
        if name not in OPTIONS and name not in PRODUCT_OPTIONS:
            raise StrategyError(
                f"unknown profile option {name!r}; known: "
                f"{', '.join([*OPTIONS, *PRODUCT_OPTIONS])}"
            )
        chosen.add(name)
    for pair in _EXCLUSIVE:
        if chosen.issuperset(pair):
            raise StrategyError(
                f"options {pair[0]!r} and {pair[1]!r} cannot be combined: "
                "dates are either kept or shifted"
            )
    return tuple(name for name in [*OPTIONS, *PRODUCT_OPTIONS] if name in chosen)


def resolve_options(profile: str, extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Options of a named profile plus extra ones, validated and in canonical order.

    Parameters
    ----------
    profile
        A key of :data:`PROFILES`.
    extra
        Option names to add, e.g. from repeated ``--option`` flags.

    Raises
    ------
    StrategyError
        Naming the unknown profile or option, or the contradictory pair.
    """
    if profile not in PROFILES:
        raise StrategyError(
            f"unknown profile {profile!r}; known: {', '.join(PROFILES)}"
        )
    return _validate((*PROFILES[profile], *extra))


def _format_tag(tag: str) -> str:
    if tag == _PRIVATE_ROW:
        return "(gggg, eeee)"
    group, element = tag.split(",")

    def part(text: str) -> str:
        # Hex digits upper-case, the standard's "x" wildcards lower-case.
        return "".join("x" if c in "xX" else c.upper() for c in text)

    return f"({part(group)}, {part(element)})"


def _vr(tag: str) -> str:
    if tag == _PRIVATE_ROW:
        return "*"
    number = _REPRESENTATIVE_TAGS.get(tag)
    if number is None:
        number = int(tag.replace(",", "").replace("x", "0").replace("X", "0"), 16)
    try:
        return dictionary_VR(number)
    except KeyError:
        return "UN"


def _most_protective(codes: Iterable[str]) -> str:
    return min(codes, key=lambda code: PROTECTION_ORDER.index(_codes(code)[0]))


def _named_clean(option: str, tag: str, vr: str) -> str | None:
    """The product action an option's ``C`` means for this attribute, if clear."""
    if option == "retain-long-modified-dates" and vr in _DATE_VRS:
        return "shiftDateByRandomNbOfDays"
    if option == "clean-descriptors" and vr == "PN":
        return "replaceWithRandomName"
    if option == "clean-descriptors" and vr in _TEXT_VRS:
        return "cleanTag"
    if option == "retain-safe-private" and tag == _PRIVATE_ROW:
        return "retainSafePrivate"
    return None


def _action(row: _TableRow, options: tuple[str, ...], vr: str) -> str:
    for name in options:
        product_action = PRODUCT_OPTIONS.get(name, {}).get(row.tag)
        if product_action is not None:
            return product_action
    given = {
        name: row.by_column[column]
        for name in options
        if name in OPTIONS
        and (column := OPTIONS[name].column) is not None
        and column in row.by_column
    }
    if not given:
        return row.basic
    code = _most_protective(given.values())
    if code != "C":
        return code
    for name, value in given.items():
        if value == "C" and (named := _named_clean(name, row.tag, vr)) is not None:
            return named
    return code


def build_strategy_rows(options: Sequence[str] = ()) -> list[StrategyRowSpec]:
    """One strategy row per attribute of Table E.1-1, in the table's order.

    Parameters
    ----------
    options
        Option names (keys of :data:`OPTIONS`); the Basic Profile is implied.

    Raises
    ------
    StrategyError
        For an unknown option or a contradictory pair.
    """
    chosen = _validate(options)
    specs = []
    for row in _table():
        vr = _vr(row.tag)
        specs.append(
            StrategyRowSpec(
                tags=_format_tag(row.tag),
                vr=vr,
                name=row.name,
                status="retired" if row.retired else "active",
                action=_action(row, chosen, vr),
                option="",
            )
        )
    return specs


def build_strategy_csv(options: Sequence[str] = ()) -> str:
    """Strategy CSV text (``\\n`` line ends) for the Basic Profile plus ``options``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(spec.as_tuple() for spec in build_strategy_rows(options))
    return buffer.getvalue()


def method_codes(options: Sequence[str] = ()) -> list[tuple[str, str]]:
    """``(code value, code meaning)`` pairs for (0012,0064), Basic Profile first.

    The coding scheme of every pair is :data:`CODING_SCHEME_DESIGNATOR`.
    """
    chosen = _validate(options)
    return [(BASIC_PROFILE_CODE, BASIC_PROFILE_MEANING)] + [
        (OPTIONS[name].code, OPTIONS[name].meaning) for name in chosen if name in OPTIONS
    ]


def method_description(options: Sequence[str] = ()) -> str:
    """Short text for De-identification Method (0012,0063), at most 64 characters.

    The option codes are listed when they fit in an LO value; otherwise only
    their number is given and the reader is pointed at (0012,0064), which
    always holds the full list.
    """
    chosen = _validate(options)
    if not chosen:
        return _DESCRIPTION_PREFIX
    listed = f"{_DESCRIPTION_PREFIX} + {','.join(OPTIONS[n].code for n in chosen if n in OPTIONS)}"
    if len(listed) <= _LO_MAX:
        return listed
    return f"{_DESCRIPTION_PREFIX} + {len(chosen)} options, see (0012,0064)"
