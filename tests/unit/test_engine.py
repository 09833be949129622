"""MetadataEngine end to end on in-memory datasets and bytes (no Spark).

Datasets are built inline with synthetic PHI; one test runs the synthetic
study factory through both shipped profiles and scans the output for every
planted value.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
from typing import Any

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from sparkdeid.dicom import codec
from sparkdeid.metadata.engine import (
    EngineConfig,
    MetadataEngine,
    compiled_engine,
    deidentify_bytes,
    patient_key,
)
from sparkdeid.metadata.extract import tag_document
from sparkdeid.metadata.strategy import load_strategy
from tests.factories import dataset_bytes, engine_config

SECRET = b"engine-unit-test-secret"
HEADER = "Tags,VR,Name,Status,Action,Option\n"
ROOT = "1.2.826.0.1.3680043.99."  # synthetic, non-standard UID root
PATIENT_A = ("PID77123", "VORANEK^TALISHA")
PATIENT_B = ("PID99001", "KELDOR^MAVIS")


def config(source: str = "basic", secret: bytes = SECRET, **kwargs: Any) -> EngineConfig:
    return engine_config(source, secret, **kwargs)


def engine(source: str = "basic", **kwargs: Any) -> MetadataEngine:
    return MetadataEngine(config(source, **kwargs))


def ct(
    patient: tuple[str, str] = PATIENT_A,
    *,
    sop: str = ROOT + "1.1",
    study: str = ROOT + "2",
    series: str = ROOT + "3",
    study_date: str = "20200616",
    sop_class: str = CTImageStorage,
) -> Dataset:
    """A small CT-like dataset with file meta, ready for dcmwrite."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop
    ds.file_meta.SourceApplicationEntityTitle = "ZORVATH_CT1"
    ds.preamble = b"\x00" * 128
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = ROOT + "4"
    ds.PatientID, ds.PatientName = patient
    ds.PatientBirthDate = "19760616"
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.Modality = "CT"
    ds.StudyDescription = "CT CHEST W CONTRAST"
    return ds


def to_bytes(ds: Dataset) -> bytes:
    return dataset_bytes(ds)


def days_between(a: str, b: str) -> int:
    return (dt.datetime.strptime(a, "%Y%m%d") - dt.datetime.strptime(b, "%Y%m%d")).days


def all_text(ds: Dataset) -> str:
    """Every value of the dataset (nested included) as one upper-case string."""
    parts = []
    for elem in ds.iterall():
        if elem.VR == "SQ":
            continue
        value = elem.value
        parts.append(value.decode("latin-1") if isinstance(value, bytes) else str(value))
    return "\n".join(parts).upper()


# --------------------------------------------------------------------------- dates


def test_one_date_offset_per_patient_keeps_intervals_exactly():
    eng = engine("tcia")
    first = ct(sop=ROOT + "1.1", study_date="20200616")
    first.AcquisitionDate = "20200617"
    second = ct(sop=ROOT + "1.2", study=ROOT + "22", study_date="20210301")
    second.PatientName = "Voranek^Talisha"  # same patient id, differently written name
    eng.deidentify(first)
    eng.deidentify(second)
    offset = days_between(first.StudyDate, "20200616")
    assert offset != 0
    assert days_between(first.AcquisitionDate, "20200617") == offset
    assert days_between(second.StudyDate, "20210301") == offset
    assert days_between(second.StudyDate, first.StudyDate) == days_between("20210301", "20200616")


def test_another_patient_gets_another_offset():
    eng = engine("tcia")
    a = ct(PATIENT_A, sop=ROOT + "1.1")
    b = ct(PATIENT_B, sop=ROOT + "1.2", study=ROOT + "22")
    eng.deidentify(a)
    eng.deidentify(b)
    assert a.StudyDate != "20200616" and b.StudyDate != "20200616"
    assert a.StudyDate != b.StudyDate


def test_date_shift_option_bounds_the_offset():
    rows = '"(0008, 0020)",DA,Study Date,,shiftDateByRandomNbOfDays,5\n'
    for pid in ("PID1", "PID2", "PID3", "PID4"):
        ds = ct((pid, "VORANEK^TALISHA"))
        engine(HEADER + rows).deidentify(ds)
        assert 1 <= abs(days_between(ds.StudyDate, "20200616")) <= 5


def test_basic_profile_removes_dates_and_says_so():
    ds = ct()
    report = engine("basic").deidentify(ds)
    assert not ds.StudyDate and not ds.PatientBirthDate
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"
    assert report.dates_shifted is False


