"""The synthetic DICOM factory and the leak detectors the acceptance tests rely on."""

from __future__ import annotations

import csv
import io
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

from tests.factories import (
    MODALITIES,
    PRIVATE_TAGS,
    RESEARCH_KEYWORDS,
    UNKNOWN_PRIVATE_CREATOR,
    UNKNOWN_PRIVATE_GROUP,
    Corpus,
    SyntheticPatient,
    available_transfer_syntaxes,
    build_study,
    pseudo_word,
    pydicom_pixel_files,
    pydicom_unreadable_files,
    scan_bytes,
    scan_for_strings,
    write_corpus,
)

KB_CSV = Path(__file__).resolve().parents[2] / "sparkdeid" / "data"
KB_CSV = KB_CSV / "tcia-private-tag-kb-2024-02-01.csv"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def _roundtrip(ds):
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return dcmread(io.BytesIO(buffer.getvalue()))


# -- patients ---------------------------------------------------------------


def test_patient_is_reproducible_and_seed_dependent() -> None:
    assert SyntheticPatient.from_seed(7) == SyntheticPatient.from_seed(7)
    assert SyntheticPatient.from_seed(7).name != SyntheticPatient.from_seed(8).name


def test_patient_values_have_the_promised_shape() -> None:
    for seed in range(20):
        p = SyntheticPatient.from_seed(seed, n_studies=3)
        for pn in (p.name, p.referring_physician, p.operator, p.mother_birth_name):
            parts = [part for part in pn.split("^") if part and part != "DR"]
            assert parts and all(len(part) >= 5 and part.isalpha() for part in parts)
        for pid in (p.patient_id, *p.other_patient_ids):
            assert pid.isdigit() and 7 <= len(pid) <= 10
        assert len(p.accession_numbers) == len(p.study_dates) == 3
        assert len(set(p.study_dates)) == 3
        assert 18 <= int(p.age_at(p.study_dates[0])[:3]) < 90
        assert p.email.endswith(".example")


def test_pseudo_words_avoid_dicom_and_deid_vocabulary() -> None:
    from pydicom.datadict import DicomDictionary

    rng = random.Random(0)
    words = {pseudo_word(rng) for _ in range(500)}
    vocabulary = " ".join(f"{e[2]} {e[4]}" for e in DicomDictionary.values()).lower()
    for word in words:
        assert 5 <= len(word) <= 10 and word.isupper()
        assert word.lower() not in vocabulary
        assert word not in {"ANONYMOUS", "REMOVED", "PATIENT"}


# -- corpus on disk ---------------------------------------------------------


def test_default_corpus_layout(corpus: Corpus) -> None:
    assert len(corpus) == 24
    assert len(corpus.patients) == 3
    suffixes = Counter(f.path.suffix for f in corpus)
    assert suffixes[".dcm"] and suffixes[""]
    for f in corpus:
        assert f.path.is_file()
        assert len(f.path.relative_to(corpus.root).parts) == 3  # patient/study/file
    assert len({f.sop_instance_uid for f in corpus}) == 24
    assert len({f.study_uid for f in corpus}) == 6
    assert len({f.series_uid for f in corpus}) == 12


def test_default_corpus_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    write_corpus(tmp_path, seed=5)
    assert time.perf_counter() - start < 3


def test_every_file_is_valid_dicom(corpus: Corpus) -> None:
    for f in corpus:
        raw = f.path.read_bytes()
        assert raw[128:132] == b"DICM"
        ds = dcmread(f.path)
        meta = ds.file_meta
        assert meta.TransferSyntaxUID == f.transfer_syntax
        assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == f.sop_instance_uid
        assert meta.MediaStorageSOPClassUID == ds.SOPClassUID == f.sop_class_uid
        spec = MODALITIES[ds.Modality]
        expected = spec.multiframe_sop_class_uid if f.n_frames > 1 else spec.sop_class_uid
        assert ds.SOPClassUID == expected
        assert ds.StudyInstanceUID == f.study_uid
        assert ds.SeriesInstanceUID == f.series_uid
        assert ds.FrameOfReferenceUID == f.frame_of_reference_uid
        assert ds.AccessionNumber == f.accession_number


def test_pixels_decode_in_every_transfer_syntax(corpus: Corpus) -> None:
    seen = Counter(f.transfer_syntax for f in corpus)
    assert set(seen) == set(available_transfer_syntaxes())
    for f in corpus:
        ds = dcmread(f.path)
        arr = ds.pixel_array
        shape = (64, 64, 3) if ds.SamplesPerPixel == 3 else (64, 64)
        assert arr.shape == ((f.n_frames, *shape) if f.n_frames > 1 else shape)
        assert arr.max() > arr.min()


