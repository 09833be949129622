"""Shared Param mixins: each parameter is declared once, with its documentation.

Defaults are not set here: each stage's constructor signature is the one
place a default is written (see :class:`sparkdeid.stages.base.DeidStage`),
so a mixin shared by stages with different defaults cannot disagree with them.

Setter and getter names follow John Snow Labs Visual NLP (``setInputCol``,
``setKeepInput``, ``setStrategyFile`` ...) so its users can port pipelines.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pyspark.ml.param import Param, Params, TypeConverters, shared

from sparkdeid.dicom.limits import FileLimits
from sparkdeid.metadata.strategy import ResolvedStrategy, read_text_or_file, resolve_strategy

P = TypeVar("P", bound=Params)
S = TypeVar("S", bound="HasSecret")

HANDLE_INVALID_CHOICES = ("error", "skip", "keep")


def one_of(name: str, choices: tuple[str, ...]) -> Any:
    """A Param converter that refuses anything but ``choices``.

    Params pass every value through their converter, whether it comes from
    a setter, a constructor keyword or a saved pipeline being loaded, so a
    misspelt choice (``handleInvalid="skp"``) fails there instead of acting
    as some default later.
    """

    def convert(value: Any) -> str:
        text = TypeConverters.toString(value)
        if text not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}; got {text[:20]!r}")
        return text

    return convert


__all__ = [
    "HasCleanedDocumentCol",
    "HasDetectorPolicy",
    "HasErrorCol",
    "HasFrameCols",
    "HasHeaderTermsCol",
    "HasInputCol",
    "HasInputCols",
    "HasKeepInput",
    "HasMaxFileBytes",
    "HasOcrEngine",
    "HasOutputCol",
    "HasPathCol",
    "HasRemovePrivateTags",
    "HasResourceLimits",
    "HasSecret",
    "HasStrategy",
    "HasTagMappingCol",
]


class HasInputCol(shared.HasInputCol):
    def setInputCol(self: P, value: str) -> P:
        return self._set(inputCol=value)


class HasInputCols(shared.HasInputCols):
    def setInputCols(self: P, value: list[str]) -> P:
        return self._set(inputCols=value)


class HasOutputCol(shared.HasOutputCol):
    def setOutputCol(self: P, value: str) -> P:
        return self._set(outputCol=value)


class HasPathCol(Params):
    pathCol: Param[str] = Param(
        Params._dummy(),
        "pathCol",
        "column with each file's path (binaryFile's 'path'); used to read the bytes when the "
        "input column holds paths, and to name rows in error messages by hashed id",
        typeConverter=TypeConverters.toString,
    )


    def setPathCol(self: P, value: str) -> P:
        return self._set(pathCol=value)

    def getPathCol(self) -> str:
        return self.getOrDefault(self.pathCol)


class HasKeepInput(Params):
    keepInput: Param[bool] = Param(
        Params._dummy(),
        "keepInput",
        "keep the input column in the output; off by default so file bytes are not carried "
        "twice through the pipeline",
        typeConverter=TypeConverters.toBoolean,
    )


    def setKeepInput(self: P, value: bool) -> P:
        return self._set(keepInput=value)

    def getKeepInput(self) -> bool:
        return self.getOrDefault(self.keepInput)


class HasErrorCol(Params):
    errorCol: Param[str] = Param(
        Params._dummy(),
        "errorCol",
        "column that receives a per-row error message (no PHI); null when the row succeeded",
        typeConverter=TypeConverters.toString,
    )
    handleInvalid: Param[str] = Param(
        Params._dummy(),
        "handleInvalid",
        "what to do with a file that fails: 'keep' the row with the error in errorCol "
        "(default), 'skip' it, or 'error' to fail the job as Spark's own stages do",
        typeConverter=one_of("handleInvalid", HANDLE_INVALID_CHOICES),
    )


    def setErrorCol(self: P, value: str) -> P:
        return self._set(errorCol=value)

    def getErrorCol(self) -> str:
        return self.getOrDefault(self.errorCol)

    def setHandleInvalid(self: P, value: str) -> P:
        return self._set(handleInvalid=value)

    def getHandleInvalid(self) -> str:
        return self.getOrDefault(self.handleInvalid)


class HasMaxFileBytes(Params):
    """The size limit of stages that hold a whole file in memory (sparkdeid.dicom.limits)."""

    maxFileBytes: Param[int] = Param(
        Params._dummy(),
        "maxFileBytes",
        "largest file in bytes this stage holds in memory (0 = no limit); a bigger file is an "
        "error row, refused before it is read, instead of an executor out of memory. Default "
        "1 GiB: the whole-file route needs several times a file's size",
        typeConverter=TypeConverters.toInt,
    )


    def setMaxFileBytes(self: P, value: int) -> P:
        return self._set(maxFileBytes=value)

    def getMaxFileBytes(self) -> int:
        return self.getOrDefault(self.maxFileBytes)


class HasResourceLimits(HasMaxFileBytes):
    """Per-file limits of stages that decode pixels: size, frames, decoded pixels."""

    maxFrames: Param[int] = Param(
        Params._dummy(),
        "maxFrames",
        "largest Number of Frames a file may declare (0 = no limit); checked on the header "
        "before any frame is decoded",
        typeConverter=TypeConverters.toInt,
    )
    maxDecodedPixels: Param[int] = Param(
        Params._dummy(),
        "maxDecodedPixels",
        "largest decoded size a file may declare, in pixel values: Rows x Columns x "
        "Samples per Pixel x Number of Frames (0 = no limit); checked on the header before "
        "any pixel buffer is allocated. Default 2**31 (2-4 GiB decoded)",
        typeConverter=TypeConverters.toInt,
    )


    def setMaxFrames(self: P, value: int) -> P:
        return self._set(maxFrames=value)

    def getMaxFrames(self) -> int:
        return self.getOrDefault(self.maxFrames)

    def setMaxDecodedPixels(self: P, value: int) -> P:
        return self._set(maxDecodedPixels=value)

    def getMaxDecodedPixels(self) -> int:
        return self.getOrDefault(self.maxDecodedPixels)

    def file_limits(self) -> FileLimits:
        """The three limits as the picklable value executors check against."""
        return FileLimits(
            max_bytes=self.getMaxFileBytes(),
            max_frames=self.getMaxFrames(),
            max_decoded_pixels=self.getMaxDecodedPixels(),
        )


class HasStrategy(Params):
    strategyFile: Param[str] = Param(
        Params._dummy(),
        "strategyFile",
        "strategy: a shipped profile ('basic', 'tcia', or a profile with options such as "
        "'basic+retain-uids+clean-descriptors') or the path of a strategy CSV "
        "(Tags,VR,Name,Status,Action,Option)",
        typeConverter=TypeConverters.toString,
    )
    strategyFileContent: Param[str] = Param(
        Params._dummy(),
        "strategyFileContent",
        "strategy CSV text itself; wins over strategyFile (useful where executors cannot "
        "read the driver's files)",
        typeConverter=TypeConverters.toString,
    )
    groupStrategyFile: Param[str] = Param(
        Params._dummy(),
        "groupStrategyFile",
        "optional group strategy CSV (VR GROUP, tags like (0020,), action delete/remove) "
        "applied to tags that no row of the main strategy names; a path or CSV text",
        typeConverter=TypeConverters.toString,
    )


    def setStrategyFile(self: P, value: str) -> P:
        return self._set(strategyFile=value)

    def getStrategyFile(self) -> str:
        return self.getOrDefault(self.strategyFile)

    def setStrategyFileContent(self: P, value: str) -> P:
        return self._set(strategyFileContent=value)

    def getStrategyFileContent(self) -> str:
        return self.getOrDefault(self.strategyFileContent)

    def setGroupStrategyFile(self: P, value: str) -> P:
        return self._set(groupStrategyFile=value)

    def getGroupStrategyFile(self) -> str:
        return self.getOrDefault(self.groupStrategyFile)

    def resolved_strategy(self) -> ResolvedStrategy:
        """The strategy these params name, resolved on the driver (content wins over file)."""
        return resolve_strategy(self.getStrategyFileContent() or self.getStrategyFile())

    def group_strategy_csv(self) -> str | None:
        """The group strategy's CSV text, or None when there is none."""
        return read_text_or_file(self.getGroupStrategyFile()) or None


