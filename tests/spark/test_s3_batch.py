"""The batch job from S3 to S3 gives what it gives on local folders, and re-runs skip.

Runs against moto's real S3 server (see :mod:`tests.s3_server` for how Spark's
Python workers are pointed at it) with the metadata pipeline and small
pydicom test files, so it stays fast.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from pydicom.data import get_testdata_file

from sparkdeid import schemas, storage
from sparkdeid.cli import main
from sparkdeid.jobs.batch import run_batch
from sparkdeid.jobs.manifest import MANIFEST_CSV, MANIFEST_PARQUET, read_manifest
from sparkdeid.pipeline import metadata_pipeline
from tests.s3_server import moto_s3

pytestmark = pytest.mark.spark

FILES = {
    "a/CT_small.dcm": "CT_small.dcm",
    "a/MR_small.dcm": "MR_small.dcm",
    "b/SC_rgb_rle_2frame.dcm": "SC_rgb_rle_2frame.dcm",  # multi-frame
    "b/c/rtdose.dcm": "rtdose.dcm",  # multi-frame dose grid
    "b/rtplan": "rtplan.dcm",  # no suffix, no pixels
}
NOT_DICOM = "notes/readme.txt"
IN = "s3://in-bucket/studies"
OUT = "s3://out-bucket/deid/run1"


@pytest.fixture(scope="module")
def s3(spark):
    with moto_s3(spark) as endpoint:
        client = storage.s3_client()
        for bucket in ("in-bucket", "out-bucket"):
            client.create_bucket(Bucket=bucket)
        yield endpoint


@pytest.fixture
def sources(s3, tmp_path) -> str:
    """The same files locally and under ``s3://in-bucket/studies/``."""
    local = tmp_path / "in"
    for relative, name in FILES.items():
        data = open(get_testdata_file(name), "rb").read()  # noqa: SIM115
        (local / relative).parent.mkdir(parents=True, exist_ok=True)
        (local / relative).write_bytes(data)
        storage.write_bytes_atomic(f"{IN}/{relative}", data)
    (local / NOT_DICOM).parent.mkdir(parents=True)
    (local / NOT_DICOM).write_bytes(b"not a DICOM file at all\n")
    storage.write_bytes_atomic(f"{IN}/{NOT_DICOM}", b"not a DICOM file at all\n")
    # A neighbouring prefix that shares the name must not be listed.
    storage.write_bytes_atomic("s3://in-bucket/studies2/stray.dcm", b"stray")
    return str(local)


def _model(spark, secret_file: str):
    empty = spark.createDataFrame([], "path string, relative_path string")
    return metadata_pipeline(input_col=schemas.PATH_COL, strategy="tcia",
                             secret_file=secret_file).fit(empty)


def _normalised(manifest: pd.DataFrame, prefixes: dict[str, str]) -> pd.DataFrame:
    frame = manifest.drop(columns=["input_id"]).copy()
    for column in ("input_path", "output_path"):
        values = frame[column].astype("object")
        for prefix, name in prefixes.items():
            values = values.map(lambda v, p=prefix, n=name: n + v[len(p):]
                                if isinstance(v, str) and v.startswith(p) else v)
        frame[column] = values
    return frame.sort_values("input_path").reset_index(drop=True)


def _outputs(root: str, manifest: pd.DataFrame) -> dict[str, bytes]:
    return {
        path[len(root):].lstrip("/"): storage.read_bytes(path)
        for path in manifest["output_path"].dropna()
    }


def test_s3_to_s3_matches_local_then_reruns_skip(spark, sources, secret_file, tmp_path):
    model = _model(spark, secret_file)
    local_out = str(tmp_path / "out")

    local = run_batch(spark, sources, local_out, model)
    remote = run_batch(spark, IN, OUT, model)

    for summary in (local, remote):
        assert summary.accounted and summary.skipped == 0
        assert (summary.total, summary.ok, summary.errors) == (6, 5, 1)
    # Same outputs, byte for byte, under the same relative paths (quarantine included).
    local_files = _outputs(local_out, local.manifest)
    remote_files = _outputs(OUT, remote.manifest)
    assert sorted(local_files) == sorted([*FILES, f"_quarantine/{NOT_DICOM}"])
    assert local_files == remote_files
    # Same manifests once the roots are named alike, on S3 as written locally.
    same = {sources: "IN", local_out: "OUT", IN: "IN", OUT: "OUT"}
    pd.testing.assert_frame_equal(_normalised(local.manifest, same),
                                  _normalised(remote.manifest, same))
    pd.testing.assert_frame_equal(_normalised(read_manifest(OUT), same),
                                  _normalised(read_manifest(local_out), same))
    parquet = storage.read_bytes(f"{OUT}/{MANIFEST_PARQUET}")
    assert parquet[:4] == b"PAR1"
    error = remote.manifest[remote.manifest["status"] == "error"].iloc[0]
    assert error["input_path"] == f"{IN}/{NOT_DICOM}"
    assert error["output_path"] == f"{OUT}/_quarantine/{NOT_DICOM}"

    # Re-run: every ok file is skipped and its row carried over; the error is retried.
    csv_before = storage.read_bytes(f"{OUT}/{MANIFEST_CSV}")
    again = run_batch(spark, IN, OUT, model)
    assert again.skipped == 5 and again.ok == 5 and again.errors == 1 and again.accounted
    assert storage.read_bytes(f"{OUT}/{MANIFEST_CSV}") == csv_before
    # Nothing processed at all when only ok files remain.
    storage.s3_client().delete_object(Bucket="in-bucket", Key=f"studies/{NOT_DICOM}")
    done = run_batch(spark, IN, OUT, model)
    assert (done.total, done.skipped, done.errors) == (5, 5, 0)
    assert list(done.manifest["status"]) == ["ok"] * 5

    # A changed input (new size) is redone; --overwrite (via the CLI) redoes everything.
    storage.write_bytes_atomic(f"{IN}/{NOT_DICOM}", b"still not DICOM\n")
    client = storage.s3_client()
    client.delete_object(Bucket="out-bucket", Key=f"deid/run1/{next(iter(FILES))}")
    code = main(["deid", "--input", IN, "--output", OUT, "--metadata-only",
                 "--secret-file", secret_file, "--overwrite"])
    assert code == 0
    redone = read_manifest(OUT)
    assert len(redone) == 6 and (redone["status"] == "ok").sum() == 5
    assert _outputs(OUT, redone)[next(iter(FILES))] == remote_files[next(iter(FILES))]


def test_local_rerun_skips_unchanged_and_redoes_changed(spark, sources, secret_file, tmp_path):
    model = _model(spark, secret_file)
    out = str(tmp_path / "out")
    first = run_batch(spark, sources, out, model)
    changed = os.path.join(sources, "a", "MR_small.dcm")
    with open(changed, "ab") as handle:
        handle.write(b"\0\0")  # trailing padding: still readable, new size
    second = run_batch(spark, sources, out, model)
    assert first.skipped == 0 and second.skipped == 4
    assert second.accounted and second.ok == first.ok
    row = second.manifest.set_index("input_path").loc[changed]
    assert row["input_bytes"] == os.path.getsize(changed)
    assert run_batch(spark, sources, out, model, overwrite=True).skipped == 0