def test_corpus_has_one_multiframe_instance(corpus: Corpus) -> None:
    multi = [f for f in corpus if f.n_frames > 1]
    assert len(multi) == 1
    assert dcmread(multi[0].path).NumberOfFrames == 3


@pytest.mark.parametrize("modality", sorted(MODALITIES))
def test_each_syntax_round_trips_losslessly(modality: str) -> None:
    patient = SyntheticPatient.from_seed(3)

    def pixels(ts: str) -> np.ndarray:
        (ds,) = build_study(
            patient, seed=1, modality=modality, n_series=1, n_instances=1, transfer_syntax=ts
        )
        read = _roundtrip(ds)
        assert read.file_meta.TransferSyntaxUID == ts
        return read.pixel_array

    reference = pixels(ExplicitVRLittleEndian)
    for ts in available_transfer_syntaxes():
        assert np.array_equal(pixels(ts), reference), ts


def test_multiframe_round_trips_in_every_syntax() -> None:
    patient = SyntheticPatient.from_seed(4)
    for modality in ("US", "CT"):
        for ts in available_transfer_syntaxes():
            (ds,) = build_study(
                patient, seed=2, modality=modality, n_series=1, n_instances=1,
                transfer_syntax=ts, n_frames=3,
            )  # fmt: skip
            arr = _roundtrip(ds).pixel_array
            assert arr.shape[0] == 3
            assert not np.array_equal(arr[0], arr[2])  # frames differ


def test_build_study_rejects_bad_arguments() -> None:
    patient = SyntheticPatient.from_seed(1, n_studies=1)
    with pytest.raises(ValueError, match="modality"):
        build_study(patient, seed=0, modality="PET")
    with pytest.raises(ValueError, match="study_index"):
        build_study(patient, seed=0, study_index=1)
    with pytest.raises(ValueError, match="transfer syntax"):
        build_study(patient, seed=0, transfer_syntax="1.2.840.10008.1.2.4.50")


# -- ground truth -----------------------------------------------------------


def test_every_planted_phi_string_is_found_by_the_scanner(corpus: Corpus) -> None:
    for f in corpus:
        ds = dcmread(f.path)
        found = {needle for _, needle in scan_for_strings(ds, f.phi)}
        assert found == set(f.phi), sorted(set(f.phi) - found)
    assert corpus.phi_strings() >= set().union(*(f.phi for f in corpus))


def test_original_uids_are_found(corpus: Corpus) -> None:
    uids = corpus.original_uids()
    assert {f.sop_instance_uid for f in corpus} <= uids
    for f in corpus.files[:4]:
        found = {needle for _, needle in scan_for_strings(dcmread(f.path), f.uids)}
        assert found == set(f.uids)


def test_scanner_reaches_nested_private_meta_and_pn_groups(corpus: Corpus) -> None:
    f = next(file for file in corpus if file.transfer_syntax == ExplicitVRLittleEndian)
    p = f.patient
    ds = dcmread(f.path)
    hits = scan_for_strings(ds, [p.reading_physician.split("^")[0]])
    paths = {path for path, _ in hits}
    assert "(0040,A730)[0].(0040,A730)[0].(0040,A123)" in paths  # PN two levels deep
    assert "(0008,1060)" in paths
    # Nickname lives only in the phonetic group of an OtherPatientNames value.
    assert {path for path, _ in scan_for_strings(ds, [p.nickname])} == {"(0010,1001)"}
    # Unknown private creator: PN, OB bytes and UN bytes.
    group = f"{UNKNOWN_PRIVATE_GROUP:04X}"
    assert (f"({group},1001)", p.family_name) in scan_for_strings(ds, [p.family_name])
    assert (f"({group},1002)", p.email) in scan_for_strings(ds, [p.email])
    assert (f"({group},1003)", p.phone) in scan_for_strings(ds, [p.phone])
    # Private block inside a sequence item.
    nested = f"(0040,0275)[0].({group},1001)"
    assert (nested, p.other_patient_ids[0]) in scan_for_strings(ds, [p.other_patient_ids[0]])
    # File meta.
    assert ("(0002,0016)", p.station_name) in scan_for_strings(ds, [p.station_name])
    # Multi-valued elements, case-insensitively.
    hits = scan_for_strings(ds, [p.other_patient_ids[1].lower(), p.given_name.lower()])
    assert ("(0010,1000)", p.other_patient_ids[1].lower()) in hits
    assert ("(0010,1001)", p.given_name.lower()) in hits


def test_scanner_reads_private_values_as_un_in_implicit_files(corpus: Corpus) -> None:
    f = next(file for file in corpus if file.transfer_syntax == "1.2.840.10008.1.2")
    ds = dcmread(f.path)
    elem = ds[(UNKNOWN_PRIVATE_GROUP << 16) | 0x1001]
    assert elem.VR == "UN" and isinstance(elem.value, bytes)
    found = {needle for _, needle in scan_for_strings(ds, [f.patient.family_name])}
    assert found == {f.patient.family_name}


