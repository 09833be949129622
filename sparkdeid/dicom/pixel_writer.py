"""Mask pixel regions and rebuild the file in its own transfer syntax.

Only frames with regions are touched. Native Pixel Data is edited in place:
the masked pixels' bytes change, nothing else does. Encapsulated Pixel Data
is split into frames; a masked frame is decoded, filled and re-encoded with
the file's codec (lossless stays lossless), every other frame keeps its
fragments byte for byte, and the offset table (basic, extended or none, as
the original had) is rebuilt. Frames are handled one at a time, so memory
stays a small multiple of the file size, never of its decoded size.

Where a codec cannot write the syntax here, ``force_output`` converts the
whole file to Explicit VR Little Endian instead of failing.

Encodings reported in :attr:`MaskResult.encoding`:

``unchanged``
    No region to mask: the input bytes (or, with ``mark_clean``, the input
    rewritten with Burned In Annotation = NO and untouched Pixel Data).
``native``
    Uncompressed Pixel Data edited in place.
``lossless``
    Masked frames re-encoded losslessly (RLE, JPEG-LS, JPEG 2000, JPEG lossless).
``lossy``
    Masked frames re-encoded with a lossy codec; Lossy Image Compression is
    set to 01 and the ratio and method are appended.
``converted``
    ``force_output`` fallback: every frame decoded, masked where asked and
    written uncompressed as Explicit VR Little Endian.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
)

from sparkdeid.boxes import Box
from sparkdeid.dicom.codec import read_dataset, write_dataset
from sparkdeid.dicom.codestream import read_jpeg_header
from sparkdeid.dicom.encapsulation import (
    EXTENDED_LENGTHS,
    EXTENDED_OFFSETS,
    FrameItems,
    extended_lengths_of,
    extended_offsets_of,
)
from sparkdeid.dicom.encoders import CannotEncode, Encoder, encoder_for
from sparkdeid.dicom.encoders.base import YBR, container
from sparkdeid.dicom.frames import (
    PIXEL_DATA_TAG,
    PixelInfo,
    decode_encoded_frame,
    decode_frame,
    frame_fragments,
    pixel_info,
    ybr_full_to_rgb,
)
from sparkdeid.errors import BackendUnavailableError, DicomEncodeError

logger = logging.getLogger(__name__)

ENCODINGS = ("unchanged", "native", "lossless", "lossy", "converted")
FILLS = ("black", "background")

# Width in pixels of the ring around a box whose median is the background fill.
_RING = 4
# Why a masked frame cannot be re-encoded: callers choose between failing and converting.
_NOT_ENCODABLE = (CannotEncode, BackendUnavailableError)

PixelBox = tuple[int, int, int, int]  # x0, y0, x1, y1: clipped, half-open, non-empty


@dataclass(frozen=True)
class MaskResult:
    """The rebuilt file, which frames changed and how Pixel Data was written."""

    content: bytes
    frames_changed: tuple[int, ...]
    encoding: str


def mask_pixels(
    content: bytes,
    regions: Mapping[int, Sequence[Box]],
    *,
    fill: str = "black",
    force_output: bool = False,
    mark_clean: bool = False,
) -> MaskResult:
    """Fill ``regions`` (boxes by 0-based frame index) and rebuild the file.

    Parameters
    ----------
    content
        A whole DICOM file.
    regions
        Boxes in original pixel coordinates; clipped to the frame, partial
        pixels covered (:meth:`Box.pixel_bounds`).
    fill
        ``black``: the stored value that displays darkest (frame minimum for
        MONOCHROME2, maximum for MONOCHROME1, 0 for RGB, Y=0 and mid chroma
        for YCbCr, the darkest palette entry). ``background``: the median of
        a ring of pixels around each box (the most common index for palette
        images), so a mask blends into a flat background.
    force_output
        When the file's syntax cannot be re-encoded here, convert the file
        to Explicit VR Little Endian instead of raising.
    mark_clean
        Set Burned In Annotation (0028,0301) to NO (images only).

    Raises
    ------
    DicomDecodeError
        The file or its pixels cannot be read.
    DicomEncodeError
        Regions for frames the file does not have, or a syntax that cannot
        be re-encoded without ``force_output``.
    ValueError
        An unknown ``fill``.
    """
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; expected one of {', '.join(FILLS)}")
    if not any(boxes for boxes in regions.values()):
        return _unchanged(content, mark_clean)
    ds = read_dataset(content)
    info = pixel_info(ds)
    if info is None:
        raise DicomEncodeError("regions to mask were given but the file has no Pixel Data")
    plan = _plan(regions, info)
    if not plan:
        return _unchanged(content, mark_clean, ds)

    if not info.is_encapsulated:
        _mask_native(ds, info, plan, fill)
        encoding = "native"
    else:
        try:
            encoding = _mask_encapsulated(ds, info, plan, fill)
        except _NOT_ENCODABLE as exc:
            if not force_output:
                raise DicomEncodeError(
                    f"masked frames cannot be re-encoded as {info.uid.name} here ({exc}); "
                    "forceOutput converts the file to Explicit VR Little Endian"
                ) from None
            _convert_to_native(ds, info, plan, fill)
            encoding = "converted"
    if mark_clean:
        ds.BurnedInAnnotation = "NO"
    logger.debug("masked %d frame(s), encoding %s", len(plan), encoding)
    return MaskResult(write_dataset(ds), tuple(sorted(plan)), encoding)


def _unchanged(content: bytes, mark_clean: bool, ds: Dataset | None = None) -> MaskResult:
    """The input as it was; with ``mark_clean``, only Burned In Annotation changes."""
    if not mark_clean:
        return MaskResult(content, (), "unchanged")
    ds = ds if ds is not None else read_dataset(content)
    if PIXEL_DATA_TAG not in ds:
        return MaskResult(content, (), "unchanged")
    try:
        current = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    except Exception:
        current = ""
    if current == "NO":
        return MaskResult(content, (), "unchanged")
    ds.BurnedInAnnotation = "NO"
    return MaskResult(write_dataset(ds), (), "unchanged")


def _plan(regions: Mapping[int, Sequence[Box]], info: PixelInfo) -> dict[int, list[PixelBox]]:
    """Integer, clipped, non-empty boxes per frame; frames without any are left out."""
    plan: dict[int, list[PixelBox]] = {}
    for frame, boxes in regions.items():
        if not boxes:
            continue
        index = int(frame)
        if not 0 <= index < info.num_frames:
            raise DicomEncodeError(
                f"regions name frame {index} of a file with {info.num_frames} frame(s)"
            )
        clipped = _pixel_boxes(boxes, info)
        if clipped:
            plan[index] = clipped
    return plan


def _pixel_boxes(boxes: Sequence[Box], info: PixelInfo) -> list[PixelBox]:
    """Integer bounds covering every touched pixel, clipped to the frame; empty ones dropped."""
    pixel_boxes: list[PixelBox] = []
    for box in boxes:
        if not all(math.isfinite(v) for v in (box.x0, box.y0, box.x1, box.y1)):
            raise DicomEncodeError("a region has non-finite coordinates")
        x0, y0, x1, y1 = box.pixel_bounds()
        x0, x1 = max(0, x0), min(info.columns, x1)
        y0, y1 = max(0, y0), min(info.rows, y1)
        if x0 < x1 and y0 < y1:
            pixel_boxes.append((x0, y0, x1, y1))
    return pixel_boxes


class FrameMasker:
    """Masks one frame at a time in the file's own layout and transfer syntax.

    The per-frame half of :func:`mask_pixels`, for writers that stream a
    file frame by frame (:mod:`sparkdeid.dicom.large_file`) and never hold
    its Pixel Data: the same fills, the same codecs, and the Lossy Image
    Compression totals over every frame it re-encoded. Big endian native
    frames are not handled here (only :func:`mask_pixels` rewrites them).

    Parameters
    ----------
    ds
        The dataset whose frames are masked; only its header is read (palette
        lookup tables for a black fill), so it may lack Pixel Data.
    info
        The file's Image Pixel values.
    fill
        As in :func:`mask_pixels`.
    """

    def __init__(self, ds: Dataset, info: PixelInfo, fill: str = "black") -> None:
        if fill not in FILLS:
            raise ValueError(f"unknown fill {fill!r}; expected one of {', '.join(FILLS)}")
        self._ds, self._info, self._fill = ds, info, fill
        self._encoder: Encoder | None = None
        self._lossy = False
        self._lossy_in = self._lossy_out = 0

    @property
    def lossy(self) -> bool:
        """Whether any frame so far was re-encoded with a lossy codec."""
        return self._lossy

    def mask(
        self, frame: bytes, decoded: np.ndarray, boxes: Sequence[Box], *, bit_offset: int = 0
    ) -> bytes | None:
        """The frame's new stored bytes with ``boxes`` filled; None when no box touches it.

        Parameters
        ----------
        frame
            Native: the bytes that hold the frame, in stored layout; a 1-bit
            frame starts at bit ``bit_offset`` of the first byte and the
            other bits of its first and last byte are kept. Encapsulated:
            the frame's compressed bytes (fragments joined).
        decoded
            The same frame decoded (stored values, as :func:`decode_frame`
            returns them): the fills are computed from it, and encapsulated
            frames are masked and re-encoded from it.
        boxes
            Regions in original pixel coordinates (clipped, partial pixels covered).

        Returns
        -------
        bytes or None
            Native: ``frame`` with the masked pixels' bytes changed, same
            length. Encapsulated: the re-encoded frame, unpadded.

        Raises
        ------
        DicomEncodeError
            The syntax cannot be re-encoded here, or native data this
            writer does not edit (big endian, Bits Allocated not 1 or a
            multiple of 8).
        """
        info = self._info
        pixel_boxes = _pixel_boxes(boxes, info)
        if not pixel_boxes:
            return None
        if info.is_encapsulated:
            try:
                return self.reencode(frame, decoded, pixel_boxes)
            except _NOT_ENCODABLE as exc:
                raise DicomEncodeError(
                    f"masked frames cannot be re-encoded as {info.uid.name} here ({exc})"
                ) from None
        if info.bits_allocated != 1 and info.bits_allocated % 8:
            raise DicomEncodeError("native Pixel Data with BitsAllocated not 1 or a multiple of 8")
        if info.uid == ExplicitVRBigEndian:
            raise DicomEncodeError("big endian frames cannot be masked one at a time")
        fills = _fills(self._ds, info, decoded, pixel_boxes, self._fill)
        buffer = bytearray(frame)
        if info.bits_allocated == 1:
            _paint_bits(buffer, info, bit_offset, pixel_boxes, fills)
        else:
            _paint_native(buffer, info, 0, pixel_boxes, fills, big_endian=False)
        return bytes(buffer)

    def encoder(self) -> Encoder:
        """The syntax's re-encoder, resolved on first use (see :func:`encoder_for`).

        Raises :class:`CannotEncode` or :class:`BackendUnavailableError`.
        """
        if self._encoder is None:
            self._encoder = encoder_for(self._info)
        return self._encoder

    def reencode(self, original: bytes, decoded: np.ndarray, boxes: list[PixelBox]) -> bytes:
        """Fill ``boxes`` in a decoded compressed frame and encode it again (unpadded).

        Raises :class:`CannotEncode` or :class:`BackendUnavailableError` (callers
        choose between failing and converting).
        """
        info = self._info
        encoder = self.encoder()
        boxes = _chroma_aligned(boxes, original, info)
        masked = _masked_frame(self._ds, info, decoded, boxes, self._fill)
        try:
            encoded, lossy = encoder.encode(masked, original, info)
        except _NOT_ENCODABLE:
            raise
        except Exception as exc:  # codec plugins raise anything; their text may quote values
            raise CannotEncode(f"the encoder failed: {type(exc).__name__}") from None
        if lossy:
            self._lossy = True
            self._lossy_in += info.rows * info.columns * info.samples_per_pixel * (
                info.bits_allocated // 8
            )
            self._lossy_out += len(encoded)
        return encoded

    def record_lossy(self, ds: Dataset) -> bool:
        """Write this step's Lossy Image Compression values into ``ds`` if any frame was lossy."""
        if not self.lossy:
            return False
        _record_lossy(ds, self._lossy_in / max(1, self._lossy_out), self.encoder().method)
        return True


