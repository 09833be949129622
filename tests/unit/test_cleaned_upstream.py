"""What pixel stages cleaned before the metadata engine is kept, and nothing more.

Engine behaviour is tested without Spark; one Spark test checks that the
``cleanedUpstream`` Param survives a stage save/load.
"""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from sparkdeid import DicomMetadataDeidentifier
from sparkdeid.metadata.engine import EngineConfig, MetadataEngine, deidentify_bytes
from tests.factories import engine_config, scan_bytes, scan_for_strings

SECRET = b"cleaned-upstream-test-secret"
ROOT = "1.2.826.0.1.3680043.99."
PATIENT = "HAWTHRIDGE^YVAINE"  # invented
NEEDLES = ("HAWTHRIDGE", "YVAINE", "SRQ88213", "07/04/1962")
OVERLAY_BITS = bytes([0b10101010, 0b01010101]) * 8  # 16 x 8 bits, already cleaned upstream
PDF = b"%PDF-1.4\n% redacted upstream: clinical words remain\n%%EOF\n"  # even length: no padding


def config(source: str = "tcia", **kwargs: Any) -> EngineConfig:
    return engine_config(source, SECRET, **kwargs)


def base(sop_class: str = CTImageStorage) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, ROOT + "1.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ROOT + "2", ROOT + "3"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT, "SRQ88213", "19620704"
    ds.Modality = "OT"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x00\x00"  # an image without pixels is an error row
    return ds


def with_overlay(ds: Dataset) -> Dataset:
    ds.add_new(0x60000010, "US", 16)  # Overlay Rows
    ds.add_new(0x60000011, "US", 8)  # Overlay Columns
    ds.add_new(0x60000022, "LO", "HAWTHRIDGE arrow")  # Overlay Description
    ds.add_new(0x60000040, "CS", "G")  # Overlay Type
    ds.add_new(0x60000045, "LO", "USER")  # Overlay Subtype
    ds.add_new(0x60000050, "SS", [1, 1])  # Overlay Origin
    ds.add_new(0x60000100, "US", 1)  # Overlay Bits Allocated
    ds.add_new(0x60000102, "US", 0)  # Overlay Bit Position
    ds.add_new(0x60001500, "LO", "SRQ88213 marker")  # Overlay Label
    ds.add_new(0x60003000, "OW", OVERLAY_BITS)  # Overlay Data
    ds.add_new(0x60004000, "LT", "drawn for HAWTHRIDGE on 07/04/1962")  # Overlay Comments
    ds.add_new(0x60000060, "LO", "retired compression code")  # not kept by the option
    return ds


def icon(marker: int) -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows = item.Columns = 4
    item.BitsAllocated, item.BitsStored, item.HighBit = 8, 8, 7
    item.PixelRepresentation = 0
    item.PixelData = bytes([marker]) * 16
    return item


def with_icons(ds: Dataset) -> Dataset:
    ds.IconImageSequence = [icon(7)]
    reference = Dataset()
    reference.ReferencedSOPClassUID = CTImageStorage
    reference.ReferencedSOPInstanceUID = ROOT + "1.0"
    reference.IconImageSequence = [icon(9)]
    ds.ReferencedImageSequence = [reference]
    return ds


def with_document(ds: Dataset) -> Dataset:
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"  # Encapsulated PDF Storage
    ds.Modality = "DOC"
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = PDF
    ds.EncapsulatedDocumentLength = len(PDF)
    return ds


def run(ds: Dataset, **kwargs: Any) -> tuple[Dataset, bytes]:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    out, _ = deidentify_bytes(buffer.getvalue(), config(**kwargs))
    return pydicom.dcmread(io.BytesIO(out)), out


# --------------------------------------------------------------------------- config


def test_names_are_validated_sorted_and_deduplicated():
    cfg = config(cleaned_upstream=("overlays", "icons", "overlays"))
    assert cfg.cleaned_upstream == ("icons", "overlays")
    assert config(cleaned_upstream=["documents"]).cleaned_upstream == ("documents",)
    assert config().cleaned_upstream == ()
    assert config(cleaned_upstream=("icons", "overlays")) == cfg  # one cached engine
    with pytest.raises(ValueError, match="thumbnails"):
        config(cleaned_upstream=("icons", "thumbnails"))