@pytest.mark.filterwarnings("ignore::UserWarning")  # some bundled files are odd on purpose
def test_scanner_has_no_false_positives(tmp_path: Path, corpus: Corpus) -> None:
    other = write_corpus(tmp_path, n_patients=1, studies_per_patient=1, seed=99)
    needles = other.phi_strings() | other.original_uids()
    for f in corpus:
        assert scan_for_strings(dcmread(f.path), needles) == []
        assert scan_bytes(f.path.read_bytes(), needles) == []
    # Nor in real files: the pseudo-words are not DICOM vocabulary.
    for path in pydicom_pixel_files():
        assert scan_for_strings(dcmread(path), corpus.phi_strings()) == []


def test_pixel_data_is_scanned_only_on_request(corpus: Corpus) -> None:
    f = next(file for file in corpus if file.transfer_syntax == ExplicitVRLittleEndian)
    ds = dcmread(f.path)
    ds.PixelData = b"..." + f.patient.patient_id.encode() + b"..."
    assert ("(7FE0,0010)", f.patient.patient_id) not in scan_for_strings(ds, [f.patient.patient_id])
    hits = scan_for_strings(ds, [f.patient.patient_id], include_pixel_data=True)
    assert ("(7FE0,0010)", f.patient.patient_id) in hits


def test_scan_bytes_finds_values_in_raw_files_even_deflated(corpus: Corpus) -> None:
    for f in corpus:
        needles = [f.patient.patient_id, f.patient.email, f.accession_number, f.sop_instance_uid]
        assert scan_bytes(f.path.read_bytes(), needles) == needles, f.transfer_syntax
    deflated = next(f for f in corpus if f.transfer_syntax == DeflatedExplicitVRLittleEndian)
    raw = deflated.path.read_bytes()
    assert deflated.patient.patient_id.encode() not in raw  # really compressed
    assert scan_bytes(raw, [deflated.patient.given_name.lower()]) == [
        deflated.patient.given_name.lower()
    ]
    assert scan_bytes(b"no dicom here", ["dicom", "absent"]) == ["dicom"]


def test_same_seed_same_corpus_other_seed_other_corpus(tmp_path: Path) -> None:
    a = write_corpus(tmp_path / "a", n_patients=1, seed=11)
    b = write_corpus(tmp_path / "b", n_patients=1, seed=11)
    c = write_corpus(tmp_path / "c", n_patients=1, seed=12)
    assert {f.transfer_syntax for f in a} == set(available_transfer_syntaxes())
    assert a.phi_strings() == b.phi_strings()
    assert a.original_uids() == b.original_uids()
    for fa, fb in zip(a, b, strict=True):
        assert fa.path.read_bytes() == fb.path.read_bytes()
    assert a.patients[0].name != c.patients[0].name
    assert a.original_uids().isdisjoint(c.original_uids())


def test_references_point_to_instances_of_the_same_series(corpus: Corpus) -> None:
    by_uid = corpus.by_sop_instance_uid()
    for f in corpus:
        assert f.references
        ds = dcmread(f.path)
        listed = {item.ReferencedSOPInstanceUID for item in ds.ReferencedImageSequence}
        listed |= {item.ReferencedSOPInstanceUID for item in ds.get("SourceImageSequence", [])}
        assert listed == set(f.references)
        for ref in f.references:
            assert ref != f.sop_instance_uid
            assert by_uid[ref].series_uid == f.series_uid
        for item in ds.ReferencedImageSequence:
            assert item.ReferencedSOPClassUID == by_uid[item.ReferencedSOPInstanceUID].sop_class_uid
        assert ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID == f.study_uid
    for_by_study: dict[str, set[str]] = {}
    for f in corpus:
        for_by_study.setdefault(f.study_uid, set()).add(f.frame_of_reference_uid)
    assert all(len(v) == 1 for v in for_by_study.values())


def test_dates_match_files_and_differ_between_studies(corpus: Corpus) -> None:
    for f in corpus:
        ds = dcmread(f.path)
        assert f.dates and all(ds[kw].value == value for kw, value in f.dates.items())
        assert all(ds[kw].value == value for kw, value in f.times.items())
        assert f.dates["StudyDate"] == f.patient.study_dates[f.study_index]
        assert f.private[(0x0019, "GEMS_ACQU_01", 0x9D)] == f.times["AcquisitionDateTime"][:14]
    for patient in corpus.patients:
        study_dates = {f.study_index: f.dates["StudyDate"] for f in corpus if f.patient == patient}
        assert study_dates[0] != study_dates[1]
    # Post-processed series carry a later ContentDate, so intervals are not all zero.
    assert any(f.dates["ContentDate"] != f.dates["StudyDate"] for f in corpus)


