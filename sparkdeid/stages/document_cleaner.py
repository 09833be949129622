"""DicomDocumentCleaner: de-identify the encapsulated PDF / CDA / text document inside DICOM files.

A thin Spark wrapper over
:func:`~sparkdeid.documents.encapsulated.clean_encapsulated_document`: file
bytes in, file bytes out, one row per file. Files without an Encapsulated
Document pass through byte-identical; the others are rewritten with the
cleaned (or removed) document. Run it on the original header (before
DicomMetadataDeidentifier): the header's names and ids are what the
document is searched for.

The detector and the OCR engine are loaded once per executor process and
shared with NerDeid and TextDetector there (their caches are keyed by
settings, see :func:`~sparkdeid.stages.ner_deid.detector_for` and
:func:`~sparkdeid.ocr.registry.get_engine`); the OCR engine only when the
first PDF arrives.
"""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.dicom.codec import read_dataset, write_dataset
from sparkdeid.documents.encapsulated import (
    ON_UNCLEANABLE_CHOICES,
    clean_encapsulated_document,
    has_document,
)
from sparkdeid.documents.pdf import DEFAULT_DPI, DEFAULT_PAGE_LIMIT, PdfOptions
from sparkdeid.ner.detect import DetectorConfig
from sparkdeid.ocr.registry import get_engine
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.ner_deid import detector_for
from sparkdeid.stages.params import (
    HasDetectorPolicy,
    HasInputCol,
    HasKeepInput,
    HasOcrEngine,
    HasOutputCol,
    HasPathCol,
    one_of,
)

DOCUMENT_ACTION_COL = "document_action"
DOCUMENT_DICOM_COL = "document_dicom"


class _DicomDocumentCleanerParams(
    HasInputCol, HasOutputCol, HasPathCol, HasKeepInput, HasOcrEngine,
    HasDetectorPolicy,
):

    onUncleanable: Param[str] = Param(
        Params._dummy(),
        "onUncleanable",
        "what to do with a document that cannot be cleaned (encrypted or unreadable PDF, "
        "malformed XML, STL/OBJ models, unknown types): 'remove' empties it and says so in "
        "documentActionCol (default), 'error' fails the file",
        typeConverter=one_of("onUncleanable", ON_UNCLEANABLE_CHOICES),
    )
    pageLimit: Param[int] = Param(
        Params._dummy(),
        "pageLimit",
        "PDFs with more pages are not cleaned (OCR costs seconds a page); see onUncleanable",
        typeConverter=TypeConverters.toInt,
    )
    dpi: Param[int] = Param(
        Params._dummy(),
        "dpi",
        "resolution PDF pages are rendered at, for OCR and for the output page images "
        "(50-600; 150 reads 8-point text)",
        typeConverter=TypeConverters.toInt,
    )
    documentActionCol: Param[str] = Param(
        Params._dummy(),
        "documentActionCol",
        "output column saying what happened to each file's document: 'redacted:pdf:5' "
        "(kind, regions or spans masked), 'removed:cda:malformed-xml' (kind, reason), null "
        "for files without one",
        typeConverter=TypeConverters.toString,
    )


class DicomDocumentCleaner(DeidStage, _DicomDocumentCleanerParams):
    """De-identify Encapsulated PDF, CDA and text documents; other files pass unchanged.

    PDFs are rebuilt from their rendered pages with PHI painted black (text
    layer judged exactly, embedded images by fail-closed OCR), under an
    invisible text layer of the kept words so they stay searchable; CDA is
    cleaned by structure and the detector. ``redactAll`` masks every word of
    a PDF page, text layer included, and every CDA narrative text. Input is
    file bytes (binaryFile ``content``) or paths; failures land in ``errorCol``.
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.CONTENT_COL,
        outputCol: str = DOCUMENT_DICOM_COL,
        pathCol: str = schemas.PATH_COL,
        keepInput: bool = False,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        engine: str = "rapidocr",
        engineOptions: str = "{}",
        failClosed: bool = True,
        minConfidence: float = 0.8,
        redactAll: bool = False,
        onUncleanable: str = "remove",
        pageLimit: int = DEFAULT_PAGE_LIMIT,
        dpi: int = DEFAULT_DPI,
        documentActionCol: str = DOCUMENT_ACTION_COL,
    ) -> None:
        super().__init__()

    def setOnUncleanable(self, value: str) -> DicomDocumentCleaner:
        return self._set(onUncleanable=value)

    def getOnUncleanable(self) -> str:
        return self.getOrDefault(self.onUncleanable)

    def setPageLimit(self, value: int) -> DicomDocumentCleaner:
        return self._set(pageLimit=value)

    def getPageLimit(self) -> int:
        return self.getOrDefault(self.pageLimit)

    def setDpi(self, value: int) -> DicomDocumentCleaner:
        return self._set(dpi=value)

    def getDpi(self) -> int:
        return self.getOrDefault(self.dpi)

    def setDocumentActionCol(self, value: str) -> DicomDocumentCleaner:
        return self._set(documentActionCol=value)

    def getDocumentActionCol(self) -> str:
        return self.getOrDefault(self.documentActionCol)

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            fail_closed=self.getFailClosed(),
            min_confidence=self.getMinConfidence(),
            redact_all=self.getRedactAll(),
        )

    def _transform(self, dataset: DataFrame) -> DataFrame:
        config = self.detector_config()
        pdf_options = PdfOptions(dpi=self.getDpi(), page_limit=self.getPageLimit())
        on_uncleanable = self.getOnUncleanable()
        engine_name, options = self.getEngine(), self.engine_options()
        detector_for(config)  # fail on the driver if a back-end is missing
        get_engine(engine_name, options)
        output_col, action_col = self.getOutputCol(), self.getDocumentActionCol()
        input_col, path_col = self.getInputCol(), self.getPathCol()
        new_fields = [
            StructField(output_col, schemas.FIELD_BINARY, True),
            StructField(action_col, schemas.FIELD_STRING, True),
        ]
        job = self._row_job(
            dataset.schema, input_col, new_fields, whole_files=True, path_col=path_col,
            keep_input=self.getKeepInput() or input_col == path_col,
        )

        def process(content: bytes, extras: dict[str, Any]) -> dict[str, Any]:
            ds = read_dataset(content)
            if not has_document(ds):
                return {output_col: content, action_col: None}
            outcome = clean_encapsulated_document(
                ds,
                detector=detector_for(config),
                engine_name=engine_name,
                engine_options=options,
                on_uncleanable=on_uncleanable,
                pdf_options=pdf_options,
            )
            return {output_col: write_dataset(ds), action_col: outcome.label()}

        return job.map_files(dataset, process)
