"""DicomToMetadata: a file's metadata as JSON, and optionally its text for NER."""

from __future__ import annotations

from typing import Any

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.limits import DEFAULT_MAX_BYTES
from sparkdeid.metadata.extract import metadata_json, tag_document
from sparkdeid.metadata.strategy import load_strategy
from sparkdeid.ner.header import header_terms_of
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.params import (
    HasHeaderTermsCol,
    HasInputCol,
    HasKeepInput,
    HasMaxFileBytes,
    HasOutputCol,
    HasPathCol,
    HasStrategy,
    HasTagMappingCol,
)


class _DicomToMetadataParams(
    HasInputCol, HasOutputCol, HasPathCol, HasKeepInput, HasStrategy, HasMaxFileBytes,
    HasTagMappingCol, HasHeaderTermsCol,
):
    extractTagForNer: Param[bool] = Param(
        Params._dummy(),
        "extractTagForNer",
        "also output the text of the tags the strategy cleans (cleanTag / C) as one document "
        "per file, with a tag-mapping column, for NerDeid",
        typeConverter=TypeConverters.toBoolean,
    )
    documentCol: Param[str] = Param(
        Params._dummy(), "documentCol", "output column for the tag document",
        typeConverter=TypeConverters.toString,
    )


class DicomToMetadata(DeidStage, _DicomToMetadataParams):
    """Extract DICOM metadata (JSON, bulk data omitted) without decoding pixels.

    The input column holds file bytes (binaryFile ``content``) or paths, which
    are read on the executors (``s3://`` through boto3).
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.CONTENT_COL,
        outputCol: str = schemas.METADATA_COL,
        pathCol: str = schemas.PATH_COL,
        keepInput: bool = True,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        strategyFile: str = "tcia",
        strategyFileContent: str = "",
        groupStrategyFile: str = "",
        extractTagForNer: bool = False,
        documentCol: str = schemas.DOCUMENT_COL,
        tagMappingCol: str = schemas.TAG_MAPPING_COL,
        headerTermsCol: str = schemas.HEADER_TERMS_COL,
        maxFileBytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__()

    def setExtractTagForNer(self, value: bool) -> DicomToMetadata:
        return self._set(extractTagForNer=value)

    def getExtractTagForNer(self) -> bool:
        return self.getOrDefault(self.extractTagForNer)

    def setDocumentCol(self, value: str) -> DicomToMetadata:
        return self._set(documentCol=value)

    def getDocumentCol(self) -> str:
        return self.getOrDefault(self.documentCol)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, output_col = self.getInputCol(), self.getOutputCol()
        extract = self.getExtractTagForNer()
        doc_col, map_col = self.getDocumentCol(), self.getTagMappingCol()
        terms_col = self.getHeaderTermsCol() if extract else ""
        strategy_text = (
            self.resolved_strategy().csv_text
            if extract
            else ""
        )
        new_fields = [StructField(output_col, schemas.FIELD_STRING, True)]
        if extract:
            new_fields.append(StructField(doc_col, schemas.FIELD_STRING, True))
            new_fields.append(StructField(map_col, schemas.TAG_MAPPING_TYPE, True))
        if terms_col:
            new_fields.append(StructField(terms_col, schemas.HEADER_TERMS_TYPE, True))
        path_col = self.getPathCol()
        job = self._row_job(
            dataset.schema, input_col, new_fields, whole_files=True, path_col=path_col,
            keep_input=self.getKeepInput() or input_col == path_col,
            max_bytes=self.getMaxFileBytes(),
        )

        def process(content: bytes, extras: dict[str, Any]) -> dict[str, Any]:
            ds = read_dataset(content, stop_before_pixels=True)
            result: dict[str, Any] = {output_col: metadata_json(ds)}
            if extract:
                document, mapping = tag_document(ds, load_strategy(strategy_text))
                result[doc_col], result[map_col] = document, mapping
            if terms_col:
                result[terms_col] = [
                    {"kind": t.kind, "value": t.value} for t in header_terms_of(ds)
                ]
            return result

        return job.map_files(dataset, process)
