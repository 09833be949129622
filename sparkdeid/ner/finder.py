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
from sparkdeid.ocr.base import FrameText, OcrEngine
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
    labelled: list[tuple[Box, str]] = []
    for entity in entities:
        for word in text.words:
            if word.begin < entity.end and word.end > entity.begin:
                # anti-aliased edges and the detector's tight ends grow with the glyphs
                pad = max(padding, GLYPH_PADDING * word.box.height)
                labelled.append((word.box.padded(pad), entity.label))
    regions = []
    for merged in merge_overlapping((b for b, _ in labelled), gap=merge_gap):
        clipped = merged.clipped(text.width, text.height)
        if clipped.is_empty():
            continue
        labels = sorted({label for box, label in labelled if merged.overlaps(box)})
        regions.append(Region(clipped, "+".join(labels)))
    return regions


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
