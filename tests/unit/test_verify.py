"""``sparkdeid verify``: metadata and pixel re-scan of real de-identified outputs, and the report.

Originals come from the synthetic study factory (pseudo-word names, burned-in
text); outputs are made by the package's own metadata engine, then either
masked (the burned-in lines blacked out) or left leaking on purpose.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from sparkdeid import cli
from sparkdeid.dicom.codec import read_dataset, write_dataset
from sparkdeid.jobs.verify import (
    STATUS_CLEAN,
    STATUS_LEAK,
    STATUS_MISSING,
    STATUS_QUARANTINED,
    VerifyResult,
    verify,
)
from sparkdeid.jobs.verify_report import NO_ORIGINALS_NOTE, PHI_WARNING, render_report
from sparkdeid.metadata.engine import compiled_engine
from sparkdeid.verify.phi_values import PhiValue, find_in_dataset, mask_value, phi_values
from sparkdeid.verify.pixel_scan import changed_boxes
from tests.factories import SyntheticPatient, build_study, dataset_bytes, engine_config

SECRET = b"verify-test-secret-0123456789abc"
TEXT_ROWS = 60  # the factory burns its lines from the top-left corner down to about here


@dataclass
class Pair:
    relative: str
    original: Dataset
    output: Dataset | None


def _original(seed: int, size: int = 192) -> Dataset:
    patient = SyntheticPatient.from_seed(seed)
    return build_study(patient, seed=seed, modality="OT", n_series=1, n_instances=1,
                       image_size=size, burn_in_text=True)[0]


def _deidentified(original: Dataset, *, mask_pixels: bool) -> Dataset:
    output = read_dataset(dataset_bytes(original))
    compiled_engine(engine_config("basic", SECRET)).deidentify(output)
    if mask_pixels:
        arr = output.pixel_array.copy()
        arr[..., :TEXT_ROWS, :] = 0
        output.PixelData = arr.tobytes()
    return output


def _plant_leaks(output: Dataset, original: Dataset) -> None:
    """The original patient id in a nested sequence, its accession number in a private tag."""
    item = Dataset()
    item.PatientID = str(original.PatientID)
    item.TypeOfPatientID = "TEXT"
    output.OtherPatientIDsSequence = Sequence([item])
    block = output.private_block(0x0011, "SYNTHETIC VERIFY", create=True)
    block.add_new(0x10, "LO", str(original.AccessionNumber))


def _write(root: Path, relative: str, ds: Dataset, *, deidentified: bool = False) -> None:
    """Outputs are written as the product writes them (File Meta refreshed)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(write_dataset(ds) if deidentified else dataset_bytes(ds))


def make_folders(root: Path) -> dict[str, Pair]:
    """originals/ and deid/ with a clean pair, a leaking pair, a missing and a quarantined file."""
    originals, deid = root / "originals", root / "deid"
    pairs: dict[str, Pair] = {}
    clean = _original(11)
    pairs["clean"] = Pair("site/clean.dcm", clean, _deidentified(clean, mask_pixels=True))
    leaky = _original(12)
    leaked = _deidentified(leaky, mask_pixels=False)
    _plant_leaks(leaked, leaky)
    pairs["leak"] = Pair("site/nested/leak.dcm", leaky, leaked)
    pairs["missing"] = Pair("missing.dcm", _original(13), None)
    pairs["quarantined"] = Pair("broken.dcm", _original(14), None)
    for pair in pairs.values():
        _write(originals, pair.relative, pair.original)
        if pair.output is not None:
            _write(deid, pair.relative, pair.output, deidentified=True)
    (deid / "_quarantine").mkdir(parents=True)
    (deid / "_quarantine" / "broken.dcm").write_bytes(dataset_bytes(pairs["quarantined"].original))
    with open(deid / "_manifest.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["input_path", "output_path", "status", "error", "input_bytes",
                         "output_bytes", "input_id", "document_action"])
        writer.writerow([str(originals / "broken.dcm"), str(deid / "_quarantine" / "broken.dcm"),
                         "error", "could not encode", 1, "", "abc", ""])
        writer.writerow([str(originals / "site/clean.dcm"), str(deid / "site/clean.dcm"),
                         "ok", "", 1, 1, "def", ""])
    return pairs


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Pair]]:
    root = tmp_path_factory.mktemp("verify")
    return root, make_folders(root)


