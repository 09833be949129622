"""Person names without a model: the US Census 1990 name lists and the shapes names take.

The PyPI package ``names`` ships the Census Bureau's 1990 frequency lists
(``dist.all.last``, ``dist.female.first``, ``dist.male.first``: name,
frequency %, cumulative %, rank). They are read once per process, lazily.

A census entry alone is weak evidence: the last-name list holds 88,799
entries, including ``HEAD``, ``LONG``, ``WALL``, ``GAIN`` and ``GENERAL``.
So every word gets a weight:

* 1.0 for a common name that is not also an ordinary word;
* 0.75 for a very common name that is also a word (``MARK``, ``BROWN``);
* 0.5 for a rare name (the tail of the lists) or a two-letter one;
* 0.25 for a word of the overlay vocabulary (``LONG``, ``HEAD``, ``GENERAL``).

and a candidate is flagged when its shape and weights agree:

* ``LAST^FIRST^MIDDLE`` (DICOM person-name form): always;
* ``LAST, FIRST``: a last name followed by a first name, weights >= 1.0;
* ``First Last`` / ``LAST FIRST`` (same case): weights >= 1.5, or >= 1.0 after
  a title (``Dr.``, ``Mrs``) or before a credential (``MD``, ``RN``);
* after a title, any capitalised word (``Dr. Xylander``).

A single name word on its own is not flagged here (too many are ordinary
words); the header recognizer and fail-closed masking cover it in OCR text.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from sparkdeid.errors import BackendUnavailableError
from sparkdeid.ner.allow_list import is_vocabulary_word
from sparkdeid.ner.base import Entity, HeaderTerm

# Cumulative-frequency limits (percent of the population) of "common" names.
_COMMON_FIRST = 90.0
_COMMON_LAST = 80.0
_VERY_COMMON = 60.0  # names common enough to outweigh also being a word

# English words that are also census names: they need the shape or a title to count.
_COMMON_WORDS = frozenset(
    """
    a an and are as at be by do for from go he her his if in is it me my no not of on or
    our so than that the them then they this to up us we who why will with you your
    able ace age aid all alley almond amber angel apple april arch arm armstrong art ash
    august autumn bank banks barber bass beach bean bear beard bell belle bend berry best
    bill bird bishop black blank bliss block bloom blue board bond bone book booth boss
    bottom bow bowl box boy branch brand brass bread brick bridge bright brook brooks
    brown buck bull bunch burn bush butcher butler buzz cabin cage cake call camp candy
    cane cannon cape card carpenter carrier case cash castle chain chance chapel chase
    cherry chest chief child church clay clear cliff cloud coat coke cole collar comb
    cook cool copper cord corn cotton couch count court cox crane crisp cross crow crown
    cruise crystal cup curry dale dam dance dark dash dawn day deal dean dear dell desk
    diamond dick dill dove down drake drew drive driver duck duke dusty early east
    easter echo edge english fair faith fall far farm farmer fast fell field fields
    fill finch fish fisher flag flint flood flower flowers fly ford forest fort fortune
    foster fowler fox frank free friend frost fry fuller gain gale gallant game gap
    garden gardner gate gates gay gem gentle gift glass glen gold golden good goodman
    grace grand grant grass gray green grey grove guard guest gun hale hall ham
    hammer hand handy happy hardy hare harp hart hatch hawk hay head heart heath hedge
    hill hills holly home honey hood hook hope horn house howl hunt hunter ice iris
    irons island ivory ivy jack jade jay jewel joy judge june just keen key keys kid kind
    king kite knight lace lake lamb land lane lark law lawn lay leach lead lean lee
    lemon lewd light lily lime link lion little lock lodge long lord love low lucky
    major man march marsh mark marks mason master may mayor mead meadows means
    merry mill miller mills miner mint mist money monk moon moss mud nail nash
    neat new newman nice night noble north nurse nut oak oakley oats officer oliver
    orange page paige palm paris park parks parsons pass patch peach pearl peck penny
    pepper person petty pierce pike pine pink piper plain plant pledge plenty
    plum pond pool pope port porter post potter pound power powers pray price
    priest prince pump quick rain ram ransom raven ray read reed rich ridge ring
    river rivers road robin rock rose ross round ruby rush rust sage sale salt
    sample sand sands saw scales sea seal sears self sharp shaw sheep shell shepherd
    shields ship shore short shy silver simple singer skinner slate slaughter small
    smart snow soft solo song south spark sparks spear speed spell spring spurs
    stag stamp star steel stern steward stock stone stones storm story
    stout strange street strong summer summers sun sweet swift swing tall tanner tea
    temple thorn tiger tin tower town toy tree trim troy true tucker turner twin
    vale valentine van vest vine violet wade walker wall walls ward ware warren wash
    water waters watt way weaver week weeks well wells west wheeler white wild
    will willow wilt win wind wing winter wise wolf wood woods word worth wren wright
    yard young
    """.split()
)

# Titles as written before a name. Case and the dot matter: MR, DR and MS without a
# dot are a modality, a modality and milliseconds.
_TITLES = frozenset(
    """Dr Dr. DR. Mr. MR. Mrs Mrs. MRS MRS. Ms. MS. Mx. Miss MISS Prof Prof. PROF.
    Mme Mlle Herr Frau""".split()
)
_CREDENTIALS = frozenset(
    """md m.d. m.d do d.o. rn lpn np pa-c phd ph.d. rdms rvt rdcs rrt rt(r) rt arrt crna
    dds dmd facr frcr frcpc mbbs mbchb""".split()
)

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'\-]*[A-Za-z0-9]|[A-Za-z]\.?")
_CARET_NAME = re.compile(r"(?<![\w^])[A-Za-z][\w'\-.]*(?:\^[\w'\-.]*){1,4}(?![\w^])")
_UPPER_WORD = re.compile(r"([A-Z][A-Z'\-]+) +$")
_COMMA_NAME = re.compile(
    r"(?<![\w'])(?P<last>[A-Za-z][A-Za-z'\-]+) ?, ?(?P<first>[A-Za-z][A-Za-z'\-]+)"
    r"(?P<middle> [A-Za-z]\.?(?![\w'])| [A-Za-z][A-Za-z'\-]+)?"
)
_DIGIT_AS_LETTER = {"0": "O", "1": "I", "5": "S", "8": "B", "6": "G", "2": "Z", "4": "A"}


@dataclass(frozen=True)
class NameLists:
    """Cumulative frequency (percent) of every name in the census lists, upper case."""

    first: dict[str, float]
    last: dict[str, float]


_LOCK = threading.Lock()
_LISTS: list[NameLists] = []


def census_lists() -> NameLists:
    """The census lists, read once per process (thread-safe)."""
    if _LISTS:
        return _LISTS[0]
    with _LOCK:
        if not _LISTS:
            _LISTS.append(_read_lists())
    return _LISTS[0]


def _read_lists() -> NameLists:
    _require_names_package()
    folder = resources.files("names")

    def read(filename: str) -> dict[str, float]:
        table: dict[str, float] = {}
        for line in (folder / filename).read_bytes().decode("latin-1").splitlines():
            fields = line.split()
            if len(fields) >= 3:
                table.setdefault(fields[0], float(fields[2]))
        return table

    first = read("dist.male.first")
    for name, cumulative in read("dist.female.first").items():
        first[name] = min(cumulative, first.get(name, cumulative))
    return NameLists(first=first, last=read("dist.all.last"))


def _require_names_package() -> None:
    if importlib.util.find_spec("names") is None:
        raise BackendUnavailableError(
            "the name recognizer needs the US Census name lists of the 'names' package: "
            "pip install names"
        )


def name_weight(word: str, role: str, lists: NameLists | None = None) -> float:
    """How strongly ``word`` alone says "a person's ``role`` name" (``first`` or ``last``)."""
    lists = lists or census_lists()
    key = word.upper().strip(".")
    table = lists.first if role == "first" else lists.last
    cumulative = table.get(key)
    if cumulative is None:
        return 0.0
    if is_vocabulary_word(key):
        return 0.25
    limit = _COMMON_FIRST if role == "first" else _COMMON_LAST
    if key.lower() in _COMMON_WORDS:
        return 0.75 if cumulative <= _VERY_COMMON else 0.5
    if len(key) <= 2 or cumulative > limit:
        return 0.5
    return 1.0


class NameRecognizer:
    """Person names by shape and census frequency (entities with source ``names``)."""

    name = "names"

    def __init__(self) -> None:
        _require_names_package()  # fail where the detector is built, not on the first row

    def find(self, text: str, header: tuple[HeaderTerm, ...] = ()) -> list[Entity]:
        lists = census_lists()
        entities: list[Entity] = []
        position = 0
        for line in text.split("\n"):
            entities.extend(
                Entity(position + begin, position + end, "NAME", "names", score)
                for begin, end, score in _find_in_line(line, lists)
            )
            position += len(line) + 1
        return entities


def _find_in_line(line: str, lists: NameLists) -> Iterator[tuple[int, int, float]]:
    for match in _CARET_NAME.finditer(line):
        parts = [p for p in match.group().split("^") if len(p.strip(".")) >= 2]
        if parts and not all(is_vocabulary_word(p) for p in parts):  # not abdomen^liver
            end = match.end() - _trailing(match.group(), "^")
            yield _extend_left(line, match.start()), end, 0.9
    for match in _COMMA_NAME.finditer(line):
        last, first = match.group("last"), match.group("first")
        if not _same_case(last, first):
            continue
        weight = _weight(last, "last", lists) + _weight(first, "first", lists)
        if weight >= 1.0 and _weight(last, "last", lists) and _weight(first, "first", lists):
            middle = (match.group("middle") or "").strip()
            keep_middle = len(middle.rstrip(".")) == 1 or _weight(middle, "first", lists) >= 0.5
            end = match.end() if keep_middle else match.end("first")
            yield match.start(), end, min(1.0, weight / 2)
    yield from _sequences(line, lists)


def _sequences(line: str, lists: NameLists) -> Iterator[tuple[int, int, float]]:
    """``First [M.] Last``, ``LAST FIRST``, and capitalised words after a title."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(line)]
    for i, (begin, end, word) in enumerate(words):
        titled = i > 0 and _title_before(line, words[i - 1], begin)
        if titled and word[0].isupper() and len(word.strip(".")) >= 2:
            last_end = end
            for j in range(i + 1, min(i + 3, len(words))):
                if not (words[j][2][0].isupper() and _adjacent(line, j, words)):
                    break
                if words[j][2].lower() in _CREDENTIALS:
                    break
                last_end = words[j][1]
            yield begin, last_end, 0.8
            continue
        if not _capitalised(word) or len(word) < 2:
            continue
        j = i + 1
        middle = j < len(words) and len(words[j][2].strip(".")) == 1 and _adjacent(line, j, words)
        if middle:
            j += 1
        if j >= len(words) or not _adjacent(line, j, words):
            continue
        other = words[j][2]
        if len(other) < 2 or not _capitalised(other) or not _same_case(word, other):
            continue
        forward = _pair_weight(word, other, lists)  # First Last
        backward = _pair_weight(other, word, lists) if word.isupper() else 0.0  # LAST FIRST
        weight = max(forward, backward)
        after = words[j + 1][2].lower() if j + 1 < len(words) else ""
        initial_after = (
            j + 1 < len(words)
            and len(words[j + 1][2].rstrip(".")) == 1
            and words[j + 1][2][0].isupper()
            and _adjacent(line, j + 1, words)
        )
        # a credential, a title or a trailing middle initial (WALL TERRI A) is the
        # shape of a person's name: a pair that is also ordinary words then counts
        needed = 1.0 if after in _CREDENTIALS or titled or initial_after else 1.5
        if weight >= needed:
            end = words[j + 1][1] if initial_after else words[j][1]
            yield begin, end, min(1.0, weight / 2)


