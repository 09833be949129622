"""FrameSource: frames read by seeking equal frames read from the whole file."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended, get_frame
from pydicom.pixels import pixel_array
from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from sparkdeid.dicom import frames
from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.frame_source import FrameSource
from sparkdeid.errors import DicomDecodeError

# Multi-frame files in several transfer syntaxes, single-frame CT, implicit VR
# (rtdose: 15 frames; MR_small_implicit: one), 1-bit packed frames (liver),
# JPEG baseline YBR_FULL_422 with a Basic Offset Table, palette colour.
BUNDLED = [
    "emri_small.dcm",
    "emri_small_RLE.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "emri_small_jpeg_ls_lossless.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_2frame.dcm",
    "CT_small.dcm",
    "rtdose.dcm",
    "MR_small_implicit.dcm",
    "liver.dcm",
    "examples_ybr_color.dcm",
    "SC_ybr_full_422_uncompressed.dcm",
    "OBXXXX1A_2frame.dcm",
]


def bundled(name: str) -> str:
    path = get_testdata_file(name)
    assert path is not None, name
    return str(path)


def whole(path: str | Path) -> Dataset:
    """The dataset the whole-file path reads."""
    return read_dataset(Path(path).read_bytes())


def native_frame_bytes(ds: Dataset, info: frames.PixelInfo, index: int) -> bytes:
    """Frame ``index`` sliced from the whole Pixel Data (byte-aligned formats)."""
    samples = 2 if info.photometric == "YBR_FULL_422" else info.samples_per_pixel
    size = info.rows * info.columns * samples * info.bits_allocated // 8
    return bytes(ds.PixelData[index * size : (index + 1) * size])


def synthetic(
    arr: np.ndarray,
    syntax: str = ExplicitVRLittleEndian,
    *,
    bits_allocated: int | None = None,
    pixel_data: bytes | None = None,
    extra: Dataset | None = None,
) -> bytes:
    """A small multi-frame MONOCHROME2 Secondary Capture file; ``arr`` is (frames, rows, cols)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientName = "Synthetic^Frame"
    ds.Modality = "OT"
    ds.NumberOfFrames = arr.shape[0]
    ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits_allocated or arr.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if pixel_data is not None:
        ds.PixelData = pixel_data
        ds["PixelData"].VR = "OB"
        if pydicom.uid.UID(syntax).is_encapsulated:
            ds["PixelData"].is_undefined_length = True
    elif ds.BitsAllocated == 1:
        packed = np.packbits(arr.astype(np.uint8).ravel(), bitorder="little").tobytes()
        ds.PixelData = packed + b"\0" * (len(packed) % 2)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        ds["PixelData"].VR = "OW" if arr.dtype.itemsize > 1 else "OB"
    if extra is not None:
        ds.update(extra)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def rle_frames(name: str = "emri_small_RLE.dcm") -> tuple[Dataset, list[bytes]]:
    ds = whole(bundled(name))
    info = frames.pixel_info(ds)
    assert info is not None
    return ds, [frames.encoded_frame(ds, info, i) for i in range(info.num_frames)]


def rewrap(ds: Dataset, pixel_data: bytes, **extended: bytes) -> bytes:
    """``ds`` saved again with other encapsulated Pixel Data (and offset tables)."""
    ds.PixelData = pixel_data
    ds["PixelData"].is_undefined_length = True
    for keyword, value in extended.items():
        setattr(ds, keyword, value)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------
# Equal to the whole-file path