@pytest.fixture(scope="module")
def scanned(folders: tuple[Path, dict[str, Pair]]) -> VerifyResult:
    root, _ = folders
    return verify(str(root / "originals"), str(root / "deid"))


def _by_path(result: VerifyResult) -> dict[str, object]:
    return {f.relative_path: f for f in result.files}


def _secrets(original: Dataset) -> list[str]:
    """Raw PHI strings of an original that must never appear in a shareable report."""
    name = str(original.PatientName)
    values = [str(original.PatientID), str(original.AccessionNumber), name]
    values += [p for p in re.split(r"[\^ ]+", name) if len(p) >= 4]
    return [v for v in values if v]


# --------------------------------------------------------------------------- pure helpers


def test_mask_value_keeps_first_letter_only() -> None:
    assert mask_value("PATIENTFIVE") == "P**********"
    assert mask_value("AB") == "A**"
    assert mask_value("") == ""


def test_changed_boxes_finds_separate_areas() -> None:
    mask = np.zeros((100, 120), dtype=bool)
    mask[10:20, 10:50] = True
    mask[70:80, 90:110] = True
    boxes = changed_boxes(mask)
    assert sorted(boxes) == [(10, 10, 50, 20), (90, 70, 110, 80)]
    assert changed_boxes(np.zeros((10, 10), dtype=bool)) == []


def test_name_found_with_spaces_commas_and_reordered() -> None:
    value = PhiValue("name", "QUORVAN^TELIMA", ("PatientName",))
    for text in ("Quorvan Telima", "QUORVAN, TELIMA", "telima quorvan", "seen by Quorvan"):
        ds = Dataset()
        ds.StudyDescription = text
        found = find_in_dataset(ds, [value])
        assert [f.location for f in found] == ["StudyDescription"], text
    ds = Dataset()
    ds.StudyDescription = "QUORVANIA"  # not a whole word
    assert find_in_dataset(ds, [value]) == []


def test_dates_only_from_date_attributes_and_found_inside_datetimes() -> None:
    original = Dataset()
    original.StudyDate = "20190412"
    original.StudyID = "20200101"  # not a date attribute: an id, matched whole
    kinds = {(v.kind, v.value) for v in phi_values(original)}
    assert ("date", "20190412") in kinds
    assert ("date", "20200101") not in kinds
    output = Dataset()
    output.AcquisitionDateTime = "20190412103000"
    found = find_in_dataset(output, phi_values(original))
    assert [(f.location, f.kind) for f in found] == [("AcquisitionDateTime", "date")]


def test_trivial_values_are_ignored() -> None:
    original = Dataset()
    original.PatientName = "ANONYMOUS"
    original.PatientID = "12"
    original.OtherPatientIDs = "---"
    assert phi_values(original) == []


def test_bytes_of_un_elements_are_searched() -> None:
    original = Dataset()
    original.PatientID = "QX88120345"
    output = Dataset()
    block = output.private_block(0x0013, "SYNTHETIC", create=True)
    block.add_new(0x01, "UN", b"MRN=QX88120345;")
    found = find_in_dataset(output, phi_values(original))
    assert [f.location for f in found] == ["(0013,1001)"]
    assert found[0].sources == ("PatientID",)


# --------------------------------------------------------------------------- folders


def test_clean_pair_has_no_findings_and_shows_masked_regions(scanned: VerifyResult) -> None:
    clean = _by_path(scanned)["site/clean.dcm"]
    assert clean.status == STATUS_CLEAN, (clean.metadata, clean.pixels)
    assert clean.metadata == [] and clean.pixels == []
    assert clean.masked, "blacked-out lines are masked regions"
    assert all(r.after_png.startswith(b"\x89PNG") for r in clean.masked)
    assert all(r.before_png is None for r in clean.masked)
    assert all(r.box[1] < TEXT_ROWS for r in clean.masked)


