"""A 30-frame ultrasound cine through the full pipeline with frame reuse.

The banner (synthetic name, id, birth date, institution) is on every frame;
a second copy of the family name appears on the moving anatomy at frame 12.
Every PHI text must be masked on every frame that shows it, scanner text
must stay, and only a few frames may be read whole.
"""

from __future__ import annotations

import numpy as np
import pytest
from pydicom import dcmread

from sparkdeid import schemas
from sparkdeid.dicom.codec import read_dataset
from sparkdeid.pipeline import full_pipeline
from sparkdeid.stages.dicom_to_image import DicomToImage
from tests.cine_factory import Cine, build_cine

pytestmark = pytest.mark.spark

LATE = 12


@pytest.fixture(scope="module")
def cine(tmp_path_factory) -> Cine:
    return build_cine(tmp_path_factory.mktemp("cine") / "loop.dcm", frames=30, late_label_at=LATE)


def _ink_masked_share(before: np.ndarray, after: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    ink = before[y0:y1, x0:x1] >= 128
    if not ink.any():
        return 1.0
    return float((after[y0:y1, x0:x1][ink] <= 16).mean())


def test_every_phi_text_is_masked_on_every_frame_it_shows(spark, cine, secret_file):
    frame = spark.read.format("binaryFile").load(str(cine.path))
    model = full_pipeline(strategy="tcia", secret_file=secret_file).fit(frame)
    row = model.transform(frame).select("dicom", "error").first()
    assert row["error"] is None
    original = dcmread(cine.path).pixel_array
    final = read_dataset(bytes(row["dicom"]))
    masked = final.pixel_array
    assert masked.shape == original.shape
    for text in cine.phi:
        first, last = text.frames
        shares = [_ink_masked_share(original[f], masked[f], text.box)
                  for f in range(first, last + 1)]
        assert min(shares) >= 0.99, (text.text, min(shares))
    for text in cine.safe:
        x0, y0, x1, y1 = text.box
        assert np.array_equal(original[:, y0:y1, x0:x1], masked[:, y0:y1, x0:x1]), text.text
    assert str(final.PatientName) != "QUORNBY^ZELDA"


def test_only_frames_with_new_text_are_read(spark, cine):
    frame = spark.read.format("binaryFile").load(str(cine.path))
    rows = DicomToImage().transform(frame).select(
        "frame", "image", schemas.OCR_AREAS_COL, schemas.REUSE_FRAMES_COL
    ).collect()
    assert sorted(r["frame"] for r in rows) == list(range(30))  # every frame accounted for
    whole = [r["frame"] for r in rows
             if r["image"] is not None and r[schemas.OCR_AREAS_COL] is None]
    # the key frame, and the last one when marks on it cannot be confirmed by a next frame
    assert whole in ([0], [0, 29])
    partial = {r["frame"] for r in rows if r[schemas.OCR_AREAS_COL]}
    # the late label is read where it appears (found one frame later, read on both)
    assert LATE in partial and LATE + 1 in partial
    assert partial <= set(range(LATE, 30))
    # frames not read whole borrow the key frame's regions
    assert all(0 in r[schemas.REUSE_FRAMES_COL] for r in rows
               if r["frame"] > 0 and r["frame"] not in whole)
