"""TCIA's private tag knowledge base: which private attributes are safe to keep.

The Retain Safe Private option of PS3.15 only says "keep private attributes
known to be safe"; The Cancer Imaging Archive publishes what it knows, one row
per private element signature, each with a disposition:

``k`` keep (safe), ``d`` delete, ``h`` hash (UID-like: replace consistently),
``o`` offset (date/time: shift like the other dates), ``oi`` offset an integer,
``na`` not applicable.

A signature names a private element by group, private creator and the low byte
of its element number, since the block byte is assigned per file when the
creator reserves a block. Elements nested in sequences carry the path to them,
``(0008,1084)[<0>](312f,"Ramsoft ...",10)``; the item index is irrelevant (the
same disposition holds in every item) and is dropped.

The published file has hand-edited rows (missing or doubled quotes, stray
spaces, upper-case dispositions). They are normalised; rows that still do not
parse, or carry no disposition, are counted and skipped. When several rows give
one path different dispositions (the KB lists some elements once per VR) the
most protective one is kept, in the order of :data:`DISPOSITION_PRIORITY`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import TypeAlias

from sparkdeid.errors import StrategyError

__all__ = [
    "DISPOSITIONS",
    "DISPOSITION_PRIORITY",
    "KB_RESOURCE",
    "PathStep",
    "PrivateTagKnowledgeBase",
    "private_step",
]

KB_RESOURCE = "tcia-private-tag-kb-2024-02-01.csv"
"""File name of the knowledge base inside ``sparkdeid/data``."""

DISPOSITION_PRIORITY = ("d", "h", "o", "oi", "na", "k")
"""Dispositions from most to least protective; decides between duplicate rows."""

DISPOSITIONS = frozenset(DISPOSITION_PRIORITY)

_SIGNATURE = "element_sig_pattern"
_DISPOSITION = "private_disposition"
_ITEM = re.compile(r"\[<\d+>\]")
_STANDARD = re.compile(r"^\(\s*([0-9a-fA-F]{4})\s*,\s*([0-9a-fA-F]{4})\s*\)$")
# The creator is whatever lies between the first and the last comma: creators
# may themselves contain commas ("HOLOGIC, Inc.").
_PRIVATE = re.compile(r"^\(\s*([0-9a-fA-F]{4})\s*,(.*),\s*([0-9a-fA-F]{2})\s*\)$")

_Key: TypeAlias = tuple[tuple[int, str | None, int], ...]


@dataclass(frozen=True)
class PathStep:
    """One element on the path from the top-level data set to an element.

    Attributes
    ----------
    group
        Group number, e.g. ``0x0019``.
    creator
        Private creator of a private element, ``None`` for a standard tag.
    element
        Low byte (``0x00``-``0xFF``) for a private element, the full element
        number for a standard tag.
    """

    group: int
    creator: str | None
    element: int


def private_step(tag: int, creator: str) -> PathStep:
    """The step for private element ``tag`` reserved by ``creator``.

    Only the low byte of the element is kept: ``(0019,1008)`` and
    ``(0019,2008)`` are the same element when both blocks belong to the creator.
    """
    return PathStep(tag >> 16, creator, tag & 0xFF)


def _creator_key(creator: str) -> str:
    return creator.strip().lower()


def _key(path: Sequence[PathStep]) -> _Key:
    return tuple(
        (
            step.group,
            None if step.creator is None else _creator_key(step.creator),
            step.element,
        )
        for step in path
    )


def _parse_signature(text: str) -> _Key | None:
    """Lookup key of a signature, or ``None`` when it cannot be read."""
    steps: list[tuple[int, str | None, int]] = []
    for piece in _ITEM.split(text.strip()):
        piece = piece.strip()
        standard = _STANDARD.match(piece)
        if standard is not None:
            steps.append((int(standard[1], 16), None, int(standard[2], 16)))
            continue
        private = _PRIVATE.match(piece)
        if private is None:
            return None
        group = int(private[1], 16)
        if not group & 1:
            return None
        creator = _creator_key(private[2].strip().strip('"'))
        steps.append((group, creator, int(private[3], 16)))
    return tuple(steps) if steps else None


def _more_protective(first: str, second: str) -> str:
    if DISPOSITION_PRIORITY.index(first) <= DISPOSITION_PRIORITY.index(second):
        return first
    return second


class PrivateTagKnowledgeBase:
    """Dispositions of private elements, looked up by their path in O(1).

    Build it with :meth:`default` (the packaged KB, parsed once per process) or
    :meth:`from_csv_text`. Lookups normalise the creator (trimmed, case-folded)
    and ignore item indices.

    Attributes
    ----------
    parsed_rows
        CSV rows that gave a path and a disposition (duplicates included).
    skipped_rows
        CSV rows dropped because their signature or disposition was unreadable;
        kept so a new KB edition that parses badly is noticed.
    """

    def __init__(
        self, table: Mapping[_Key, str], parsed_rows: int, skipped_rows: int
    ) -> None:
        self._table = dict(table)
        self.parsed_rows = parsed_rows
        self.skipped_rows = skipped_rows

    @classmethod
    def default(cls) -> PrivateTagKnowledgeBase:
        """The packaged TCIA knowledge base; cached, so call it freely."""
        return _default()

    @classmethod
    def from_csv_text(cls, text: str) -> PrivateTagKnowledgeBase:
        """Parse CSV text with ``element_sig_pattern`` and ``private_disposition``.

        Raises
        ------
        StrategyError
            If either column is missing: a wrong file must not silently become
            an empty knowledge base.
        """
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
        missing = {_SIGNATURE, _DISPOSITION} - set(reader.fieldnames or ())
        if missing:
            raise StrategyError(f"private tag knowledge base lacks columns {sorted(missing)}")
        table: dict[_Key, str] = {}
        parsed = skipped = 0
        for record in reader:
            signature = record[_SIGNATURE] or ""
            disposition = (record[_DISPOSITION] or "").strip().lower()
            key = _parse_signature(signature)
            if key is None or disposition not in DISPOSITIONS:
                skipped += 1
                continue
            parsed += 1
            known = table.get(key)
            table[key] = (
                disposition if known is None else _more_protective(known, disposition)
            )
        return cls(table, parsed, skipped)

    def disposition(self, path: Sequence[PathStep]) -> str | None:
        """``k``, ``d``, ``h``, ``o``, ``oi`` or ``na``; ``None`` if the KB lacks it.

        Parameters
        ----------
        path
            Steps from the top-level data set to the element, outermost first;
            a top-level private element is a path of one step.
        """
        return self._table.get(_key(path))

    def __len__(self) -> int:
        """Number of distinct element paths known."""
        return len(self._table)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} paths, "
            f"{self.parsed_rows} rows parsed, {self.skipped_rows} skipped)"
        )


@lru_cache(maxsize=1)
def _default() -> PrivateTagKnowledgeBase:
    text = (
        resources.files("sparkdeid")
        .joinpath("data")
        .joinpath(KB_RESOURCE)
        .read_text(encoding="utf-8-sig")
    )
    return PrivateTagKnowledgeBase.from_csv_text(text)
