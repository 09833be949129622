"""Which OCR back-ends exist, what each needs, and one loaded engine per process.

Spark calls :func:`get_engine` once per partition on every executor; loading
PP-OCR's networks takes about a second, so engines are cached per Python
process by (name, options) and a partition, batch or row never reloads one.
A back-end whose packages are missing raises
:class:`~sparkdeid.errors.BackendUnavailableError` naming what to install.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ocr.base import OcrEngine

logger = logging.getLogger(__name__)

DEFAULT_ENGINE = "rapidocr"


@dataclass(frozen=True)
class EngineSpec:
    """How to load one back-end.

    ``target`` is ``"module:Class"``; the class takes the options mapping.
    ``modules`` are the import names that must be present, ``binaries`` the
    programs that must be on ``PATH``, ``install`` what to tell the user.
    """

    name: str
    target: str
    modules: tuple[str, ...]
    install: str
    binaries: tuple[str, ...] = ()


ENGINES: dict[str, EngineSpec] = {
    spec.name: spec
    for spec in (
        EngineSpec(
            "rapidocr",
            "sparkdeid.ocr.rapid:RapidOcrEngine",
            ("rapidocr", "onnxruntime", "cv2"),
            "pip install 'rapidocr>=3,<4' onnxruntime (PP-OCR models ship inside the wheel)",
        ),
        EngineSpec(
            "tesseract",
            "sparkdeid.ocr.tesseract:TesseractEngine",
            ("pytesseract",),
            "pip install pytesseract, and the tesseract program: "
            "apt-get install tesseract-ocr (Debian/Ubuntu package tesseract-ocr)",
            binaries=("tesseract",),
        ),
        EngineSpec(
            "paddleocr",
            "sparkdeid.ocr.paddle:PaddleOcrEngine",
            ("paddleocr", "paddle"),
            "pip install paddleocr paddlepaddle, and give the engine local model files "
            "with the model_dir option (sparkdeid never downloads models)",
        ),
    )
}

_CACHE: dict[tuple[str, Any], OcrEngine] = {}
_LOCK = threading.Lock()


def known_engines() -> list[str]:
    """Every back-end name the registry knows, installed or not."""
    return sorted(ENGINES)


def missing_requirements(name: str) -> list[str]:
    """Modules and programs ``name`` needs that this machine lacks (empty: installed)."""
    spec = _spec(name)
    missing = [m for m in spec.modules if not _importable(m)]
    missing += [b for b in spec.binaries if shutil.which(b) is None]
    return missing


def available_engines() -> list[str]:
    """Back-ends whose packages and programs are installed here.

    Installed is not always usable: ``paddleocr`` also needs model files,
    which only loading the engine checks.
    """
    return [name for name in known_engines() if not missing_requirements(name)]


def get_engine(name: str = DEFAULT_ENGINE, options: Mapping[str, Any] | None = None) -> OcrEngine:
    """The engine ``name`` with ``options``, loaded on first use in this process.

    Raises
    ------
    ValueError
        Unknown engine name, or options the engine rejects.
    BackendUnavailableError
        The back-end's packages, programs or model files are missing.
    """
    spec = _spec(name)
    key = (spec.name, freeze(options or {}))
    engine = _CACHE.get(key)
    if engine is not None:
        return engine
    with _LOCK:
        engine = _CACHE.get(key)
        if engine is None:
            engine = _load(spec, dict(options or {}))
            _CACHE[key] = engine
    return engine


def clear_cache() -> None:
    """Forget loaded engines (tests; or to free a model's memory)."""
    with _LOCK:
        _CACHE.clear()


def freeze(value: Any) -> Any:
    """A hashable, order-independent copy of a JSON-like options value."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return tuple(sorted(freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        raise ValueError(
            f"engine option values must be JSON-like, got {type(value).__name__}"
        ) from None
    return value


def _spec(name: str) -> EngineSpec:
    spec = ENGINES.get(str(name).strip().lower())
    if spec is None:
        known = ", ".join(known_engines())
        raise ValueError(f"unknown OCR engine {name!r}; known engines: {known}")
    return spec


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _load(spec: EngineSpec, options: dict[str, Any]) -> OcrEngine:
    missing = missing_requirements(spec.name)
    if missing:
        raise BackendUnavailableError(
            f"OCR engine {spec.name!r} is not installed (missing: {', '.join(missing)}); "
            f"to use it: {spec.install}"
        )
    module_name, _, class_name = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"OCR engine {spec.name!r} could not be imported ({exc}); to use it: {spec.install}"
        ) from exc
    started = time.perf_counter()
    engine: OcrEngine = getattr(module, class_name)(options)
    logger.info(
        "loaded OCR engine %s with %d option(s) in %.2f s",
        spec.name, len(options), time.perf_counter() - started,
    )
    return engine
