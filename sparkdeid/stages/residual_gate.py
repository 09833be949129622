"""ResidualPhiGate: the Spark edge of :mod:`sparkdeid.verify.residual`.

The last stage of the ready-made pipelines (:mod:`sparkdeid.pipeline`): per
file it calls :func:`~sparkdeid.verify.residual.check_output` on the output
and its original, and turns a finding into an emptied output and a PHI-free
error message, which the batch and streaming jobs quarantine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark import keyword_only
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.sql import DataFrame
from pyspark.sql.types import StructField

from sparkdeid import schemas
from sparkdeid.dicom.limits import DEFAULT_MAX_BYTES
from sparkdeid.stages.base import DeidStage
from sparkdeid.stages.params import (
    HasCleanedUpstream,
    HasInputCol,
    HasMaxFileBytes,
    HasOcrEngine,
    HasPathCol,
    HasRemovePrivateTags,
    HasStrategy,
    one_of,
)
from sparkdeid.stages.rows import source_bytes
from sparkdeid.verify.residual import GATE_MODES, GateMode, GatePolicy, check_output, gate_mode


class _ResidualPhiGateParams(
    HasInputCol, HasPathCol, HasStrategy, HasOcrEngine, HasMaxFileBytes, HasRemovePrivateTags,
    HasCleanedUpstream,
):
    originalCol: Param[str] = Param(
        Params._dummy(),
        "originalCol",
        "column holding each output's original file, as bytes or as a path (local or "
        "s3://) read on the executors; only its header is parsed. The batch pipelines "
        "carry 'path'",
        typeConverter=TypeConverters.toString,
    )
    mode: Param[str] = Param(
        Params._dummy(),
        "mode",
        "'metadata' (default: the original's identifying values are looked for in every "
        "element of the output), 'pixels' (also OCR of the output's first, middle and last "
        "frames, matched against the original's own header values; roughly doubles OCR "
        "cost) or 'off' (outputs pass unchecked)",
        typeConverter=one_of("mode", GATE_MODES),
    )


class ResidualPhiGate(DeidStage, _ResidualPhiGateParams):
    """Null the output of a file that still holds PHI from its own header; say why.

    Give it the same strategy as the :class:`DicomMetadataDeidentifier` before
    it (:meth:`for_deidentifier` copies it): values the strategy keeps on
    purpose are not residual PHI. A finding empties ``inputCol`` and writes a
    PHI-free message to ``errorCol``, which the batch and streaming jobs
    quarantine. Rows an earlier stage failed pass through untouched.
    """

    @keyword_only
    def __init__(
        self,
        *,
        inputCol: str = schemas.DICOM_COL,
        originalCol: str = schemas.PATH_COL,
        pathCol: str = schemas.PATH_COL,
        mode: str = GateMode.METADATA.value,
        errorCol: str = schemas.ERROR_COL,
        handleInvalid: str = "keep",
        strategyFile: str = "tcia",
        strategyFileContent: str = "",
        groupStrategyFile: str = "",
        removePrivateTags: bool = True,
        cleanedUpstream: Sequence[str] = (),
        engine: str = "rapidocr",
        engineOptions: str = "{}",
        maxFileBytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        super().__init__()

    @classmethod
    def for_deidentifier(cls, deidentifier: Any, **params: Any) -> ResidualPhiGate:
        """A gate reading ``deidentifier``'s output with its strategy (no secret needed)."""
        return cls(
            inputCol=deidentifier.getOutputCol(),
            errorCol=deidentifier.getErrorCol(),
            strategyFile=deidentifier.getStrategyFile(),
            strategyFileContent=deidentifier.getStrategyFileContent(),
            groupStrategyFile=deidentifier.getGroupStrategyFile(),
            removePrivateTags=deidentifier.getRemovePrivateTags(),
            cleanedUpstream=deidentifier.getCleanedUpstream(),
            **params,
        )

    def setOriginalCol(self, value: str) -> ResidualPhiGate:
        return self._set(originalCol=value)

    def getOriginalCol(self) -> str:
        return self.getOrDefault(self.originalCol)

    def setMode(self, value: str) -> ResidualPhiGate:
        return self._set(mode=value)

    def getMode(self) -> str:
        return self.getOrDefault(self.mode)

    def policy(self) -> GatePolicy:
        """Resolve the strategy on the driver into what executors need."""
        return GatePolicy(
            strategy_csv=self.resolved_strategy().csv_text,
            group_strategy_csv=self.group_strategy_csv(),
            remove_private_tags=self.getRemovePrivateTags(),
            cleaned_upstream=tuple(self.getCleanedUpstream()),
        )

    def _transform(self, dataset: DataFrame) -> DataFrame:
        mode = gate_mode(self.getMode())
        if mode is GateMode.OFF:
            return dataset
        policy = self.policy()
        input_col, original_col = self.getInputCol(), self.getOriginalCol()
        if original_col not in dataset.columns:
            raise ValueError(
                f"ResidualPhiGate needs the original's column {original_col!r} (bytes or path)"
            )
        engine_name, engine_options = self.getEngine(), self.engine_options()
        max_bytes = self.getMaxFileBytes()
        job = self._row_job(
            dataset.schema, input_col, [StructField(input_col, schemas.FIELD_BINARY, True)],
            whole_files=True, path_col=self.getPathCol(),
            keep_input=True,  # the checked column is also the output column
            extra_cols=(original_col,),
            max_bytes=0,  # the output was made in memory by the stage before
        )

        def process(content: bytes, extras: dict[str, Any]) -> dict[str, Any]:
            engine = None
            if mode is GateMode.PIXELS:
                from sparkdeid.ocr.registry import get_engine

                engine = get_engine(engine_name, engine_options)
            original = source_bytes(extras.get(original_col), max_bytes)
            check_output(original, content, policy, mode, engine)
            return {input_col: content}

        return job.map_files(dataset, process)
