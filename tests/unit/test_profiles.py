"""Strategy CSVs built from PS3.15 Table E.1-1."""

from __future__ import annotations

import csv
import io
from importlib import resources
from pathlib import Path

import pytest

from sparkdeid.errors import StrategyError
from sparkdeid.metadata.profiles import (
    BASIC_PROFILE_CODE,
    HEADER,
    OPTIONS,
    PROFILES,
    TABLE_RESOURCE,
    build_strategy_csv,
    build_strategy_rows,
    method_codes,
    method_description,
    resolve_options,
)

STRATEGIES = Path(__file__).resolve().parents[2] / "strategies"
REMOVAL_CODES = {"X", "Z", "D", "X/Z", "X/D", "X/Z/D", "Z/D"}


def _table_rows() -> list[dict[str, str]]:
    text = (
        resources.files("sparkdeid")
        .joinpath("data")
        .joinpath(TABLE_RESOURCE)
        .read_text(encoding="utf-8-sig")
    )
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _by_name(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {row.name: row.action for row in build_strategy_rows(options)}


def _by_tag(options: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {row.tags: row.action for row in build_strategy_rows(options)}


def test_basic_has_one_row_per_table_row_with_the_basic_code() -> None:
    table = _table_rows()
    rows = build_strategy_rows(PROFILES["basic"])
    assert len(rows) == len(table) == 621
    assert [r.action for r in rows] == [t["basic_profile"] for t in table]
    assert all(r.option == "" for r in rows)


def test_csv_header_and_tag_formatting() -> None:
    parsed = list(csv.reader(io.StringIO(build_strategy_csv(()))))
    assert tuple(parsed[0]) == HEADER
    tags = {row[0]: row for row in parsed[1:]}
    assert tags["(0010, 0010)"][1:4] == ["PN", "Patient's Name", "active"]
    assert tags["(0040, A730)"][1] == "SQ"  # upper-case hex
    assert tags["(50xx, xxxx)"][1:4] == ["OB or OW", "Curve Data", "retired"]
    assert tags["(60xx, 3000)"][1] == "OB or OW"
    assert tags["(60xx, 4000)"][1] == "LT"
    assert tags["(gggg, eeee)"][1:] == ["*", "Private Attributes", "active", "X", ""]


def test_tcia_translations() -> None:
    actions = _by_name(PROFILES["tcia"])
    assert actions["Study Date"] == "shiftDateByRandomNbOfDays"
    assert actions["Acquisition DateTime"] == "shiftDateByRandomNbOfDays"
    assert actions["Study Time"] == "shiftDateByRandomNbOfDays"
    assert actions["Study Description"] == "cleanTag"
    assert actions["Private Attributes"] == "retainSafePrivate"
    assert actions["Patient's Sex"] == "K"
    assert actions["Patient's Age"] == "K"
    # pseudonymize-patient: keyed pseudonyms keep a patient's studies linkable.
    assert actions["Patient's Name"] == "replaceWithRandomName"
    assert actions["Patient ID"] == "patientHashId"
    assert actions["Other Patient IDs"] in REMOVAL_CODES
    # C on a VR with no clear named meaning stays a PS3.15 code.
    assert actions["Timezone Offset From UTC"] == "C"  # SH under modified dates
    assert actions["Admitting Diagnoses Code Sequence"] == "C"  # SQ under descriptors
    # Untouched by every tcia option.
    assert actions["Study Instance UID"] == "U"


def test_option_replaces_the_basic_code() -> None:
    basic = _by_name(())
    assert basic["Patient's Name"] == "Z" and basic["Patient ID"] == "Z/D"
    assert method_codes(["pseudonymize-patient"]) == method_codes([])  # not a CID 7050 code
    uids = _by_name(["retain-uids"])
    assert basic["Study Instance UID"] == "U"
    assert uids["Study Instance UID"] == "K"
    full = _by_name(["retain-long-full-dates"])
    assert full["Study Date"] == "K"
    assert _by_name(["retain-patient-chars"])["Allergies"] == "C"


def test_conflicting_options_take_the_more_protective_code() -> None:
    # Device identity keeps calibration dates, modified dates cleans them:
    # cleaning (here: shifting) wins.
    name = "Date of Last Detector Calibration"
    assert _by_name(["retain-device-id"])[name] == "K"
    both = _by_name(["retain-device-id", "retain-long-modified-dates"])
    assert both[name] == "shiftDateByRandomNbOfDays"
    reversed_order = _by_name(["retain-long-modified-dates", "retain-device-id"])
    assert reversed_order[name] == "shiftDateByRandomNbOfDays"


def test_same_code_from_two_options_uses_the_named_action() -> None:
    # Allergies: C from both retain-patient-chars and clean-descriptors.
    actions = _by_name(["retain-patient-chars", "clean-descriptors"])
    assert actions["Allergies"] == "cleanTag"


def test_shipped_strategies_are_up_to_date() -> None:
    for profile in ("basic", "tcia"):
        shipped = (STRATEGIES / f"{profile}.csv").read_bytes().decode("utf-8")
        assert shipped == build_strategy_csv(PROFILES[profile]), (
            f"strategies/{profile}.csv is stale: run strategies/generate_strategies.py"
        )


def test_resolve_options_orders_and_deduplicates() -> None:
    assert resolve_options("basic", []) == ()
    assert resolve_options("basic", ["retain-uids", "clean-descriptors", "retain-uids"]) == (
        "clean-descriptors",
        "retain-uids",
    )
    tcia = resolve_options("tcia", ["retain-device-id"])
    assert set(tcia) == {*PROFILES["tcia"], "retain-device-id"}


def test_bad_option_is_named() -> None:
    with pytest.raises(StrategyError, match="retain-everything"):
        resolve_options("basic", ["retain-everything"])
    with pytest.raises(StrategyError, match="retain-everything"):
        build_strategy_rows(["retain-everything"])
    with pytest.raises(StrategyError, match="nope"):
        resolve_options("nope", [])


def test_full_and_modified_dates_are_exclusive() -> None:
    with pytest.raises(StrategyError, match="retain-long-full-dates"):
        resolve_options("tcia", ["retain-long-full-dates"])
    with pytest.raises(StrategyError):
        build_strategy_csv(["retain-long-full-dates", "retain-long-modified-dates"])


def test_method_codes_basic_first() -> None:
    codes = method_codes(PROFILES["tcia"])
    assert codes[0] == (BASIC_PROFILE_CODE, "Basic Application Confidentiality Profile")
    assert [c for c, _ in codes[1:]] == ["113101", "113105", "113107", "113108", "113111"]
    assert ("113101", "Clean Pixel Data Option") in codes
    assert method_codes(()) == [codes[0]]
    # CodeMeaning is LO.
    assert all(len(option.meaning) <= 64 for option in OPTIONS.values())


def test_method_description_fits_lo() -> None:
    assert "113107" in method_description(PROFILES["tcia"])
    everything = [n for n in OPTIONS if n != "retain-long-full-dates"]
    for options in ((), PROFILES["tcia"], everything):
        assert 0 < len(method_description(options)) <= 64