# --------------------------------------------------------------------------
# Fill values, in the colour space decode_frame returns


def _black(ds: Dataset, info: PixelInfo, frame: np.ndarray) -> np.ndarray:
    space = info.decoded_photometric
    samples = info.samples_per_pixel
    if samples == 1 and space == "PALETTE COLOR":
        return np.array([_darkest_palette_index(ds, info)])
    if samples == 1:
        darkest_is_high = space == "MONOCHROME1"
        if info.bits_allocated == 1:
            return np.array([1 if darkest_is_high else 0])
        return np.array([frame.max() if darkest_is_high else frame.min()])
    if space.startswith("YBR"):
        half = 1 << (info.bits_stored - 1)
        return np.array([0] + [half] * (samples - 1))
    return np.zeros(samples, dtype=np.int64)


def _darkest_palette_index(ds: Dataset, info: PixelInfo) -> int:
    """The stored index whose palette entry has the lowest luminance."""
    from pydicom.pixels.processing import apply_color_lut

    try:
        entries, first, _ = (int(v) for v in ds.RedPaletteColorLookupTableDescriptor)
        entries = entries or 65536
        low, high = info.value_range()
        indices = np.arange(max(first, low), min(first + entries, high + 1))
        dtype = np.uint8 if info.bits_allocated <= 8 else np.uint16
        rgb = np.asarray(apply_color_lut(indices.astype(dtype), ds), dtype=np.float64)
    except Exception:
        raise DicomEncodeError("palette colour lookup table unusable for a black fill") from None
    if indices.size == 0:
        return first
    luminance = rgb[..., :3] @ np.array([0.299, 0.587, 0.114])
    return int(indices[int(np.argmin(luminance))])


