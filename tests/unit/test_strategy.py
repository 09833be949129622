import pytest

from sparkdeid.errors import StrategyError
from sparkdeid.metadata.strategy import Strategy, parse_tag, resolve_strategy

HEADER = "Tags,VR,Name,Status,Action,Option\n"


def test_parse_tag_forms():
    assert parse_tag("(0010, 0010)").value == 0x00100010
    assert parse_tag("0010,0010").value == 0x00100010
    assert parse_tag("00100010").value == 0x00100010
    assert parse_tag("PatientName").value == 0x00100010
    overlay = parse_tag("(60xx, 3000)")
    assert overlay.matches(0x60023000) and not overlay.matches(0x60023001)
    assert parse_tag("(gggg, eeee)").matches(0x00091010)


@pytest.mark.parametrize(
    "row, message",
    [
        ("\"(0010, 001Q)\",PN,Patient's Name,,delete,", "row 2: bad tag"),
        ("\"(0010, 0010)\",PN,Patient's Name,,obliterate,", "row 2: unknown action"),
        ("\"(0010, 0010)\",PN,Patient's Name,,shiftAgeByRandom,", "does not apply to VR"),
        ("\"(0010, 0010)\",PN,Patient's Name,,replaceWithLiteral,", "takes an Option"),
        ("\"(0010, 0010)\",PN,Patient's Name,,delete,extra", "takes no Option"),
        ("\"(0008, 0020)\",DA,Study Date,,shiftDateByRandomNbOfDays,-3", "bad Option"),
    ],
)
def test_bad_rows_name_the_row(row, message):
    with pytest.raises(StrategyError, match=message):
        Strategy.from_csv_text(HEADER + row + "\n")


def test_group_strategy_applies_to_unnamed_tags_only():
    strategy = Strategy.from_csv_text(
        HEADER + "\"(0020, 000D)\",UI,Study Instance UID,,U,\n",
        HEADER + "\"(0020,)\",GROUP,Relationship,,delete,\n",
    )
    assert strategy.rule_for(0x0020000D).action == "U"
    assert strategy.rule_for(0x00200011).action == "delete"
    assert strategy.rule_for(0x00080020) is None
    with pytest.raises(StrategyError, match="group action"):
        Strategy.from_csv_text(HEADER, HEADER + "\"(0020,)\",GROUP,x,,keep,\n")


def test_shipped_profiles_load_and_options_compose():
    tcia = resolve_strategy("tcia")
    strategy = Strategy.from_csv_text(tcia.csv_text)
    assert strategy.rule_for(0x00080020).action == "shiftDateByRandomNbOfDays"
    assert strategy.private_rule is not None and strategy.private_rule.action == "retainSafePrivate"
    retain = Strategy.from_csv_text(resolve_strategy("basic+retain-uids").csv_text)
    assert retain.rule_for(0x0020000D).action == "K"
    assert ("113110", "Retain UIDs Option") in resolve_strategy("basic+retain-uids").method_codes
    with pytest.raises(StrategyError):
        resolve_strategy("no-such-profile-or-file")
