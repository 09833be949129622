"""Public real files nobody here made: every one is written, or is an error naming its defect.

``../shared/data/jsl-dev/`` (beside the checkout) holds 113 real DICOM files
of several vendors with ground truth for burned-in PHI; here only the
metadata route is run over them (the burned-in scores live in
``benchmarks/jsl_dev.py``). Each output must read back, keep its pixels
byte for byte and carry no original UID.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pydicom
import pytest

from sparkdeid.cli import main

pytestmark = pytest.mark.spark
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# beside the checkout, as benchmarks/jsl_dev.py looks for it; $SPARKDEID_JSL_DEV elsewhere
JSL_DEV = os.environ.get("SPARKDEID_JSL_DEV") or os.path.join(
    os.path.dirname(ROOT), "shared", "data", "jsl-dev")


@pytest.mark.skipif(not os.path.isdir(JSL_DEV),
                    reason=f"needs the public jsl-dev files at {JSL_DEV} (or $SPARKDEID_JSL_DEV)")
def test_every_jsl_dev_file_is_written_with_its_pixels(tmp_path, secret_file, capsys):
    source = tmp_path / "in"
    source.mkdir()
    names = sorted(n for n in os.listdir(JSL_DEV) if n.endswith(".dcm"))
    assert len(names) >= 100
    for index, name in enumerate(names):  # neutral names: the originals' name the patient
        shutil.copy(os.path.join(JSL_DEV, name), source / f"{index:03d}.dcm")
    output = tmp_path / "out"
    assert main(["deid", "--input", str(source), "--output", str(output), "--secret-file",
                 secret_file, "--metadata-only", "--no-progress"]) == 0
    manifest = pd.read_csv(output / "_manifest.csv")
    written = int((manifest["status"] == "ok").sum())
    with capsys.disabled():
        print(f"\njsl-dev: {written}/{len(names)} files written, "
              f"{len(names) - written} error rows")
    assert len(manifest) == len(names)
    assert written == len(names), manifest.loc[manifest["status"] != "ok", "error"].tolist()
    for index in range(len(names)):
        before = pydicom.dcmread(source / f"{index:03d}.dcm")
        after = pydicom.dcmread(output / f"{index:03d}.dcm")
        assert after.PatientIdentityRemoved == "YES"
        assert after.SOPInstanceUID != before.SOPInstanceUID
        assert after.PixelData == before.PixelData
