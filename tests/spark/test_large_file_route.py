"""Big files take the frame-by-frame route in the batch job, with the pipeline's settings."""

from __future__ import annotations

import pytest
from pydicom import dcmread

from sparkdeid import schemas
from sparkdeid.jobs.batch import RELPATH_COL, run_batch
from sparkdeid.jobs.large_files import large_file_settings
from sparkdeid.pipeline import full_pipeline, metadata_pipeline
from tests.cine_factory import build_cine

pytestmark = pytest.mark.spark


def test_streamed_route_masks_like_the_pipeline(spark, tmp_path, secret_file):
    inbox = tmp_path / "in"
    cine = build_cine(inbox / "loop.dcm", frames=12, late_label_at=5)
    (inbox / "broken.dcm").write_bytes(b"DICM" * 300)  # not DICOM: an error row either way
    empty = spark.createDataFrame([], "path string, relative_path string")
    model = full_pipeline(input_col=schemas.PATH_COL, agg_cols=(schemas.PATH_COL, RELPATH_COL),
                          strategy="tcia", secret_file=secret_file).fit(empty)
    assert large_file_settings(model) is not None
    assert large_file_settings(metadata_pipeline(strategy="tcia").fit(empty)) is None

    normal = run_batch(spark, str(inbox), str(tmp_path / "normal"), model, large_file_bytes=0)
    streamed = run_batch(spark, str(inbox), str(tmp_path / "streamed"), model,
                         large_file_bytes=1)
    for summary in (normal, streamed):
        assert summary.accounted and summary.ok == 1 and summary.errors == 1
    a = dcmread(tmp_path / "normal" / "loop.dcm")
    b = dcmread(tmp_path / "streamed" / "loop.dcm")
    assert str(b.PatientName) == str(a.PatientName) != "QUORNBY^ZELDA"
    assert b.BurnedInAnnotation == "NO"
    original = dcmread(cine.path).pixel_array
    for text in cine.phi:  # every PHI text masked on every frame showing it
        x0, y0, x1, y1 = text.box
        for f in range(text.frames[0], text.frames[1] + 1):
            ink = original[f, y0:y1, x0:x1] >= 128
            assert (b.pixel_array[f, y0:y1, x0:x1][ink] <= 16).mean() >= 0.99, text.text
    # both routes plan, amend and read frames alike: the same file, byte for byte
    assert (tmp_path / "streamed" / "loop.dcm").read_bytes() == \
        (tmp_path / "normal" / "loop.dcm").read_bytes()

    # Named by UIDs, the streamed output is the same file under a name free of the input's.
    by_uids = run_batch(spark, str(inbox), str(tmp_path / "uids"), model, large_file_bytes=1,
                        output_layout="uids")
    assert by_uids.ok == 1
    named = tmp_path / "uids" / b.StudyInstanceUID / b.SeriesInstanceUID / f"{b.SOPInstanceUID}.dcm"
    assert named.read_bytes() == (tmp_path / "streamed" / "loop.dcm").read_bytes()
    ok_row = by_uids.manifest[by_uids.manifest["status"] == "ok"].iloc[0]
    assert ok_row["output_path"] == str(named)
    assert not list((tmp_path / "uids" / ".sparkdeid-incoming").iterdir())
