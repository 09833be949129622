"""The batch job started the way the docker image starts it: through spark-submit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_spark_submit_runs_the_cli_on_the_given_master(tmp_path):
    inbox, outbox = tmp_path / "in", tmp_path / "out"
    inbox.mkdir()
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), inbox / name)
    (inbox / "notes.txt").write_text("not DICOM")
    secret = tmp_path / "key"
    secret.write_text("spark-submit-secret-0123456789")
    submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        [str(submit), "--master", "local[1]", str(ROOT / "docker" / "sparkdeid_submit.py"),
         "deid", "--metadata-only", "--input", str(inbox), "--output", str(outbox),
         "--strategy", "tcia", "--secret-file", str(secret)],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = pd.read_csv(outbox / "_manifest.csv")
    assert sorted(manifest["status"]) == ["error", "ok", "ok"]
    assert str(dcmread(outbox / "CT_small.dcm").PatientName) != str(
        dcmread(inbox / "CT_small.dcm").PatientName
    )
