"""Strategy files: which action applies to which tag.

Two CSV shapes share one header, ``Tags,VR,Name,Status,Action,Option``:

* a tag strategy, one row per tag, ``(0010, 0010)``; repeating groups use
  ``xx`` wildcards (``(60xx, 3000)``) and ``(gggg, eeee)`` stands for every
  private tag;
* a group strategy, ``VR`` = ``GROUP`` and a group prefix ``(0020,)``, with
  ``delete`` or ``remove``, applied to tags no tag row matches.

Everything is validated when loaded: a bad tag, an unknown action, an action
that does not fit the row's VR or a wrong number of options raises
:class:`StrategyError` naming the row, so a typo never turns into a silent keep.
"""

from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass
from functools import lru_cache

from pydicom.datadict import tag_for_keyword

from sparkdeid.errors import StrategyError
from sparkdeid.metadata.actions import ACTIONS, action_accepts_vr

HEADER = ("Tags", "VR", "Name", "Status", "Action", "Option")
GROUP_VR = "GROUP"
GROUP_ACTIONS = ("delete", "remove")

_HEX4 = r"[0-9A-Fa-fxX]{4}"
_TAG_RE = re.compile(rf"^\(?\s*({_HEX4})\s*,?\s*({_HEX4})\s*\)?$")
_GROUP_RE = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,\s*\)?$")
_PRIVATE_WORDS = {"gggg,eeee", "private"}


@dataclass(frozen=True)
class TagPattern:
    """A tag, a repeating-group mask, a whole group, or "every private tag".

    A tag matches when ``tag & mask == value``; exact tags have a full mask.
    """

    value: int
    mask: int
    text: str
    private: bool = False

    @property
    def exact(self) -> bool:
        return self.mask == 0xFFFFFFFF and not self.private

    def matches(self, tag: int) -> bool:
        if self.private:
            return bool((tag >> 16) & 1)
        return tag & self.mask == self.value


@dataclass(frozen=True)
class Rule:
    """One validated strategy row; ``row`` is its 1-based line number for messages."""

    pattern: TagPattern
    vr: str
    name: str
    status: str
    action: str
    option: str
    row: int


def parse_tag(text: str) -> TagPattern:
    """Parse ``(0010, 0010)``, ``0010,0010``, ``00100010``, ``(60xx, 3000)`` or a keyword."""
    cleaned = text.strip()
    squashed = re.sub(r"[\s()]", "", cleaned).lower()
    if squashed in _PRIVATE_WORDS:
        return TagPattern(0, 0, cleaned, private=True)
    match = _TAG_RE.match(cleaned)
    if match:
        hex_text = (match.group(1) + match.group(2)).lower()
        value = int(hex_text.replace("x", "0"), 16)
        mask = int("".join("0" if ch == "x" else "f" for ch in hex_text), 16)
        return TagPattern(value, mask, cleaned)
    keyword_tag = tag_for_keyword(cleaned)
    if keyword_tag is not None:
        return TagPattern(keyword_tag, 0xFFFFFFFF, cleaned)
    raise ValueError("not a tag")


def _parse_group(text: str) -> TagPattern:
    match = _GROUP_RE.match(text.strip())
    if not match:
        raise ValueError("not a group prefix")
    return TagPattern(int(match.group(1), 16) << 16, 0xFFFF0000, text.strip())


class Strategy:
    """Validated rules indexed for the per-element hot path."""

    def __init__(self, rules: list[Rule], group_rules: list[Rule] | None = None) -> None:
        self.rules = rules
        self.group_rules = group_rules or []
        self._exact: dict[int, Rule] = {}
        self._masked: list[Rule] = []
        self.private_rule: Rule | None = None
        for rule in rules:
            if rule.pattern.private:
                self.private_rule = rule
            elif rule.pattern.exact:
                self._exact[rule.pattern.value] = rule
            else:
                self._masked.append(rule)
        self._groups = {rule.pattern.value >> 16: rule for rule in self.group_rules}

    def rule_for(self, tag: int) -> Rule | None:
        """The rule for a tag: exact row, then wildcard row, then group row."""
        rule = self._exact.get(tag)
        if rule is not None:
            return rule
        for masked in self._masked:
            if masked.pattern.matches(tag):
                return masked
        return self._groups.get(tag >> 16)

    def exact_rules(self) -> list[Rule]:
        return list(self._exact.values())

    @classmethod
    def from_csv_text(cls, text: str, group_text: str | None = None) -> Strategy:
        rules = parse_rules(text, group=False)
        group_rules = parse_rules(group_text, group=True) if group_text else []
        return cls(rules, group_rules)


