"""Batch runs in waves: progress after each, same manifest as one wave, resumable."""

from __future__ import annotations

import pandas as pd
import pydicom
import pytest

from sparkdeid import pipeline, schemas
from sparkdeid.jobs.batch import BatchProgress, run_batch
from sparkdeid.jobs.manifest import read_manifest
from tests.factories import write_corpus

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def inbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("waves-in")
    write_corpus(folder, n_patients=2, studies_per_patient=1, series_per_study=2,
                 instances_per_series=2, seed=5)
    (folder / "broken.dcm").write_bytes(b"not a DICOM file at all")
    return folder


@pytest.fixture(scope="module")
def model(spark, tmp_path_factory):
    secret = tmp_path_factory.mktemp("secret") / "key"
    secret.write_bytes(b"waves-test-secret")
    chosen = pipeline.metadata_pipeline(input_col=schemas.PATH_COL, strategy="tcia",
                                        secret_file=str(secret))
    return chosen.fit(spark.createDataFrame([], "path string, relative_path string"))


def _comparable(manifest: pd.DataFrame) -> pd.DataFrame:
    frame = manifest.drop(columns=["output_path"]).astype(str)
    return frame.sort_values("input_path").reset_index(drop=True)


def test_waves_report_progress_and_match_a_single_wave(spark, model, inbox, tmp_path):
    seen: list[BatchProgress] = []
    waved = run_batch(spark, str(inbox), str(tmp_path / "waved"), model,
                      progress=seen.append, wave_files=3)
    single = run_batch(spark, str(inbox), str(tmp_path / "single"), model, wave_files=100)

    total = 9  # 8 corpus files + the broken one
    assert waved.total == single.total == total
    assert waved.accounted and (waved.ok, waved.errors, waved.quarantined) == (8, 1, 1)
    assert _comparable(waved.manifest).equals(_comparable(single.manifest))
    # One report at the start, then one per wave of 3 files.
    assert [p.done for p in seen][0] == 0 and len(seen) == 1 + 3
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert seen[-1].done == total and seen[-1].errors == 1
    assert all(p.total == total and p.seconds >= 0 for p in seen)
    for name in ("waved", "single"):
        written = read_manifest(str(tmp_path / name))
        assert len(written) == total and (written["status"] == "ok").sum() == 8


def test_a_rerun_counts_skipped_files_as_done_from_the_start(spark, model, inbox, tmp_path):
    out = str(tmp_path / "out")
    run_batch(spark, str(inbox), out, model, wave_files=4)
    seen: list[BatchProgress] = []
    again = run_batch(spark, str(inbox), out, model, progress=seen.append, wave_files=4)
    assert again.skipped == 8 and again.total == 9
    assert (seen[0].done, seen[0].skipped) == (8, 8)
    assert seen[-1].done == 9 and seen[-1].errors == 1  # the broken file is retried


def test_uids_layout_releases_no_input_folder_or_file_name(spark, model, tmp_path):
    inbox = tmp_path / "in"
    named = inbox / "GLIMMERTON_OSWIN_4471902"  # a folder named after an (invented) patient
    write_corpus(named, n_patients=1, studies_per_patient=1, series_per_study=1,
                 instances_per_series=2, seed=9)
    out = tmp_path / "out"
    summary = run_batch(spark, str(inbox), str(out), model, output_layout="uids")
    assert summary.ok == 2
    released = [p for p in out.rglob("*") if not p.name.startswith("_")]
    assert released and not any("GLIMMERTON" in str(p) or "4471902" in str(p) for p in released)
    for output in summary.manifest["output_path"]:
        ds = pydicom.dcmread(output, stop_before_pixels=True)
        expected = out / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
        assert output == str(expected)
