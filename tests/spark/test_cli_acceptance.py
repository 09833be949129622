"""Acceptance for `sparkdeid deid --metadata-only` on real and synthetic files."""

from __future__ import annotations

import io
import os
import re
import shutil
from collections import defaultdict
from datetime import datetime

import pandas as pd
import pydicom
import pytest

from sparkdeid.cli import main
from sparkdeid.dicom.frames import transfer_syntax_of
from tests.factories import (
    pydicom_pixel_files,
    pydicom_unreadable_files,
    scan_bytes,
    scan_for_strings,
    write_corpus,
)

pytestmark = pytest.mark.spark

RESEARCH_CRITICAL = (
    "Rows", "Columns", "Modality", "PixelSpacing", "BitsAllocated", "BitsStored",
    "SamplesPerPixel", "PhotometricInterpretation", "NumberOfFrames", "SliceThickness",
    "ImageOrientationPatient", "ImagePositionPatient", "RescaleSlope", "RescaleIntercept",
    "SOPClassUID", "PatientSex", "PatientAge",
)


def _manifest(output: str) -> pd.DataFrame:
    return pd.read_csv(os.path.join(output, "_manifest.csv"), dtype={"error": "string"})


@pytest.fixture(scope="module")
def bundled_run(spark, tmp_path_factory):
    source = tmp_path_factory.mktemp("bundled")
    pixel_files = pydicom_pixel_files()
    unreadable = pydicom_unreadable_files()
    names: dict[str, str] = {}
    for index, path in enumerate(pixel_files + unreadable):
        relative = f"{index:03d}_{os.path.basename(path)}"
        shutil.copy(path, source / relative)
        names[relative] = path
    output = str(tmp_path_factory.mktemp("bundled-out"))
    code = main(["deid", "--input", str(source), "--output", output, "--metadata-only"])
    return source, output, names, code, set(pixel_files)


# What a bundled file that is not written may be refused for: a defect of the file itself.
INPUT_DEFECT = re.compile(r"^(not a DICOM (file|dataset)|truncated DICOM|malformed DICOM)")


def test_every_bundled_file_is_accounted_for(bundled_run, capsys):
    source, output, names, code, _ = bundled_run
    manifest = _manifest(output)
    assert code == 0
    assert len(manifest) == len(names)
    assert set(manifest["status"]) <= {"ok", "error"}
    errors = manifest[manifest["status"] == "error"]
    with capsys.disabled():
        print(f"\npydicom bundled files: {len(manifest) - len(errors)}/{len(manifest)} written, "
              f"{len(errors)} error rows")
    for _, row in errors.iterrows():
        assert row["output_path"].startswith(os.path.join(output, "_quarantine"))
        assert os.path.exists(row["output_path"])
        assert INPUT_DEFECT.match(row["error"]), row["error"]  # never our own failure


def test_bundled_pixel_files_keep_pixels_and_research_attributes(bundled_run):
    source, output, names, _, pixel_files = bundled_run
    manifest = _manifest(output).set_index("input_path")
    checked = 0
    for relative, original_path in names.items():
        if original_path not in pixel_files:
            continue
        row = manifest.loc[os.path.join(str(source), relative)]
        original = pydicom.dcmread(original_path, force=True)
        if row["status"] != "ok":
            # Only files pydicom itself cannot fully parse may fail.
            with pytest.raises(Exception):  # noqa: B017
                for elem in original.iterall():
                    elem.value  # noqa: B018
                original.PixelData  # noqa: B018
                raise ValueError("readable but failed")
            continue
        result = pydicom.dcmread(row["output_path"])
        original_syntax = original.file_meta.get("TransferSyntaxUID")
        if original_syntax is None:  # no file meta: written in the encoding it was read in
            implicit = original.original_encoding[0]
            original_syntax = "1.2.840.10008.1.2" if implicit else "1.2.840.10008.1.2.1"
        assert result.file_meta.TransferSyntaxUID == original_syntax, relative
        assert result.PixelData == original.PixelData, relative
        for keyword in RESEARCH_CRITICAL:
            if keyword in original:
                assert result.get(keyword) == original.get(keyword), (relative, keyword)
        if "SOPInstanceUID" in original:
            assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
            assert result.SOPInstanceUID != original.SOPInstanceUID
        assert result.PatientIdentityRemoved == "YES"
        checked += 1
    assert checked >= 0.9 * len(pixel_files)