def parse_rules(text: str, *, group: bool) -> list[Rule]:
    """Parse and validate CSV text into rules; raises StrategyError naming the row."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise StrategyError("strategy is empty: expected a header row") from None
    if [h.lower() for h in header[:5]] != [h.lower() for h in HEADER[:5]]:
        raise StrategyError(f"row 1: header must start with {','.join(HEADER)}")
    rules = []
    for row_number, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
            continue
        cells = [cell.strip() for cell in row] + [""] * (6 - len(row))
        rules.append(_validate_row(cells, row_number, group))
    return rules


def _validate_row(cells: list[str], row: int, group: bool) -> Rule:
    tags, vr, name, status, action, option = cells[:6]
    if group:
        if vr.upper() != GROUP_VR:
            raise StrategyError(f"row {row}: group strategy rows need VR {GROUP_VR}")
        if action not in GROUP_ACTIONS:
            raise StrategyError(
                f"row {row}: group action must be one of {', '.join(GROUP_ACTIONS)}"
            )
        try:
            pattern = _parse_group(tags)
        except ValueError:
            raise StrategyError(f"row {row}: bad group prefix, expected like (0020,)") from None
        return Rule(pattern, GROUP_VR, name, status, action, option, row)
    try:
        pattern = parse_tag(tags)
    except ValueError:
        raise StrategyError(f"row {row}: bad tag, expected like (0010, 0010)") from None
    spec = ACTIONS.get(action)
    if spec is None:
        raise StrategyError(f"row {row}: unknown action {action[:40]!r}")
    if not action_accepts_vr(spec, vr):
        raise StrategyError(f"row {row}: action {action} does not apply to VR {vr[:12]!r}")
    n_options = 1 if option else 0
    if not spec.min_options <= n_options <= spec.max_options:
        need = "an Option" if spec.min_options else "no Option"
        raise StrategyError(f"row {row}: action {action} takes {need}")
    if spec.validate_option is not None and option:
        try:
            spec.validate_option(option)
        except ValueError as exc:
            raise StrategyError(f"row {row}: bad Option for {action}: {exc}") from None
    return Rule(pattern, vr, name, status, action, option, row)


@dataclass(frozen=True)
class ResolvedStrategy:
    """Strategy CSV text plus what to record in the de-identification method tags."""

    csv_text: str
    method_description: str
    method_codes: tuple[tuple[str, str], ...]


def resolve_strategy(source: str) -> ResolvedStrategy:
    """A shipped profile spec (``tcia``, ``basic+retain-uids``), a CSV path, or CSV text.

    Profiles record their CID 7050 codes; a custom CSV records only a method
    text, since nothing says which profile it conforms to.
    """
    from sparkdeid.metadata import profiles

    profile, *extra = source.strip().split("+")
    if profile in profiles.PROFILES:
        options = profiles.resolve_options(profile, extra)
        return ResolvedStrategy(
            profiles.build_strategy_csv(options),
            profiles.method_description(options),
            tuple(profiles.method_codes(options)),
        )
    if "\n" in source or source.lstrip().lstrip("\ufeff").startswith("Tags"):
        return ResolvedStrategy(source, "sparkdeid custom strategy", ())
    if os.path.exists(source):
        with open(source, encoding="utf-8-sig") as handle:
            return ResolvedStrategy(handle.read(), "sparkdeid custom strategy", ())
    raise StrategyError(
        f"strategy {os.path.basename(source)[:60]!r} is neither a profile "
        f"({', '.join(sorted(profiles.PROFILES))}, optionally +option) nor an existing file"
    )


def read_text_or_file(source: str) -> str:
    """Group strategies and similar inputs: CSV text as is, else the file's text."""
    if not source or "\n" in source:
        return source
    with open(source, encoding="utf-8-sig") as handle:
        return handle.read()


@lru_cache(maxsize=32)
def load_strategy(text: str, group_text: str | None = None) -> Strategy:
    """Parse once per process: workers reuse the compiled strategy across batches."""
    return Strategy.from_csv_text(text, group_text)
