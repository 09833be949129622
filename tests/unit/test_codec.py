"""DICOM bytes <-> Dataset: errors without PHI, untouched pixels, refreshed file meta."""

from __future__ import annotations

import io
import random

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset as write_raw_dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
)

from sparkdeid.dicom import codec
from sparkdeid.errors import DicomDecodeError, SparkDeidError
from tests.factories import dataset_bytes

CT_SMALL = "CT_small.dcm"
CT_SMALL_PATIENT = "CompressedSamples^CT1"  # the bundled file's (fictitious) patient name
SOP_UID = "1.2.826.0.1.3680043.99.1.1"


def bundled(name: str) -> bytes:
    with open(get_testdata_file(name), "rb") as handle:
        return handle.read()


def small_dataset() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.99.1.0"  # stale on purpose
    ds.preamble = b"\x00" * 128
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.PatientName = "VORANEK^TALISHA"
    ds.Modality = "OT"
    return ds


def reread(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))


def assert_decode_error_without_phi(data: bytes, *phi: str) -> DicomDecodeError:
    with pytest.raises(DicomDecodeError) as info:
        codec.read_dataset(data)
    message = str(info.value)
    for value in phi:
        assert value.upper() not in message.upper()
    # The underlying exception (whose text may quote values) is not chained.
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return info.value


# --------------------------------------------------------------------------- decode errors


def test_decode_error_is_a_value_error_and_a_package_error():
    assert issubclass(DicomDecodeError, ValueError)
    assert issubclass(DicomDecodeError, SparkDeidError)


def test_empty_bytes():
    error = assert_decode_error_without_phi(b"")
    assert "empty" in str(error)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes(seed):
    data = random.Random(seed).randbytes(4096)
    assert not codec.looks_like_dicom(data)
    error = assert_decode_error_without_phi(data)
    assert "not a DICOM file" in str(error)


def test_file_meta_without_a_dataset():
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    error = assert_decode_error_without_phi(buffer.getvalue(), SOP_UID)
    assert "no data elements" in str(error)


def test_file_truncated_inside_the_header():
    assert_decode_error_without_phi(bundled(CT_SMALL)[:1000], CT_SMALL_PATIENT)


