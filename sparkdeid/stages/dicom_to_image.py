"""DicomToImage: one row per frame, rendered 8-bit for OCR, plus the file's header terms.

With ``frameReuse`` (the default) a multi-frame file still gets one row per
frame, but only frames with something new to read carry an image: the
others name the earlier frames whose regions apply to them
(:mod:`sparkdeid.ocr.frame_reuse`), and a frame that shows new text only in
part of the picture is read only there (``ocr_areas``).

With ``renderOverlays`` each frame of each overlay plane (60xx) gets a row
of its own (``plane`` = the group, ``frame`` = the overlay frame), rendered
white on black without the image under it, so its text is read cleanly and
only its bits are cleared later.

A file's bytes ride along on its *first* frame row only (with ``keepInput``),
so a 500-frame cine does not copy its bytes 500 times through the shuffle
that DicomDrawRegions needs to rebuild it. A file without Pixel Data still
gets one row (frame -1, no image) so every input is accounted for; a file
that cannot be read gets one error row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import ArrayType, IntegerType, StructField, StructType

from sparkdeid import schemas
from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.frames import (
    FRAME_SAMPLING,
    RenderedFrame,
    frame_indices,
    pixel_info,
    render_frame,
)
from sparkdeid.dicom.limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_DECODED_PIXELS,
    DEFAULT_MAX_FRAMES,
    check_header,
)
from sparkdeid.dicom.overlays import overlay_bits, overlay_planes, render_overlay
from sparkdeid.ner.header import header_terms_of
from sparkdeid.ocr.frame_reuse import planned_frames
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.cells import image_cell
from sparkdeid.stages.params import (
    HasFrameCols,
    HasHeaderTermsCol,
    HasInputCol,
    HasKeepInput,
    HasOutputCol,
    HasPathCol,
    HasResourceLimits,
    one_of,
)
from sparkdeid.stages.rows import row_failure, source_bytes

NO_PIXELS_FRAME = -1
FRAME_REUSE = ("changed", "strict", "off")
# Rendered frames are flushed to Spark once this many image bytes are buffered,
# so memory stays bounded whatever the size of one file.
_FLUSH_BYTES = 64 * 1024 * 1024


class _DicomToImageParams(
    HasInputCol, HasOutputCol, HasPathCol, HasKeepInput, HasResourceLimits, HasFrameCols,
    HasHeaderTermsCol,
):
    frameLimit: Param[int] = Param(
        Params._dummy(),
        "frameLimit",
        "maximum number of frames per file to render (0 = all frames); which ones is chosen "
        "by frameSampling",
        typeConverter=TypeConverters.toInt,
    )
    frameSampling: Param[str] = Param(
        Params._dummy(),
        "frameSampling",
        f"which frames to render when frameLimit is set: one of {', '.join(FRAME_SAMPLING)}; "
        "files whose frames are not all rendered are never marked as cleaned",
        typeConverter=one_of("frameSampling", FRAME_SAMPLING),
    )
    scale: Param[int] = Param(
        Params._dummy(),
        "scale",
        "target width in pixels of the rendered image (0 = original size); the factor "
        "used is recorded in the image struct so boxes map back to original pixels",
        typeConverter=TypeConverters.toInt,
    )
    memoryOptimized: Param[bool] = Param(
        Params._dummy(),
        "memoryOptimized",
        "decode and hand over frames a few at a time (bounded memory for big multi-frame "
        "files); off = buffer a whole input batch before handing it over",
        typeConverter=TypeConverters.toBoolean,
    )
    frameReuse: Param[str] = Param(
        Params._dummy(),
        "frameReuse",
        "multi-frame files with every frame selected: 'changed' reads a frame only where "
        "it differs from the last frame read and new text strokes appear; 'strict' reads "
        "every changed area whatever it holds; 'off' reads every frame whole",
        typeConverter=one_of("frameReuse", FRAME_REUSE),
    )
    renderOverlays: Param[bool] = Param(
        Params._dummy(),
        "renderOverlays",
        "also emit one row per frame of each overlay plane (60xx) stored apart from Pixel "
        "Data, so text in overlays is read and cleaned",
        typeConverter=TypeConverters.toBoolean,
    )


class DicomToImage(DeidStage, _DicomToImageParams):
    """Decode DICOM pixel data frame by frame into 8-bit images for OCR.

    Modality and VOI windowing are applied where the file has them, otherwise
    a robust min-max stretch; palette and YBR colour become RGB. Its output
    rows are frames, so ``skip`` drops nothing here: a file that fails is
    dropped whole by DicomDrawRegions (see :class:`~sparkdeid.stages.base.DeidStage`).
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.CONTENT_COL,
        outputCol: str = schemas.IMAGE_COL,
        pathCol: str = schemas.PATH_COL,
        keepInput: bool = True,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        frameLimit: int = 0,
        frameSampling: str = "all",
        scale: int = 0,
        memoryOptimized: bool = True,
        headerTermsCol: str = schemas.HEADER_TERMS_COL,
        frameCol: str = schemas.FRAME_COL,
        numFramesCol: str = schemas.NUM_FRAMES_COL,
        frameReuse: str = "changed",
        renderOverlays: bool = True,
        maxFileBytes: int = DEFAULT_MAX_BYTES,
        maxFrames: int = DEFAULT_MAX_FRAMES,
        maxDecodedPixels: int = DEFAULT_MAX_DECODED_PIXELS,
    ) -> None:
        super().__init__()

    def setFrameLimit(self, value: int) -> DicomToImage:
        return self._set(frameLimit=value)

    def getFrameLimit(self) -> int:
        return self.getOrDefault(self.frameLimit)

    def setFrameSampling(self, value: str) -> DicomToImage:
        return self._set(frameSampling=value)

    def getFrameSampling(self) -> str:
        return self.getOrDefault(self.frameSampling)

    def setScale(self, value: int) -> DicomToImage:
        return self._set(scale=value)

    def getScale(self) -> int:
        return self.getOrDefault(self.scale)

    def setMemoryOptimized(self, value: bool) -> DicomToImage:
        return self._set(memoryOptimized=value)

    def getMemoryOptimized(self) -> bool:
        return self.getOrDefault(self.memoryOptimized)

    def setFrameReuse(self, value: str) -> DicomToImage:
        return self._set(frameReuse=value)

    def getFrameReuse(self) -> str:
        return self.getOrDefault(self.frameReuse)

    def setRenderOverlays(self, value: bool) -> DicomToImage:
        return self._set(renderOverlays=value)

    def getRenderOverlays(self) -> bool:
        return self.getOrDefault(self.renderOverlays)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, output_col, path_col = self.getInputCol(), self.getOutputCol(), self.getPathCol()
        error_col, handle_invalid = self.getErrorCol(), self.getHandleInvalid()
        frame_col, frames_col, terms_col = (
            self.getFrameCol(), self.getNumFramesCol(), self.getHeaderTermsCol()
        )
        keep_input = self.getKeepInput() or input_col == path_col
        limit, sampling, width = self.getFrameLimit(), self.getFrameSampling(), self.getScale()
        flush_bytes = _FLUSH_BYTES if self.getMemoryOptimized() else None
        reuse = self.getFrameReuse()
        areas_col, reuse_col = schemas.OCR_AREAS_COL, schemas.REUSE_FRAMES_COL
        plane_col, overlays = schemas.PLANE_COL, self.getRenderOverlays()
        limits = self.file_limits()

        fields = [
            StructField(output_col, schemas.IMAGE_TYPE, True),
            StructField(frame_col, IntegerType(), True),
            StructField(frames_col, IntegerType(), True),
            StructField(areas_col, schemas.AREAS_TYPE, True),
            StructField(reuse_col, ArrayType(IntegerType(), False), True),
            StructField(plane_col, schemas.FIELD_STRING, True),
        ]
        if terms_col:
            fields.append(StructField(terms_col, schemas.HEADER_TERMS_TYPE, True))
        schema = self._row_job(
            dataset.schema, input_col, fields, keep_input=keep_input, whole_files=False
        ).schema
        produced = {f.name for f in fields} | {error_col}
        carried_names = [name for name in schema.fieldNames() if name not in produced]

        def frames_of(content: bytes, origin: str) -> Iterator[dict[str, Any]]:
            ds = read_dataset(content)
            check_header(ds, limits)  # before any frame is decoded
            terms = (
                [{"kind": t.kind, "value": t.value} for t in header_terms_of(ds)]
                if terms_col else None
            )
            info = pixel_info(ds)
            if info is None:
                yield {output_col: None, frame_col: NO_PIXELS_FRAME, frames_col: 0,
                       terms_col: terms}
                return
            if overlays:
                yield from overlay_rows(ds, origin, output_col, frame_col,
                                        {frames_col: info.num_frames, terms_col: terms})
            indices = frame_indices(info.num_frames, limit, sampling)
            common = {frames_col: info.num_frames, terms_col: terms}
            if reuse == "off" or len(indices) < info.num_frames or info.num_frames == 1:
                for index in indices:
                    yield {output_col: image_cell(render_frame(ds, index, width), origin),
                           frame_col: index, **common}
                return
            for plan, rendered in planned_frames(ds, info, width, reuse):
                yield {
                    output_col: image_cell(rendered, origin) if plan.read else None,
                    frame_col: plan.index,
                    areas_col: None if plan.areas is None else [
                        {"x0": b.x0, "y0": b.y0, "x1": b.x1, "y1": b.y1} for b in plan.areas
                    ],
                    reuse_col: list(plan.reuse),
                    frames_col: info.num_frames,
                    # header terms serve NER only: a frame with nothing to read needs none
                    terms_col: terms if plan.read else None,
                }

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            out: list[dict[str, Any]] = []
            buffered = 0
            for pdf in batches:
                upstream = pdf[error_col] if error_col in pdf.columns else None
                for index in range(len(pdf)):
                    row = pdf.iloc[index]
                    base = {name: row[name] for name in carried_names}
                    path = str(row[path_col]) if path_col in pdf.columns else ""
                    if upstream is not None and isinstance(upstream.iloc[index], str):
                        out.append({**base, error_col: upstream.iloc[index]})
                        continue
                    first = True
                    try:
                        content = source_bytes(row[input_col], limits.max_bytes)
                        for frame in frames_of(content, path):
                            record = {**base, **frame, error_col: None}
                            if not first and input_col != path_col and input_col in record:
                                record[input_col] = None  # bytes ride on the first frame only
                            first = False
                            out.append(record)
                            image = frame[output_col]
                            buffered += len(image["data"]) if image else 0
                            if flush_bytes is not None and buffered >= flush_bytes:
                                yield _frame(out, schema)
                                out, buffered = [], 0
                    except Exception as exc:  # one bad file never stops the job
                        error = row_failure(exc, handle_invalid, path)
                        # frames already emitted stay, marked failed, so the file is
                        # rebuilt nowhere and reported once as an error
                        out.append({**base, error_col: error})
                if out and flush_bytes is None:
                    yield _frame(out, schema)
                    out, buffered = [], 0
            if out:
                yield _frame(out, schema)

        # 'skip' is applied where files are whole again (DicomDrawRegions): dropping
        # one failed frame row here would let a half-scanned file through.
        return dataset.mapInPandas(partition, schema)


def overlay_rows(
    ds: Any, origin: str, image_col: str, frame_col: str, common: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """One row per frame of each overlay plane kept apart from Pixel Data."""
    for plane in overlay_planes(ds):
        if plane.embedded:
            continue  # removed whole by DicomDrawRegions: its bits cannot be edited alone
        for index in range(plane.number_of_frames):
            image = render_overlay(overlay_bits(ds, plane, index))
            rendered = RenderedFrame(image=image, scale=1.0, original_height=plane.rows,
                                     original_width=plane.columns)
            yield {image_col: image_cell(rendered, origin), frame_col: index,
                   schemas.PLANE_COL: plane.name, **common}


def _frame(records: list[dict[str, Any]], schema: StructType) -> pd.DataFrame:
    names = schema.fieldNames()
    return pd.DataFrame([{name: r.get(name) for name in names} for r in records], columns=names)
