"""The frame-reuse planner on synthetic frames: what is read, what is reused."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sparkdeid.ocr.frame_reuse import FrameReuseTracker, changed_tiles, tile_areas
from tests.pixel_factory import ultrasound_frames

_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _with_text(frame: np.ndarray, text: str, xy: tuple[int, int], size: int = 14) -> np.ndarray:
    layer = Image.new("L", (frame.shape[1], frame.shape[0]), 0)
    ImageDraw.Draw(layer).text(xy, text, fill=255, font=ImageFont.truetype(_FONT, size))
    return np.maximum(frame, np.asarray(layer))


def _cine(frames: int = 12, seed: int = 3) -> np.ndarray:
    anatomy = ultrasound_frames(np.random.default_rng(seed), 240, 320, frames)
    stack = np.rint(anatomy / 0.72 * 200).astype(np.uint8)
    stack[:, :30, :] = 0
    return np.stack([_with_text(f, "BANNER 12345", (4, 6)) for f in stack])


def _plans(stack: np.ndarray, **options):
    tracker = FrameReuseTracker(**options)
    plans, amends = [], []
    for index, frame in enumerate(stack):
        plans.append(tracker.plan(index, frame))
        amends.append(tracker.amend_previous)
    return plans, amends


def test_identical_frames_reuse_the_first():
    frame = _with_text(np.zeros((120, 200), np.uint8), "SAME TEXT", (10, 10))
    plans, _ = _plans(np.stack([frame] * 5))
    assert plans[0].read and plans[0].areas is None
    assert all(not p.read and p.reuse == (0,) for p in plans[1:])


def test_moving_speckle_alone_is_not_read():
    plans, amends = _plans(_cine())
    assert plans[0].read
    assert [p.index for p in plans[1:] if p.read] == []
    assert not any(amends)


def test_text_appearing_on_moving_anatomy_is_read_where_it_is_and_one_frame_before():
    stack = _cine()
    for f in range(6, len(stack)):
        stack[f] = _with_text(stack[f], "WALDEGRAVE", (120, 120), 16)
    plans, amends = _plans(stack)
    read = [p.index for p in plans if p.read and p.areas is not None]
    assert read and read[0] == 7  # still for one frame: seen on frame 7 ...
    assert amends[7]  # ... and frame 6, where it appeared, is asked to read it too
    for box in (*plans[7].areas, *amends[7]):
        assert box.x0 <= 120 and box.y0 <= 120 and box.x1 >= 200 and box.y1 >= 136
    assert all(0 in p.reuse for p in plans[1:])


def test_new_text_on_a_flat_banner_is_read_on_its_first_frame():
    stack = _cine()
    stack[5] = _with_text(stack[5], "99876", (200, 6))
    plans, _ = _plans(stack)
    assert plans[5].read and plans[5].areas
    assert any(b.x0 <= 200 and b.x1 >= 230 for b in plans[5].areas)


def test_strict_mode_reads_every_changed_area():
    stack = _cine(6)
    plans, _ = _plans(stack, screen=False)
    assert all(p.read for p in plans)  # the speckle changes: nothing is left unread
    still = np.stack([stack[0]] * 3)
    still[2, 100:110, 100:110] = 255  # a small change is read in its area only
    plans, _ = _plans(still, screen=False)
    assert not plans[1].read
    assert plans[2].read and plans[2].areas is not None and len(plans[2].areas) == 1


def test_changed_tiles_ignore_small_noise_but_not_a_stroke():
    base = np.full((64, 64), 100, np.uint8)
    noisy = np.clip(base.astype(int) + np.random.default_rng(1).integers(-2, 3, base.shape),
                    0, 255).astype(np.uint8)
    assert not changed_tiles(noisy, base).any()
    stroke = base.copy()
    stroke[20:30, 40] = 255
    grid = changed_tiles(stroke, base)
    assert grid.sum() == 1
    (box,) = tile_areas(grid, 16, stroke.shape)
    assert box[0] <= 40 < box[2] and box[1] <= 20 and box[3] >= 30
