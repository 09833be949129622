"""Decide, frame by frame, which parts of a multi-frame file need OCR.

A 200-frame cine usually carries the same banner on every frame while the
anatomy moves; reading every frame costs ~0.3-0.5 s each and finds the same
words 200 times. The tracker keeps one *key* frame that was read whole and
compares each new rendered frame with it on a grid of tiles (the caller
renders every frame of a file with the same stretch, so unchanged text is
pixel-identical):

* tiles near-identical to the key (mean difference within ``tolerance``, at
  most a couple of strongly changed pixels, so lossy noise does not count)
  keep the key's text: its regions are reused for this frame;
* in changed areas, a screen looks for *new* text strokes: thin marks of
  high contrast that differ from the key and either lie where the key was
  flat (a banner, a margin) or stayed still since the previous frame while
  speckle and anatomy moved around them. Stroke pixels are grouped into
  glyphs and lines; each line is a candidate;
* a candidate whose strokes an earlier read already covered, unchanged,
  reuses that read; the others are read, in a small crop, on this frame and
  on the previous one (still text appeared one frame earlier at the latest:
  :attr:`FrameReuseTracker.amend_previous`);
* the last frame has no next frame to confirm new text: if the loose screen
  (without the stillness test) finds marks nothing covers, it is read whole;
* when the areas to read cover most of the frame, it is read whole and
  becomes the new key.

Known limit: text shown on a single frame over moving anatomy is neither on
a flat background nor still, and is not read. With ``screen=False``
(``frameReuse='strict'``) every changed area is read whatever it holds.

Every frame gets a :class:`FramePlan`, so every frame is accounted for and a
file can still be marked as cleaned.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from sparkdeid.boxes import Box, merge_overlapping
from sparkdeid.dicom.frames import (
    PixelInfo,
    RenderedFrame,
    Stretch,
    decode_frame,
    frame_stretch,
    render_decoded,
)

_TILE = 16
# A tile counts as changed when its mean absolute difference exceeds the
# tolerance or when this many of its pixels moved by more than _STRONG grey levels.
_STRONG = 48
_STRONG_PIXELS = 3
# Stroke screen: contrast a text stroke has against its surroundings, the
# widest stroke looked for, and the glyph sizes (rendered pixels) that count.
_STROKE_CONTRAST = 40
_STROKE_KERNEL = 9
_GLYPH_MIN_HEIGHT = 5
_GLYPH_MAX_HEIGHT = 96
# A stroke pixel is still when it moved at most this much since the previous
# frame; the key is flat around a pixel when its 9x9 range is at most _FLAT.
_STILL = 3
_FLAT = 12
# An earlier read is reused for a candidate reaching this far outside it.
_SLACK = 4
# Earlier reads remembered for reuse (the most recent ones).
_MAX_READ_AREAS = 64
# A candidate line has at least this many stroke pixels.
_LINE_MIN_PIXELS = 20
# Areas to read covering more than this share of the frame: read it whole.
_REKEY_SHARE = 0.5


@dataclass(frozen=True)
class FramePlan:
    """What to do with one frame.

    Attributes
    ----------
    index
        0-based frame index.
    read
        Whether this frame's rendered image is OCR'd at all.
    areas
        Where to read, in rendered-image pixels; ``None`` means the whole frame.
    reuse
        Earlier frames whose own regions also apply to this frame.
    """

    index: int
    read: bool
    areas: tuple[Box, ...] | None = None
    reuse: tuple[int, ...] = ()


def amend_plan(plan: FramePlan, extra: tuple[Box, ...]) -> FramePlan:
    """``plan`` also reading ``extra`` areas (a whole-frame read already covers them).

    Both routes amend a frame's plan this way when the next frame confirms
    text there, and read the amended plan in one call, so they find the
    same boxes. Returns ``plan`` itself when nothing is added.
    """
    if not extra or (plan.read and plan.areas is None):
        return plan
    return FramePlan(plan.index, True, (*(plan.areas or ()), *extra), plan.reuse)


@dataclass(eq=False)
class _ReadArea:
    """A candidate read on an earlier frame: its box and the stroke pixels it held."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in rendered pixels
    strokes: np.ndarray  # bool, the box's shape
    values: np.ndarray  # grey values at the strokes
    frame: int


