"""Shrink an OCR word box to the ink it contains, when the ink is unmistakable.

Text detectors grow their line boxes well beyond the glyphs (PP-OCR's unclip
ratio makes a 20 px line ~30 px tall) and words tile their line, so masking
the raw boxes blacks out far more than the text. Where the box sits on a
clean, flat background, the glyph pixels stand out from the box's border and
the box is cut down to them (plus a pixel). On texture or noise the ink cannot
be told from the background and the box is left as it is: a box is only
ever shrunk when that is safe.
"""

from __future__ import annotations

import numpy as np

from sparkdeid.boxes import Box

_MIN_CONTRAST = 24.0  # grey levels between ink and background
_MAX_BORDER_SPREAD = 12.0  # border pixels must be this flat to call it a clean background
_MARGIN = 1


def tighten_to_ink(image: np.ndarray, box: Box) -> Box:
    """The part of ``box`` (image pixels) that holds ink, or ``box`` itself when unsure."""
    height, width = image.shape[:2]
    x0, y0, x1, y1 = box.clipped(width, height).pixel_bounds()
    if x1 - x0 < 3 or y1 - y0 < 3:
        return box
    crop = image[y0:y1, x0:x1].astype(np.float32)
    if crop.ndim == 3:
        crop = crop.mean(axis=2)
    border = np.concatenate([crop[0], crop[-1], crop[1:-1, 0], crop[1:-1, -1]])
    background = float(np.median(border))
    spread = float(np.percentile(np.abs(border - background), 90))
    if spread > _MAX_BORDER_SPREAD:
        return box  # textured surroundings: ink is not separable
    difference = np.abs(crop - background)
    peak = float(difference.max())
    if peak < _MIN_CONTRAST:
        return box  # faint text: keep the detector's box
    ink = difference > max(spread + 8.0, 0.25 * peak)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0 or cols.size == 0:
        return box
    return Box(
        float(max(x0, x0 + cols[0] - _MARGIN)),
        float(max(y0, y0 + rows[0] - _MARGIN)),
        float(min(x1, x0 + cols[-1] + 1 + _MARGIN)),
        float(min(y1, y0 + rows[-1] + 1 + _MARGIN)),
    )
