"""Text that is PHI wherever it appears, and the tidying after it is cut out.

Used by the header text cleaner (metadata), the recognisers (ner) and the
checks (verify) alike, so it sits in the core below all of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_MONTHS = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
RULE_PATTERNS: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "url": re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE),
    "ssn": re.compile(r"\b\d{3}-\d{2}-\d{4}\b"),
    "phone": re.compile(
        r"(?<!\w)(?:\+?\d{1,3}[\s.-]?)?(?:\(\d{2,4}\)|\d{3})[\s.-]?\d{3}[\s.-]?\d{3,4}(?!\w)"
    ),
    "date_numeric": re.compile(r"(?<!\d)\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}(?!\d)"),
    "date_text": re.compile(
        rf"(?<![a-z])(?:\d{{1,2}}(?:st|nd|rd|th)?[\s,.-]*{_MONTHS}[\s,.-]*\d{{2,4}}"
        rf"|{_MONTHS}[\s,.-]*\d{{1,2}}(?:st|nd|rd|th)?[\s,.-]+\d{{4}}"
        rf"|\d{{4}}[\s,.-]*{_MONTHS}[\s,.-]*\d{{1,2}}"
        rf"|{_MONTHS}[\s,.-]*\d{{4}})(?![a-z])",
        re.IGNORECASE,
    ),
    "uid": re.compile(r"(?<![\d.])\d+(?:\.\d+){3,}(?![\d.])"),
    "digit_run": re.compile(r"(?<!\d)(?<!\d\.)\d{5,}(?!\d|\.\d)"),
}
# Words too generic to remove on their own when they are part of a place name.
GENERIC_PLACE_WORDS = frozenset(
    """hospital medical center centre clinic clinics general university universitat
    institute health healthcare regional community children childrens department dept
    radiology imaging diagnostic diagnostics saint memorial county city national the and of
    for street road avenue suite floor unit ward""".split()
)


def remove_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` without the character spans, spaces tidied and stray separators trimmed."""
    keep = []
    position = 0
    for start, end in sorted(spans):
        if start > position:
            keep.append(text[position:start])
        position = max(position, end)
    keep.append(text[position:])
    cleaned = re.sub(r"\s{2,}", " ", " ".join(part.strip() for part in keep))
    return cleaned.strip(" ,;:-/^")
