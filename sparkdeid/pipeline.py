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
from typing import Any

from pyspark.ml import Pipeline

from sparkdeid import schemas
from sparkdeid.dicom.limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODED_PIXELS,
    DEFAULT_MAX_FRAMES,
)
from sparkdeid.stages.dicom_to_image import DicomToImage
from sparkdeid.stages.document_cleaner import DOCUMENT_DICOM_COL, DicomDocumentCleaner
from sparkdeid.stages.draw_regions import DicomDrawRegions
from sparkdeid.stages.metadata_deidentifier import DicomMetadataDeidentifier
from sparkdeid.stages.ner_deid import NerDeid
from sparkdeid.stages.position_finder import PositionFinder
from sparkdeid.stages.residual_gate import ResidualPhiGate
from sparkdeid.stages.text_detector import TextDetector
from sparkdeid.verify.residual import GateMode, gate_mode


def metadata_deidentifier(
    *,
    input_col: str = schemas.CONTENT_COL,
    strategy: str = "tcia",
    group_strategy: str = "",
    secret_file: str = "",
    remove_private_tags: bool = True,
    pixel_data_cleaned: bool = False,
    cleaned_upstream: Sequence[str] = (),
    max_file_bytes: int = DEFAULT_MAX_BYTES,
) -> DicomMetadataDeidentifier:
    return DicomMetadataDeidentifier(
        inputCol=input_col,
        outputCol=schemas.DICOM_COL,
        strategyFile=strategy,
        groupStrategyFile=group_strategy,
        secretFile=secret_file,
        removePrivateTags=remove_private_tags,
        pixelDataCleaned=pixel_data_cleaned,
        cleanedUpstream=list(cleaned_upstream),
        maxFileBytes=max_file_bytes,
    )


def residual_gate(
    deidentifier: DicomMetadataDeidentifier,
    residual_check: str = "metadata",
    *,
    engine: str = "rapidocr",
    engine_options: Mapping[str, Any] | None = None,
    original_col: str = schemas.PATH_COL,
) -> list[ResidualPhiGate]:
    """The residual-PHI gate for ``deidentifier``'s output (none for ``off``).

    ``metadata`` (default, cheap) looks for each original's identifying values
    in its output; ``pixels`` also OCRs the output's first, middle and last
    frames for the original's header values (about doubles OCR cost). Values
    the strategy keeps on purpose are not flagged; a flagged file becomes an
    error row, which the jobs quarantine. See :mod:`sparkdeid.verify.residual`.
    """
    mode = gate_mode(residual_check)
    if mode is GateMode.OFF:
        return []
    return [ResidualPhiGate.for_deidentifier(
        deidentifier, mode=mode.value, originalCol=original_col, engine=engine,
        engineOptions=json.dumps(dict(engine_options or {})),
    )]


def metadata_pipeline(
    *, input_col: str = schemas.CONTENT_COL, residual_check: str = "metadata", **metadata: Any
) -> Pipeline:
    """Metadata de-identification only: Pixel Data is copied byte for byte.

    ``residual_check`` (``metadata`` / ``pixels`` / ``off``): see :func:`residual_gate`.
    """
    deidentifier = metadata_deidentifier(input_col=input_col, **metadata)
    return Pipeline(stages=[deidentifier, *residual_gate(deidentifier, residual_check)])


def full_pipeline(
    *,
    input_col: str = schemas.CONTENT_COL,
    agg_cols: Sequence[str] = (schemas.PATH_COL,),
    engine: str = "rapidocr",
    engine_options: Mapping[str, Any] | None = None,
    scale: int = 0,
    frame_limit: int = 0,
    frame_sampling: str = "all",
    frame_reuse: str = "changed",
    overlays: str = "clean",
    documents: str = "clean",
    fail_closed: bool = True,
    redact_all: bool = False,
    min_confidence: float = 0.8,
    padding: float = 2.0,
    fill: str = "black",
    force_output: bool = False,
    max_file_bytes: int = DEFAULT_MAX_BYTES,
    max_frames: int = DEFAULT_MAX_FRAMES,
    max_decoded_pixels: int = DEFAULT_MAX_DECODED_PIXELS,
    residual_check: str = "metadata",
    **metadata: Any,
) -> Pipeline:
    """Pixels (OCR + PHI detection + masking) then metadata, one output row per file.

    ``frame_reuse`` (``changed`` / ``strict`` / ``off``) decides how much of a
    multi-frame file is read (see :class:`DicomToImage`). ``overlays``:
    ``clean`` reads each overlay plane and clears the PHI bits in it,
    ``remove`` deletes overlays. ``documents``: ``clean`` redacts encapsulated
    PDF / CDA documents (removing, and recording in ``document_action``,
    those that cannot be cleaned), ``remove`` leaves them to the strategy
    (which empties them). ``max_file_bytes``, ``max_frames`` and
    ``max_decoded_pixels`` are the per-file limits of :mod:`sparkdeid.dicom.limits`
    (0 = none): a file over one is an error row, refused before it is read or
    decoded. ``residual_check`` (``metadata`` / ``pixels`` / ``off``) appends the
    residual-PHI gate (:func:`residual_gate`). ``metadata`` keywords go to
    :func:`metadata_deidentifier` (strategy, secret_file, group_strategy,
    remove_private_tags).
    """
    if documents not in ("clean", "remove"):
        raise ValueError("documents must be 'clean' or 'remove'")
    cleaned = [name for name, on in (("overlays", overlays == "clean"),
                                     ("documents", documents == "clean")) if on]
    stages: list[Any] = [
        DicomToImage(
            inputCol=input_col,
            keepInput=True,
            scale=scale,
            frameLimit=frame_limit,
            frameSampling=frame_sampling,
            frameReuse=frame_reuse,
            renderOverlays=overlays == "clean",
            maxFileBytes=max_file_bytes,
            maxFrames=max_frames,
            maxDecodedPixels=max_decoded_pixels,
        ),
        TextDetector(engine=engine, engineOptions=json.dumps(dict(engine_options or {}))),
        NerDeid(failClosed=fail_closed, redactAll=redact_all, minConfidence=min_confidence),
        PositionFinder(padding=padding, mergeGap=padding),
        DicomDrawRegions(
            inputCols=[input_col, schemas.REGIONS_COL],
            aggCols=list(agg_cols),
            fill=fill,
            forceOutput=force_output,
            overlays=overlays,
        ),
    ]
    last = schemas.MASKED_DICOM_COL
    if documents == "clean":
        # before the metadata stage: the document is searched for the header's names
        stages.append(DicomDocumentCleaner(
            inputCol=last, outputCol=DOCUMENT_DICOM_COL, keepInput=False, engine=engine,
            engineOptions=json.dumps(dict(engine_options or {})), failClosed=fail_closed,
            minConfidence=min_confidence, redactAll=redact_all,
        ))
        last = DOCUMENT_DICOM_COL
    # Clean Pixel Data is claimed only when every frame is scanned.
    deidentifier = metadata_deidentifier(
        input_col=last,
        pixel_data_cleaned=frame_limit == 0,
        cleaned_upstream=cleaned,
        max_file_bytes=max_file_bytes,
        **metadata,
    )
    stages.append(deidentifier)
    stages += residual_gate(deidentifier, residual_check, engine=engine,
                            engine_options=engine_options)
    return Pipeline(stages=stages)


def anonymisation_pipeline(**kwargs: Any) -> Pipeline:
    """Full anonymisation: every burned-in word masked, the Basic profile for metadata."""
    kwargs.setdefault("strategy", "basic")
    return full_pipeline(redact_all=True, **kwargs)
