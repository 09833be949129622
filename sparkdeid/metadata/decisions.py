"""What the metadata engine decided for each element of a data set: the one record of it.

:meth:`~sparkdeid.metadata.engine.MetadataEngine.decisions` fills an
:class:`ElementDecisions` by running the engine's own walk, so whoever
needs to know what the strategy keeps on purpose (the residual-PHI gate)
reads it here instead of restating the strategy's tables. Whether an action
keeps, changes or removes what it is applied to is declared once, on its
entry in the action registry (:attr:`~sparkdeid.metadata.actions.ActionSpec.effect`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

__all__ = ["Decision", "ElementDecisions", "Fate"]


class Fate(str, Enum):
    """What the engine does with one element of the original."""

    KEPT = "kept"
    """Kept as read on purpose: its rule keeps it, a standard attribute no rule
    names (and none that fails closed), a private tag TCIA's knowledge base
    marks ``k``, or anything under a sequence so kept that the engine does not walk."""

    CHANGED = "changed"
    """An action or a cleaner rewrote it; the result can equal the original
    (a clean text with nothing to remove), which is then safe by decision."""

    REMOVED = "removed"
    """Deleted; elements below a removed one have no entry at all."""

    KEPT_BY_DEFAULT = "kept by default"
    """Kept as read only because private tags are kept wholesale
    (``removePrivateTags`` off, a catch-all private keep), or below a sequence
    the engine keeps without walking; nobody looked at its value."""


@dataclass(frozen=True)
class Decision:
    """The fate of one element and what decided it (an action name or the engine's own step)."""

    fate: Fate
    action: str


@dataclass(frozen=True)
class ElementDecisions:
    """Decisions for every element the engine's walk reached, by tag path.

    Paths are the engine's own: ``(0010,0020)``, items as
    ``(0040,A730)[2].(0040,A160)`` with the original item numbers.
    ``literals`` are the values the strategy itself writes (the Options of
    ``replaceWithLiteral`` and ``ensureTagExists`` rows): never PHI of a file.
    """

    by_path: Mapping[str, Decision]
    literals: frozenset[str]

    def __iter__(self) -> Iterator[str]:
        return iter(self.by_path)

    def __len__(self) -> int:
        return len(self.by_path)

    def fate(self, path: str) -> Fate:
        """The fate at ``path``; a path the walk never reached was removed with a parent."""
        decision = self.by_path.get(path)
        return decision.fate if decision is not None else Fate.REMOVED
