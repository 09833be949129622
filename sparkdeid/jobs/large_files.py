"""Files too big to hold in memory: de-identified frame by frame on the executor.

The pipeline stages pass whole files through Spark columns, which costs
several copies of a file in memory; a 2 GB cine would take an executor down.
Files above a size threshold are instead handed, by path, to
:func:`~sparkdeid.dicom.large_file.deidentify_large_file`, which streams
frames from disk to disk. The settings come from the fitted full pipeline
(:func:`large_file_settings`), so both routes apply the same OCR engine,
PHI detector, frame reuse, masking and metadata strategy. Overlays and
encapsulated documents are not cleaned on this route: the strategy removes
them (fail closed).

The pipeline's residual-PHI gate (:class:`~sparkdeid.verify.residual_gate.ResidualPhiGate`)
applies here too, to the written output's header: a finding deletes the
output and fails the file (quarantined). Only the metadata check runs on this
route, whatever the gate's mode; elements after Pixel Data and the pixels
themselves are not re-scanned.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from sparkdeid.boxes import Box
from sparkdeid.dicom.dicom_to_image import DicomToImage, image_struct
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.dicom.large_file import LargeFileResult, deidentify_large_file
from sparkdeid.dicom.limits import FileLimits, check_header
from sparkdeid.metadata.engine import EngineConfig, compiled_engine
from sparkdeid.metadata.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.ner.detect import DetectorConfig, PhiDetector
from sparkdeid.ner.header import header_terms_of
from sparkdeid.ner.ner_deid import NerDeid, detector_for, frame_text
from sparkdeid.ocr.frame_reuse import FramePlan, FrameReuseTracker, amend_plan
from sparkdeid.ocr.registry import get_engine
from sparkdeid.ocr.text_detector import TextDetector, ocr_image
from sparkdeid.regions.draw_regions import DicomDrawRegions
from sparkdeid.regions.position_finder import PositionFinder, find_regions
from sparkdeid.verify.residual_gate import (
    GatePolicy,
    ResidualPhiError,
    ResidualPhiGate,
    metadata_residuals,
    residual_message,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LargeFileSettings:
    """What the streaming route needs; picklable, built on the driver."""

    engine: str
    engine_options: tuple[tuple[str, Any], ...]
    detector: DetectorConfig
    metadata: EngineConfig
    frame_reuse: str = "changed"
    render_width: int = 0
    padding: float = 2.0
    merge_gap: float = 2.0
    fill: str = "black"
    mark_clean: bool = True
    # frames and one frame's pixels only: this route never holds a whole file
    limits: FileLimits = FileLimits(max_bytes=0)
    # the pipeline's residual-PHI gate, metadata check only; None when it has none (or off)
    residual: GatePolicy | None = None


def large_file_settings(model: Any) -> LargeFileSettings | None:
    """The settings of a fitted full pipeline, or None when it has no pixel stages."""
    stages = list(getattr(model, "stages", [model]))
    found: dict[type, Any] = {type(s): s for s in stages}
    needed = (DicomToImage, TextDetector, NerDeid, PositionFinder, DicomDrawRegions,
              DicomMetadataDeidentifier)
    if not all(kind in found for kind in needed):
        return None
    reader, ocr, ner = found[DicomToImage], found[TextDetector], found[NerDeid]
    options = ocr.engine_options()
    metadata = found[DicomMetadataDeidentifier].engine_config()
    # nothing upstream cleans overlays or documents on this route: let the strategy remove them
    metadata = dataclasses.replace(metadata, cleaned_upstream=())
    gate = found.get(ResidualPhiGate)
    residual = gate.policy() if gate is not None and gate.getMode() != "off" else None
    return LargeFileSettings(
        engine=ocr.getEngine(),
        engine_options=tuple(sorted(options.items())),
        detector=ner.detector_config(),
        metadata=metadata,
        frame_reuse=reader.getFrameReuse(),
        render_width=reader.getScale(),
        padding=found[PositionFinder].getPadding(),
        merge_gap=found[PositionFinder].getMergeGap(),
        fill=found[DicomDrawRegions].getFill(),
        mark_clean=found[DicomDrawRegions].getMarkClean(),
        limits=dataclasses.replace(reader.file_limits(), max_bytes=0),
        residual=residual,
    )


class ReusingRegionFinder:
    """Frame reuse for the streaming route, planned as the in-memory route plans it.

    Called once per frame in order; returns the frame's boxes (its own and
    those of the frames it reuses). When the tracker asks the previous frame
    to read more (text over moving anatomy is confirmed one frame later),
    that frame is read again with its areas and the new ones in one call, as
    :func:`~sparkdeid.dicom.dicom_to_image.planned_frames` amends its plan,
    and :attr:`previous_boxes` holds its complete boxes, which replace the
    ones returned for it before.
    """

    def __init__(self, settings: LargeFileSettings, header: tuple[Any, ...],
                 num_frames: int) -> None:
        self.engine = get_engine(settings.engine, dict(settings.engine_options))
        self.detector: PhiDetector = detector_for(settings.detector)
        self.header = header
        self.padding, self.merge_gap = settings.padding, settings.merge_gap
        self.num_frames = num_frames
        self.every_frame = settings.frame_reuse == "off"
        self.tracker = FrameReuseTracker(screen=settings.frame_reuse == "changed")
        self.previous_boxes: list[Box] | None = None
        self._own: dict[int, list[Box]] = {}
        self._previous: tuple[FramePlan, RenderedFrame] | None = None

    def __call__(self, index: int, rendered: RenderedFrame) -> Sequence[Box]:
        self.previous_boxes = None
        if self.every_frame:
            return self._read(rendered, None)
        plan = self.tracker.plan(index, rendered.image, last=index == self.num_frames - 1)
        if self._previous is not None:
            earlier, image = self._previous
            amended = amend_plan(earlier, self.tracker.amend_previous)
            if amended is not earlier:
                self._own[earlier.index] = self._read(image, amended.areas)
                self.previous_boxes = self._boxes(earlier)
        if plan.read:
            self._own[index] = self._read(rendered, plan.areas)
        self._previous = (plan, rendered)
        return self._boxes(plan)

    def _boxes(self, plan: FramePlan) -> list[Box]:
        own = self._own.get(plan.index, [])
        return own + [box for k in plan.reuse for box in self._own.get(k, [])]

    def _read(self, rendered: RenderedFrame, areas: Sequence[Box] | None) -> list[Box]:
        return phi_boxes(self.engine, self.detector, rendered, self.header, areas, self.padding,
                         self.merge_gap)


def phi_boxes(
    engine: Any,
    detector: PhiDetector,
    rendered: RenderedFrame,
    header: tuple[Any, ...] = (),
    areas: Sequence[Box] | None = None,
    padding: float = 2.0,
    merge_gap: float = 2.0,
) -> list[Box]:
    """PHI boxes of one rendered frame (original pixels), found in-process as the
    TextDetector, NerDeid and PositionFinder stages find them on Spark."""
    ocr = ocr_image(engine, image_struct(rendered), areas)
    entities = detector.detect_frame(frame_text(ocr), header)
    rows = [{"begin": e.begin, "end": e.end, "label": e.label} for e in entities]
    return [Box(r["x0"], r["y0"], r["x1"], r["y1"])
            for r in find_regions(ocr, rows, padding=padding, merge_gap=merge_gap)]


def deidentify_large_path(src: str, dst: str, settings: LargeFileSettings) -> LargeFileResult:
    """One big file, disk to disk: pixels through frame reuse, header through the strategy."""
    from sparkdeid.dicom.frame_source import FrameSource

    with FrameSource(src) as source:
        check_header(source.header, settings.limits, per_frame=True)
        header = header_terms_of(source.header)
        frames = source.num_frames
        original = source.header
    engine = compiled_engine(settings.metadata)

    def transform(ds: Dataset) -> None:
        engine.deidentify(ds)
        if settings.mark_clean:  # as DicomDrawRegions does: every frame was read
            ds.BurnedInAnnotation = "NO"

    finder = ReusingRegionFinder(settings, header, frames)
    result = deidentify_large_file(
        src, dst, find_regions=finder, header_transform=transform, fill=settings.fill,
        render_width=settings.render_width,
    )
    if settings.residual is not None:
        check_residual_header(original, dst, settings.residual)
    return result


def check_residual_header(original: Dataset, dst: str, policy: GatePolicy) -> None:
    """The gate's metadata check on a written output's header; a finding deletes it.

    Raises
    ------
    ResidualPhiError
        Naming keywords and places only, after the output file is removed.
    """
    import pydicom

    output = pydicom.dcmread(dst, stop_before_pixels=True, force=True)
    findings = metadata_residuals(original, output, policy)
    if findings:
        os.remove(dst)
        raise ResidualPhiError(residual_message(findings))
