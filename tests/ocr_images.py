"""Synthetic frames with burned-in text at known places, for OCR tests and measurements.

An OCR engine is only as good as the faintest, smallest text it still finds,
so these helpers draw the awkward cases modality consoles produce: 8-12 px
text, mid-grey on black, white on textured anatomy, ink touching the image
border. Every planted text comes back with the tight box of its ink (taken
from the drawn alpha mask, so it is exact whatever font Pillow uses).

Fonts: Pillow's bundled scalable font (``ImageFont.load_default(size=...)``)
and its fixed bitmap font are always there; DejaVu fonts are used only when
the system has them (:func:`font_kinds` lists what is usable here).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sparkdeid.boxes import Box

DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"
_DEJAVU = {
    "dejavu-sans": "DejaVuSans.ttf",
    "dejavu-mono": "DejaVuSansMono.ttf",
    "dejavu-serif": "DejaVuSerif.ttf",
    "dejavu-bold": "DejaVuSans-Bold.ttf",
}

# The kind of text a modality burns into a frame.
SAMPLE_TEXTS = (
    "DOE^JOHN",
    "06/16/1976",
    "2013 Jul 13",
    "MRN 12345678",
    "AXIAL",
    "5 cm",
    "R",
)

BACKGROUNDS = ("black", "noise", "texture", "gradient")

FontType = ImageFont.ImageFont | ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Planted:
    """A text drawn on a frame: what was written and the tight box of its ink."""

    text: str
    box: Box
    size: int
    value: int
    ink: np.ndarray = field(compare=False, repr=False)  # bool, the box's pixels that are ink


def font_kinds() -> tuple[str, ...]:
    """Font kinds usable on this machine (the DejaVu ones only when installed)."""
    kinds = ["pillow", "bitmap"]
    kinds += [k for k, f in _DEJAVU.items() if os.path.exists(os.path.join(DEJAVU_DIR, f))]
    return tuple(kinds)


@functools.cache
def load_font(kind: str, size: int) -> FontType:
    """A font of ``kind`` at ``size`` px; the bitmap font has one size only (~11 px)."""
    if kind == "pillow":
        return ImageFont.load_default(size=size)
    if kind == "bitmap":
        return ImageFont.load_default_imagefont()
    if kind in _DEJAVU:
        return ImageFont.truetype(os.path.join(DEJAVU_DIR, _DEJAVU[kind]), size)
    raise ValueError(f"unknown font kind {kind!r}; known: pillow, bitmap, {', '.join(_DEJAVU)}")


def background(kind: str, height: int = 512, width: int = 512, seed: int = 0) -> np.ndarray:
    """A uint8 grey frame: ``black``, ``noise`` (dark, noisy), ``texture``, ``gradient``.

    ``texture`` imitates anatomy: smooth blobs spanning most of the grey range
    plus pixel noise, so text over it has no single background value.
    """
    rng = np.random.default_rng(seed)
    if kind == "black":
        return np.zeros((height, width), np.uint8)
    if kind == "noise":
        return np.clip(rng.normal(28, 14, (height, width)), 0, 255).astype(np.uint8)
    if kind == "gradient":
        ramp = np.linspace(0, 120, width, dtype=np.float64)[None, :]
        ramp = ramp + np.linspace(0, 30, height)[:, None]
        return np.clip(ramp + rng.normal(0, 4, (height, width)), 0, 255).astype(np.uint8)
    if kind == "texture":
        coarse = rng.uniform(0, 1, (height // 32 + 2, width // 32 + 2)).astype(np.float32)
        smooth = np.asarray(
            Image.fromarray(coarse, mode="F").resize((width, height), Image.Resampling.BICUBIC)
        )
        fine = rng.normal(0, 12, (height, width))
        return np.clip(40 + 170 * smooth + fine, 0, 255).astype(np.uint8)
    raise ValueError(f"unknown background {kind!r}; known: {', '.join(BACKGROUNDS)}")


def ink_mask(text: str, font: FontType, height: int, width: int, xy: tuple[int, int]) -> np.ndarray:
    """Alpha (0..1) of ``text`` whose ink's top-left corner lands exactly at ``xy``."""
    mask = Image.new("L", (width, height), 0)
    left, top, _, _ = font.getbbox(text)
    ImageDraw.Draw(mask).text((xy[0] - left, xy[1] - top), text, fill=255, font=font)
    return np.asarray(mask, dtype=np.float32) / 255.0


