"""Synthetic DICOM with burned-in text and an answer key, and the pixel-masking metrics.

The pixel path (OCR -> NER -> regions -> masking) can only be measured on
images whose every burned-in word is known: which words are PHI, where their
ink is, and which non-PHI annotations (``R``, ``5 cm``, ``kV 120`` ...) must
survive. Real files cannot give that. :func:`build_pixel_corpus` therefore
draws text with Pillow onto synthetic phantoms, records each drawn word as a
:class:`TextMark` (tight box and exact ink mask in stored-pixel coordinates),
and writes the images in every transfer syntax this environment can encode.

Text is split into three kinds of mark:

* ``phi`` - the identifying value itself (a name, a date, an id); masking
  must cover its ink.
* ``safe`` - annotations research needs (orientation, scale, technique);
  they must stay.
* ``labels`` - words glued to a PHI value on the same line (``MRN``,
  ``DOB:``, ``Ref: Dr.``). Masking them along with the value is acceptable,
  so they are scored neither as PHI nor as safe marks; their pixels still
  count as non-PHI pixels.

The metrics compare a de-identified output with its original pixel by pixel
(pure numpy over pydicom's decoded ``pixel_array``). For lossy originals a
change counts only above :attr:`PixelCase.tolerance`, so re-encoding noise is
not mistaken for masking. Outputs are matched to cases by path relative to
the corpus root, because de-identification keeps file names but replaces
UIDs.

Names are synthetic: pseudo-words from :class:`tests.factories.SyntheticPatient`
(guaranteed absent from any dictionary) for half the cases, Faker's
realistic-looking en_US names for the other half (a census-name recognizer
must find those). Output is reproducible for a seed within one environment.
"""

from __future__ import annotations

import functools
import io
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
from pydicom import Dataset, dcmread, dcmwrite
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000,
    UID,
    CTImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSNearLossless,
    MRImageStorage,
    MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    MultiFrameGrayscaleWordSecondaryCaptureImageStorage,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
)

from sparkdeid.boxes import Box
from tests.factories import (
    SyntheticPatient,
    _new_file_dataset,
    _set_pixel_data,
    _uid,
    available_transfer_syntaxes,
)

__all__ = [
    "FONT_HEIGHTS",
    "KEPT_THRESHOLD",
    "LOSSY_TOLERANCE",
    "LOSSY_TRANSFER_SYNTAXES",
    "MASKED_THRESHOLD",
    "NON_PHI_PADDING",
    "SAFE_TEXTS",
    "MarkResult",
    "PixelCase",
    "PixelCorpus",
    "PixelScore",
    "TextMark",
    "black_value",
    "build_pixel_corpus",
    "changed_non_phi_share",
    "decode_frames",
    "phi_box_masked_share",
    "pixel_data_identical",
    "pixel_transfer_syntaxes",
    "score_corpus",
    "write_masked_reference",
    "write_with_pixels",
]

#: Nominal font sizes (pixels) the corpus rotates through.
FONT_HEIGHTS: tuple[int, ...] = (8, 10, 12, 16, 20, 28)
#: A lossy case's tolerance, as a share of the stored value range.
LOSSY_TOLERANCE = 0.08
#: Pixels around a PHI box where a change is not counted as damage.
NON_PHI_PADDING = 4
#: A PHI mark counts as masked when at least this share of its ink is.
MASKED_THRESHOLD = 0.95
#: A safe mark counts as kept when at least this share of its ink is unchanged.
KEPT_THRESHOLD = 0.95

#: Lossy transfer syntaxes the corpus writes (when an encoder is present).
LOSSY_TRANSFER_SYNTAXES: tuple[UID, ...] = (JPEGLSNearLossless, JPEG2000, JPEGBaseline8Bit)
_LOSSY_METHOD = {
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
    JPEGBaseline8Bit: "ISO_10918_1",
}
_JPEG_QUALITY = 92
_J2K_PSNR = 50.0


@functools.cache
def pixel_transfer_syntaxes() -> tuple[UID, ...]:
    """Every transfer syntax :func:`build_pixel_corpus` can write here.

    The lossless ones of :func:`tests.factories.available_transfer_syntaxes`,
    then JPEG-LS near-lossless and JPEG 2000 lossy when pydicom has an
    encoder, and JPEG baseline when Pillow can write JPEG (pydicom has no
    JPEG baseline encoder; frames are encoded by Pillow and encapsulated).
    """
    from PIL import features
    from pydicom.pixels import get_encoder

    usable = list(available_transfer_syntaxes())
    for uid in (JPEGLSNearLossless, JPEG2000):
        try:
            if get_encoder(uid).is_available:
                usable.append(uid)
        except NotImplementedError:
            continue
    if features.check("jpg"):
        usable.append(JPEGBaseline8Bit)
    return tuple(usable)


# --------------------------------------------------------------------------
# The answer key


