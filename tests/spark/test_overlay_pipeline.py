"""Overlays through the full pipeline: PHI bits cleared, the rest of the overlay kept."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.overlays import overlay_bits, overlay_planes
from sparkdeid.pipeline import full_pipeline
from tests.factories import dataset_bytes
from tests.overlay_factory import overlay_case

pytestmark = pytest.mark.spark


def _run(spark, tmp_path, secret_file, files: dict[str, bytes], **options):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    frame = spark.read.format("binaryFile").load(str(tmp_path / "*.dcm"))
    model = full_pipeline(strategy="tcia", secret_file=secret_file, **options).fit(frame)
    rows = model.transform(frame).select("path", "dicom", "error").collect()
    return {r["path"].rsplit("/", 1)[-1]: r for r in rows}


def test_phi_bits_cleared_and_other_overlay_bits_kept(spark, tmp_path, secret_file):
    case = overlay_case("basic")
    siemens = get_testdata_file("MR-SIEMENS-DICOM-WithOverlays.dcm")
    with open(siemens, "rb") as handle:
        siemens_bytes = handle.read()
    rows = _run(spark, tmp_path, secret_file,
                {"synthetic.dcm": dataset_bytes(case.ds), "siemens.dcm": siemens_bytes})
    assert all(r["error"] is None for r in rows.values())

    out = read_dataset(bytes(rows["synthetic.dcm"]["dicom"]))
    plane = next(p for p in overlay_planes(out) if p.group == 0x6000)
    bits = overlay_bits(out, plane)
    before = case.bits[0x6000]
    before = before[0] if before.ndim == 3 else before
    for text in case.texts:
        if text.group != 0x6000:
            continue
        x0, y0, x1, y1 = text.box.pixel_bounds()
        if text.phi:
            assert not bits[y0:y1, x0:x1].any(), text.text
        else:
            assert np.array_equal(bits[y0:y1, x0:x1], before[y0:y1, x0:x1]), text.text
    original = read_dataset(dataset_bytes(case.ds))
    assert out.PixelData == original.PixelData  # the image under the overlay is untouched

    # the real file keeps an overlay plane of its original size
    siemens_out = read_dataset(bytes(rows["siemens.dcm"]["dicom"]))
    assert [p.group for p in overlay_planes(siemens_out)] == [0x6000]


def test_overlays_removed_on_request(spark, tmp_path, secret_file):
    case = overlay_case("basic")
    rows = _run(spark, tmp_path, secret_file, {"synthetic.dcm": dataset_bytes(case.ds)},
                overlays="remove")
    out = read_dataset(bytes(rows["synthetic.dcm"]["dicom"]))
    assert overlay_planes(out) == []
    assert not any(0x6000 <= (int(t) >> 16) <= 0x601E for t in out.keys())
