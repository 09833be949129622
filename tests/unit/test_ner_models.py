"""Model adapters: a spaCy pipeline (faked: spaCy is optional) and Spark NLP chunks."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ner import models
from sparkdeid.ner.base import Entity
from sparkdeid.ner.models import SpacyRecognizer, entities_from_chunks

# --------------------------------------------------------------------------- spaCy


@dataclass
class _Ent:
    start_char: int
    end_char: int
    label_: str


class _Doc:
    def __init__(self, text: str) -> None:
        self.ents = []
        for word, label in (("Voranek", "PERSON"), ("Zorvath", "GPE"), ("CT", "PRODUCT")):
            if word in text:
                start = text.index(word)
                self.ents.append(_Ent(start, start + len(word), label))


class _Pipeline:
    def pipe(self, texts):
        return (_Doc(t) for t in texts)


@pytest.fixture
def fake_spacy(monkeypatch):
    """A stand-in ``spacy`` module with one installed pipeline, ``xx_fake_sm``."""
    loaded: list[tuple[str, tuple[str, ...]]] = []

    def load(name, exclude=()):
        loaded.append((name, tuple(exclude)))
        return _Pipeline()

    module = types.ModuleType("spacy")
    module.util = types.SimpleNamespace(is_package=lambda name: name == "xx_fake_sm")
    module.load = load
    monkeypatch.setitem(sys.modules, "spacy", module)
    monkeypatch.setattr(models, "_PIPELINES", {})
    return loaded


def test_spacy_entities_become_package_entities_line_by_line(fake_spacy):
    recognizer = SpacyRecognizer("xx_fake_sm")
    text = "AXIAL\nseen by Voranek at Zorvath CT"
    found = recognizer.find(text, ())
    assert [(text[e.begin : e.end], e.label, e.source) for e in found] == [
        ("Voranek", "NAME", "model"),
        ("Zorvath", "LOCATION", "model"),
    ]  # PRODUCT is not a PHI label


def test_spacy_pipeline_is_loaded_once_per_process(fake_spacy):
    SpacyRecognizer("xx_fake_sm")
    SpacyRecognizer("xx_fake_sm")
    assert len(fake_spacy) == 1
    assert "parser" in fake_spacy[0][1]


def test_a_missing_spacy_pipeline_names_its_wheel_and_is_not_downloaded(fake_spacy):
    with pytest.raises(BackendUnavailableError, match="pip install xx_missing_md-"):
        SpacyRecognizer("xx_missing_md")
    assert fake_spacy == []


def test_missing_spacy_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "spacy", None)  # import fails
    monkeypatch.setattr(models, "_PIPELINES", {})
    with pytest.raises(BackendUnavailableError, match="pip install spacy"):
        SpacyRecognizer("en_core_web_sm")


# --------------------------------------------------------------------------- Spark NLP chunks


class _Row:
    """Looks like a pyspark Row: item access by field name, attributes too."""

    def __init__(self, **fields):
        self._fields = fields
        for key, value in fields.items():
            setattr(self, key, value)

    def __getitem__(self, key):
        return self._fields[key]


def chunk(begin, end, entity, confidence="0.9", kind="chunk", as_pairs=False):
    metadata = {"entity": entity, "confidence": confidence, "sentence": "0", "chunk": "0"}
    return {
        "annotatorType": kind,
        "begin": begin,
        "end": end,
        "result": "x",
        "metadata": list(metadata.items()) if as_pairs else metadata,
        "embeddings": [],
    }


def test_chunks_become_half_open_entities_with_the_models_labels():
    text = "Talisha Voranek seen 06/16/1976"
    chunks = [chunk(0, 14, "PATIENT", "0.97"), chunk(21, 30, "DATE", "0.88")]
    found = entities_from_chunks(chunks)
    assert found == [
        Entity(0, 15, "PATIENT", "model", 0.97),
        Entity(21, 31, "DATE", "model", 0.88),
    ]
    assert [text[e.begin : e.end] for e in found] == ["Talisha Voranek", "06/16/1976"]


def test_chunks_read_rows_and_arrow_map_pairs():
    rows = [_Row(**chunk(0, 4, "MEDICALRECORD", as_pairs=True)), _Row(**chunk(6, 9, "HOSPITAL"))]
    found = entities_from_chunks(rows)
    assert [(e.label, e.end) for e in found] == [("MEDICALRECORD", 5), ("HOSPITAL", 10)]


def test_chunks_that_are_not_entities_are_skipped():
    chunks = [
        chunk(0, 4, "NAME", kind="document"),
        chunk(5, 3, "NAME"),  # end before begin
        chunk(0, 2, "O"),
        None,
    ]
    assert entities_from_chunks(chunks) == []
    assert entities_from_chunks(None) == []


def test_bad_confidence_counts_as_certain():
    found = entities_from_chunks([chunk(0, 3, "PROFESSION", confidence="n/a")])
    assert found == [Entity(0, 4, "PROFESSION", "model", 1.0)]