def _ring_value(frame: np.ndarray, box: PixelBox, info: PixelInfo) -> np.ndarray | None:
    """Median (palette: most common value) of the pixels just around ``box``."""
    x0, y0, x1, y1 = box
    rows, columns = frame.shape[:2]
    ox0, oy0 = max(0, x0 - _RING), max(0, y0 - _RING)
    ox1, oy1 = min(columns, x1 + _RING), min(rows, y1 + _RING)
    outer = frame[oy0:oy1, ox0:ox1]
    keep = np.ones(outer.shape[:2], dtype=bool)
    keep[y0 - oy0 : y1 - oy0, x0 - ox0 : x1 - ox0] = False
    samples = outer[keep].reshape(-1, info.samples_per_pixel)
    if samples.shape[0] == 0:
        return None
    if info.decoded_photometric == "PALETTE COLOR":
        values, counts = np.unique(samples[:, 0], return_counts=True)
        return np.array([values[int(np.argmax(counts))]])
    return np.rint(np.median(samples, axis=0)).astype(np.int64)


def _fills(
    ds: Dataset, info: PixelInfo, frame: np.ndarray, boxes: list[PixelBox], fill: str
) -> list[np.ndarray]:
    black: np.ndarray | None = None
    values: list[np.ndarray] = []
    for box in boxes:
        value = _ring_value(frame, box, info) if fill == "background" else None
        if value is None:
            if black is None:
                black = _black(ds, info, frame)
            value = black
        values.append(value)
    return values