def test_planted_leaks_are_found(scanned: VerifyResult) -> None:
    leak = _by_path(scanned)["site/nested/leak.dcm"]
    assert leak.status == STATUS_LEAK
    found = {(f.location, f.sources[0]) for f in leak.metadata}
    assert ("OtherPatientIDsSequence[0].PatientID", "PatientID") in found
    assert ("(0011,1010)", "AccessionNumber") in found


def test_unmasked_burned_in_name_is_found(scanned: VerifyResult) -> None:
    leak = _by_path(scanned)["site/nested/leak.dcm"]
    assert any("NAME" in f.label for f in leak.pixels), [f.label for f in leak.pixels]
    assert all(f.crop_png is None for f in leak.pixels)  # PHI crops only with originals
    assert leak.masked == []  # nothing was removed from its pixels


def test_missing_and_quarantined_are_listed(scanned: VerifyResult) -> None:
    files = _by_path(scanned)
    assert files["missing.dcm"].status == STATUS_MISSING
    assert files["broken.dcm"].status == STATUS_QUARANTINED
    assert scanned.missing == 1 and scanned.quarantined == 1
    assert scanned.files_checked == 2 and scanned.files_with_findings == 1
    assert not scanned.passed


def test_report_masks_values_and_says_originals_were_left_out(
    scanned: VerifyResult, folders: tuple[Path, dict[str, Pair]]
) -> None:
    _, pairs = folders
    html = render_report(scanned)
    for pair in pairs.values():
        for secret in _secrets(pair.original):
            assert secret not in html
    assert NO_ORIGINALS_NOTE in html and PHI_WARNING not in html
    assert "OtherPatientIDsSequence[0].PatientID" in html
    assert html.count("data:image/png;base64,") == sum(len(f.masked) for f in scanned.files)
    assert "http://" not in html and "https://" not in html and "<link" not in html


def test_report_with_originals_warns(folders: tuple[Path, dict[str, Pair]]) -> None:
    root, _ = folders
    result = verify(str(root / "originals"), str(root / "deid"), include_originals=True)
    clean = _by_path(result)["site/clean.dcm"]
    assert clean.masked and all(r.before_png for r in clean.masked)
    leak = _by_path(result)["site/nested/leak.dcm"]
    assert all(f.crop_png for f in leak.pixels)
    html = render_report(result)
    assert PHI_WARNING in html and NO_ORIGINALS_NOTE not in html


# --------------------------------------------------------------------------- command line


def test_cli_exit_codes(folders: tuple[Path, dict[str, Pair]], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    root, pairs = folders
    report = tmp_path / "report.html"
    code = cli.main(["verify", "--original", str(root / "originals"), "--deid",
                     str(root / "deid"), "--report", str(report), "--no-pixels"])
    assert code == 1
    out = capsys.readouterr().out
    assert "1 with findings" in out and out.count("\n") == 1
    for secret in _secrets(pairs["leak"].original):
        assert secret not in out
        assert secret not in report.read_text(encoding="utf-8")

    clean_orig, clean_deid = tmp_path / "o", tmp_path / "d"
    _write(clean_orig, "a.dcm", pairs["clean"].original)
    _write(clean_deid, "a.dcm", pairs["clean"].output,  # type: ignore[arg-type]
           deidentified=True)
    code = cli.main(["verify", "--original", str(clean_orig), "--deid", str(clean_deid),
                     "--report", str(report), "--no-pixels"])
    assert code == 0
    assert "0 with findings" in capsys.readouterr().out

    code = cli.main(["verify", "--original", str(tmp_path / "nowhere"), "--deid",
                     str(clean_deid), "--report", str(report)])
    assert code == 2
    with pytest.raises(SystemExit) as exited:
        cli.main(["verify", "--original", str(clean_orig)])
    assert exited.value.code == 2
