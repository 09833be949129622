"""Decode one frame at a time and render it as 8-bit pixels for OCR.

Frames are decoded one by one (the frame's own bytes of native Pixel Data,
or the fragments of one encapsulated frame), so a long multi-frame file never
sits decoded in memory. :func:`decode_frame` returns *stored* values in the
colour space named by :attr:`PixelInfo.decoded_photometric`:

* greyscale and PALETTE COLOR: stored values (palette indices stay indices);
* RGB: RGB;
* YBR_FULL and YBR_FULL_422: full-resolution YCbCr, *not* RGB (422 chroma is
  repeated per pixel), because the mask writer fills and re-encodes in the
  stored colour space;
* YBR_ICT and YBR_RCT (JPEG 2000): RGB, because the codec undoes the
  component transform itself and re-applies it when encoding.

:func:`render_frame` turns that into what a viewer would show (rescale,
window, MONOCHROME1 inversion, palette and YCbCr to RGB) for text detection.
Float and Double Float Pixel Data are not handled: :func:`pixel_info` returns
None for them as for files without pixels (parametric maps carry no burned-in
text).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from sparkdeid.dicom.codestream import check_frame_codestream
from sparkdeid.dicom.encapsulation import (
    Fragments,
    extended_offsets_of,
    fragments_of,
    single_frame_value,
)
from sparkdeid.errors import DicomDecodeError

logger = logging.getLogger(__name__)

PIXEL_DATA_TAG = 0x7FE00010
_YBR = ("YBR_FULL", "YBR_FULL_422")
_YBR_J2K = ("YBR_ICT", "YBR_RCT")
# Samples per pixel each photometric interpretation has (by its first word).
_SAMPLES_FOR = {"MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "YBR": 3}
_PHOTOMETRIC = frozenset({
    "MONOCHROME1", "MONOCHROME2", "PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422",
    "YBR_PARTIAL_420", "YBR_PARTIAL_422", "YBR_ICT", "YBR_RCT", "HSV", "ARGB", "CMYK", "XYB",
})
FRAME_SAMPLING = ("all", "first", "first_middle_last", "stride", "consecutive")

# Which package decodes what: named in the error when no plugin is installed.
_DECODER_PACKAGES = (
    (tuple(JPEG2000TransferSyntaxes), "pylibjpeg-openjpeg"),
    (tuple(JPEGLSTransferSyntaxes), "pyjpegls (or pylibjpeg-libjpeg)"),
    (tuple(JPEGTransferSyntaxes), "pylibjpeg-libjpeg"),
    ((RLELossless,), "pylibjpeg-rle"),
)
# Percentiles of the robust stretch, and how many samples estimate them.
_STRETCH_PERCENTILES = (0.5, 99.5)
_STRETCH_SAMPLES = 1 << 20


@dataclass(frozen=True)
class PixelInfo:
    """The Image Pixel module values that decoding and masking depend on."""

    rows: int
    columns: int
    samples_per_pixel: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    planar_configuration: int
    num_frames: int
    transfer_syntax: str

    @property
    def uid(self) -> UID:
        return UID(self.transfer_syntax)

    @property
    def is_encapsulated(self) -> bool:
        return self.uid.is_encapsulated

    @property
    def decoded_photometric(self) -> str:
        """Colour space of the arrays :func:`decode_frame` returns."""
        if self.photometric in _YBR:
            return "YBR_FULL"
        if self.photometric in _YBR_J2K and self.uid in JPEG2000TransferSyntaxes:
            return "RGB"
        return self.photometric

    @property
    def is_signed(self) -> bool:
        return self.pixel_representation == 1

    def value_range(self) -> tuple[int, int]:
        """Smallest and largest stored value that Bits Stored can hold."""
        if self.is_signed:
            half = 1 << (self.bits_stored - 1)
            return -half, half - 1
        return 0, (1 << self.bits_stored) - 1


@dataclass(frozen=True)
class RenderedFrame:
    """A frame as displayed, 8-bit, possibly resized.

    ``scale`` is ``image width / original_width``: divide a box found on
    ``image`` by it (:meth:`Box.scaled`) to get original pixel coordinates.
    """

    image: np.ndarray
    scale: float
    original_height: int
    original_width: int


def transfer_syntax_of(ds: Dataset) -> UID:
    """The dataset's transfer syntax; inferred from how it was read when meta lacks it."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(str(ts))
    implicit, little = ds.original_encoding
    if little is False:
        return ExplicitVRBigEndian
    return ImplicitVRLittleEndian if implicit in (True, None) else ExplicitVRLittleEndian


