"""TextDetector: OCR every rendered frame; word boxes come out in original pixels."""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.ocr.frame_ocr import read_frame
from sparkdeid.ocr.registry import get_engine
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.cells import areas_of, ocr_cell, rendered_of
from sparkdeid.stages.params import HasInputCol, HasKeepInput, HasOcrEngine, HasOutputCol


class TextDetector(DeidStage, HasInputCol, HasOutputCol, HasKeepInput, HasOcrEngine):
    """Find text in each frame image with an OCR engine loaded once per executor process.

    Rows without an image (files without Pixel Data, failed rows) get a null
    OCR value. The rendered image is dropped unless ``keepInput`` is set: the
    later stages only need the words and their boxes. A frame row is never
    dropped (see :class:`~sparkdeid.stages.base.DeidStage` on ``handleInvalid``).
    """

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

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, output_col = self.getInputCol(), self.getOutputCol()
        engine_name, options = self.getEngine(), self.engine_options()
        get_engine(engine_name, options)  # fail on the driver if the back-end is missing
        areas_col = schemas.OCR_AREAS_COL
        job = self._row_job(
            dataset.schema, input_col, [StructField(output_col, schemas.OCR_TYPE, True)],
            keep_input=self.getKeepInput(), whole_files=False, extra_cols=(areas_col,),
            label="OCR",
        )

        def read(image: Any, extras: dict[str, Any]) -> dict[str, Any]:
            if image is None:
                return {}
            engine = get_engine(engine_name, options)  # loaded once per executor process
            text = read_frame(engine, rendered_of(image), areas_of(extras.get(areas_col)))
            return {output_col: ocr_cell(text)}

        return job.map_rows(dataset, read)
