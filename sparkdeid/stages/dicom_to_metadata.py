"""DicomToMetadata: a file's metadata as JSON, and optionally its text for NER."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.dicom.codec import read_dataset
from sparkdeid.dicom.limits import DEFAULT_MAX_BYTES
from sparkdeid.metadata.extract import metadata_json, tag_document
from sparkdeid.metadata.strategy import load_strategy, resolve_strategy
from sparkdeid.ner.header import header_terms_of
from sparkdeid.stages.params import (
    HasErrorCol,
    HasInputCol,
    HasKeepInput,
    HasMaxFileBytes,
    HasOutputCol,
    HasPathCol,
    HasStrategy,
)
from sparkdeid.stages.rows import RowSettings, output_schema, run_per_file


class _DicomToMetadataParams(
    HasInputCol, HasOutputCol, HasPathCol, HasKeepInput, HasErrorCol, HasStrategy,
    HasMaxFileBytes,
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
    tagMappingCol: Param[str] = Param(
        Params._dummy(), "tagMappingCol",
        "output column mapping each document line to its tag path and character span",
        typeConverter=TypeConverters.toString,
    )
    headerTermsCol: Param[str] = Param(
        Params._dummy(), "headerTermsCol",
        "with extractTagForNer: output column with the file's identifying header values, "
        "so NerDeid can recognise them in the document ('' = none)",
        typeConverter=TypeConverters.toString,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            inputCol=schemas.CONTENT_COL,
            outputCol=schemas.METADATA_COL,
            extractTagForNer=False,
            documentCol=schemas.DOCUMENT_COL,
            tagMappingCol=schemas.TAG_MAPPING_COL,
            headerTermsCol=schemas.HEADER_TERMS_COL,
        )


class DicomToMetadata(
    Transformer, _DicomToMetadataParams, DefaultParamsReadable, DefaultParamsWritable
):
    """Extract DICOM metadata (JSON, bulk data omitted) without decoding pixels.

    The input column holds file bytes (binaryFile ``content``) or paths, which
    are read on the executors (``s3://`` through boto3).
    """

    _input_kwargs: dict[str, Any]

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
        extractTagForNer: bool = False,
        documentCol: str = schemas.DOCUMENT_COL,
        tagMappingCol: str = schemas.TAG_MAPPING_COL,
        headerTermsCol: str = schemas.HEADER_TERMS_COL,
        maxFileBytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__()
        self._setDefault(keepInput=True)  # later stages still need the bytes
        self._set(**self._input_kwargs)

    @keyword_only
    def setParams(
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
        extractTagForNer: bool = False,
        documentCol: str = schemas.DOCUMENT_COL,
        tagMappingCol: str = schemas.TAG_MAPPING_COL,
        headerTermsCol: str = schemas.HEADER_TERMS_COL,
        maxFileBytes: int = DEFAULT_MAX_BYTES,
    ) -> DicomToMetadata:
        return self._set(**self._input_kwargs)

    def setInputCol(self, value: str) -> DicomToMetadata:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> DicomToMetadata:
        return self._set(outputCol=value)

    def setExtractTagForNer(self, value: bool) -> DicomToMetadata:
        return self._set(extractTagForNer=value)

    def getExtractTagForNer(self) -> bool:
        return self.getOrDefault(self.extractTagForNer)

    def setDocumentCol(self, value: str) -> DicomToMetadata:
        return self._set(documentCol=value)

    def getDocumentCol(self) -> str:
        return self.getOrDefault(self.documentCol)

    def setTagMappingCol(self, value: str) -> DicomToMetadata:
        return self._set(tagMappingCol=value)

    def getTagMappingCol(self) -> str:
        return self.getOrDefault(self.tagMappingCol)

    def setHeaderTermsCol(self, value: str) -> DicomToMetadata:
        return self._set(headerTermsCol=value)

    def getHeaderTermsCol(self) -> str:
        return self.getOrDefault(self.headerTermsCol)

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, output_col = self.getInputCol(), self.getOutputCol()
        extract = self.getExtractTagForNer()
        doc_col, map_col = self.getDocumentCol(), self.getTagMappingCol()
        terms_col = self.getHeaderTermsCol() if extract else ""
        strategy_text = (
            resolve_strategy(self.getStrategyFileContent() or self.getStrategyFile()).csv_text
            if extract
            else ""
        )
        settings = RowSettings(
            input_col=input_col,
            path_col=self.getPathCol(),
            error_col=self.getErrorCol(),
            handle_invalid=self.getHandleInvalid(),
            keep_input=self.getKeepInput() or input_col == self.getPathCol(),
            max_bytes=self.getMaxFileBytes(),
        )
        outputs: tuple[str, ...] = (output_col, doc_col, map_col) if extract else (output_col,)
        new_fields = [StructField(output_col, schemas.FIELD_STRING, True)]
        if extract:
            new_fields.append(StructField(doc_col, schemas.FIELD_STRING, True))
            new_fields.append(StructField(map_col, schemas.TAG_MAPPING_TYPE, True))
        if terms_col:
            outputs += (terms_col,)
            new_fields.append(StructField(terms_col, schemas.HEADER_TERMS_TYPE, True))
        schema = output_schema(dataset.schema, settings, new_fields)

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

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            return run_per_file(batches, settings, process, outputs)

        return dataset.mapInPandas(partition, schema)