def text_size(text: str, font: FontType) -> tuple[int, int]:
    """Width and height of the ink of ``text`` in ``font``."""
    left, top, right, bottom = font.getbbox(text)
    return int(right - left), int(bottom - top)


def plant(image: np.ndarray, text: str, xy: tuple[int, int], font: FontType, value: int,
          size: int = 0) -> Planted:
    """Blend ``text`` at grey ``value`` into ``image`` (in place) with its ink at ``xy``."""
    height, width = image.shape[:2]
    alpha = ink_mask(text, font, height, width, xy)
    ys, xs = np.nonzero(alpha > 0.25)
    if not len(xs):
        raise ValueError("text falls outside the image")
    blend = alpha[..., None] if image.ndim == 3 else alpha
    image[...] = np.round(image * (1 - blend) + value * blend).astype(np.uint8)
    box = Box(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    ink = alpha[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] > 0.25
    return Planted(text, box, size, value, ink)


def corner_positions(
    sizes: Sequence[tuple[int, int]], height: int, width: int, margin: int = 0
) -> list[tuple[int, int]]:
    """Top-left corners that put texts of ``sizes`` at the four corners, then the edges.

    Corner texts touch the border (``margin=0``): that is where consoles burn
    names and dates, and where a detector without border padding loses them.
    """
    spots = []
    for index, (w, h) in enumerate(sizes):
        slot = index % 8
        row = index // 8
        step = 3 * h * row
        if slot == 0:
            spots.append((margin, margin + step))
        elif slot == 1:
            spots.append((width - w - margin, margin + step))
        elif slot == 2:
            spots.append((margin, height - h - margin - step))
        elif slot == 3:
            spots.append((width - w - margin, height - h - margin - step))
        elif slot == 4:
            spots.append((margin, height // 2 - h // 2 + step))
        elif slot == 5:
            spots.append((width - w - margin, height // 2 - h // 2 + step))
        elif slot == 6:
            spots.append((width // 2 - w // 2, margin + 2 * h + step))
        else:
            spots.append((width // 2 - w // 2, height - 3 * h - margin - step))
    return spots


def frame_with_texts(
    texts: Sequence[str] = SAMPLE_TEXTS,
    *,
    size: int = 10,
    value: int = 255,
    font_kind: str = "pillow",
    bg: str = "black",
    shape: tuple[int, int] = (512, 512),
    margin: int = 0,
    rgb: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, list[Planted]]:
    """A frame with every text of ``texts`` at a corner or an edge, and where each went."""
    height, width = shape
    image = background(bg, height, width, seed)
    if rgb:
        image = np.repeat(image[..., None], 3, axis=2)
    font = load_font(font_kind, size)
    sizes = [text_size(t, font) for t in texts]
    planted = []
    for text, xy in zip(texts, corner_positions(sizes, height, width, margin), strict=True):
        planted.append(plant(image, text, xy, font, value, size))
    return image, planted


def similarity(a: str, b: str) -> float:
    """1 - normalised edit distance, ignoring case and spaces (OCR splits words its own way)."""
    a = "".join(a.split()).upper()
    b = "".join(b.split()).upper()
    if not a and not b:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return 1.0 - previous[-1] / max(len(a), len(b))


def coverage(planted: Planted, boxes: Sequence[Box], pad: float = 0.0) -> float:
    """Fraction of the planted ink pixels inside the union of ``boxes`` (each grown by ``pad``)."""
    x0, y0, x1, y1 = planted.box.pixel_bounds()
    covered = np.zeros(planted.ink.shape, bool)
    for box in boxes:
        bx0, by0, bx1, by1 = box.padded(pad).pixel_bounds()
        cx0, cy0 = max(bx0, x0), max(by0, y0)
        cx1, cy1 = min(bx1, x1), min(by1, y1)
        if cx0 < cx1 and cy0 < cy1:
            covered[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0] = True
    return float(covered[planted.ink].mean())