def _int_value(ds: Dataset, keyword: str, default: int | None) -> int:
    try:
        value = ds.get(keyword)
        if value is None or value == "":
            if default is None:
                raise DicomDecodeError(f"image pixel module lacks {keyword}")
            return default
        return int(value)
    except DicomDecodeError:
        raise
    except Exception:  # unparsable raw value ("1A" frames, bad VR)
        raise DicomDecodeError(f"{keyword} is not a valid integer") from None


def pixel_info(ds: Dataset) -> PixelInfo | None:
    """Image Pixel values of ``ds``; None when it has no (7FE0,0010) Pixel Data.

    Missing optional values get their defaults (one frame, unsigned, Bits
    Stored = Bits Allocated, MONOCHROME2 or RGB by samples per pixel).

    Raises
    ------
    DicomDecodeError
        When Rows, Columns or Bits Allocated are missing or values are not numbers.
    """
    if PIXEL_DATA_TAG not in ds:
        return None
    info = image_pixel_info(ds)
    _check_pixel_data(ds, info)
    return info


def image_pixel_info(ds: Dataset) -> PixelInfo:
    """Image Pixel values of ``ds`` whether or not its Pixel Data was read.

    A header parsed with ``stop_before_pixels`` (see
    :class:`~sparkdeid.dicom.frame_source.FrameSource`) describes its frames
    as fully as the whole file does; defaults and checks as :func:`pixel_info`.

    Raises
    ------
    DicomDecodeError
        When Rows, Columns or Bits Allocated are missing or values are not numbers.
    """
    samples = _int_value(ds, "SamplesPerPixel", 1)
    bits_allocated = _int_value(ds, "BitsAllocated", None)
    try:
        photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    except Exception:
        raise DicomDecodeError("PhotometricInterpretation is not readable") from None
    info = PixelInfo(
        rows=_int_value(ds, "Rows", None),
        columns=_int_value(ds, "Columns", None),
        samples_per_pixel=samples,
        photometric=photometric or ("MONOCHROME2" if samples == 1 else "RGB"),
        bits_allocated=bits_allocated,
        bits_stored=_int_value(ds, "BitsStored", bits_allocated),
        pixel_representation=_int_value(ds, "PixelRepresentation", 0),
        planar_configuration=_int_value(ds, "PlanarConfiguration", 0) if samples > 1 else 0,
        num_frames=max(1, _int_value(ds, "NumberOfFrames", 1)),
        transfer_syntax=str(transfer_syntax_of(ds)),
    )
    if info.rows <= 0 or info.columns <= 0 or info.samples_per_pixel <= 0:
        raise DicomDecodeError("image pixel module has a zero dimension")
    if not 0 < info.bits_stored <= info.bits_allocated:
        raise DicomDecodeError("BitsStored is not between 1 and BitsAllocated")
    if info.samples_per_pixel not in (1, 3, 4):
        # fuzzing: a codec sizes its buffer by this before reading a byte (GDCM aborts)
        raise DicomDecodeError(
            f"SamplesPerPixel is {info.samples_per_pixel}; only 1, 3 (or retired 4) exist"
        )
    expected = _SAMPLES_FOR.get(info.photometric.split("_")[0])
    if expected is not None and info.samples_per_pixel != expected:
        # fuzzing: GDCM aborts the whole process on such a mismatch (PS3.3 C.7.6.3.1.2)
        raise DicomDecodeError(
            f"PhotometricInterpretation {info.photometric[:16]} needs SamplesPerPixel "
            f"{expected}, the header says {info.samples_per_pixel}"
        )
    if info.bits_allocated != 1 and (info.bits_allocated % 8 or info.bits_allocated > 64):
        raise DicomDecodeError(f"BitsAllocated {info.bits_allocated} is not 1 or a multiple of 8")
    if info.photometric not in _PHOTOMETRIC:
        # the value itself is not quoted: a hostile file can put anything there
        raise DicomDecodeError("PhotometricInterpretation is not a known colour space")
    return info


