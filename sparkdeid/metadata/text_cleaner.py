"""Free-text cleaning for ``cleanTag`` before a model is involved.

A description such as ``CT CHEST DOE 06/16/1976`` keeps ``CT CHEST`` and loses
the rest. Two sources say what to remove: the same file's own header (names
of everyone in it, ids, accession numbers, institution, its dates written in
common forms) and rules for things that are PHI wherever they appear (dates,
phone numbers, e-mail, URLs, long digit runs). NerDeid plugs in behind the
same ``Callable[[str], str]`` interface.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from pydicom.dataset import Dataset

from sparkdeid.dicom.identity import header_terms
from sparkdeid.text_patterns import RULE_PATTERNS, remove_spans

_TOKEN = re.compile(r"[A-Za-z0-9]+(?:['.\-][A-Za-z0-9]+)*")


class HeaderMatcher:
    """Finds a file's header terms in text: single words by set lookup, phrases by search.

    Set lookups instead of one big regular expression per file: compiling an
    alternation of every term cost more than the rest of the cleaning.
    """

    def __init__(self, terms: Iterable[str]) -> None:
        words, phrases = set(), set()
        for term in terms:
            folded = term.strip().lower()
            if not folded:
                continue
            if _TOKEN.fullmatch(folded):
                words.add(folded)
            else:
                phrases.add(folded)
        self.words = frozenset(words)
        self.phrases = sorted(phrases, key=len, reverse=True)

    def spans(self, text: str) -> list[tuple[int, int]]:
        found = [m.span() for m in _TOKEN.finditer(text) if m.group().lower() in self.words]
        lowered = text.lower()
        for phrase in self.phrases:
            start = lowered.find(phrase)
            while start >= 0:
                end = start + len(phrase)
                before = lowered[start - 1] if start else " "
                after = lowered[end] if end < len(lowered) else " "
                if not before.isalnum() and not after.isalnum():
                    found.append((start, end))
                start = lowered.find(phrase, end)
        return found


def clean_text(text: str, header: HeaderMatcher | None) -> str:
    """Remove header terms and rule matches; keep the other words in their order."""
    spans: list[tuple[int, int]] = []
    for pattern in RULE_PATTERNS.values():
        spans.extend(m.span() for m in pattern.finditer(text))
    if header is not None:
        spans.extend(header.spans(text))
    if not spans:
        return text
    return remove_spans(text, spans)


def header_text_cleaner(ds: Dataset) -> Callable[[str], str]:
    """A cleaner bound to one file's header as it is now (call before changing it).

    Terms are gathered at once, since de-identification is about to erase
    them; the regular expression is only compiled if some text needs cleaning.
    """
    terms = header_terms(ds)
    state: dict[str, HeaderMatcher] = {}

    def cleaner(text: str) -> str:
        if "matcher" not in state:
            state["matcher"] = HeaderMatcher(terms)
        return clean_text(text, state["matcher"])

    return cleaner
