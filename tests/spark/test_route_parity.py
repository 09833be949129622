"""The streamed large-file route and the in-memory pipeline give the same bytes, file by file.

One corpus goes through the batch job twice with the same fitted full
pipeline: once with every file in memory (``large_file_bytes=0``: never
large) and once with every file streamed frame by frame (``large_file_bytes=1``).
The in-memory output is the reference. The corpus has overlays (pydicom's
Siemens MR file and factory planes, multi-frame ones included), a cine with
burned-in text, RGB and YBR colour, and every transfer syntax the test
factories can write. A second pipeline samples frames (``frameLimit``), so
the two routes must agree on which frames are read, what the others get, and
on leaving Burned In Annotation alone.

Files the streamed route cannot take (deflated and big endian files, which
cannot be read frame by frame, an overlay embedded in Pixel Data, an
encapsulated document) are sent to the in-memory pipeline by the batch job
(``large_files.streamable``), so they too come out the same; called on such a
file directly, the streamed route fails closed with an error that says why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from sparkdeid import schemas
from sparkdeid.errors import SparkDeidError
from sparkdeid.jobs.batch import RELPATH_COL, run_batch
from sparkdeid.jobs.large_files import deidentify_large_path, large_file_settings, streamable
from tests.cine_factory import build_cine
from tests.document_factory import encapsulated_pdf
from tests.factories import dataset_bytes
from tests.overlay_factory import encode, overlay_case
from tests.pixel_factory import build_pixel_corpus, pixel_transfer_syntaxes

pytestmark = pytest.mark.spark

NOT_STREAMED = (ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian)


def _model(spark, secret_file: str, **settings):
    from sparkdeid.pipeline import full_pipeline

    empty = spark.createDataFrame([], "path string, relative_path string")
    return full_pipeline(input_col=schemas.PATH_COL, agg_cols=(schemas.PATH_COL, RELPATH_COL),
                         strategy="tcia", secret_file=secret_file, **settings).fit(empty)


def _corpus(root: Path) -> tuple[list[str], list[str]]:
    """Every file (both routes must write each alike), and those the frame reader refuses."""
    shutil.copy(get_testdata_file("MR-SIEMENS-DICOM-WithOverlays.dcm"), root / "siemens_ov.dcm")
    for name, syntax in (("basic", ImplicitVRLittleEndian), ("multiframe", None), ("odd", None)):
        case = overlay_case(name) if syntax is None else overlay_case(name, syntax)
        (root / f"overlay_{name}.dcm").write_bytes(encode(case.ds))
    build_cine(root / "cine.dcm", frames=8, rows=240, columns=320, late_label_at=3)
    syntaxes = pixel_transfer_syntaxes()
    pixels = build_pixel_corpus(root / "pixels", n_files=len(syntaxes),
                                transfer_syntaxes=list(syntaxes))
    not_streamable = [str(case.path.relative_to(root)) for case in pixels.cases
                      if case.transfer_syntax in NOT_STREAMED]
    (root / "overlay_embedded.dcm").write_bytes(encode(overlay_case("embedded").ds))
    (root / "report.dcm").write_bytes(dataset_bytes(encapsulated_pdf().ds))
    not_streamable += ["overlay_embedded.dcm", "report.dcm"]
    every = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return every, not_streamable


def _rows(summary) -> dict[str, pd.Series]:
    manifest = summary.manifest
    return {_relative(row["input_path"]): row for _, row in manifest.iterrows()}


def _relative(path: str) -> str:
    text = str(path).removeprefix("file:")
    marker = "/in/"
    return text[text.index(marker) + len(marker):]


def _assert_parity(spark, model, inbox: Path, out: Path, every: list[str]) -> dict[str, bytes]:
    memory = run_batch(spark, str(inbox), str(out / "memory"), model, large_file_bytes=0)
    streamed = run_batch(spark, str(inbox), str(out / "streamed"), model, large_file_bytes=1)
    assert memory.accounted and streamed.accounted
    memory_rows, streamed_rows = _rows(memory), _rows(streamed)
    outputs: dict[str, bytes] = {}
    for relative in every:
        reference = memory_rows[relative]
        assert reference["status"] == "ok", (relative, reference["error"])
        row = streamed_rows[relative]
        assert row["status"] == "ok", (relative, row["error"])
        expected = (out / "memory" / relative).read_bytes()
        assert (out / "streamed" / relative).read_bytes() == expected, relative
        outputs[relative] = expected
    return outputs


def test_routes_give_identical_bytes(spark, tmp_path, secret_file):
    inbox = tmp_path / "in"
    inbox.mkdir()
    every, not_streamable = _corpus(inbox)
    syntaxes = {str(dcmread(inbox / r, stop_before_pixels=True).file_meta.TransferSyntaxUID)
                for r in every}
    assert len(syntaxes) >= 8  # native, deflated, big endian and compressed syntaxes
    assert [r for r in every if not streamable(str(inbox / r))] == sorted(not_streamable)
    # frames rendered 320 wide for OCR (both routes alike) keep the run short
    model = _model(spark, secret_file, scale=320)
    outputs = _assert_parity(spark, model, inbox, tmp_path / "all", every)
    settings = large_file_settings(model)
    assert settings is not None
    for relative in not_streamable:  # called directly, the streamed route fails closed
        with pytest.raises(SparkDeidError):
            deidentify_large_path(str(inbox / relative), str(tmp_path / "direct.dcm"), settings)
        assert not (tmp_path / "direct.dcm").exists()

    # the routes agree on masking and on the overlays, not only on doing nothing
    siemens = dcmread(inbox / "siemens_ov.dcm")
    cleaned = dcmread(tmp_path / "all" / "memory" / "overlay_basic.dcm")
    assert cleaned[0x60003000].value != dcmread(inbox / "overlay_basic.dcm")[0x60003000].value
    assert 0x60003000 in dcmread(tmp_path / "all" / "memory" / "siemens_ov.dcm")
    assert siemens[0x60003000].VM
    cine = dcmread(tmp_path / "all" / "streamed" / "cine.dcm")
    assert cine.BurnedInAnnotation == "NO"
    assert cine.pixel_array.tobytes() != dcmread(inbox / "cine.dcm").pixel_array.tobytes()
    assert len(outputs) == len(every)
    masked = [r for r in every if r.startswith("pixels/")
              and dcmread(inbox / r).pixel_array.tobytes() != dcmread(
                  tmp_path / "all" / "memory" / r).pixel_array.tobytes()]
    assert len(masked) >= 4, masked  # compressed frames re-encoded alike by both routes


def test_routes_sample_frames_alike(spark, tmp_path, secret_file):
    inbox = tmp_path / "in"
    inbox.mkdir()
    build_cine(inbox / "cine.dcm", frames=8, rows=240, columns=320, late_label_at=3)
    (inbox / "overlay_multiframe.dcm").write_bytes(encode(overlay_case("multiframe").ds))
    model = _model(spark, secret_file, frame_limit=3, frame_sampling="stride")
    _assert_parity(spark, model, inbox, tmp_path / "sampled",
                   ["cine.dcm", "overlay_multiframe.dcm"])
    # not every frame read: Burned In Annotation keeps what the file said
    assert dcmread(tmp_path / "sampled" / "streamed" / "cine.dcm").BurnedInAnnotation == "YES"
