"""Read the registries: the subjects, and the parameters an institution may report.

These answer a newcomer's first questions ("who is registered?", "what may I send?")
without a scoring run. Each returns a plain dict, the same for the CLI's tables and
its ``--json``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from socialrating.errors import NotInitialised, UnknownInstitution
from socialrating.ledger.rulebooks import active_hash, stored_rulebook_full
from socialrating.ledger.store import Store
from socialrating.model import SubjectKind
from socialrating.rulebook.schema import Parameter, ValidityRule

PARAMETER_FIELDS = (
    "code",
    "name",
    "category",
    "points",
    "per_unit",
    "expiry_days",
    "subjects",
    "institutions",
    "tags",
)


def _like(text: str) -> str:
    """A LIKE pattern that matches ``text`` anywhere, taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_subjects(
    store: Store,
    kind: SubjectKind | None = None,
    search: str | None = None,
    region: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """Registered subjects, by code: how many there are, how many match, and the first
    ``limit`` of those (0: all) with code, kind, born, sex and region.

    ``search`` matches any part of the code, case-insensitively.
    """
    where, params = ["TRUE"], []
    if kind is not None:
        where.append("kind = ?")
        params.append(kind.value)
    if search:
        where.append("code ILIKE ? ESCAPE '\\'")
        params.append(_like(search))
    if region:
        where.append("region = ?")
        params.append(region)
    condition = " AND ".join(where)
    total = int(store.scalar("SELECT count(*) FROM subjects"))
    matched = int(store.scalar(f"SELECT count(*) FROM subjects WHERE {condition}", params))
    rows = store.rows(
        f"""SELECT code, kind, born, sex, region FROM subjects WHERE {condition}
            ORDER BY code {f"LIMIT {int(limit)}" if limit else ""}""",
        params,
    )
    subjects = [
        {
            "code": code,
            "kind": k,
            "born": None if born is None else born.isoformat(),
            "sex": sex,
            "region": reg,
        }
        for code, k, born, sex, reg in rows
    ]
    return {"total": total, "matched": matched, "subjects": subjects}


def list_parameters(
    store: Store,
    institution: str | None = None,
    search: str | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The active rulebook's parameters: how many it has, how many match, and the first
    ``limit`` of those (0: all), in the rulebook's order (the parameters written out in
    its YAML first, then its catalogue's).

    Each says what it is worth (``points``, and in ``worth`` in words: per unit, by
    quantity bands, other values for organisations, or a direct grade) and how long it
    counts (``expiry_days``, and ``counts_for`` in words: by level or size where the
    rulebook says so).

    Args:
        institution: only the parameters this institution may report.
        search: text found (case-insensitively) in the code, name, category or tags.

    Raises:
        UnknownInstitution: ``institution`` is not one of the rulebook's institutions.
    """
    rb_hash = active_hash(store)
    if rb_hash is None:
        raise NotInitialised("no rulebook is active: run `socialrating init --rulebook FILE`")
    rb = stored_rulebook_full(store, rb_hash)
    table = rb.parameters
    mask = pa.array([True] * table.num_rows)
    if institution is not None:
        known = [i.code for i in rb.spec.institutions]
        if institution not in known:
            close = [c for c in known if institution.lower() in c.lower()][:5]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise UnknownInstitution(
                f"unknown institution {institution!r} under rulebook {rb.spec.name} "
                f"{rb.spec.version}{hint}; `socialrating institutions` lists them"
            )
        # Codes are letters, digits and "_.:-", so ";code;" finds exactly one code.
        listed = pc.binary_join_element_wise(";", table.column("institutions").fill_null(""), "")
        listed = pc.binary_join_element_wise(listed, ";", "")
        mask = pc.and_(mask, pc.match_substring(listed, f";{institution};"))
    if search:
        needle = search.lower()
        hit = pa.array([False] * table.num_rows)
        for col in ("code", "name", "category", "tags"):
            text = pc.utf8_lower(table.column(col).fill_null(""))
            hit = pc.or_(hit, pc.match_substring(text, needle))
        mask = pc.and_(mask, hit)
    found = table.filter(mask)
    shown = found.slice(0, limit or None).select(list(PARAMETER_FIELDS))
    rows = []
    for r in shown.to_pylist():
        r["institutions"] = [c for c in (r["institutions"] or "").split(";") if c]
        r["tags"] = [t for t in (r["tags"] or "").split(";") if t]
        r["worth"], r["counts_for"] = _described(r, rb.written.get(r["code"]))
        rows.append(r)
    return {
        "rulebook": rb.hash,
        "total": table.num_rows,
        "matched": found.num_rows,
        "parameters": rows,
    }


def _described(row: dict[str, Any], written: Parameter | None) -> tuple[str, str]:
    """What a parameter is worth and how long it counts, in words (a row of the compiled
    parameter table, and the parameter as the YAML writes it, if it does)."""
    points = row["points"]
    worth = "" if points is None else f"{points:+d}" + (" per unit" if row["per_unit"] else "")
    days = row["expiry_days"]
    counts = "for ever" if days is None else f"{days} days"
    if written is None:
        return worth, counts
    if written.bands is not None:
        steps = written.bands.steps
        values = [s.points for s in steps if s.points is not None]
        if values:
            worth = f"by quantity: {min(values):+d} to {max(values):+d} ({written.bands.mode} band)"
        else:
            worth = f"by quantity, in {len(steps)} marginal bands"
    if written.direct_grade is not None:
        worth = f"sets grade {written.direct_grade}" + (f"; {worth}" if worth else "")
    if written.points_organisation is not None:
        worth += f" ({written.points_organisation:+d} for organisations)"
    if written.validity:
        days = sorted({v.days for v in written.validity if v.days is not None})
        if all(v.days is not None for v in written.validity):
            by = f"{days[0]} to {days[-1]} days by size or level"
            counts = by if len(days) > 1 else f"{days[0]} days"
        else:
            spans = list(dict.fromkeys(_span_text(v) for v in written.validity))
            counts = spans[0] if len(spans) == 1 else f"{', '.join(spans)} by size or level"
    return worth, counts


def _span_text(rule: ValidityRule) -> str:
    """How long a validity rule keeps a record counting, in words."""
    if rule.days is not None:
        return f"{rule.days} days"
    if rule.months is not None:
        return f"{rule.months} months"
    years = rule.calendar_years or 0
    return "to the end of its year" if years == 0 else f"to the end of its year + {years}"
