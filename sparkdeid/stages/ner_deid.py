"""NerDeid: decide which text is PHI, in OCR output or in metadata tag documents.

The input column decides the mode. An OCR struct (from TextDetector) gives
entities per frame, failing closed by default: text that is not confidently
recognised as safe becomes an ``UNVERIFIED`` entity and is masked. A string
column (``tag_document`` from DicomToMetadata) gives entities and a cleaned
document, line-aligned with its tag mapping, for DicomMetadataDeidentifier.

An external Spark NLP ``PipelineModel`` (document in, NER chunks out) can add
entities: it runs as a normal DataFrame transform before the recognizers, and
its chunk column is converted with :func:`sparkdeid.ner.models.entities_from_chunks`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField

from sparkdeid import schemas
from sparkdeid.ner.detect import DetectorConfig, merge_entities
from sparkdeid.ner.finder import detector_for
from sparkdeid.ner.models import entities_from_chunks
from sparkdeid.stages.cells import entity_cell, frame_text_of, header_terms_of_cell
from sparkdeid.stages.params import (
    HasDetectorPolicy,
    HasErrorCol,
    HasInputCol,
    HasKeepInput,
    HasOutputCol,
)
from sparkdeid.stages.rows import FileStageError, RowSettings, output_schema, safe_message


class _NerDeidParams(HasInputCol, HasOutputCol, HasKeepInput, HasErrorCol, HasDetectorPolicy):
    headerTermsCol: Param[str] = Param(
        Params._dummy(), "headerTermsCol",
        "column with the file's identifying header values (from DicomToImage); '' or a "
        "missing column switches the header-informed recognizer off",
        typeConverter=TypeConverters.toString,
    )
    cleanedDocumentCol: Param[str] = Param(
        Params._dummy(), "cleanedDocumentCol",
        "document mode only: output column with the document, PHI removed, same line count",
        typeConverter=TypeConverters.toString,
    )
    useHeader: Param[bool] = Param(
        Params._dummy(), "useHeader",
        "recognize the file's own header values (names in any order, ids, dates in many "
        "written forms), tolerant to OCR errors",
        typeConverter=TypeConverters.toBoolean,
    )
    useRules: Param[bool] = Param(
        Params._dummy(), "useRules",
        "recognize dates, times, ages, phone numbers, e-mail, ids, addresses by rule",
        typeConverter=TypeConverters.toBoolean,
    )
    useNames: Param[bool] = Param(
        Params._dummy(), "useNames",
        "recognize person names from the US Census name lists (package 'names')",
        typeConverter=TypeConverters.toBoolean,
    )
    spacyModel: Param[str] = Param(
        Params._dummy(), "spacyModel",
        "name of an installed spaCy pipeline used as an extra signal ('' = none)",
        typeConverter=TypeConverters.toString,
    )
    allowList: Param[list[str]] = Param(
        Params._dummy(), "allowList",
        "extra words always treated as safe (unless they match the file's own header)",
        typeConverter=TypeConverters.toListString,
    )
    denyList: Param[list[str]] = Param(
        Params._dummy(), "denyList", "extra words always treated as PHI",
        typeConverter=TypeConverters.toListString,
    )
    externalNerModelPath: Param[str] = Param(
        Params._dummy(), "externalNerModelPath",
        "path of a saved Spark ML PipelineModel (e.g. Spark NLP: document in, NER chunks out) "
        "whose chunks are added as entities ('' = none)",
        typeConverter=TypeConverters.toString,
    )
    externalNerTextCol: Param[str] = Param(
        Params._dummy(), "externalNerTextCol",
        "text column the external model reads (created from the input for it)",
        typeConverter=TypeConverters.toString,
    )
    externalNerChunkCol: Param[str] = Param(
        Params._dummy(), "externalNerChunkCol",
        "column of Spark NLP chunk annotations the external model writes",
        typeConverter=TypeConverters.toString,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._setDefault(
            inputCol=schemas.OCR_COL,
            outputCol=schemas.ENTITIES_COL,
            keepInput=True,
            headerTermsCol=schemas.HEADER_TERMS_COL,
            cleanedDocumentCol=schemas.CLEANED_DOCUMENT_COL,
            useHeader=True,
            useRules=True,
            useNames=True,
            spacyModel="",
            allowList=[],
            denyList=[],
            externalNerModelPath="",
            externalNerTextCol="text",
            externalNerChunkCol="ner_chunk",
        )


class NerDeid(Transformer, _NerDeidParams, DefaultParamsReadable, DefaultParamsWritable):
    """Find PHI entities in OCR text (per frame) or in tag documents (per file)."""

    _input_kwargs: dict[str, Any]

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.OCR_COL,
        outputCol: str = schemas.ENTITIES_COL,
        keepInput: bool = True,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        headerTermsCol: str = schemas.HEADER_TERMS_COL,
        cleanedDocumentCol: str = schemas.CLEANED_DOCUMENT_COL,
        useHeader: bool = True,
        useRules: bool = True,
        useNames: bool = True,
        spacyModel: str = "",
        failClosed: bool = True,
        minConfidence: float = 0.8,
        redactAll: bool = False,
        allowList: list[str] | None = None,
        denyList: list[str] | None = None,
        externalNerModelPath: str = "",
        externalNerTextCol: str = "text",
        externalNerChunkCol: str = "ner_chunk",
    ) -> None:
        super().__init__()
        self._external_model: Any = None
        self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    @keyword_only
    def setParams(
        self,
        *,
        inputCol: str = schemas.OCR_COL,
        outputCol: str = schemas.ENTITIES_COL,
        keepInput: bool = True,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        headerTermsCol: str = schemas.HEADER_TERMS_COL,
        cleanedDocumentCol: str = schemas.CLEANED_DOCUMENT_COL,
        useHeader: bool = True,
        useRules: bool = True,
        useNames: bool = True,
        spacyModel: str = "",
        failClosed: bool = True,
        minConfidence: float = 0.8,
        redactAll: bool = False,
        allowList: list[str] | None = None,
        denyList: list[str] | None = None,
        externalNerModelPath: str = "",
        externalNerTextCol: str = "text",
        externalNerChunkCol: str = "ner_chunk",
    ) -> NerDeid:
        return self._set(**{k: v for k, v in self._input_kwargs.items() if v is not None})

    def setInputCol(self, value: str) -> NerDeid:
        return self._set(inputCol=value)

    def setOutputCol(self, value: str) -> NerDeid:
        return self._set(outputCol=value)

    def setHeaderTermsCol(self, value: str) -> NerDeid:
        return self._set(headerTermsCol=value)

    def getHeaderTermsCol(self) -> str:
        return self.getOrDefault(self.headerTermsCol)

    def setCleanedDocumentCol(self, value: str) -> NerDeid:
        return self._set(cleanedDocumentCol=value)

    def getCleanedDocumentCol(self) -> str:
        return self.getOrDefault(self.cleanedDocumentCol)

    def setUseHeader(self, value: bool) -> NerDeid:
        return self._set(useHeader=value)

    def getUseHeader(self) -> bool:
        return self.getOrDefault(self.useHeader)

    def setUseRules(self, value: bool) -> NerDeid:
        return self._set(useRules=value)

    def getUseRules(self) -> bool:
        return self.getOrDefault(self.useRules)

    def setUseNames(self, value: bool) -> NerDeid:
        return self._set(useNames=value)

    def getUseNames(self) -> bool:
        return self.getOrDefault(self.useNames)

    def setSpacyModel(self, value: str) -> NerDeid:
        return self._set(spacyModel=value)

    def getSpacyModel(self) -> str:
        return self.getOrDefault(self.spacyModel)

    def setAllowList(self, value: list[str]) -> NerDeid:
        return self._set(allowList=value)

    def getAllowList(self) -> list[str]:
        return self.getOrDefault(self.allowList)

    def setDenyList(self, value: list[str]) -> NerDeid:
        return self._set(denyList=value)

    def getDenyList(self) -> list[str]:
        return self.getOrDefault(self.denyList)

    def setExternalNerModelPath(self, value: str) -> NerDeid:
        return self._set(externalNerModelPath=value)

    def getExternalNerModelPath(self) -> str:
        return self.getOrDefault(self.externalNerModelPath)

    def setExternalNerModel(self, model: Transformer) -> NerDeid:
        """Use this fitted model in this process only (not saved; save a path instead)."""
        self._external_model = model
        return self

    def setExternalNerTextCol(self, value: str) -> NerDeid:
        return self._set(externalNerTextCol=value)

    def getExternalNerTextCol(self) -> str:
        return self.getOrDefault(self.externalNerTextCol)

    def setExternalNerChunkCol(self, value: str) -> NerDeid:
        return self._set(externalNerChunkCol=value)

    def getExternalNerChunkCol(self) -> str:
        return self.getOrDefault(self.externalNerChunkCol)

    def detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            use_header=self.getUseHeader(),
            use_rules=self.getUseRules(),
            use_names=self.getUseNames(),
            spacy_model=self.getSpacyModel() or None,
            fail_closed=self.getFailClosed(),
            min_confidence=self.getMinConfidence(),
            redact_all=self.getRedactAll(),
            allow_words=tuple(self.getAllowList()),
            deny_words=tuple(self.getDenyList()),
        )

    def _external(self) -> Transformer | None:
        model = getattr(self, "_external_model", None)
        if model is None and self.getExternalNerModelPath():
            from pyspark.ml import PipelineModel

            model = PipelineModel.load(self.getExternalNerModelPath())
            self._external_model = model
        return model

    def _transform(self, dataset: DataFrame) -> DataFrame:
        input_col, output_col = self.getInputCol(), self.getOutputCol()
        document_mode = isinstance(dataset.schema[input_col].dataType, StringType)
        cleaned_col = self.getCleanedDocumentCol() if document_mode else ""
        terms_col = self.getHeaderTermsCol()
        if terms_col not in dataset.columns:
            terms_col = ""
        config = self.detector_config()
        detector_for(config)  # fail on the driver if a back-end is missing

        chunk_col = ""
        external = self._external()
        if external is not None:
            text_col, chunk_col = self.getExternalNerTextCol(), self.getExternalNerChunkCol()
            text = F.col(input_col) if document_mode else F.col(input_col).getField("text")
            dataset = external.transform(dataset.withColumn(text_col, F.coalesce(text, F.lit(""))))
            dataset = dataset.drop(*[c for c in dataset.columns if c == text_col])

        settings = RowSettings(
            input_col=input_col,
            path_col="",
            error_col=self.getErrorCol(),
            handle_invalid=self.getHandleInvalid(),
            keep_input=self.getKeepInput(),
        )
        new_fields = [StructField(output_col, schemas.ENTITIES_TYPE, True)]
        if cleaned_col:
            new_fields.append(StructField(cleaned_col, schemas.FIELD_STRING, True))
        schema = output_schema(dataset.schema, settings, new_fields)
        drop_after = [chunk_col] if chunk_col else []
        if chunk_col:
            schema = type(schema)([f for f in schema.fields if f.name != chunk_col])
        error_col, handle_invalid, keep_input = (
            settings.error_col, settings.handle_invalid, settings.keep_input
        )

        def partition(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            detector = detector_for(config)
            for pdf in batches:
                entities_out: list[list[dict[str, Any]] | None] = []
                cleaned_out: list[str | None] = []
                errors: list[str | None] = []
                for index in range(len(pdf)):
                    row = pdf.iloc[index]
                    before = row[error_col] if error_col in pdf.columns else None
                    value = row[input_col]
                    if isinstance(before, str) or value is None:
                        entities_out.append(None)
                        cleaned_out.append(None)
                        errors.append(before if isinstance(before, str) else None)
                        continue
                    try:
                        header = header_terms_of_cell(row[terms_col]) if terms_col else ()
                        extra = entities_from_chunks(row[chunk_col]) if chunk_col else []
                        if document_mode:
                            text = str(value)
                            found = merge_entities(detector.detect_document(text, header) + extra)
                            cleaned_out.append(detector.redact_text(text, found))
                        else:
                            found = merge_entities(
                                detector.detect_frame(frame_text_of(value), header) + extra
                            )
                            cleaned_out.append(None)
                        entities_out.append([entity_cell(e) for e in found])
                        errors.append(None)
                    except Exception as exc:  # one bad row never stops the job
                        if handle_invalid == "error":
                            raise FileStageError(f"NER failed: {safe_message(exc)}") from None
                        entities_out.append(None)
                        cleaned_out.append(None)
                        errors.append(f"NER failed: {safe_message(exc)}")
                produced = [output_col, error_col, cleaned_col, *drop_after]
                out = pdf.drop(columns=[c for c in produced if c and c in pdf.columns])
                if not keep_input:
                    out = out.drop(columns=[input_col])
                out[output_col] = entities_out
                if cleaned_col:
                    out[cleaned_col] = cleaned_out
                out[error_col] = errors
                yield out[schema.fieldNames()]

        return dataset.mapInPandas(partition, schema)
