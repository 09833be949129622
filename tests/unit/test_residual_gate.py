"""The residual-PHI gate's pure functions: planted leaks found, correct outputs pass."""

from __future__ import annotations

import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from sparkdeid.dicom.codec import read_dataset, write_dataset
from sparkdeid.jobs.large_files import check_residual_header
from sparkdeid.metadata.engine import deidentify_bytes
from sparkdeid.metadata.strategy import resolve_strategy
from sparkdeid.verify.residual import (
    GateMode,
    GatePolicy,
    ResidualPhiError,
    check_output,
    gate_mode,
    metadata_residuals,
    pixel_residuals,
    residual_message,
    residual_terms,
)
from tests.factories import SyntheticPatient, build_study, dataset_bytes, engine_config

SECRET = b"residual-gate-test-secret-012345"
PROFILES = (
    "tcia", "basic", "basic+retain-uids", "basic+retain-long-full-dates",
    "basic+retain-long-modified-dates", "basic+retain-patient-chars", "basic+retain-device-id",
    "basic+retain-institution-id", "basic+clean-descriptors", "tcia+retain-uids",
    "basic+retain-safe-private",
)


def _original(seed: int = 3, modality: str = "CT", burn_in: bool = False) -> Dataset:
    patient = SyntheticPatient.from_seed(seed)
    return build_study(patient, seed=seed, modality=modality, n_series=1, n_instances=1,
                       burn_in_text=burn_in)[0]


def _deidentify(original: Dataset, strategy: str, **config: object) -> tuple[Dataset, GatePolicy]:
    cfg = engine_config(strategy, SECRET, **config)
    out, _ = deidentify_bytes(dataset_bytes(original), cfg)
    return read_dataset(out), GatePolicy.from_engine_config(cfg)


def _header(original: Dataset) -> Dataset:
    return read_dataset(dataset_bytes(original), stop_before_pixels=True)


def _edited(strategy: str, keyword_row: str, action: str | None) -> str:
    """A profile's CSV with one row's action changed (None: the row dropped)."""
    lines = resolve_strategy(strategy).csv_text.splitlines()
    found = [i for i, line in enumerate(lines) if keyword_row in line]
    assert found, keyword_row
    for i in found:
        if action is None:
            lines[i] = ""
        else:
            cells = lines[i].split(",")
            cells[-2] = action
            lines[i] = ",".join(cells)
    return "\n".join(lines) + "\n"


def _values(original: Dataset) -> list[str]:
    return [str(original.PatientID), str(original.AccessionNumber), str(original.StudyDate),
            str(original.PatientName), *str(original.PatientName).split("^")]


@pytest.mark.parametrize("strategy", PROFILES)
@pytest.mark.parametrize("modality", ["CT", "MR", "US", "DX", "OT"])
def test_correct_outputs_have_no_residuals(strategy: str, modality: str) -> None:
    original = _original(seed=7, modality=modality)
    output, policy = _deidentify(original, strategy)
    assert metadata_residuals(_header(original), output, policy) == []


@pytest.mark.parametrize("strategy", ["tcia", "basic"])
def test_planted_nested_and_private_leaks_found_message_phi_free(strategy: str) -> None:
    original = _original()
    output, policy = _deidentify(original, strategy)
    item = Dataset()
    item.PatientID = str(original.PatientID)
    output.OtherPatientIDsSequence = Sequence([item])
    block = output.private_block(0x0011, "SYNTHETIC LEAK", create=True)
    block.add_new(0x10, "LO", str(original.AccessionNumber))
    output.ImageComments = "seen by " + str(original.PatientName).replace("^", " ")
    findings = metadata_residuals(_header(original), output, policy)
    where = {f.location for f in findings}
    assert {"OtherPatientIDsSequence[0].PatientID", "(0011,1010)", "ImageComments"} <= where
    nested = [f for f in findings if f.location.startswith("OtherPatientIDs")]
    assert residual_message(nested) == (
        "residual PHI: a value of PatientID found at OtherPatientIDsSequence[0].PatientID"
    )
    private = [f for f in findings if f.location == "(0011,1010)"]
    assert "a value of AccessionNumber found at (0011,1010)" in residual_message(private)
    message = residual_message(findings)
    assert "more)" in message
    for value in _values(original):
        assert value.upper() not in message.upper()
    with pytest.raises(ResidualPhiError, match="residual PHI"):
        check_output(dataset_bytes(original), write_dataset(output), policy)
    check_output(dataset_bytes(original), write_dataset(output), policy, GateMode.OFF)


