"""Synthetic DICOM with text in overlay planes, and the answer key to check it against.

Overlay planes can carry PHI that pixel OCR never sees. Testing that it is
found and cleared needs overlays whose every drawn word is known: what it
says, whether it is PHI, which plane and overlay frame it is on, and the
exact bits of its ink. :func:`overlay_case` builds such datasets with Pillow
text turned into one-bit overlay planes, encodes them (explicit or implicit
VR little endian, or explicit VR big endian, Overlay Data as OW or OB) and
reads the bytes back, so every test works on what a file would really hold.

The PHI is invented (``ZELDA QUORNBY``, ``03/14/1961``); ``LEFT`` is the
non-PHI annotation that must survive. Cases:

* ``basic``: a 256 x 256 overlay at origin 1\\1 with the three texts, plus a
  second plane (6002, type R, with a label) holding a rectangle outline.
* ``offset``: a 120 x 200 overlay placed at origin 101\\41 on the image.
* ``multiframe``: a 3-frame image with a 3-frame overlay of 99 x 203 pixels,
  an odd bit count per frame, so frames start inside a byte.
* ``odd``: a 255 x 253 overlay: 64,515 bits in 8,065 bytes, padded to 8,066.
* ``embedded``: the retired encoding, overlay bits in bit 13 of 16-bit pixel
  words whose Bits Stored is 12 (no Overlay Data).
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom import Dataset, dcmread, dcmwrite
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    MRImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    generate_uid,
)

from sparkdeid.boxes import Box

__all__ = [
    "CASES",
    "NAME",
    "BIRTH_DATE",
    "SAFE_WORD",
    "OverlayCase",
    "PlantedText",
    "encode",
    "overlay_case",
    "text_mask",
]

NAME = "ZELDA QUORNBY"
BIRTH_DATE = "03/14/1961"
SAFE_WORD = "LEFT"
CASES = ("basic", "offset", "multiframe", "odd", "embedded")

IMAGE_SIZE = 256
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass(frozen=True)
class PlantedText:
    """A text drawn into an overlay frame; ``box`` is the tight box of its ink, overlay pixels."""

    text: str
    phi: bool
    group: int
    frame: int
    box: Box


@dataclass
class OverlayCase:
    """A dataset read back from its encoded bytes, and what was drawn in its overlays.

    ``bits`` maps each overlay group to its drawn bits, shaped
    (frames, rows, columns): the exact answer :func:`overlay_bits` must give.
    """

    name: str
    ds: Dataset
    texts: tuple[PlantedText, ...]
    bits: dict[int, np.ndarray] = field(repr=False)

    def boxes(self, group: int = 0x6000, *, phi: bool = True) -> dict[int, list[Box]]:
        """Boxes of the PHI (or non-PHI) texts of one plane, by overlay frame."""
        out: dict[int, list[Box]] = {}
        for text in self.texts:
            if text.group == group and text.phi == phi:
                out.setdefault(text.frame, []).append(text.box)
        return out

    def text(self, value: str, group: int = 0x6000) -> PlantedText:
        return next(t for t in self.texts if t.text == value and t.group == group)


@dataclass(frozen=True)
class _Draw:
    frame: int
    text: str
    phi: bool
    x: int
    y: int
    size: int = 16


@dataclass(frozen=True)
class _Plane:
    group: int
    rows: int
    columns: int
    origin: tuple[int, int]
    draws: tuple[_Draw, ...] = ()
    frames: int = 1
    roi_rectangle: tuple[int, int, int, int] | None = None
    label: str | None = None


# --------------------------------------------------------------------------
# Drawing


@functools.cache
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if _DEJAVU.is_file():
        return ImageFont.truetype(str(_DEJAVU), size)
    return ImageFont.load_default(size=size)


def text_mask(text: str, size: int, rows: int, columns: int, x: int, y: int) -> np.ndarray:
    """The one-bit ink of ``text`` drawn at (x, y) on a rows x columns canvas (no antialiasing)."""
    canvas = Image.new("L", (columns, rows), 0)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"
    draw.text((x, y), text, fill=255, font=_font(size))
    return np.asarray(canvas) > 0


def _ink_box(mask: np.ndarray) -> Box:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("text drew no ink inside the overlay")
    return Box(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _draw_plane(plane: _Plane) -> tuple[np.ndarray, list[PlantedText]]:
    bits = np.zeros((plane.frames, plane.rows, plane.columns), dtype=bool)
    planted = []
    for d in plane.draws:
        ink = text_mask(d.text, d.size, plane.rows, plane.columns, d.x, d.y)
        box = _ink_box(ink)
        for other in planted:
            if other.frame == d.frame and other.box.overlaps(box, gap=2):
                raise ValueError("planted texts overlap")
        bits[d.frame] |= ink
        planted.append(PlantedText(d.text, d.phi, plane.group, d.frame, box))
    if plane.roi_rectangle is not None:
        x0, y0, x1, y1 = plane.roi_rectangle
        bits[:, y0, x0:x1] = bits[:, y1 - 1, x0:x1] = True
        bits[:, y0:y1, x0] = bits[:, y0:y1, x1 - 1] = True
    return bits, planted


# --------------------------------------------------------------------------
# Cases


def _planes(name: str) -> tuple[list[_Plane], int]:
    """The overlay planes of a case, and how many image frames it has."""
    texts = (
        _Draw(0, NAME, True, 12, 10),
        _Draw(0, BIRTH_DATE, True, 12, 40),
    )
    if name in ("basic", "embedded"):
        planes = [_Plane(0x6000, 256, 256, (1, 1), (*texts, _Draw(0, SAFE_WORD, False, 190, 220)))]
        if name == "basic":
            planes.append(
                _Plane(0x6002, 256, 256, (1, 1), roi_rectangle=(80, 90, 170, 180), label="ROI")
            )
        return planes, 1
    if name == "offset":
        draws = (*texts, _Draw(0, SAFE_WORD, False, 140, 90))
        return [_Plane(0x6000, 120, 200, (101, 41), draws)], 1
    if name == "multiframe":
        draws = (
            _Draw(0, NAME, True, 8, 10),
            _Draw(1, BIRTH_DATE, True, 30, 40),
            _Draw(2, SAFE_WORD, False, 120, 70),
            _Draw(2, BIRTH_DATE, True, 8, 8),
        )
        return [_Plane(0x6000, 99, 203, (1, 1), draws, frames=3)], 3
    if name == "odd":
        draws = (*texts, _Draw(0, SAFE_WORD, False, 180, 215))
        return [_Plane(0x6000, 255, 253, (1, 1), draws)], 1
    raise ValueError(f"unknown overlay case {name!r}; known: {', '.join(CASES)}")


def overlay_case(
    name: str = "basic", transfer_syntax: UID = ExplicitVRLittleEndian, *, vr: str = "OW"
) -> OverlayCase:
    """One of :data:`CASES`, encoded in ``transfer_syntax`` and read back.

    ``vr`` is the VR of Overlay Data (``"OW"`` or ``"OB"``); in big endian an
    OW value is written as 16-bit big-endian words, as the standard says.
    """
    planes, image_frames = _planes(name)
    ds = _image_dataset(name, transfer_syntax, image_frames)
    pixels = _phantom(image_frames)
    texts: list[PlantedText] = []
    bits: dict[int, np.ndarray] = {}
    for plane in planes:
        drawn, planted = _draw_plane(plane)
        texts.extend(planted)
        bits[plane.group] = drawn
        _add_plane_attributes(ds, plane)
        if name == "embedded":
            _embed(ds, plane.group, drawn[0], pixels)
        else:
            _add_overlay_data(ds, plane.group, drawn, transfer_syntax, vr)
    _set_pixels(ds, pixels, transfer_syntax)
    return OverlayCase(name, _round_trip(ds), tuple(texts), bits)


def _image_dataset(name: str, transfer_syntax: UID, frames: int) -> Dataset:
    sop_class = MultiFrameGrayscaleWordSecondaryCaptureImageStorage if frames > 1 else (
        MRImageStorage
    )
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR" if frames == 1 else "OT"
    ds.SeriesDescription = f"OVERLAY {name.upper()}"
    ds.Rows = ds.Columns = IMAGE_SIZE
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = 40
    return ds


def _phantom(frames: int) -> np.ndarray:
    """A 12-bit gradient per frame (the overlays matter here, not the image)."""
    yy, xx = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE]
    frame = ((xx + yy) * 4095 // (2 * IMAGE_SIZE - 2)).astype(np.uint16)
    return np.stack([frame] * frames)


def _add_plane_attributes(ds: Dataset, plane: _Plane) -> None:
    g = plane.group
    ds.add_new((g, 0x0010), "US", plane.rows)
    ds.add_new((g, 0x0011), "US", plane.columns)
    if plane.frames > 1:
        ds.add_new((g, 0x0015), "IS", plane.frames)
        ds.add_new((g, 0x0051), "US", 1)
    ds.add_new((g, 0x0040), "CS", "R" if plane.roi_rectangle else "G")
    ds.add_new((g, 0x0050), "SS", list(plane.origin))
    if plane.label is not None:
        ds.add_new((g, 0x1500), "LO", plane.label)


def _add_overlay_data(
    ds: Dataset, group: int, bits: np.ndarray, transfer_syntax: UID, vr: str
) -> None:
    packed = np.packbits(bits.ravel().astype(np.uint8), bitorder="little").tobytes()
    packed += b"\0" * (len(packed) % 2)
    if vr == "OW" and not transfer_syntax.is_little_endian:
        packed = np.frombuffer(packed, dtype="<u2").astype(">u2").tobytes()
    ds.add_new((group, 0x0100), "US", 1)
    ds.add_new((group, 0x0102), "US", 0)
    ds.add_new((group, 0x3000), vr, packed)


def _embed(ds: Dataset, group: int, bits: np.ndarray, pixels: np.ndarray) -> None:
    """Retired encoding: the overlay in bit 13 of each pixel word (Bits Stored 12)."""
    ds.add_new((group, 0x0100), "US", 16)
    ds.add_new((group, 0x0102), "US", 13)
    pixels[0] |= bits.astype(np.uint16) << 13


def _set_pixels(ds: Dataset, pixels: np.ndarray, transfer_syntax: UID) -> None:
    order = "<" if transfer_syntax.is_little_endian else ">"
    ds.PixelData = pixels.astype(f"{order}u2").tobytes()
    ds["PixelData"].VR = "OW"


def _round_trip(ds: Dataset) -> Dataset:
    return dcmread(io.BytesIO(encode(ds)))


def encode(ds: Dataset) -> bytes:
    """``ds`` as Part 10 bytes in its own transfer syntax."""
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()