def test_files_plain_dcmread_refuses_are_errors_or_valid_outputs(bundled_run):
    """Non-DICOM files fail; bare datasets without a preamble are processed."""
    source, output, names, _, pixel_files = bundled_run
    manifest = _manifest(output).set_index("input_path")
    refused = [r for r, p in names.items() if p not in pixel_files]
    statuses = {}
    for relative in refused:
        row = manifest.loc[os.path.join(str(source), relative)]
        statuses[relative] = row["status"]
        if row["status"] == "ok":
            result = pydicom.dcmread(row["output_path"])  # now a valid Part 10 file
            assert result.PatientIdentityRemoved == "YES"
    assert "error" in statuses.values()
    assert all(statuses[r] == "error" for r in refused if r.endswith((".txt", ".json", ".gz")))


def _run_corpus(tmp_path, name, secret_file, seed=7):
    corpus = write_corpus(tmp_path / f"{name}-in", n_patients=3, seed=seed)
    output = str(tmp_path / f"{name}-out")
    code = main(["deid", "--input", str(corpus.root), "--output", output,
                 "--secret-file", secret_file, "--metadata-only"])
    assert code == 0
    return corpus, output


def _outputs(corpus, output):
    result = {}
    for item in corpus:
        target = os.path.join(output, os.path.relpath(item.path, corpus.root))
        with open(target, "rb") as handle:
            data = handle.read()
        result[item.sop_instance_uid] = (item, pydicom.dcmread(io.BytesIO(data)), data)
    return result


@pytest.fixture(scope="module")
def synthetic(spark, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("synthetic")
    secret = tmp_path / "secret"
    secret.write_text("first-secret")
    other = tmp_path / "other"
    other.write_text("second-secret")
    corpus, out1 = _run_corpus(tmp_path, "run1", str(secret))
    _, out2 = _run_corpus(tmp_path, "run2", str(secret))
    _, out3 = _run_corpus(tmp_path, "run3", str(other))
    return corpus, _outputs(corpus, out1), _outputs(corpus, out2), _outputs(corpus, out3)


def test_no_planted_phi_survives_anywhere(synthetic):
    corpus, outputs, _, _ = synthetic
    needles = corpus.phi_strings()
    assert len(needles) > 50
    for item, ds, data in outputs.values():
        assert scan_for_strings(ds, needles) == [], item.path
        assert scan_bytes(data, needles) == [], item.path


def test_every_uid_changed_and_consistent_across_runs_and_secrets(synthetic):
    corpus, first, second, other = synthetic
    originals = corpus.original_uids()
    for uid, (_item, ds, _) in first.items():
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
                        "FrameOfReferenceUID"):
            value = str(ds.get(keyword, ""))
            if value:
                assert value not in originals and value.startswith("2.25.")
                assert value == str(second[uid][1].get(keyword))
                assert value != str(other[uid][1].get(keyword))
        assert scan_for_strings(ds, originals) == []


def test_references_still_resolve(synthetic):
    corpus, outputs, _, _ = synthetic
    new_sop_uids = {str(ds.SOPInstanceUID) for _, ds, _ in outputs.values()}
    checked = 0
    for item, ds, _ in outputs.values():
        if not item.references:
            continue
        referenced = {
            str(elem.value)
            for elem in ds.iterall()
            if elem.keyword == "ReferencedSOPInstanceUID"
        }
        assert referenced and referenced <= new_sop_uids
        checked += 1
    assert checked > 0


