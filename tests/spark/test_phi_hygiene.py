"""No PHI in anything a run leaves behind except the de-identified files and paths.

`sparkdeid -v deid` runs in its own process (its own Spark session, with the
Spark event log on) over files full of invented PHI: good ones with PHI in
the header and burned into the pixels, and ones that fail (truncated, not
DICOM, an unsupported transfer syntax, non-conformant values pydicom
complains about). The PHI is in the *paths* too: folders are named after the
invented patients. Afterwards no planted value (case-insensitive, names also
by their ``^`` parts) may appear in

* the process's stdout and stderr at DEBUG, which in local mode also carry
  the executors' Python workers' stderr and Spark's own log;
* the Spark event log;
* the manifest's error messages and every other manifest column except
  ``input_path`` / ``output_path``;
* the pseudonym secret (from the file and from $SPARKDEID_SECRET) anywhere.

The manifest's path columns are exempt by design: the manifest accounts for
every input to the operator, who holds the originals and their paths anyway;
it is not part of the de-identified release. Error messages are not exempt.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian

from tests.factories import write_corpus
from tests.pixel_factory import build_pixel_corpus

pytestmark = [pytest.mark.spark, pytest.mark.slow]

FILE_SECRET = b"hygiene-file-secret-3f9a1c7e"
ENV_SECRET = "hygiene-env-secret-8b2d6e04"
MPEG2 = "1.2.840.10008.1.2.4.100"
_NUMERIC = re.compile(r"[\d\-/. :]+")


def _needles(values: set[str]) -> set[str]:
    """Planted values worth searching for, with the parts of person names."""
    found: set[str] = set()
    for value in values:
        for part in [value, *value.split("^")]:
            part = part.strip()
            if len(part) >= 5 or (part.isdigit() and len(part) >= 6):
                found.add(part)
    return found


def _leaks(text: str, needles: set[str]) -> list[str]:
    """Needles found in ``text``: words case-insensitively, numbers not inside longer ones."""
    lowered = text.lower()
    hits = []
    for needle in sorted(needles):
        if _NUMERIC.fullmatch(needle):
            # timestamps and sizes are full of digits: match a number only as a whole number
            if re.search(rf"(?<![\d]){re.escape(needle)}(?![\d])", text):
                hits.append(needle)
        elif needle.lower() in lowered:
            hits.append(needle)
    return hits


def _secret_forms() -> list[str]:
    forms = []
    for secret in (FILE_SECRET, ENV_SECRET.encode()):
        forms += [secret.decode(), secret.hex(), base64.b64encode(secret).decode().rstrip("=")]
    return forms


def _bad_values_file(source: Path, target: Path, family: str, given: str, mrn: str) -> None:
    """A real file with non-conformant values holding PHI (pydicom quotes such values)."""
    ds = pydicom.dcmread(source)
    ds[0x00200013] = RawDataElement(Tag(0x00200013), "IS", 12, f"{family}7".ljust(12).encode(),
                                    0, False, True)
    ds[0x00101010] = RawDataElement(Tag(0x00101010), "AS", 8, f"{given}"[:8].encode(),
                                    0, False, True)
    ds[0x00080020] = RawDataElement(Tag(0x00080020), "DA", 10, f"{mrn}".encode(), 0, False, True)
    ds[0x00181030] = RawDataElement(Tag(0x00181030), "LO", 80, (family * 20)[:80].encode(),
                                    0, False, True)
    ds.save_as(target)


def _unsupported_syntax_file(source: Path, target: Path) -> None:
    """The same header, its pixels encapsulated and declared as MPEG-2 (no decoder here)."""
    ds = pydicom.dcmread(source)
    raw = bytes(ds.PixelData)
    if "NumberOfFrames" in ds:
        del ds.NumberOfFrames
    ds.PixelData = encapsulate([raw])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = MPEG2
    ds.save_as(target, enforce_file_format=True)


@pytest.fixture(scope="module")
def hygiene_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hygiene")
    staging = tmp / "staging"
    corpus = write_corpus(staging / "meta", n_patients=1, studies_per_patient=1,
                          series_per_study=1, instances_per_series=2, seed=11,
                          transfer_syntaxes=[ExplicitVRLittleEndian])
    pixels = build_pixel_corpus(staging / "pixels", seed=5, n_files=2,
                                transfer_syntaxes=[ExplicitVRLittleEndian])
    patient = corpus.patients[0]
    family, given, mrn = patient.family_name, patient.given_name, patient.patient_id
    planted = corpus.phi_strings() | {family, given, mrn}
    for case in pixels:
        if case.identity_source == "pseudo":  # Faker's real-looking names match common words
            planted |= {m.text for m in case.phi} | set(case.header_phi.values())

    source = tmp / "in"
    # the folder names are PHI: the patient's name and record number
    patient_dir = source / f"{family}_{given}_{mrn}"
    shutil.copytree(staging / "meta", patient_dir / "study")
    shutil.copytree(staging / "pixels", patient_dir / "scans")
    failing = patient_dir / "failing"
    failing.mkdir()
    first = sorted(p for p in (staging / "meta").rglob("*") if p.is_file())[0]
    data = first.read_bytes()
    (failing / f"{family}_truncated.dcm").write_bytes(data[: len(data) // 2])
    (failing / f"{given}_notes.txt").write_text(
        f"Patient {family}^{given}, MRN {mrn}, {patient.address}\n")
    _unsupported_syntax_file(first, failing / "mpeg.dcm")
    _bad_values_file(first, patient_dir / f"{family}_odd_values.dcm", family, given, mrn)

    key = tmp / "deid.key"
    key.write_bytes(FILE_SECRET)
    events, output = tmp / "events", tmp / "out"
    events.mkdir()
    env = {**os.environ, "SPARKDEID_SECRET": ENV_SECRET, "SPARKDEID_DRIVER_MEMORY": "2g",
           "PYSPARK_SUBMIT_ARGS": f"--conf spark.eventLog.enabled=true "
                                  f"--conf spark.eventLog.dir=file://{events} "
                                  # uncompressed, so the test can read it
                                  f"--conf spark.eventLog.compress=false pyspark-shell"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    proc = subprocess.run(
        [sys.executable, "-m", "sparkdeid.cli", "-v", "deid", "--input", str(source),
         "--output", str(output), "--secret-file", str(key), "--master", "local[2]"],
        capture_output=True, text=True, timeout=900, env=env, cwd=tmp, check=False,
    )
    return proc, output, events, _needles(planted), patient_dir


def test_run_finishes_and_accounts_for_failures(hygiene_run):
    proc, output, _, _, patient_dir = hygiene_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = pd.read_csv(output / "_manifest.csv", dtype={"error": "string"})
    inputs = sorted(p for p in patient_dir.rglob("*") if p.is_file())
    assert len(manifest) == len(inputs)
    errors = manifest[manifest["status"] == "error"]
    assert len(errors) >= 3  # truncated, not DICOM, MPEG-2
    assert errors["error"].str.len().min() > 0
    assert " INFO sparkdeid" in proc.stderr  # -v: the DEBUG level is on (INFO shows)


def test_no_phi_or_secret_in_stdout_stderr(hygiene_run):
    proc, _, _, needles, _ = hygiene_run
    assert len(needles) > 20
    text = proc.stdout + "\n" + proc.stderr
    assert _leaks(text, needles) == []
    assert [f for f in _secret_forms() if f in text] == []


def test_no_phi_or_secret_in_the_spark_event_log(hygiene_run):
    _, _, events, needles, _ = hygiene_run
    logs = [p for p in events.rglob("*") if p.is_file()]
    assert logs, "Spark wrote no event log"
    text = "\n".join(p.read_text(errors="replace") for p in logs)
    assert "SparkListenerTaskEnd" in text
    assert _leaks(text, needles) == []
    assert [f for f in _secret_forms() if f in text] == []


def test_manifest_errors_and_columns_hold_no_phi(hygiene_run):
    _, output, _, needles, patient_dir = hygiene_run
    manifest = pd.read_csv(output / "_manifest.csv", dtype=str)
    parquet = pd.read_parquet(output / "_manifest.parquet")
    for frame in (manifest, parquet):
        accounting = frame.drop(columns=["input_path", "output_path"]).astype(str)
        assert _leaks(accounting.to_csv(), needles) == []
        errors = "\n".join(str(e) for e in frame["error"] if isinstance(e, str))
        assert _leaks(errors, needles) == []
        assert str(patient_dir.parent) not in errors  # no path in an error message
    text = (output / "_manifest.csv").read_text()
    assert [f for f in _secret_forms() if f in text] == []
    # the paths themselves are the operator's accounting (see the module docstring)
    assert any(needle in text for needle in needles)


def test_outputs_hold_no_secret(hygiene_run):
    _, output, _, _, _ = hygiene_run
    forms = [f.encode() for f in _secret_forms()]
    for path in output.rglob("*"):
        if path.is_file() and "_quarantine" not in path.parts:
            data = path.read_bytes()
            assert not any(f in data for f in forms), path.name