def test_private_offset_disposition_shifts_with_the_patient_offset():
    ds = ct()
    block = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
    block.add_new(0x0D, "DT", "20200616093000")  # KB: Scan Date Time, 'o'
    engine("tcia").deidentify(ds)
    offset = days_between(ds.StudyDate, "20200616")
    shifted = ds.private_block(0x0009, "GEMS_PETD_01")[0x0D].value
    assert shifted == (dt.datetime(2020, 6, 16, 9, 30) + dt.timedelta(days=offset)).strftime(
        "%Y%m%d%H%M%S"
    )


# --------------------------------------------------------------------------- UIDs

REFERENCE_ROWS = (
    '"(0008, 0018)",UI,SOP Instance UID,,U,\n'
    '"(0020, 000D)",UI,Study Instance UID,,U,\n'
    '"(0020, 000E)",UI,Series Instance UID,,U,\n'
    '"(0008, 1140)",SQ,Referenced Image Sequence,,keep,\n'
    '"(0008, 1155)",UI,Referenced SOP Instance UID,,U,\n'
)


def referencing_pair() -> tuple[Dataset, Dataset]:
    target = ct(sop=ROOT + "1.1")
    source = ct(sop=ROOT + "1.2")
    item = Dataset()
    item.ReferencedSOPClassUID = CTImageStorage
    item.ReferencedSOPInstanceUID = ROOT + "1.1"
    source.ReferencedImageSequence = [item]
    return target, source


def test_uids_are_consistent_across_files_and_references():
    eng = engine(HEADER + REFERENCE_ROWS)
    target, source = referencing_pair()
    eng.deidentify(target)
    eng.deidentify(source)
    new_target = target.SOPInstanceUID
    assert new_target != ROOT + "1.1" and new_target.startswith("2.25.")
    assert source.ReferencedImageSequence[0].ReferencedSOPInstanceUID == new_target
    assert source.SOPInstanceUID != new_target
    assert source.StudyInstanceUID == target.StudyInstanceUID != ROOT + "2"
    assert source.SeriesInstanceUID == target.SeriesInstanceUID != ROOT + "3"
    # An unlisted UID (Frame of Reference here) maps the same way as U.
    assert source.FrameOfReferenceUID == target.FrameOfReferenceUID != ROOT + "4"
    assert source.ReferencedImageSequence[0].ReferencedSOPClassUID == CTImageStorage


def test_basic_profile_uid_references_agree_when_the_sequence_must_stay():
    # Unknown SOP class: X/Z/U* on Referenced Image Sequence resolves to U (kept, walked).
    sop_class = ROOT + "900"
    target, source = referencing_pair()
    for ds in (target, source):
        ds.SOPClassUID = sop_class
    eng = engine("basic")
    eng.deidentify(target)
    eng.deidentify(source)
    assert source.ReferencedImageSequence[0].ReferencedSOPInstanceUID == target.SOPInstanceUID
    assert target.SOPInstanceUID != ROOT + "1.1"


def test_a_different_secret_gives_different_uids():
    mine, theirs = ct(), ct()
    engine("basic").deidentify(mine)
    engine("basic", secret=b"someone-else").deidentify(theirs)
    assert mine.SOPInstanceUID != theirs.SOPInstanceUID
    assert mine.StudyInstanceUID != theirs.StudyInstanceUID


def test_unlisted_person_names_are_emptied_and_private_root_uids_replaced():
    ds = ct()
    ds.add_new(0x00400275, "SQ", [Dataset()])  # Request Attributes Sequence, unlisted
    ds.add_new(0x0040A075, "PN", "KELDOR^MAVIS")  # Verifying Observer Name
    ds[0x00400275].value[0].add_new(0x0040A075, "PN", "QUILLAN^ESTRID")
    ds.add_new(0x00081150, "UI", CTImageStorage)  # standard UID, unlisted
    ds.add_new(0x00880140, "UI", ROOT + "77")  # Storage Media File-set UID, unlisted
    eng = engine(HEADER + '"(0010, 0020)",LO,Patient ID,,keep,\n')
    report = eng.deidentify(ds)
    assert ds.VerifyingObserverName in (None, "")
    assert ds[0x00400275].value[0][0x0040A075].value in (None, "")
    assert ds.PatientName in (None, "")
    assert ds[0x00880140].value not in (ROOT + "77", None, "")
    assert ds.SOPInstanceUID != ROOT + "1.1"
    assert ds.SOPClassUID == CTImageStorage
    assert ds[0x00081150].value == CTImageStorage
    assert ds.PatientID == "PID77123"  # listed as keep
    assert ds.Modality == "CT"  # unlisted, not a name or UID: kept
    assert report.actions["unlisted_person_name_emptied"] == 3