class HasSecret(Params):
    """Where the pseudonym secret comes from; the secret itself is never a Param.

    Params are saved with a pipeline, so only the *source* is one: a file path
    or an environment variable name. ``setSecret`` keeps a value in memory for
    interactive use; it is not saved.
    """

    secretFile: Param[str] = Param(
        Params._dummy(),
        "secretFile",
        "file holding the pseudonym secret (HMAC key); read on the driver",
        typeConverter=TypeConverters.toString,
    )
    secretEnvVar: Param[str] = Param(
        Params._dummy(),
        "secretEnvVar",
        "environment variable holding the secret when no file is given (read on the driver)",
        typeConverter=TypeConverters.toString,
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._secret_value: bytes | None = None

    def setSecretFile(self: P, value: str) -> P:
        return self._set(secretFile=value)

    def getSecretFile(self) -> str:
        return self.getOrDefault(self.secretFile)

    def setSecretEnvVar(self: P, value: str) -> P:
        return self._set(secretEnvVar=value)

    def getSecretEnvVar(self) -> str:
        return self.getOrDefault(self.secretEnvVar)

    def setSecret(self: S, value: str | bytes) -> S:
        """Use this secret in this process only; it is not saved with the stage."""
        self._secret_value = value.encode() if isinstance(value, str) else value
        return self

    def _resolved_secret(self) -> bytes:
        from sparkdeid.metadata.secrets import resolve_secret

        secret, _ = resolve_secret(
            getattr(self, "_secret_value", None),
            self.getSecretFile() or None,
            self.getSecretEnvVar() or None,
        )
        return secret


class HasOcrEngine(Params):
    """The OCR back-end, for every stage that reads text off pixels."""

    engine: Param[str] = Param(
        Params._dummy(),
        "engine",
        "OCR back-end from sparkdeid.ocr.registry: 'rapidocr' (default; PP-OCR models "
        "inside the rapidocr wheel), 'tesseract' (needs Debian tesseract-ocr), 'paddleocr' "
        "(only with local model files)",
        typeConverter=TypeConverters.toString,
    )
    engineOptions: Param[str] = Param(
        Params._dummy(),
        "engineOptions",
        "JSON object of engine options (see the engine's docstring), e.g. "
        '\'{"det_box_thresh": 0.4}\'',
        typeConverter=TypeConverters.toString,
    )


    def setEngine(self: P, value: str) -> P:
        return self._set(engine=value)

    def getEngine(self) -> str:
        return self.getOrDefault(self.engine)

    def setEngineOptions(self: P, value: str | dict[str, Any]) -> P:
        return self._set(engineOptions=value if isinstance(value, str) else json.dumps(value))

    def getEngineOptions(self) -> str:
        return self.getOrDefault(self.engineOptions)

    def engine_options(self) -> dict[str, Any]:
        """engineOptions parsed; anything but a JSON object is an error."""
        options = json.loads(self.getEngineOptions() or "{}")
        if not isinstance(options, dict):
            raise ValueError("engineOptions must be a JSON object")
        return options


class HasDetectorPolicy(Params):
    """How cautious PHI detection is on text read off pixels (see DetectorConfig)."""

    failClosed: Param[bool] = Param(
        Params._dummy(), "failClosed",
        "OCR text: mask every word that is not confidently recognised as safe (allow-listed "
        "and read with at least minConfidence); off = mask recognised PHI only",
        typeConverter=TypeConverters.toBoolean,
    )
    minConfidence: Param[float] = Param(
        Params._dummy(), "minConfidence",
        "OCR confidence below which an allow-listed word is not trusted (fail-closed mode)",
        typeConverter=TypeConverters.toFloat,
    )
    redactAll: Param[bool] = Param(
        Params._dummy(), "redactAll",
        "every word read is an entity (full anonymisation of burned-in and document text)",
        typeConverter=TypeConverters.toBoolean,
    )


    def setFailClosed(self: P, value: bool) -> P:
        return self._set(failClosed=value)

    def getFailClosed(self) -> bool:
        return self.getOrDefault(self.failClosed)

    def setMinConfidence(self: P, value: float) -> P:
        return self._set(minConfidence=value)

    def getMinConfidence(self) -> float:
        return self.getOrDefault(self.minConfidence)

    def setRedactAll(self: P, value: bool) -> P:
        return self._set(redactAll=value)

    def getRedactAll(self) -> bool:
        return self.getOrDefault(self.redactAll)


class HasHeaderTermsCol(Params):
    """The column that carries a file's identifying header values from its reader to NER."""

    headerTermsCol: Param[str] = Param(
        Params._dummy(),
        "headerTermsCol",
        "column with the file's identifying header values: written by DicomToImage (and by "
        "DicomToMetadata with extractTagForNer), read by NerDeid's header-informed "
        "recognizer; '' = not written, and a missing column switches the recognizer off",
        typeConverter=TypeConverters.toString,
    )

    def setHeaderTermsCol(self: P, value: str) -> P:
        return self._set(headerTermsCol=value)

    def getHeaderTermsCol(self) -> str:
        return self.getOrDefault(self.headerTermsCol)


class HasFrameCols(Params):
    """The columns DicomToImage writes and DicomDrawRegions rebuilds a file from."""

    frameCol: Param[str] = Param(
        Params._dummy(), "frameCol", "column with each row's frame index (-1 = no Pixel Data)",
        typeConverter=TypeConverters.toString,
    )
    numFramesCol: Param[str] = Param(
        Params._dummy(), "numFramesCol", "column with each file's number of frames",
        typeConverter=TypeConverters.toString,
    )

    def setFrameCol(self: P, value: str) -> P:
        return self._set(frameCol=value)

    def getFrameCol(self) -> str:
        return self.getOrDefault(self.frameCol)

    def setNumFramesCol(self: P, value: str) -> P:
        return self._set(numFramesCol=value)

    def getNumFramesCol(self) -> str:
        return self.getOrDefault(self.numFramesCol)


class HasTagMappingCol(Params):
    tagMappingCol: Param[str] = Param(
        Params._dummy(),
        "tagMappingCol",
        "column mapping each line of the tag document to its tag path and character span: "
        "written by DicomToMetadata with extractTagForNer, read by DicomMetadataDeidentifier "
        "with cleanedDocumentCol ('' = not read)",
        typeConverter=TypeConverters.toString,
    )

    def setTagMappingCol(self: P, value: str) -> P:
        return self._set(tagMappingCol=value)

    def getTagMappingCol(self) -> str:
        return self.getOrDefault(self.tagMappingCol)


class HasCleanedDocumentCol(Params):
    cleanedDocumentCol: Param[str] = Param(
        Params._dummy(),
        "cleanedDocumentCol",
        "column with the tag document after NER cleaning (same lines as the original): "
        "written by NerDeid in document mode; when DicomMetadataDeidentifier reads it (with "
        "tagMappingCol), cleanTag uses these texts instead of the built-in header-informed "
        "cleaner ('' = not read)",
        typeConverter=TypeConverters.toString,
    )

    def setCleanedDocumentCol(self: P, value: str) -> P:
        return self._set(cleanedDocumentCol=value)

    def getCleanedDocumentCol(self) -> str:
        return self.getOrDefault(self.cleanedDocumentCol)


class HasRemovePrivateTags(Params):
    removePrivateTags: Param[bool] = Param(
        Params._dummy(),
        "removePrivateTags",
        "remove private tags that the strategy has no row for; the 'tcia' profile instead "
        "keeps those TCIA's knowledge base marks safe. ResidualPhiGate takes the "
        "de-identifier's value: private tags kept on purpose are not residual PHI",
        typeConverter=TypeConverters.toBoolean,
    )

    def setRemovePrivateTags(self: P, value: bool) -> P:
        return self._set(removePrivateTags=value)

    def getRemovePrivateTags(self) -> bool:
        return self.getOrDefault(self.removePrivateTags)


class HasCleanedUpstream(Params):
    cleanedUpstream: Param[list[str]] = Param(
        Params._dummy(),
        "cleanedUpstream",
        "what pixel stages before this one already cleaned, so it is kept instead of removed: "
        "'overlays' (Overlay Data and the attributes describing it; overlay labels and "
        "descriptions are still cleaned), 'documents' (Encapsulated Document and its length), "
        "'icons' (the top-level Icon Image Sequence); images nested in sequence items are "
        "removed regardless. Set by the full pipeline, not by hand; ResidualPhiGate takes the "
        "de-identifier's value, so what was kept that way is not residual PHI",
        typeConverter=TypeConverters.toListString,
    )

    def setCleanedUpstream(self: P, value: list[str]) -> P:
        return self._set(cleanedUpstream=value)

    def getCleanedUpstream(self) -> list[str]:
        names: list[str] | None = self.getOrDefault(self.cleanedUpstream)
        return list(names or [])  # an explicit None passed to the constructor means none