@dataclass(frozen=True, eq=False)
class TextMark:
    """One drawn word or value and exactly where its ink is.

    ``box`` is tight around the ink, half-open, in stored-pixel coordinates
    of every frame listed in ``frames`` (the text is drawn identically on
    each). The ink is kept cropped to the box (``ink_crop``) to keep a corpus
    small; :attr:`ink` expands it to a full ``rows x columns`` mask.

    ``kind`` says what the text is (``patient_name``, ``birth_date``,
    ``orientation``...); ``in_header`` whether the same value is in the file
    header (a header-informed recognizer can find it); ``font``, ``height``
    (nominal size in pixels) and ``contrast`` describe how it was drawn, for
    breaking scores down.
    """

    text: str
    box: Box
    frames: tuple[int, ...]
    kind: str
    ink_crop: np.ndarray = field(repr=False)
    shape: tuple[int, int] = field(repr=False)
    in_header: bool = False
    font: str = ""
    height: int = 0
    contrast: str = ""

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Integer ``(x0, y0, x1, y1)`` of the box."""
        x0, y0, x1, y1 = self.box.pixel_bounds()
        return x0, y0, x1, y1

    @property
    def ink(self) -> np.ndarray:
        """Boolean ``rows x columns`` mask of the glyph pixels."""
        full = np.zeros(self.shape, dtype=bool)
        x0, y0, x1, y1 = self.bounds
        full[y0:y1, x0:x1] = self.ink_crop
        return full

    @property
    def ink_pixels(self) -> int:
        return int(self.ink_crop.sum())


@dataclass(frozen=True, eq=False)
class PixelCase:
    """One written file and what is burned into it.

    ``tolerance`` is the per-sample difference (stored units) below which two
    decodings count as equal: 0 for lossless syntaxes. ``header_phi`` maps
    header keywords to the PHI values planted there. ``photometric`` is as
    stored (``YBR_FULL_422`` decodes to RGB).
    """

    path: Path
    relpath: str
    transfer_syntax: UID
    lossy: bool
    tolerance: int
    frames: int
    rows: int
    columns: int
    photometric: str
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    modality: str
    sop_instance_uid: str
    phi: tuple[TextMark, ...]
    safe: tuple[TextMark, ...]
    labels: tuple[TextMark, ...]
    header_phi: dict[str, str]
    windowed: bool = False
    rescaled: bool = False
    burned_in_annotation: str | None = None
    identity_source: str = ""  # "pseudo" (pseudo-words) or "faker"

    @property
    def marks(self) -> tuple[TextMark, ...]:
        return self.phi + self.safe + self.labels

    @property
    def has_text(self) -> bool:
        return bool(self.marks)

    @property
    def text_on_some_frames_only(self) -> bool:
        return any(len(m.frames) < self.frames for m in self.marks)

    def marks_on(self, frame: int) -> list[TextMark]:
        return [m for m in self.marks if frame in m.frames]

    def describe(self) -> str:
        """One line without PHI, for logs and failure messages."""
        depth = f"{'int' if self.signed else 'uint'}{self.bits_stored}"
        return (
            f"{self.relpath}: {self.modality} {self.columns}x{self.rows} {self.photometric} "
            f"{depth} x{self.frames} {self.transfer_syntax.name}"
            f"{' (lossy)' if self.lossy else ''}: {len(self.phi)} PHI, {len(self.safe)} safe"
        )


@dataclass
class PixelCorpus:
    """Files written by :func:`build_pixel_corpus`, in writing order."""

    root: Path
    seed: int
    cases: list[PixelCase]

    def __iter__(self) -> Iterator[PixelCase]:
        return iter(self.cases)

    def __len__(self) -> int:
        return len(self.cases)

    def by_relpath(self) -> dict[str, PixelCase]:
        return {c.relpath: c for c in self.cases}

    def text_cases(self) -> list[PixelCase]:
        return [c for c in self.cases if c.has_text]

    def no_text_cases(self) -> list[PixelCase]:
        return [c for c in self.cases if not c.has_text]

    def transfer_syntaxes(self) -> set[UID]:
        return {c.transfer_syntax for c in self.cases}

    def phi_strings(self) -> set[str]:
        """Every PHI text burned in and every header PHI value planted."""
        found = {m.text for c in self.cases for m in c.phi}
        found.update(v for c in self.cases for v in c.header_phi.values())
        return found


# --------------------------------------------------------------------------
# Image formats


@dataclass(frozen=True)
class _Format:
    name: str
    modality: str
    photometric: str
    bits_allocated: int
    bits_stored: int
    sizes: tuple[tuple[int, int], ...]  # (rows, columns) choices
    signed: bool = False
    window: tuple[str, str] | None = None  # center, width
    rescale: tuple[str, str] | None = None  # slope, intercept
    sector: bool = False  # ultrasound fan instead of a body phantom

    @property
    def colour(self) -> bool:
        return self.photometric in ("RGB", "YBR_FULL_422")

    def sop_class(self, frames: int) -> UID:
        if self.modality == "US":
            return UltrasoundMultiFrameImageStorage if frames > 1 else UltrasoundImageStorage
        if self.modality == "XA":
            return XRayAngiographicImageStorage
        if frames > 1:
            if self.bits_allocated == 8:
                return MultiFrameGrayscaleByteSecondaryCaptureImageStorage
            return MultiFrameGrayscaleWordSecondaryCaptureImageStorage
        return {
            "CT": CTImageStorage,
            "MR": MRImageStorage,
            "DX": DigitalXRayImageStorageForPresentation,
        }.get(self.modality, SecondaryCaptureImageStorage)

    def accepts(self, ts: UID) -> bool:
        if ts == JPEGBaseline8Bit:
            return self.bits_allocated == 8 and self.photometric != "RGB"
        if self.photometric == "YBR_FULL_422":
            return False
        if ts == JPEGLSNearLossless:
            return not self.signed  # pyjpegls limits signed near-lossless ranges
        return True


_FORMATS: tuple[_Format, ...] = (
    _Format(
        "ct",
        "CT",
        "MONOCHROME2",
        16,
        12,
        ((512, 512),),
        window=("40", "400"),
        rescale=("1", "-1024"),
    ),
    _Format("us", "US", "RGB", 8, 8, ((480, 640), (512, 512)), sector=True),
    _Format("mr", "MR", "MONOCHROME2", 16, 12, ((512, 512), (256, 256), (512, 512))),
    _Format("sc", "OT", "MONOCHROME2", 8, 8, ((512, 512), (384, 512), (512, 512))),
    _Format(
        "ct_signed",
        "CT",
        "MONOCHROME2",
        16,
        12,
        ((512, 512),),
        signed=True,
        window=("40", "400"),
        rescale=("1", "0"),
    ),
    _Format("dx", "DX", "MONOCHROME1", 16, 12, ((768, 640),), window=("2048", "4096")),
    _Format("xa", "XA", "MONOCHROME2", 8, 8, ((512, 512),)),
    _Format("us_ybr", "US", "YBR_FULL_422", 8, 8, ((480, 640), (512, 512)), sector=True),
)


# --------------------------------------------------------------------------
# Backgrounds, in display units 0..1 (0 = black on screen)


def _smooth_field(rng: np.random.Generator, rows: int, cols: int, cells: int) -> np.ndarray:
    """Random values on a ``cells`` grid, smoothly interpolated to the image (0..1)."""
    grid = rng.random((cells + 1, cells + 1)).astype(np.float32)

    def axis(n: int) -> tuple[np.ndarray, np.ndarray]:
        pos = np.linspace(0, cells, n, endpoint=False, dtype=np.float32)
        index = np.minimum(pos.astype(np.int64), cells - 1)
        frac = pos - index.astype(np.float32)
        return index, frac * frac * (3 - 2 * frac)  # smoothstep: no creases

    yi, fy = axis(rows)
    xi, fx = axis(cols)
    across = grid[:, xi] * (1 - fx) + grid[:, xi + 1] * fx  # separable: x first, then y
    return across[yi] * (1 - fy)[:, None] + across[yi + 1] * fy[:, None]


def _ellipse(
    yy: np.ndarray,
    xx: np.ndarray,
    cy: float,
    cx: float,
    ry: float,
    rx: float,
    sharpness: float = 20.0,
) -> np.ndarray:
    """Soft-edged ellipse indicator (1 inside, 0 outside)."""
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    return 1.0 / (1.0 + np.exp(np.clip((d - 1.0) * sharpness, -30, 30)))


def _body(rng: np.random.Generator, rows: int, cols: int, frames: int) -> np.ndarray:
    """Cross-section phantom: noisy air, a textured body, organs and a bone; moves per frame.

    Values stay at or below 0.72 so white text keeps contrast on anatomy.
    """
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    cy, cx = rows * rng.uniform(0.46, 0.54), cols * rng.uniform(0.46, 0.54)
    ry, rx = rows * rng.uniform(0.28, 0.36), cols * rng.uniform(0.3, 0.38)
    texture = 0.14 * _smooth_field(rng, rows, cols, 6) + 0.06 * _smooth_field(rng, rows, cols, 24)
    organs = []
    for _ in range(rng.integers(3, 6)):
        organs.append(
            (
                cy + ry * rng.uniform(-0.5, 0.5),
                cx + rx * rng.uniform(-0.5, 0.5),
                ry * rng.uniform(0.12, 0.3),
                rx * rng.uniform(0.12, 0.3),
                rng.uniform(0.15, 0.55),
            )
        )
    bone = (cy + ry * 0.6, cx, ry * 0.12, rx * 0.1, 0.7)
    body = _ellipse(yy, xx, cy, cx, ry, rx)
    still = 0.04 + body * (0.26 + texture)
    for oy, ox, ory, orx, value in (*organs, bone):
        still += body * _ellipse(yy, xx, oy, ox, ory, orx, 8.0) * (value - 0.3 - texture)
    out = np.empty((frames, rows, cols), dtype=np.float32)
    for f in range(frames):  # the body drifts 3 px a frame; fresh noise on each
        noise = rng.standard_normal((rows, cols), dtype=np.float32) * 0.012
        out[f] = np.clip(np.roll(still, 3 * f, axis=1) + noise, 0.0, 0.72)
    return out


def _sector(rng: np.random.Generator, rows: int, cols: int, frames: int) -> np.ndarray:
    """Ultrasound fan with speckle, depth attenuation and dark cysts on pure black."""
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    ay, ax = rows * 0.06, cols * 0.5
    radius = np.hypot(yy - ay, xx - ax)
    angle = np.arctan2(xx - ax, yy - ay)
    half_angle = rng.uniform(0.5, 0.65)
    inside = (radius > rows * 0.1) & (radius < rows * 0.9) & (np.abs(angle) < half_angle)
    tissue = 0.3 + 0.45 * _smooth_field(rng, rows, cols, 8)
    tissue *= 1.0 - 0.45 * radius / rows
    for _ in range(rng.integers(1, 4)):
        cyst_y, cyst_x = rows * rng.uniform(0.35, 0.75), cols * rng.uniform(0.4, 0.6)
        r_y, r_x = rows * rng.uniform(0.04, 0.09), cols * rng.uniform(0.04, 0.08)
        tissue *= 1.0 - 0.85 * _ellipse(yy, xx, cyst_y, cyst_x, r_y, r_x, 6.0)
    speckle = rng.rayleigh(0.55, (rows, cols)).astype(np.float32)
    out = np.zeros((frames, rows, cols), dtype=np.float32)
    for f in range(frames):
        speckle = 0.7 * speckle + 0.3 * rng.rayleigh(0.55, (rows, cols)).astype(np.float32)
        out[f] = np.where(inside, np.clip(tissue * speckle, 0.0, 0.72), 0.0)
    # a grey-scale bar at the right edge: a graphic that is not text
    y0, y1 = int(rows * 0.3), int(rows * 0.7)
    ramp = np.linspace(0.72, 0.0, y1 - y0, dtype=np.float32)[:, None]
    out[:, y0:y1, cols - 14 : cols - 6] = ramp
    return out


def ultrasound_frames(rng: np.random.Generator, rows: int, cols: int, frames: int) -> np.ndarray:
    """Moving speckled ultrasound anatomy in 0..0.72, shape (frames, rows, cols)."""
    return _sector(rng, rows, cols, frames)


# --------------------------------------------------------------------------
# Fonts

_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_TRUETYPE_FILES = {
    "dejavu-sans": "DejaVuSans.ttf",
    "dejavu-mono": "DejaVuSansMono.ttf",
    "dejavu-serif": "DejaVuSerif.ttf",
}
_BITMAP = "pil-bitmap"
_BITMAP_HEIGHT = 11  # line height of Pillow's built-in bitmap font


@functools.cache
def _font_names() -> tuple[str, ...]:
    """Fonts usable here: Pillow's bundled ones, plus DejaVu when installed."""
    names = ["pil-default", _BITMAP]
    names.extend(n for n, f in _TRUETYPE_FILES.items() if (_DEJAVU / f).is_file())
    return tuple(names)