def test_the_stage_param_flows_into_the_engine_config(secret_file):
    stage = DicomMetadataDeidentifier(secretFile=secret_file)
    assert stage.getCleanedUpstream() == []
    assert stage.engine_config().cleaned_upstream == ()
    stage.setCleanedUpstream(["overlays", "documents"])
    assert stage.getCleanedUpstream() == ["overlays", "documents"]
    assert stage.engine_config().cleaned_upstream == ("documents", "overlays")
    built = DicomMetadataDeidentifier(secretFile=secret_file, cleanedUpstream=["icons"])
    assert built.engine_config().cleaned_upstream == ("icons",)
    with pytest.raises(ValueError, match="unknown cleaned_upstream"):
        stage.setCleanedUpstream(["pixels"]).engine_config()


# --------------------------------------------------------------------------- overlays


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_without_the_option_overlays_go_entirely(profile):
    result, out = run(with_overlay(base()), source=profile)
    assert [elem for elem in result if elem.tag.group == 0x6000] == []
    assert scan_bytes(out, NEEDLES) == []


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_cleaned_overlays_keep_their_bitmap_and_layout_and_lose_phi(profile):
    original = with_overlay(base())
    result, out = run(original, source=profile, cleaned_upstream=("overlays",))
    for element in (0x0010, 0x0011, 0x0040, 0x0045, 0x0050, 0x0100, 0x0102, 0x3000):
        tag = 0x60000000 | element
        assert result[tag].value == original[tag].value, hex(tag)
    assert result[0x60003000].value == OVERLAY_BITS
    assert result[0x60000022].value == "arrow"  # description cleaned, not removed
    assert result[0x60001500].value == "marker"  # label cleaned
    assert 0x60004000 not in result  # comments: the strategy row (X) still applies
    assert 0x60000060 not in result  # an attribute the option does not name: removed
    assert scan_for_strings(result, NEEDLES) == [] and scan_bytes(out, NEEDLES) == []


# --------------------------------------------------------------------------- documents


def test_without_the_option_the_document_is_emptied():
    result, _ = run(with_document(base()))
    assert result.EncapsulatedDocument in (b"", None)


def test_a_cleaned_document_is_kept_with_its_length():
    assert len(PDF) % 2 == 0
    result, out = run(with_document(base()), cleaned_upstream=("documents",))
    assert result.EncapsulatedDocument == PDF
    assert result.EncapsulatedDocumentLength == len(PDF)
    assert scan_bytes(out, NEEDLES) == []


# --------------------------------------------------------------------------- icons


def icon_pixels(ds: Dataset) -> list[bytes]:
    found = [item.PixelData for item in ds.get("IconImageSequence", [])]
    for item in ds.get("ReferencedImageSequence", []):
        found += icon_pixels(item)
    return found


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_without_the_option_every_icon_goes(profile):
    result, _ = run(with_icons(base()), source=profile)
    assert icon_pixels(result) == []


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_a_regenerated_top_level_icon_is_kept_and_nested_ones_still_go(profile):
    result, _ = run(with_icons(base()), source=profile, cleaned_upstream=("icons",))
    assert icon_pixels(result) == [bytes([7]) * 16]
    assert result.IconImageSequence[0].Rows == 4


def test_report_counts_what_was_kept_as_cleaned_upstream():
    ds = with_overlay(with_icons(base()))
    engine = MetadataEngine(config(cleaned_upstream=("icons", "overlays")))
    report = engine.deidentify(ds)
    assert report.actions["kept_cleaned_upstream"] == 8  # 7 overlay layout/data + the icon
    assert report.actions["embedded_image_removed"] == 0
    assert "HAWTHRIDGE" not in repr(report).upper()


# --------------------------------------------------------------------------- Spark


@pytest.mark.spark
def test_cleaned_upstream_survives_stage_save_and_load(spark, secret_file, tmp_path):
    stage = DicomMetadataDeidentifier(secretFile=secret_file, cleanedUpstream=["icons", "overlays"])
    stage.write().overwrite().save(str(tmp_path / "stage"))
    loaded = DicomMetadataDeidentifier.load(str(tmp_path / "stage"))
    assert loaded.getCleanedUpstream() == ["icons", "overlays"]
    assert loaded.engine_config().cleaned_upstream == ("icons", "overlays")
    default = DicomMetadataDeidentifier(secretFile=secret_file)
    default.write().overwrite().save(str(tmp_path / "default"))
    assert DicomMetadataDeidentifier.load(str(tmp_path / "default")).getCleanedUpstream() == []
