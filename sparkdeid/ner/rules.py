"""PHI that has a shape: dates, times, ages, contact details, ids, labelled fields, addresses.

Rules need no header and no model, so they catch what the file's header does
not hold (a date typed by the sonographer, an id from another system). They
run line by line (a frame's OCR lines, a tag document's tag values), so no
match ever joins two unrelated lines. The patterns of
:data:`sparkdeid.metadata.text_cleaner.RULE_PATTERNS` (dates, phone, e-mail,
URL, SSN, UIDs, digit runs) are reused as they are and extended here.

Labelled fields mark their *value* only: in ``MRN: QX12345678`` the label is
an ordinary overlay word and the id is PHI.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sparkdeid.ner.allow_list import (
    UNIT_PATTERN,
    is_measurement,
    is_numeric_date,
    is_vocabulary_word,
    normalise_confusions,
)
from sparkdeid.ner.base import Entity, HeaderTerm
from sparkdeid.text_patterns import RULE_PATTERNS

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_STATES = (
    "AL|AK|AZ|AR|CA|CO|CT|DE|DC|FL|GA|HI|ID|IL|IN|IA|KS|KY|LA|ME|MD|MA|MI|MN|MS|MO|MT|NE|NV|NH"
    "|NJ|NM|NY|NC|ND|OH|OK|OR|PA|RI|SC|SD|TN|TX|UT|VT|VA|WA|WV|WI|WY|PR|VI|GU|AS|MP"
    "|PW|FM|MH|AA|AE|AP"  # freely associated states and military post codes
)
_STREET_SUFFIX = (
    r"(?:(?i:street|avenue|road|boulevard|lane|drive|court|place|terrace|parkway|circle"
    r"|highway|square|trail|plaza|crescent|way)"
    r"|St|Ave|Av|Rd|Blvd|Ln|Dr|Ct|Pl|Ter|Pkwy|Cir|Hwy|Sq|Trl|Plz"
    r"|ST|AVE|RD|BLVD|LN|PL|TER|PKWY|CIR|HWY|SQ|TRL|PLZ)"
)


_DURATION_LABEL = re.compile(r"(?:\bTA|\bdur(?:ation)?|\belapsed|\bscan ?time)\s*[:=]?\s*$", re.I)


@dataclass(frozen=True)
class _Rule:
    label: str
    pattern: re.Pattern[str]


_RULES = (
    _Rule("EMAIL", RULE_PATTERNS["email"]),
    _Rule("URL", RULE_PATTERNS["url"]),
    _Rule("SSN", RULE_PATTERNS["ssn"]),
    _Rule("PHONE", RULE_PATTERNS["phone"]),
    # with an extension: (216) 444-2200 x1234, 216-444-2200ext.12
    _Rule(
        "PHONE",
        re.compile(
            r"(?<!\w)(?:\+?\d{1,3}[ .-]?)?(?:\(\d{2,4}\)|\d{3})[ .-]?\d{3}[ .-]?\d{3,4}"
            r" ?(?:x|ext\.?) ?\d{1,6}(?!\w)",
            re.IGNORECASE,
        ),
    ),
    _Rule("DATE", RULE_PATTERNS["date_numeric"]),
    _Rule("DATE", RULE_PATTERNS["date_text"]),
    _Rule("UID", RULE_PATTERNS["uid"]),
    _Rule("ID", RULE_PATTERNS["digit_run"]),
    # 06 / 16 / 1976: OCR often spaces the separators of a date.
    _Rule("DATE", re.compile(r"(?<![\d.])\d{1,4} ?[/-] ?\d{1,2} ?[/-] ?\d{2,4}(?![\d.])")),
    # A month with a day but no year (Jul 13, 13 JUL) is still a date element.
    _Rule(
        "DATE",
        re.compile(
            rf"(?<![a-z0-9]){_MONTH} ?\d{{1,2}}(?:st|nd|rd|th)?(?![a-z0-9:.])"
            rf"|(?<![a-z0-9.])\d{{1,2}}(?:st|nd|rd|th)?[ -]?{_MONTH}(?![a-z])",
            re.IGNORECASE,
        ),
    ),
    _Rule(
        "TIME",
        re.compile(
            r"(?<![\d:.])(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,6})?)?"
            r"(?: ?[ap]\.?m\b\.?)?(?![\d:])",
            re.IGNORECASE,
        ),
    ),
    _Rule(
        "AGE",
        re.compile(
            r"(?<![\w.])\d{1,3} ?-?(?:years?[ -]old|years?|yrs?|yr-old|y/o|y\.o\.?|yo|y)"
            r"(?![a-z0-9/])|(?<![\w.])0\d{2}[YMWD](?![A-Za-z0-9])",
            re.IGNORECASE,
        ),
    ),
    # Ids mixing letters and digits: QX12345678, MC19UUS03, E40404O4O4O4 (filtered below).
    _Rule(
        "ID",
        re.compile(r"(?<![A-Za-z0-9])(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{6,}(?![A-Za-z0-9])"),
    ),
    # Digit groups joined by hyphens: 1234-5678, 12-345-6789 (filtered below).
    _Rule("ID", re.compile(r"(?<![\w.-])\d{2,6}(?:-\d{2,6}){1,3}(?![\w.-])")),
    _Rule(
        "ADDRESS",
        re.compile(
            r"(?<![\w.])\d{1,6}[A-Za-z]? +(?:(?:[NSEW]|North|South|East|West|NE|NW|SE|SW)\.? +)?"
            r"(?:(?:\d{1,3}(?:st|nd|rd|th)|[A-Za-z][A-Za-z'.\-]+) +){1,3}"
            rf"{_STREET_SUFFIX}\b\.?"
            r"(?:,? *(?i:apt|apartment|suite|ste|unit|fl|floor|rm|room|#)\.? *#? *[A-Za-z0-9\-]+)?"
        ),
    ),
    _Rule("ADDRESS", re.compile(r"\bP\.? ?O\.? +Box +\d+", re.IGNORECASE)),
    _Rule(
        "ZIP",
        re.compile(
            rf"(?:\b[A-Z][A-Za-z]+(?: [A-Z][A-Za-z]+)?, *)?\b(?:{_STATES})\.? +"
            r"\d{5}(?:-\d{4})?\b"
            r"|(?<![\d-])\d{5}-\d{4}(?![\d-])"
        ),
    ),
)

# --------------------------------------------------------------------------- labelled fields

_SEP = r"(?P<sep> *(?:[:#=]|\bno\.?|\bnr\.?|\bnum\.?) *[:#]? *| +)"
_ID_LABEL = (
    r"mrn|mr ?#|mr ?no|med(?:ical)? ?rec(?:ord)?|pid|pt\.? ?id|pat(?:ient)?\.? ?id|patient ?no"
    r"|acc(?:ession)?|acct|account|encounter|enc|visit|csn|fin|chart|case|exam ?id|ex"
    r"|study ?id|req(?:uest)? ?id|order|ssn|nhs|health ?card|insurance|member ?id|id"
)
_DATE_LABEL = (
    r"dob|d\.o\.b\.?|date ?of ?birth|birth ?date|birthdate|born|dos|date ?of ?service"
    r"|exam ?date|study ?date|admit(?:ted)?|discharged?|dod|date ?of ?death|date"
)
_NAME_LABEL = (
    r"patient'?s? ?name|pt\.? ?name|pat\.? ?name|name|patient|pt|pat"
    r"|ref(?:erring)?\.? ?(?:phys(?:ician)?|dr|md|by)?|referred ?by|requesting(?: ?phys(?:ician)?)?"
    r"|attending|ordering(?: ?(?:phys(?:ician)?|provider))?|provider|physician|phys"
    r"|operator|op|performed ?by|performing(?: ?phys(?:ician)?)?|read(?:ing)? ?by|reader"
    r"|radiologist|resident|fellow|sonographer|sono|tech(?:nologist)?|technician|nurse"
    r"|signed(?: ?by)?|dictated(?: ?by)?|verified(?: ?by)?|approved(?: ?by)?|reviewed(?: ?by)?"
    r"|mother|father|guardian|next ?of ?kin|doctor|surgeon|scanned ?by|user|author|observer"
)
_AGE_LABEL = r"age"
_PHONE_LABEL = r"tel|telephone|phone|ph|fax|mobile|cell|pager"
_PLACE_LABEL = r"address|addr|institution|hospital|facility|station|home"

_LABEL = re.compile(
    rf"(?<![A-Za-z])(?:(?P<date>{_DATE_LABEL})|(?P<id>{_ID_LABEL})|(?P<name>{_NAME_LABEL})"
    rf"|(?P<age>{_AGE_LABEL})|(?P<phone>{_PHONE_LABEL})|(?P<place>{_PLACE_LABEL})){_SEP}",
    re.IGNORECASE,
)
_ID_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-./_]*")
_DATE_VALUE = re.compile(
    rf"(?:\d{{1,4}}|{_MONTH})(?:[ /.\-,]{{1,2}}(?:\d{{1,4}}|{_MONTH})){{0,2}}", re.IGNORECASE
)
_AGE_VALUE = re.compile(r"\d{1,3}(?: ?(?:[YMWD]|yrs?|years?|yo|y/o)\b)?", re.IGNORECASE)
_PHONE_VALUE = re.compile(r"\+?[\d(][\d ().\-]{5,}\d")
_NAME_TOKEN = re.compile(r"[^\s]+")
_LABEL_WORDS = frozenset(
    """mrn dob id acc accession sex age name patient pt physician ref operator tech
    sonographer date time exam study series im se ex ser img mr ssn phone tel institution
    hospital address gender birth""".split()
)


def _labelled(line: str) -> Iterator[tuple[int, int, str]]:
    """``(begin, end, label)`` of values that follow a label such as ``MRN:`` or ``Name:``."""
    for match in _LABEL.finditer(line):
        strong = bool(re.search(r"[:#=]|no|nr|num", match.group("sep"), re.IGNORECASE))
        start = match.end()
        rest = line[start:]
        if match.group("id"):
            value = _ID_VALUE.match(rest)
            if value and (strong or sum(ch.isdigit() for ch in value.group()) >= 3):
                yield start, start + value.end(), "ID"
        elif match.group("date"):
            value = _DATE_VALUE.match(rest)
            label = match.group("date").lower().replace(" ", "")
            if value and (strong or label not in ("date", "dos", "admit", "admitted")):
                yield start, start + value.end(), "DATE"
        elif match.group("age"):
            value = _AGE_VALUE.match(rest)
            if value:
                yield start, start + value.end(), "AGE"
        elif match.group("phone"):
            value = _PHONE_VALUE.match(rest)
            if value and strong:
                yield start, start + value.end(), "PHONE"
        elif strong and match.group("name"):
            end = _name_value_end(line, start)
            if end > start:
                yield start, end, "NAME"
        elif strong and match.group("place"):
            tokens = list(_NAME_TOKEN.finditer(rest))[:6]
            if tokens:
                yield start, start + tokens[-1].end(), "LOCATION"


def _name_value_end(line: str, start: int) -> int:
    """End of up to four name-like words after a name label (stops at the next label)."""
    end = start
    for count, token in enumerate(_NAME_TOKEN.finditer(line, start)):
        word = token.group()
        letters = sum(ch.isalpha() for ch in word)
        digits = sum(ch.isdigit() for ch in word)
        core = word.strip(":,.;#").lower()
        if count >= 4 or core in _LABEL_WORDS or not word[0].isalpha():
            break
        if count and not word[0].isupper():
            break  # "Name: Voranek seen": names are capitalised, the sentence goes on
        if digits > 1 or (digits and letters < 3):
            break
        end = token.start() + len(word.rstrip(",;:"))
    return end


# --------------------------------------------------------------------------- recognizer


class RulesRecognizer:
    """Dates, times, ages, phone, e-mail, URL, SSN, ids, labelled values, addresses (``rule``)."""

    name = "rules"

    def find(self, text: str, header: tuple[HeaderTerm, ...] = ()) -> list[Entity]:
        entities: list[Entity] = []
        position = 0
        for line in text.split("\n"):
            entities.extend(
                Entity(position + begin, position + end, label, "rule")
                for begin, end, label in find_in_line(line)
            )
            position += len(line) + 1
        return entities


def find_in_line(line: str) -> list[tuple[int, int, str]]:
    """``(begin, end, label)`` of every rule match in one line of text.

    The line is read twice when OCR may have confused letters and digits: as
    it is, and with the confusions undone (``1O/8/2OO3`` is a date).
    """
    found: list[tuple[int, int, str]] = []
    for form in dict.fromkeys((line, normalise_confusions(line))):
        matches = [
            (match.start(), match.end(), rule.label)
            for rule in _RULES
            for match in rule.pattern.finditer(form)
            if _keep(rule, match, form)
        ]
        matches.extend(_labelled(form))
        if form is not line:
            # S2000 is a scanner, not a misread 52000; but in 1977 Oct l1 only l1 was
            # re-read, and Oct being a word says nothing about it
            matches = [m for m in matches if not _reread_word(line, form, m[0], m[1])]
        found.extend(matches)
    return found


def _reread_word(line: str, form: str, begin: int, end: int) -> bool:
    """True when a token of ``line[begin:end]`` that the re-reading changed is a known word
    (one letter between digits, the ``S`` of ``3/S/1969``, is a misread digit, not a word)."""
    return any(
        len(token.group()) > 1
        and token.group() != form[token.start() + begin : token.end() + begin]
        and is_vocabulary_word(token.group())
        for token in re.finditer(r"[A-Za-z0-9]+", line[begin:end])
    )


def _keep(rule: _Rule, match: re.Match[str], line: str) -> bool:
    """Filters the broad id patterns: measurements and short numbers are not ids."""
    text = match.group()
    if rule.pattern is RULE_PATTERNS["date_numeric"]:
        return is_numeric_date(text)  # 06/16/1976, not the value pair 192/1.00
    if rule.label == "TIME":
        # TA 2:12 is an MR acquisition's duration, not a time of day
        return not _DURATION_LABEL.search(line[: match.start()])
    if rule.label != "ID":
        return True
    if rule.pattern is RULE_PATTERNS["digit_run"]:
        # 12000Hz is a value with its unit, not an id
        return not re.match(rf"{UNIT_PATTERN}(?![A-Za-z])", line[match.end() :], re.IGNORECASE)
    digits = sum(ch.isdigit() for ch in text)
    if "-" in text:
        return digits >= 7
    letters = len(text) - digits
    if is_measurement(text):
        return False
    return digits >= 5 or (len(text) >= 8 and digits >= 3 and letters >= 2)