@dataclass
class FrameReuseTracker:
    """Stateful planner for the frames of one file, fed in ascending order.

    :meth:`plan` returns the plan of the frame just given and, in
    :attr:`amend_previous`, areas the *previous* frame must read as well:
    text over moving anatomy is recognised by staying still while the
    anatomy moves, which is first visible one frame after it appeared.
    """

    tolerance: float = 2.0
    screen: bool = True
    tile: int = _TILE
    amend_previous: tuple[Box, ...] = ()
    _key: np.ndarray | None = None
    _key_index: int = -1
    _previous: np.ndarray | None = None
    _read_areas: list[_ReadArea] = field(default_factory=list)

    def plan(self, index: int, image: np.ndarray, last: bool = False) -> FramePlan:
        """The plan for frame ``index`` whose rendered uint8 image is ``image``.

        ``last``: no frame follows, so text that appeared on this frame
        cannot be confirmed by staying still; if the loose screen finds any
        candidate the frame is read whole (a single frame's cost).
        """
        grey = _grey(image)
        previous, self._previous = self._previous, grey
        self.amend_previous = ()
        if self._key is None or self._key.shape != grey.shape or previous is None:
            return self._rekey(index, grey)
        changed = changed_tiles(grey, self._key, self.tile, self.tolerance)
        if not changed.any():
            return FramePlan(index, read=False, reuse=(self._key_index,))
        reuse = {self._key_index}
        to_read: list[tuple[int, int, int, int]] = []
        areas = tile_areas(changed, self.tile, grey.shape)
        still = {area: new_text_candidates(grey, self._key, previous, area)
                 for area in areas} if self.screen else {}
        earlier = {id(c): self._earlier_read(grey, c) for found in still.values() for c in found}
        # still text appeared one frame earlier at the latest: read it there too
        self.amend_previous = tuple(merge_overlapping(
            _box(c.box) for found in still.values() for c in found if earlier[id(c)] is None
        ))
        if last and self.screen and any(
            not _inside(c.box, [s.box for s in still[area]]) and self._earlier_read(grey, c) is None
            for area in areas
            for c in new_text_candidates(grey, self._key, previous, area, loose=True)
        ):
            return self._rekey(index, grey)
        for area in areas:
            if not self.screen:
                to_read.append(area)
                continue
            for candidate in still[area]:
                read_before = earlier[id(candidate)]
                if read_before is not None:
                    reuse.add(read_before.frame)
                    continue
                candidate.frame = index
                to_read.append(candidate.box)
                self._read_areas.append(candidate)
        del self._read_areas[:-_MAX_READ_AREAS]  # the recent ones; a long cine stays cheap
        if not to_read:
            return FramePlan(index, read=False, reuse=tuple(sorted(reuse)))
        covered = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in to_read)
        if covered > _REKEY_SHARE * grey.size:
            return self._rekey(index, grey)
        return FramePlan(
            index,
            read=True,
            areas=tuple(merge_overlapping(_box(b) for b in to_read)),
            reuse=tuple(sorted(reuse)),
        )

    def _rekey(self, index: int, grey: np.ndarray) -> FramePlan:
        self._key, self._key_index = grey, index
        self._read_areas.clear()
        return FramePlan(index, read=True)

    def _earlier_read(self, grey: np.ndarray, candidate: _ReadArea) -> _ReadArea | None:
        """An earlier read whose strokes are still there, unchanged, and hold this candidate's."""
        x0, y0, x1, y1 = candidate.box
        for area in reversed(self._read_areas):
            ax0, ay0, ax1, ay1 = area.box
            if not _inside(candidate.box, [area.box]):
                continue
            now = grey[ay0:ay1, ax0:ax1][area.strokes]
            if (np.abs(now.astype(np.int16) - area.values) <= 2 * _STILL).mean() < 0.8:
                continue
            inside = np.zeros_like(area.strokes)
            cx0, cy0 = max(x0, ax0), max(y0, ay0)
            cx1, cy1 = min(x1, ax1), min(y1, ay1)
            inside[cy0 - ay0:cy1 - ay0, cx0 - ax0:cx1 - ax0] = candidate.strokes[
                cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0
            ]
            grown = cv2.dilate(area.strokes.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            if (inside & ~grown).sum() <= 0.1 * max(1, int(candidate.strokes.sum())):
                return area
        return None


def _inside(box: tuple[int, int, int, int], others: list[tuple[int, int, int, int]]) -> bool:
    """Whether ``box`` lies within one of ``others`` (give or take _SLACK pixels)."""
    x0, y0, x1, y1 = box
    return any(
        ox0 <= x0 + _SLACK and oy0 <= y0 + _SLACK and x1 - _SLACK <= ox1 and y1 - _SLACK <= oy1
        for ox0, oy0, ox1, oy1 in others
    )


def _box(box: tuple[int, int, int, int]) -> Box:
    return Box(float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def _grey(image: np.ndarray) -> np.ndarray:
    """One channel to compare: the maximum over colour channels keeps coloured text bright."""
    if image.ndim == 2:
        return image
    return image.max(axis=2)


def changed_tiles(
    grey: np.ndarray, reference: np.ndarray, tile: int = _TILE, tolerance: float = 2.0
) -> np.ndarray:
    """Boolean grid (rows x columns of tiles): where ``grey`` differs from ``reference``."""
    diff = cv2.absdiff(grey, reference)
    height, width = diff.shape
    rows, cols = -(-height // tile), -(-width // tile)
    padded = np.zeros((rows * tile, cols * tile), dtype=np.uint8)
    padded[:height, :width] = diff
    blocks = padded.reshape(rows, tile, cols, tile)
    mean = blocks.mean(axis=(1, 3))
    strong = (blocks > _STRONG).sum(axis=(1, 3))
    return (mean > tolerance) | (strong >= _STRONG_PIXELS)


def tile_areas(
    changed: np.ndarray, tile: int, shape: tuple[int, ...]
) -> list[tuple[int, int, int, int]]:
    """Connected groups of changed tiles as pixel boxes, grown by one tile of context."""
    count, _, stats, _ = cv2.connectedComponentsWithStats(
        changed.astype(np.uint8), connectivity=8
    )
    height, width = shape[:2]
    boxes = []
    for label in range(1, count):
        left, top, w, h = (int(v) for v in stats[label, :4])
        boxes.append((
            max(0, (left - 1) * tile),
            max(0, (top - 1) * tile),
            min(width, (left + w + 1) * tile),
            min(height, (top + h + 1) * tile),
        ))
    return boxes


def new_text_candidates(
    grey: np.ndarray,
    key: np.ndarray,
    previous: np.ndarray,
    area: tuple[int, int, int, int],
    *,
    loose: bool = False,
) -> list[_ReadArea]:
    """Places inside ``area`` that may hold text the key frame did not have.

    A stroke is a thin mark at least ``_STROKE_CONTRAST`` grey levels
    brighter (top-hat) or darker (black-hat) than its surroundings. New text
    strokes differ from the key frame and either lie where the key was flat
    (a banner, a black margin) or have stayed still since the previous frame
    while anatomy and speckle moved around them; ``loose`` drops that last
    condition (for a frame with no successor, or when few marks changed).
    Strokes are grouped into glyph-sized components and those into lines; a
    line of two glyphs or more, or one glyph as wide as a short word, is a
    candidate, returned with a margin of one line height. A candidate costs
    only the read of a small crop, whose text detector has the last word.
    """
    x0, y0, x1, y1 = area
    crop = grey[y0:y1, x0:x1]
    key_crop = key[y0:y1, x0:x1]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_STROKE_KERNEL, _STROKE_KERNEL))
    bright = cv2.morphologyEx(crop, cv2.MORPH_TOPHAT, kernel)
    dark = cv2.morphologyEx(crop, cv2.MORPH_BLACKHAT, kernel)
    mask = (np.maximum(bright, dark) >= _STROKE_CONTRAST) & (
        cv2.absdiff(crop, key_crop) >= _STROKE_CONTRAST // 2
    )
    if not loose:
        still = cv2.absdiff(crop, previous[y0:y1, x0:x1]) <= _STILL
        flat_key = cv2.morphologyEx(key_crop, cv2.MORPH_GRADIENT, kernel) <= _FLAT
        mask &= still | flat_key
    return _line_candidates(grey, mask.astype(np.uint8), area)


def _line_candidates(
    grey: np.ndarray, mask: np.ndarray, area: tuple[int, int, int, int]
) -> list[_ReadArea]:
    """Stroke pixels of ``mask`` (inside ``area``) grouped into candidate text lines."""
    x0, y0, x1, y1 = area
    if int(mask.sum()) < _LINE_MIN_PIXELS:
        return []
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    parts = np.asarray(stats[1:], dtype=np.int64)
    w, h, pixels = parts[:, 2], parts[:, 3], parts[:, 4]
    keep = (
        (h >= _GLYPH_MIN_HEIGHT) & (h <= _GLYPH_MAX_HEIGHT) & (w <= 4 * _GLYPH_MAX_HEIGHT)
        & (pixels >= 0.08 * w * h)
    )
    glyphs = [(int(a), int(b), int(c), int(d), int(e)) for a, b, c, d, e in parts[keep]]
    height, width = grey.shape
    found = []
    for line in _lines(glyphs):
        left = min(g[0] for g in line)
        top = min(g[1] for g in line)
        right = max(g[0] + g[2] for g in line)
        bottom = max(g[1] + g[3] for g in line)
        tall = bottom - top
        if sum(g[4] for g in line) < _LINE_MIN_PIXELS:
            continue
        if len(line) == 1 and right - left < 1.5 * tall:
            continue  # a lone mark narrower than a word
        bx0, by0 = max(0, x0 + left - tall), max(0, y0 + top - tall)
        bx1, by1 = min(width, x0 + right + tall), min(height, y0 + bottom + tall)
        box_strokes = np.zeros((by1 - by0, bx1 - bx0), dtype=bool)
        ox0, oy0 = max(bx0, x0), max(by0, y0)
        ox1, oy1 = min(bx1, x1), min(by1, y1)
        box_strokes[oy0 - by0:oy1 - by0, ox0 - bx0:ox1 - bx0] = mask[
            oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0
        ].astype(bool)
        values = grey[by0:by1, bx0:bx1][box_strokes].astype(np.int16)
        found.append(_ReadArea((bx0, by0, bx1, by1), box_strokes, values, -1))
    return found


def _lines(
    glyphs: list[tuple[int, int, int, int, int]],
) -> list[list[tuple[int, int, int, int, int]]]:
    """Glyphs grouped into lines: similar heights, same middle, at most 1.5 heights apart."""
    glyphs = sorted(glyphs)
    parent = list(range(len(glyphs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, (left, top, w, h, _) in enumerate(glyphs):
        middle = top + h / 2
        for j in range(i + 1, len(glyphs)):
            other_left, other_top, _, other_h, _ = glyphs[j]
            if other_left - (left + w) > 1.5 * max(h, other_h):
                break
            similar = 0.5 <= other_h / h <= 2.0
            if similar and abs(other_top + other_h / 2 - middle) <= 0.5 * max(h, other_h):
                parent[root(j)] = root(i)
    groups: dict[int, list[tuple[int, int, int, int, int]]] = {}
    for i, glyph in enumerate(glyphs):
        groups.setdefault(root(i), []).append(glyph)
    return list(groups.values())


def plan_frames(
    frames: Iterable[tuple[int, RenderedFrame]], num_frames: int, reuse: str
) -> Iterator[tuple[FramePlan, RenderedFrame]]:
    """Each frame of ``frames`` (in order) with its final reading plan, one frame behind.

    The tracker may ask the previous frame to read an area too (text over
    moving anatomy shows itself by staying still one frame later), so each
    frame is handed on only after its successor has been planned, with its
    plan amended. Both routes plan through here: DicomToImage over a data
    set (:func:`planned_frames`), the large-file route over frames read from
    disk.
    """
    tracker = FrameReuseTracker(screen=reuse == "changed")
    pending: tuple[FramePlan, RenderedFrame] | None = None
    for index, rendered in frames:
        plan = tracker.plan(index, rendered.image, last=index == num_frames - 1)
        if pending is not None:
            yield amend_plan(pending[0], tracker.amend_previous), pending[1]
        pending = (plan, rendered)
    if pending is not None:
        yield pending


def planned_frames(
    ds: Any, info: PixelInfo, width: int, reuse: str
) -> Iterator[tuple[FramePlan, RenderedFrame]]:
    """Every frame of ``ds`` rendered alike (frame 0's stretch), with its reading plan."""

    def rendered() -> Iterator[tuple[int, RenderedFrame]]:
        stretch: Stretch | None = None
        for index in range(info.num_frames):
            decoded = decode_frame(ds, index, info=info)
            if index == 0:  # every frame rendered alike, so unchanged text stays identical
                stretch = frame_stretch(ds, info, decoded, 0)
            yield index, render_decoded(ds, info, decoded, index, width, stretch)

    return plan_frames(rendered(), info.num_frames, reuse)
