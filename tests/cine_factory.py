"""Synthetic ultrasound cine loops with burned-in text at known places.

A loop has a static banner (synthetic patient name, id, birth date and
institution: PHI), static scanner text that is not PHI, moving speckled
anatomy, and optionally a PHI label that appears part-way through the loop
on top of the moving anatomy (the case frame reuse must not miss).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

from tests.pixel_factory import ultrasound_frames

_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@dataclass(frozen=True)
class CineText:
    text: str
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels
    phi: bool
    frames: tuple[int, int]  # first and last frame (inclusive) showing it


@dataclass
class Cine:
    path: Path
    frames: int
    rows: int
    columns: int
    texts: list[CineText] = field(default_factory=list)

    @property
    def phi(self) -> list[CineText]:
        return [t for t in self.texts if t.phi]

    @property
    def safe(self) -> list[CineText]:
        return [t for t in self.texts if not t.phi]


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    if _FONT.exists():
        return ImageFont.truetype(str(_FONT), size)
    return ImageFont.load_default()


def _draw(
    canvas: Image.Image, text: str, xy: tuple[int, int], size: int, label: str = ""
) -> tuple[int, int, int, int]:
    """Draw ``label`` + ``text``; the box returned is that of ``text`` alone."""
    draw = ImageDraw.Draw(canvas)
    font = _font(size)
    draw.text(xy, label + text, fill=255, font=font)
    start = (xy[0] + draw.textlength(label, font=font), xy[1])
    x0, y0, x1, y1 = draw.textbbox(start, text, font=font)
    return (int(x0), int(y0), int(x1) + 1, int(y1) + 1)


def build_cine(
    path: Path | str,
    *,
    frames: int = 30,
    rows: int = 480,
    columns: int = 640,
    seed: int = 5,
    late_label_at: int | None = None,
    name: str = "QUORNBY^ZELDA",
) -> Cine:
    """Write an 8-bit MONOCHROME2 ultrasound cine (Explicit VR Little Endian).

    ``late_label_at``: a PHI label (the family name) appears on the moving
    anatomy from this frame to the end.
    """
    rng = np.random.default_rng(seed)
    anatomy = ultrasound_frames(rng, rows, columns, frames)
    pixels = np.rint(anatomy / 0.72 * 200).astype(np.uint8)
    family, given = name.split("^")
    overlay = Image.new("L", (columns, rows), 0)
    texts: list[CineText] = []
    last = frames - 1
    banner = [  # (label drawn before the text, text, PHI?, where)
        ("", f"{family}, {given}", True, (8, 6)),
        ("ID ", "48213377", True, (8, 26)),
        ("DOB ", "03/14/1961", True, (220, 26)),
        ("", "HARROWGATE VALLEY CLINIC", True, (220, 6)),
        ("", "C5-2", False, (columns - 110, 6)),
        ("", "GEN", False, (columns - 110, 26)),
        ("", "LONG", False, (8, rows - 24)),
    ]
    for label, text, phi, xy in banner:
        box = _draw(overlay, text, xy, 14, label)
        texts.append(CineText(text, box, phi, (0, last)))
    static = np.asarray(overlay)
    stack = np.empty((frames, rows, columns), dtype=np.uint8)
    label = None
    if late_label_at is not None:
        late = Image.new("L", (columns, rows), 0)
        box = _draw(late, family, (columns // 2 - 40, rows // 2), 16)
        label = np.asarray(late)
        texts.append(CineText(family, box, True, (late_label_at, last)))
    for f in range(frames):
        frame = pixels[f].copy()
        frame[:52, :] = 0  # banner strip
        frame = np.maximum(frame, static)
        if label is not None and late_label_at is not None and f >= late_label_at:
            frame = np.maximum(frame, label)
        stack[f] = frame

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName = name
    ds.PatientID = "48213377"
    ds.PatientBirthDate = "19610314"
    ds.InstitutionName = "Harrowgate Valley Clinic"
    ds.Modality = "US"
    ds.StudyDate = "20240611"
    ds.BurnedInAnnotation = "YES"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.FrameTime = 33.3
    ds.PixelData = stack.tobytes()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(out, enforce_file_format=True)
    return Cine(out, frames, rows, columns, texts)
