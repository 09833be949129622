"""Which burned-in words are safe to keep: a curated vocabulary plus value patterns.

Under fail-closed masking every OCR word is masked unless it is *confidently
safe*; this module decides the "safe" half (the detector adds the OCR
confidence). Two sources say a word is safe:

* the vocabulary in ``sparkdeid/data/ocr_allow_list.txt``: modalities,
  orientation markers, planes, anatomy, sequences, units, ultrasound/CT/MR
  control labels, vendor and system names, screen furniture;
* patterns for values that cannot identify anyone: small numbers, numbers
  with units (``5 cm``, ``4.0cm``, ``36Hz``), percentages, ``KEY value``
  parameters glued or not (``TIS0.0``, ``MI:1.4``, ``DR60``, ``x3``), probe
  names (``L12-5``, ``6C1``), matrices (``512x512``), frame counters
  (``12/30``) and compounds of those (``20dB/DR60``, ``2D--100%``).

A word that looks like PHI is never safe, whatever else it matches: a date,
a clock time (with seconds or AM/PM), an age, a run of five or more digits,
digit groups adding up to seven digits (a phone number), an id mixing
letters and five digits, an e-mail address, a URL, a UID; the word is also
checked with OCR confusions undone (``1O/8/2OO3``). Being safe is only ever
a reason to *keep* a word that no recognizer claimed: header matches, rules
and names all win over this list.

Known limits: a frame counter and a day-month pair look alike (``12/30``
is kept); a year alone is kept; name words that are also overlay words
(``Max``, ``Ward``, ``Long``) are kept unless a recognizer claims them -- the
header recognizer does, for everyone named in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources

from sparkdeid.text_patterns import RULE_PATTERNS

# Units after a number; longest first so "mmHg" is not read as "mm" + "Hg".
_UNITS = sorted(
    """mm cm m km um µm μm nm mhz khz hz db dbs fps bpm ms s sec secs msec min mins hr hrs h
    kv kvp ma mas mgy gy cgy dgy ugy µgy msv usv µsv mm2 mm3 cm2 cm3 cm² cm³ mm² mm³ m²
    ml cc l g kg mg mmhg kpa mpa m/s cm/s mm/s cm/s2 deg ° t mt hu kev mev mbq mci
    mgy*cm mgy·cm mgycm in inch x w mw cpm""".split(),
    key=len,
    reverse=True,
)
UNIT_PATTERN = "(?:" + "|".join(re.escape(u) for u in _UNITS) + ")"
_NUMBER = r"[+-]?(?:\d{1,4}(?:[.,]\d{1,3})?|[.,]\d{1,3})"

# Whole-token patterns (case-insensitive) for values that identify nobody.
_SAFE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        rf"{_NUMBER}",  # small numbers, signed, decimals
        rf"{_NUMBER}\s?{UNIT_PATTERN}|\d{{5,6}}{UNIT_PATTERN}",  # 5cm, 4.0cm, 36Hz, 12000Hz
        rf"{_NUMBER}\s?%",  # 60%
        r"\d{1,4}/\d{1,4}",  # frame counters 12/30
        rf"\d{{1,4}}\s?[x×*]\s?\d{{1,4}}(?:{UNIT_PATTERN})?",  # matrices 512x512, 24x24cm
        r"[x×]\s?\d{1,2}(?:[.,]\d{1,2})?",  # zoom x1.5
        # letters + small number (+ a letter or two): TAC1, C50, M3, DR60, B30f, i800
        r"[a-z]{1,3}\d{1,3}(?:[.,]\d{1,2})?[a-z]{0,2}",
        # number + letters (+ digits): 2D, 3D, 6C1, 9L4, 18L6, 1U, 375BT (probe names)
        r"\d{1,4}[a-z]{1,3}\d{0,2}",
        r"[+-]?\d{1,3}(?:[.,]\d)?\s?°[a-z]?",  # angles
        r"[a-z]{1,8}\d{1,2}[a-z]{1,2}\d{1,3}[a-z]{0,3}",  # sequence names: tse2d1, tfl3d1
    )
)
# A vocabulary key glued to its value: TIS0.0, MI:1.4, TIB:0.5, H4.00, Gain50, kV120.
_KEY_VALUE = re.compile(
    rf"(?P<key>[a-z][a-z/']{{0,7}})\s?[:=]?\s?(?P<value>{_NUMBER}(?:\s?(?:{UNIT_PATTERN}|%))?)",
    re.IGNORECASE,
)
# A value followed by its vocabulary label: 5.0thk, 1.5sp, 3ch.
_VALUE_KEY = re.compile(rf"{_NUMBER}(?P<key>[a-z]{{1,6}})", re.IGNORECASE)
# Characters around a word that carry no meaning (bullets, quotes, brackets, OCR noise).
_EDGE = re.compile(r"^[^0-9A-Za-z%°µμ+\-.]+|[^0-9A-Za-z%°²³]+$")
# Separators inside compound tokens: 20dB/DR60, 2D--100%, L-M, TIB:0.5, Cor>Tra.
_SEPARATORS = re.compile(r"[-/:=,;+_|<>()\[\]*~]+")

# Clock times that cannot be anything else (seconds or AM/PM); a bare 2:12 may be a
# duration (MR "TA 2:12") and is left to the rules recognizer, which sees the context.
_TIME = re.compile(
    r"(?<!\d)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?\s?(?:[ap]\.?m\.?)?|\s?[ap]\.?m\.?)(?!\d)", re.I
)
_AGE = re.compile(
    r"(?<![\w.])\d{1,3}\s?-?\s?(?:y|yo|y/o|y\.o\.?|yrs?|years?|yr-old|year-old)(?![a-z0-9])"
    r"|(?<![\w.])0\d{2}[ymwd](?![a-z0-9])",
    re.IGNORECASE,
)
_LETTER_DIGIT_ID = re.compile(r"(?=[a-z0-9]*[a-z])(?:[a-z]*\d){5,}[a-z0-9]*", re.IGNORECASE)
_NEVER_SAFE = (
    RULE_PATTERNS["date_text"],
    RULE_PATTERNS["email"],
    RULE_PATTERNS["url"],
    RULE_PATTERNS["ssn"],
    RULE_PATTERNS["uid"],
    _TIME,
    _AGE,
)


def is_numeric_date(text: str) -> bool:
    """A ``date_numeric`` match that is a date: one separator kind (06/16/1976,
    16.06.1976), or a four-digit year at the end; ``192/1.00`` is a value pair."""
    separators = re.findall(r"[/.-]", text)
    return bool(separators) and (
        separators[0] == separators[-1] or bool(re.search(r"\d{4}$", text))
    )


@lru_cache(maxsize=1)
def vocabulary() -> frozenset[str]:
    """The shipped vocabulary, lower-cased (read once per process)."""
    text = (resources.files("sparkdeid") / "data" / "ocr_allow_list.txt").read_text("utf-8")
    words: set[str] = set()
    for line in text.splitlines():
        words.update(line.split("#", 1)[0].lower().split())
    return frozenset(words)


def normalise_words(words: Iterable[str]) -> frozenset[str]:
    """User-supplied allow or deny words in the form :func:`is_safe_word` compares."""
    return frozenset(w.strip().lower() for w in words if w and w.strip())


def is_vocabulary_word(word: str, extra: frozenset[str] = frozenset()) -> bool:
    """True when ``word`` (edges trimmed, any case) is in the vocabulary or ``extra``."""
    core = _EDGE.sub("", word).lower()
    return bool(core) and (core in vocabulary() or core in extra)


_TO_DIGIT = str.maketrans("OoQIilL|SsBZzGg", "000111115582269")
_TO_LETTER = str.maketrans("015826", "OISBZG")
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]+")
_ONE_LETTER_AFTER = re.compile(r"\d+[A-Za-z]")
_NUMBER_GROUP = re.compile(r"[A-Za-z0-9]+(?:[/.\-][A-Za-z0-9]+)+")


def normalise_confusions(text: str) -> str:
    """``1O/8/2OO3`` -> ``10/8/2003``, ``5ep`` -> ``Sep``: OCR confusions undone per token.

    A token with at least as many digits as letters is read as a number
    (O->0, I/l->1, S->5, B->8, Z->2, G->6), a mostly-letter token as a word
    (0->O, 1->I, 5->S, 8->B, 2->Z, 6->G); values with units (``36Hz``) are
    left alone. Character for character, so spans found in the result are
    spans of ``text``.
    """

    def fix(match: re.Match[str]) -> str:
        token = match.group()
        digits = sum(ch.isdigit() for ch in token)
        if not digits or digits == len(token):
            return token
        if is_measurement(token) and not _ONE_LETTER_AFTER.fullmatch(token):
            return token  # 36Hz stays; 2S may be 25 as well as two seconds
        if digits * 2 >= len(token):
            return token.translate(_TO_DIGIT)
        return token.translate(_TO_LETTER)

    def fix_group(match: re.Match[str]) -> str:
        group = match.group()
        digits = sum(ch.isdigit() for ch in group)
        letters = sum(ch.isalpha() for ch in group)
        if digits < 2 * letters:
            return group
        # l/29/1953, 3/S/1969: a lone letter between separators is read with its neighbours
        return _ALNUM_RUN.sub(
            lambda token: token.group().translate(_TO_DIGIT)
            if not token.group().isdigit() and len(token.group()) <= 2
            else token.group(),
            group,
        )

    return _NUMBER_GROUP.sub(fix_group, _ALNUM_RUN.sub(fix, text))


# A month and a four-digit year, either way round: more of a date than the year alone.
# (a dot only after a two-digit month: 1.2020 is a number, 04.1932 a date)
_MONTH_YEAR = re.compile(
    r"(?<![\d.])(?:(?:0?[1-9]|1[0-2])[/-]|(?:0[1-9]|1[0-2])\.)(?:19|20)\d{2}(?![\d.])"
    r"|(?<![\d.])(?:19|20)\d{2}[/-](?:0?[1-9]|1[0-2])(?![\d.])"
)


def looks_like_phi(word: str) -> bool:
    """A date, time, age, long digit run, letter+digit id, phone, e-mail, URL, SSN or UID.

    The word is also read with OCR confusions undone, so ``1O/8/2OO3`` is a date.
    """
    forms = {word} if is_vocabulary_word(word) else {word, normalise_confusions(word)}
    for form in forms:  # S2000 is a scanner, not a misread 52000
        if any(p.search(form) for p in _NEVER_SAFE):
            return True
        if any(is_numeric_date(m.group()) for m in RULE_PATTERNS["date_numeric"].finditer(form)):
            return True
        if _MONTH_YEAR.search(form):  # 04/1932: a date cut short by OCR is still a date
            return True
        tokens = _ALNUM_RUN.findall(form)
        if any(
            (_LETTER_DIGIT_ID.fullmatch(token) or re.search(r"\d{5}", token))
            and not is_measurement(token)
            for token in tokens
        ):
            return True
        # Digit groups adding up to a phone number or an id: (753)567-0301x5925
        for piece in re.split(r"[/,;]+", form):
            digits = sum(ch.isdigit() for ch in piece)
            if digits >= 7 and not is_measurement(_EDGE.sub("", piece)):
                return True
    return False


def is_safe_word(word: str, extra: frozenset[str] = frozenset()) -> bool:
    """True when ``word`` carries no PHI on its own (confidence is the caller's concern).

    ``extra`` holds user allow words, lower-cased (see :func:`normalise_words`).
    Words without a letter or digit (OCR noise, separators) are safe; a word
    holding spaces (an engine that returns whole lines) is safe only if every
    part is.
    """
    if not any(ch.isalnum() for ch in word):
        return True
    if looks_like_phi(word):
        return False
    return all(_safe_piece(piece, extra) for piece in word.split())


def safe_spans(text: str, extra: frozenset[str] = frozenset()) -> list[tuple[int, int]]:
    """Character spans of the whitespace-separated words of ``text`` that are safe."""
    return [m.span() for m in re.finditer(r"\S+", text) if is_safe_word(m.group(), extra)]


def _safe_piece(piece: str, extra: frozenset[str]) -> bool:
    core = _EDGE.sub("", piece)
    if not core:
        return True
    if _safe_atom(core, extra):
        return True
    parts = [p for p in _SEPARATORS.split(core) if p]
    return parts != [core] and all(_safe_atom(_EDGE.sub("", p), extra) for p in parts)


def _safe_atom(atom: str, extra: frozenset[str]) -> bool:
    if not atom:
        return True
    lowered = atom.lower()
    if lowered in vocabulary() or lowered in extra:
        return True
    if any(p.fullmatch(atom) for p in _SAFE_PATTERNS):
        return True
    match = _KEY_VALUE.fullmatch(atom) or _VALUE_KEY.fullmatch(atom)
    if match:
        key = match.group("key").lower()
        return key in vocabulary() or key in extra
    return False


_MEASUREMENT = re.compile(rf"\d{{1,6}}{UNIT_PATTERN}|\d{{1,4}}[x×]\d{{1,4}}", re.IGNORECASE)


def is_measurement(token: str) -> bool:
    """``12000Hz``, ``1024x1024``: a number glued to a unit is a value, not an id."""
    return bool(_MEASUREMENT.fullmatch(token))
