"""The use cases every face calls: each asks the policy first, then the library.

Each takes the store and the ``Principal`` asking; the results are JSON-ready dicts in
the shapes the CLI's ``--json`` prints, with what the role may not see left out: a
provider's decision carries no score and no entry, a subject's statement names no other
person.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialrating.errors import UnknownSubject
from socialrating.ledger.store import Store
from socialrating.service.access import access_of, log_access, log_accesses
from socialrating.service.policy import Action, Principal, Role, check

SMALLEST_CELL = 10
"""Aggregates suppress cells of fewer subjects (they could point at a person)."""


def health(store: Store) -> dict[str, Any]:
    """That the service runs, on which ledger and run (for anyone)."""
    entries = int(store.scalar("SELECT count(*) FROM entries"))
    run = store.one("SELECT run_id, as_of FROM runs ORDER BY run_id DESC LIMIT 1")
    return {
        "ok": True,
        "entries": entries,
        "latest_run": None if run is None else {"run_id": int(run[0]), "as_of": str(run[1])},
    }


def ingest_records(
    store: Store, principal: Principal, institution: str, rows: list[dict[str, Any]], source: str
) -> dict[str, Any]:
    """Append records from ``institution``: all of them, or none if any is bad."""
    from socialrating.ledger.ingest import ingest_table
    from socialrating.ledger.readers import COLUMNS, staged_table

    check(principal, Action.INGEST, institution)
    columns: dict[str, list[str | None]] = {c: [] for c in COLUMNS}
    for row in rows:
        for c in COLUMNS:
            value = row.get(c)
            columns[c].append(None if value is None else str(value))
    table = staged_table(columns, list(range(1, len(rows) + 1)))
    return ingest_table(store, table, institution, source).as_dict()


SAFE_TEXT = {
    "GRADE": "the subject's grade",
    "LIST": "a list membership",
    "CONTAGION": "contacts lowered the grade",
    "SUBJECTS": "the service is not for this kind of subject",
    "SUBJECT": "not a subject of the run",
}


def _for_provider(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision as a provider sees it: codes and the rule's words; no score, no entry."""
    reasons = []
    for r in decision["reasons"]:
        code = str(r["code"])
        kind = code.split(":", 1)[0].split("#", 1)[0]
        text = r["text"] if kind == "RULE" else SAFE_TEXT.get(kind, "")
        reasons.append({"code": code, "text": text, "entry_id": None})
    return {**decision, "reasons": reasons}


def decide(
    store: Store, principal: Principal, subject: str, service: str, run_id: int | None = None
) -> dict[str, Any]:
    """May ``subject`` use ``service``? From the latest run (or ``run_id``)."""
    from socialrating.decisions.lookup import decide_one

    check(principal, Action.DECIDE, service)
    decision = decide_one(store, subject, service, run_id).as_dict()
    _log(store, principal, "decide", subject, service)
    return decision if principal.role is Role.ADMIN else _for_provider(decision)


def decide_many(
    store: Store, principal: Principal, service: str, subjects: list[str]
) -> dict[str, Any]:
    """Decisions for many subjects (a passenger list); unknown ones are ``unknown``."""
    from socialrating.decisions.batch import decision_dict
    from socialrating.decisions.decider import load_decider

    check(principal, Action.DECIDE, service)
    decider = _decider(store, load_decider)
    decisions = [decision_dict(decider, s, service) for s in subjects]
    log_accesses(store, principal, "decide", subjects, service)
    if principal.role is not Role.ADMIN:
        decisions = [_for_provider(d) for d in decisions]
    return {"run_id": decider.run_id, "service": service, "decisions": decisions}


_DECIDERS: dict[tuple[str, int], Any] = {}


def _decider(store: Store, load: Any) -> Any:
    """The latest run loaded whole, kept while it is the latest (a batch or a busy service
    answers from memory)."""
    latest = store.scalar("SELECT max(run_id) FROM runs")
    key = (store.path, int(latest or 0))
    if key not in _DECIDERS:
        _DECIDERS.clear()
        _DECIDERS[key] = load(store)
    return _DECIDERS[key]


def statement(
    store: Store, principal: Principal, subject: str, as_of: dt.date | None = None
) -> dict[str, Any]:
    """A subject's statement (summary first); to the subject, contacts are not named."""
    from socialrating.scoring.statements import statement as build
    from socialrating.scoring.summary import statement_document

    check(principal, Action.STATEMENT, subject)
    doc = statement_document(build(store, subject, as_of))
    _log(store, principal, "statement", subject, str(doc["as_of"]))
    if principal.role is Role.SUBJECT:
        doc["contacts"] = [
            {"subject": None, "grade": c["grade"], "last_date": c["last_date"], "entry_id": None}
            for c in doc["contacts"]
        ]
    return doc


def access_log(store: Store, principal: Principal, subject: str) -> dict[str, Any]:
    """Who read ``subject``'s data, when, for what."""
    check(principal, Action.ACCESS_LOG, subject)
    subject_id = _subject_id(store, subject)
    return {"subject": subject, "reads": access_of(store, subject_id)}


def aggregates(store: Store, principal: Principal, by: str) -> dict[str, Any]:
    """Subjects per grade of the latest run by ``region``, ``age_band`` or ``sex``; cells
    of fewer than ``SMALLEST_CELL`` subjects are suppressed (null)."""
    check(principal, Action.AGGREGATES)
    groups = {
        "region": "coalesce(s.region, 'unknown')",
        "sex": "coalesce(s.sex, 'unknown')",
        "age_band": "CASE WHEN s.born IS NULL THEN 'unknown' ELSE "
        "CAST(10 * (date_diff('year', s.born, r.as_of) // 10) AS VARCHAR) || 's' END",
    }
    if by not in groups:
        from socialrating.errors import Problem, ProblemsError

        raise ProblemsError(
            f"cannot group by {by!r}",
            [Problem("by", None, "by", f"use one of {', '.join(groups)}")],
        )
    run = store.one("SELECT run_id, as_of FROM runs ORDER BY run_id DESC LIMIT 1")
    if run is None:
        from socialrating.errors import NoSnapshot

        raise NoSnapshot("no scoring run yet")
    rows = store.rows(
        f"""SELECT s.kind, {groups[by]} AS g, n.grade, count(*)
            FROM snapshot n JOIN subjects s USING (subject_id), (SELECT as_of FROM runs
            WHERE run_id = {int(run[0])}) r
            WHERE n.run_id = {int(run[0])} GROUP BY ALL ORDER BY ALL"""
    )
    cells = [
        {
            "kind": kind,
            by: group,
            "grade": grade,
            "subjects": int(n) if n >= SMALLEST_CELL else None,
        }
        for kind, group, grade, n in rows
    ]
    return {
        "run_id": int(run[0]),
        "as_of": str(run[1]),
        "by": by,
        "cells": cells,
        "suppressed_below": SMALLEST_CELL,
    }


def _subject_id(store: Store, code: str) -> int:
    found = store.scalar("SELECT subject_id FROM subjects WHERE code = ?", [code])
    if found is None:
        raise UnknownSubject(f"no subject with code {code!r} is registered")
    return int(found)


def _log(store: Store, principal: Principal, action: str, subject: str, detail: str) -> None:
    found = store.scalar("SELECT subject_id FROM subjects WHERE code = ?", [subject])
    if found is not None:
        log_access(store, principal, action, int(found), detail)
