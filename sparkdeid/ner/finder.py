"""The PHI finder of one frame: frame -> text -> entities -> regions, typed end to end.

The TextDetector, NerDeid and PositionFinder stages are its three steps cut
apart at Spark's edges; the large-file route, verify, the residual gate's
pixel mode and document pages call :func:`find_in_frame` whole. Each step
exists once here, so every route reads, recognises and boxes text alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sparkdeid.boxes import Box, Region, merge_overlapping
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.ner.base import Entity, HeaderTerm
from sparkdeid.ner.detect import DetectorConfig, PhiDetector
from sparkdeid.ocr.base import FrameText, OcrEngine, PlacedWord
from sparkdeid.ocr.frame_ocr import read_frame

# Share of a word's height added on every side when it exceeds ``padding``.
GLYPH_PADDING = 0.2
DEFAULT_PADDING = 2.0

_DETECTORS: dict[DetectorConfig, PhiDetector] = {}


def detector_for(config: DetectorConfig) -> PhiDetector:
    """One detector (name lists, models) per executor process and configuration."""
    if config not in _DETECTORS:
        _DETECTORS[config] = PhiDetector(config)
    return _DETECTORS[config]


def locate(
    text: FrameText,
    entities: Sequence[Entity],
    *,
    padding: float = DEFAULT_PADDING,
    merge_gap: float = DEFAULT_PADDING,
) -> list[Region]:
    """Regions to mask (original pixels, padded, merged, clipped) for one frame's entities."""
    if not entities:
        return []
    phi = {id(word) for entity in entities for word in text.words
           if word.begin < entity.end and word.end > entity.begin}
    labelled: list[tuple[Box, str]] = []
    for entity in entities:
        for index, word in enumerate(text.words):
            if word.begin < entity.end and word.end > entity.begin:
                # anti-aliased edges and the detector's tight ends grow with the glyphs
                pad = max(padding, GLYPH_PADDING * word.box.height)
                box = _short_of_kept_neighbours(word.box.padded(pad), word, index, text, phi)
                labelled.append((box, entity.label))
    regions = []
    for merged in merge_overlapping((b for b, _ in labelled), gap=merge_gap):
        clipped = merged.clipped(text.width, text.height)
        if clipped.is_empty():
            continue
        labels = sorted({label for box, label in labelled if merged.overlaps(box)})
        regions.append(Region(clipped, "+".join(labels)))
    return regions


def _short_of_kept_neighbours(
    padded: Box, word: PlacedWord, index: int, text: FrameText, phi: set[int]
) -> Box:
    """``padded`` kept sideways to its half of the gap to a kept word beside it.

    ``Name: DOE`` masks ``DOE`` and leaves ``Name:``: the padding that covers
    anti-aliased edges must not reach the colon a space away. The word's own
    box is never cut.
    """
    x0, x1 = padded.x0, padded.x1
    for step in (-1, 1):
        other = index + step
        if not 0 <= other < len(text.words):
            continue
        beside = text.words[other]
        if beside.line != word.line or id(beside) in phi:
            continue
        if step < 0 and beside.box.x1 <= word.box.x0:
            x0 = max(x0, (beside.box.x1 + word.box.x0) / 2)
        elif step > 0 and beside.box.x0 >= word.box.x1:
            x1 = min(x1, (word.box.x1 + beside.box.x0) / 2)
    return Box(x0, padded.y0, x1, padded.y1)


@dataclass(frozen=True)
class FrameFindings:
    """What one frame showed and which of it is PHI."""

    text: FrameText
    entities: tuple[Entity, ...]
    regions: tuple[Region, ...]

    @property
    def boxes(self) -> list[Box]:
        return [region.box for region in self.regions]


def find_in_frame(
    engine: OcrEngine,
    detector: PhiDetector,
    rendered: RenderedFrame,
    header: tuple[HeaderTerm, ...] = (),
    *,
    areas: Sequence[Box] | None = None,
    padding: float = DEFAULT_PADDING,
    merge_gap: float = DEFAULT_PADDING,
) -> FrameFindings:
    """Read a rendered frame, find its PHI and box it, as the pixel stages do in turn."""
    text = read_frame(engine, rendered, areas)
    entities = detector.detect_frame(text, header)
    regions = locate(text, entities, padding=padding, merge_gap=merge_gap)
    return FrameFindings(text, tuple(entities), tuple(regions))
