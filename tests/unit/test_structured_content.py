"""SR content trees and presentation-state text through the metadata engine (no Spark).

pydicom's bundled Comprehensive SR (``test-SR.dcm``) gets invented PHI planted
in PNAME, TEXT, DATE, DATETIME and UIDREF items at several depths and in the
observer sequences; after the engine, no planted string may remain in any
element or in the raw bytes, while codes, numbers, units, coordinates and the
shape of the tree stay as they were.
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

from sparkdeid.metadata import structured_content as sc
from sparkdeid.metadata.actions import ActionContext
from sparkdeid.metadata.engine import EngineConfig, MetadataEngine, deidentify_bytes
from sparkdeid.metadata.pseudonyms import Pseudonymizer
from sparkdeid.metadata.strategy import load_strategy, resolve_strategy
from tests.factories import dataset_bytes, engine_config, scan_bytes, scan_for_strings

SECRET = b"structured-content-test-secret"
HEADER = "Tags,VR,Name,Status,Action,Option\n"
ROOT = "1.2.826.0.1.3680043.99."  # synthetic, non-standard UID root

# Invented people, ids, places and dates; none belongs to anyone.
PATIENT = "HAWTHRIDGE^YVAINE"
REFERRING = "QUORVENCH^ELDWYTH"
VERIFIERS = ("MARDEKCHY^SOLWEIG", "TRELLWICK^BRANHYLD")
AUTHOR = "ZANDOWYCK^KESHRA"
OBSERVER = "PELLHAMORE^RUNHILDE"
PATIENT_ID = "SRQ88213"
ACCESSION = "ACQ7731942"
INSTITUTION = "Halvorsund Imaging Clinic"
BIRTH_DATE, STUDY_DATE, ITEM_DATE = "19620704", "20210310", "20210312"
PHONE = "555-201-3344"
UIDREF_VALUES = (ROOT + "4241", ROOT + "4242")
REFERENCED_SOP = ROOT + "77.1"
TEXT_WITH_DOCTOR = "No evidence of malignancy. Patient seen by Dr Eldwyth Quorvench on 03/14/2021."
TEXT_WITH_IDS = (
    f"Findings discussed with HAWTHRIDGE, MRN {PATIENT_ID}, phone {PHONE}. Lungs are clear."
)
TEXT_WITH_VERIFIER = "Reviewed by Mardekchy at Halvorsund."

NEEDLES = (
    "HAWTHRIDGE", "YVAINE", "QUORVENCH", "ELDWYTH", "MARDEKCHY", "SOLWEIG", "TRELLWICK",
    "BRANHYLD", "ZANDOWYCK", "KESHRA", "PELLHAMORE", "RUNHILDE", PATIENT_ID, ACCESSION,
    "HALVORSUND", BIRTH_DATE, STUDY_DATE, ITEM_DATE, PHONE, "03/14/2021", *UIDREF_VALUES,
    REFERENCED_SOP,
)


# --------------------------------------------------------------------------- helpers


def config(source: str, **kwargs: Any) -> EngineConfig:
    return engine_config(source, SECRET, **kwargs)


def to_bytes(ds: Dataset) -> bytes:
    return dataset_bytes(ds)


def run(ds: Dataset, source: str) -> tuple[Dataset, bytes]:
    out, _ = deidentify_bytes(to_bytes(copy.deepcopy(ds)), config(source))
    return pydicom.dcmread(io.BytesIO(out)), out


def days_between(a: str, b: str) -> int:
    return (dt.datetime.strptime(a[:8], "%Y%m%d") - dt.datetime.strptime(b[:8], "%Y%m%d")).days


def code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def content_item(relationship: str, value_type: str, concept: Dataset, **values: Any) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [concept]
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def planted_sr() -> Dataset:
    """test-SR.dcm with invented PHI at depths 1 to 3 of its content tree."""
    ds = pydicom.dcmread(get_testdata_file("test-SR.dcm"))
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT, PATIENT_ID, BIRTH_DATE
    ds.StudyDate, ds.AccessionNumber = STUDY_DATE, ACCESSION
    ds.ReferringPhysicianName, ds.InstitutionName = REFERRING, INSTITUTION
    # The bundled file names real people as verifiers: replaced by invented ones.
    for item, name in zip(ds.VerifyingObserverSequence, VERIFIERS, strict=True):
        item.VerifyingObserverName = name
        item.VerifyingOrganization = INSTITUTION
        item.VerificationDateTime = ITEM_DATE + "101500"
    author = Dataset()
    author.ObserverType = "PSN"
    author.PersonName = AUTHOR
    author.InstitutionName = INSTITUTION
    ds.AuthorObserverSequence = [author]

    top = ds.ContentSequence
    top[0].UID = UIDREF_VALUES[0]  # depth 1 UIDREF
    top.append(  # depth 1 observer context
        content_item("HAS OBS CONTEXT", "PNAME", code("121008", "DCM", "Person Observer Name"),
                     PersonName=OBSERVER)
    )
    container = top[1].ContentSequence  # depth 2
    container.append(
        content_item("CONTAINS", "TEXT", code("121071", "DCM", "Finding"), TextValue=TEXT_WITH_IDS)
    )
    text_children = container[0].ContentSequence  # depth 3, under a TEXT item
    text_children.append(
        content_item("HAS OBS CONTEXT", "PNAME", code("121008", "DCM", "Person Observer Name"),
                     PersonName="Pellhamore^Runhilde")  # same person, written differently
    )
    text_children.append(
        content_item("HAS PROPERTIES", "TEXT", code("121106", "DCM", "Comment"),
                     TextValue=TEXT_WITH_VERIFIER)
    )
    composite_children = top[3].ContentSequence  # depth 2 DATE, TIME, DATETIME
    composite_children[0].Date = ITEM_DATE
    composite_children[1].Time = "093000"
    composite_children[2].DateTime = ITEM_DATE + "093000"
    image = top[4]
    image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID = REFERENCED_SOP
    image.ContentSequence[1].TextValue = TEXT_WITH_DOCTOR  # depth 2
    image.ContentSequence[1].ContentSequence.append(  # depth 3 UIDREF
        content_item("HAS PROPERTIES", "UIDREF", code("121232", "DCM", "Source image"),
                     UID=UIDREF_VALUES[1])
    )
    return ds


def content_items(ds: Dataset) -> list[Dataset]:
    """Every item of every Content Sequence, depth first, in order."""
    found = []
    for item in ds.get("ContentSequence", []):
        found.append(item)
        found.extend(content_items(item))
    return found


def shape(ds: Dataset) -> list[Any]:
    return [
        (item.get("RelationshipType"), item.get("ValueType"), shape(item))
        for item in ds.get("ContentSequence", [])
    ]


def codes(ds: Dataset) -> list[tuple[str, str, str]]:
    found = []
    for item in content_items(ds):
        for keyword in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
            found += [(c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning)
                      for c in item.get(keyword, [])]
    return found


def measurements(ds: Dataset) -> list[tuple[str, str, str]]:
    return [
        (str(value.NumericValue), unit.CodeValue, unit.CodeMeaning)
        for item in content_items(ds)
        for value in item.get("MeasuredValueSequence", [])
        for unit in value.MeasurementUnitsCodeSequence
    ]


def items_of(ds: Dataset, value_type: str) -> list[Dataset]:
    return [item for item in content_items(ds) if item.get("ValueType") == value_type]


# --------------------------------------------------------------------------- SR end to end


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_planted_phi_leaves_no_trace_in_elements_or_bytes(profile):
    result, out = run(planted_sr(), profile)
    assert scan_for_strings(result, NEEDLES) == []
    assert scan_bytes(out, NEEDLES) == []
    assert "AuthorObserverSequence" not in result  # X in PS3.15


@pytest.mark.parametrize("profile", ["tcia", "basic", "basic+clean-structured-content"])
def test_codes_numbers_coordinates_and_tree_shape_are_kept(profile):
    original = planted_sr()
    result, _ = run(original, profile)
    assert shape(result) == shape(original)
    assert len(content_items(result)) == len(content_items(original))
    assert codes(result) == codes(original)
    assert measurements(result) == measurements(original) == [("3", "cm", "Length Unit")] * 2
    [scoord] = items_of(result, "SCOORD")
    assert list(scoord.GraphicData) == [0.0, 0.0, 255.0, 255.0]
    assert scoord.GraphicType == "CIRCLE"
    [tcoord] = items_of(result, "TCOORD")
    assert list(tcoord.ReferencedTimeOffsets) == [1.0, 2.5]
    by_reference = [
        list(item.ReferencedContentItemIdentifier)
        for item in content_items(result)
        if "ReferencedContentItemIdentifier" in item
    ]
    assert by_reference == [[1, 3, 2], [1, 2, 2, 1]]


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_text_items_keep_their_clinical_words(profile):
    result, _ = run(planted_sr(), profile)
    texts = [str(item.TextValue) for item in items_of(result, "TEXT")]
    doctor = next(t for t in texts if "malignancy" in t)
    assert doctor.startswith("No evidence of malignancy. Patient seen by Dr")
    assert "Quorvench" not in doctor and "Eldwyth" not in doctor and "2021" not in doctor
    ids = next(t for t in texts if "Lungs" in t)
    assert "Lungs are clear" in ids and "discussed with" in ids
    # A verifier's name is known only from the header as read: the walk dummies it first.
    verifier = next(t for t in texts if t.startswith("Reviewed"))
    assert "Mardekchy" not in verifier
    # Texts without PHI come back exactly as they were.
    assert texts.count("A mass of") == 2 and texts.count("was detected.") == 2
    assert "Sample Text\rA\nB\r\nC\n\r" in texts


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_person_name_items_get_one_keyed_pseudonym_per_person(profile):
    result, _ = run(planted_sr(), profile)
    names = [str(item.PersonName) for item in items_of(result, "PNAME")]
    expected = Pseudonymizer(SECRET).name(OBSERVER)
    assert names == [expected, expected]  # depth 3 and depth 1, differently written
    assert expected != OBSERVER


def test_tcia_shifts_item_dates_by_the_patients_top_level_offset():
    original = planted_sr()
    result, _ = run(original, "tcia")
    offset = days_between(result.InstanceCreationDate, original.InstanceCreationDate)
    assert offset != 0
    assert days_between(result.ContentDate, original.ContentDate) == offset
    assert days_between(result.StudyDate, STUDY_DATE) == offset
    [date] = items_of(result, "DATE")
    [date_time] = items_of(result, "DATETIME")
    [time] = items_of(result, "TIME")
    assert days_between(date.Date, ITEM_DATE) == offset
    assert days_between(date_time.DateTime, ITEM_DATE) == offset
    assert date_time.DateTime[8:] == "093000"  # a day offset keeps the time of day
    assert time.Time == "093000"  # as top-level times under this profile
    assert result.LongitudinalTemporalInformationModified == "MODIFIED"


def test_basic_profile_dummies_item_dates_as_its_rows_say():
    result, _ = run(planted_sr(), "basic")
    assert [i.Date for i in items_of(result, "DATE")] == ["19000101"]
    assert [i.DateTime for i in items_of(result, "DATETIME")] == ["19000101000000"]
    assert not result.get("StudyDate")
    assert result.LongitudinalTemporalInformationModified == "REMOVED"


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_uids_in_the_tree_are_remapped_consistently(profile):
    cfg = config(profile)
    result, _ = run(planted_sr(), profile)
    pseudonyms = Pseudonymizer(SECRET)
    assert [str(i.UID) for i in items_of(result, "UIDREF")] == [
        pseudonyms.uid(UIDREF_VALUES[0]), pseudonyms.uid(UIDREF_VALUES[1])
    ]
    # The referenced image, de-identified on its own, gets the UID the report points at.
    target = Dataset()
    target.file_meta = FileMetaDataset()
    target.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    target.SOPClassUID, target.SOPInstanceUID = CTImageStorage, REFERENCED_SOP
    target.PatientID = PATIENT_ID
    MetadataEngine(cfg).deidentify(target)
    [image] = [i for i in items_of(result, "IMAGE") if "ReferencedSOPSequence" in i][:1]
    assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == target.SOPInstanceUID


def test_clean_structured_content_code_is_claimed_only_when_selected():
    plain, _ = run(planted_sr(), "basic")
    optioned, _ = run(planted_sr(), "basic+clean-structured-content")
    assert "113104" not in [i.CodeValue for i in plain.DeidentificationMethodCodeSequence]
    assert "113104" in [i.CodeValue for i in optioned.DeidentificationMethodCodeSequence]
    assert scan_for_strings(optioned, NEEDLES) == []


def test_profiles_keep_content_sequence_and_walk_it():
    for source in ("basic", "tcia"):
        rule = load_strategy(resolve_strategy(source).csv_text).rule_for(0x0040A730)
        assert rule is not None and rule.action == "D"
    rule = load_strategy(
        resolve_strategy("basic+clean-structured-content").csv_text
    ).rule_for(0x0040A730)
    assert rule is not None and rule.action == "C"


def test_bundled_basic_text_sr_is_cleaned_too():
    ds = pydicom.dcmread(get_testdata_file("reportsi.dcm"))
    ds.PatientName = PATIENT
    observer = items_of(ds, "PNAME")[0]
    observer.PersonName = OBSERVER
    items_of(ds, "TEXT")[-1].TextValue = f"Stable since {ITEM_DATE}; discussed with {REFERRING}."
    result, out = run(ds, "tcia")
    assert scan_for_strings(result, NEEDLES) == [] and scan_bytes(out, NEEDLES) == []
    assert shape(result) == shape(ds) and codes(result) == codes(ds)
    assert str(items_of(result, "TEXT")[-1].TextValue).startswith("Stable since")


# --------------------------------------------------------------------------- item rules


def engine_for(rows: str) -> MetadataEngine:
    return MetadataEngine(EngineConfig(strategy_csv=HEADER + rows, secret=SECRET))


KEEP_CONTENT = '"(0040, A730)",SQ,Content Sequence,,keep,\n'


def with_items(*items: Dataset) -> Dataset:
    ds = Dataset()
    ds.PatientID = PATIENT_ID
    ds.PatientName = PATIENT
    ds.ContentSequence = list(items)
    return ds


def test_an_unknown_value_type_keeps_only_the_structure():
    item = content_item("CONTAINS", "HOLOGRAM", code("1", "99X", "Thing"),
                        TextValue="HAWTHRIDGE", PersonName=PATIENT)
    item.ContentSequence = [content_item("CONTAINS", "CODE", code("2", "99X", "Child"))]
    item.add_new(0x00081030, "LO", "HAWTHRIDGE STUDY")  # no business in a content item
    ds = with_items(item)
    report = engine_for(KEEP_CONTENT).deidentify(ds)
    kept = ds.ContentSequence[0]
    assert kept.ValueType == "HOLOGRAM" and kept.RelationshipType == "CONTAINS"
    assert kept.ConceptNameCodeSequence[0].CodeMeaning == "Thing"
    assert len(kept.ContentSequence) == 1
    assert not kept.TextValue and not kept.PersonName and not kept.StudyDescription
    assert report.actions["sr_unknown_value_type"] == 1
    assert report.actions["sr_unexpected_element_emptied"] == 3


def test_a_value_of_another_type_in_an_item_is_emptied():
    item = content_item("CONTAINS", "CODE", code("1", "99X", "Finding"), PersonName=PATIENT)
    item.ConceptCodeSequence = [code("2", "99X", "Nodule")]
    ds = with_items(item)
    engine_for(KEEP_CONTENT).deidentify(ds)
    assert not ds.ContentSequence[0].PersonName
    assert ds.ContentSequence[0].ConceptCodeSequence[0].CodeMeaning == "Nodule"


def test_names_and_texts_are_never_kept_raw_even_under_a_keep_row():
    rows = KEEP_CONTENT + '"(0040, A123)",PN,Person Name,,keep,\n"(0040, A160)",UT,Text,,keep,\n'
    ds = with_items(
        content_item("HAS OBS CONTEXT", "PNAME", code("121008", "DCM", "Person Observer Name"),
                     PersonName=OBSERVER),
        content_item("CONTAINS", "TEXT", code("121071", "DCM", "Finding"),
                     TextValue="HAWTHRIDGE has a small nodule"),
    )
    engine_for(rows).deidentify(ds)
    assert ds.ContentSequence[0].PersonName == Pseudonymizer(SECRET).name(OBSERVER)
    assert ds.ContentSequence[1].TextValue == "has a small nodule"


def test_rows_that_remove_or_replace_a_name_are_applied_as_written():
    pname = content_item("HAS OBS CONTEXT", "PNAME", code("121008", "DCM", "Observer"),
                         PersonName=OBSERVER)
    removed = with_items(copy.deepcopy(pname))
    engine_for(KEEP_CONTENT + '"(0040, A123)",PN,Person Name,,X,\n').deidentify(removed)
    assert "PersonName" not in removed.ContentSequence[0]
    literal = with_items(copy.deepcopy(pname))
    engine_for(
        KEEP_CONTENT + '"(0040, A123)",PN,Person Name,,replaceWithLiteral,READER\n'
    ).deidentify(literal)
    assert literal.ContentSequence[0].PersonName == "READER"


def test_dates_and_uids_without_a_row_are_shifted_and_replaced():
    ds = with_items(
        content_item("HAS ACQ CONTEXT", "DATE", code("111060", "DCM", "Study Date"),
                     Date=ITEM_DATE),
        content_item("HAS OBS CONTEXT", "UIDREF", code("121018", "DCM", "Procedure UID"),
                     UID=UIDREF_VALUES[0]),
    )
    engine = engine_for(KEEP_CONTENT)
    engine.deidentify(ds)
    offset = days_between(ds.ContentSequence[0].Date, ITEM_DATE)
    ctx = ActionContext(pseudonyms=engine.pseudonyms, patient_key=f"PatientID:{PATIENT_ID}")
    assert offset == ctx.day_offset() != 0
    assert ds.ContentSequence[1].UID == engine.pseudonyms.uid(UIDREF_VALUES[0])


def test_a_kept_date_row_keeps_item_dates_like_full_dates_retention():
    ds = with_items(
        content_item("HAS ACQ CONTEXT", "DATE", code("111060", "DCM", "Study Date"),
                     Date=ITEM_DATE),
    )
    engine_for(KEEP_CONTENT + '"(0040, A121)",DA,Date,,keep,\n').deidentify(ds)
    assert ds.ContentSequence[0].Date == ITEM_DATE


def test_upstream_cleaned_text_wins_by_tag_path():
    ds = with_items(
        content_item("CONTAINS", "TEXT", code("121071", "DCM", "Finding"),
                     TextValue="HAWTHRIDGE nodule"),
    )
    cleaned = {"(0040,A730)[0].(0040,A160)": "NER SAYS nodule"}
    engine_for(KEEP_CONTENT).deidentify(ds, cleaned_texts=cleaned)
    assert ds.ContentSequence[0].TextValue == "NER SAYS nodule"


def test_acquisition_context_items_are_content_items_too():
    numeric = content_item("", "NUM", code("122130", "DCM", "Dose"), NumericValue="12.5")
    numeric.MeasurementUnitsCodeSequence = [code("mGy", "UCUM", "mGy")]
    numeric.ReferencedFrameNumbers = [1, 2]
    ds = with_items()
    ds.AcquisitionContextSequence = [
        content_item("", "PNAME", code("121008", "DCM", "Operator"), PersonName=OBSERVER),
        content_item("", "TEXT", code("121106", "DCM", "Comment"),
                     TextValue="Contrast given by Hawthridge"),
        numeric,
    ]
    for item in ds.AcquisitionContextSequence:
        del item.RelationshipType
    engine_for('"(0040, 0555)",SQ,Acquisition Context Sequence,,keep,\n').deidentify(ds)
    operator, comment, dose = ds.AcquisitionContextSequence
    assert operator.PersonName == Pseudonymizer(SECRET).name(OBSERVER)
    assert comment.TextValue == "Contrast given by"
    assert str(dose.NumericValue) == "12.5" and list(dose.ReferencedFrameNumbers) == [1, 2]
    assert dose.MeasurementUnitsCodeSequence[0].CodeValue == "mGy"


def test_header_terms_are_gathered_only_for_files_with_narrative_text(monkeypatch):
    calls = []
    real = sc.header_terms_of
    monkeypatch.setattr(sc, "header_terms_of", lambda ds: calls.append(1) or real(ds))
    plain = with_items(content_item("CONTAINS", "CODE", code("1", "99X", "Finding")))
    assert not sc.holds_narrative_text(plain)
    assert sc.NarrativeTextCleaner.for_dataset(plain).header == ()
    assert calls == []
    texted = planted_sr()
    assert sc.holds_narrative_text(texted)
    cleaner = sc.NarrativeTextCleaner.for_dataset(texted)
    assert calls == [1]
    assert any(term.value == VERIFIERS[0] for term in cleaner.header)
    assert sc.shared_detector() is sc.shared_detector()


# --------------------------------------------------------------------------- graphics


def presentation_state() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.11.1"  # Grayscale Softcopy Presentation State
    ds.SOPInstanceUID = ROOT + "9.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ROOT + "9.2", ROOT + "9.3"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT, PATIENT_ID, BIRTH_DATE
    ds.Modality = "PR"
    ds.ContentLabel = "ANNOTATIONS"
    ds.ContentCreatorName = AUTHOR
    reference = Dataset()
    reference.ReferencedSOPClassUID = CTImageStorage
    reference.ReferencedSOPInstanceUID = REFERENCED_SOP
    named, clinical = Dataset(), Dataset()
    named.UnformattedTextValue = f"{PATIENT.replace('^', ' ')} 07/04/1962 {PATIENT_ID}"
    clinical.UnformattedTextValue = "Left upper lobe nodule 8 mm"
    for text in (named, clinical):
        text.BoundingBoxAnnotationUnits = "PIXEL"
        text.BoundingBoxTopLeftHandCorner = [10.0, 10.0]
        text.BoundingBoxBottomRightHandCorner = [120.0, 24.0]
        text.BoundingBoxTextHorizontalJustification = "LEFT"
    line = Dataset()
    line.GraphicAnnotationUnits = "PIXEL"
    line.GraphicDimensions = 2
    line.NumberOfGraphicPoints = 2
    line.GraphicData = [30.0, 40.0, 60.0, 80.0]
    line.GraphicType = "POLYLINE"
    line.GraphicFilled = "N"
    annotation = Dataset()
    annotation.GraphicLayer = "LAYER1"
    annotation.ReferencedImageSequence = [reference]
    annotation.TextObjectSequence = [named, clinical]
    annotation.GraphicObjectSequence = [line]
    ds.GraphicAnnotationSequence = [annotation]
    return ds


def test_graphic_annotation_rows_come_from_the_table():
    for source, action in (("basic", "D"), ("tcia", "D"), ("basic+clean-graphics", "C")):
        rule = load_strategy(resolve_strategy(source).csv_text).rule_for(0x00700001)
        assert rule is not None and rule.action == action


@pytest.mark.parametrize("profile", ["basic", "tcia", "basic+clean-graphics"])
def test_text_objects_lose_phi_and_keep_their_clinical_words(profile):
    result, out = run(presentation_state(), profile)
    assert scan_for_strings(result, NEEDLES + ("07/04/1962",)) == []
    assert scan_bytes(out, NEEDLES + ("07/04/1962",)) == []
    [annotation] = result.GraphicAnnotationSequence
    named, clinical = annotation.TextObjectSequence
    assert clinical.UnformattedTextValue == "Left upper lobe nodule 8 mm"
    assert not str(named.UnformattedTextValue or "").strip()
    assert list(annotation.GraphicObjectSequence[0].GraphicData) == [30.0, 40.0, 60.0, 80.0]
    assert annotation.GraphicLayer == "LAYER1"
    reference = annotation.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert reference == Pseudonymizer(SECRET).uid(REFERENCED_SOP)
    claimed = [i.CodeValue for i in result.DeidentificationMethodCodeSequence]
    assert ("113103" in claimed) == (profile == "basic+clean-graphics")
