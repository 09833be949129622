"""Per-file limits inside Spark: an oversized declared file is an error row, the job goes on.

The "bombs" are a few KB on disk but their headers declare sizes that would
take an executor down if anything allocated for them: 100000 frames of
4096 x 4096 16-bit pixels (3 TiB decoded), or more frames than allowed.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from sparkdeid import DicomMetadataDeidentifier, DicomToImage, DicomToMetadata, schemas
from sparkdeid.cli import main
from sparkdeid.dicom.limits import DEFAULT_MAX_DECODED_PIXELS
from tests.factories import dataset_bytes

pytestmark = pytest.mark.spark


def _image(rows: int, columns: int, frames: int, pixel_bytes: bytes, bits: int = 8) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Vexbrandt^Orlupa", "QX7788123", "CT"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit, ds.PixelRepresentation = bits - 1, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PixelData = pixel_bytes
    return dataset_bytes(ds)


def _good() -> bytes:
    return _image(16, 16, 1, bytes(range(256)))


def _bomb() -> bytes:
    """100000 frames of 4096 x 4096 x 16 bits declared, 16 bytes stored."""
    return _image(4096, 4096, 100_000, b"\0" * 16, bits=16)


def _many_frames(frames: int = 3000) -> bytes:
    """Consistent, small (2 x 2 pixels a frame), but more frames than the test allows."""
    return _image(2, 2, frames, b"\x01" * (4 * frames))


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.dcm").write_bytes(_good())
    (folder / "bomb.dcm").write_bytes(_bomb())
    (folder / "frames.dcm").write_bytes(_many_frames())
    return folder


def _by_name(rows) -> dict[str, list]:
    out: dict[str, list] = {}
    for row in rows:
        out.setdefault(os.path.basename(row["path"]), []).append(row)
    return out


def test_dicom_to_image_refuses_declared_sizes_before_decoding(spark, inbox):
    df = spark.read.format("binaryFile").load(str(inbox))
    rows = _by_name(DicomToImage(frameReuse="off").transform(df).collect())  # default limits
    (bomb,) = rows["bomb.dcm"]
    assert bomb["image"] is None and bomb["frame"] is None
    assert "maxDecodedPixels" in bomb["error"] and "100000 frame(s) of 4096 x 4096" in bomb["error"]
    assert str(DEFAULT_MAX_DECODED_PIXELS) in bomb["error"]
    (good,) = rows["good.dcm"]
    assert good["error"] is None and good["image"] is not None
    assert len(rows["frames.dcm"]) == 3000  # under the default limits: every frame decoded
    assert all(r["error"] is None for r in rows["frames.dcm"])

    limited = _by_name(DicomToImage(maxFrames=1000).transform(df).collect())
    (frames,) = limited["frames.dcm"]
    assert "3000 frames" in frames["error"] and "maxFrames = 1000" in frames["error"]
    assert "maxFrames" in limited["bomb.dcm"][0]["error"]  # frames are checked first
    assert limited["good.dcm"][0]["error"] is None
    for row in (bomb, frames):
        assert "vexbrandt" not in row["error"].lower() and "QX7788123" not in row["error"]


def test_metadata_stages_refuse_files_over_max_bytes(spark, inbox):
    paths = spark.createDataFrame(
        [(str(inbox / n),) for n in ("good.dcm", "frames.dcm")], "path string"
    )
    limit = len(_good()) + 100  # the 12 KB frames file is over it
    for stage in (
        DicomMetadataDeidentifier(inputCol=schemas.PATH_COL, maxFileBytes=limit),
        DicomToMetadata(inputCol=schemas.PATH_COL, maxFileBytes=limit),
    ):
        rows = _by_name(stage.transform(paths).collect())
        (big,) = rows["frames.dcm"]
        assert "maxFileBytes" in big["error"] and f"= {limit}" in big["error"]
        (good,) = rows["good.dcm"]
        assert good["error"] is None


def test_limits_save_and_load_with_the_stage(tmp_path):
    stage = DicomToImage(maxFileBytes=5 << 20, maxFrames=7, maxDecodedPixels=1 << 20)
    stage.write().overwrite().save(str(tmp_path / "stage"))
    loaded = DicomToImage.load(str(tmp_path / "stage"))
    assert loaded.file_limits() == stage.file_limits()
    assert (loaded.getMaxFileBytes(), loaded.getMaxFrames(), loaded.getMaxDecodedPixels()) == (
        5 << 20, 7, 1 << 20)
    meta = DicomMetadataDeidentifier().setMaxFileBytes(123)
    meta.write().overwrite().save(str(tmp_path / "meta"))
    assert DicomMetadataDeidentifier.load(str(tmp_path / "meta")).getMaxFileBytes() == 123


def test_cli_bomb_is_an_error_row_and_the_rest_is_done(spark, inbox, tmp_path, secret_file):
    """Both routes: the in-memory one, and the streamed one for files >= --large-file-mb."""
    big = inbox / "streamed"
    big.mkdir()
    (big / "long.dcm").write_bytes(_many_frames(300_000))  # 1.2 MB, consistent, too many frames
    (big / "bomb.dcm").write_bytes(_bomb() + b"\0" * (1 << 20))  # trailing bytes: >= 1 MiB
    (inbox / "wide.dcm").write_bytes(_image(65_535, 65_535, 1, b"\0" * 16))  # one huge frame
    output = tmp_path / "out"
    code = main(["deid", "--input", str(inbox), "--output", str(output), "--secret-file",
                 secret_file, "--max-frames", "1000", "--large-file-mb", "1",
                 "--max-decoded-mpixels", "64"])
    assert code == 0
    manifest = pd.read_csv(output / "_manifest.csv", dtype={"error": "string"})
    by_name = {os.path.relpath(p, inbox): r for p, r in
               zip(manifest["input_path"], manifest.to_dict("records"), strict=True)}
    assert set(by_name) == {"good.dcm", "bomb.dcm", "frames.dcm", "wide.dcm",
                            "streamed/long.dcm", "streamed/bomb.dcm"}
    assert by_name["good.dcm"]["status"] == "ok"
    assert os.path.exists(output / "good.dcm")
    expected = {"bomb.dcm": "maxFrames", "frames.dcm": "maxFrames", "wide.dcm": "maxDecodedPixels",
                "streamed/long.dcm": "maxFrames",
                # the streamed reader maps frames first and finds them missing: also refused
                "streamed/bomb.dcm": ""}
    for name, limit in expected.items():
        row = by_name[name]
        assert row["status"] == "error" and limit in row["error"], (name, row["error"])
        assert "vexbrandt" not in row["error"].lower()
        assert row["output_path"].startswith(str(output / "_quarantine"))
