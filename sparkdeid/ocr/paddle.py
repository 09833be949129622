"""PaddleOCR (the original Paddle runtime) with local model files only.

PaddleOCR downloads its models on first use, which fails on an offline
cluster and is not something a de-identification job should do silently.
This adapter therefore refuses to start unless detection and recognition
models are already on disk: give ``model_dir`` (a folder with ``det/`` and
``rec/`` sub-folders, each a Paddle inference model: ``inference.pdiparams``
plus ``inference.pdmodel`` or ``inference.json``), or ``det_model_dir`` and
``rec_model_dir`` separately. Both PaddleOCR 2.x (``ocr.ocr``) and 3.x
(``ocr.predict``) are supported; document unwarping and orientation models
are switched off so nothing else is fetched.

The rapidocr engine runs the same PP-OCR networks from ONNX files bundled in
its wheel and needs none of this; use this one to run a Paddle-format model
you trained or that rapidocr does not ship.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ocr.base import OcrLine

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "the paddleocr engine needs pip install paddleocr paddlepaddle (large); the rapidocr "
    "engine runs the same PP-OCR models without them"
)
MODELS_HINT = (
    "the paddleocr engine only uses local model files and never downloads them: set the "
    "option model_dir to a folder with det/ and rec/ sub-folders (or det_model_dir and "
    "rec_model_dir), each holding a Paddle inference model (inference.pdiparams with "
    "inference.pdmodel or inference.json), e.g. PP-OCRv5_mobile_det and PP-OCRv5_mobile_rec "
    "unpacked from their *_infer.tar archives"
)


@dataclass(frozen=True)
class PaddleOptions:
    """Engine options.

    Parameters
    ----------
    model_dir
        Folder with ``det/`` and ``rec/`` model sub-folders.
    det_model_dir, rec_model_dir
        The two model folders given separately (override ``model_dir``).
    det_model_name, rec_model_name
        PaddleOCR 3.x model names matching those folders (e.g.
        ``"PP-OCRv5_mobile_det"``); 3.x reads them from the folder when unset.
    lang
        PaddleOCR 2.x language code for its character dictionary.
    text_score
        Drop lines whose recognition confidence is below this.
    """

    model_dir: str | None = None
    det_model_dir: str | None = None
    rec_model_dir: str | None = None
    det_model_name: str | None = None
    rec_model_name: str | None = None
    lang: str = "en"
    text_score: float = 0.0

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any] | None) -> PaddleOptions:
        known = {f.name for f in fields(cls)}
        given = dict(options or {})
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown paddleocr options {unknown}; known: {sorted(known)}")
        return cls(**given)


def is_inference_model(folder: Path) -> bool:
    """True when ``folder`` holds a Paddle inference model (weights plus program)."""
    if not folder.is_dir():
        return False
    has_weights = any(folder.glob("*.pdiparams"))
    has_program = any(folder.glob("*.pdmodel")) or any(folder.glob("*.json"))
    return has_weights and has_program


def resolve_model_dirs(options: PaddleOptions) -> tuple[Path, Path]:
    """The detection and recognition model folders, or BackendUnavailableError saying why not."""
    base = Path(options.model_dir) if options.model_dir else None
    det = Path(options.det_model_dir) if options.det_model_dir else (base / "det" if base else None)
    rec = Path(options.rec_model_dir) if options.rec_model_dir else (base / "rec" if base else None)
    if det is None or rec is None:
        raise BackendUnavailableError(f"no paddleocr models configured; {MODELS_HINT}")
    bad = [f"{task} ({path})" for task, path in (("det", det), ("rec", rec))
           if not is_inference_model(path)]
    if bad:
        raise BackendUnavailableError(
            f"paddleocr model files missing for {', '.join(bad)}; {MODELS_HINT}"
        )
    return det, rec


class PaddleOcrEngine:
    """PP-OCR through PaddleOCR with explicitly given local models."""

    name = "paddleocr"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = PaddleOptions.from_mapping(options)
        det_dir, rec_dir = resolve_model_dirs(self.options)
        # PaddleOCR 3.x probes model hosts at start-up even for local models.
        os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")
        try:
            import paddleocr
        except ImportError as exc:
            raise BackendUnavailableError(INSTALL_HINT) from exc
        version = str(getattr(paddleocr, "__version__", "0"))
        self._v3 = not version.startswith(("0.", "1.", "2."))
        o = self.options
        if self._v3:
            kwargs: dict[str, Any] = {
                "text_detection_model_dir": str(det_dir),
                "text_recognition_model_dir": str(rec_dir),
                "use_doc_orientation_classify": False,
                "use_doc_unwarping": False,
                "use_textline_orientation": False,
            }
            if o.det_model_name:
                kwargs["text_detection_model_name"] = o.det_model_name
            if o.rec_model_name:
                kwargs["text_recognition_model_name"] = o.rec_model_name
        else:
            kwargs = {
                "det_model_dir": str(det_dir),
                "rec_model_dir": str(rec_dir),
                "use_angle_cls": False,
                "lang": o.lang,
                "show_log": False,
            }
        self._ocr = paddleocr.PaddleOCR(**kwargs)

    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Lines of text in ``image`` (uint8 grey or RGB), boxes in its pixels."""
        from sparkdeid.ocr.rapid import line_along_quad, order_quad, to_bgr

        bgr = to_bgr(image)
        found = self._predict(bgr)
        height, width = bgr.shape[:2]
        lines = []
        for polygon, text, score in found:
            if score < self.options.text_score or not str(text).strip():
                continue
            points = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
            if len(points) != 4:  # a curved polygon: use its upright box
                (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
                points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32)
            points[:, 0] = np.clip(points[:, 0], 0, width)
            points[:, 1] = np.clip(points[:, 1], 0, height)
            line = line_along_quad(str(text), float(score), order_quad(points))
            if line is not None:
                lines.append(line)
        return lines

    def _predict(self, bgr: np.ndarray) -> list[tuple[Any, str, float]]:
        if self._v3:
            found = []
            for result in self._ocr.predict(bgr):
                polys = result["rec_polys"]
                for poly, text, score in zip(
                    polys, result["rec_texts"], result["rec_scores"], strict=True
                ):
                    found.append((poly, str(text), float(score)))
            return found
        pages = self._ocr.ocr(bgr, cls=False) or [None]
        return [(box, str(rec[0]), float(rec[1])) for box, rec in (pages[0] or [])]