def _paint(frame: np.ndarray, boxes: list[PixelBox], fills: list[np.ndarray]) -> None:
    """Fill boxes of a decoded frame (rows, columns[, samples]) in place."""
    for (x0, y0, x1, y1), value in zip(boxes, fills, strict=True):
        if frame.ndim == 2:
            frame[y0:y1, x0:x1] = value[0]
        else:
            frame[y0:y1, x0:x1, :] = value[: frame.shape[2]]


def _masked_frame(
    ds: Dataset, info: PixelInfo, frame: np.ndarray, boxes: list[PixelBox], fill: str
) -> np.ndarray:
    frame = np.array(frame, copy=True)
    _paint(frame, boxes, _fills(ds, info, frame, boxes, fill))
    return frame


# --------------------------------------------------------------------------
# Native (uncompressed) Pixel Data: edit the masked pixels' bytes in place


def _mask_native(
    ds: Dataset, info: PixelInfo, plan: dict[int, list[PixelBox]], fill: str
) -> None:
    if info.bits_allocated != 1 and info.bits_allocated % 8:
        raise DicomEncodeError("native Pixel Data with BitsAllocated not 1 or a multiple of 8")
    element = ds[PIXEL_DATA_TAG]
    buffer = bytearray(element.value)
    big_endian = info.uid == ExplicitVRBigEndian
    # 8-bit data written as OW in big endian has its bytes swapped in pairs.
    swapped = big_endian and info.bits_allocated // 8 == 1 and element.VR == "OW"
    if swapped:
        _swap_pairs(buffer)
    for index, boxes in plan.items():
        decoded = decode_frame(ds, index, info=info)
        fills = _fills(ds, info, decoded, boxes, fill)
        if info.bits_allocated == 1:
            first_bit = index * info.rows * info.columns * info.samples_per_pixel
            _paint_bits(buffer, info, first_bit, boxes, fills)
        else:
            _paint_native(buffer, info, index, boxes, fills, big_endian)
    if swapped:
        _swap_pairs(buffer)
    element.value = bytes(buffer)
    del buffer


