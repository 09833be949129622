"""TextDetector: OCR every rendered frame; word boxes come out in original pixels."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.ocr.frame_ocr import read_frame
from sparkdeid.ocr.registry import get_engine
from sparkdeid.stages.cells import areas_of, ocr_cell, rendered_of
from sparkdeid.stages.params import (
    HasErrorCol,
    HasInputCol,
    HasKeepInput,
    HasOcrEngine,
    HasOutputCol,
)
from sparkdeid.stages.rows import FileStageError, RowSettings, output_schema, safe_message


class _TextDetectorParams(HasInputCol, HasOutputCol, HasKeepInput, HasErrorCol, HasOcrEngine):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            inputCol=schemas.IMAGE_COL,
            outputCol=schemas.OCR_COL,
            keepInput=False,
        )


class TextDetector(Transformer, _TextDetectorParams, DefaultParamsReadable, DefaultParamsWritable):
    """Find text in each frame image with an OCR engine loaded once per executor process.

    Rows without an image (files without Pixel Data, failed rows) get a null
    OCR value. The rendered image is dropped unless ``keepInput`` is set: the
    later stages only need the words and their boxes.
    """

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.IMAGE_COL,
        outputCol: str = schemas.OCR_COL,
        keepInput: bool = False,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        engine: str = "rapidocr",
        engineOptions: str = "{}",
    ) -> None:
        super().__init__()
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(
        self,
        *,
        inputCol: str = schemas.IMAGE_COL,
        outputCol: str = schemas.OCR_COL,
        keepInput: bool = False,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        engine: str = "rapidocr",
        engineOptions: str = "{}",
    ) -> TextDetector:
        return self._set(**self._input_kwargs)

    def setInputCol(self, value: str) -> TextDetector:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> TextDetector:
        return self._set(outputCol=value)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, output_col = self.getInputCol(), self.getOutputCol()
        engine_name, options = self.getEngine(), self.engine_options()
        get_engine(engine_name, options)  # fail on the driver if the back-end is missing
        settings = RowSettings(
            input_col=input_col,
            path_col="",
            error_col=self.getErrorCol(),
            handle_invalid=self.getHandleInvalid(),
            keep_input=self.getKeepInput(),
        )
        schema = output_schema(
            dataset.schema, settings, [StructField(output_col, schemas.OCR_TYPE, True)]
        )
        error_col, handle_invalid, keep_input = (
            settings.error_col, settings.handle_invalid, settings.keep_input
        )
        areas_col = schemas.OCR_AREAS_COL

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            engine = get_engine(engine_name, options)
            for pdf in batches:
                results: list[dict[str, Any] | None] = []
                errors: list[str | None] = []
                upstream = (
                    list(pdf[error_col]) if error_col in pdf.columns else [None] * len(pdf)
                )
                area_cells = (
                    list(pdf[areas_col]) if areas_col in pdf.columns else [None] * len(pdf)
                )
                for image, before, areas in zip(pdf[input_col], upstream, area_cells, strict=True):
                    if image is None or isinstance(before, str):
                        results.append(None)
                        errors.append(before if isinstance(before, str) else None)
                        continue
                    try:
                        text = read_frame(engine, rendered_of(image), areas_of(areas))
                        results.append(ocr_cell(text))
                        errors.append(None)
                    except Exception as exc:  # an OCR failure fails this frame's file only
                        if handle_invalid == "error":
                            raise FileStageError(f"OCR failed: {safe_message(exc)}") from None
                        results.append(None)
                        errors.append(f"OCR failed: {safe_message(exc)}")
                out = pdf.drop(columns=[c for c in (output_col, error_col) if c in pdf.columns])
                if not keep_input:
                    out = out.drop(columns=[input_col])
                out[output_col] = results
                out[error_col] = errors
                yield out[schema.fieldNames()]

        return dataset.mapInPandas(partition, schema)
