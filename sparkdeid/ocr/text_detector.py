"""TextDetector: OCR every rendered frame; word boxes come out in original pixels."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.boxes import Box
from sparkdeid.ocr.base import layout_text, read_area
from sparkdeid.ocr.ink import tighten_to_ink
from sparkdeid.ocr.registry import get_engine
from sparkdeid.params import (
    HasErrorCol,
    HasInputCol,
    HasKeepInput,
    HasOcrEngine,
    HasOutputCol,
)
from sparkdeid.rows import FileStageError, RowSettings, output_schema, safe_message


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
                areas_of = (
                    list(pdf[areas_col]) if areas_col in pdf.columns else [None] * len(pdf)
                )
                for image, before, areas in zip(pdf[input_col], upstream, areas_of, strict=True):
                    if image is None or isinstance(before, str):
                        results.append(None)
                        errors.append(before if isinstance(before, str) else None)
                        continue
                    try:
                        results.append(ocr_image(engine, image, _boxes(areas)))
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


def _line_end_indices(words: Any) -> dict[int, str]:
    """Which words open or close their line: index -> first / last / only."""
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for index, word in enumerate(words):
        first.setdefault(word.line, index)
        last[word.line] = index
    ends = {index: "first" for index in first.values()}
    for index in last.values():
        ends[index] = "only" if index in ends else "last"
    return ends


def image_array(image: Any) -> np.ndarray:
    """The uint8 array of an image struct (Spark Row or dict)."""
    height, width, channels = int(image["height"]), int(image["width"]), int(image["nChannels"])
    data = np.frombuffer(bytes(image["data"]), dtype=np.uint8)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return data.reshape(shape)


def _boxes(areas: Any) -> list[Box] | None:
    """The ``ocr_areas`` cell as boxes; None (read the whole image) when absent."""
    if areas is None:
        return None
    return [Box(float(a["x0"]), float(a["y0"]), float(a["x1"]), float(a["y1"])) for a in areas]


def ocr_image(engine: Any, image: Any, areas: Sequence[Box] | None = None) -> dict[str, Any]:
    """OCR one image struct; boxes are divided by the render scale into original pixels.

    ``areas`` (rendered-image pixels) restricts reading to those parts of the
    image, for frames whose other parts were read on an earlier frame.
    """
    scale = float(image["scale"]) or 1.0
    pixels = image_array(image)
    if areas is None:
        lines = engine.read(pixels)
    else:
        lines = [line for area in areas for line in read_area(engine, pixels, area)]
        lines.sort(key=lambda line: (line.box.y0, line.box.x0))
    frame = layout_text(lines)
    line_ends = _line_end_indices(frame.words)
    words = []
    for index, word in enumerate(frame.words):
        box = tighten_to_ink(pixels, word.box)
        if box == word.box and index in line_ends and len(word.text) >= 3:
            # Busy background (the box could not be tightened): detectors clip the
            # ends of such lines, so the outer words reach two characters further.
            reach = 2.0 * box.width / max(1, len(word.text))
            left = reach if line_ends[index] in ("first", "only") else 0.0
            right = reach if line_ends[index] in ("last", "only") else 0.0
            box = Box(box.x0 - left, box.y0, box.x1 + right, box.y1).clipped(
                pixels.shape[1], pixels.shape[0]
            )
        box = box.scaled(scale)
        words.append(
            {
                "text": word.text,
                "begin": word.begin,
                "end": word.end,
                "confidence": float(word.confidence),
                "x0": box.x0,
                "y0": box.y0,
                "x1": box.x1,
                "y1": box.y1,
                "line": word.line,
            }
        )
    return {
        "text": frame.text,
        "words": words,
        "engine": engine.name,
        "frame_width": int(image["original_width"]),
        "frame_height": int(image["original_height"]),
    }