def _swap_pairs(buffer: bytearray) -> None:
    pairs = np.frombuffer(buffer, dtype=np.uint16, count=len(buffer) // 2)
    pairs.byteswap(inplace=True)


def _paint_native(
    buffer: bytearray,
    info: PixelInfo,
    index: int,
    boxes: list[PixelBox],
    fills: list[np.ndarray],
    big_endian: bool,
) -> None:
    """Write fills into one frame's bytes, in the stored layout and byte order."""
    size = info.bits_allocated // 8
    dtype = np.dtype(f"{'>' if big_endian else '<'}{'i' if info.is_signed else 'u'}{size}")
    rows, columns, samples = info.rows, info.columns, info.samples_per_pixel
    subsampled = info.photometric == "YBR_FULL_422"
    count = rows * columns * (2 if subsampled else samples)
    end = (index + 1) * count * size
    if end > len(buffer):
        raise DicomEncodeError("Pixel Data is shorter than its frames")
    view = np.frombuffer(buffer, dtype=dtype, count=count, offset=index * count * size)
    if subsampled:
        # Pairs of pixels share chroma: Y1 Y2 Cb Cr. Masks widen to whole pairs.
        pairs = view.reshape(rows, columns // 2, 4)
        for (x0, y0, x1, y1), value in zip(boxes, fills, strict=True):
            target = pairs[y0:y1, x0 // 2 : (x1 + 1) // 2]
            target[..., 0] = value[0]
            target[..., 1] = value[0]
            target[..., 2] = value[1]
            target[..., 3] = value[2]
        return
    if samples > 1 and info.planar_configuration == 1:
        planes = view.reshape(samples, rows, columns)
        for (x0, y0, x1, y1), value in zip(boxes, fills, strict=True):
            for plane in range(samples):
                planes[plane, y0:y1, x0:x1] = value[plane]
        return
    _paint(view.reshape(rows, columns, samples) if samples > 1 else view.reshape(rows, columns),
           boxes, fills)


def _paint_bits(
    buffer: bytearray,
    info: PixelInfo,
    first_bit: int,
    boxes: list[PixelBox],
    fills: list[np.ndarray],
) -> None:
    """Write fills into a bit-packed (1-bit) frame starting at bit ``first_bit`` of ``buffer``.

    Neighbouring frames' bits in the shared first and last bytes are left alone.
    """
    pixels = info.rows * info.columns * info.samples_per_pixel
    start, end = first_bit // 8, -(-(first_bit + pixels) // 8)
    if end > len(buffer):
        raise DicomEncodeError("Pixel Data is shorter than its frames")
    bits = np.unpackbits(np.frombuffer(bytes(buffer[start:end]), dtype=np.uint8),
                         bitorder="little")
    offset = first_bit - start * 8
    frame = bits[offset : offset + pixels].reshape(info.rows, info.columns)
    _paint(frame, boxes, [np.clip(v, 0, 1) for v in fills])
    buffer[start:end] = np.packbits(bits, bitorder="little").tobytes()


# --------------------------------------------------------------------------
# Encapsulated Pixel Data: re-encode masked frames, keep the others' fragments


def _mask_encapsulated(
    ds: Dataset, info: PixelInfo, plan: dict[int, list[PixelBox]], fill: str
) -> str:
    masker = FrameMasker(ds, info, fill)
    masker.encoder()  # fail before any frame work when the syntax has no encoder
    pixel_data: bytes = ds[PIXEL_DATA_TAG].value
    fragments = frame_fragments(ds, info)
    body = bytearray()
    items = FrameItems(body.extend, extended=bool(extended_offsets_of(ds)),
                       basic=bool(fragments.basic_offsets),
                       original_lengths=extended_lengths_of(ds))
    for index in range(info.num_frames):
        stored = [pixel_data[at : at + length] for at, length in fragments.of_frame(index)]
        reencoded = None
        if index in plan:
            original = b"".join(stored)
            reencoded = masker.reencode(original, decode_encoded_frame(info, original),
                                        plan[index])
        items.add(index, stored, reencoded)
    items.store_extended(ds)
    ds[PIXEL_DATA_TAG].value = items.basic_table() + bytes(body)
    return "lossy" if masker.record_lossy(ds) else "lossless"


def _chroma_aligned(boxes: list[PixelBox], original: bytes, info: PixelInfo) -> list[PixelBox]:
    """Widen boxes of subsampled JPEG colour frames to whole chroma samples.

    A chroma sample shared with unmasked pixels would tint the mask; boxes
    only ever grow, so nothing that had to be covered is uncovered.
    """
    if info.samples_per_pixel != 3 or info.uid not in (JPEGBaseline8Bit, JPEGExtended12Bit):
        return boxes
    sampling = read_jpeg_header(original).sampling
    if not sampling:
        return boxes
    h = max(factor[0] for factor in sampling)
    v = max(factor[1] for factor in sampling)
    if h == 1 and v == 1:
        return boxes
    return [
        (x0 - x0 % h, y0 - y0 % v, min(info.columns, -(-x1 // h) * h),
         min(info.rows, -(-y1 // v) * v))
        for x0, y0, x1, y1 in boxes
    ]


def _record_lossy(ds: Dataset, ratio: float, method: str) -> None:
    """Lossy Image Compression = 01; append this step's ratio and method (PS3.3 C.7.6.1.1.5)."""
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = [*_values(ds, "LossyImageCompressionRatio"),
                                     f"{min(ratio, 1e9):.2f}"]
    ds.LossyImageCompressionMethod = [*_values(ds, "LossyImageCompressionMethod"), method]


def _values(ds: Dataset, keyword: str) -> list[str]:
    try:
        value = ds.get(keyword)
    except Exception:
        return []
    if value is None or value == "":
        return []
    if isinstance(value, str | bytes | int | float):
        return [str(value)]
    return [str(v) for v in value]


# --------------------------------------------------------------------------
# forceOutput fallback: the whole file as Explicit VR Little Endian


def _convert_to_native(
    ds: Dataset, info: PixelInfo, plan: dict[int, list[PixelBox]], fill: str
) -> None:
    """Decode every frame (one at a time), mask, write uncompressed little endian.

    YCbCr becomes RGB (YBR_ICT/RCT already decode as RGB), planar
    configuration 0; encapsulation-only elements are removed.
    """
    if info.bits_allocated % 8:
        raise DicomEncodeError("cannot convert Pixel Data with BitsAllocated not a multiple of 8")
    to_rgb = info.samples_per_pixel == 3 and info.decoded_photometric in YBR
    photometric = "RGB" if to_rgb or info.decoded_photometric == "RGB" else info.photometric
    dtype = container(info.bits_allocated, info.is_signed)
    frame_size = info.rows * info.columns * info.samples_per_pixel * dtype.itemsize
    out = bytearray(frame_size * info.num_frames + (frame_size * info.num_frames) % 2)
    for index in range(info.num_frames):
        frame = decode_frame(ds, index, info=info)
        if index in plan:
            frame = _masked_frame(ds, info, frame, plan[index], fill)
        if to_rgb:
            frame = ybr_full_to_rgb(frame, info.bits_stored)
        out[index * frame_size : (index + 1) * frame_size] = frame.astype(dtype).tobytes()
    for tag in (EXTENDED_OFFSETS, EXTENDED_LENGTHS):
        if tag in ds:
            del ds[tag]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.PixelData = bytes(out)
    element = ds[PIXEL_DATA_TAG]
    element.VR = "OB" if info.bits_allocated <= 8 else "OW"
    element.is_undefined_length = False
    ds.PhotometricInterpretation = photometric
    if info.samples_per_pixel > 1:
        ds.PlanarConfiguration = 0
