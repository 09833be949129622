"""DicomDrawRegions: gather a file's frame rows, mask its regions, rebuild the DICOM.

Rows are grouped by ``aggCols`` (default ``path``). The file bytes come from
the one row that carries them (DicomToImage keeps them on the first frame) or
are read from the path. A file with no regions keeps its Pixel Data
byte-identical; changed frames are re-encoded in the file's own transfer
syntax by :func:`sparkdeid.dicom.pixel_writer.mask_pixels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import IntegerType, StructField, StructType

from sparkdeid import schemas
from sparkdeid.boxes import Box
from sparkdeid.dicom.overlays import clean_overlays
from sparkdeid.dicom.pixel_writer import mask_pixels
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.cells import region_boxes
from sparkdeid.stages.params import (
    HasFrameCols,
    HasInputCols,
    HasKeepInput,
    HasOutputCol,
    HasPathCol,
    one_of,
)
from sparkdeid.stages.rows import row_failure, source_bytes

FILL_CHOICES = ("black", "background")
OVERLAY_MODES = ("clean", "remove")
REGIONS_MASKED_COL = "regions_masked"


class _DicomDrawRegionsParams(HasInputCols, HasOutputCol, HasPathCol, HasKeepInput, HasFrameCols):
    aggCols: Param[list[str]] = Param(
        Params._dummy(),
        "aggCols",
        "columns identifying one file; frame rows are grouped by them to rebuild it",
        typeConverter=TypeConverters.toListString,
    )
    fill: Param[str] = Param(
        Params._dummy(),
        "fill",
        "how masked pixels are filled: 'black' (the value that displays as black) or "
        "'background' (a robust estimate from the pixels around each region)",
        typeConverter=one_of("fill", FILL_CHOICES),
    )
    forceOutput: Param[bool] = Param(
        Params._dummy(),
        "forceOutput",
        "when a changed frame cannot be re-encoded in the file's transfer syntax here, "
        "write the file as Explicit VR Little Endian instead of failing it",
        typeConverter=TypeConverters.toBoolean,
    )
    markClean: Param[bool] = Param(
        Params._dummy(),
        "markClean",
        "set Burned In Annotation (0028,0301) to NO on files whose every frame was scanned",
        typeConverter=TypeConverters.toBoolean,
    )

    overlays: Param[str] = Param(
        Params._dummy(),
        "overlays",
        "overlay planes (60xx): 'clean' clears the bits inside regions found on overlay "
        "rows (overlays embedded in Pixel Data are removed); 'remove' deletes every overlay",
        typeConverter=one_of("overlays", OVERLAY_MODES),
    )


class DicomDrawRegions(DeidStage, _DicomDrawRegionsParams):
    """Mask pixel regions and rebuild each DICOM; inputCols = [file bytes or path, regions].

    Its rows are whole files again, so ``skip`` drops a file that failed here
    or in any frame row before (see :class:`~sparkdeid.stages.base.DeidStage`).
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: Sequence[str] = (schemas.CONTENT_COL, schemas.REGIONS_COL),
        outputCol: str = schemas.MASKED_DICOM_COL,
        pathCol: str = schemas.PATH_COL,
        keepInput: bool = False,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        aggCols: Sequence[str] = (schemas.PATH_COL,),
        frameCol: str = schemas.FRAME_COL,
        numFramesCol: str = schemas.NUM_FRAMES_COL,
        fill: str = "black",
        forceOutput: bool = False,
        markClean: bool = True,
        overlays: str = "clean",
    ) -> None:
        super().__init__()

    def setAggCols(self, value: list[str]) -> DicomDrawRegions:
        return self._set(aggCols=value)

    def getAggCols(self) -> list[str]:
        return self.getOrDefault(self.aggCols)

    def setFill(self, value: str) -> DicomDrawRegions:
        return self._set(fill=value)

    def getFill(self) -> str:
        return self.getOrDefault(self.fill)

    def setForceOutput(self, value: bool) -> DicomDrawRegions:
        return self._set(forceOutput=value)

    def getForceOutput(self) -> bool:
        return self.getOrDefault(self.forceOutput)

    def setMarkClean(self, value: bool) -> DicomDrawRegions:
        return self._set(markClean=value)

    def getMarkClean(self) -> bool:
        return self.getOrDefault(self.markClean)

    def setOverlays(self, value: str) -> DicomDrawRegions:
        return self._set(overlays=value)

    def getOverlays(self) -> str:
        return self.getOrDefault(self.overlays)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, regions_col = self.getInputCols()
        output_col, path_col, error_col = self.getOutputCol(), self.getPathCol(), self.getErrorCol()
        agg_cols, frame_col, frames_col = (
            self.getAggCols(), self.getFrameCol(), self.getNumFramesCol()
        )
        fill, force, mark = self.getFill(), self.getForceOutput(), self.getMarkClean()
        overlays = self.getOverlays()
        handle_invalid, keep_input = self.getHandleInvalid(), self.getKeepInput()
        if path_col not in agg_cols and path_col != input_col:
            path_col = ""
        present = set(dataset.columns)
        needed = list(dict.fromkeys(
            [*agg_cols, input_col, regions_col, frame_col, frames_col, error_col,
             schemas.REUSE_FRAMES_COL, schemas.PLANE_COL]
        ))
        selected = dataset.select(*[c for c in needed if c in present])

        fields = [
            StructField(f.name, f.dataType, f.nullable, f.metadata)
            for f in dataset.schema.fields
            if f.name in agg_cols
        ]
        if keep_input and input_col not in agg_cols:
            fields.append(StructField(input_col, dataset.schema[input_col].dataType, True))
        fields += [
            StructField(output_col, schemas.FIELD_BINARY, True),
            StructField(REGIONS_MASKED_COL, IntegerType(), True),
            StructField(error_col, schemas.FIELD_STRING, True),
        ]
        schema = StructType(fields)

        def rebuild(group: pd.DataFrame) -> pd.DataFrame:
            first = group.iloc[0]
            record: dict[str, Any] = {c: first[c] for c in agg_cols}
            record.update({output_col: None, REGIONS_MASKED_COL: None, error_col: None})
            content_cells = (
                [v for v in group[input_col] if v is not None] if input_col in group else []
            )
            if keep_input and input_col not in agg_cols:
                record[input_col] = content_cells[0] if content_cells else None
            errors = [e for e in group[error_col] if isinstance(e, str)] \
                if error_col in group else []
            name = str(first[path_col]) if path_col else ""
            if errors:
                record[error_col] = errors[0]
            else:
                try:
                    source = content_cells[0] if content_cells else (first[path_col] if path_col
                                                                      else None)
                    content = source_bytes(source)
                    image_rows, planes = _split_planes(group)
                    scanned = {int(f) for f in image_rows[frame_col]
                               if f is not None and f >= 0} if frame_col in group else set()
                    total = int(group[frames_col].dropna().max()) \
                        if frames_col in group and group[frames_col].notna().any() else 0
                    regions = frame_regions(image_rows, frame_col, regions_col, total)
                    complete = len(scanned) >= total
                    result = mask_pixels(
                        content, regions, fill=fill, force_output=force,
                        mark_clean=mark and complete,
                    )
                    found = {name: frame_regions(rows, frame_col, regions_col)
                             for name, rows in planes.items()}
                    cleaned, _ = clean_overlays(result.content, found,
                                                remove=overlays == "remove")
                    record[output_col] = cleaned
                    record[REGIONS_MASKED_COL] = sum(len(b) for b in regions.values()) + sum(
                        len(b) for plane in found.values() for b in plane.values()
                    )
                except Exception as exc:  # one bad file never stops the job
                    record[error_col] = row_failure(exc, handle_invalid, name)
            if handle_invalid == "skip" and record[error_col] is not None:
                return pd.DataFrame(columns=schema.fieldNames())
            return pd.DataFrame([record], columns=schema.fieldNames())

        return selected.groupBy(*agg_cols).applyInPandas(rebuild, schema)


