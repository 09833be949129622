"""PositionFinder: entity spans -> the boxes of the words they touch -> merged pixel regions.

An entity that covers part of a word masks the whole word: OCR word boxes
are the finest geometry we have, and half a name is still a name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.ner.finder import DEFAULT_PADDING, locate
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.cells import entities_of, frame_text_of, region_cell
from sparkdeid.stages.params import HasInputCols, HasOutputCol


class _PositionFinderParams(HasInputCols, HasOutputCol):
    padding: Param[float] = Param(
        Params._dummy(),
        "padding",
        "pixels (original resolution) added on every side of a word box before masking, "
        "so anti-aliased glyph edges are covered; at least a fifth of the word's height",
        typeConverter=TypeConverters.toFloat,
    )
    mergeGap: Param[float] = Param(
        Params._dummy(),
        "mergeGap",
        "padded boxes closer than this many pixels are merged into one region",
        typeConverter=TypeConverters.toFloat,
    )


class PositionFinder(DeidStage, _PositionFinderParams):
    """Map NerDeid entities to pixel regions; inputCols = [OCR column, entities column].

    A frame row is never dropped (see :class:`~sparkdeid.stages.base.DeidStage`).
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: Sequence[str] = (schemas.OCR_COL, schemas.ENTITIES_COL),
        outputCol: str = schemas.REGIONS_COL,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        padding: float = DEFAULT_PADDING,
        mergeGap: float = DEFAULT_PADDING,
    ) -> None:
        super().__init__()

    def setPadding(self, value: float) -> PositionFinder:
        return self._set(padding=value)

    def getPadding(self) -> float:
        return self.getOrDefault(self.padding)

    def setMergeGap(self, value: float) -> PositionFinder:
        return self._set(mergeGap=value)

    def getMergeGap(self) -> float:
        return self.getOrDefault(self.mergeGap)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        ocr_col, entities_col = self.getInputCols()
        output_col, padding, gap = self.getOutputCol(), self.getPadding(), self.getMergeGap()
        job = self._row_job(
            dataset.schema, ocr_col, [StructField(output_col, schemas.REGIONS_TYPE, True)],
            keep_input=True, whole_files=False, extra_cols=(entities_col,), label="locating",
        )

        def find(ocr: Any, extras: dict[str, Any]) -> dict[str, Any]:
            if ocr is None:
                return {output_col: []}
            entities = entities_of(extras.get(entities_col))
            regions = locate(frame_text_of(ocr), entities, padding=padding, merge_gap=gap)
            return {output_col: [region_cell(region) for region in regions]}

        return job.map_rows(dataset, find)