def _title_before(line: str, previous: tuple[int, int, str], begin: int) -> bool:
    """The word before is a title (``Dr.``, ``Mrs``) and only a dot and spaces follow it."""
    gap = line[previous[1] : begin]
    title = previous[2] + ("." if gap.startswith(".") and not previous[2].endswith(".") else "")
    return title in _TITLES and gap.lstrip(".") in (" ", "  ", "")


def _pair_weight(first: str, last: str, lists: NameLists) -> float:
    a, b = _weight(first, "first", lists), _weight(last, "last", lists)
    return a + b if a and b else 0.0


def _weight(word: str, role: str, lists: NameLists) -> float:
    digits = sum(ch.isdigit() for ch in word)
    if not digits:
        return name_weight(word, role, lists)
    if digits > 2 or len(word) - digits < 3:
        return 0.0
    return name_weight(unfold_digits(word), role, lists) * 0.9  # J0HN read for JOHN


def _capitalised(word: str) -> bool:
    word = unfold_digits(word)
    return word[0].isupper() and (word.isupper() or word[1:].islower() or "'" in word)


def _same_case(a: str, b: str) -> bool:
    return unfold_digits(a).isupper() == unfold_digits(b).isupper()


def _adjacent(line: str, j: int, words: list[tuple[int, int, str]]) -> bool:
    """Word ``j`` follows word ``j - 1`` after nothing but one or two spaces."""
    return j > 0 and line[words[j - 1][1] : words[j][0]] in (" ", "  ")


def _extend_left(line: str, begin: int) -> int:
    """``ZZZ TEST PATIENTFIVE^NEW``: family names of several upper-case words (two at most)."""
    for _ in range(2):
        found = _UPPER_WORD.search(line[:begin])
        if not found or is_vocabulary_word(found.group(1)):
            break
        begin = found.start(1)
    return begin


def _trailing(text: str, chars: str) -> int:
    return len(text) - len(text.rstrip(chars))


def unfold_digits(word: str) -> str:
    """``J0HN`` -> ``JOHN``: OCR digits in a word that is otherwise letters."""
    return "".join(_DIGIT_AS_LETTER.get(ch, ch) for ch in word)