@functools.cache
def _font(name: str, size: int):  # -> ImageFont.ImageFont | ImageFont.FreeTypeFont
    from PIL import ImageFont

    if name == _BITMAP:
        return ImageFont.load_default_imagefont()
    if name in _TRUETYPE_FILES:
        return ImageFont.truetype(str(_DEJAVU / _TRUETYPE_FILES[name]), size)
    return ImageFont.load_default(size=size)


# --------------------------------------------------------------------------
# Text content


@dataclass(frozen=True)
class _Segment:
    text: str
    category: str  # "phi" | "safe" | "label"
    kind: str
    in_header: bool = False


@dataclass
class _Line:
    segments: list[_Segment]
    slot: str
    ink: str = "white"  # white | grey | dark (on a bright panel) | colour
    size: int = 12
    font: str = "pil-default"
    frames: tuple[int, ...] | None = None  # None: every frame


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_NAME_FORMS = ("caret", "given_family", "family_comma_given")
_DATE_FORMS = ("us", "year_mon_day", "da", "day_mon_year")


def _written_date(d: date, form: str) -> str:
    """A date as burned-in text: 06/16/1976, 1976 Jun 16, 19760616 or 16-JUN-1976."""
    month = _MONTHS[d.month - 1]
    if form == "us":
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    if form == "year_mon_day":
        return f"{d.year} {month.title()} {d.day:02d}"
    if form == "da":
        return f"{d.year}{d.month:02d}{d.day:02d}"
    return f"{d.day:02d}-{month}-{d.year}"


def _written_name(family: str, given: str, form: str) -> str:
    if form == "caret":
        return f"{family.upper()}^{given.upper()}"
    if form == "given_family":
        return f"{given.title()} {family.title()}"
    return f"{family.upper()}, {given.upper()}"


@dataclass(frozen=True)
class _Identity:
    """Who a case is about, and the people and place around them."""

    source: str
    family: str
    given: str
    patient_id: str
    birth: date
    study: datetime
    accession: str
    institution: str
    referring: tuple[str, str]  # family, given
    other: tuple[str, str]  # a person who is not in the header
    prior: date  # a date that is not in the header

    def header(self) -> dict[str, str]:
        return {
            "PatientName": f"{self.family.upper()}^{self.given.upper()}",
            "PatientID": self.patient_id,
            "PatientBirthDate": self.birth.strftime("%Y%m%d"),
            "StudyDate": self.study.strftime("%Y%m%d"),
            "StudyTime": self.study.strftime("%H%M%S"),
            "InstitutionName": self.institution,
            "AccessionNumber": self.accession,
            "ReferringPhysicianName": f"{self.referring[0].upper()}^{self.referring[1].upper()}",
        }


@functools.cache
def _faker():  # -> faker.Faker
    from faker import Faker

    return Faker("en_US")


def _identity(rng: random.Random, use_faker: bool) -> _Identity:
    study = datetime(2012, 1, 1, 7) + timedelta(
        days=rng.randrange(11 * 365), seconds=rng.randrange(11 * 3600)
    )
    prior = (study - timedelta(days=rng.randint(30, 900))).date()
    if not use_faker:
        p = SyntheticPatient.from_seed(rng.randrange(2**32))
        referring = p.referring_physician.split("^")
        other = p.operator.split("^")
        return _Identity(
            source="pseudo",
            family=p.family_name,
            given=p.given_name,
            patient_id=p.patient_id,
            birth=datetime.strptime(p.birth_date, "%Y%m%d").date(),
            study=study,
            accession=p.accession_numbers[0],
            institution=p.institution_name,
            referring=(referring[0], referring[1]),
            other=(other[0], other[1]),
            prior=prior,
        )
    fake = _faker()
    fake.seed_instance(rng.randrange(2**32))
    birth = study.date() - timedelta(days=rng.randint(18 * 365, 85 * 365))
    return _Identity(
        source="faker",
        family=fake.last_name(),
        given=fake.first_name(),
        patient_id=f"{rng.randrange(10**9):010d}",
        birth=birth,
        study=study,
        accession=f"A{rng.randrange(10**7, 10**8)}",
        institution=f"{fake.last_name()} {rng.choice(('Memorial Hospital', 'Medical Center'))}",
        referring=(fake.last_name(), fake.first_name()),
        other=(fake.last_name(), fake.first_name()),
        prior=prior,
    )