def test_values_the_strategy_keeps_are_not_residual() -> None:
    original = _original()
    # dates kept by K rows: a kept date copied into free text is no new leak
    kept, policy = _deidentify(original, "basic+retain-long-full-dates")
    kept.ImageComments = f"acquired {original.StudyDate}"
    assert metadata_residuals(_header(original), kept, policy) == []
    shifted, policy = _deidentify(original, "basic")
    shifted.ImageComments = f"acquired {original.StudyDate}"
    assert [f.location for f in metadata_residuals(_header(original), shifted, policy)] == [
        "ImageComments"
    ]
    # a custom strategy that keeps the patient's name on purpose
    keeps_name = _edited("basic", "Patient's Name", "K")
    output, policy = _deidentify(original, keeps_name)
    assert str(output.PatientName) == str(original.PatientName)
    assert metadata_residuals(_header(original), output, policy) == []


def test_private_tags_kept_wholesale_still_checked() -> None:
    """Without a private row and with removePrivateTags off, the factory's leaky block stays."""
    original = _original()
    no_private_row = _edited("basic", "(gggg, eeee)", None)
    output, policy = _deidentify(original, no_private_row, remove_private_tags=False)
    findings = metadata_residuals(_header(original), output, policy)
    assert findings and all(f.location.startswith("(") for f in findings)
    removed, policy = _deidentify(original, no_private_row, remove_private_tags=True)
    assert metadata_residuals(_header(original), removed, policy) == []


def test_coincidences_are_not_residuals() -> None:
    original = _original()
    output, policy = _deidentify(original, "basic")
    family = str(original.PatientName).split("^")[0]
    output.PatientName = f"{family}^UNRELATED"  # a replacement name sharing a family name
    output.AcquisitionDate = str(original.StudyDate)  # a shifted date landing on another
    output.ImageComments = "1234"  # a short id would match anything
    short = original.copy()
    short.PatientID = "1234"
    assert metadata_residuals(_header(short), output, policy) == []
    output.PatientName = str(original.PatientName)  # the whole name still counts
    assert [f.location for f in metadata_residuals(_header(original), output, policy)] == [
        "PatientName"
    ]


def test_replacement_literals_are_not_residuals() -> None:
    original = _original()
    original.InstitutionName = "NORTHWIND CLINIC"
    literal = _edited("basic", "Institution Name", "replaceWithLiteral")
    literal = literal.replace("replaceWithLiteral,", "replaceWithLiteral,NORTHWIND CLINIC", 1)
    output, policy = _deidentify(original, literal)
    assert str(output.InstitutionName) == "NORTHWIND CLINIC"
    assert metadata_residuals(_header(original), output, policy) == []


def test_gate_mode_choices() -> None:
    assert gate_mode("pixels") is GateMode.PIXELS
    with pytest.raises(ValueError, match="metadata, pixels, off"):
        gate_mode("everything")


def test_large_file_route_check_deletes_a_leaky_output(tmp_path) -> None:
    original = _original()
    output, policy = _deidentify(original, "tcia")
    clean = tmp_path / "clean.dcm"
    clean.write_bytes(write_dataset(output))
    check_residual_header(_header(original), str(clean), policy)
    assert clean.exists()
    output.ImageComments = f"MRN {original.PatientID}"
    leaky = tmp_path / "leaky.dcm"
    leaky.write_bytes(write_dataset(output))
    with pytest.raises(ResidualPhiError, match="PatientID found at ImageComments"):
        check_residual_header(_header(original), str(leaky), policy)
    assert not leaky.exists()


def test_pixel_residuals_read_header_values_left_in_pixels() -> None:
    from sparkdeid.ocr.registry import get_engine

    original = _original(seed=11, modality="OT", burn_in=True)
    output, policy = _deidentify(original, "basic")
    engine = get_engine("rapidocr")
    terms = residual_terms(_header(original), output, policy)
    assert terms
    found = pixel_residuals(output, terms, engine)  # the strategy alone leaves pixels
    assert found and {f.frame for f in found} == {0}
    assert "read by OCR in frame 0" in residual_message([], found)
    masked = output.pixel_array.copy()
    masked[..., :60, :] = 0  # the factory burns its lines into the top rows
    output.PixelData = masked.tobytes()
    assert pixel_residuals(output, terms, engine) == []
