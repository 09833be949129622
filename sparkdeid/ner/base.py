"""What PHI detection produces and consumes.

A recognizer reads one text (a frame's OCR text or a tag document) and returns
:class:`Entity` spans. ``source`` says which recognizer found it (``header``,
``rule``, ``names``, ``model``, ``unverified`` for fail-closed masking of
text not confidently safe, ``redact_all``) so reports can explain every box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Entity:
    begin: int
    end: int
    label: str
    source: str
    score: float = 1.0


@dataclass(frozen=True)
class HeaderTerm:
    """An identifying value from the file's own header, e.g. ``("person_name", "DOE^JOHN")``.

    Kinds: ``person_name``, ``id``, ``date``, ``place``, ``other``.
    """

    kind: str
    value: str


@runtime_checkable
class Recognizer(Protocol):
    name: str

    def find(self, text: str, header: tuple[HeaderTerm, ...]) -> list[Entity]:
        ...