#: Non-PHI annotations by modality: text that must survive de-identification.
SAFE_TEXTS: dict[str, tuple[str, ...]] = {
    "CT": ("kV 120", "mA 250", "W 400 L 40", "ST 2.5mm", "Se 3 Im 12", "HFS"),
    "MR": ("TR 9000 TE 81", "T2 FLAIR", "ST 5.0mm", "HFS", "Se 4 Im 18"),
    "DX": ("PA", "ERECT", "kV 110", "mAs 2.5"),
    "OT": ("DLP 420 mGycm", "CTDIvol 12.1", "Page 1/2", "kV 120"),
    "XA": ("LAO 30", "CRA 15", "15 fps", "kV 80"),
    "US": ("L12-5", "36Hz", "2D", "60%", "MI 1.4", "TIs 0.3", "Gain 50", "DR 60"),
}
_VIEWS = {"CT": ("AXIAL", "COR", "SAG"), "MR": ("SAG", "AXIAL", "COR"), "XA": ("LAO",)}


def _phi_lines(ident: _Identity, rng: random.Random, k: int, colour: bool) -> list[_Line]:
    """The PHI lines of one case, rotating written forms with ``k``."""

    def label(text: str) -> _Segment:
        return _Segment(text, "label", "label")

    def phi(text: str, kind: str, in_header: bool = True) -> _Segment:
        return _Segment(text, "phi", kind, in_header)

    name_form = _NAME_FORMS[k % len(_NAME_FORMS)]
    dob_form = _DATE_FORMS[k % len(_DATE_FORMS)]
    study_form = _DATE_FORMS[(k + 1) % len(_DATE_FORMS)]
    time_text = ident.study.strftime("%H:%M:%S" if k % 2 else "%H:%M")
    tl, tr, bl, br = ("top", "tr", "panel", "br") if colour else ("tl", "tr", "bl", "br")

    name = _Line([phi(_written_name(ident.family, ident.given, name_form), "patient_name")], tl)
    candidates = [
        _Line(
            [label(("MRN", "ID:", "PID")[k % 3]), phi(ident.patient_id, "patient_id")],
            tr if colour else tl,
        ),
        _Line(
            [
                label(("DOB:", "DOB", "Born")[k % 3]),
                phi(_written_date(ident.birth, dob_form), "birth_date"),
            ],
            tl,
        ),
        _Line(
            [
                phi(_written_date(ident.study.date(), study_form), "study_date"),
                phi(time_text, "study_time"),
            ],
            "top" if colour else tr,
        ),
        _Line([label(("Acc:", "ACC#")[k % 2]), phi(ident.accession, "accession")], tr),
        _Line([phi(ident.institution, "institution")], "top" if colour else tr),
        _Line(
            [
                label(("Ref: Dr.", "Dr.")[k % 2]),
                phi(_written_name(*ident.referring, "given_family"), "physician"),
            ],
            br,
        ),
        _Line(
            [
                label(("Tech:", "Sonographer:" if colour else "Op:")[k % 2]),
                phi(
                    _written_name(*ident.other, ("given_family", "caret")[k % 2]),
                    "other_name",
                    in_header=False,
                ),
            ],
            br,
        ),
        _Line(
            [
                label("Prior:"),
                phi(
                    _written_date(ident.prior, _DATE_FORMS[(k + 2) % 4]),
                    "other_date",
                    in_header=False,
                ),
            ],
            bl if not colour else br,
        ),
    ]
    chosen = rng.sample(candidates, rng.randint(3, 6))
    chosen.sort(key=candidates.index)  # keep a natural reading order
    return [name, *chosen]


def _safe_lines(modality: str, rng: random.Random, colour: bool) -> list[_Line]:
    def safe(text: str, kind: str) -> _Segment:
        return _Segment(text, "safe", kind)

    technique = list(SAFE_TEXTS[modality])
    lines: list[_Line] = []
    if colour:  # ultrasound: a column of settings on the left, a depth mark on the right
        for text in rng.sample(technique, rng.randint(3, 6)):
            lines.append(_Line([safe(text, "technique")], "panel"))
        lines.append(_Line([safe("5 cm", "scale")], "right"))
        return lines
    for text in rng.sample(technique, rng.randint(1, 3)):
        lines.append(_Line([safe(text, "technique")], "bl"))
    if modality in _VIEWS:
        lines.append(_Line([safe(rng.choice(_VIEWS[modality]), "view")], "top"))
    if modality == "DX":
        lines.append(_Line([safe(rng.choice("RL"), "orientation")], "left", size=28))
    elif rng.random() < 0.8:
        lines.append(_Line([safe("R", "orientation")], "left"))
        lines.append(_Line([safe("L", "orientation")], "right"))
    if rng.random() < 0.6:
        lines.append(_Line([safe("5 cm", "scale")], "bottom"))
    return lines


# --------------------------------------------------------------------------
# Drawing


@dataclass
class _Rendered:
    """A line drawn on its own tight canvas: per-segment alpha, same shape."""

    alphas: list[np.ndarray]
    width: int
    height: int


def _render(line: _Line, antialias: bool) -> _Rendered | None:
    """Draw each segment of ``line`` on its own canvas, one space apart.

    Glyphs drawn without anti-aliasing are hinted differently from the
    metrics ``getbbox``/``getlength`` report, so the canvas is generous and
    each segment starts a space after the ink the previous one really drew.
    """
    from PIL import Image, ImageDraw

    font = _font(line.font, line.size)
    full = " ".join(s.text for s in line.segments)
    bbox = font.getbbox(full)
    width, height = int(bbox[2] * 1.5) + 16, int(bbox[3] * 1.5) + 16
    space = max(2.0, font.getlength(" "))
    alphas = []
    x = 4.0
    for segment in line.segments:
        canvas = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(canvas)
        draw.fontmode = "L" if antialias else "1"
        draw.text((x, 4), segment.text, fill=255, font=font)
        alpha = np.asarray(canvas, dtype=np.float32) / 255.0
        columns = np.nonzero(alpha.any(axis=0))[0]
        if not columns.size or columns[-1] >= width - 1:
            return None  # nothing drawn, or cut by the canvas edge
        alphas.append(alpha)
        x = max(x + font.getlength(segment.text), float(columns[-1] + 1)) + space
    union = np.any([a > 0 for a in alphas], axis=0)
    if any(not (a >= 0.5).any() for a in alphas):
        return None
    ys, xs = np.nonzero(union)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    if y1 >= height - 1:
        return None
    return _Rendered([a[y0:y1, x0:x1] for a in alphas], int(x1 - x0), int(y1 - y0))