def _pixel_data_value(ds: Dataset) -> bytes | bytearray:
    try:
        value = ds[PIXEL_DATA_TAG].value
    except Exception:
        raise DicomDecodeError("pixel data element is not readable") from None
    if not isinstance(value, bytes | bytearray):
        raise DicomDecodeError("pixel data element holds no bytes")
    return value


def _check_pixel_data(ds: Dataset, info: PixelInfo) -> None:
    """Pixel Data that cannot hold the frames the header declares fails here, by numbers.

    Checked before any frame is decoded, so a small file declaring a billion
    frames is refused instead of planned frame by frame.
    """
    value = _pixel_data_value(ds)
    if info.is_encapsulated:
        frame_fragments(ds, info)  # raises when items or frames do not add up
        return
    samples = 2 if info.photometric == "YBR_FULL_422" else info.samples_per_pixel
    values = info.rows * info.columns * samples * info.num_frames
    expected = (values + 7) // 8 if info.bits_allocated == 1 else values * (
        info.bits_allocated // 8
    )
    if len(value) < expected:
        raise DicomDecodeError(
            f"pixel data shorter than Rows x Columns x frames: {len(value)} of {expected} bytes"
        )


def _decoder_options(info: PixelInfo, frames: int) -> dict[str, Any]:
    """The Image Pixel values as pydicom decoder options (validated once, by us)."""
    options: dict[str, Any] = {
        "rows": info.rows,
        "columns": info.columns,
        "samples_per_pixel": info.samples_per_pixel,
        "photometric_interpretation": info.photometric,
        "bits_allocated": info.bits_allocated,
        "bits_stored": info.bits_stored,
        "pixel_representation": info.pixel_representation,
        "number_of_frames": frames,
    }
    if info.samples_per_pixel > 1:
        options["planar_configuration"] = info.planar_configuration
    return options


def _decode_failure(info: PixelInfo, exc: BaseException) -> DicomDecodeError:
    # Plugin messages can quote header values: only the exception type is kept.
    return DicomDecodeError(
        f"pixel data could not be decoded ({info.uid.name}, {type(exc).__name__})"
    )


def _decoder(info: PixelInfo) -> Any:
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(info.uid)
    except NotImplementedError:
        raise DicomDecodeError(
            f"pixel data in {info.uid.name} cannot be decoded by pydicom"
        ) from None
    if not decoder.is_available:
        for syntaxes, package in _DECODER_PACKAGES:
            if info.uid in syntaxes:
                raise DicomDecodeError(
                    f"no decoder for {info.uid.name} pixel data is installed: install {package}"
                )
        raise DicomDecodeError(f"no decoder for {info.uid.name} pixel data is installed")
    return decoder


# The fragments of the Pixel Data value last indexed: frames of one file are read in turn.
_LAST_INDEXED: list[tuple[bytes | bytearray, tuple[int, ...], Fragments]] = []


def frame_fragments(ds: Dataset, info: PixelInfo) -> Fragments:
    """Where each frame's fragments lie in ``ds``'s encapsulated Pixel Data value."""
    value = _pixel_data_value(ds)
    extended = extended_offsets_of(ds)
    if _LAST_INDEXED and _LAST_INDEXED[0][0] is value and _LAST_INDEXED[0][1] == extended:
        return _LAST_INDEXED[0][2]
    fragments = fragments_of(ds, value, info.num_frames, info.uid)
    _LAST_INDEXED[:] = [(value, extended, fragments)]
    return fragments


def encoded_frame(ds: Dataset, info: PixelInfo, index: int) -> bytes:
    """The compressed bytes of one frame of encapsulated Pixel Data (fragments joined)."""
    if not 0 <= index < info.num_frames:
        raise DicomDecodeError(f"encapsulated pixel data has no frame {index}")
    value = ds[PIXEL_DATA_TAG].value
    frame = b"".join(value[at : at + length]
                     for at, length in frame_fragments(ds, info).of_frame(index))
    if not frame:
        raise DicomDecodeError(f"encapsulated pixel data frame {index} is empty")
    return frame


