"""Typed core values as Spark cells and back: the only place rows are built.

The per-frame core (:mod:`sparkdeid.ocr.frame_ocr`, :mod:`sparkdeid.ner.finder`)
works on dataclasses; the pixel stages hand those between them as struct
columns (:mod:`sparkdeid.schemas`). A cell comes back as a dict or a Spark
``Row``; both index by field name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sparkdeid.boxes import Box, Region
from sparkdeid.dicom.frames import RenderedFrame
from sparkdeid.ner.base import Entity, HeaderTerm
from sparkdeid.ocr.base import FrameText, PlacedWord


def _box(cell: Any) -> Box:
    return Box(float(cell["x0"]), float(cell["y0"]), float(cell["x1"]), float(cell["y1"]))


def _box_cell(box: Box) -> dict[str, float]:
    return {"x0": box.x0, "y0": box.y0, "x1": box.x1, "y1": box.y1}


def image_cell(rendered: RenderedFrame, origin: str = "") -> dict[str, Any]:
    """A rendered frame as the ``image`` struct (schemas.IMAGE_TYPE)."""
    image = rendered.image
    return {
        "origin": origin,
        "height": int(image.shape[0]),
        "width": int(image.shape[1]),
        "nChannels": 1 if image.ndim == 2 else int(image.shape[2]),
        "mode": 0 if image.ndim == 2 else 16,  # OpenCV CV_8UC1 / CV_8UC3
        "data": image.tobytes(),
        "original_height": rendered.original_height,
        "original_width": rendered.original_width,
        "scale": float(rendered.scale),
    }


def rendered_of(cell: Any) -> RenderedFrame:
    """The rendered frame an ``image`` struct holds (its pixels are not copied)."""
    height, width, channels = int(cell["height"]), int(cell["width"]), int(cell["nChannels"])
    data = np.frombuffer(bytes(cell["data"]), dtype=np.uint8)
    shape = (height, width) if channels == 1 else (height, width, channels)
    return RenderedFrame(
        image=data.reshape(shape),
        scale=float(cell["scale"]) or 1.0,
        original_height=int(cell["original_height"]),
        original_width=int(cell["original_width"]),
    )


def areas_of(cell: Any) -> list[Box] | None:
    """The ``ocr_areas`` cell as boxes; None (read the whole image) when absent."""
    return None if cell is None else [_box(area) for area in cell]


def ocr_cell(text: FrameText) -> dict[str, Any]:
    """Frame text as the ``ocr`` struct (schemas.OCR_TYPE)."""
    return {
        "text": text.text,
        "words": [
            {"text": w.text, "begin": w.begin, "end": w.end, "confidence": float(w.confidence),
             **_box_cell(w.box), "line": w.line}
            for w in text.words
        ],
        "engine": text.engine,
        "frame_width": text.width,
        "frame_height": text.height,
    }


def frame_text_of(cell: Any) -> FrameText:
    """The frame text an ``ocr`` struct holds."""
    words = tuple(
        PlacedWord(
            text=str(w["text"]),
            begin=int(w["begin"]),
            end=int(w["end"]),
            confidence=float(w["confidence"]),
            box=_box(w),
            line=int(w["line"]),
        )
        for w in (cell["words"] if cell["words"] is not None else [])
    )
    return FrameText(
        str(cell["text"]),
        words,
        width=int(cell["frame_width"] or 0),
        height=int(cell["frame_height"] or 0),
        engine=str(cell["engine"] or ""),
    )


def entity_cell(entity: Entity) -> dict[str, Any]:
    return {
        "begin": int(entity.begin),
        "end": int(entity.end),
        "label": entity.label,
        "source": entity.source,
        "score": float(entity.score),
    }


def entities_of(cells: Sequence[Any] | None) -> list[Entity]:
    return [
        Entity(int(c["begin"]), int(c["end"]), str(c["label"]), str(c["source"]),
               float(c["score"]))
        for c in (cells if cells is not None else [])
    ]


def region_cell(region: Region) -> dict[str, Any]:
    return {**_box_cell(region.box), "label": region.label}


def region_boxes(cells: Sequence[Any] | None) -> list[Box]:
    """The boxes of a ``regions`` cell."""
    return [_box(cell) for cell in (cells if cells is not None else [])]


def header_terms_of_cell(cells: Sequence[Any] | None) -> tuple[HeaderTerm, ...]:
    if cells is None:
        return ()
    return tuple(HeaderTerm(str(t["kind"]), str(t["value"])) for t in cells)
