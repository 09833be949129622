"""PositionFinder: entity spans -> the boxes of the words they touch -> merged pixel regions.

An entity that covers part of a word masks the whole word: OCR word boxes
are the finest geometry we have, and half a name is still a name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.param.shared import HasInputCols, HasOutputCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.ner.finder import DEFAULT_PADDING, locate
from sparkdeid.stages.cells import entities_of, frame_text_of, region_cell
from sparkdeid.stages.params import HasErrorCol
from sparkdeid.stages.rows import RowSettings, output_schema


class _PositionFinderParams(HasInputCols, HasOutputCol, HasErrorCol):
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

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            inputCols=[schemas.OCR_COL, schemas.ENTITIES_COL],
            outputCol=schemas.REGIONS_COL,
            padding=DEFAULT_PADDING,
            mergeGap=DEFAULT_PADDING,
        )


class PositionFinder(
    Transformer, _PositionFinderParams, DefaultParamsReadable, DefaultParamsWritable
):
    """Map NerDeid entities to pixel regions; inputCols = [OCR column, entities column]."""

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        inputCols: list[str] | None = None,
        outputCol: str = schemas.REGIONS_COL,
        errorCol: str = schemas.ERROR_COL,
        padding: float = DEFAULT_PADDING,
        mergeGap: float = DEFAULT_PADDING,
    ) -> None:
        super().__init__()
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(
        self,
        *,
        inputCols: list[str] | None = None,
        outputCol: str = schemas.REGIONS_COL,
        errorCol: str = schemas.ERROR_COL,
        padding: float = DEFAULT_PADDING,
        mergeGap: float = DEFAULT_PADDING,
    ) -> PositionFinder:
        return self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def setInputCols(self, value: list[str]) -> PositionFinder:
        return self._set(inputCols=value)

    def setOutputCol(self, value: str) -> PositionFinder:
        return self._set(outputCol=value)

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
        settings = RowSettings(
            input_col=entities_col, path_col="", error_col=self.getErrorCol(),
            handle_invalid="keep", keep_input=True,
        )
        schema = output_schema(
            dataset.schema, settings, [StructField(output_col, schemas.REGIONS_TYPE, True)]
        )
        error_col = settings.error_col

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for pdf in batches:
                regions = [
                    [] if ocr is None else [
                        region_cell(region)
                        for region in locate(frame_text_of(ocr), entities_of(ents),
                                             padding=padding, merge_gap=gap)
                    ]
                    for ocr, ents in zip(pdf[ocr_col], pdf[entities_col], strict=True)
                ]
                out = pdf.drop(columns=[c for c in (output_col,) if c in pdf.columns])
                out[output_col] = regions
                if error_col not in out.columns:
                    out[error_col] = None
                yield out[schema.fieldNames()]

        return dataset.mapInPandas(partition, schema)
