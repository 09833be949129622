"""Frame decoding, 8-bit rendering for OCR and frame selection."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import pixel_array
from pydicom.pixels.decoders.base import Decoder, DecodeRunner
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.frames import (
    FRAME_SAMPLING,
    PixelInfo,
    decode_frame,
    frame_indices,
    pixel_info,
    render_frame,
)
from sparkdeid.errors import DicomDecodeError
from tests.factories import pydicom_pixel_files


def _load(name_or_path: str) -> Dataset:
    path = name_or_path if os.path.isabs(name_or_path) else get_testdata_file(name_or_path)
    with open(path, "rb") as handle:
        return read_dataset(handle.read())


def _pydicom_frame(path: str, raw: bool = True) -> np.ndarray | None:
    """pydicom's own first frame, or None when pydicom cannot decode the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pixel_array(pydicom.dcmread(path), index=0, raw=raw)
    except Exception:
        return None


def _grey(pixels: np.ndarray, *, bits_stored: int | None = None, signed: bool = False,
          photometric: str = "MONOCHROME2", **elements: object) -> Dataset:
    """An in-memory single-frame greyscale dataset holding ``pixels``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = pixels.dtype.itemsize * 8
    ds.BitsStored = bits_stored or ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    return ds


# --------------------------------------------------------------------------
# Every bundled pydicom file with pixels

PIXEL_FILES = pydicom_pixel_files()


@pytest.mark.parametrize("path", PIXEL_FILES, ids=[os.path.basename(p) for p in PIXEL_FILES])
def test_every_bundled_file_decodes_and_renders_or_raises_decode_error(path: str) -> None:
    reference = _pydicom_frame(path)
    try:
        ds = _load(path)
        info = pixel_info(ds)
        assert info is not None
        frame = decode_frame(ds, 0, info=info)
        rendered = render_frame(ds, 0, target_width=64, info=info)
    except DicomDecodeError:
        assert reference is None, "pydicom decodes this file but sparkdeid raised"
        return
    assert reference is not None, "sparkdeid decoded a file pydicom cannot"
    np.testing.assert_array_equal(frame, reference)
    image = rendered.image
    assert image.dtype == np.uint8
    assert image.shape[1] == 64
    assert image.ndim == (3 if info.samples_per_pixel == 3 or info.photometric ==
                          "PALETTE COLOR" else 2)
    assert rendered.original_width == info.columns
    assert rendered.original_height == info.rows
    assert rendered.scale == pytest.approx(64 / info.columns)
    assert image.shape[0] == max(1, round(info.rows * 64 / info.columns))


def test_decode_frame_decodes_only_the_requested_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    original = DecodeRunner.decode

    def counting(self: DecodeRunner, index: int) -> bytes | bytearray:
        calls.append(index)
        return original(self, index)

    monkeypatch.setattr(DecodeRunner, "decode", counting)
    ds = _load("emri_small_RLE.dcm")  # 10 frames
    frame = decode_frame(ds, 7)
    assert len(calls) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pixel_array(pydicom.dcmread(get_testdata_file("emri_small_RLE.dcm")), index=7)
    np.testing.assert_array_equal(frame, expected)


@pytest.mark.parametrize(
    ("name", "decoded"),
    [
        ("SC_ybr_full_422_uncompressed.dcm", "YBR_FULL"),
        ("color3d_jpeg_baseline.dcm", "YBR_FULL"),
        ("US1_J2KR.dcm", "RGB"),
        ("US1_J2KI.dcm", "RGB"),
        ("OBXXXX1A.dcm", "PALETTE COLOR"),
        ("SC_rgb.dcm", "RGB"),
    ],
)
def test_decoded_colour_space_is_documented(name: str, decoded: str) -> None:
    info = pixel_info(_load(name))
    assert info is not None
    assert info.decoded_photometric == decoded


def test_ybr_frames_stay_ycbcr_and_render_as_rgb() -> None:
    ds = _load("SC_ybr_full_uncompressed.dcm")
    ycbcr = decode_frame(ds, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rgb = pixel_array(pydicom.dcmread(get_testdata_file("SC_ybr_full_uncompressed.dcm")))
    assert np.abs(ycbcr.astype(int) - rgb.astype(int)).max() > 50  # not converted
    rendered = render_frame(ds, 0).image
    assert np.abs(rendered.astype(int) - rgb.astype(int)).max() <= 2


def test_palette_renders_through_the_palette() -> None:
    from pydicom.pixels.processing import apply_color_lut

    ds = _load("OBXXXX1A.dcm")
    rendered = render_frame(ds, 0).image
    lut = apply_color_lut(decode_frame(ds, 0), ds).astype(float)
    expected = lut / (65535.0 if lut.max() > 255 else 255.0) * 255
    assert np.abs(rendered - expected).max() <= 1


def test_one_bit_frames_render_black_and_white() -> None:
    image = render_frame(_load("liver.dcm"), 1).image
    assert set(np.unique(image)) == {0, 255}


def test_pixel_info_is_none_without_pixel_data() -> None:
    ds = Dataset()
    ds.Rows, ds.Columns = 2, 2
    assert pixel_info(ds) is None
    ds.FloatPixelData = np.zeros(4, np.float32).tobytes()
    assert pixel_info(ds) is None
    with pytest.raises(DicomDecodeError, match="no Pixel Data"):
        decode_frame(ds, 0)


def test_pixel_info_reads_the_image_pixel_module() -> None:
    info = pixel_info(_load("emri_small_jpeg_ls_lossless.dcm"))
    assert info == PixelInfo(
        rows=64,
        columns=64,
        samples_per_pixel=1,
        photometric="MONOCHROME2",
        bits_allocated=16,
        bits_stored=12,
        pixel_representation=0,
        planar_configuration=0,
        num_frames=10,
        transfer_syntax="1.2.840.10008.1.2.4.80",
    )
    assert info.is_encapsulated


def test_decode_errors_carry_no_values(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _load("emri_small_RLE.dcm")
    with pytest.raises(IndexError):
        decode_frame(ds, 10)
    monkeypatch.setattr(Decoder, "is_available", property(lambda self: False))
    with pytest.raises(DicomDecodeError, match="install pylibjpeg-rle"):
        decode_frame(ds, 0)


def test_corrupt_compressed_frames_raise_decode_error() -> None:
    ds = _load("emri_small_RLE.dcm")
    ds.PixelData = b"\xfe\xff\x00\xe0\x00\x00\x00\x00\xfe\xff\x00\xe0\x08\x00\x00\x00" + b"\x07" * 8
    ds.NumberOfFrames = 1
    with pytest.raises(DicomDecodeError, match=RLELossless.name):
        decode_frame(ds, 0)


# --------------------------------------------------------------------------
# Rendering keeps burned-in text visible


Region = tuple[slice, slice]


def _text_contrast(image: np.ndarray, text: Region, around: Region) -> float:
    return float(image[text].astype(float).mean() - image[around].astype(float).mean())


TEXT = (slice(20, 30), slice(20, 60))
AROUND = (slice(34, 44), slice(20, 60))


def _dark_with_text(dtype: str, background: tuple[int, int], text: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    pixels = rng.integers(background[0], background[1], size=(64, 96)).astype(dtype)
    pixels[TEXT] = text
    return pixels


def test_mid_grey_text_on_dark_8_bit_background_is_visible() -> None:
    ds = _grey(_dark_with_text("uint8", (0, 30), 128))
    assert _text_contrast(render_frame(ds, 0).image, TEXT, AROUND) >= 100


def test_mid_grey_text_on_a_16_bit_image_with_a_window_is_visible() -> None:
    pixels = _dark_with_text("uint16", (100, 300), 32768)
    ds = _grey(pixels, WindowCenter=500, WindowWidth=800)
    image = render_frame(ds, 0).image
    assert _text_contrast(image, TEXT, AROUND) >= 120
    # the window is applied (in 0.3..0.7 of the range when values fall outside it)
    assert image[AROUND].max() < 0.3 * 255 + 0.4 * 255 * (300 - 100) / 800 + 2


def test_text_inside_a_wide_16_bit_window_stays_legible() -> None:
    ds = _grey(_dark_with_text("uint16", (0, 1000), 32768), WindowCenter=32768,
               WindowWidth=65536)
    image = render_frame(ds, 0).image
    assert _text_contrast(image, TEXT, AROUND) >= 100


def test_text_below_the_window_is_still_rendered_for_ocr() -> None:
    """Mid-grey labels under a soft-tissue window would render black without fusion."""
    pixels = _dark_with_text("int16", (-2000, -1900), -200)  # text at -200 HU
    pixels[40:50, 0:10] = 900  # something bright sets the top of the range
    ds = _grey(pixels, bits_stored=12, signed=True, RescaleSlope=1, RescaleIntercept=0,
               WindowCenter=40, WindowWidth=400)
    assert _text_contrast(render_frame(ds, 0).image, TEXT, AROUND) >= 60


def test_white_text_over_tissue_above_the_window_is_rendered_for_ocr() -> None:
    """Text at the maximum over bone that a soft-tissue window shows all white."""
    pixels = _dark_with_text("int16", (700, 800), 3000)
    ds = _grey(pixels, bits_stored=13, signed=True, RescaleSlope=1, RescaleIntercept=0,
               WindowCenter=40, WindowWidth=400)
    assert _text_contrast(render_frame(ds, 0).image, TEXT, AROUND) >= 60


def test_signed_ct_with_rescale_and_window() -> None:
    pixels = _dark_with_text("int16", (-1000, -900), 2000)
    pixels[40:50, 0:10] = 40  # soft tissue at the window centre
    ds = _grey(pixels, bits_stored=12, signed=True, RescaleSlope=1, RescaleIntercept=0,
               WindowCenter=40, WindowWidth=400)
    image = render_frame(ds, 0).image
    assert image[TEXT].min() == 255
    assert image[AROUND].max() <= 16  # the full-range view lifts air only a little
    assert abs(int(image[45, 5]) - 128) <= 1


def test_window_that_hides_everything_is_ignored() -> None:
    ds = _grey(_dark_with_text("uint16", (100, 300), 20000), WindowCenter=60000, WindowWidth=10)
    assert _text_contrast(render_frame(ds, 0).image, TEXT, AROUND) >= 150


def test_window_left_from_a_12_bit_image_on_8_bit_values_is_ignored() -> None:
    """Pixels rewritten as 0..255 under a 0..4095 window would render within 0..16."""
    pixels = _dark_with_text("uint16", (0, 60), 250)
    ds = _grey(pixels, bits_stored=12, WindowCenter=2047.5, WindowWidth=4095)
    assert _text_contrast(render_frame(ds, 0).image, TEXT, AROUND) >= 150


def test_percentile_stretch_keeps_text_when_outliers_exist() -> None:
    pixels = _dark_with_text("uint16", (0, 500), 20000)
    pixels[0, :20] = 65535  # a few hot pixels
    assert _text_contrast(render_frame(_grey(pixels), 0).image, TEXT, AROUND) >= 150


def test_monochrome1_is_inverted() -> None:
    pixels = _dark_with_text("uint16", (3000, 4000), 10)
    image = render_frame(_grey(pixels, bits_stored=12, photometric="MONOCHROME1"), 0).image
    assert image[TEXT].min() == 255  # low values display white
    assert image[AROUND].max() <= 70


def test_voi_lut_function_sigmoid() -> None:
    pixels = np.full((8, 8), 500, dtype=np.uint16)
    ds = _grey(pixels, WindowCenter=500, WindowWidth=100, VOILUTFunction="SIGMOID")
    assert abs(int(render_frame(ds, 0).image[0, 0]) - 128) <= 1


def test_enhanced_multi_frame_uses_per_frame_windows() -> None:
    pixels = np.full((8, 8), 1000, dtype=np.uint16)
    ds = _grey(pixels)
    group = Dataset()
    voi = Dataset()
    voi.WindowCenter, voi.WindowWidth = 2000, 400
    group.FrameVOILUTSequence = [voi]
    ds.PerFrameFunctionalGroupsSequence = [group]
    assert render_frame(ds, 0).image.max() == 0  # 1000 is far below this frame's window


def test_target_width_resizes_and_records_the_scale() -> None:
    ds = _load("CT_small.dcm")  # 128 x 128
    half = render_frame(ds, 0, target_width=64)
    assert half.image.shape == (64, 64)
    assert half.scale == 0.5
    same = render_frame(ds, 0)
    assert same.image.shape == (128, 128)
    assert same.scale == 1.0
    colour = render_frame(_load("US1_UNCR.dcm"), 0, target_width=320)  # 640 x 480
    assert colour.image.shape == (240, 320, 3)
    with pytest.raises(ValueError):
        render_frame(ds, 0, target_width=-1)


# --------------------------------------------------------------------------
# Frame selection


def test_frame_indices_strategies() -> None:
    assert frame_indices(5) == [0, 1, 2, 3, 4]
    assert frame_indices(5, 2) == [0, 1]
    assert frame_indices(5, 0, "first") == [0]
    assert frame_indices(5, 0, "first_middle_last") == [0, 2, 4]
    assert frame_indices(2, 0, "first_middle_last") == [0, 1]
    assert frame_indices(1, 0, "first_middle_last") == [0]
    assert frame_indices(5, 2, "first_middle_last") == [0, 2]
    assert frame_indices(10, 4, "stride") == [0, 3, 6, 9]
    assert frame_indices(10, 1, "stride") == [0]
    assert frame_indices(3, 5, "stride") == [0, 1, 2]
    assert frame_indices(10, 0, "stride") == list(range(10))
    assert frame_indices(10, 3, "consecutive") == [0, 1, 2]
    assert frame_indices(0, 3, "stride") == []
    assert set(FRAME_SAMPLING) == {"all", "first", "first_middle_last", "stride", "consecutive"}


def test_frame_indices_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sampling"):
        frame_indices(3, 0, "random")
    with pytest.raises(ValueError, match="frame_limit"):
        frame_indices(3, -1)