@pytest.mark.parametrize("name", BUNDLED)
def test_frames_equal_the_whole_file_path(name: str) -> None:
    path = bundled(name)
    ds = whole(path)
    info = frames.pixel_info(ds)
    assert info is not None
    with FrameSource(path) as source:
        assert source.info == info
        assert len(source) == info.num_frames
        for index in range(info.num_frames):
            encoded = source.encoded_frame(index)
            if info.is_encapsulated:
                assert encoded == frames.encoded_frame(ds, info, index)
            elif info.bits_allocated != 1:
                assert encoded == native_frame_bytes(ds, info, index)
            decoded = source.decoded_frame(index)
            expected = frames.decode_frame(ds, index, info=info)
            assert decoded.dtype == expected.dtype
            np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize(
    "name", ["emri_small.dcm", "examples_ybr_color.dcm", "OBXXXX1A_2frame.dcm"]
)
def test_rendered_frames_equal_render_frame(name: str) -> None:
    path = bundled(name)
    ds = whole(path)
    with FrameSource(path) as source:
        for index in (0, source.num_frames - 1):
            for width in (0, 48):
                mine = source.rendered_frame(index, width)
                theirs = frames.render_frame(ds, index, width)
                np.testing.assert_array_equal(mine.image, theirs.image)
                assert mine.scale == theirs.scale


def test_frames_iterates_in_order_and_decodes_once_per_frame() -> None:
    path = bundled("emri_small_RLE.dcm")
    with FrameSource(path) as source:
        seen = list(source.frames())
        assert [f.index for f in seen] == list(range(10))
        assert [f.encoded for f in seen] == [source.encoded_frame(i) for i in range(10)]
        frame = seen[3]
        assert frame.decoded is frame.decoded
        np.testing.assert_array_equal(frame.rendered().image, source.rendered_frame(3).image)


def test_a_file_object_is_read_and_left_open() -> None:
    data = Path(bundled("emri_small_RLE.dcm")).read_bytes()
    handle = io.BytesIO(data)
    with FrameSource(handle) as source:
        expected = get_frame(whole(bundled("emri_small_RLE.dcm")).PixelData, 9,
                             number_of_frames=10)
        assert source.encoded_frame(9) == expected
    assert not handle.closed


class _CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest = 0

    def read(self, size: int | None = -1) -> bytes:
        out = super().read(size)
        self.largest = max(self.largest, len(out))
        return out


@pytest.mark.parametrize("name", ["emri_small.dcm", "emri_small_RLE.dcm"])
def test_no_read_holds_more_than_a_frame_or_the_header(name: str) -> None:
    data = Path(bundled(name)).read_bytes()
    reader = _CountingReader(data)
    with FrameSource(reader) as source:
        for index in range(source.num_frames):
            source.decoded_frame(index)
        bound = max(source.layout.element_offset, 64 * 64 * 2)
    assert reader.largest <= bound < len(data)


# --------------------------------------------------------------------------
# Layouts: packed bits, offset tables, fragments


def test_one_bit_frames_that_do_not_start_on_a_byte() -> None:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 2, size=(3, 5, 7), dtype=np.uint8)  # 35 bits per frame
    data = synthetic(arr, bits_allocated=1)
    # pydicom decodes all frames together (its per-frame index fails on the last one here).
    expected = pixel_array(pydicom.dcmread(io.BytesIO(data)))
    with FrameSource(io.BytesIO(data)) as source:
        assert source.native_span(1) == (4, 9, 3)
        for index in range(3):
            np.testing.assert_array_equal(source.decoded_frame(index), arr[index])
            np.testing.assert_array_equal(source.decoded_frame(index), expected[index])


def test_extended_offset_table_maps_frames() -> None:
    ds, encoded = rle_frames()
    pixel_data, offsets, lengths = encapsulate_extended(encoded)
    data = rewrap(ds, pixel_data, ExtendedOffsetTable=offsets,
                  ExtendedOffsetTableLengths=lengths)
    with FrameSource(io.BytesIO(data)) as source:
        assert [source.encoded_frame(i) for i in range(10)] == encoded


def test_basic_offset_table_with_several_fragments_per_frame() -> None:
    ds, encoded = rle_frames()
    data = rewrap(ds, encapsulate(encoded, fragments_per_frame=3, has_bot=True))
    with FrameSource(io.BytesIO(data)) as source:
        assert source.fragment_count() > 10
        assert len(source.frame_fragments(4)) > 1
        assert [source.encoded_frame(i) for i in range(10)] == encoded


