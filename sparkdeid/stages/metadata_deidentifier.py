"""DicomMetadataDeidentifier: applies a strategy and writes the final DICOM bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.dicom.limits import DEFAULT_MAX_BYTES
from sparkdeid.metadata.engine import EngineConfig, deidentify_bytes
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.params import (
    HasCleanedDocumentCol,
    HasCleanedUpstream,
    HasInputCol,
    HasKeepInput,
    HasMaxFileBytes,
    HasOutputCol,
    HasPathCol,
    HasRemovePrivateTags,
    HasSecret,
    HasStrategy,
    HasTagMappingCol,
)

# Codes only the pixel path can honestly claim.
PIXEL_OPTION_CODES = frozenset({"113101", "113102"})


class _DicomMetadataDeidentifierParams(
    HasInputCol, HasOutputCol, HasPathCol, HasKeepInput, HasStrategy, HasSecret, HasCleanedUpstream,
    HasMaxFileBytes, HasRemovePrivateTags, HasTagMappingCol, HasCleanedDocumentCol,
):
    regenerateSeries: Param[bool] = Param(
        Params._dummy(),
        "regenerateSeries",
        "give outputs a Series Instance UID of their own, even under retain-uids, so a "
        "de-identified series never merges with its original in an archive",
        typeConverter=TypeConverters.toBoolean,
    )
    mappingCol: Param[str] = Param(
        Params._dummy(),
        "mappingCol",
        "optional column (map<string,string> or JSON object) of original -> replacement values "
        "for the replaceWithMapping action",
        typeConverter=TypeConverters.toString,
    )
    pixelDataCleaned: Param[bool] = Param(
        Params._dummy(),
        "pixelDataCleaned",
        "set by the pixel pipeline: only then are the Clean Pixel Data / Visual Features option "
        "codes recorded in the De-identification Method Code Sequence",
        typeConverter=TypeConverters.toBoolean,
    )


class DicomMetadataDeidentifier(DeidStage, _DicomMetadataDeidentifierParams):
    """De-identify DICOM metadata per a strategy; outputs the de-identified file bytes.

    Input is a binaryFile ``content`` column (or a column of paths, read on the
    executors, including ``s3://``). Pixel Data passes through byte-identical.
    UIDs, ids, names and date offsets are HMAC-keyed by the secret, so every
    executor and run agrees. Failures land in ``errorCol``.
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.CONTENT_COL,
        outputCol: str = schemas.DICOM_COL,
        pathCol: str = schemas.PATH_COL,
        keepInput: bool = False,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        strategyFile: str = "tcia",
        strategyFileContent: str = "",
        groupStrategyFile: str = "",
        removePrivateTags: bool = True,
        regenerateSeries: bool = False,
        secretFile: str = "",
        secretEnvVar: str = "SPARKDEID_SECRET",
        tagMappingCol: str = "",
        cleanedDocumentCol: str = "",
        mappingCol: str = "",
        pixelDataCleaned: bool = False,
        cleanedUpstream: Sequence[str] = (),
        maxFileBytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__()

    def setRegenerateSeries(self, value: bool) -> DicomMetadataDeidentifier:
        return self._set(regenerateSeries=value)

    def getRegenerateSeries(self) -> bool:
        return self.getOrDefault(self.regenerateSeries)

    def setMappingCol(self, value: str) -> DicomMetadataDeidentifier:
        return self._set(mappingCol=value)

    def getMappingCol(self) -> str:
        return self.getOrDefault(self.mappingCol)

    def setPixelDataCleaned(self, value: bool) -> DicomMetadataDeidentifier:
        return self._set(pixelDataCleaned=value)

    def getPixelDataCleaned(self) -> bool:
        return self.getOrDefault(self.pixelDataCleaned)

    def engine_config(self) -> EngineConfig:
        """Resolve strategy and secret on the driver into what executors need."""
        resolved = self.resolved_strategy()
        codes = resolved.method_codes
        if not self.getPixelDataCleaned():
            codes = tuple(c for c in codes if c[0] not in PIXEL_OPTION_CODES)
        description = resolved.method_description
        if resolved.method_codes:
            description = "DICOM PS3.15 " + "+".join(code for code, _ in codes)
        return EngineConfig(
            strategy_csv=resolved.csv_text,
            secret=self._resolved_secret(),
            group_strategy_csv=self.group_strategy_csv(),
            remove_private_tags=self.getRemovePrivateTags(),
            regenerate_series=self.getRegenerateSeries(),
            method_description=description,
            method_codes=codes,
            cleaned_upstream=tuple(self.getCleanedUpstream()),
        )

    def _transform(self, dataset: DataFrame) -> DataFrame:
        config = self.engine_config()
        output_col = self.getOutputCol()
        mapping_col, doc_col, tag_map_col = (
            self.getMappingCol(), self.getCleanedDocumentCol(), self.getTagMappingCol()
        )
        input_col, path_col = self.getInputCol(), self.getPathCol()
        job = self._row_job(
            dataset.schema, input_col, [StructField(output_col, schemas.FIELD_BINARY, True)],
            whole_files=True, path_col=path_col,
            keep_input=self.getKeepInput() or input_col == path_col,
            extra_cols=(mapping_col, doc_col, tag_map_col), max_bytes=self.getMaxFileBytes(),
        )

        def process(content: bytes, extras: dict[str, Any]) -> dict[str, Any]:
            mapping = _as_mapping(extras.get(mapping_col)) if mapping_col else None
            cleaned = (
                _cleaned_texts(extras.get(doc_col), extras.get(tag_map_col))
                if doc_col and tag_map_col
                else None
            )
            out, _ = deidentify_bytes(content, config, mapping=mapping, cleaned_texts=cleaned)
            return {output_col: out}

        return job.map_files(dataset, process)


def _as_mapping(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return {str(k): str(v) for k, v in json.loads(value).items()} if value else {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    return {str(k): str(v) for k, v in value}  # Arrow map arrives as (key, value) pairs


def _cleaned_texts(document: Any, tag_mapping: Any) -> dict[str, str] | None:
    """Line i of the cleaned document is the cleaned text of tag_mapping[i]."""
    if document is None or tag_mapping is None:
        return None
    lines = str(document).split("\n")
    entries = list(tag_mapping)
    if len(lines) != len(entries):
        return None  # misaligned: fall back to the built-in cleaner rather than guess
    return {entry["tag_path"]: line for entry, line in zip(entries, lines, strict=False)}
