"""Axis-aligned pixel boxes and the geometry the pixel path needs.

Every box in the pipeline is in *original* pixel coordinates of its frame
(x to the right, y down, half-open: ``x0 <= x < x1``), so a region found on a
down-scaled OCR image masks the right pixels of the stored frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def width(self) -> float:
        return max(0.0, self.x1 - self.x0)

    @property
    def height(self) -> float:
        return max(0.0, self.y1 - self.y0)

    @property
    def area(self) -> float:
        return self.width * self.height

    def is_empty(self) -> bool:
        return self.width <= 0 or self.height <= 0

    def scaled(self, factor: float) -> Box:
        """Map a box from an image scaled by ``factor`` back to the original (divide)."""
        if factor <= 0:
            raise ValueError("scale factor must be positive")
        return Box(self.x0 / factor, self.y0 / factor, self.x1 / factor, self.y1 / factor)

    def padded(self, pixels: float) -> Box:
        return Box(self.x0 - pixels, self.y0 - pixels, self.x1 + pixels, self.y1 + pixels)

    def clipped(self, width: int, height: int) -> Box:
        return Box(
            min(max(self.x0, 0.0), float(width)),
            min(max(self.y0, 0.0), float(height)),
            min(max(self.x1, 0.0), float(width)),
            min(max(self.y1, 0.0), float(height)),
        )

    def union(self, other: Box) -> Box:
        return Box(
            min(self.x0, other.x0),
            min(self.y0, other.y0),
            max(self.x1, other.x1),
            max(self.y1, other.y1),
        )

    def overlaps(self, other: Box, gap: float = 0.0) -> bool:
        """True when the boxes intersect or are closer than ``gap`` pixels."""
        return (
            self.x0 - gap < other.x1
            and other.x0 - gap < self.x1
            and self.y0 - gap < other.y1
            and other.y0 - gap < self.y1
        )

    def pixel_bounds(self) -> tuple[int, int, int, int]:
        """Integer bounds that cover every pixel the box touches (never shrink a mask)."""
        return (
            math.floor(self.x0),
            math.floor(self.y0),
            math.ceil(self.x1),
            math.ceil(self.y1),
        )

    @classmethod
    def around(cls, points: Iterable[Sequence[float]]) -> Box:
        """The upright box around a polygon (OCR engines return quadrilaterals)."""
        xs, ys = zip(*((float(p[0]), float(p[1])) for p in points), strict=True)
        return cls(min(xs), min(ys), max(xs), max(ys))


    def intersection_area(self, other: Box) -> float:
        width = min(self.x1, other.x1) - max(self.x0, other.x0)
        height = min(self.y1, other.y1) - max(self.y0, other.y0)
        return max(0.0, width) * max(0.0, height)


# Two boxes merge only if their union covers little that neither does: words of
# one line merge, while stacked lines of different lengths stay separate boxes
# instead of becoming one rectangle over the image between them.
_MERGE_WASTE = 0.15


def _worth_merging(a: Box, b: Box, gap: float) -> bool:
    if not a.overlaps(b, gap):
        return False
    covered = a.area + b.area - a.intersection_area(b)
    return a.union(b).area <= covered * (1.0 + _MERGE_WASTE) + gap * max(a.height, b.height)


def merge_overlapping(boxes: Iterable[Box], gap: float = 0.0) -> list[Box]:
    """Union boxes that overlap (or lie within ``gap``) while the union adds little area."""
    merged: list[Box] = [b for b in boxes if not b.is_empty()]
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for index, kept in enumerate(out):
                if _worth_merging(kept, box, gap):
                    out[index] = kept.union(box)
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return sorted(merged, key=lambda b: (b.y0, b.x0))


@dataclass(frozen=True)
class Region:
    """A box to mask and what was found there (``NAME``, ``DATE+ID``, ...)."""

    box: Box
    label: str