def test_file_truncated_in_half():
    data = bundled(CT_SMALL)
    assert_decode_error_without_phi(data[: len(data) // 2], CT_SMALL_PATIENT)


def test_a_file_cut_anywhere_before_its_last_element_ends_is_an_error():
    # pydicom ends a data set quietly where an element header is cut; without
    # a check the rest reads as a complete CT that has no Pixel Data
    data = bundled(CT_SMALL)
    pixels = pydicom.dcmread(io.BytesIO(data)).get_item(0x7FE00010)
    pixels_end = pixels.value_tell + pixels.length
    cuts = sorted({*range(132, pixels_end, 13), 3000, pixels_end - 1})
    for cut in cuts:
        assert_decode_error_without_phi(data[:cut], CT_SMALL_PATIENT)
    # cut exactly after Pixel Data (only the trailing padding element lost): a whole image
    assert 0x7FE00010 in codec.read_dataset(data[:pixels_end])


def test_an_image_class_with_no_pixel_data_is_an_error_but_an_sr_is_not():
    ds = pydicom.dcmread(io.BytesIO(bundled(CT_SMALL)))
    del ds.PixelData
    error = assert_decode_error_without_phi(dataset_bytes(ds), CT_SMALL_PATIENT)
    assert "CT Image Storage requires Pixel Data" in str(error)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    assert "PixelData" not in codec.read_dataset(dataset_bytes(ds))
    assert codec.is_image_sop_class("1.2.840.10008.5.1.4.1.1.4")  # MR Image Storage
    assert not codec.is_image_sop_class("1.2.840.10008.5.1.4.1.1.481.2")  # RT Dose


# --------------------------------------------------------------------------- sniffing


def test_looks_like_dicom():
    assert codec.looks_like_dicom(bundled(CT_SMALL))
    assert codec.looks_like_dicom(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100")  # raw LE dataset
    assert codec.looks_like_dicom(b"\x00\x08\x00\x05CS\x00\x0aISO_IR 100")  # raw BE dataset
    assert not codec.looks_like_dicom(b"%PDF-1.7 not dicom at all")
    assert not codec.looks_like_dicom(b"\x08\x00")  # too short to say


def test_stop_before_pixels_skips_pixel_data():
    ds = codec.read_dataset(bundled(CT_SMALL), stop_before_pixels=True)
    assert "PixelData" not in ds and "Rows" in ds


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "name, syntax",
    [
        ("MR_small_bigendian.dcm", ExplicitVRBigEndian),
        ("image_dfl.dcm", DeflatedExplicitVRLittleEndian),
        (CT_SMALL, ExplicitVRLittleEndian),
    ],
)
def test_round_trip_keeps_transfer_syntax_pixels_and_values(name, syntax):
    data = bundled(name)
    original = reread(data)
    ds = codec.read_dataset(data)
    assert ds.file_meta.TransferSyntaxUID == syntax
    result = reread(codec.write_dataset(ds))
    assert result.file_meta.TransferSyntaxUID == syntax
    assert result.PixelData == original.PixelData
    for elem in original:
        assert result[elem.tag].value == elem.value, elem.keyword
    assert np.array_equal(result.pixel_array, original.pixel_array)


def test_dataset_without_file_meta_is_written_as_part_10_in_its_encoding():
    ds = small_dataset()
    del ds.file_meta
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x00\x00"  # an image keeps its pixels, or it is an error row
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_raw_dataset(fp, ds)
    raw = fp.getvalue()
    assert raw[128:132] != b"DICM"
    out = codec.write_dataset(codec.read_dataset(raw))
    assert out[128:132] == b"DICM"
    result = reread(out)
    assert result.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert result.PatientName == "VORANEK^TALISHA"


def test_raw_big_endian_dataset_keeps_its_pixel_values():
    ds = small_dataset()
    del ds.file_meta
    ds.Rows, ds.Columns = 2, 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = np.array([1, 2, 3, 258], dtype=">u2").tobytes()
    ds["PixelData"].VR = "OW"
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = False, False
    write_raw_dataset(fp, ds)
    result = reread(codec.write_dataset(codec.read_dataset(fp.getvalue())))
    assert result.pixel_array.ravel().tolist() == [1, 2, 3, 258]


# --------------------------------------------------------------------------- preamble


def test_preamble_with_readable_text_is_zeroed():
    ds = small_dataset()
    ds.preamble = b"PATIENT QUILLAN^ESTRID 19760616".ljust(128, b"\x00")
    out = codec.write_dataset(ds)
    assert out[:128] == b"\x00" * 128
    assert b"QUILLAN" not in out


def test_binary_preamble_is_kept():
    data = bundled(CT_SMALL)
    assert data[:4] == b"II*\x00"  # a TIFF header: dual-format file
    out = codec.write_dataset(codec.read_dataset(data))
    assert out[:128] == data[:128]


def test_missing_preamble_becomes_zeros():
    ds = small_dataset()
    ds.preamble = None
    assert codec.write_dataset(ds)[:132] == b"\x00" * 128 + b"DICM"


def test_preamble_with_a_short_name_is_zeroed():
    ds = small_dataset()
    ds.preamble = b"PN=QOR^ZU;".ljust(128, b"\x00")
    assert codec.write_dataset(ds)[:128] == b"\x00" * 128


# --------------------------------------------------------------------------- file meta


def test_file_meta_is_refreshed_and_site_elements_dropped():
    ds = small_dataset()
    meta = ds.file_meta
    meta.SourceApplicationEntityTitle = "ZORVATH_CT1"
    meta.SendingApplicationEntityTitle = "ZORVATH_PACS"
    meta.ReceivingApplicationEntityTitle = "RESEARCH_AE"
    meta.PrivateInformationCreatorUID = "1.2.826.0.1.3680043.99.8"
    meta.PrivateInformation = b"QUILLAN^ESTRID "
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.99.9"
    meta.ImplementationVersionName = "ZORVATH_1"
    out = codec.write_dataset(ds)
    result = reread(out).file_meta
    for keyword in (
        "SourceApplicationEntityTitle",
        "SendingApplicationEntityTitle",
        "ReceivingApplicationEntityTitle",
        "PrivateInformationCreatorUID",
        "PrivateInformation",
    ):
        assert keyword not in result
    assert result.MediaStorageSOPInstanceUID == SOP_UID
    assert result.MediaStorageSOPClassUID == SecondaryCaptureImageStorage
    assert result.ImplementationClassUID == codec.IMPLEMENTATION_CLASS_UID
    assert result.ImplementationVersionName == codec.IMPLEMENTATION_VERSION_NAME
    assert result.TransferSyntaxUID == ExplicitVRLittleEndian
    assert b"ZORVATH" not in out and b"QUILLAN" not in out


def test_presentation_addresses_are_dropped_from_file_meta():
    ds = small_dataset()
    ds.file_meta.SourcePresentationAddress = "https://pacs.zorvath-clinic.example/ae"
    ds.file_meta.SendingPresentationAddress = "https://pacs.zorvath-clinic.example/send"
    ds.file_meta.ReceivingPresentationAddress = "https://research.example/recv"
    out = codec.write_dataset(ds)
    assert b"zorvath" not in out.lower()


def test_implicit_data_under_an_explicit_syntax_is_written_with_dictionary_vrs():
    """SC_rgb_jpeg.dcm declares JPEG Baseline (explicit VR) but its data set is implicit."""
    with pytest.warns(UserWarning):
        ds = codec.read_dataset(open(get_testdata_file("SC_rgb_jpeg.dcm"), "rb").read())
    out = pydicom.dcmread(io.BytesIO(codec.write_dataset(ds)))
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert out["PatientName"].VR == "PN"
    assert out.pixel_array.shape == (ds.Rows, ds.Columns, 3)
