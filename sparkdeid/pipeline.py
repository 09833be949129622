"""Ready-made pipelines: metadata only, full (metadata + pixels), full anonymisation.

Column flow of the full pipeline::

    content|path ─ DicomToImage ─ image, frame, header_terms (bytes kept on frame 0)
                   TextDetector ─ ocr (word boxes in original pixels)
                   NerDeid ────── entities (fail-closed by default)
                   PositionFinder regions
                   DicomDrawRegions ─ masked_dicom (one row per file again)
                   DicomMetadataDeidentifier ─ dicom

The pixel stages run first because header-informed NER reads the original
header; the metadata stage then de-identifies the rebuilt file and records
Clean Pixel Data in (0012,0064).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline

from sparkdeid import schemas
from sparkdeid.dicom.frames import FRAME_SAMPLING
from sparkdeid.dicom.limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODED_PIXELS,
    DEFAULT_MAX_FRAMES,
)
from sparkdeid.ner.finder import DEFAULT_PADDING
from sparkdeid.stages.dicom_to_image import FRAME_REUSE, DicomToImage
from sparkdeid.stages.document_cleaner import DOCUMENT_DICOM_COL, DicomDocumentCleaner
from sparkdeid.stages.draw_regions import FILL_CHOICES, OVERLAY_MODES, DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector
from sparkdeid.verify.residual import GATE_MODES, GateMode, gate_mode

# encapsulated documents: redacted by DicomDocumentCleaner, or left to the strategy
DOCUMENT_MODES = ("clean", "remove")


@dataclass(frozen=True)
class DeidSettings:
    """Every choice of a de-identification run, made once and turned into its pipeline.

    The command line (:func:`sparkdeid.jobs.options.deid_run`) and the API
    (:func:`full_pipeline` and its siblings) both build one of these, so a
    default is written here only. The batch job, the stream and the
    large-file route all run the pipeline it makes; the large-file route
    reads its settings back from that fitted pipeline
    (:func:`sparkdeid.jobs.large_files.large_file_settings`), so a pipeline
    put together by hand from the stages gets the same treatment.
    """

    metadata_only: bool = False
    redact_all: bool = False
    # metadata (DicomMetadataDeidentifier); "" = tcia, or basic with redact_all
    strategy: str = ""
    group_strategy: str = ""
    secret_file: str = ""
    remove_private_tags: bool = True
    pixel_data_cleaned: bool = False
    cleaned_upstream: tuple[str, ...] = ()
    # pixels
    engine: str = "rapidocr"
    engine_options: tuple[tuple[str, Any], ...] = ()
    scale: int = 0
    frame_limit: int = 0
    frame_sampling: str = "all"
    frame_reuse: str = "changed"
    overlays: str = "clean"
    documents: str = "clean"
    fail_closed: bool = True
    min_confidence: float = 0.8
    padding: float = DEFAULT_PADDING
    fill: str = "black"
    force_output: bool = False
    # per-file limits (sparkdeid.dicom.limits; 0 = none)
    max_file_bytes: int = DEFAULT_MAX_BYTES
    max_frames: int = DEFAULT_MAX_FRAMES
    max_decoded_pixels: int = DEFAULT_MAX_DECODED_PIXELS
    residual_check: str = GateMode.METADATA.value
    # columns: where each file is read from, and what identifies a file's frame rows
    input_col: str = schemas.CONTENT_COL
    agg_cols: tuple[str, ...] = (schemas.PATH_COL,)

    def __post_init__(self) -> None:
        for name, value, choices in (
            ("frame_sampling", self.frame_sampling, FRAME_SAMPLING),
            ("frame_reuse", self.frame_reuse, FRAME_REUSE),
            ("overlays", self.overlays, OVERLAY_MODES),
            ("documents", self.documents, DOCUMENT_MODES),
            ("fill", self.fill, FILL_CHOICES),
            ("residual_check", self.residual_check, GATE_MODES),
        ):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}")

    @classmethod
    def of(cls, **options: Any) -> DeidSettings:
        """Settings from keyword options as the API takes them (mappings and lists allowed)."""
        if isinstance(options.get("engine_options"), Mapping):
            options["engine_options"] = tuple(sorted(options["engine_options"].items()))
        for name in ("cleaned_upstream", "agg_cols"):
            if name in options:
                options[name] = tuple(options[name])
        return cls(**options)

    @property
    def strategy_name(self) -> str:
        return self.strategy or ("basic" if self.redact_all else "tcia")

    def _engine_options_json(self) -> str:
        return json.dumps(dict(self.engine_options))

    def deidentifier(
        self, input_col: str | None = None, *, pixels_cleaned: bool | None = None,
        cleaned: Sequence[str] | None = None,
    ) -> DicomMetadataDeidentifier:
        """The metadata stage (also how a run checks its strategy and secret before Spark)."""
        return DicomMetadataDeidentifier(
            inputCol=self.input_col if input_col is None else input_col,
            outputCol=schemas.DICOM_COL,
            strategyFile=self.strategy_name,
            groupStrategyFile=self.group_strategy,
            secretFile=self.secret_file,
            removePrivateTags=self.remove_private_tags,
            pixelDataCleaned=self.pixel_data_cleaned if pixels_cleaned is None
            else pixels_cleaned,
            cleanedUpstream=list(self.cleaned_upstream if cleaned is None else cleaned),
            maxFileBytes=self.max_file_bytes,
        )

    def gate(self, deidentifier: DicomMetadataDeidentifier) -> list[ResidualPhiGate]:
        """The residual-PHI gate for ``deidentifier``'s output (none for ``off``).

        ``metadata`` (default, cheap) looks for each original's identifying
        values in its output; ``pixels`` also OCRs the output's first, middle
        and last frames for the original's header values (about doubles OCR
        cost). Values the strategy keeps on purpose are not flagged; a flagged
        file becomes an error row, which the jobs quarantine. See
        :mod:`sparkdeid.verify.residual`.
        """
        mode = gate_mode(self.residual_check)
        if mode is GateMode.OFF:
            return []
        return [ResidualPhiGate.for_deidentifier(
            deidentifier, mode=mode.value, originalCol=schemas.PATH_COL, engine=self.engine,
            engineOptions=self._engine_options_json(),
        )]

    def pipeline(self) -> Pipeline:
        """The pipeline these settings describe, not fitted."""
        if self.metadata_only:
            deidentifier = self.deidentifier()
            return Pipeline(stages=[deidentifier, *self.gate(deidentifier)])
        return Pipeline(stages=self._pixel_stages())

    def _pixel_stages(self) -> list[Any]:
        cleaned = [name for name, on in (("overlays", self.overlays == "clean"),
                                         ("documents", self.documents == "clean")) if on]
        stages: list[Any] = [
            DicomToImage(
                inputCol=self.input_col,
                keepInput=True,
                scale=self.scale,
                frameLimit=self.frame_limit,
                frameSampling=self.frame_sampling,
                frameReuse=self.frame_reuse,
                renderOverlays=self.overlays == "clean",
                maxFileBytes=self.max_file_bytes,
                maxFrames=self.max_frames,
                maxDecodedPixels=self.max_decoded_pixels,
            ),
            TextDetector(engine=self.engine, engineOptions=self._engine_options_json()),
            NerDeid(failClosed=self.fail_closed, redactAll=self.redact_all,
                    minConfidence=self.min_confidence),
            PositionFinder(padding=self.padding, mergeGap=self.padding),
            DicomDrawRegions(
                inputCols=[self.input_col, schemas.REGIONS_COL],
                aggCols=list(self.agg_cols),
                fill=self.fill,
                forceOutput=self.force_output,
                overlays=self.overlays,
            ),
        ]
        last = schemas.MASKED_DICOM_COL
        if self.documents == "clean":
            # before the metadata stage: the document is searched for the header's names
            stages.append(DicomDocumentCleaner(
                inputCol=last, outputCol=DOCUMENT_DICOM_COL, keepInput=False,
                engine=self.engine, engineOptions=self._engine_options_json(),
                failClosed=self.fail_closed, minConfidence=self.min_confidence,
                redactAll=self.redact_all,
            ))
            last = DOCUMENT_DICOM_COL
        # Clean Pixel Data is claimed only when every frame is scanned.
        deidentifier = self.deidentifier(last, pixels_cleaned=self.frame_limit == 0,
                                         cleaned=cleaned)
        return [*stages, deidentifier, *self.gate(deidentifier)]


def metadata_pipeline(**options: Any) -> Pipeline:
    """Metadata de-identification only: Pixel Data is copied byte for byte.

    Keywords are :class:`DeidSettings` fields (strategy, secret_file,
    group_strategy, remove_private_tags, residual_check, input_col, ...).
    """
    return DeidSettings.of(metadata_only=True, **options).pipeline()


def full_pipeline(**options: Any) -> Pipeline:
    """Pixels (OCR + PHI detection + masking) then metadata, one output row per file.

    Keywords are :class:`DeidSettings` fields. ``frame_reuse`` (``changed`` /
    ``strict`` / ``off``) decides how much of a multi-frame file is read (see
    :class:`DicomToImage`). ``overlays``: ``clean`` reads each overlay plane
    and clears the PHI bits in it, ``remove`` deletes overlays. ``documents``:
    ``clean`` redacts encapsulated PDF / CDA documents (removing, and
    recording in ``document_action``, those that cannot be cleaned),
    ``remove`` leaves them to the strategy (which empties them).
    ``max_file_bytes``, ``max_frames`` and ``max_decoded_pixels`` are the
    per-file limits of :mod:`sparkdeid.dicom.limits` (0 = none): a file over
    one is an error row, refused before it is read or decoded.
    ``residual_check`` (``metadata`` / ``pixels`` / ``off``) appends the
    residual-PHI gate (:meth:`DeidSettings.gate`).
    """
    return DeidSettings.of(**options).pipeline()


def anonymisation_pipeline(**options: Any) -> Pipeline:
    """Full anonymisation: every burned-in word masked, the Basic profile for metadata."""
    return DeidSettings.of(redact_all=True, **options).pipeline()