def test_free_text_mixes_phi_with_words_to_keep(corpus: Corpus) -> None:
    for f in corpus:
        ds = dcmread(f.path)
        for keyword, words in f.keep_words.items():
            value = str(ds[keyword].value)
            assert words and all(word in value for word in words), keyword
        p = f.patient
        assert p.family_name in ds.StudyDescription
        assert p.birth_date[:4] in ds.StudyDescription  # as MM/DD/YYYY
        assert p.phone in ds.AdditionalPatientHistory and p.email in ds.ImageComments
        assert p.email in ds.PatientComments


def test_research_attributes_and_procedure_code_present(corpus: Corpus) -> None:
    always = {"Modality", "Rows", "Columns", "BodyPartExamined", "Manufacturer",
              "ManufacturerModelName", "PatientSex", "PatientAge", "PatientWeight"}  # fmt: skip
    for f in corpus:
        ds = dcmread(f.path)
        assert always <= {kw for kw in RESEARCH_KEYWORDS if kw in ds}
        assert ds.PatientAge.endswith("Y") and int(ds.PatientAge[:3]) < 90
        if f.modality in ("CT", "MR"):
            for kw in ("PixelSpacing", "SliceThickness", "ImagePositionPatient"):
                assert kw in ds
        if f.modality == "CT":
            assert ds.KVP == 120
        code = ds.ProcedureCodeSequence[0]
        assert code.CodeValue == MODALITIES[f.modality].procedure_code


def _kb_dispositions() -> dict[tuple[int, str, int], set[str]]:
    table: dict[tuple[int, str, int], set[str]] = {}
    with open(KB_CSV, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            pattern = row["element_sig_pattern"]
            if "[" in pattern:  # nested pattern
                continue
            group, rest = pattern.strip("()").split(",", 1)
            creator, element = rest.rsplit(",", 1)
            key = (int(group, 16), creator.rstrip('"'), int(element, 16))
            table.setdefault(key, set()).add(row["private_disposition"].strip().lower())
    return table


def test_private_tags_have_the_documented_tcia_dispositions(corpus: Corpus) -> None:
    kb = _kb_dispositions()
    for key, disposition in PRIVATE_TAGS.items():
        assert kb[key] == {disposition}, key
    assert not any(creator == UNKNOWN_PRIVATE_CREATOR for _, creator, _ in kb)
    ds = dcmread(corpus.files[1].path)
    for (group, creator, offset), value in corpus.files[1].private.items():
        block = ds.private_block(group, creator)
        assert str(block[offset].value) == value


def test_burned_in_text_is_drawn_inside_its_boxes() -> None:
    pytest.importorskip("PIL")
    patient = SyntheticPatient.from_seed(5)
    kwargs: dict[str, Any] = {
        "seed": 0, "modality": "OT", "n_series": 1, "n_instances": 1, "image_size": 96
    }  # fmt: skip
    (plain,) = build_study(patient, **kwargs)
    (burned,) = build_study(patient, burn_in_text=True, **kwargs)
    diff = plain.pixel_array != burned.pixel_array
    assert diff.any()
    ys, xs = np.nonzero(diff)
    assert xs.min() >= 0 and ys.min() >= 0 and xs.max() < 96 and ys.max() < 40


def test_write_corpus_records_burned_text_boxes(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    corpus = write_corpus(
        tmp_path, n_patients=1, studies_per_patient=1, series_per_study=1,
        instances_per_series=1, image_size=96, burn_in_text=True,
    )  # fmt: skip
    (f,) = corpus.files
    texts = [text for text, _ in f.burned_text]
    assert texts[0] == f.patient.family_name and texts[1].count("/") == 2
    arr = dcmread(f.path).pixel_array
    frames = arr if f.n_frames > 1 else arr[None]
    for _, (x0, y0, x1, y1) in f.burned_text:
        assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
        assert (frames[:, y0:y1, x0:x1].max(axis=(1, 2)) == (1 << 12) - 1).all()


# -- pydicom's bundled files ------------------------------------------------


def test_pydicom_pixel_files_read_and_hold_pixel_data() -> None:
    files = pydicom_pixel_files()
    assert len(files) > 50
    for path in files[:: max(1, len(files) // 20)]:
        assert "PixelData" in dcmread(path, stop_before_pixels=False, defer_size=256)


def test_pydicom_unreadable_files_raise() -> None:
    files = pydicom_unreadable_files()
    assert files and set(files).isdisjoint(pydicom_pixel_files())
    for path in files:
        with pytest.raises(InvalidDicomError):
            dcmread(path)
