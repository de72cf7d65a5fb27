"""What changed between two rulebooks, in words: `socialrating rulebook diff A B`.

Every part of a rulebook is compared: its header (version, effective date, base score,
floor and ceiling), grade bands, camera and report rules, institutions, categories (caps
and repeats), parameters (the YAML's and the catalogue's alike, by code), stages,
representatives, contagion, lists, services, grade limits, measures and appeals; a
parameter's bands, validity, repairs, rectifications, skipped stage and passing link
field by field. Items that have a code (or a
grade, or a name) are matched by it, whatever their order; a service's rules, whose order
decides, by position. Each change is one ``Change``: what it concerns (``part`` and
``code``), whether it was added, removed or changed, the field and the values before and
after, and a sentence (``text``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socialrating.rulebook.rulebook import Rulebook

# The parts of a rulebook in the order a diff reports them, each with its items' key
# (None: one item, compared field by field).
PARTS: dict[str, str | None] = {
    "rulebook": None,
    "grades.citizen": "grade",
    "grades.organisation": "grade",
    "camera": None,
    "reports": None,
    "institutions": "code",
    "categories": "code",
    "stages": "name",
    "representatives": None,
    "contagion": None,
    "lists": "code",
    "services": "code",
    "grade_limits": "code",
    "measures": "code",
    "exports": "code",
    "retention": None,
    "appeals": None,
}

# Where a part's items are named in words.
NOUNS = {
    "rulebook": "rulebook",
    "grades.citizen": "citizen grade",
    "grades.organisation": "organisation grade",
    "camera": "camera rules",
    "reports": "citizen reports",
    "institutions": "institution",
    "categories": "category",
    "parameters": "parameter",
    "stages": "stage",
    "representatives": "representatives",
    "contagion": "contagion",
    "lists": "list",
    "services": "service",
    "grade_limits": "grade limit",
    "measures": "measure",
    "exports": "export",
    "retention": "retention",
    "appeals": "appeals",
}

# The compiled parameter columns compared (the others are ids and bit masks, which the
# parameter's lists, bands and validity say in words; caps and repeats are the category's).
PARAMETER_COLUMNS = (
    "name",
    "category",
    "points",
    "per_unit",
    "expiry_days",
    "min_confidence",
    "verify_by_authority",
    "verify_reporters",
    "verify_window_days",
    "tags",
    "subjects",
    "institutions",
    "points_organisation",
    "points_representative",
    "direct_grade",
    "reduction",
    "reduction_from",
    "reduction_to",
    "reduction_once_days",
)
# Fields of a YAML parameter that the compiled table holds only as ids or masks, or not
# at all (a rectification's windows).
PARAMETER_NESTED = ("bands", "validity", "repairs", "rectifies", "skipped_stage", "derived_from")


@dataclass(frozen=True)
class Change:
    """One difference between two rulebooks."""

    part: str
    """Which part of the rulebook: a key of ``PARTS``, or ``parameters``."""
    code: str
    """The item changed (a parameter's code, a list's, a band's grade; "" for a part that
    is one item)."""
    kind: str
    """``added``, ``removed`` or ``changed``."""
    field: str = ""
    """For a change: the field, dotted (``cap.max_deduction``, ``rules.1.decision``)."""
    before: Any = None
    after: Any = None

    @property
    def text(self) -> str:
        """The change in words."""
        noun = NOUNS.get(self.part, self.part)
        who = f"{noun} {self.code}" if self.code else noun
        if self.kind == "added":
            return f"{who} added{_summary(self.after)}"
        if self.kind == "removed":
            return f"{who} removed{_summary(self.before, 'was ')}"
        where = re.sub(r"(^|\.)rules\.(\d+)(\.|$)", lambda m: f"{m[1]}rule {m[2]} ", self.field)
        return f"{who}: {where} {_word(self.before)} → {_word(self.after)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "code": self.code,
            "kind": self.kind,
            "field": self.field,
            "before": self.before,
            "after": self.after,
            "text": self.text,
        }


@dataclass(frozen=True)
class RulebookDiff:
    """Two rulebooks (names, versions, hashes) and every change from the first to the
    second."""

    before: dict[str, str]
    after: dict[str, str]
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, dict[str, int]]:
        """Per part, how many items were added, removed and changed (a changed item
        counted once, however many of its fields changed)."""
        found: dict[str, dict[str, set[str]]] = {}
        for c in self.changes:
            found.setdefault(c.part, {}).setdefault(c.kind, set()).add(c.code)
        return {
            part: {kind: len(codes) for kind, codes in sorted(kinds.items())}
            for part, kinds in found.items()
        }

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        shown = self.changes if limit is None else self.changes[:limit]
        return {
            "before": self.before,
            "after": self.after,
            "same": not self.changes,
            "counts": self.counts(),
            "changes": [c.as_dict() for c in shown],
            "more": len(self.changes) - len(shown),
        }


def _word(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list) and all(isinstance(x, (str, int, float)) for x in value):
        return ", ".join(map(str, value)) if value else "none"
    if isinstance(value, dict):  # an object added or removed: its fields that say something
        said = [f"{k} {_word(v)}" for k, v in value.items() if v not in (None, False, [], {}, "")]
        return "{" + ", ".join(said) + "}"
    if isinstance(value, list):
        import json

        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return str(value)


def _summary(item: Any, prefix: str = "") -> str:
    """A few words on an item added or removed (its points and category, for a parameter)."""
    if not isinstance(item, dict):
        return "" if item is None else f" ({prefix}{_word(item)})"
    if "points" in item and "category" in item:
        return f" ({prefix}{_word(item['points'])} points in {item['category']})"
    return ""


def _plain(value: Any) -> Any:
    """A spec part as plain data (the YAML's names: ``class``, ``from``)."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True)
    return value


def _fields(before: Any, after: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Each field (dotted path) whose value differs, descending into objects; lists of
    objects with a code are matched by it, lists of as many objects without one (ordered
    rules, such as validity rules or windows) by position, other lists compared whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in list(before) + [k for k in after if k not in before]:
            yield from _fields(before.get(key), after.get(key), f"{path}.{key}" if path else key)
        return
    if isinstance(before, list) and isinstance(after, list) and _keyed(before + after):
        old = {_key(x): x for x in before}
        new = {_key(x): x for x in after}
        for k in list(old) + [k for k in new if k not in old]:
            yield from _fields(old.get(k), new.get(k), f"{path}.{k}")
        return
    if (
        isinstance(before, list)
        and isinstance(after, list)
        and len(before) == len(after)
        and all(isinstance(x, dict) for x in before + after)
    ):
        for i, (x, y) in enumerate(zip(before, after, strict=True)):
            yield from _fields(x, y, f"{path}[{i}]")
        return
    if before != after:
        yield path, before, after


def _keyed(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(x, dict) and _key(x) is not None for x in items)


def _key(item: dict[str, Any]) -> str | None:
    for name in ("code", "grade", "name", "list"):
        if isinstance(item.get(name), str):
            return str(item[name])
    return None


def _rules_by_position(service: dict[str, Any]) -> dict[str, Any]:
    """A service with its rules keyed by their number (their order decides)."""
    rules = service.get("rules") or []
    return {**service, "rules": {str(n): r for n, r in enumerate(rules, start=1)}}


def _part(spec: Any, part: str) -> Any:
    value = spec
    for name in part.split("."):
        value = getattr(value, name)
    return _plain(value) if not isinstance(value, list) else [_plain(x) for x in value]


HEADER = ("version", "title", "effective", "base_score", "floor", "ceiling", "retroactive")


def _spec_changes(a: Any, b: Any) -> Iterator[Change]:
    header_a = {k: _plain(getattr(a, k)) for k in HEADER}
    header_b = {k: _plain(getattr(b, k)) for k in HEADER}
    for path, x, y in _fields(header_a, header_b):
        yield Change("rulebook", "", "changed", path, x, y)
    for part, key in PARTS.items():
        if part == "rulebook":
            continue
        x, y = _part(a, part), _part(b, part)
        if key is None:
            if x is None or y is None:
                if x != y:
                    yield Change(part, "", "added" if x is None else "removed", "", x, y)
                continue
            for path, u, v in _fields(x, y):
                yield Change(part, "", "changed", path, u, v)
            continue
        old = {str(item[key]): item for item in x}
        new = {str(item[key]): item for item in y}
        for code in list(old) + [c for c in new if c not in old]:  # in the rulebooks' order
            if code not in new:
                yield Change(part, code, "removed", before=old[code])
            elif code not in old:
                yield Change(part, code, "added", after=new[code])
            else:
                u, v = old[code], new[code]
                if part == "services":
                    u, v = _rules_by_position(u), _rules_by_position(v)
                for path, p, q in _fields(u, v):
                    yield Change(part, code, "changed", path, p, q)


def _parameter_changes(a: Rulebook, b: Rulebook) -> Iterator[Change]:
    """Parameters added, removed and changed, by code: the compiled tables (YAML and
    catalogue alike) joined in DuckDB, then the YAML parameters' bands, validity and
    repairs, which the tables hold as ids."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("pa_before", a.parameters.select(["code", *PARAMETER_COLUMNS]))
        con.register("pa_after", b.parameters.select(["code", *PARAMETER_COLUMNS]))
        columns = ", ".join(f"x.{c} AS x_{c}, y.{c} AS y_{c}" for c in PARAMETER_COLUMNS)
        differs = " OR ".join(f"x.{c} IS DISTINCT FROM y.{c}" for c in PARAMETER_COLUMNS)
        rows = con.execute(
            f"""SELECT coalesce(x.code, y.code) AS code, x.code IS NULL AS added,
                       y.code IS NULL AS removed, {columns}
                FROM pa_before x FULL OUTER JOIN pa_after y USING (code)
                WHERE x.code IS NULL OR y.code IS NULL OR {differs}
                ORDER BY code"""
        ).fetchall()
    finally:
        con.close()
    for row in rows:
        code, added, removed = str(row[0]), bool(row[1]), bool(row[2])
        values = row[3:]
        before = {c: values[2 * i] for i, c in enumerate(PARAMETER_COLUMNS)}
        after = {c: values[2 * i + 1] for i, c in enumerate(PARAMETER_COLUMNS)}
        if added:
            yield Change("parameters", code, "added", after=_brief(after))
        elif removed:
            yield Change("parameters", code, "removed", before=_brief(before))
        else:
            for c in PARAMETER_COLUMNS:
                if before[c] != after[c]:
                    yield Change("parameters", code, "changed", c, before[c], after[c])
    yaml_a = {p.code: _plain(p) for p in a.spec.parameters}
    yaml_b = {p.code: _plain(p) for p in b.spec.parameters}
    for code in sorted(set(yaml_a) & set(yaml_b)):
        for name in PARAMETER_NESTED:
            for path, x, y in _fields(yaml_a[code].get(name), yaml_b[code].get(name), name):
                yield Change("parameters", code, "changed", path, x, y)


def _brief(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v not in (None, "", False)}


def diff_rulebooks(a: Rulebook, b: Rulebook) -> RulebookDiff:
    """Every change from rulebook ``a`` to rulebook ``b``, part by part (``PARTS``, with
    the parameters after the categories)."""
    spec = list(_spec_changes(a.spec, b.spec))
    order = [*list(PARTS)[:7], "parameters", *list(PARTS)[7:]]
    params = list(_parameter_changes(a, b))
    changes = sorted(spec + params, key=lambda c: order.index(c.part))  # stable within a part

    def who(rb: Rulebook) -> dict[str, str]:
        return {
            "name": rb.spec.name,
            "version": rb.spec.version,
            "effective": rb.spec.effective.isoformat(),
            "hash": rb.hash,
        }

    return RulebookDiff(who(a), who(b), changes)
