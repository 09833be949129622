"""Overlay planes (groups 6000-601E, even): find them, read their bits, clear PHI in them.

An overlay plane is a one-bit image stored next to Pixel Data. Consoles use
it for graphics and for burned-in-looking text (names, dates) that OCR of the
pixels never sees, so the pixel path reads each overlay frame as an image of
its own (:func:`overlay_bits`, :func:`render_overlay`), and clears only the
bits under the PHI it finds (:func:`clear_overlay_regions`): scale bars,
arrows and annotations research needs stay.

Where the bits live decides what can be done with them:

* **Overlay Data** (60xx,3000): bit-packed, least significant bit first,
  row by row, frames one after another with no padding between them (a frame
  can start inside a byte). Bits are cleared selectively and the element is
  written back with the same VR and length.
* **Embedded in Pixel Data** (retired since 2004: Overlay Bits Allocated > 1,
  Overlay Bit Position naming an unused high bit of each pixel word, no
  Overlay Data). Clearing some of those bits in compressed frames would mean
  re-encoding them, so embedded overlays are handled by removal
  (:func:`remove_embedded_overlay_bits`): the bit is zeroed in every word of
  native Pixel Data and the group is deleted.

Coordinates: overlay boxes are :class:`~sparkdeid.boxes.Box` in the
overlay's own pixels (x right, y down, pixel edges); Overlay Origin
(60xx,0050) places the overlay's top-left pixel on the image, 1-based, and
may be 0 or negative (overlay starting above or left of the image).

Frames (PS3.3 C.9.3.1.1): overlay frame ``k`` (0-based) applies to image
frame ``Image Frame Origin - 1 + k``; without Image Frame Origin the overlay
starts at the first image frame. A one-frame overlay on a multi-frame image
therefore applies to one frame only, the first or the one Image Frame Origin
names (the standard's note on applying a one-frame overlay to one frame of a
multi-frame image; dcm4che reads it the same way). Some viewers draw such an
overlay on every frame instead. Either reading is safe here, because OCR and
clearing work on overlay frames, never on image frames: every overlay bit is
read and can be cleared whichever image frame it is drawn on.

Errors name the overlay group and what is wrong, never a value.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits, unpack_bits

from sparkdeid.boxes import Box
from sparkdeid.dicom.frames import (
    PIXEL_DATA_TAG,
    PixelInfo,
    image_pixel_info,
    transfer_syntax_of,
)
from sparkdeid.errors import DicomDecodeError, DicomEncodeError

logger = logging.getLogger(__name__)

#: The 16 overlay groups of PS3.5 7.6 (odd 60xx groups are private).
OVERLAY_GROUPS: tuple[int, ...] = tuple(range(0x6000, 0x6020, 2))

_ROWS, _COLUMNS, _FRAMES, _DESCRIPTION = 0x0010, 0x0011, 0x0015, 0x0022
_TYPE, _ORIGIN, _FRAME_ORIGIN = 0x0040, 0x0050, 0x0051
_BITS_ALLOCATED, _BIT_POSITION, _LABEL, _DATA = 0x0100, 0x0102, 0x1500, 0x3000

#: Grey levels of :func:`render_overlay`: white ink on black, as viewers show
#: overlays and as the OCR engine's defaults were tuned (light text on dark).
INK, PAPER = 255, 0


@dataclass(frozen=True)
class OverlayPlane:
    """One overlay plane's geometry and storage; no text value is ever kept.

    Parameters
    ----------
    group
        The repeating group, ``0x6000`` ... ``0x601E``.
    rows, columns
        Overlay Rows / Columns: the size of one overlay frame.
    origin
        Overlay Origin as (row, column): where the overlay's top-left pixel
        falls on the image, counted from 1 (``(1, 1)``: the image's corner).
    number_of_frames
        Number of Frames in Overlay (1 when absent).
    image_frame_origin
        Image Frame Origin: the 1-based image frame the first overlay frame
        applies to (1 when absent).
    type
        ``"G"`` (graphics) or ``"R"`` (region of interest); anything else is
        read as ``"G"``. Both may hold text and both are read.
    has_label, has_description
        Whether Overlay Label (60xx,1500) / Overlay Description (60xx,0022)
        are present; free text that metadata de-identification must handle.
    embedded
        The bits are in unused high bits of Pixel Data (retired encoding),
        not in Overlay Data.
    bits_allocated, bit_position
        Overlay Bits Allocated / Bit Position; meaningful when ``embedded``.
    """

    group: int
    rows: int
    columns: int
    origin: tuple[int, int] = (1, 1)
    number_of_frames: int = 1
    image_frame_origin: int = 1
    type: str = "G"
    has_label: bool = False
    has_description: bool = False
    embedded: bool = False
    bits_allocated: int = 1
    bit_position: int = 0

    @property
    def name(self) -> str:
        """The group as written in messages and logs (``"6000"``)."""
        return f"{self.group:04X}"

    @property
    def data_tag(self) -> int:
        """The (60xx,3000) Overlay Data tag of this plane."""
        return _tag(self.group, _DATA)

    @property
    def bits_per_frame(self) -> int:
        return self.rows * self.columns

    @property
    def total_bits(self) -> int:
        return self.bits_per_frame * self.number_of_frames


def _tag(group: int, element: int) -> int:
    """The tag ``(group, element)`` as one int, as pydicom indexes datasets."""
    return (group << 16) | element


# --------------------------------------------------------------------------
# Finding planes


def overlay_planes(ds: Dataset) -> list[OverlayPlane]:
    """Every overlay plane of ``ds``, in group order.

    A group with neither Overlay Rows/Columns nor Overlay Data describes no
    bits and is skipped. Overlay Data whose size cannot be known (no rows or
    columns) is an error rather than a skip: bits nobody can read could still
    be drawn by some viewer, so the caller must decide (remove the group).

    Raises
    ------
    DicomDecodeError
        A plane is malformed: unreadable or impossible numbers, Overlay Data
        shorter than its rows x columns x frames bits, or no bits anywhere.
    """
    planes = []
    for group in OVERLAY_GROUPS:
        plane = _plane(ds, group)
        if plane is not None:
            planes.append(plane)
    return planes


def _plane(ds: Dataset, group: int) -> OverlayPlane | None:
    name = f"{group:04X}"
    has_data = _tag(group, _DATA) in ds
    rows = _number(ds, group, _ROWS, "Overlay Rows")
    columns = _number(ds, group, _COLUMNS, "Overlay Columns")
    if rows is None and columns is None and not has_data:
        return None
    if rows is None or columns is None or rows <= 0 or columns <= 0:
        raise DicomDecodeError(f"overlay {name}: Overlay Rows/Columns missing or not positive")
    frames = _number(ds, group, _FRAMES, "Number of Frames in Overlay")
    frame_origin = _number(ds, group, _FRAME_ORIGIN, "Image Frame Origin")
    bits_allocated = _number(ds, group, _BITS_ALLOCATED, "Overlay Bits Allocated")
    bit_position = _number(ds, group, _BIT_POSITION, "Overlay Bit Position")
    frames = 1 if frames is None else frames
    frame_origin = 1 if frame_origin is None else frame_origin
    bits_allocated = 1 if bits_allocated is None else bits_allocated
    bit_position = 0 if bit_position is None else bit_position
    if frames < 1 or frame_origin < 1:
        raise DicomDecodeError(
            f"overlay {name}: Number of Frames in Overlay or Image Frame Origin below 1"
        )
    embedded = not has_data
    if embedded and bits_allocated <= 1:
        raise DicomDecodeError(f"overlay {name}: no Overlay Data and no embedded bit plane")
    if embedded and not 0 <= bit_position < bits_allocated:
        raise DicomDecodeError(
            f"overlay {name}: Overlay Bit Position outside Overlay Bits Allocated"
        )
    plane = OverlayPlane(
        group=group,
        rows=rows,
        columns=columns,
        origin=_origin(ds, group),
        number_of_frames=frames,
        image_frame_origin=frame_origin,
        type=_overlay_type(ds, group),
        has_label=_tag(group, _LABEL) in ds,
        has_description=_tag(group, _DESCRIPTION) in ds,
        embedded=embedded,
        bits_allocated=bits_allocated if embedded else 1,
        bit_position=bit_position if embedded else 0,
    )
    if not embedded:
        _logical_bytes(ds, plane)  # validates the length now, not at first use
    return plane


def _value(ds: Dataset, group: int, element: int, keyword: str) -> Any:
    item = _tag(group, element)
    if item not in ds:
        return None
    raw = ds.get_item(item)
    if isinstance(raw, RawDataElement) and raw.VR in (None, "IS") and element == _FRAMES:
        # Number of Frames in Overlay is text: converting a bad one makes pydicom
        # warn and log the value itself, so it is parsed here from the raw bytes.
        return bytes(raw.value or b"").decode("ascii", "replace").strip(" \0")
    try:
        return ds[item].value
    except Exception:  # a raw value pydicom cannot convert; its text may be PHI
        raise DicomDecodeError(f"overlay {group:04X}: {keyword} is unreadable") from None


def _number(ds: Dataset, group: int, element: int, keyword: str) -> int | None:
    """A single integer value; None when absent or empty."""
    value = _value(ds, group, element, keyword)
    if value is None or value == "":
        return None
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        value = value[0] if len(value) == 1 else None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DicomDecodeError(f"overlay {group:04X}: {keyword} is not one integer") from None


def _origin(ds: Dataset, group: int) -> tuple[int, int]:
    value = _value(ds, group, _ORIGIN, "Overlay Origin")
    if value is None or value == "":
        return (1, 1)  # Type 1, but an absent origin has only one sensible reading
    try:
        row, column = (int(v) for v in value)
    except (TypeError, ValueError):
        raise DicomDecodeError(f"overlay {group:04X}: Overlay Origin is not two integers") from None
    return (row, column)


def _overlay_type(ds: Dataset, group: int) -> str:
    value = _value(ds, group, _TYPE, "Overlay Type")
    return "R" if str(value or "").strip().upper() == "R" else "G"


# --------------------------------------------------------------------------
# Frames and coordinates


def overlay_frame_indices(plane: OverlayPlane, num_image_frames: int) -> dict[int, int]:
    """Which image frame (0-based) each overlay frame (0-based) applies to.

    Overlay frame ``k`` applies to image frame ``image_frame_origin - 1 + k``
    (PS3.3 C.9.3.1.1); a one-frame overlay on a multi-frame image applies to
    frame ``image_frame_origin - 1`` only (not to every frame, as some
    viewers draw it). Use ``num_image_frames=1`` for a
    single-frame image or a standalone overlay. The mapping is for relating
    overlay text to image frames only: OCR and clearing must visit every
    overlay frame, ``range(plane.number_of_frames)``, whatever this says.

    Raises
    ------
    DicomDecodeError
        An overlay frame falls beyond the image's last frame (the standard
        forbids it). Fail closed: the caller should remove such a plane
        (:func:`remove_overlay`) rather than guess where it belongs.
    """
    last = plane.image_frame_origin - 1 + plane.number_of_frames
    if num_image_frames < 1 or last > num_image_frames:
        raise DicomDecodeError(
            f"overlay {plane.name}: its frames run past the image's last frame"
        )
    start = plane.image_frame_origin - 1
    return {k: start + k for k in range(plane.number_of_frames)}


def overlay_box_to_image(plane: OverlayPlane, box: Box) -> Box:
    """A box in overlay pixels as image pixels (a shift by Overlay Origin - 1).

    Not clipped: parts of an overlay may lie outside the image.
    """
    dy, dx = plane.origin[0] - 1, plane.origin[1] - 1
    return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy)


def image_box_to_overlay(plane: OverlayPlane, box: Box) -> Box:
    """A box in image pixels as overlay pixels (the inverse of :func:`overlay_box_to_image`)."""
    dy, dx = plane.origin[0] - 1, plane.origin[1] - 1
    return Box(box.x0 - dx, box.y0 - dy, box.x1 - dx, box.y1 - dy)


# --------------------------------------------------------------------------
# Reading bits


def overlay_bits(ds: Dataset, plane: OverlayPlane, overlay_frame: int = 0) -> np.ndarray:
    """One overlay frame as a bool array of shape (rows, columns); True where drawn.

    Only that frame's bytes are unpacked. Embedded overlays are read from the
    pixel words of the image frame the overlay frame applies to, in native
    Pixel Data only.

    Raises
    ------
    IndexError
        ``overlay_frame`` is not a frame of the plane.
    DicomDecodeError
        Overlay Data too short; an embedded overlay in compressed Pixel Data,
        or one whose size differs from the image's.
    """
    _check_frame(plane, overlay_frame)
    if plane.embedded:
        return _embedded_bits(ds, plane, overlay_frame)
    data = _logical_bytes(ds, plane)
    first = overlay_frame * plane.bits_per_frame
    start, end = first // 8, -(-(first + plane.bits_per_frame) // 8)
    bits = np.asarray(unpack_bits(data[start:end]))
    offset = first - start * 8
    frame = bits[offset : offset + plane.bits_per_frame]
    return frame.astype(bool).reshape(plane.rows, plane.columns)


def _check_frame(plane: OverlayPlane, overlay_frame: int) -> None:
    if not 0 <= overlay_frame < plane.number_of_frames:
        raise IndexError(
            f"overlay {plane.name} has {plane.number_of_frames} frame(s), "
            f"frame {overlay_frame} requested"
        )


def _swapped_words(ds: Dataset, vr: str) -> bool:
    """True when bits sit in 16-bit words stored big endian (PS3.5 8.1.1-8.1.2, Annex D).

    In Explicit VR Big Endian an OW value is a run of big-endian words, so
    the first overlay bit is in the second byte; OB is a run of bytes and
    needs no swap. pydicom hands both over as the bytes it read.
    """
    return vr != "OB" and not transfer_syntax_of(ds).is_little_endian


def _swap_pairs(data: bytes) -> bytes:
    return np.frombuffer(data, dtype=">u2").astype("<u2").tobytes()


def _logical_bytes(ds: Dataset, plane: OverlayPlane) -> bytes:
    """Overlay Data with bit ``i`` of the stream at bit ``i % 8`` of byte ``i // 8``."""
    element = ds[plane.data_tag]
    try:
        data = element.value
    except Exception:
        raise DicomDecodeError(f"overlay {plane.name}: Overlay Data is unreadable") from None
    if not isinstance(data, (bytes, bytearray)):
        raise DicomDecodeError(f"overlay {plane.name}: Overlay Data is not binary")
    needed = -(-plane.total_bits // 8)
    if len(data) < needed:
        raise DicomDecodeError(
            f"overlay {plane.name}: Overlay Data is shorter than its rows x columns x frames bits"
        )
    data = bytes(data)
    if _swapped_words(ds, str(element.VR)):
        if len(data) % 2:
            raise DicomDecodeError(f"overlay {plane.name}: OW Overlay Data has an odd length")
        data = _swap_pairs(data)
    return data


def _native_words(ds: Dataset, plane: OverlayPlane) -> tuple[np.ndarray, PixelInfo, bool]:
    """Native Pixel Data as a writable array of pixel words in pixel order.

    Also returns the image's PixelInfo and whether the bytes were swapped in
    pairs to get pixel order (8-bit data stored as OW in big endian); swap
    them back with :func:`_swap_pairs` before storing the words.
    """
    if PIXEL_DATA_TAG not in ds:
        raise DicomDecodeError(f"overlay {plane.name} is embedded but there is no Pixel Data")
    # header values only: whether the bits can be reached is answered before the data's shape
    info = image_pixel_info(ds)
    if info.is_encapsulated:
        raise DicomDecodeError(
            f"overlay {plane.name} is embedded in compressed Pixel Data; "
            "its bits cannot be read or cleared without re-encoding"
        )
    if info.bits_allocated not in (8, 16, 32) or info.samples_per_pixel != 1:
        raise DicomDecodeError(
            f"overlay {plane.name} is embedded in Pixel Data that is not one sample of "
            "8, 16 or 32 bits per pixel"
        )
    big_endian = not info.uid.is_little_endian
    dtype = np.dtype(f"{'>' if big_endian else '<'}u{info.bits_allocated // 8}")
    raw = bytes(ds[PIXEL_DATA_TAG].value)
    raw = raw[: len(raw) // dtype.itemsize * dtype.itemsize]
    swapped = big_endian and info.bits_allocated == 8 and str(ds[PIXEL_DATA_TAG].VR) == "OW"
    if swapped:
        raw = _swap_pairs(raw[: len(raw) // 2 * 2])
    return np.frombuffer(bytearray(raw), dtype=dtype), info, swapped


def _embedded_bits(ds: Dataset, plane: OverlayPlane, overlay_frame: int) -> np.ndarray:
    words, info, _ = _native_words(ds, plane)
    if (plane.rows, plane.columns) != (info.rows, info.columns):
        raise DicomDecodeError(
            f"overlay {plane.name} is embedded but its size differs from the image's"
        )
    image_frame = plane.image_frame_origin - 1 + overlay_frame
    pixels = info.rows * info.columns
    if (image_frame + 1) * pixels > words.size:
        raise DicomDecodeError(f"overlay {plane.name} is embedded past the end of Pixel Data")
    frame = words[image_frame * pixels : (image_frame + 1) * pixels]
    return ((frame >> plane.bit_position) & 1).astype(bool).reshape(info.rows, info.columns)


# --------------------------------------------------------------------------
# Rendering for OCR


def render_overlay(bits: np.ndarray) -> np.ndarray:
    """An overlay frame as a uint8 image for OCR: white ink (255) on black (0).

    PP-OCR (rapidocr) reads one-bit text about equally in either polarity.
    16 px text is read perfectly both ways; on 626 synthetic lines of 6-9 px
    text (DejaVu Sans, Mono and Serif, Pillow's default font), white on
    black had 99.5 % of the texts' ink fully boxed against 99.2 % for black
    on white (the misses are all 6 px text) and 70.9 % read either way
    (edit similarity >= 0.75). White on black is chosen for that small
    margin and because it is how viewers draw overlays and the light-on-dark
    text the engine's defaults were tuned on; ``tests/unit/test_overlays.py``
    compares both on small text.

    The image has the overlay's exact shape, no margin and no scaling, so a
    box an engine finds on it is already in overlay pixel coordinates: pass
    it straight to :func:`clear_overlay_regions`, or through
    :func:`overlay_box_to_image` to relate it to the image.
    """
    bits = np.asarray(bits)
    if bits.ndim != 2:
        raise ValueError(f"overlay bits must be 2-D (rows, columns), got {bits.ndim}-D")
    return np.where(bits.astype(bool), np.uint8(INK), np.uint8(PAPER))


# --------------------------------------------------------------------------
# Clearing and removing


def clear_overlay_regions(
    ds: Dataset, plane: OverlayPlane, boxes_by_overlay_frame: Mapping[int, Sequence[Box]]
) -> int:
    """Zero the overlay bits under ``boxes`` and write Overlay Data back; bits cleared.

    Boxes are in overlay pixels of the given overlay frame (0-based) and cover
    every pixel they touch (:meth:`Box.pixel_bounds`); parts outside the
    overlay are ignored. All other overlay bits keep their values. The
    element keeps its VR and length (an odd length gains its missing pad
    byte) and its byte order; unused bits after the last overlay bit are
    zeroed, since they are data no viewer shows.

    Returns
    -------
    int
        How many set bits were cleared.

    Raises
    ------
    DicomEncodeError
        ``plane`` is embedded in Pixel Data: use :func:`remove_embedded_overlay_bits`.
    IndexError
        A frame key that is not a frame of the plane.
    DicomDecodeError
        Overlay Data shorter than the plane needs.
    """
    if plane.embedded:
        raise DicomEncodeError(
            f"overlay {plane.name} is embedded in Pixel Data: its bits cannot be cleared "
            "selectively; remove it with remove_embedded_overlay_bits"
        )
    for frame in boxes_by_overlay_frame:
        _check_frame(plane, frame)
    element = ds[plane.data_tag]
    data = _logical_bytes(ds, plane)
    bits = np.asarray(unpack_bits(data)).copy()
    frames = bits[: plane.total_bits].reshape(plane.number_of_frames, plane.rows, plane.columns)
    cleared = 0
    for frame, boxes in boxes_by_overlay_frame.items():
        for box in boxes:
            x0, y0, x1, y1 = box.pixel_bounds()
            x0, y0 = max(x0, 0), max(y0, 0)
            x1, y1 = min(x1, plane.columns), min(y1, plane.rows)
            if x1 <= x0 or y1 <= y0:
                continue
            region = frames[frame, y0:y1, x0:x1]
            cleared += int(np.count_nonzero(region))
            region[...] = 0
    bits[plane.total_bits :] = 0
    packed = pack_bits(bits, pad=True)  # len(data) bytes, plus a pad byte if that is odd
    if _swapped_words(ds, str(element.VR)):
        packed = _swap_pairs(packed)
    element.value = packed
    logger.debug("overlay %s: cleared %d bit(s)", plane.name, cleared)
    return cleared


def remove_overlay(ds: Dataset, plane: OverlayPlane) -> None:
    """Delete every element of the plane's group (bits, geometry, label, description).

    An embedded plane goes through :func:`remove_embedded_overlay_bits`, so
    its bits never stay behind in Pixel Data after the group that names them
    is gone (it may raise for the same reasons).
    """
    if plane.embedded:
        remove_embedded_overlay_bits(ds, plane)
        return
    _delete_group(ds, plane.group)


def remove_embedded_overlay_bits(ds: Dataset, plane: OverlayPlane) -> int:
    """Zero an embedded overlay's bit in every pixel word, then delete the group.

    Only native Pixel Data can be edited in place, and only when the bit lies
    outside the stored bits (High Bit - Bits Stored + 1 ... High Bit), so that
    no image value changes. Returns how many set bits were cleared.

    Raises
    ------
    ValueError
        ``plane`` is not embedded.
    DicomDecodeError
        No Pixel Data, compressed Pixel Data (re-encoding is not done here),
        pixel words not 8/16/32-bit greyscale, or the overlay bit lies inside
        the stored bits (clearing it would alter the image).
    """
    if not plane.embedded:
        raise ValueError(f"overlay {plane.name} is not embedded in Pixel Data")
    words, info, swapped = _native_words(ds, plane)
    try:
        high_bit = ds.get("HighBit")
        high = info.bits_stored - 1 if high_bit in (None, "") else int(high_bit)
    except Exception:
        raise DicomDecodeError("HighBit is not a valid integer") from None
    low = high - info.bits_stored + 1
    position = plane.bit_position
    if low <= position <= high or position >= info.bits_allocated:
        raise DicomDecodeError(
            f"overlay {plane.name}: Overlay Bit Position is not an unused bit of the pixel "
            "words (it lies inside Bits Stored or beyond Bits Allocated)"
        )
    mask = words.dtype.type(1 << position)
    cleared = int(np.count_nonzero(words & mask))
    words &= ~mask
    edited = _swap_pairs(words.tobytes()) if swapped else words.tobytes()
    raw = ds[PIXEL_DATA_TAG].value
    ds[PIXEL_DATA_TAG].value = edited + bytes(raw[len(edited) :])
    _delete_group(ds, plane.group)
    logger.debug("overlay %s: removed embedded plane, %d bit(s) cleared", plane.name, cleared)
    return cleared


def _delete_group(ds: Dataset, group: int) -> None:
    for item in [t for t in ds.keys() if t.group == group]:
        del ds[item]


def clean_overlays(
    content: bytes,
    found: Mapping[str, Mapping[int, Sequence[Box]]],
    *,
    remove: bool = False,
) -> tuple[bytes, int]:
    """Clear PHI in every overlay of a file; return the new bytes and bits cleared.

    ``found`` maps a plane's name (``"6000"``) to boxes by overlay frame, in
    overlay pixels (what OCR of :func:`render_overlay` finds). Separate
    overlays lose only the bits inside those boxes; overlays embedded in
    Pixel Data cannot be edited selectively and are removed, as is every
    overlay when ``remove`` is set. A file without overlays comes back as is.
    """
    from sparkdeid.dicom.codec import read_dataset, write_dataset

    ds = read_dataset(content)
    changed, cleared = clean_overlays_in(ds, found, remove=remove)
    if not changed:
        return content, 0  # nothing changed: the file stays byte-identical
    return write_dataset(ds), cleared


def clean_overlays_in(
    ds: Dataset,
    found: Mapping[str, Mapping[int, Sequence[Box]]],
    *,
    remove: bool = False,
) -> tuple[bool, int]:
    """:func:`clean_overlays` on a dataset, in place: whether it changed, and bits cleared.

    The one overlay step of both routes: the in-memory route calls it through
    :func:`clean_overlays`, the streamed large-file route on the header it
    writes (Overlay Data precedes Pixel Data). When nothing is cleared or
    removed, ``ds`` is left exactly as it was (Overlay Data not re-packed).
    Removing an embedded plane edits Pixel Data, so ``ds`` must hold it then.
    """
    planes = overlay_planes(ds)
    if not planes:
        return False, 0
    kept = {plane.data_tag: copy.copy(ds.get_item(plane.data_tag))
            for plane in planes if not plane.embedded}
    cleared, removed = 0, 0
    for plane in planes:
        if remove or plane.embedded:
            remove_overlay(ds, plane)
            removed += 1
        else:
            cleared += clear_overlay_regions(ds, plane, found.get(plane.name, {}))
    logger.debug("overlays: %d plane(s), %d removed, %d bit(s) cleared", len(planes), removed,
                 cleared)
    if cleared or removed:
        return True, cleared
    for tag, element in kept.items():  # re-packing alone is no change
        ds[tag] = element
    return False, 0