def test_jpeg_2000_fragments_without_table_split_at_codestream_starts() -> None:
    ds, encoded = rle_frames("emri_small_jpeg_2k_lossless.dcm")
    data = rewrap(ds, encapsulate(encoded, fragments_per_frame=2, has_bot=False))
    with FrameSource(io.BytesIO(data)) as source:
        assert source.fragment_count() == 20
        assert [source.encoded_frame(i) for i in range(10)] == encoded


def test_a_wrong_offset_table_is_not_trusted() -> None:
    ds, encoded = rle_frames()
    pixel_data = bytearray(encapsulate(encoded, has_bot=True))
    pixel_data[12:16] = (7).to_bytes(4, "little")  # frame 1 at no fragment boundary
    with FrameSource(io.BytesIO(rewrap(ds, bytes(pixel_data)))) as source:
        assert [source.encoded_frame(i) for i in range(10)] == encoded


def test_unmappable_fragments_fail_clearly() -> None:
    ds, encoded = rle_frames()
    data = rewrap(ds, encapsulate(encoded, fragments_per_frame=2, has_bot=False))
    with pytest.raises(DicomDecodeError, match="offset table"):
        FrameSource(io.BytesIO(data))


def test_elements_after_pixel_data_are_kept_and_padding_dropped() -> None:
    extra = Dataset()
    extra.add_new(0x7FE10010, "LO", "SYNTHETIC CREATOR")
    extra.add_new(0x7FE11001, "LO", "after pixels")
    extra.add_new(0xFFFCFFFC, "OB", b"\0" * 16)
    data = synthetic(np.zeros((2, 4, 4), np.uint16), extra=extra)
    with FrameSource(io.BytesIO(data)) as source:
        assert 0xFFFCFFFC not in source.trailing
        assert source.trailing[0x7FE11001].value == "after pixels"
        assert source.decoded_frame(1).shape == (4, 4)


def test_implicit_vr_multi_frame() -> None:
    arr = np.arange(3 * 6 * 5, dtype=np.uint16).reshape(3, 6, 5)
    data = synthetic(arr, ImplicitVRLittleEndian)
    with FrameSource(io.BytesIO(data)) as source:
        assert source.layout.implicit_vr
        for index in range(3):
            np.testing.assert_array_equal(source.decoded_frame(index), arr[index])


# --------------------------------------------------------------------------
# Errors


def test_truncated_native_pixel_data_fails_when_opened() -> None:
    data = Path(bundled("emri_small.dcm")).read_bytes()
    with pytest.raises(DicomDecodeError, match="truncated"):
        FrameSource(io.BytesIO(data[:-1000]))


def test_truncated_encapsulated_pixel_data_fails_when_opened() -> None:
    data = Path(bundled("emri_small_RLE.dcm")).read_bytes()
    for cut in (len(data) - 8, len(data) - 3000):
        with pytest.raises(DicomDecodeError, match="truncated"):
            FrameSource(io.BytesIO(data[:cut]))


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("emri_small_big_endian.dcm", "not read frame by frame"),
        ("image_dfl.dcm", "not read frame by frame"),
        ("rtstruct.dcm", "no Pixel Data"),
    ],
)
def test_unsupported_files_fail_clearly(name: str, match: str) -> None:
    with pytest.raises(DicomDecodeError, match=match):
        FrameSource(bundled(name))


def test_not_dicom_and_index_errors() -> None:
    with pytest.raises(DicomDecodeError, match="not a DICOM"):
        FrameSource(io.BytesIO(b"hello world, not an image" * 10))
    with FrameSource(bundled("SC_rgb_2frame.dcm")) as source, pytest.raises(IndexError):
        source.encoded_frame(2)


def test_errors_carry_no_header_values() -> None:
    data = synthetic(np.zeros((2, 8, 8), np.uint16))
    with pytest.raises(DicomDecodeError) as caught:
        FrameSource(io.BytesIO(data[:-20]))
    assert "Synthetic" not in str(caught.value)
