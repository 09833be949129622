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

from collections.abc import Sequence
from typing import Any

from pyspark import keyword_only
from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from sparkdeid import schemas
from sparkdeid.ner.detect import DetectorConfig, merge_entities
from sparkdeid.ner.finder import detector_for
from sparkdeid.ner.models import entities_from_chunks
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.cells import entity_cell, frame_text_of, header_terms_of_cell
from sparkdeid.stages.params import (
    HasCleanedDocumentCol,
    HasDetectorPolicy,
    HasHeaderTermsCol,
    HasInputCol,
    HasKeepInput,
    HasOutputCol,
)


class _NerDeidParams(
    HasInputCol, HasOutputCol, HasKeepInput, HasDetectorPolicy, HasHeaderTermsCol,
    HasCleanedDocumentCol,
):
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


class NerDeid(DeidStage, _NerDeidParams):
    """Find PHI entities in OCR text (per frame) or in tag documents (per file).

    Rows are frames in OCR mode (never dropped) and files in document mode
    (``skip`` drops a failed one); see :class:`~sparkdeid.stages.base.DeidStage`.
    """

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
        allowList: Sequence[str] = (),
        denyList: Sequence[str] = (),
        externalNerModelPath: str = "",
        externalNerTextCol: str = "text",
        externalNerChunkCol: str = "ner_chunk",
    ) -> None:
        super().__init__()
        self._external_model: Any = None

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

        new_fields = [StructField(output_col, schemas.ENTITIES_TYPE, True)]
        if cleaned_col:
            new_fields.append(StructField(cleaned_col, schemas.FIELD_STRING, True))
        visible = StructType([f for f in dataset.schema.fields if f.name != chunk_col])
        job = self._row_job(
            visible, input_col, new_fields, keep_input=self.getKeepInput(),
            whole_files=document_mode, extra_cols=(terms_col, chunk_col), label="NER",
        )

        def find(value: Any, extras: dict[str, Any]) -> dict[str, Any]:
            if value is None:
                return {}
            detector = detector_for(config)  # one per executor process and configuration
            header = header_terms_of_cell(extras.get(terms_col)) if terms_col else ()
            extra = entities_from_chunks(extras.get(chunk_col)) if chunk_col else []
            if not document_mode:
                found = merge_entities(detector.detect_frame(frame_text_of(value), header) + extra)
                return {output_col: [entity_cell(e) for e in found]}
            text = str(value)
            found = merge_entities(detector.detect_document(text, header) + extra)
            return {
                output_col: [entity_cell(e) for e in found],
                cleaned_col: detector.redact_text(text, found),
            }

        return job.map_rows(dataset, find)
