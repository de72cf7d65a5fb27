"""What of a rulebook with type errors can still be checked, so that every problem is
reported at once.

A field-range error (a parameter's ``expires_after_days: 0``) makes pydantic refuse the
whole rulebook; the checks that span fields (unknown categories, lists naming missing
parameters) would then wait until it is fixed. Instead, the elements that failed (a
parameter, a list, an institution …) are set aside and the rest is validated and checked
as usual. Setting an element aside shifts the ones after it, so ``Salvaged`` maps their
positions back, and a problem that only arises because an element was set aside (a
reference to its code) is not reported: the type error already names that element.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from socialrating.errors import Problem
from socialrating.rulebook.schema import RulebookSpec

Lines = dict[tuple[str | int, ...], int]

# Sections whose elements can be set aside one by one.
_LISTS = (
    "institutions",
    "categories",
    "parameters",
    "stages",
    "lists",
    "services",
    "grade_limits",
    "measures",
    "exports",
)
# Required top-level fields that no cross-field check reads: a stand-in keeps them valid.
_STAND_INS: dict[str, object] = {
    "name": "rulebook",
    "version": "0",
    "effective": dt.date(2000, 1, 1),
}
# Top-level fields with defaults: a bad one is left out, and its default checked instead.
_OPTIONAL = (
    "title",
    "base_score",
    "floor",
    "ceiling",
    "camera",
    "reports",
    "representatives",
    "contagion",
    "retroactive",
    "retention",
    "appeals",
    "catalogue",
)


@dataclass
class Salvaged:
    """The valid part of a rulebook, and how to report problems found in it.

    Attributes:
        spec: the rulebook without the elements set aside.
        lines: ``lines`` of the YAML, keyed by the positions in ``spec``.
        kept: per section, the original position of each element ``spec`` kept.
        dropped: the codes of the elements set aside (and of bad top-level fields).
    """

    spec: RulebookSpec
    lines: Lines
    kept: dict[str, list[int]] = field(default_factory=dict)
    dropped: set[str] = field(default_factory=set)

    def report(self, problems: list[Problem]) -> list[Problem]:
        """``problems`` found in ``spec``, with fields renumbered to the YAML's positions
        and those about an element set aside left out."""
        out = []
        for p in problems:
            if any(repr(code) in p.reason for code in self.dropped):
                continue
            out.append(Problem(p.source, p.line, self._renumbered(p.field), p.reason))
        return out

    def _renumbered(self, name: str) -> str:
        m = re.match(r"^([a-z_]+)\[(\d+)\]", name)
        if m is None or m.group(1) not in self.kept:
            return name
        old = self.kept[m.group(1)][int(m.group(2))]
        return f"{m.group(1)}[{old}]{name[m.end() :]}"


def salvage(data: dict[str, Any], lines: Lines, exc: ValidationError) -> Salvaged | None:
    """The part of ``data`` that validates, once the elements named by ``exc``'s errors
    are set aside; None when an error lies where nothing can be set aside (the grades,
    the whole list of institutions)."""
    data = copy.deepcopy(data)
    dropped: set[str] = set()
    doomed: dict[str, set[int]] = {}
    kept: dict[str, list[int]] = {}
    for _ in range(3):
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) > 1 and loc[0] in kept and isinstance(loc[1], int):
                loc[1] = kept[str(loc[0])][loc[1]]  # a position in the trial, in the YAML
            if not _set_aside(data, tuple(loc), doomed, dropped):
                return None
        kept = {
            s: [i for i in range(len(data[s])) if i not in gone]
            for s, gone in doomed.items()
            if isinstance(data.get(s), list)
        }
        trial = dict(data)
        for section, positions in kept.items():
            trial[section] = [data[section][i] for i in positions]
        try:
            spec = RulebookSpec.model_validate(trial)
        except ValidationError as again:
            exc = again
            continue
        return Salvaged(spec, _renumber(lines, kept), kept, dropped)
    return None


def _set_aside(
    data: dict[str, Any], loc: tuple[Any, ...], doomed: dict[str, set[int]], dropped: set[str]
) -> bool:
    """Mark what holds the error at ``loc`` to be set aside; False if nothing can be."""
    if not loc:
        return False
    top = loc[0]
    if top in _LISTS and len(loc) > 1 and isinstance(loc[1], int):
        element = data[top][loc[1]]
        doomed.setdefault(str(top), set()).add(loc[1])
        code = element.get("code", element.get("name")) if isinstance(element, dict) else None
        if isinstance(code, str):
            dropped.add(code)
        return True
    unknown = isinstance(top, str) and top not in RulebookSpec.model_fields  # a typo
    if unknown or top in _OPTIONAL or (top in _LISTS and top not in ("institutions", "categories")):
        data.pop(top, None)
        return True
    if top in _STAND_INS:
        data[top] = _STAND_INS[top]
        return True
    return False


def _renumber(lines: Lines, kept: dict[str, list[int]]) -> Lines:
    """``lines`` keyed by the positions of the kept elements."""
    new_of = {s: {old: new for new, old in enumerate(olds)} for s, olds in kept.items()}
    out: Lines = {}
    for key, line in lines.items():
        if len(key) > 1 and key[0] in new_of and isinstance(key[1], int):
            new = new_of[str(key[0])].get(key[1])
            if new is None:
                continue
            key = (key[0], new, *key[2:])
        out[key] = line
    return out
