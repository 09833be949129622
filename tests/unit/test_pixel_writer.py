"""mask_pixels: masked pixels, untouched bytes, per transfer syntax."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_fragmented_frames
from pydicom.pixels import pixel_array
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from sparkdeid.boxes import Box
from sparkdeid.dicom import encoders, pixel_writer
from sparkdeid.dicom.codestream import read_jpeg_header
from sparkdeid.dicom.pixel_writer import MaskResult, mask_pixels
from sparkdeid.errors import DicomDecodeError, DicomEncodeError

ROWS, COLUMNS, FRAMES = 64, 80, 3
BOX = Box(10.4, 12.0, 41.2, 30.5)  # pixel bounds x 10..42, y 12..31
INSIDE = (slice(12, 31), slice(10, 42))


def _outside(shape: tuple[int, ...], margin: int = 0) -> np.ndarray:
    """Mask of pixels outside the box, ``margin`` pixels away from it."""
    keep = np.ones(shape[:2], dtype=bool)
    keep[12 - margin : 31 + margin, 10 - margin : 42 + margin] = False
    return keep


def _inner(margin: int) -> tuple[slice, slice]:
    return slice(12 + margin, 31 - margin), slice(10 + margin, 42 - margin)


# --------------------------------------------------------------------------
# Building test files


def _frames(bits: int = 12, signed: bool = False, samples: int = 1, seed: int = 0) -> np.ndarray:
    """Smooth frames with a bright "text" block; different per frame."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:ROWS, 0:COLUMNS]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    frames = []
    for k in range(FRAMES):
        base = low + (high - low) * (0.2 + 0.3 * (x + y + 7 * k) / (ROWS + COLUMNS + 20))
        base = base + rng.normal(0, (high - low) * 0.002, base.shape)
        base[14:28, 12:40] = high - k  # burned-in "text"
        frames.append(np.clip(np.rint(base), low, high))
    arr = np.stack(frames)
    if samples == 3:
        arr = np.stack([arr, arr[:, ::-1, :] * 0.5 + low / 2, arr[:, :, ::-1]], axis=-1)
        arr = np.clip(np.rint(arr), low, high)
    container = 8 if bits <= 8 else 16
    return arr.astype(f"{'i' if signed else 'u'}{container // 8}")


def _dataset(
    arr: np.ndarray, photometric: str, bits_stored: int, signed: bool = False
) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "OT"
    ds.Rows, ds.Columns = arr.shape[1], arr.shape[2]
    ds.NumberOfFrames = arr.shape[0]
    ds.SamplesPerPixel = arr.shape[3] if arr.ndim == 4 else 1
    if ds.SamplesPerPixel > 1:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.BurnedInAnnotation = "YES"
    return ds


def _save(ds: Dataset, syntax: str) -> bytes:
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _native(arr: np.ndarray, ds: Dataset, syntax: str) -> bytes:
    order = ">" if syntax == ExplicitVRBigEndian else "<"
    ds.PixelData = arr.astype(arr.dtype.newbyteorder(order)).tobytes()
    ds["PixelData"].VR = "OB" if arr.dtype.itemsize == 1 else "OW"
    return _save(ds, syntax)


def _jpeg_frames(arr: np.ndarray, mode: str, **options: object) -> list[bytes]:
    from PIL import Image

    frames = []
    for frame in arr:
        out = io.BytesIO()
        Image.frombytes(mode, (frame.shape[1], frame.shape[0]), frame.tobytes()).save(
            out, format="JPEG", quality=90, **options
        )
        frames.append(out.getvalue())
    return frames


@dataclass(frozen=True)
class Case:
    syntax: str
    encoding: str
    bits: int = 12
    signed: bool = False
    photometric: str = "MONOCHROME2"
    samples: int = 1
    options: tuple[tuple[str, object], ...] = ()
    offsets: str = "basic"  # basic | none | extended