class _Layout:
    """Stacks lines into slots (corners, banners, sides) without overlaps.

    Lines of a slot stack away from its edge; a line that would touch an
    already placed one (closer than ``gap``) moves further along, and one
    that leaves the image is dropped.
    """

    gap = 6  # > NON_PHI_PADDING: a padded PHI box never reaches another line

    def __init__(self, rows: int, cols: int, margin: int, rng: random.Random) -> None:
        self.rows, self.cols, self.margin = rows, cols, margin
        self.placed: list[Box] = []
        self.cursor = {
            "tl": margin,
            "tr": margin,
            "top": margin,
            "bl": rows - margin,
            "br": rows - margin,
            "bottom": rows - margin,
            "middle": int(rows * rng.uniform(0.38, 0.55)),
            "panel": int(rows * 0.2),
            "left": rows // 2,
            "right": rows // 2,
        }
        self.jitter = rng.randint(-cols // 10, cols // 10)

    def place(self, slot: str, width: int, height: int) -> tuple[int, int] | None:
        rows, cols, m = self.rows, self.cols, self.margin
        downward = slot not in ("bl", "br", "bottom")
        for _ in range(60):
            y = self.cursor[slot] if downward else self.cursor[slot] - height
            if slot in ("left", "right"):
                y -= height // 2
            if slot in ("tl", "bl", "left", "panel"):
                x = m
            elif slot in ("tr", "br", "right"):
                x = cols - m - width - (16 if slot == "right" else 0)
            elif slot == "middle":
                x = (cols - width) // 2 + self.jitter
            else:
                x = (cols - width) // 2
            x = min(max(x, m), cols - m - width)
            box = Box(x, y, x + width, y + height)
            if x < 0 or y < m or y + height > rows - m:
                return None
            step = height + self.gap if slot not in ("left", "right") else 4
            if any(box.overlaps(p, self.gap) for p in self.placed):
                self.cursor[slot] += step if downward else -step
                continue
            self.placed.append(box)
            self.cursor[slot] += step if downward else -step
            return x, y
        return None


_COLOURS = ((1.0, 1.0, 0.25), (0.45, 1.0, 0.45), (0.35, 0.9, 1.0))


def _luma(region: np.ndarray) -> np.ndarray:
    return region.mean(axis=-1) if region.ndim == 4 else region


def _draw_lines(
    display: np.ndarray,
    lines: list[_Line],
    rng: random.Random,
    antialias: bool,
) -> list[tuple[_Segment, _Line, Box, np.ndarray, str]]:
    """Burn ``lines`` into ``display`` (frames, rows, cols[, 3]) in place.

    Returns one entry per drawn segment: segment, line, tight box, ink crop
    and the contrast actually achieved.
    """
    frames, rows, cols = display.shape[:3]
    layout = _Layout(rows, cols, rng.randint(4, 12), rng)
    drawn = []
    for line in lines:
        rendered = None
        for size in sorted((s for s in FONT_HEIGHTS if s <= line.size), reverse=True) or [8]:
            line.size = size if line.font != _BITMAP else _BITMAP_HEIGHT
            candidate = _render(line, antialias)
            if candidate and candidate.width <= cols - 40:
                rendered = candidate
                break
            if line.font == _BITMAP:
                break
        if rendered is None:
            continue
        panel = 3 if line.ink == "dark" else 0
        spot = layout.place(line.slot, rendered.width + 2 * panel, rendered.height + 2 * panel)
        if spot is None:
            continue
        x, y = spot[0] + panel, spot[1] + panel
        h, w = rendered.height, rendered.width
        on = line.frames if line.frames is not None else tuple(range(frames))
        under = _luma(display[list(on), y : y + h, x : x + w])
        background = float(np.percentile(under, 95))
        ink = line.ink
        if ink == "grey" and background > 0.2:
            ink = "white"  # mid-grey on anatomy would be illegible
        if ink == "dark":
            value: tuple[float, ...] = (0.12,) * 3
            contrast = "dark-on-bright"
        elif ink == "grey":
            value = (rng.uniform(0.45, 0.55),) * 3
            contrast = "grey-on-dark"
        else:
            value = rng.choice(_COLOURS) if ink == "colour" else (1.0, 1.0, 1.0)
            where = "black" if background <= 0.15 else "texture"
            contrast = f"{'colour' if ink == 'colour' else 'white'}-on-{where}"
        colour = np.asarray(value, dtype=np.float32)
        ink_value = colour if display.ndim == 4 else colour[0]
        for f in on:
            if panel:
                region = display[f, y - panel : y + h + panel, x - panel : x + w + panel]
                noise = np.asarray([rng.gauss(0.0, 0.01) for _ in range(region.shape[1])])
                region[...] = (
                    0.85 + noise[None, :, None] if region.ndim == 3 else 0.85 + noise[None, :]
                )
            target = display[f, y : y + h, x : x + w]
            for alpha in rendered.alphas:
                a = alpha[..., None] if target.ndim == 3 else alpha
                target[...] = target * (1.0 - a) + ink_value * a
        for segment, alpha in zip(line.segments, rendered.alphas, strict=True):
            core = alpha >= 0.5
            ys, xs = np.nonzero(core)
            sy0, sy1, sx0, sx1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            box = Box(float(x + sx0), float(y + sy0), float(x + sx1), float(y + sy1))
            drawn.append((segment, line, box, core[sy0:sy1, sx0:sx1].copy(), contrast))
    return drawn


# --------------------------------------------------------------------------
# Encoding


def _to_stored(display: np.ndarray, fmt: _Format) -> np.ndarray:
    """Display values 0..1 to stored values of the format (MONOCHROME1 inverted)."""
    top = (1 << fmt.bits_stored) - 1
    values = display if fmt.photometric != "MONOCHROME1" else 1.0 - display
    stored = np.rint(np.clip(values, 0.0, 1.0) * top)
    if fmt.signed:
        return (stored - (1 << (fmt.bits_stored - 1))).astype(np.int16)
    return stored.astype(np.uint8 if fmt.bits_allocated == 8 else np.uint16)


def _encode(ds, arr: np.ndarray, ts: UID, fmt: _Format) -> None:  # ds: pydicom Dataset
    """Store ``arr`` (frames first) in ``ds`` in ``ts``; mark lossy encodings."""
    data = arr if arr.shape[0] > 1 else arr[0]
    raw_size = arr.nbytes
    if ts == JPEGBaseline8Bit:
        from PIL import Image

        fragments = []
        for frame in arr:
            buffer = io.BytesIO()
            image = Image.fromarray(frame, "RGB" if frame.ndim == 3 else "L")
            image.save(buffer, "JPEG", quality=_JPEG_QUALITY, subsampling=1)  # 4:2:2
            fragments.append(buffer.getvalue())
        ds.file_meta.TransferSyntaxUID = ts
        ds.PixelData = encapsulate(fragments)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    elif ts == JPEGLSNearLossless:
        near = 2 if fmt.bits_stored == 8 else 8
        ds.compress(ts, data, jls_error=near, generate_instance_uid=False)
    elif ts == JPEG2000:
        ds.compress(ts, data, j2k_psnr=[_J2K_PSNR], generate_instance_uid=False)
    else:
        _set_pixel_data(ds, arr, ts)
        return
    encoded = ds.PixelData
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionRatio = f"{raw_size / max(1, len(encoded)):.2f}"[:16]
    ds.LossyImageCompressionMethod = _LOSSY_METHOD[ts]


def _dataset(
    fmt: _Format, ident: _Identity, rows: int, cols: int, frames: int, key: tuple[int, int]
):
    sop_class = fmt.sop_class(frames)
    sop_uid = _uid("pixel-corpus", *key, "instance")
    ds = _new_file_dataset(sop_class, sop_uid, "SYNTHPIXEL")
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.ImageType = ["ORIGINAL", "PRIMARY"] if fmt.modality != "OT" else ["DERIVED", "SECONDARY"]
    header = ident.header()
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    ds.PatientSex = "O"
    ds.Modality = fmt.modality
    ds.Manufacturer = "SYNTHETIC"
    ds.StudyInstanceUID = _uid("pixel-corpus", *key, "study")
    ds.SeriesInstanceUID = _uid("pixel-corpus", *key, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    if fmt.modality == "OT":
        ds.ConversionType = "WSD"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 3 if fmt.colour else 1
    ds.PhotometricInterpretation = fmt.photometric
    if fmt.colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = fmt.bits_allocated
    ds.BitsStored = fmt.bits_stored
    ds.HighBit = fmt.bits_stored - 1
    ds.PixelRepresentation = int(fmt.signed)
    if fmt.window:
        ds.WindowCenter, ds.WindowWidth = fmt.window
    if fmt.rescale:
        ds.RescaleSlope, ds.RescaleIntercept = fmt.rescale
        ds.RescaleType = "HU"
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.FrameTime = "66.7"
        ds.FrameIncrementPointer = 0x00181063  # FrameTime
    return ds


# --------------------------------------------------------------------------
# The corpus


def _plan(
    n_files: int, syntaxes: Sequence[UID]
) -> list[tuple[UID, _Format, tuple[int, int], bool, int]]:
    """(syntax, format, has_text, frames) per file: every syntax in turn.

    About a quarter of the files carry no text, spread over syntaxes; one in
    five is multi-frame (3-5 frames); formats are balanced among those the
    syntax accepts.
    """
    plan = []
    used: Counter[str] = Counter()
    n_syntaxes = len(syntaxes)
    for i in range(n_files):
        round_, s = divmod(i, n_syntaxes)
        ts = syntaxes[s]
        formats = [f for f in _FORMATS if f.accepts(ts)]
        if ts == JPEGBaseline8Bit:  # colour (as on ultrasound) and grey in turn
            formats = [f for f in formats if f.colour == (round_ % 2 == 0)] or formats
        fmt = min(formats, key=lambda f: (used[f.name], _FORMATS.index(f)))
        size = fmt.sizes[used[fmt.name] % len(fmt.sizes)]
        used[fmt.name] += 1
        has_text = (round_ + s) % 4 != 3
        frames = 3 + (i // 5) % 3 if i % 5 == 1 else 1
        plan.append((ts, fmt, size, has_text, frames))
    return plan


def build_pixel_corpus(
    out_dir: Path | str,
    *,
    seed: int = 7,
    n_files: int | None = None,
    transfer_syntaxes: Sequence[str] | None = None,
) -> PixelCorpus:
    """Write DICOM files with burned-in PHI and non-PHI text, and the answer key.

    Parameters
    ----------
    out_dir
        Files go to ``<modality>/caseNNN[.dcm]`` below it (every third name
        has no suffix, as on PACS exports).
    seed
        Fixes everything: identities, images, text placement.
    n_files
        Default 50: every syntax of ``transfer_syntaxes`` five times.
    transfer_syntaxes
        Used in turn; default :func:`pixel_transfer_syntaxes`. A syntax that
        cannot be written here raises ``ValueError``.
    """
    root = Path(out_dir)
    usable = pixel_transfer_syntaxes()
    syntaxes = [UID(ts) for ts in (transfer_syntaxes or usable)]
    unknown = [ts for ts in syntaxes if ts not in usable]
    if unknown or not syntaxes:
        raise ValueError(
            f"cannot write transfer syntax {unknown[0] if unknown else None!r}; "
            f"usable here: {', '.join(usable)}"
        )
    n = 50 if n_files is None else n_files
    fonts = _font_names()
    cases = []
    n_multi = 0
    for i, (ts, fmt, (rows, cols), has_text, frames) in enumerate(_plan(n, syntaxes)):
        rng = random.Random(f"sparkdeid-pixel:{seed}:{i}")
        np_rng = np.random.default_rng(rng.randrange(2**63))
        ident = _identity(rng, use_faker=(i + i // len(syntaxes)) % 2 == 1)
        background = _sector if fmt.sector else _body
        display = background(np_rng, rows, cols, frames)
        if fmt.colour:
            tint = np.asarray((1.0, 0.96, 0.88) if rng.random() < 0.4 else (1.0, 1.0, 1.0))
            display = display[..., None] * tint.astype(np.float32)

        drawn: list[tuple[_Segment, _Line, Box, np.ndarray, str]] = []
        if has_text:
            lines = _text_lines(fmt, ident, rng, i, frames, n_multi, fonts)
            drawn = _draw_lines(display, lines, rng, antialias=rng.random() < 0.6)
        if frames > 1:
            n_multi += 1

        ds = _dataset(fmt, ident, rows, cols, frames, (seed, i))
        burned = "YES" if drawn and i % 3 else ("NO" if not drawn and i % 2 else None)
        if burned:
            ds.BurnedInAnnotation = burned
        _encode(ds, _to_stored(display, fmt), ts, fmt)
        suffix = "" if i % 3 == 2 else ".dcm"
        relpath = f"{fmt.modality.lower()}/case{i:03d}{suffix}"
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)

        marks: dict[str, list[TextMark]] = defaultdict(list)
        for segment, line, box, ink, contrast in drawn:
            on = line.frames if line.frames is not None else tuple(range(frames))
            marks[segment.category].append(
                TextMark(
                    text=segment.text,
                    box=box,
                    frames=on,
                    kind=segment.kind,
                    ink_crop=ink,
                    shape=(rows, cols),
                    in_header=segment.in_header,
                    font=line.font,
                    height=line.size,
                    contrast=contrast,
                )
            )
        lossy = ts in LOSSY_TRANSFER_SYNTAXES
        top = (1 << fmt.bits_stored) - 1
        cases.append(
            PixelCase(
                path=path,
                relpath=relpath,
                transfer_syntax=ts,
                lossy=lossy,
                tolerance=math.ceil(LOSSY_TOLERANCE * top) if lossy else 0,
                frames=frames,
                rows=rows,
                columns=cols,
                photometric=fmt.photometric,
                samples_per_pixel=3 if fmt.colour else 1,
                bits_allocated=fmt.bits_allocated,
                bits_stored=fmt.bits_stored,
                signed=fmt.signed,
                modality=fmt.modality,
                sop_instance_uid=str(ds.SOPInstanceUID),
                phi=tuple(marks["phi"]),
                safe=tuple(marks["safe"]),
                labels=tuple(marks["label"]),
                header_phi=ident.header(),
                windowed=fmt.window is not None,
                rescaled=fmt.rescale is not None,
                burned_in_annotation=burned,
                identity_source=ident.source,
            )
        )
    return PixelCorpus(root=root, seed=seed, cases=cases)


def _text_lines(
    fmt: _Format,
    ident: _Identity,
    rng: random.Random,
    i: int,
    frames: int,
    n_multi: int,
    fonts: Sequence[str],
) -> list[_Line]:
    """Choose the lines of one case and how each is drawn."""
    lines = _phi_lines(ident, rng, i, fmt.colour) + _safe_lines(fmt.modality, rng, fmt.colour)
    base_font = fonts[i % len(fonts)]
    base_ink = "colour" if fmt.colour and i % 2 else ("grey" if i % 5 in (1, 3) else "white")
    slot_sizes: dict[str, int] = {}  # one size per block of text, as on a display
    for line in lines:
        line.font = base_font if rng.random() < 0.75 else rng.choice(fonts)
        if line.slot not in slot_sizes:
            slot_sizes[line.slot] = FONT_HEIGHTS[(i + len(slot_sizes)) % len(FONT_HEIGHTS)]
        if line.segments[0].kind != "orientation" or line.size != 28:
            line.size = slot_sizes[line.slot]
        line.ink = base_ink
    # Some text goes where a display would put it over anatomy or on a light panel.
    movable = [line for line in lines if line.slot in ("tl", "tr", "bl", "br", "panel")]
    if movable and rng.random() < 0.5:
        rng.choice(movable).slot = "middle"
    if movable and not fmt.colour and rng.random() < 0.4:
        rng.choice(movable).ink = "dark"
    if frames > 1 and n_multi % 2 == 1:  # text that appears on some frames only
        for j, line in enumerate(lines):
            if j % 2 == 1:
                cut = rng.randint(1, frames - 1)
                line.frames = tuple(range(cut)) if j % 4 == 1 else tuple(range(cut, frames))
    return lines


# --------------------------------------------------------------------------
# Metrics


def decode_frames(path: Path | str) -> np.ndarray:
    """Pixel values as ``(frames, rows, columns, samples)`` int32.

    Values are stored values (no modality or VOI LUT); YBR colour decodes to
    RGB, as pydicom's ``pixel_array`` does by default.
    """
    return dataset_frames(dcmread(path))


def dataset_frames(ds: Dataset) -> np.ndarray:
    """A dataset's stored values as ``(frames, rows, columns, samples)`` int32."""
    arr = np.asarray(ds.pixel_array)
    if int(ds.get("SamplesPerPixel", 1) or 1) == 1:
        arr = arr[..., None]
    if arr.ndim == 3:
        arr = arr[None]
    return arr.astype(np.int32)


@dataclass
class _Comparison:
    case: PixelCase
    original: np.ndarray  # (F, H, W, S)
    output: np.ndarray
    changed: np.ndarray  # (F, H, W) bool

    @classmethod
    def of(cls, case: PixelCase, output_path: Path | str) -> _Comparison:
        original = decode_frames(case.path)
        output = decode_frames(output_path)
        if output.shape != original.shape:
            raise ValueError(
                f"{case.relpath}: output pixels have shape {output.shape}, "
                f"original {original.shape}"
            )
        if case.lossy and case.samples_per_pixel == 3:
            # chroma subsampling smears coloured edges; legibility lives in luma
            weights = np.asarray([0.299, 0.587, 0.114])
            changed = np.abs((output - original) @ weights) > case.tolerance
        else:
            changed = (np.abs(output - original) > case.tolerance).any(axis=-1)
        return cls(case, original, output, changed)

    def masked_share(self, mark: TextMark) -> float:
        """Share of ink (over listed frames) changed, or covered by a flat fill."""
        x0, y0, x1, y1 = mark.bounds
        masked = total = 0
        for f in mark.frames:
            total += mark.ink_pixels
            region = self.output[f, y0:y1, x0:x1]
            spread = region.max(axis=(0, 1)) - region.min(axis=(0, 1))
            if (spread <= self.case.tolerance).all():  # one flat fill over the box
                masked += mark.ink_pixels
            else:
                masked += int(self.changed[f, y0:y1, x0:x1][mark.ink_crop].sum())
        return masked / total if total else 0.0

    def unchanged_share(self, mark: TextMark) -> float:
        x0, y0, x1, y1 = mark.bounds
        kept = sum(int((~self.changed[f, y0:y1, x0:x1])[mark.ink_crop].sum()) for f in mark.frames)
        total = mark.ink_pixels * len(mark.frames)
        return kept / total if total else 1.0

    def non_phi_counts(self, padding: int = NON_PHI_PADDING) -> tuple[int, int]:
        """(changed, counted) pixels outside the padded PHI boxes of each frame."""
        frames, rows, cols = self.changed.shape
        counted = changed = 0
        for f in range(frames):
            outside = np.ones((rows, cols), dtype=bool)
            for mark in self.case.phi:
                if f in mark.frames:
                    x0, y0, x1, y1 = mark.box.padded(padding).clipped(cols, rows).pixel_bounds()
                    outside[y0:y1, x0:x1] = False
            counted += int(outside.sum())
            changed += int((self.changed[f] & outside).sum())
        return changed, counted


def phi_box_masked_share(case: PixelCase, output_path: Path | str) -> list[float]:
    """Per PHI mark of ``case``: the share of its ink that the output masks.

    An ink pixel is masked when any sample differs from the original by more
    than ``case.tolerance``, or when the whole box is one flat fill in the
    output (a fill that happens to equal the ink colour still hides the text).
    """
    comparison = _Comparison.of(case, output_path)
    return [comparison.masked_share(m) for m in case.phi]


def changed_non_phi_share(
    case: PixelCase, output_path: Path | str, *, padding: int = NON_PHI_PADDING
) -> float:
    """Share of pixels outside the PHI boxes (padded by ``padding``) that changed.

    Counted per frame: a PHI mark excludes its box only on the frames it is
    drawn on. Safe text and labels count as non-PHI pixels.
    """
    changed, counted = _Comparison.of(case, output_path).non_phi_counts(padding)
    return changed / counted if counted else 0.0


def pixel_data_identical(case: PixelCase, output_path: Path | str) -> bool:
    """True when the raw Pixel Data element bytes are equal (same encoding too)."""
    original = dcmread(case.path).get("PixelData")
    output = dcmread(output_path).get("PixelData")
    return output is not None and bytes(original) == bytes(output)


@dataclass(frozen=True)
class MarkResult:
    """The score of one PHI or safe mark (no text: results may be printed)."""

    relpath: str
    category: str  # "phi" | "safe"
    kind: str
    font: str
    height: int
    contrast: str
    in_header: bool
    lossy: bool
    share: float  # masked share (phi) or unchanged share (safe)

    @property
    def ok(self) -> bool:
        threshold = MASKED_THRESHOLD if self.category == "phi" else KEPT_THRESHOLD
        return self.share >= threshold


@dataclass
class PixelScore:
    """How well a de-identified copy of a :class:`PixelCorpus` treats its pixels."""

    files: int
    missing: list[str]
    errors: dict[str, str]
    marks: list[MarkResult]
    non_phi_pixels: int
    non_phi_changed: int
    no_text_files: int
    no_text_identical: int

    def _of(self, category: str) -> list[MarkResult]:
        return [m for m in self.marks if m.category == category]

    @property
    def phi_marks(self) -> int:
        return len(self._of("phi"))

    @property
    def phi_masked_rate(self) -> float:
        """Share of PHI marks with at least 95 % of their ink masked."""
        phi = self._of("phi")
        return sum(m.ok for m in phi) / len(phi) if phi else math.nan

    @property
    def safe_kept_rate(self) -> float:
        """Share of safe marks with at least 95 % of their ink unchanged."""
        safe = self._of("safe")
        return sum(m.ok for m in safe) / len(safe) if safe else math.nan

    @property
    def non_phi_changed_share(self) -> float:
        return self.non_phi_changed / self.non_phi_pixels if self.non_phi_pixels else math.nan

    @property
    def no_text_identical_rate(self) -> float:
        return self.no_text_identical / self.no_text_files if self.no_text_files else math.nan

    def breakdown(self, attribute: str, category: str = "phi") -> dict[str, tuple[int, int]]:
        """``{value: (ok, total)}`` of marks grouped by a :class:`MarkResult` attribute."""
        groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for m in self._of(category):
            group = groups[str(getattr(m, attribute))]
            group[0] += m.ok
            group[1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(groups.items())}

    def summary(self) -> str:
        def pct(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"

        def groups(attribute: str, category: str = "phi") -> str:
            parts = self.breakdown(attribute, category).items()
            return ", ".join(f"{k} {ok}/{total}" for k, (ok, total) in parts)

        phi, safe = self._of("phi"), self._of("safe")
        scored = self.files - len(self.missing) - len(self.errors)
        lines = [
            f"pixel score over {scored}/{self.files} files"
            + (f" ({len(self.missing)} missing" if self.missing else "")
            + (f", {len(self.errors)} unreadable" if self.errors else "")
            + (")" if self.missing else ""),
            f"  PHI marks masked (>= {MASKED_THRESHOLD:.0%} of ink): "
            f"{sum(m.ok for m in phi)}/{len(phi)} = {pct(self.phi_masked_rate)}",
            f"  safe marks kept (>= {KEPT_THRESHOLD:.0%} of ink):   "
            f"{sum(m.ok for m in safe)}/{len(safe)} = {pct(self.safe_kept_rate)}",
            f"  non-PHI pixels changed:       {self.non_phi_changed}/{self.non_phi_pixels}"
            f" = {pct(self.non_phi_changed_share)}",
            f"  no-text files byte-identical: {self.no_text_identical}/{self.no_text_files}"
            f" = {pct(self.no_text_identical_rate)}",
            f"  PHI by kind:     {groups('kind')}",
            f"  PHI by height:   {groups('height')}",
            f"  PHI by font:     {groups('font')}",
            f"  PHI by contrast: {groups('contrast')}",
            f"  PHI by header:   {groups('in_header')}",
            f"  safe by kind:    {groups('kind', 'safe')}",
        ]
        missed = sorted((m for m in phi if not m.ok), key=lambda m: m.share)[:8]
        if missed:
            lines.append(
                "  least masked PHI: "
                + "; ".join(f"{m.relpath} {m.kind} {m.height}px {m.share:.0%}" for m in missed)
            )
        for relpath, message in sorted(self.errors.items())[:5]:
            lines.append(f"  error {relpath}: {message}")
        return "\n".join(lines)


def _output_paths(
    corpus: PixelCorpus, outputs: Path | str | Mapping[str, Path | str]
) -> dict[str, Path]:
    if isinstance(outputs, Mapping):
        found = {}
        by_path = {str(c.path): c.relpath for c in corpus}
        for key, value in outputs.items():
            relpath = by_path.get(str(key), Path(key).as_posix())
            found[relpath] = Path(value)
        return found
    return {c.relpath: Path(outputs) / c.relpath for c in corpus}


def score_corpus(corpus: PixelCorpus, outputs: Path | str | Mapping[str, Path | str]) -> PixelScore:
    """Score de-identified outputs of ``corpus``.

    Parameters
    ----------
    outputs
        A folder where each output sits at its case's relative path, or a
        mapping from relative path (or original path) to output file.
        De-identification changes UIDs, so outputs are matched by path.
        Missing outputs and outputs that do not decode to the original's
        shape are reported and left out of every rate.
    """
    paths = _output_paths(corpus, outputs)
    missing: list[str] = []
    errors: dict[str, str] = {}
    marks: list[MarkResult] = []
    changed_total = counted_total = 0
    no_text = identical = 0
    for case in corpus:
        path = paths.get(case.relpath)
        if path is None or not path.is_file():
            missing.append(case.relpath)
            continue
        try:
            comparison = _Comparison.of(case, path)
        except Exception as exc:  # an output a de-identifier broke is a finding, not a crash
            errors[case.relpath] = f"{type(exc).__name__}: {exc}"
            continue
        for category, group, share in (
            ("phi", case.phi, comparison.masked_share),
            ("safe", case.safe, comparison.unchanged_share),
        ):
            for mark in group:
                marks.append(
                    MarkResult(
                        relpath=case.relpath,
                        category=category,
                        kind=mark.kind,
                        font=mark.font,
                        height=mark.height,
                        contrast=mark.contrast,
                        in_header=mark.in_header,
                        lossy=case.lossy,
                        share=share(mark),
                    )
                )
        changed, counted = comparison.non_phi_counts()
        changed_total += changed
        counted_total += counted
        if not case.has_text:
            no_text += 1
            identical += pixel_data_identical(case, path)
    return PixelScore(
        files=len(corpus),
        missing=missing,
        errors=errors,
        marks=marks,
        non_phi_pixels=counted_total,
        non_phi_changed=changed_total,
        no_text_files=no_text,
        no_text_identical=identical,
    )


def black_value(case: PixelCase) -> int:
    """The stored value displayed as black (the maximum for MONOCHROME1)."""
    if case.photometric == "MONOCHROME1":
        return (1 << case.bits_stored) - 1
    return -(1 << (case.bits_stored - 1)) if case.signed else 0


def write_with_pixels(case: PixelCase, pixels: np.ndarray, target: Path | str) -> Path:
    """Write ``case``'s file with new pixels, as a de-identifier's output would be.

    ``pixels`` is ``(frames, rows, columns, samples)`` like :func:`decode_frames`
    returns (clipped to the stored range). The file is written in Explicit VR
    Little Endian, YBR colour as RGB; the header is the original's.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    ds = dcmread(case.path)
    if case.signed:
        half = 1 << (case.bits_stored - 1)
        arr = np.clip(pixels, -half, half - 1).astype(np.int16)
    else:
        top = (1 << case.bits_stored) - 1
        arr = np.clip(pixels, 0, top).astype(np.uint8 if case.bits_allocated == 8 else np.uint16)
    arr = arr[..., 0] if case.samples_per_pixel == 1 else arr
    arr = arr if case.frames > 1 else arr[0]
    photometric = "RGB" if case.samples_per_pixel == 3 else case.photometric
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(arr, photometric, case.bits_stored, generate_instance_uid=False)
    # dcmwrite, unlike save_as, may re-encode a big endian original as little endian
    dcmwrite(target, ds, implicit_vr=False, little_endian=True, enforce_file_format=True)
    return target


def write_masked_reference(
    corpus: PixelCorpus, out_dir: Path | str, *, padding: int = 0
) -> dict[str, Path]:
    """Write what a perfect pixel de-identifier would: PHI boxes filled with black.

    Files with PHI text are rewritten by :func:`write_with_pixels` with every
    PHI box, grown by ``padding``, filled on the frames it is drawn on;
    other files are copied byte for byte. Returns ``{relpath: path}``; useful
    to check a scorer, or as a benchmark's ceiling.
    """
    written = {}
    for case in corpus:
        target = Path(out_dir) / case.relpath
        if case.phi:
            pixels = decode_frames(case.path)
            for mark in case.phi:
                grown = mark.box.padded(padding).clipped(case.columns, case.rows)
                x0, y0, x1, y1 = grown.pixel_bounds()
                pixels[list(mark.frames), y0:y1, x0:x1] = black_value(case)
            write_with_pixels(case, pixels, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(case.path.read_bytes())
        written[case.relpath] = target
    return written