def test_group_length_elements_are_dropped():
    ds = ct()
    ds.add_new(0x00080000, "UL", 1234)
    engine("tcia").deidentify(ds)
    assert 0x00080000 not in ds


# --------------------------------------------------------------------------- private tags


def with_private_tags(ds: Dataset) -> Dataset:
    known = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
    known.add_new(0x1E, "DS", "350")  # Display Field Of View: 'k'
    known.add_new(0x10, "DT", "20200616")  # 'd'
    unknown = ds.private_block(0x0035, "ZORVATH PRIVATE 1.0", create=True)
    unknown.add_new(0x01, "LO", "VORANEK^TALISHA")
    ds.add_new(0x00131010, "LO", "TALISHA ORPHAN")  # no creator reserves block 0x10
    return ds


def test_basic_removes_every_private_element_and_creator():
    ds = with_private_tags(ct())
    engine("basic").deidentify(ds)
    assert [elem.tag for elem in ds if elem.tag.is_private] == []


def test_tcia_keeps_kb_safe_private_elements_with_their_creator():
    ds = with_private_tags(ct())
    engine("tcia").deidentify(ds)
    block = ds.private_block(0x0019, "GEMS_ACQU_01")
    assert ds[0x00190010].value == "GEMS_ACQU_01"
    assert block[0x1E].value == 350
    assert block.get_tag(0x10) not in ds  # 'd' in the KB
    assert 0x00350010 not in ds and 0x00351001 not in ds  # unknown creator block, creator too
    assert 0x00131010 not in ds  # orphan
    assert {int(elem.tag) for elem in ds if elem.tag.is_private} == {0x00190010, 0x0019101E}


def test_tcia_hash_disposition_replaces_private_uids():
    ds = ct()
    block = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    block.add_new(0xE3, "UI", ROOT + "555")  # Equipment UID: 'h'
    engine("tcia").deidentify(ds)
    value = ds.private_block(0x0009, "GEMS_IDEN_01")[0xE3].value
    assert value.startswith("2.25.") and value != ROOT + "555"


def test_remove_private_tags_false_keeps_private_tags_without_a_private_row():
    rows = '"(0010, 0010)",PN,Patient\'s Name,,Z,\n'
    ds = with_private_tags(ct())
    engine(HEADER + rows, remove_private_tags=False).deidentify(ds)
    assert ds.private_block(0x0019, "GEMS_ACQU_01")[0x10].value == "20200616"
    assert 0x00131010 not in ds  # orphans go regardless


# --------------------------------------------------------------------------- marks


def test_patient_identity_removed_and_tcia_method_codes():
    ds = ct()
    engine("tcia").deidentify(ds)
    assert ds.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert "113100" in codes and "113111" in codes and "113107" in codes
    assert {item.CodingSchemeDesignator for item in ds.DeidentificationMethodCodeSequence} == {
        "DCM"
    }
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert ds.DeidentificationMethod.startswith("DICOM PS3.15 Basic Profile")


def test_custom_strategy_records_a_method_text_but_no_codes():
    ds = ct()
    engine(HEADER + '"(0010, 0010)",PN,Patient\'s Name,,Z,\n').deidentify(ds)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethod == "sparkdeid custom strategy"
    assert "DeidentificationMethodCodeSequence" not in ds


def test_report_holds_counts_not_values():
    ds = with_private_tags(ct())
    report = engine("tcia").deidentify(ds)
    assert report.actions["U"] >= 4
    assert report.actions["private_k"] == 1 and report.actions["private_d"] == 1
    assert report.dates_shifted is True
    assert "VORANEK" not in repr(report).upper() and "PID77123" not in repr(report)


# --------------------------------------------------------------------------- strategies


def test_group_strategy_applies_to_tags_without_a_row():
    rows = HEADER + '"(0018, 0015)",CS,Body Part Examined,,keep,\n'
    groups = (
        "Tags,VR,Name,Status,Action,Option\n"
        '"(0018,)",GROUP,Acquisition,,delete,\n'
        '"(0020,)",GROUP,Relationship,,remove,\n'
    )
    ds = ct()
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "5.0"
    ds.SeriesNumber = "4"
    eng = MetadataEngine(EngineConfig(strategy_csv=rows, secret=SECRET, group_strategy_csv=groups))
    eng.deidentify(ds)
    assert ds.BodyPartExamined == "CHEST"
    assert "SliceThickness" not in ds
    assert "SeriesNumber" in ds and ds.SeriesNumber in (None, "")
    assert ds.StudyInstanceUID in (None, "")  # (0020,) group row wins over the unlisted-UID rule
    assert ds.Modality == "CT"