def _split_planes(group: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """A file's Pixel Data rows, and its overlay rows by plane name."""
    if schemas.PLANE_COL not in group:
        return group, {}
    plane = group[schemas.PLANE_COL]
    image_rows = group[plane.isna()]
    overlays = {str(name): rows for name, rows in group[plane.notna()].groupby(plane.dropna())}
    return image_rows, overlays


def frame_regions(
    group: pd.DataFrame, frame_col: str, regions_col: str, num_frames: int = 0
) -> dict[int, list[Box]]:
    """Regions of every frame in a file's rows, as boxes by frame index.

    A row's ``reuse_frames`` (frame reuse) adds the regions found on those
    earlier frames. When frames were sampled, frames without a row get the
    regions of every scanned frame: sampling assumes frames share their
    annotations, so what was found anywhere is masked everywhere.
    """
    own: dict[int, list[Box]] = {}
    if regions_col not in group or frame_col not in group:
        return own
    reuse_col = schemas.REUSE_FRAMES_COL
    reused = list(group[reuse_col]) if reuse_col in group else [None] * len(group)
    borrowed: dict[int, list[int]] = {}
    for frame, regions, earlier in zip(group[frame_col], group[regions_col], reused, strict=True):
        if frame is None or frame < 0:
            continue
        boxes = region_boxes(regions)
        if boxes:
            own.setdefault(int(frame), []).extend(boxes)
        if earlier is not None and len(earlier):
            borrowed.setdefault(int(frame), []).extend(int(e) for e in earlier)
    found = {frame: list(boxes) for frame, boxes in own.items()}
    for frame, sources in borrowed.items():
        for source in sources:
            found.setdefault(frame, []).extend(own.get(source, []))
    scanned = {int(f) for f in group[frame_col] if f is not None and f >= 0}
    everywhere = [box for boxes in own.values() for box in boxes]
    if everywhere and num_frames > len(scanned):
        for frame in range(num_frames):
            if frame not in scanned:
                found[frame] = list(everywhere)
    return {frame: boxes for frame, boxes in found.items() if boxes}
