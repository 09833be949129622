"""Files too big to hold in memory: de-identified frame by frame on the executor.

The pipeline stages pass whole files through Spark columns, which costs
several copies of a file in memory; a 2 GB cine would take an executor down.
Files above a size threshold are instead handed, by path, to
:func:`~sparkdeid.dicom.large_file.deidentify_large_file`, which streams
frames from disk to disk. The settings come from the fitted full pipeline
(:func:`large_file_settings`), so both routes apply the same OCR engine,
PHI detector, frame plan (sampling, reuse), overlay cleaning, masking,
Burned In Annotation rule and metadata strategy, and give the same bytes.
Overlay planes (stored before Pixel Data, so in the header) are read and
cleared with the in-memory route's functions. Frames are sampled as
``frameSampling`` / ``frameLimit`` say: the sampled frames are read in a
first pass, then every frame is written in a second (a frame left out gets
the regions of every sampled frame, as in memory). Files this route cannot
stream fail closed with an error row: an encapsulated document (its
cleaner needs the whole file), an overlay embedded in Pixel Data, and the
deflated and big endian transfer syntaxes.

The pipeline's residual-PHI gate (:class:`~sparkdeid.stages.residual_gate.ResidualPhiGate`)
applies here too, to the written output's header: a finding deletes the
output and fails the file (quarantined). Only the metadata check runs on this
route, whatever the gate's mode; elements after Pixel Data and the pixels
themselves are not re-scanned.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset

from sparkdeid.boxes import Box
from sparkdeid.dicom.frames import RenderedFrame, frame_indices
from sparkdeid.dicom.large_file import LargeFileResult, deidentify_large_file
from sparkdeid.dicom.limits import FileLimits, check_header
from sparkdeid.dicom.overlays import (
    OverlayPlane,
    clean_overlays_in,
    overlay_bits,
    overlay_planes,
    render_overlay,
)
from sparkdeid.documents.encapsulated import ENCAPSULATED_DOCUMENT
from sparkdeid.errors import DicomDecodeError, DicomEncodeError, DocumentNotCleanableError
from sparkdeid.metadata.engine import EngineConfig, compiled_engine
from sparkdeid.ner.detect import DetectorConfig, PhiDetector
from sparkdeid.ner.finder import detector_for, find_in_frame
from sparkdeid.ner.header import header_terms_of
from sparkdeid.ocr.frame_reuse import plan_frames
from sparkdeid.ocr.registry import get_engine
from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector
from sparkdeid.verify.residual import (
    GatePolicy,
    ResidualPhiError,
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
    frame_limit: int = 0
    frame_sampling: str = "all"
    # overlay planes: read by OCR (DicomToImage.renderOverlays), then 'clean' or 'remove'
    render_overlays: bool = True
    overlays: str = "clean"
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
    # the same configuration as in memory: overlays are cleaned here too, and a
    # document (which this route refuses) never reaches the strategy
    metadata = found[DicomMetadataDeidentifier].engine_config()
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
        frame_limit=reader.getFrameLimit(),
        frame_sampling=reader.getFrameSampling(),
        render_overlays=reader.getRenderOverlays(),
        overlays=found[DicomDrawRegions].getOverlays(),
        limits=dataclasses.replace(reader.file_limits(), max_bytes=0),
        residual=residual,
    )


class FrameBoxFinder:
    """PHI boxes of a large file's frames, read and reused as the in-memory route does.

    :meth:`frame_boxes` plans frames with the same one-behind planner as
    DicomToImage (:func:`~sparkdeid.ocr.frame_reuse.plan_frames`), reads each
    planned frame once with its final areas, and gives a frame its own boxes
    plus those of the frames it reuses, as DicomDrawRegions does.
    """

    def __init__(self, settings: LargeFileSettings, header: tuple[Any, ...],
                 num_frames: int) -> None:
        self.engine = get_engine(settings.engine, dict(settings.engine_options))
        self.detector: PhiDetector = detector_for(settings.detector)
        self.header = header
        self.padding, self.merge_gap = settings.padding, settings.merge_gap
        self.render_width = settings.render_width
        self.num_frames = num_frames
        self.reuse = settings.frame_reuse
        # as DicomToImage: a single frame, or reuse off, is read whole
        self.every_frame = settings.frame_reuse == "off" or num_frames == 1

    def frame_boxes(
        self, frames: Iterator[tuple[int, RenderedFrame]]
    ) -> Iterator[tuple[int, list[Box]]]:
        """``(index, boxes)`` of every frame in order (see ``deidentify_large_file``)."""
        if self.every_frame:
            for index, rendered in frames:
                yield index, self.read(rendered)
            return
        own: dict[int, list[Box]] = {}
        for plan, rendered in plan_frames(frames, self.num_frames, self.reuse):
            if plan.read:
                own[plan.index] = self.read(rendered, plan.areas)
            yield plan.index, own.get(plan.index, []) + [
                box for k in plan.reuse for box in own.get(k, [])
            ]

    def read(self, rendered: RenderedFrame, areas: Sequence[Box] | None = None) -> list[Box]:
        """PHI boxes of one rendered image (``areas``: read only there)."""
        return find_in_frame(self.engine, self.detector, rendered, self.header, areas=areas,
                             padding=self.padding, merge_gap=self.merge_gap).boxes


def streamable(path: str) -> bool:
    """Whether a local file can take the frame-by-frame route.

    Files it cannot take (deflated or big endian, no Pixel Data such as an
    encapsulated document, an overlay embedded in Pixel Data, or a header
    the frame reader refuses) go through the in-memory pipeline instead,
    under its size limits, so they are cleaned as every other file is.
    Only the header is read.
    """
    from sparkdeid.dicom.frame_source import FrameSource

    try:
        with FrameSource(path) as source:
            return not any(plane.embedded for plane in overlay_planes(source.header))
    except Exception:  # noqa: BLE001 - the in-memory route reports what is wrong
        return False


def deidentify_large_path(src: str, dst: str, settings: LargeFileSettings) -> LargeFileResult:
    """One big file, disk to disk, as the in-memory full pipeline would de-identify it.

    Pixels through the pipeline's frame plan (sampled, or every frame with
    reuse), overlays cleaned in the header, Burned In Annotation set as
    DicomDrawRegions sets it, then the metadata strategy.

    Raises
    ------
    DocumentNotCleanableError
        The file holds an encapsulated document (fail closed, nothing written).
    DicomDecodeError, DicomEncodeError
        The file cannot be streamed (deflated or big endian, an overlay
        embedded in Pixel Data, a malformed overlay) or a frame cannot be
        read or re-encoded; nothing is written.
    """
    from sparkdeid.dicom.frame_source import FrameSource

    try:
        opened = FrameSource(src)
    except DicomDecodeError:
        _refuse_document(src)
        raise
    with opened as source:
        check_header(source.header, settings.limits, per_frame=True)
        original = source.header
        _refuse_document_header(original)
        header = header_terms_of(original)
        frames = source.num_frames
        planes = overlay_planes(original)  # malformed overlays fail the file, as in memory
        embedded = [plane.name for plane in planes if plane.embedded]
        if embedded:
            raise DicomEncodeError(
                f"overlay {embedded[0]} is embedded in Pixel Data: the large-file route does not "
                "remove embedded overlays"
            )
        finder = FrameBoxFinder(settings, header, frames)
        found = overlay_regions(original, planes, finder) if settings.render_overlays else {}
        indices = frame_indices(frames, settings.frame_limit, settings.frame_sampling)
        sampled = len(indices) < frames
        regions = sampled_regions(source, indices, finder) if sampled else None
    engine = compiled_engine(settings.metadata)
    # as DicomDrawRegions: Burned In Annotation is claimed only when every frame was read
    mark = settings.mark_clean and not sampled

    def transform(ds: Dataset) -> None:
        clean_overlays_in(ds, found, remove=settings.overlays == "remove")
        if mark:
            mark_burned_in_clean(ds)
        engine.deidentify(ds)

    result = deidentify_large_file(
        src, dst,
        frame_boxes=None if sampled else finder.frame_boxes,
        regions=regions,
        header_transform=transform,
        fill=settings.fill,
        render_width=settings.render_width,
        shared_stretch=not finder.every_frame,
    )
    if settings.residual is not None:
        check_residual_header(original, dst, settings.residual)
    return result


def overlay_regions(
    ds: Dataset, planes: Sequence[OverlayPlane], finder: FrameBoxFinder
) -> dict[str, dict[int, list[Box]]]:
    """PHI boxes of every overlay frame, by plane name, read as DicomToImage's overlay rows
    are (white on black, overlay pixels, no areas, no reuse)."""
    found: dict[str, dict[int, list[Box]]] = {}
    for plane in planes:
        if plane.embedded:
            continue
        for index in range(plane.number_of_frames):
            image = render_overlay(overlay_bits(ds, plane, index))
            rendered = RenderedFrame(image=image, scale=1.0, original_height=plane.rows,
                                     original_width=plane.columns)
            boxes = finder.read(rendered)
            if boxes:
                found.setdefault(plane.name, {})[index] = boxes
    return found


def sampled_regions(
    source: Any, indices: Sequence[int], finder: FrameBoxFinder
) -> dict[int, list[Box]]:
    """Boxes of every frame when only ``indices`` are read (first pass, one frame at a time).

    Each sampled frame is read whole with its own rendering, as DicomToImage
    reads sampled frames; every other frame gets the boxes of all sampled
    frames, as :func:`~sparkdeid.stages.draw_regions.frame_regions` gives them.
    """
    own = {index: finder.read(source.rendered_frame(index, finder.render_width))
           for index in indices}
    everywhere = [box for index in indices for box in own[index]]
    regions = {index: boxes for index, boxes in own.items() if boxes}
    if everywhere:
        for index in range(source.num_frames):
            if index not in own:
                regions[index] = list(everywhere)
    return regions


def mark_burned_in_clean(ds: Dataset) -> None:
    """Burned In Annotation = NO, left as it is when it already says NO (as mask_pixels)."""
    try:
        current = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    except Exception:
        current = ""
    if current != "NO":
        ds.BurnedInAnnotation = "NO"


def _refuse_document_header(ds: Dataset) -> None:
    if ENCAPSULATED_DOCUMENT in ds:
        raise DocumentNotCleanableError(
            "an encapsulated document is not cleaned on the large-file route; the file fails "
            "closed (raise the large-file threshold to clean it in memory)",
            reason="large-file-route",
        )


def _refuse_document(src: str) -> None:
    """Fail closed, with a clear reason, on a file that holds an encapsulated document.

    Such files have no Pixel Data to stream; the header is read with large
    values deferred, so the document itself is not loaded.
    """
    import pydicom

    try:
        ds = pydicom.dcmread(src, stop_before_pixels=True, force=True, defer_size=4096)
    except Exception:
        return  # the frame reader's own error says what is wrong
    _refuse_document_header(ds)


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