def test_regenerate_series_gives_a_new_series_uid_shared_by_the_series():
    plain_ds, regen_ds, regen_other = (
        ct(sop=ROOT + "1.1"),
        ct(sop=ROOT + "1.1"),
        ct(sop=ROOT + "1.2"),
    )
    engine("basic").deidentify(plain_ds)
    regen = engine("basic", regenerate_series=True)
    regen.deidentify(regen_ds)
    regen.deidentify(regen_other)
    assert regen_ds.SeriesInstanceUID != plain_ds.SeriesInstanceUID
    assert regen_ds.SeriesInstanceUID not in (ROOT + "3", "")
    assert regen_ds.SeriesInstanceUID == regen_other.SeriesInstanceUID
    assert regen_ds.SOPInstanceUID == plain_ds.SOPInstanceUID
    assert regen_ds.StudyInstanceUID == plain_ds.StudyInstanceUID


def test_retain_uids_keeps_uids():
    ds = ct()
    engine("basic+retain-uids").deidentify(ds)
    assert ds.SOPInstanceUID == ROOT + "1.1"
    assert ds.StudyInstanceUID == ROOT + "2"


# --------------------------------------------------------------------------- free text


CLEAN_ROWS = (
    '"(0040, A730)",SQ,Content Sequence,,keep,\n'
    '"(0040, A160)",UT,Text Value,,cleanTag,\n'
    '"(0008, 1030)",LO,Study Description,,cleanTag,\n'
)


def with_text_items(ds: Dataset) -> Dataset:
    items = []
    for text in ("VORANEK seen 06/16/1976", "call 555-867-5309 re TALISHA"):
        item = Dataset()
        item.ValueType = "TEXT"
        item.TextValue = text
        items.append(item)
    ds.ContentSequence = items
    ds.StudyDescription = "CT CHEST VORANEK"
    return ds


def test_header_cleaner_is_used_for_clean_tag_without_upstream_texts():
    ds = with_text_items(ct())
    engine(HEADER + CLEAN_ROWS).deidentify(ds)
    assert ds.StudyDescription == "CT CHEST"
    assert [item.TextValue for item in ds.ContentSequence] == ["seen", "call re"]


def test_upstream_cleaned_texts_are_applied_by_nested_tag_path():
    ds = with_text_items(ct())
    cleaned = {"(0040,A730)[1].(0040,A160)": "NER CLEANED", "(0008,1030)": "CT CHEST NER"}
    engine(HEADER + CLEAN_ROWS).deidentify(ds, cleaned_texts=cleaned)
    assert ds.StudyDescription == "CT CHEST NER"
    assert ds.ContentSequence[1].TextValue == "NER CLEANED"
    assert ds.ContentSequence[0].TextValue == "seen"  # no upstream text: header cleaner


def test_tag_document_paths_match_the_engine_paths():
    ds = with_text_items(ct())
    strategy = load_strategy(HEADER + CLEAN_ROWS)
    document, mapping = tag_document(ds, strategy)
    assert len(document.split("\n")) == len(mapping) == 3
    cleaned = {entry["tag_path"]: f"LINE {n}" for n, entry in enumerate(mapping)}
    engine(HEADER + CLEAN_ROWS).deidentify(ds, cleaned_texts=cleaned)
    values = {ds.StudyDescription, *(item.TextValue for item in ds.ContentSequence)}
    assert values == {"LINE 0", "LINE 1", "LINE 2"}


@pytest.mark.parametrize("profile", ["basic", "tcia"])
def test_free_text_nested_in_a_dummied_sequence_does_not_survive(profile):
    ds = ct()
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = "Patient VORANEK reports pain since 06/16/1976"
    ds.ContentSequence = [item]
    engine(profile).deidentify(ds)
    assert "VORANEK" not in all_text(ds)


# --------------------------------------------------------------------------- bytes


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm"])
def test_deidentify_bytes_keeps_transfer_syntax_and_pixel_bytes(name):
    raw = open(get_testdata_file(name), "rb").read()
    original = pydicom.dcmread(io.BytesIO(raw))
    out, report = deidentify_bytes(raw, config("basic"))
    result = pydicom.dcmread(io.BytesIO(out))
    assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
    assert result.PixelData == original.PixelData
    assert result.SOPInstanceUID != original.SOPInstanceUID
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert result.file_meta.MediaStorageSOPClassUID == result.SOPClassUID
    assert result.file_meta.ImplementationClassUID == codec.IMPLEMENTATION_CLASS_UID
    assert "SourceApplicationEntityTitle" not in result.file_meta
    assert str(original.PatientName) and not result.get("PatientName")
    assert report.actions["U"] >= 1