def _build(case: Case) -> tuple[bytes, np.ndarray]:
    arr = _frames(case.bits, case.signed, case.samples)
    ds = _dataset(arr, case.photometric, case.bits, case.signed)
    if not pydicom.uid.UID(case.syntax).is_encapsulated:
        return _native(arr, ds, case.syntax), arr
    if case.syntax == JPEGBaseline8Bit:
        mode = "L" if case.samples == 1 else "YCbCr"
        frames = _jpeg_frames(arr, mode, **({"subsampling": 1} if case.samples == 3 else {}))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds.compress(case.syntax, arr, **dict(case.options))
        frames = [b"".join(f) for f in _stored_frames(ds)]
    if case.offsets == "extended":
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = (
            encapsulate_extended(frames)
        )
    else:
        ds.PixelData = encapsulate(frames, has_bot=case.offsets == "basic")
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    return _save(ds, case.syntax), arr


def _stored_frames(ds: Dataset) -> Iterator[tuple[bytes, ...]]:
    extended = None
    if "ExtendedOffsetTable" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    return generate_fragmented_frames(
        ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1)), extended_offsets=extended
    )


def _read(content: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(content))


def _decoded(ds: Dataset, index: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pixel_array(ds, index=index, raw=True)


def _frame_bytes(ds: Dataset, index: int) -> bytes:
    size = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8
    return bytes(ds.PixelData[index * size : (index + 1) * size])


def _assert_preserved(before: Dataset, after: Dataset) -> None:
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    for keyword in (
        "PhotometricInterpretation",
        "BitsAllocated",
        "BitsStored",
        "PixelRepresentation",
        "SamplesPerPixel",
        "Rows",
        "Columns",
    ):
        assert after.get(keyword) == before.get(keyword), keyword
    assert int(after.get("NumberOfFrames", 1)) == int(before.get("NumberOfFrames", 1))


def _assert_other_frames_untouched(before: Dataset, after: Dataset, changed: set[int]) -> None:
    frames = int(before.get("NumberOfFrames", 1))
    if before.file_meta.TransferSyntaxUID.is_encapsulated:
        old, new = list(_stored_frames(before)), list(_stored_frames(after))
        assert len(old) == len(new)
        for index in range(frames):
            if index not in changed:
                assert old[index] == new[index], f"fragments of frame {index} changed"
    else:
        for index in range(frames):
            if index not in changed:
                assert _frame_bytes(before, index) == _frame_bytes(after, index)


# --------------------------------------------------------------------------
# One box on frame 1 of a three-frame file, per transfer syntax

LOSSLESS_CASES = [
    Case(ImplicitVRLittleEndian, "native"),
    Case(ExplicitVRLittleEndian, "native"),
    Case(ExplicitVRBigEndian, "native"),
    Case(DeflatedExplicitVRLittleEndian, "native"),
    Case(ExplicitVRLittleEndian, "native", bits=16, signed=True),
    Case(ExplicitVRBigEndian, "native", bits=16, signed=True),
    Case(ExplicitVRLittleEndian, "native", photometric="MONOCHROME1"),
    Case(ExplicitVRLittleEndian, "native", bits=8, photometric="RGB", samples=3),
    Case(ExplicitVRBigEndian, "native", bits=8, photometric="RGB", samples=3),
    Case(RLELossless, "lossless"),
    Case(RLELossless, "lossless", bits=16, signed=True),
    Case(RLELossless, "lossless", bits=8, photometric="RGB", samples=3, offsets="none"),
    Case(RLELossless, "lossless", photometric="MONOCHROME1", offsets="extended"),
    Case(JPEGLSLossless, "lossless"),
    Case(JPEGLSLossless, "lossless", bits=12, signed=True, offsets="none"),
    Case(JPEGLSLossless, "lossless", bits=8, photometric="RGB", samples=3),
    Case(JPEG2000Lossless, "lossless"),
    Case(JPEG2000Lossless, "lossless", bits=16, signed=True, offsets="extended"),
    Case(JPEG2000Lossless, "lossless", bits=8, photometric="YBR_RCT", samples=3),
    Case(JPEG2000Lossless, "lossless", bits=8, photometric="RGB", samples=3, offsets="none"),
]


def _case_id(case: Case) -> str:
    name = pydicom.uid.UID(case.syntax).keyword or case.syntax
    return f"{name}-{case.bits}{'s' if case.signed else 'u'}-{case.photometric}-{case.offsets}"


@pytest.mark.parametrize("case", LOSSLESS_CASES, ids=_case_id)
def test_lossless_mask_is_exact_and_other_frames_keep_their_bytes(case: Case) -> None:
    content, arr = _build(case)
    result = mask_pixels(content, {1: [BOX]})
    assert result.frames_changed == (1,)
    assert result.encoding == case.encoding
    before, after = _read(content), _read(result.content)
    np.testing.assert_array_equal(_decoded(before, 0), arr[0])  # the builder wrote what we think
    _assert_preserved(before, after)
    _assert_other_frames_untouched(before, after, {1})

    masked, original = _decoded(after, 1), _decoded(before, 1)
    outside = _outside(original.shape)
    np.testing.assert_array_equal(masked[outside], original[outside])
    if case.samples == 1:
        black = original.max() if case.photometric == "MONOCHROME1" else original.min()
        assert (masked[INSIDE] == black).all()
    else:
        # YBR_RCT decodes to RGB: black is 0 in every sample either way.
        assert (masked[INSIDE] == 0).all()
    for index in (0, 2):
        np.testing.assert_array_equal(_decoded(after, index), _decoded(before, index))
    assert "LossyImageCompressionRatio" not in after
    assert after.BurnedInAnnotation == "YES"  # mark_clean was not asked for


LOSSY_CASES = [
    (Case(JPEGLSNearLossless, "lossy", options=(("jls_error", 3),)), 3, 3),
    (Case(JPEGLSNearLossless, "lossy", bits=8, photometric="RGB", samples=3,
          options=(("jls_error", 2),)), 2, 2),
    (Case(JPEG2000, "lossy", options=(("j2k_cr", [4]),)), 40, 1),
    (Case(JPEG2000, "lossy", bits=8, photometric="YBR_ICT", samples=3,
          options=(("j2k_cr", [4]),)), 12, 3),
    (Case(JPEGBaseline8Bit, "lossy", bits=8), 12, 3),
    (Case(JPEGBaseline8Bit, "lossy", bits=8, photometric="YBR_FULL_422", samples=3), 24, 4),
]


@pytest.mark.parametrize(
    ("case", "tolerance", "mean_tolerance"), LOSSY_CASES, ids=[_case_id(c[0]) for c in LOSSY_CASES]
)
def test_lossy_mask_is_dark_and_lossy_attributes_are_recorded(
    case: Case, tolerance: int, mean_tolerance: float
) -> None:
    content, arr = _build(case)
    result = mask_pixels(content, {1: [BOX]})
    assert result.encoding == "lossy"
    assert result.frames_changed == (1,)
    before, after = _read(content), _read(result.content)
    _assert_preserved(before, after)
    _assert_other_frames_untouched(before, after, {1})

    masked, original = _decoded(after, 1).astype(float), _decoded(before, 1).astype(float)
    inner = masked[_inner(2)]
    if case.samples == 1:
        assert np.abs(inner - original.min()).max() <= tolerance
    elif case.photometric == "YBR_FULL_422":
        assert np.abs(inner[..., 0]).max() <= tolerance  # Y ~ 0
        assert np.abs(inner[..., 1:] - 128).max() <= tolerance  # neutral chroma
    else:
        assert np.abs(inner).max() <= tolerance
    away = _outside(original.shape, margin=8)
    assert np.abs(masked[away] - original[away]).mean() <= mean_tolerance
    assert after.LossyImageCompression == "01"
    methods = after.LossyImageCompressionMethod
    method = methods[-1] if isinstance(methods, pydicom.multival.MultiValue) else methods
    assert method in ("ISO_14495_1", "ISO_15444_1", "ISO_10918_1")
    assert float(after.LossyImageCompressionRatio) > 1


def test_jpeg_ls_near_lossless_keeps_the_original_near_parameter() -> None:
    content, _ = _build(Case(JPEGLSNearLossless, "lossy", options=(("jls_error", 5),)))
    result = mask_pixels(content, {0: [BOX]})
    after = _read(result.content)
    frame = b"".join(next(iter(_stored_frames(after))))
    header = read_jpeg_header(frame, "JPEG-LS")
    assert header.scan_start == 5


def test_jpeg_2000_lossy_rewrites_ict_colour_as_ict() -> None:
    content, _ = _build(
        Case(JPEG2000, "lossy", bits=8, photometric="YBR_ICT", samples=3,
             options=(("j2k_cr", [4]),))
    )
    after = _read(mask_pixels(content, {1: [BOX]}).content)
    assert after.PhotometricInterpretation == "YBR_ICT"


# --------------------------------------------------------------------------
# Real files from pydicom's test data


def _real(name: str) -> bytes:
    with open(get_testdata_file(name), "rb") as handle:
        return handle.read()


@pytest.mark.parametrize(
    ("name", "frame", "encoding"),
    [
        ("emri_small_RLE.dcm", 4, "lossless"),
        ("emri_small_jpeg_ls_lossless.dcm", 9, "lossless"),
        ("emri_small_jpeg_2k_lossless.dcm", 3, "lossless"),
        ("emri_small_big_endian.dcm", 5, "native"),
        ("SC_rgb_rle_2frame.dcm", 1, "lossless"),
        ("SC_rgb_16bit_2frame.dcm", 1, "native"),
        ("OBXXXX1A_rle_2frame.dcm", 1, "lossless"),  # palette colour
        ("OBXXXX1A_expb_2frame.dcm", 0, "native"),  # palette, big endian, 8-bit OW
        ("rtdose_rle.dcm", 7, "lossless"),  # 32-bit
        ("MR_small.dcm", 0, "native"),  # 16-bit signed
        ("RG3_J2KR.dcm", 0, "lossless"),  # MONOCHROME1
        ("US1_J2KR.dcm", 0, "lossless"),  # YBR_RCT
        ("SC_ybr_full_uncompressed.dcm", 0, "native"),
        ("color-pl.dcm", 0, "native"),  # planar configuration 1
        ("image_dfl.dcm", 0, "native"),  # deflated
        ("rtdose_expb.dcm", 3, "native"),  # 32-bit big endian
        ("MR_small_implicit.dcm", 0, "native"),
        ("SC_rgb_expb_16bit_2frame.dcm", 1, "native"),
    ],
)
def test_real_files_mask_exactly(name: str, frame: int, encoding: str) -> None:
    content = _real(name)
    before = _read(content)
    rows, columns = int(before.Rows), int(before.Columns)
    box = Box(columns * 0.21, rows * 0.3, columns * 0.55, rows * 0.62)
    x0, y0, x1, y1 = box.pixel_bounds()
    result = mask_pixels(content, {frame: [box]})
    assert result.encoding == encoding
    after = _read(result.content)
    _assert_preserved(before, after)
    _assert_other_frames_untouched(before, after, {frame})
    masked, original = _decoded(after, frame), _decoded(before, frame)
    outside = np.ones((rows, columns), dtype=bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(masked[outside], original[outside])
    inside = masked[y0:y1, x0:x1]
    assert (inside == inside.reshape(-1, *inside.shape[2:])[0]).all(), "mask is not uniform"


def test_palette_black_is_the_darkest_palette_entry() -> None:
    from pydicom.pixels.processing import apply_color_lut

    content = _real("OBXXXX1A_rle_2frame.dcm")
    after = _read(mask_pixels(content, {0: [BOX]}).content)
    rgb = apply_color_lut(_decoded(after, 0), after).astype(float)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    assert luminance[INSIDE].max() == pytest.approx(luminance.min())


def test_one_bit_frames_keep_neighbouring_bits() -> None:
    content = _real("liver.dcm")  # 3 frames of 512 x 512 bits, MONOCHROME2
    box = Box(250, 250, 300, 330)
    result = mask_pixels(content, {1: [box]})
    assert result.encoding == "native"
    before, after = _read(content), _read(result.content)
    _assert_preserved(before, after)
    masked, original = _decoded(after, 1), _decoded(before, 1)
    assert original[250:330, 250:300].any()
    assert not masked[250:330, 250:300].any()
    keep = np.ones(original.shape, dtype=bool)
    keep[250:330, 250:300] = False
    np.testing.assert_array_equal(masked[keep], original[keep])
    for index in (0, 2):
        np.testing.assert_array_equal(_decoded(after, index), _decoded(before, index))


def test_native_ybr_full_422_masks_whole_pixel_pairs() -> None:
    content = _real("SC_ybr_full_422_uncompressed.dcm")
    box = Box(11, 20, 30, 40)  # odd x0: the pair (10, 11) is masked whole
    after = _read(mask_pixels(content, {0: [box]}).content)
    before = _read(content)
    masked, original = _decoded(after, 0), _decoded(before, 0)
    np.testing.assert_array_equal(masked[20:40, 10:30], np.broadcast_to([0, 128, 128], (20, 20, 3)))
    keep = np.ones(original.shape[:2], dtype=bool)
    keep[20:40, 10:30] = False
    np.testing.assert_array_equal(masked[keep], original[keep])
    assert len(after.PixelData) == len(before.PixelData)


def test_multi_frame_jpeg_baseline_ybr_422_keeps_other_frames() -> None:
    content = _real("examples_ybr_color.dcm")  # 30 frames YBR_FULL_422
    result = mask_pixels(content, {12: [Box(40, 40, 120, 90)]})
    assert result.encoding == "lossy"
    before, after = _read(content), _read(result.content)
    _assert_preserved(before, after)
    _assert_other_frames_untouched(before, after, {12})
    inner = _decoded(after, 12)[44:86, 44:116].astype(float)
    assert np.abs(inner[..., 0]).max() <= 8
    assert np.abs(inner[..., 1:] - 128).max() <= 8
    new_frame = b"".join(list(_stored_frames(after))[12])
    old_frame = b"".join(list(_stored_frames(before))[12])
    sampling = read_jpeg_header(old_frame).sampling
    assert sampling[0] != (1, 1)
    assert read_jpeg_header(new_frame).sampling == sampling  # chroma subsampling kept


@pytest.mark.parametrize(
    "name",
    ["SC_rgb_dcmtk_+eb+cr.dcm", "SC_jpeg_no_color_transform.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm"],
)
def test_jpeg_baseline_colour_keeps_its_colour_space(name: str) -> None:
    content = _real(name)
    result = mask_pixels(content, {0: [BOX]})
    assert result.encoding == "lossy"
    before, after = _read(content), _read(result.content)
    _assert_preserved(before, after)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shown_before, shown_after = pixel_array(before), pixel_array(after)  # as RGB
    assert shown_after[_inner(2)].max() <= 12
    away = _outside(shown_before.shape, margin=8)
    assert np.abs(shown_after[away].astype(float) - shown_before[away]).mean() <= 4


# --------------------------------------------------------------------------
# JPEG syntaxes Pillow cannot write: imagecodecs, else forceOutput

needs_imagecodecs = pytest.mark.skipif(
    not encoders.has_module("imagecodecs"), reason="imagecodecs is not installed"
)


@needs_imagecodecs
@pytest.mark.parametrize(
    "name", ["JPEG-LL.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm", "SC_rgb_jpeg_gdcm.dcm"]
)
def test_jpeg_lossless_stays_lossless(name: str) -> None:
    content = _real(name)
    result = mask_pixels(content, {0: [BOX]})
    assert result.encoding == "lossless"
    before, after = _read(content), _read(result.content)
    _assert_preserved(before, after)
    masked, original = _decoded(after, 0), _decoded(before, 0)
    outside = _outside(original.shape)
    np.testing.assert_array_equal(masked[outside], original[outside])
    inside = masked[INSIDE]
    assert (inside == (original.min() if original.ndim == 2 else 0)).all()
    assert "LossyImageCompressionMethod" not in after or after.LossyImageCompression == "00"


@needs_imagecodecs
def test_jpeg_extended_12_bit_is_re_encoded_as_12_bit() -> None:
    content = _real("JPGExtended.dcm")
    result = mask_pixels(content, {0: [BOX]})
    assert result.encoding == "lossy"
    before, after = _read(content), _read(result.content)
    _assert_preserved(before, after)
    frame = b"".join(next(iter(_stored_frames(after))))
    assert read_jpeg_header(frame).precision == 12
    masked, original = _decoded(after, 0).astype(float), _decoded(before, 0).astype(float)
    assert np.abs(masked[_inner(2)] - original.min()).max() <= 4
    away = _outside(original.shape, margin=8)
    assert np.abs(masked[away] - original[away]).mean() <= 2


@pytest.mark.parametrize("name", ["JPEG-LL.dcm", "JPGExtended.dcm"])
def test_without_an_encoder_masking_fails_unless_forced(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(encoders, "has_module", lambda module: module != "imagecodecs")
    content = _real(name)
    with pytest.raises(DicomEncodeError, match="imagecodecs package is not installed.*forceOutput"):
        mask_pixels(content, {0: [BOX]})
    result = mask_pixels(content, {0: [BOX]}, force_output=True)
    assert result.encoding == "converted"
    before, after = _read(content), _read(result.content)
    assert after.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    masked, original = _decoded(after, 0), _decoded(before, 0)
    outside = _outside(original.shape)
    np.testing.assert_array_equal(masked[outside], original[outside])
    assert (masked[INSIDE] == original.min()).all()


def test_forced_conversion_of_ybr_422_jpeg_writes_rgb() -> None:
    content = _real("examples_ybr_color.dcm")
    before = _read(content)
    forced = _force_conversion(content, {3: [BOX]})
    assert forced.encoding == "converted"
    after = _read(forced.content)
    assert after.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert after.PhotometricInterpretation == "RGB"
    assert after.PlanarConfiguration == 0
    assert int(after.NumberOfFrames) == int(before.NumberOfFrames)
    assert "ExtendedOffsetTable" not in after
    rgb = _decoded(after, 3)
    assert (rgb[INSIDE] == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = pixel_array(before, index=5)  # pydicom's YCbCr -> RGB
    assert np.abs(_decoded(after, 5).astype(int) - reference.astype(int)).max() <= 2


def _force_conversion(content: bytes, regions: dict[int, list[Box]]) -> MaskResult:
    def cannot(info: object) -> object:
        raise encoders.CannotEncode("test: no encoder")

    original = pixel_writer.encoder_for
    pixel_writer.encoder_for = cannot  # type: ignore[assignment]
    try:
        return mask_pixels(content, regions, force_output=True)
    finally:
        pixel_writer.encoder_for = original


@pytest.mark.parametrize("name", ["color3d_jpeg_baseline.dcm", "emri_small.dcm"])
def test_only_masked_frames_are_decoded(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[int] = []
    real_decode_frame = pixel_writer.decode_frame
    real_decode_encoded = pixel_writer.decode_encoded_frame

    def spy_frame(ds: Dataset, index: int, **kwargs: object) -> np.ndarray:
        decoded.append(index)
        return real_decode_frame(ds, index, **kwargs)  # type: ignore[arg-type]

    def spy_encoded(info: object, frame: bytes) -> np.ndarray:
        decoded.append(-1)
        return real_decode_encoded(info, frame)  # type: ignore[arg-type]

    monkeypatch.setattr(pixel_writer, "decode_frame", spy_frame)
    monkeypatch.setattr(pixel_writer, "decode_encoded_frame", spy_encoded)
    result = mask_pixels(_real(name), {5: [BOX]})
    assert result.frames_changed == (5,)
    assert len(decoded) == 1


# --------------------------------------------------------------------------
# Nothing to mask, mark_clean, fills, errors


def test_no_regions_returns_the_input_bytes() -> None:
    content = _real("emri_small_RLE.dcm")
    for regions in ({}, {0: []}, {3: [Box(500, 500, 600, 600)]}, {1: [Box(5, 5, 5, 9)]}):
        result = mask_pixels(content, regions)
        assert result.content is content or result.content == content
        assert result.encoding == "unchanged"
        assert result.frames_changed == ()


def test_mark_clean_without_regions_changes_only_burned_in_annotation() -> None:
    content, _ = _build(Case(JPEG2000Lossless, "lossless"))
    result = mask_pixels(content, {}, mark_clean=True)
    assert result.encoding == "unchanged"
    before, after = _read(content), _read(result.content)
    assert after.BurnedInAnnotation == "NO"
    assert after.PixelData == before.PixelData
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID


def test_mark_clean_with_regions_sets_burned_in_annotation() -> None:
    content, _ = _build(Case(RLELossless, "lossless"))
    after = _read(mask_pixels(content, {0: [BOX]}, mark_clean=True).content)
    assert after.BurnedInAnnotation == "NO"


def test_background_fill_matches_a_flat_surrounding() -> None:
    arr = np.full((FRAMES, ROWS, COLUMNS), 700, dtype=np.uint16)
    arr[:, 14:28, 12:40] = 4000  # text on a flat grey background
    ds = _dataset(arr, "MONOCHROME2", 12)
    content = _native(arr, ds, ExplicitVRLittleEndian)
    after = _read(mask_pixels(content, {2: [BOX]}, fill="background").content)
    np.testing.assert_array_equal(_decoded(after, 2), np.full((ROWS, COLUMNS), 700))


def test_background_fill_of_a_whole_frame_falls_back_to_black() -> None:
    content, arr = _build(Case(ExplicitVRLittleEndian, "native"))
    after = _read(mask_pixels(content, {0: [Box(0, 0, COLUMNS, ROWS)]}, fill="background").content)
    assert (_decoded(after, 0) == arr[0].min()).all()


def test_several_boxes_and_frames() -> None:
    content, arr = _build(Case(RLELossless, "lossless"))
    regions = {0: [Box(0, 0, 5, 5), Box(70, 50, 90, 70)], 2: [BOX]}
    result = mask_pixels(content, regions)
    assert result.frames_changed == (0, 2)
    after = _read(result.content)
    first = _decoded(after, 0)
    assert (first[0:5, 0:5] == arr[0].min()).all()
    assert (first[50:64, 70:80] == arr[0].min()).all()  # clipped to the frame
    np.testing.assert_array_equal(_decoded(after, 1), arr[1])


def test_errors_name_the_problem() -> None:
    content = _real("emri_small_RLE.dcm")
    with pytest.raises(DicomEncodeError, match="frame 10"):
        mask_pixels(content, {10: [BOX]})
    with pytest.raises(ValueError, match="fill"):
        mask_pixels(content, {0: [BOX]}, fill="blur")
    with pytest.raises(DicomEncodeError, match="non-finite"):
        mask_pixels(content, {0: [Box(float("nan"), 0, 4, 4)]})
    empty = _dataset(np.zeros((1, 2, 2), np.uint8), "MONOCHROME2", 8)
    no_pixels = _save(empty, ExplicitVRLittleEndian)
    with pytest.raises(DicomDecodeError, match="requires Pixel Data"):
        mask_pixels(no_pixels, {0: [BOX]})  # an image class that lost its pixels
    empty.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.22"  # Enhanced SR: no pixels by design
    with pytest.raises(DicomEncodeError, match="no Pixel Data"):
        mask_pixels(_save(empty, ExplicitVRLittleEndian), {0: [BOX]})
    with pytest.raises(DicomDecodeError):
        mask_pixels(b"not a dicom file at all", {0: [BOX]})