def decode_encoded_frame(info: PixelInfo, frame: bytes) -> np.ndarray:
    """Decode one frame's compressed bytes (as returned by :func:`encoded_frame`)."""
    # fuzzing: GDCM aborts the process on a codestream that disagrees with the header
    check_frame_codestream(info, frame)
    decoder = _decoder(info)
    try:
        arr, props = decoder.as_array(
            single_frame_value(frame), index=0, raw=True, validate=True, **_decoder_options(info, 1)
        )
    except BaseException as exc:  # plugins raise anything; never echo their text (may hold values)
        # A Rust codec's panic (pyo3 PanicException) is a BaseException: found by
        # fuzzing RLE frames; it would pass every `except Exception` and kill the task.
        if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
            raise
        raise _decode_failure(info, exc) from None
    return _conform_colour(arr, str(props.get("photometric_interpretation", "")), info)


def decode_native_frame(info: PixelInfo, frame: bytes) -> np.ndarray:
    """Decode one frame of native (uncompressed, little endian) Pixel Data from its own bytes.

    ``frame`` holds that frame only, starting at its first sample; 1-bit
    frames start at bit 0 of their first byte (re-packed when the frame did
    not start on a byte boundary in the file). Lets a reader that seeks to
    each frame decode it without the rest of Pixel Data.
    """
    decoder = _decoder(info)
    try:
        arr, props = decoder.as_array(
            frame, index=0, raw=True, validate=True, pixel_keyword="PixelData",
            **_decoder_options(info, 1),
        )
    except Exception as exc:
        raise _decode_failure(info, exc) from None
    return _conform_colour(arr, str(props.get("photometric_interpretation", "")), info)


def decode_frame(ds: Dataset, index: int, *, info: PixelInfo | None = None) -> np.ndarray:
    """Stored values of frame ``index`` (0-based), decoding that frame only.

    Shape ``(rows, columns)`` or ``(rows, columns, samples)``; colour space
    :attr:`PixelInfo.decoded_photometric` (see the module docstring).

    Raises
    ------
    DicomDecodeError
        No pixel data, an unsupported transfer syntax, a missing decoder
        plugin (the message names the package) or data the codec rejects.
    IndexError
        ``index`` is not a frame of the file.
    """
    info = info or pixel_info(ds)
    if info is None:
        raise DicomDecodeError("the dataset has no Pixel Data")
    if not 0 <= index < info.num_frames:
        raise IndexError(f"frame {index} requested from a file of {info.num_frames} frames")
    if info.is_encapsulated:
        return decode_encoded_frame(info, encoded_frame(ds, info, index))
    decoder = _decoder(info)
    try:
        arr, props = decoder.as_array(
            ds, index=index, raw=True, validate=True, **_decoder_options(info, info.num_frames)
        )
    except Exception as exc:
        raise _decode_failure(info, exc) from None
    return _conform_colour(arr, str(props.get("photometric_interpretation", "")), info)


def _conform_colour(arr: np.ndarray, decoded_as: str, info: PixelInfo) -> np.ndarray:
    """Make the array's colour space the documented one when a codec chose another."""
    wanted = info.decoded_photometric
    if info.samples_per_pixel != 3 or not decoded_as or decoded_as == wanted:
        return arr
    got_ybr, want_ybr = decoded_as in _YBR, wanted in _YBR
    if got_ybr == want_ybr:
        return arr
    from pydicom.pixels.processing import convert_color_space

    if got_ybr:
        return np.asarray(convert_color_space(arr, "YBR_FULL", "RGB"))
    return np.asarray(convert_color_space(arr, "RGB", "YBR_FULL"))


# --------------------------------------------------------------------------
# Rendering


def _functional_group_items(ds: Dataset, index: int) -> list[Dataset]:
    """Per-frame then shared functional group items of an enhanced multi-frame file."""
    items: list[Dataset] = []
    try:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if per_frame is not None and index < len(per_frame):
            items.append(per_frame[index])
        shared = ds.get("SharedFunctionalGroupsSequence")
        if shared:
            items.append(shared[0])
    except Exception:  # malformed sequences: fall back to the top level
        return []
    return items


def _frame_attribute(ds: Dataset, index: int, macro: str, keyword: str) -> Any:
    """A value from the frame's functional groups (enhanced objects), else the top level."""
    for group in _functional_group_items(ds, index):
        try:
            sequence = group.get(macro)
            if sequence and keyword in sequence[0]:
                return sequence[0][keyword].value
        except Exception:
            continue
    try:
        return ds[keyword].value if keyword in ds else None
    except Exception:
        return None


