"""Images carried inside the header never leave with their original pixels (no Spark).

A synthetic CT carries text burned into an Icon Image Sequence, a private
thumbnail sequence the TCIA knowledge base keeps (``k``), icons nested in a
Referenced Image item and a Directory Record, and a curve group; after the
engine only the top-level Pixel Data remains.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

from sparkdeid.metadata import embedded_images as images
from sparkdeid.metadata.engine import EngineConfig, MetadataEngine, deidentify_bytes
from sparkdeid.metadata.private_tags import PathStep, PrivateTagKnowledgeBase
from tests.factories import dataset_bytes, engine_config, scan_bytes, scan_for_strings

SECRET = b"embedded-images-test-secret"
HEADER = "Tags,VR,Name,Status,Action,Option\n"
ROOT = "1.2.826.0.1.3680043.99."
PATIENT = "HAWTHRIDGE^YVAINE"  # invented
# A private sequence TCIA's knowledge base keeps: (0029,"SIEMENS SYNGO ADVANCED PRESENTATION",02).
KEPT_CREATOR, KEPT_SEQUENCE = "SIEMENS SYNGO ADVANCED PRESENTATION", 0x02


def config(source: str, **kwargs: Any) -> EngineConfig:
    return engine_config(source, SECRET, **kwargs)


def to_bytes(ds: Dataset) -> bytes:
    return dataset_bytes(ds)


def picture(text: str, size: int = 64) -> bytes:
    """An 8-bit grey image with ``text`` burned in, as Pixel Data bytes."""
    image = Image.new("L", (size, size), 0)
    ImageDraw.Draw(image).text((2, size // 3), text, fill=255)
    return np.asarray(image, dtype=np.uint8).tobytes()


def image_item(text: str, size: int = 64) -> Dataset:
    item = Dataset()
    item.SamplesPerPixel = 1
    item.PhotometricInterpretation = "MONOCHROME2"
    item.Rows = item.Columns = size
    item.BitsAllocated, item.BitsStored, item.HighBit = 8, 8, 7
    item.PixelRepresentation = 0
    item.PixelData = picture(text, size)
    return item


def ct_with_embedded_images() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ROOT + "1.1"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = ROOT + "2", ROOT + "3"
    ds.PatientName, ds.PatientID = PATIENT, "SRQ88213"
    ds.Modality = "CT"
    ds.IconImageSequence = [image_item("HAWTHRIDGE")]
    # Icons nested in a Referenced Image item and a Directory Record item.
    reference = Dataset()
    reference.ReferencedSOPClassUID = CTImageStorage
    reference.ReferencedSOPInstanceUID = ROOT + "1.0"
    reference.IconImageSequence = [image_item("YVAINE")]
    ds.ReferencedImageSequence = [reference]
    record = Dataset()
    record.DirectoryRecordType = "IMAGE"
    record.IconImageSequence = [image_item("SRQ88213")]
    ds.DirectoryRecordSequence = [record]
    # A kept private sequence: one thumbnail item, one item with a harmless value.
    thumbnail = image_item("HAWTHRIDGE", 32)
    settings = Dataset()
    settings.WindowCenter = "40"
    block = ds.private_block(0x0029, KEPT_CREATOR, create=True)
    block.add_new(KEPT_SEQUENCE, "SQ", [thumbnail, settings])
    # Top-level image.
    top = image_item("TOP", 16)
    for elem in top:
        ds.add(elem)
    return ds


def pixel_paths(ds: Dataset, prefix: str = "") -> list[str]:
    """Where any kind of Pixel Data sits, nested included."""
    found = []
    for elem in ds:
        path = f"{prefix}{elem.tag}"
        if int(elem.tag) in images.PIXEL_TAGS:
            found.append(path)
        elif elem.VR == "SQ":
            for index, item in enumerate(elem.value):
                found += pixel_paths(item, f"{path}[{index}].")
    return found


def test_the_knowledge_base_keeps_the_private_sequence_used_here():
    kb = PrivateTagKnowledgeBase.default()
    assert kb.disposition([PathStep(0x0029, KEPT_CREATOR, KEPT_SEQUENCE)]) == "k"


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_only_the_top_level_pixel_data_survives(profile):
    ds = ct_with_embedded_images()
    raw = to_bytes(ds)
    out, _ = deidentify_bytes(raw, config(profile))
    result = pydicom.dcmread(io.BytesIO(out))
    assert pixel_paths(result) == ["(7FE0,0010)"]
    assert result.PixelData == ds.PixelData
    for item_text in ("HAWTHRIDGE", "YVAINE", "SRQ88213"):
        assert picture(item_text) not in out
    assert picture("HAWTHRIDGE", 32) not in out
    assert "IconImageSequence" not in result
    assert "IconImageSequence" not in result.ReferencedImageSequence[0]
    assert "IconImageSequence" not in result.DirectoryRecordSequence[0]
    assert scan_for_strings(result, ["HAWTHRIDGE", "SRQ88213"]) == []
    assert scan_bytes(out, ["HAWTHRIDGE", "SRQ88213"]) == []


def test_tcia_keeps_the_private_sequence_without_its_thumbnail():
    ds = ct_with_embedded_images()
    report = MetadataEngine(config("tcia")).deidentify(ds)
    sequence = ds.private_block(0x0029, KEPT_CREATOR)[KEPT_SEQUENCE].value
    assert len(sequence) == 1 and sequence[0].WindowCenter == 40
    assert report.actions["embedded_image_removed"] == 1  # the icons go by their X row


def test_a_private_sequence_of_thumbnails_only_goes_with_its_creator():
    ds = ct_with_embedded_images()
    block = ds.private_block(0x0029, KEPT_CREATOR)
    block[KEPT_SEQUENCE].value = [image_item("HAWTHRIDGE", 32)]
    MetadataEngine(config("tcia")).deidentify(ds)
    assert not [elem for elem in ds if elem.tag.group == 0x0029]


def test_a_keep_row_for_icons_does_not_keep_their_pixels():
    rows = HEADER + (
        '"(0088, 0200)",SQ,Icon Image Sequence,,keep,\n'
        '"(0008, 1140)",SQ,Referenced Image Sequence,,keep,\n'
    )
    ds = ct_with_embedded_images()
    report = MetadataEngine(EngineConfig(strategy_csv=rows, secret=SECRET)).deidentify(ds)
    assert pixel_paths(ds) == ["(7FE0,0010)"]
    assert "IconImageSequence" not in ds  # nothing but an image in it: removed
    assert report.actions["embedded_image_removed"] == 3


def test_a_catch_all_private_keep_row_still_loses_nested_images():
    rows = HEADER + '"(gggg, eeee)",*,Private Attributes,,keep,\n'
    ds = ct_with_embedded_images()
    report = MetadataEngine(EngineConfig(strategy_csv=rows, secret=SECRET)).deidentify(ds)
    assert pixel_paths(ds) == ["(7FE0,0010)"]
    sequence = ds.private_block(0x0029, KEPT_CREATOR)[KEPT_SEQUENCE].value
    assert len(sequence) == 1 and "WindowCenter" in sequence[0]
    assert report.actions["embedded_image_removed"] == 4


def test_holds_image_and_drop_images_below():
    assert images.holds_image(image_item("X"))
    assert not images.holds_image(Dataset())
    float_item = Dataset()
    float_item.add_new(0x7FE00008, "OF", b"\x00" * 8)  # Float Pixel Data
    assert images.holds_image(float_item)
    parent = Dataset()
    outer = Dataset()
    outer.IconImageSequence = [image_item("X")]
    parent.ReferencedImageSequence = [outer]
    assert images.drop_images_below(parent, 0x00081140) == 1
    assert "IconImageSequence" not in parent.ReferencedImageSequence[0]


# --------------------------------------------------------------------------- curves


def with_curve(ds: Dataset) -> Dataset:
    ds.add_new(0x50000005, "US", 1)  # Curve Dimensions
    ds.add_new(0x50000010, "US", 4)  # Number of Points
    ds.add_new(0x50000020, "CS", "TAC")  # Type of Data
    ds.add_new(0x50000022, "LO", "HAWTHRIDGE ECG")  # Curve Description
    ds.add_new(0x50003000, "OW", bytes(range(8)))  # Curve Data
    ds.add_new(0x50020022, "LO", "second curve SRQ88213")
    return ds


def curve_elements(ds: Dataset) -> list[int]:
    return [int(elem.tag) for elem in ds if 0x5000 <= elem.tag.group <= 0x50FF]


@pytest.mark.parametrize("profile", ["tcia", "basic"])
def test_curve_groups_are_removed_by_their_row(profile):
    ds = with_curve(ct_with_embedded_images())
    out, _ = deidentify_bytes(to_bytes(ds), config(profile))
    result = pydicom.dcmread(io.BytesIO(out))
    assert curve_elements(result) == []
    assert scan_bytes(out, ["HAWTHRIDGE", "SRQ88213"]) == []


def test_clean_graphics_cleans_curve_text_and_still_drops_curve_data():
    # The option's C for (50xx,xxxx): text is cleaned, binary data cannot be and goes.
    ds = with_curve(ct_with_embedded_images())
    out, _ = deidentify_bytes(to_bytes(ds), config("basic+clean-graphics"))
    result = pydicom.dcmread(io.BytesIO(out))
    assert 0x50003000 not in result and 0x50000005 not in result
    assert result[0x50000022].value == "ECG"
    assert scan_bytes(out, ["HAWTHRIDGE", "SRQ88213"]) == []
