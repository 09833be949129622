"""Every strategy action in the registry, applied to one element at a time (no Spark).

Each test builds a tiny dataset inline, runs the action's function with an
:class:`ActionContext` and checks the value that comes out. Expected derived
values (UIDs, names, offsets) are recomputed from a separate Pseudonymizer with
the same secret, so a test fails if an action derives from the wrong input.
All PHI is synthetic.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, PositronEmissionTomographyImageStorage

from sparkdeid.errors import StrategyError
from sparkdeid.metadata.actions import (
    ACTIONS,
    DUMMY_BY_VR,
    ActionContext,
    action_accepts_vr,
)
from sparkdeid.metadata.engine import EngineConfig, MetadataEngine
from sparkdeid.metadata.pseudonyms import Pseudonymizer
from sparkdeid.metadata.strategy import Strategy
from sparkdeid.metadata.text_cleaner import header_text_cleaner

SECRET = b"actions-unit-test-secret"
PSEUDO = Pseudonymizer(SECRET)  # independent instance: recomputes what actions derive
PATIENT_KEY = "PatientID:PID77123"
HEADER = "Tags,VR,Name,Status,Action,Option\n"
MISSING = object()

# Tags used below (keyword in the comment).
PATIENT_NAME = 0x00100010
PATIENT_ID = 0x00100020
PATIENT_AGE = 0x00101010
STUDY_DATE = 0x00080020
STUDY_TIME = 0x00080030
ACQ_DATE = 0x00080022
ACQ_DATETIME = 0x0008002A
SERIES_DATE = 0x00080021
SOP_INSTANCE_UID = 0x00080018
STUDY_DESCRIPTION = 0x00081030
ACCESSION = 0x00080050
INSTITUTION = 0x00080080
REF_IMAGE_SEQ = 0x00081140
ACQ_CONTEXT_SEQ = 0x00400555
ROWS = 0x00280010
WEIGHT = 0x00101030
OVERLAY_DATA = 0x60003000
PRIVATE_UN = 0x00431010
TIMESTAMP_UL = 0x00431011


def make_ctx(**kwargs: Any) -> ActionContext:
    return ActionContext(pseudonyms=Pseudonymizer(SECRET), patient_key=PATIENT_KEY, **kwargs)


def apply(
    action: str,
    tag: int,
    vr: str,
    value: Any,
    option: str = "",
    ctx: ActionContext | None = None,
) -> tuple[Any, ActionContext]:
    """Run one action on a one-element dataset; return the value after (or MISSING)."""
    ctx = ctx or make_ctx()
    ds = Dataset()
    ds.add_new(tag, vr, value)
    ACTIONS[action].fn(ctx, ds, ds[tag], option)
    return (ds[tag].value if tag in ds else MISSING), ctx


def da_plus(value: str, days: int) -> str:
    return (dt.datetime.strptime(value, "%Y%m%d") + dt.timedelta(days=days)).strftime("%Y%m%d")


def seconds_of(tm: str) -> int:
    return int(tm[0:2]) * 3600 + int(tm[2:4]) * 60 + int(tm[4:6])


# --------------------------------------------------------------------------- registry

TESTED_ACTIONS = {
    "cleanTag",
    "delete",
    "remove",
    "keep",
    "ensureTagExists",
    "replaceWithLiteral",
    "replaceWithRandomName",
    "replaceWithMapping",
    "patientHashId",
    "hashId",
    "shiftDateByRandomNbOfDays",
    "shiftDateByFixedNbOfDays",
    "shiftTimeByRandom",
    "shiftUnixTimeStampRandom",
    "shiftAgeByRandom",
    "capAgeAt99IfOver90",
    "retainSafePrivate",
    "D",
    "Z",
    "X",
    "K",
    "C",
    "U",
    "Z/D",
    "X/Z",
    "X/D",
    "X/Z/D",
    "X/Z/U*",
}


def test_every_registered_action_has_tests_here():
    # A new registry entry must come with tests in this file.
    assert set(ACTIONS) == TESTED_ACTIONS


def test_registry_names_match_their_specs():
    assert all(name == spec.name for name, spec in ACTIONS.items())


@pytest.mark.parametrize(
    "action, vr, accepted",
    [
        ("shiftAgeByRandom", "AS", True),
        ("shiftAgeByRandom", "PN", False),
        ("capAgeAt99IfOver90", "US or SS", False),
        ("shiftUnixTimeStampRandom", "US or SS", True),
        ("shiftDateByRandomNbOfDays", "*", True),
        ("shiftDateByRandomNbOfDays", "", True),
        ("delete", "OB", True),
        ("cleanTag", "DA", False),
    ],
)
def test_action_accepts_vr(action, vr, accepted):
    assert action_accepts_vr(ACTIONS[action], vr) is accepted


# --------------------------------------------------------------------------- cleanTag


def header_for_cleaning() -> Dataset:
    ds = Dataset()
    ds.PatientName = "VORANEK^TALISHA"
    ds.PatientID = "PID77123"
    ds.PatientBirthDate = "19760616"
    return ds


def test_clean_tag_keeps_description_words_and_drops_phi():
    ctx = make_ctx(clean_text=header_text_cleaner(header_for_cleaning()))
    text = "CT CHEST VORANEK 06/16/1976 call 555-867-5309 W CONTRAST"
    value, _ = apply("cleanTag", STUDY_DESCRIPTION, "LO", text, ctx=ctx)
    assert value == "CT CHEST call W CONTRAST"


def test_clean_tag_uses_upstream_text_for_its_path():
    ctx = make_ctx(
        clean_text=lambda text: "FROM HEADER CLEANER",
        cleaned_texts={"(0008,1030)": "CT CHEST", "(0008,103E)": "OTHER"},
    )
    ctx.path = "(0008,1030)"
    value, _ = apply("cleanTag", STUDY_DESCRIPTION, "LO", "CT CHEST VORANEK", ctx=ctx)
    assert value == "CT CHEST"


def test_clean_tag_upstream_empty_text_empties_the_element():
    ctx = make_ctx(clean_text=lambda text: text, cleaned_texts={"(0008,1030)": ""})
    ctx.path = "(0008,1030)"
    value, _ = apply("cleanTag", STUDY_DESCRIPTION, "LO", "VORANEK", ctx=ctx)
    assert value is None


def test_clean_tag_without_upstream_for_the_path_uses_the_cleaner():
    ctx = make_ctx(
        clean_text=lambda text: text.replace("VORANEK", "").strip(),
        cleaned_texts={"(0008,103E)": "SOMETHING ELSE"},
    )
    ctx.path = "(0008,1030)"
    value, _ = apply("cleanTag", STUDY_DESCRIPTION, "LO", "CT CHEST VORANEK", ctx=ctx)
    assert value == "CT CHEST"


def test_clean_tag_on_person_name_gives_a_pseudonym():
    value, _ = apply("cleanTag", PATIENT_NAME, "PN", "VORANEK^TALISHA")
    assert str(value) == PSEUDO.name("VORANEK^TALISHA")
    assert "VORANEK" not in str(value)


def test_clean_tag_on_multi_valued_text_cleans_every_value():
    ctx = make_ctx(clean_text=header_text_cleaner(header_for_cleaning()))
    value, _ = apply("cleanTag", 0x00081080, "LO", ["VORANEK FRACTURE", "PID77123 ASTHMA"], ctx=ctx)
    assert list(value) == ["FRACTURE", "ASTHMA"]


# --------------------------------------------------------------------------- delete / remove / keep


def test_delete_removes_the_element():
    value, _ = apply("delete", PATIENT_NAME, "PN", "VORANEK^TALISHA")
    assert value is MISSING


@pytest.mark.parametrize(
    "tag, vr, before, after",
    [
        (PATIENT_NAME, "PN", "VORANEK^TALISHA", None),
        (STUDY_DESCRIPTION, "LO", "CT CHEST", None),
        (ROWS, "US", 512, None),
        (PRIVATE_UN, "UN", b"VORANEK ", b""),
    ],
)
def test_remove_empties_by_vr(tag, vr, before, after):
    value, _ = apply("remove", tag, vr, before)
    assert value == after


def test_remove_turns_a_sequence_into_an_empty_sequence():
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.7"
    value, _ = apply("remove", REF_IMAGE_SEQ, "SQ", Sequence([item]))
    assert isinstance(value, Sequence) and len(value) == 0


def test_keep_leaves_the_value():
    value, _ = apply("keep", PATIENT_NAME, "PN", "VORANEK^TALISHA")
    assert str(value) == "VORANEK^TALISHA"


def engine_for(rows: str, **config: Any) -> MetadataEngine:
    return MetadataEngine(EngineConfig(strategy_csv=HEADER + rows, secret=SECRET, **config))


def test_keep_recurses_so_nested_rows_still_apply():
    engine = engine_for(
        '"(0040, A730)",SQ,Content Sequence,,keep,\n'
        '"(0040, A123)",PN,Person Name,,replaceWithLiteral,OBSERVER\n'
    )
    item = Dataset()
    item.PersonName = "VORANEK^TALISHA"
    item.ValueType = "PNAME"
    ds = Dataset()
    ds.ContentSequence = [item]
    engine.deidentify(ds)
    assert len(ds.ContentSequence) == 1
    assert ds.ContentSequence[0].PersonName == "OBSERVER"
    assert ds.ContentSequence[0].ValueType == "PNAME"


def test_keep_recursion_also_empties_unlisted_nested_person_names():
    engine = engine_for('"(0040, A730)",SQ,Content Sequence,,keep,\n')
    item = Dataset()
    item.PersonName = "VORANEK^TALISHA"
    ds = Dataset()
    ds.ContentSequence = [item]
    engine.deidentify(ds)
    assert ds.ContentSequence[0].PersonName in (None, "")


# --------------------------------------------------------------------------- ensureTagExists


def test_ensure_tag_exists_is_a_no_op_on_a_present_element():
    value, _ = apply("ensureTagExists", PATIENT_AGE, "AS", "045Y", option="000Y")
    assert value == "045Y"


def test_ensure_tag_exists_adds_missing_tags_after_the_walk():
    engine = engine_for(
        '"(0010, 0040)",CS,Patient\'s Sex,,ensureTagExists,O\n'
        '"(0010, 1010)",AS,Patient\'s Age,,ensureTagExists,\n'
        '"(0008, 0050)",SH,Accession Number,,ensureTagExists,NONE\n'
    )
    ds = Dataset()
    ds.AccessionNumber = "QX88120345"
    engine.deidentify(ds)
    assert ds.PatientSex == "O"
    assert "PatientAge" in ds and ds.PatientAge in (None, "")
    assert ds["PatientAge"].VR == "AS"
    assert ds.AccessionNumber == "QX88120345"  # present: kept, not overwritten


# ------------------------------------------------------------------- literal / name / mapping


def test_replace_with_literal():
    value, _ = apply("replaceWithLiteral", INSTITUTION, "LO", "ZORVATH GENERAL", option="SITE-A")
    assert value == "SITE-A"


def test_replace_with_random_name_is_case_insensitive_and_per_person():
    upper, _ = apply("replaceWithRandomName", PATIENT_NAME, "PN", "VORANEK^TALISHA")
    lower, _ = apply("replaceWithRandomName", PATIENT_NAME, "PN", "voranek^talisha")
    padded, _ = apply("replaceWithRandomName", PATIENT_NAME, "PN", "Voranek^Talisha^^")
    other, _ = apply("replaceWithRandomName", PATIENT_NAME, "PN", "KELDOR^MAVIS")
    assert str(upper) == str(lower) == str(padded)
    assert str(upper) != str(other)
    assert "VORANEK" not in str(upper).upper() and "TALISHA" not in str(upper).upper()
    family, given = str(upper).split("^")
    assert family.isalpha() and given.isalpha()


def test_replace_with_random_name_depends_on_the_secret():
    ctx = ActionContext(pseudonyms=Pseudonymizer(b"another-secret"), patient_key=PATIENT_KEY)
    mine, _ = apply("replaceWithRandomName", PATIENT_NAME, "PN", "VORANEK^TALISHA")
    theirs, _ = apply("replaceWithRandomName", PATIENT_NAME, "PN", "VORANEK^TALISHA", ctx=ctx)
    assert str(mine) != str(theirs)


def test_replace_with_mapping_uses_the_mapped_value():
    ctx = make_ctx(mapping={"QX88120345": "STUDY-0001"})
    value, ctx = apply("replaceWithMapping", ACCESSION, "SH", "QX88120345 ", ctx=ctx)
    assert value == "STUDY-0001"
    assert ctx.stats["mapping_missing"] == 0


def test_replace_with_mapping_missing_value_falls_back_to_remove():
    ctx = make_ctx(mapping={"SOMETHING": "ELSE"})
    value, ctx = apply("replaceWithMapping", ACCESSION, "SH", "QX88120345", ctx=ctx)
    assert value is None
    assert ctx.stats["mapping_missing"] == 1


@pytest.mark.parametrize("fallback, expected", [("delete", MISSING), ("keep", "QX88120345")])
def test_replace_with_mapping_missing_value_uses_the_named_fallback(fallback, expected):
    value, _ = apply("replaceWithMapping", ACCESSION, "SH", "QX88120345", option=fallback)
    assert value == expected


def test_replace_with_mapping_needs_every_value_mapped():
    ctx = make_ctx(mapping={"PID1": "A"})
    value, _ = apply("replaceWithMapping", 0x00101000, "LO", ["PID1", "PID2"], ctx=ctx)
    assert value is None  # one unmapped value: the whole element falls back


def test_unknown_mapping_fallback_is_a_strategy_error_naming_the_row():
    with pytest.raises(StrategyError, match="row 2"):
        Strategy.from_csv_text(
            HEADER + '"(0008, 0050)",SH,Accession Number,,replaceWithMapping,obliterate\n'
        )


@pytest.mark.parametrize("fallback", ["shiftDateByFixedNbOfDays", "retainSafePrivate"])
def test_mapping_fallback_that_cannot_run_without_an_option_is_rejected_at_load(fallback):
    with pytest.raises(StrategyError, match="row 2"):
        Strategy.from_csv_text(
            HEADER + f'"(0008, 0020)",DA,Study Date,,replaceWithMapping,{fallback}\n'
        )


# --------------------------------------------------------------------------- ids


def test_patient_hash_id_keeps_the_length_and_gives_digits():
    value, _ = apply("patientHashId", PATIENT_ID, "LO", "PID-77123")
    again, _ = apply("patientHashId", PATIENT_ID, "LO", "PID-77123")
    other, _ = apply("patientHashId", PATIENT_ID, "LO", "PID-77124")
    assert len(value) == len("PID-77123") and value.isdigit()
    assert value == again != other


def test_hash_id_on_a_uid_gives_a_2_25_uid():
    value, _ = apply("hashId", SOP_INSTANCE_UID, "UI", "1.2.826.0.1.3680043.99.1")
    assert value == PSEUDO.uid("1.2.826.0.1.3680043.99.1")
    assert value.startswith("2.25.") and len(value) <= 64


def test_hash_id_on_short_strings_fits_sh():
    value, _ = apply("hashId", ACCESSION, "SH", "QX88120345")
    assert 0 < len(value) <= 16 and value != "QX88120345"
    assert value.isalnum() and value.upper() == value


def test_hash_id_option_sets_the_length_and_same_input_same_token():
    short, _ = apply("hashId", INSTITUTION, "LO", "QX88120345", option="8")
    full, _ = apply("hashId", INSTITUTION, "LO", "QX88120345")
    assert len(short) == 8
    assert full.startswith(short)


# --------------------------------------------------------------------------- dates


def test_shift_random_days_moves_da_by_the_patient_offset():
    ctx = make_ctx()
    offset = ctx.day_offset()
    assert offset != 0 and abs(offset) <= 365
    value, ctx = apply("shiftDateByRandomNbOfDays", STUDY_DATE, "DA", "20200616", ctx=ctx)
    assert value == da_plus("20200616", offset)
    assert ctx.dates_shifted


def test_shift_random_days_honours_the_context_maximum():
    ctx = make_ctx(date_shift_max_days=3)
    value, _ = apply("shiftDateByRandomNbOfDays", STUDY_DATE, "DA", "20200616", ctx=ctx)
    delta = (dt.datetime.strptime(value, "%Y%m%d") - dt.datetime(2020, 6, 16)).days
    assert 1 <= abs(delta) <= 3


def test_shift_random_days_multi_valued_keeps_intervals():
    ctx = make_ctx()
    offset = ctx.day_offset()
    value, _ = apply(
        "shiftDateByRandomNbOfDays", STUDY_DATE, "DA", ["20200616", "20200101"], ctx=ctx
    )
    assert list(value) == [da_plus("20200616", offset), da_plus("20200101", offset)]


@pytest.mark.parametrize(
    "original, fmt, suffix",
    [
        ("20200616123000.123456+0100", "%Y%m%d", "123000.123456+0100"),
        ("20200616123000", "%Y%m%d", "123000"),
        ("20200616+0100", "%Y%m%d", "+0100"),
        ("2020061612", "%Y%m%d", "12"),
        ("202006", "%Y%m", ""),
        ("2020", "%Y", ""),
    ],
)
def test_shift_random_days_on_dt_keeps_precision_and_timezone(original, fmt, suffix):
    ctx = make_ctx()
    start = dt.datetime(int(original[:4]), int(original[4:6] or 1), int(original[6:8] or 1))
    expected = (start + dt.timedelta(days=ctx.day_offset())).strftime(fmt) + suffix
    value, _ = apply("shiftDateByRandomNbOfDays", ACQ_DATETIME, "DT", original, ctx=ctx)
    assert value == expected


@pytest.mark.filterwarnings("ignore:Invalid value")
@pytest.mark.parametrize(
    "tag, vr, original",
    [
        (STUDY_DATE, "DA", "UNKNOWN"),
        (STUDY_DATE, "DA", "2020-06-16"),
        (STUDY_DATE, "DA", "20201350"),
        (ACQ_DATETIME, "DT", "2020061"),
        (STUDY_TIME, "TM", "12h30"),
    ],
)
def test_unparseable_dates_are_emptied_not_kept(tag, vr, original):
    value, ctx = apply("shiftDateByRandomNbOfDays", tag, vr, original)
    assert value is None
    assert ctx.stats["unparseable_date_emptied"] == 1
    assert not ctx.dates_shifted


def test_shift_random_days_leaves_times_of_day_alone():
    value, _ = apply("shiftDateByRandomNbOfDays", STUDY_TIME, "TM", "123000")
    assert value == "123000"


def test_shift_random_days_on_text_vr_date():
    ctx = make_ctx()
    value, _ = apply("shiftDateByRandomNbOfDays", PRIVATE_UN, "UN", b"20200616", ctx=ctx)
    assert value == da_plus("20200616", ctx.day_offset()).encode()


@pytest.mark.parametrize(
    "tag, vr, original, days, expected",
    [
        (STUDY_DATE, "DA", "20200616", "10", "20200626"),
        (STUDY_DATE, "DA", "20200616", "-16", "20200531"),
        (ACQ_DATETIME, "DT", "20201231235959", "1", "20210101235959"),
    ],
)
def test_shift_fixed_days(tag, vr, original, days, expected):
    value, _ = apply("shiftDateByFixedNbOfDays", tag, vr, original, option=days)
    assert value == expected


def test_shift_time_moves_times_by_one_bounded_offset_per_patient():
    ctx = make_ctx()
    first, _ = apply("shiftTimeByRandom", STUDY_TIME, "TM", "123000", ctx=ctx)
    second, _ = apply("shiftTimeByRandom", STUDY_TIME, "TM", "080000", ctx=ctx)
    delta = (seconds_of(first) - seconds_of("123000")) % 86400
    assert delta != 0 and (delta <= 3600 or delta >= 86400 - 3600)
    assert (seconds_of(second) - seconds_of("080000")) % 86400 == delta


def test_shift_time_option_bounds_the_offset_and_precision_is_kept():
    ctx = make_ctx()
    full, _ = apply("shiftTimeByRandom", STUDY_TIME, "TM", "123000.25", option="60", ctx=ctx)
    delta = (seconds_of(full) - seconds_of("123000")) % 86400
    assert delta != 0 and (delta <= 60 or delta >= 86400 - 60)
    assert full.endswith(".25") and len(full) == len("123000.25")
    minutes, _ = apply("shiftTimeByRandom", STUDY_TIME, "TM", "1230", option="60", ctx=ctx)
    assert len(minutes) == 4 and minutes.isdigit()


def test_shift_time_wraps_at_midnight():
    value, _ = apply("shiftTimeByRandom", STUDY_TIME, "TM", "235959")
    assert len(value) == 6 and 0 <= seconds_of(value) < 86400
    assert int(value[:2]) < 24 and int(value[2:4]) < 60 and int(value[4:]) < 60


def test_shift_time_on_dt_moves_the_datetime_by_the_same_seconds():
    ctx = make_ctx()
    tm, _ = apply("shiftTimeByRandom", STUDY_TIME, "TM", "120000", ctx=ctx)
    dtv, _ = apply("shiftTimeByRandom", ACQ_DATETIME, "DT", "20200616120000", ctx=ctx)
    delta = (dt.datetime.strptime(dtv, "%Y%m%d%H%M%S") - dt.datetime(2020, 6, 16, 12)).seconds
    assert delta == (seconds_of(tm) - seconds_of("120000")) % 86400


def test_shift_unix_timestamp_seconds_by_the_day_offset():
    ctx = make_ctx()
    value, ctx = apply("shiftUnixTimeStampRandom", TIMESTAMP_UL, "UL", 1700000000, ctx=ctx)
    assert value == 1700000000 + ctx.day_offset() * 86400
    assert ctx.dates_shifted


def test_shift_unix_timestamp_milliseconds_in_text():
    ctx = make_ctx()
    value, _ = apply("shiftUnixTimeStampRandom", 0x00431012, "LO", "1700000000000", ctx=ctx)
    assert value == str(1700000000000 + ctx.day_offset() * 86400 * 1000)


def test_shift_unix_timestamp_unparseable_is_emptied():
    value, ctx = apply("shiftUnixTimeStampRandom", 0x00431012, "LO", "yesterday")
    assert value is None
    assert ctx.stats["unparseable_timestamp_emptied"] == 1


# --------------------------------------------------------------------------- ages


def test_shift_age_by_random_years():
    ctx = make_ctx()
    a, _ = apply("shiftAgeByRandom", PATIENT_AGE, "AS", "045Y", ctx=ctx)
    b, _ = apply("shiftAgeByRandom", PATIENT_AGE, "AS", "030Y", ctx=ctx)
    assert a.endswith("Y") and len(a) == 4 and a != "045Y"
    years = int(a[:3]) - 45
    assert 1 <= abs(years) <= 2
    assert int(b[:3]) - 30 == years  # one shift per patient


def test_shift_age_keeps_infant_ages_and_empties_bad_ones():
    months, _ = apply("shiftAgeByRandom", PATIENT_AGE, "AS", "006M")
    assert months == "006M"
    with pytest.warns(UserWarning):
        bad, _ = apply("shiftAgeByRandom", PATIENT_AGE, "AS", "45")
    assert bad is None


@pytest.mark.filterwarnings("ignore:Invalid value")
@pytest.mark.parametrize(
    "original, expected",
    [
        ("091Y", "099Y"),
        ("107Y", "099Y"),
        ("090Y", "090Y"),
        ("045Y", "045Y"),
        ("120M", "120M"),
        ("45Y", None),
    ],
)
def test_cap_age_at_99_if_over_90(original, expected):
    value, _ = apply("capAgeAt99IfOver90", PATIENT_AGE, "AS", original)
    assert value == expected


# --------------------------------------------------------------------------- private


def test_retain_safe_private_is_resolved_by_the_engine_not_called_directly():
    with pytest.raises(RuntimeError, match="engine"):
        apply("retainSafePrivate", 0x00191010, "LO", "x")


# --------------------------------------------------------------------------- PS3.15 codes


@pytest.mark.parametrize(
    "tag, vr, original, expected",
    [
        (PATIENT_NAME, "PN", "VORANEK^TALISHA", DUMMY_BY_VR["PN"]),
        (STUDY_DATE, "DA", "20200616", "19000101"),
        (STUDY_TIME, "TM", "123000", "000000"),
        (PATIENT_AGE, "AS", "045Y", "000Y"),
        (INSTITUTION, "LO", "ZORVATH GENERAL", "ANONYMIZED"),
        (ROWS, "US", 512, 0),
        (WEIGHT, "DS", "72.5", "0"),
        (INSTITUTION, "LO", "", None),
        (PRIVATE_UN, "UN", b"VORANEK ", b""),
    ],
)
def test_d_gives_a_dummy_of_the_same_vr(tag, vr, original, expected):
    value, _ = apply("D", tag, vr, original)
    assert value == expected
    assert value != original or original in ("", b"")


def test_d_on_a_uid_gives_a_consistent_new_uid():
    first, _ = apply("D", SOP_INSTANCE_UID, "UI", "1.2.826.0.1.3680043.99.1")
    second, _ = apply("D", SOP_INSTANCE_UID, "UI", "1.2.826.0.1.3680043.99.1")
    assert first == second == PSEUDO.uid("1.2.826.0.1.3680043.99.1")
    assert first != "1.2.826.0.1.3680043.99.1"


def test_d_leaves_sequence_items_for_the_walk():
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.7"
    value, _ = apply("D", REF_IMAGE_SEQ, "SQ", Sequence([item]))
    assert len(value) == 1


def test_z_empties_and_keeps_the_element():
    value, _ = apply("Z", PATIENT_NAME, "PN", "VORANEK^TALISHA")
    assert value is None
    seq, _ = apply("Z", ACQ_CONTEXT_SEQ, "SQ", Sequence([Dataset()]))
    assert isinstance(seq, Sequence) and len(seq) == 0


def test_x_deletes_and_k_keeps():
    assert apply("X", PATIENT_NAME, "PN", "VORANEK^TALISHA")[0] is MISSING
    assert str(apply("K", PATIENT_NAME, "PN", "VORANEK^TALISHA")[0]) == "VORANEK^TALISHA"


def test_u_replaces_every_uid_value_consistently():
    originals = ["1.2.826.0.1.3680043.99.1", "1.2.826.0.1.3680043.99.2"]
    value, _ = apply("U", 0x00081155, "UI", originals)
    assert list(value) == [PSEUDO.uid(u) for u in originals]
    assert value[0] != value[1]


def test_c_shifts_dates_by_the_patient_offset():
    ctx = make_ctx()
    value, ctx = apply("C", STUDY_DATE, "DA", "20200616", ctx=ctx)
    assert value == da_plus("20200616", ctx.day_offset())
    assert ctx.dates_shifted


def test_c_replaces_person_names():
    value, _ = apply("C", 0x00081050, "PN", "KELDOR^MAVIS")
    assert str(value) == PSEUDO.name("KELDOR^MAVIS")


def test_c_cleans_text_with_the_context_cleaner():
    ctx = make_ctx(clean_text=header_text_cleaner(header_for_cleaning()))
    value, _ = apply("C", STUDY_DESCRIPTION, "LO", "MR BRAIN TALISHA VORANEK", ctx=ctx)
    assert value == "MR BRAIN"


def test_c_deletes_binary_content_it_cannot_clean():
    assert apply("C", OVERLAY_DATA, "OW", b"\x00\x01" * 8)[0] is MISSING


@pytest.mark.parametrize(
    "code, tag, vr, original, sop_class, expected",
    [
        # Type 2 in the CT IOD: must stay, so X/Z -> Z.
        ("X/Z", ACQ_CONTEXT_SEQ, "SQ", Sequence([Dataset()]), CTImageStorage, "empty"),
        ("Z/D", PATIENT_ID, "LO", "PID77123", CTImageStorage, "empty"),
        # Type 3: the first code.
        ("X/Z", ACQ_DATE, "DA", "20200616", CTImageStorage, MISSING),
        ("X/D", SERIES_DATE, "DA", "20200616", CTImageStorage, MISSING),
        ("X/Z/D", INSTITUTION, "LO", "ZORVATH GENERAL", CTImageStorage, MISSING),
        # Type 1 in the PET IOD: needs a value, so X/D -> D.
        ("X/D", SERIES_DATE, "DA", "20200616", PositronEmissionTomographyImageStorage, "19000101"),
        # Unknown IOD: the last code of the chain.
        ("X/Z", ACQ_DATE, "DA", "20200616", "1.2.826.0.1.3680043.99.555", "empty"),
        ("X/Z/D", INSTITUTION, "LO", "ZORVATH GENERAL", None, "ANONYMIZED"),
    ],
)
def test_combined_codes_resolve_by_attribute_type(code, tag, vr, original, sop_class, expected):
    value, _ = apply(code, tag, vr, original, ctx=make_ctx(sop_class_uid=sop_class))
    if expected == "empty":
        assert value is not MISSING and not value
    else:
        assert value == expected


def test_combined_u_keeps_a_reference_sequence_for_the_walk():
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.99.7"
    value, _ = apply("X/Z/U*", REF_IMAGE_SEQ, "SQ", Sequence([item]), ctx=make_ctx())
    assert value is not MISSING and len(value) == 1