def test_date_intervals_within_a_patient_preserved(synthetic):
    corpus, outputs, _, _ = synthetic
    by_patient: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    shifted_any = False
    for item, ds, _ in outputs.values():
        for keyword, original in item.dates.items():
            new = ds.get(keyword)
            assert new, (keyword, item.path)
            pair = (datetime.strptime(original, "%Y%m%d"), datetime.strptime(str(new), "%Y%m%d"))
            by_patient[item.patient.patient_id].append(pair)
            shifted_any |= pair[0] != pair[1]
    assert shifted_any
    for pairs in by_patient.values():
        offsets = {(new - old).days for old, new in pairs}
        assert len(offsets) == 1 and 0 not in offsets
    assert len({next(iter({(n - o).days for o, n in p})) for p in by_patient.values()}) > 1


def test_type_1_and_2_attributes_still_present(synthetic):
    _, outputs, _, _ = synthetic
    required = ("PatientName", "PatientID", "StudyDate", "StudyTime", "AccessionNumber",
                "ReferringPhysicianName", "StudyID", "SOPInstanceUID", "StudyInstanceUID",
                "SeriesInstanceUID", "Modality", "SOPClassUID")
    for item, ds, _ in outputs.values():
        for keyword in required:
            assert keyword in ds, (keyword, item.path)


@pytest.fixture(scope="module")
def full_bundled_run(spark, tmp_path_factory):
    """The default `deid` (pixels + metadata) over every bundled pydicom file."""
    source = tmp_path_factory.mktemp("bundled-full")
    names: dict[str, str] = {}
    for index, path in enumerate(pydicom_pixel_files() + pydicom_unreadable_files()):
        relative = f"{index:03d}_{os.path.basename(path)}"
        shutil.copy(path, source / relative)
        names[relative] = path
    output = str(tmp_path_factory.mktemp("bundled-full-out"))
    code = main(["deid", "--input", str(source), "--output", output])
    return output, names, code


def test_full_pipeline_accounts_for_every_bundled_file(full_bundled_run):
    output, names, code = full_bundled_run
    manifest = _manifest(output)
    assert code == 0 and len(manifest) == len(names)
    errors = manifest[manifest["status"] == "error"]
    assert not errors["error"].str.startswith("internal error").any(), list(errors["error"])
    decodable = 0
    for _, row in manifest[manifest["status"] == "ok"].iterrows():
        original = pydicom.dcmread(names[os.path.basename(row["input_path"])], force=True)
        out = pydicom.dcmread(row["output_path"])
        if "PixelData" not in original:
            continue
        decodable += 1
        assert transfer_syntax_of(out) == transfer_syntax_of(original)
        assert out.get("NumberOfFrames", 1) == original.get("NumberOfFrames", 1)
        assert out.PhotometricInterpretation == original.PhotometricInterpretation
    assert decodable >= 100  # most real files go through the pixel path, not around it


def test_full_pipeline_leaves_text_free_real_files_pixel_identical(full_bundled_run):
    output, names, _ = full_bundled_run
    for relative, original_path in names.items():
        if os.path.basename(original_path) not in ("CT_small.dcm", "MR_small.dcm",
                                                   "JPEG2000.dcm", "MR2_J2KI.dcm",
                                                   "RG1_UNCR.dcm", "SC_rgb.dcm"):
            continue
        out = pydicom.dcmread(os.path.join(output, relative))
        original = pydicom.dcmread(original_path, force=True)
        assert out["PixelData"].value == original["PixelData"].value
        assert out.BurnedInAnnotation == "NO"


def test_full_pipeline_cli_masks_burned_in_text(spark, tmp_path, secret_file):
    from tests.pixel_factory import build_pixel_corpus, score_corpus

    source = tmp_path / "in"
    corpus = build_pixel_corpus(source, seed=5, n_files=8)
    output = str(tmp_path / "out")
    code = main(["deid", "--input", str(source), "--output", output,
                 "--secret-file", secret_file])
    assert code == 0
    score = score_corpus(corpus, output)
    assert not score.missing and not score.errors
    assert score.phi_masked_rate >= 0.95, score.summary()
    assert score.no_text_identical_rate == 1.0, score.summary()
