"""Statistical NER as an extra signal: a spaCy pipeline, and Spark NLP's chunk output.

Neither is required: header terms, rules and the name lists do the work, and
fail-closed masking covers what they miss in pixels. A model adds recall on
free text (comments, descriptions) where names and places have no shape.

* :class:`SpacyRecognizer` loads an installed spaCy pipeline by name. It never
  downloads: an air-gapped hospital installs the pipeline's wheel itself.
* :func:`entities_from_chunks` converts the NER chunks a Spark NLP pipeline
  produced (run by NerDeid as an ordinary DataFrame transform) into entities.

spaCy's labels are mapped onto the package's (PERSON -> NAME, GPE/LOC/FAC ->
LOCATION, ORG -> ORGANIZATION); a Spark NLP model's labels are its own
(PATIENT, DOCTOR, MEDICALRECORD, ...) and are kept as they are, since the
user chose that model and its vocabulary.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ner.base import Entity, HeaderTerm

logger = logging.getLogger(__name__)

# spaCy (OntoNotes) labels that can be PHI, and what they become.
SPACY_LABELS = {
    "PERSON": "NAME",
    "DATE": "DATE",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
}
# spaCy gives no per-entity confidence; a fixed score says "model evidence".
_SPACY_SCORE = 0.5

_LOCK = threading.Lock()
_PIPELINES: dict[str, Any] = {}


def load_spacy(model_name: str) -> Any:
    """The installed spaCy pipeline ``model_name`` (package name or path), once per process."""
    with _LOCK:
        if model_name not in _PIPELINES:
            _PIPELINES[model_name] = _load(model_name)
        return _PIPELINES[model_name]


def _load(model_name: str) -> Any:
    try:
        import spacy
    except ImportError:
        raise BackendUnavailableError(
            "the spaCy recognizer needs spaCy: pip install spacy (or 'sparkdeid[spacy]')"
        ) from None
    installed = spacy.util.is_package(model_name) or Path(model_name).is_dir()
    if not installed:
        raise BackendUnavailableError(
            f"spaCy pipeline {model_name!r} is not installed and is never downloaded; install "
            f"its wheel: pip install {model_name}-<version>-py3-none-any.whl"
        )
    # Only the entity recognizer and what it needs; parser and lemmatizer cost time.
    return spacy.load(model_name, exclude=["parser", "lemmatizer", "textcat"])


class SpacyRecognizer:
    """Entities from a spaCy pipeline (source ``model``), line by line."""

    name = "spacy"

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self._nlp = load_spacy(model_name)

    def find(self, text: str, header: tuple[HeaderTerm, ...] = ()) -> list[Entity]:
        lines = text.split("\n")
        starts = []
        position = 0
        for line in lines:
            starts.append(position)
            position += len(line) + 1
        entities: list[Entity] = []
        for start, doc in zip(starts, self._nlp.pipe(lines), strict=True):
            for ent in doc.ents:
                label = SPACY_LABELS.get(str(ent.label_))
                if label and ent.end_char > ent.start_char:
                    entities.append(
                        Entity(start + ent.start_char, start + ent.end_char, label, "model",
                               _SPACY_SCORE)
                    )
        return entities


def entities_from_chunks(chunks: Iterable[Any] | None) -> list[Entity]:
    """Entities from Spark NLP NER chunk annotations (the output of ``NerConverter``).

    Each chunk is a Spark NLP ``Annotation`` row, as a pyspark ``Row``, a dict
    (pandas batches) or anything with those attributes::

        annotatorType: string               "chunk" (other types are skipped)
        begin:         int                  first character, 0-based
        end:           int                  last character, INCLUSIVE
        result:        string               the chunk text (not used: spans are enough)
        metadata:      map<string, string>  "entity" -> label (e.g. PATIENT, DATE),
                                            "confidence" -> float as text,
                                            also "sentence", "chunk", "ner_source"
        embeddings:    array<float>         (not used)

    In pandas batches a map arrives as a list of ``(key, value)`` pairs; both
    forms are read. Spans become half-open (``end + 1``); labels are the
    model's own; a missing or unreadable confidence counts as 1.0. Source is
    ``model``.
    """
    entities: list[Entity] = []
    for chunk in chunks if chunks is not None else ():
        if chunk is None:
            continue
        kind = _field(chunk, "annotatorType")
        if kind is not None and str(kind) != "chunk":
            continue
        begin, end = _field(chunk, "begin"), _field(chunk, "end")
        if begin is None or end is None or int(end) < int(begin) or int(begin) < 0:
            continue
        metadata = _mapping(_field(chunk, "metadata"))
        label = str(metadata.get("entity") or "ENTITY").strip()
        if label.upper() == "O":
            continue
        score = _confidence(metadata.get("confidence"))
        entities.append(Entity(int(begin), int(end) + 1, label, "model", score))
    return entities


def _field(chunk: Any, name: str) -> Any:
    if isinstance(chunk, Mapping):
        return chunk.get(name)
    try:
        return chunk[name]  # pyspark Row, pandas Series
    except (KeyError, TypeError, ValueError, IndexError):
        return getattr(chunk, name, None)


def _mapping(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "asDict"):
        return dict(value.asDict())
    try:
        return {str(k): v for k, v in value}  # Arrow map -> list of pairs
    except (TypeError, ValueError):
        return {}


def _confidence(value: Any) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        return 1.0
    return min(1.0, max(0.0, score)) if score == score else 1.0  # NaN -> 1.0