def test_deidentify_bytes_on_an_inline_dataset():
    ds = with_private_tags(ct())
    ds.Rows, ds.Columns = 2, 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes(range(8))
    out, _ = deidentify_bytes(to_bytes(ds), config("tcia"))
    result = pydicom.dcmread(io.BytesIO(out))
    assert result.PixelData == bytes(range(8))
    assert result.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert "SourceApplicationEntityTitle" not in result.file_meta
    assert b"VORANEK" not in out.upper() and b"TALISHA" not in out.upper()
    assert b"PID77123" not in out and b"ZORVATH" not in out.upper()


def test_compiled_engine_is_cached_per_configuration():
    cfg = config("basic")
    assert compiled_engine(cfg) is compiled_engine(config("basic"))
    assert compiled_engine(cfg) is not compiled_engine(config("basic", secret=b"other"))


# --------------------------------------------------------------------------- patient key


def test_patient_key_prefers_id_then_name_then_study():
    ds = Dataset()
    assert patient_key(ds) == ""
    ds.StudyInstanceUID = ROOT + "2"
    assert patient_key(ds) == f"StudyInstanceUID:{ROOT}2"
    ds.PatientName = "Voranek^Talisha"
    assert patient_key(ds) == "PatientName:VORANEK^TALISHA"
    ds.PatientID = " PID77123 "
    assert patient_key(ds) == "PatientID:PID77123"


# --------------------------------------------------------------------------- synthetic studies


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("profile", ["basic", "tcia"])
def test_synthetic_study_leaves_no_planted_phi(profile):
    factories = pytest.importorskip("tests.factories")
    patient = factories.SyntheticPatient.from_seed(11)
    syntaxes = factories.NATIVE_TRANSFER_SYNTAXES
    datasets = factories.build_study(
        patient, seed=5, n_series=1, n_instances=len(syntaxes), transfer_syntax=syntaxes
    )
    cfg = config(profile)
    needles = patient.phi_strings()
    for ds in datasets:
        raw = to_bytes(copy.deepcopy(ds))
        out, _ = deidentify_bytes(raw, cfg)
        result = pydicom.dcmread(io.BytesIO(out))
        assert result.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
        assert result.PixelData == pydicom.dcmread(io.BytesIO(raw)).PixelData
        assert factories.scan_for_strings(result, needles) == []
        assert factories.scan_bytes(out, needles) == []
        assert result.SOPInstanceUID != ds.SOPInstanceUID
        if profile == "tcia":
            assert result.StudyDescription == "CT CHEST W CONTRAST"


# --------------------------------------------------------------------------- fail closed


def test_tags_outside_the_standard_dictionary_are_removed():
    ds = ct()
    ds.add_new(0x00081FF0, "LO", "ZORVATH CLINIC NOTE")  # even group, not in PS3.6
    engine("tcia").deidentify(ds)
    assert 0x00081FF0 not in ds
    assert ds.Modality == "CT"


def test_bytes_after_a_valid_header_that_are_no_dataset_are_rejected():
    from sparkdeid.errors import DicomDecodeError

    header = to_bytes(ct())[:132]  # preamble + DICM
    garbage = header + bytes(range(7, 200, 3)) * 3
    with pytest.raises(DicomDecodeError, match="no standard data element|DICOM"):
        codec.read_dataset(garbage)


def test_media_storage_uid_is_replaced_even_without_a_sop_instance_uid():
    ds = ct()
    original = ds.file_meta.MediaStorageSOPInstanceUID
    del ds.SOPInstanceUID
    engine("basic").deidentify(ds)
    assert ds.file_meta.MediaStorageSOPInstanceUID != original
    assert str(ds.file_meta.MediaStorageSOPInstanceUID).startswith("2.25.")


def test_temporal_marker_reflects_what_happened_to_dates():
    keep_dates = HEADER + '"(0008, 0020)",DA,Study Date,,keep,\n'
    kept = ct()
    engine(keep_dates).deidentify(kept)
    assert kept.LongitudinalTemporalInformationModified == "UNMODIFIED"
    no_date = ct()
    del no_date.StudyDate
    engine(keep_dates).deidentify(no_date)
    assert "LongitudinalTemporalInformationModified" not in no_date
    removed = ct()
    engine("basic").deidentify(removed)
    assert removed.LongitudinalTemporalInformationModified == "REMOVED"