def _first_number(value: Any) -> float | None:
    """The first value of a (possibly multi-valued) numeric element, if finite."""
    if value is None or value == "":
        return None
    if not isinstance(value, str | bytes | int | float):
        try:
            value = value[0]
        except (TypeError, IndexError):
            return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _modality_values(ds: Dataset, arr: np.ndarray, index: int) -> np.ndarray:
    """Stored values through the Modality LUT or rescale, as float."""
    if "ModalityLUTSequence" in ds:
        try:
            from pydicom.pixels.processing import apply_modality_lut

            return np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
        except Exception:
            logger.debug("modality LUT unusable; stored values are rendered")
    slope = _first_number(_frame_attribute(ds, index, "PixelValueTransformationSequence",
                                           "RescaleSlope"))
    intercept = _first_number(_frame_attribute(ds, index, "PixelValueTransformationSequence",
                                               "RescaleIntercept"))
    values = arr.astype(np.float32)
    if slope not in (None, 0.0) and slope != 1.0:
        values *= slope
    if intercept:
        values += intercept
    return values


def _window(values: np.ndarray, centre: float, width: float, function: str) -> np.ndarray:
    """DICOM VOI window (PS3.3 C.11.2.1.2) mapped to 0..1."""
    if function == "SIGMOID":
        return 1.0 / (1.0 + np.exp(-4.0 * (values - centre) / width))
    if function == "LINEAR_EXACT":
        return np.clip((values - centre) / width + 0.5, 0.0, 1.0)
    if width <= 1:
        return (values > centre - 0.5).astype(np.float32)
    return np.clip((values - (centre - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)


Stretch = tuple[float, float]
"""Low and high values a percentile stretch maps to black and white."""

# Below this share of the grey range, a frame's VOI window is not used to render it for OCR.
_USABLE_WINDOW_SPAN = 0.25


def _stretch_bounds(values: np.ndarray) -> Stretch | None:
    """Percentile bounds; the true min-max when the percentiles coincide.

    A mostly flat image with small text (black ultrasound margins, a
    screenshot) has equal percentiles; min-max then keeps the text at full
    contrast instead of flattening it.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    step = max(1, finite.size // _STRETCH_SAMPLES)
    low, high = np.percentile(finite[::step], _STRETCH_PERCENTILES)
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    return (float(low), float(high)) if high > low else None


def _robust_stretch(values: np.ndarray, bounds: Stretch | None = None) -> np.ndarray:
    """Stretch to 0..1 between ``bounds`` (default: this frame's own percentiles)."""
    low_high = bounds or _stretch_bounds(values)
    if low_high is None:
        return np.zeros_like(values)
    low, high = low_high
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def frame_stretch(ds: Dataset, info: PixelInfo, arr: np.ndarray, index: int) -> Stretch | None:
    """The stretch bounds of a decoded greyscale frame, to render other frames alike.

    A cine rendered frame by frame with each frame's own percentiles changes
    the grey level of the same burned-in text from frame to frame; frame
    reuse needs unchanged text to stay pixel-identical, so it renders every
    frame with the first frame's bounds.
    """
    if info.samples_per_pixel != 1 or info.decoded_photometric == "PALETTE COLOR":
        return None
    return _stretch_bounds(_modality_values(ds, arr, index))


def _restretch_clipped(
    shown: np.ndarray, values: np.ndarray, low_edge: float, high_edge: float
) -> np.ndarray:
    """The windowed view, with what the window clips spread out again, for OCR.

    Burned-in text often lies outside the clinical window: mid-grey labels
    below a soft-tissue window render black, white labels over bone render
    white on white. Values below and above the window are spread over their
    own ranges, so such text keeps its contrast. The mapping stays monotonic
    (no false edges at the window's limits): below the window -> 0..0.3, the
    window -> 0.3..0.7, above it -> 0.7..1.
    """
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return shown
    lowest, highest = float(finite.min()), float(finite.max())
    below, above = values < low_edge, values > high_edge
    if not below.any() and not above.any():
        return shown
    out = 0.3 + 0.4 * shown.astype(np.float32)
    if below.any() and low_edge > lowest:
        out[below] = 0.3 * (values[below] - lowest) / (low_edge - lowest)
    if above.any() and highest > high_edge:
        out[above] = 0.7 + 0.3 * (values[above] - high_edge) / (highest - high_edge)
    return np.clip(out, 0.0, 1.0)


def _voi_lut_values(ds: Dataset, values: np.ndarray) -> np.ndarray | None:
    """The first VOI LUT of ``ds`` applied and normalised to 0..1; None if unusable."""
    try:
        from pydicom.pixels.processing import apply_voi

        item = ds.VOILUTSequence[0]
        lut = np.asarray(item.LUTData, dtype=np.float64).ravel()
        # The LUT is indexed by integer input values.
        out = np.asarray(apply_voi(np.rint(values).astype(np.int64), ds, index=0), np.float64)
    except Exception:
        return None
    low, high = float(lut.min()), float(lut.max())
    if high <= low:
        return None
    return np.clip((out - low) / (high - low), 0.0, 1.0)


def _grey_unit(
    ds: Dataset, info: PixelInfo, arr: np.ndarray, index: int, stretch: Stretch | None = None
) -> np.ndarray:
    """A greyscale frame as displayed, 0 (black) .. 1 (white)."""
    values = _modality_values(ds, arr, index)
    shown: np.ndarray | None = None
    centre = _first_number(_frame_attribute(ds, index, "FrameVOILUTSequence", "WindowCenter"))
    width = _first_number(_frame_attribute(ds, index, "FrameVOILUTSequence", "WindowWidth"))
    edges: tuple[float, float] | None = None
    if centre is not None and width is not None and width > 0:
        function = str(
            _frame_attribute(ds, index, "FrameVOILUTSequence", "VOILUTFunction") or "LINEAR"
        ).strip().upper()
        shown = _window(values, centre, width, function)
        if function != "SIGMOID":
            edges = (centre - width / 2.0, centre + width / 2.0)
    elif "VOILUTSequence" in ds:
        shown = _voi_lut_values(ds, values)
    if shown is not None and np.ptp(shown) < _USABLE_WINDOW_SPAN and np.ptp(values) > 0:
        # A window that squeezes the whole frame into a few grey levels (one level,
        # or a 12-bit window left on pixels rewritten as 8-bit) hides burned-in text.
        shown = None
    if shown is None:
        shown = _robust_stretch(values, stretch)
    elif edges is not None:
        shown = _restretch_clipped(shown, values, *edges)
    else:
        # A VOI LUT or sigmoid: the brighter of it and the full-range view keeps
        # text outside the LUT's range legible.
        shown = np.maximum(shown, _robust_stretch(values, stretch))
    if info.photometric == "MONOCHROME1":
        shown = 1.0 - shown
    return shown


def ybr_full_to_rgb(arr: np.ndarray, bits: int) -> np.ndarray:
    """Full-range YCbCr (DICOM YBR_FULL, ITU-R BT.601) to RGB, same dtype and range."""
    top = (1 << bits) - 1
    half = float(1 << (bits - 1))
    y = arr[..., 0].astype(np.float64)
    cb = arr[..., 1].astype(np.float64) - half
    cr = arr[..., 2].astype(np.float64) - half
    rgb = np.stack(
        (y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb), axis=-1
    )
    return np.clip(np.rint(rgb), 0, top).astype(arr.dtype)


def _palette_unit(ds: Dataset, arr: np.ndarray) -> np.ndarray:
    from pydicom.pixels.processing import apply_color_lut

    try:
        rgb = np.asarray(apply_color_lut(arr, ds))
    except Exception as exc:
        raise DicomDecodeError(
            f"palette colour lookup table unusable ({type(exc).__name__})"
        ) from None
    top = 255.0 if rgb.dtype.itemsize == 1 or (rgb.size and rgb.max() <= 255) else 65535.0
    return np.clip(rgb.astype(np.float64) / top, 0.0, 1.0)


def _display_unit(
    ds: Dataset, info: PixelInfo, arr: np.ndarray, index: int, stretch: Stretch | None = None
) -> np.ndarray:
    space = info.decoded_photometric
    if info.samples_per_pixel == 1 and space == "PALETTE COLOR":
        return _palette_unit(ds, arr)
    if info.samples_per_pixel == 1:
        return _grey_unit(ds, info, arr, index, stretch)
    colour = arr[..., :3]
    if space in _YBR:
        colour = ybr_full_to_rgb(colour, info.bits_stored)
    if info.bits_stored <= 8 and colour.dtype.kind == "u":
        return colour.astype(np.float64) / 255.0
    top = float((1 << info.bits_stored) - 1)
    return np.clip(colour.astype(np.float64) / top, 0.0, 1.0)


def render_frame(
    ds: Dataset, index: int, target_width: int = 0, *, info: PixelInfo | None = None
) -> RenderedFrame:
    """Frame ``index`` as a viewer shows it, as uint8 for text detection.

    Greyscale frames go through the Modality LUT or rescale (per-frame
    functional groups first), then the first VOI window (or VOI LUT); without
    one, a percentile min-max stretch. MONOCHROME1 is inverted. A window
    that collapses the frame to a single level is ignored so burned-in text
    stays visible. Palette and YCbCr frames become RGB.

    Parameters
    ----------
    target_width
        Resize to this width keeping the aspect ratio (Lanczos); 0 keeps the size.

    Returns
    -------
    RenderedFrame
        ``image`` is ``(h, w)`` grey or ``(h, w, 3)`` RGB uint8.
    """
    if target_width < 0:
        raise ValueError("target_width must be 0 (keep size) or positive")
    info = info or pixel_info(ds)
    if info is None:
        raise DicomDecodeError("the dataset has no Pixel Data")
    return render_decoded(ds, info, decode_frame(ds, index, info=info), index, target_width)


def render_decoded(
    ds: Dataset,
    info: PixelInfo,
    arr: np.ndarray,
    index: int,
    target_width: int = 0,
    stretch: Stretch | None = None,
) -> RenderedFrame:
    """Render frame ``index`` already decoded by :func:`decode_frame` (or a frame source).

    The same rendering as :func:`render_frame`, so OCR sees the same image
    whichever way the frame was read; ``ds`` only supplies the display
    attributes (rescale, windows, palettes, functional groups) and may lack
    Pixel Data. ``stretch`` (see :func:`frame_stretch`) replaces the frame's
    own percentile bounds where no VOI window applies.
    """
    if target_width < 0:
        raise ValueError("target_width must be 0 (keep size) or positive")
    unit = _display_unit(ds, info, arr, index, stretch)
    image = np.ascontiguousarray(np.rint(unit * 255.0).astype(np.uint8))
    height, width = image.shape[:2]
    scale = 1.0
    if target_width and target_width != width:
        from PIL import Image

        out_height = max(1, round(height * target_width / width))
        resized = Image.fromarray(image).resize(
            (target_width, out_height), Image.Resampling.LANCZOS
        )
        image = np.asarray(resized)
        scale = target_width / width
    return RenderedFrame(image=image, scale=scale, original_height=height, original_width=width)


# --------------------------------------------------------------------------
# Frame selection


def frame_indices(num_frames: int, frame_limit: int = 0, sampling: str = "all") -> list[int]:
    """Which frames of a ``num_frames`` file to process, in ascending order.

    ``frame_limit`` caps the count (0 = no cap) for every strategy:

    * ``all``: every frame; with a cap, the first ``frame_limit`` (as ``consecutive``);
    * ``first``: frame 0 only;
    * ``first_middle_last``: frames 0, n // 2 and n - 1 (fewer for short files);
    * ``stride``: ``frame_limit`` frames spread evenly from first to last;
    * ``consecutive``: the first ``frame_limit`` frames.

    A frame left out is never checked for burned-in text: only sample when
    the frames are known to share their annotations.
    """
    if sampling not in FRAME_SAMPLING:
        raise ValueError(
            f"unknown frame sampling {sampling!r}; expected one of {', '.join(FRAME_SAMPLING)}"
        )
    if frame_limit < 0:
        raise ValueError("frame_limit must be 0 (no limit) or positive")
    if num_frames <= 0:
        return []
    limit = num_frames if frame_limit == 0 else min(frame_limit, num_frames)
    if sampling == "first":
        return [0]
    if sampling == "first_middle_last":
        return sorted({0, num_frames // 2, num_frames - 1})[:limit]
    if sampling == "stride" and limit < num_frames:
        if limit == 1:
            return [0]
        spread = np.linspace(0, num_frames - 1, limit)
        return sorted({int(round(float(x))) for x in spread})
    return list(range(limit))
