"""One subject's decision from a scoring run, read from that subject's rows alone.

A provider asks about one passenger; loading the whole run (``decider.load_decider``,
a few seconds for two million subjects) is for batches and for a service that answers
many. A look-up reads the run's row for the subject, its list memberships and the codes
of the subjects they came through, each a point read: the subject's code through the
registry's index, the rest by run and subject id, which the snapshot and the list
members are stored in order of. The decision is the same ``rules.decide`` a loaded
decider makes, with the same reasons.
"""

from __future__ import annotations

from typing import Any

from socialrating.decisions.rules import Decision, Membership, decide
from socialrating.errors import NoSnapshot, UnknownService, UnknownSubject
from socialrating.ledger.rulebooks import run_rulebook, stored_rulebook
from socialrating.ledger.store import Store, remembered
from socialrating.scoring.run_factors import factor_grades, stored_for, with_run_factors


def run_of(store: Store, run_id: int | None) -> tuple[int, str, str]:
    """The run (default: the latest), its rulebook hash and its as-of date.

    Raises:
        NoSnapshot: no scoring run yet, or no run ``run_id``.
    """
    if run_id is None:
        row = store.one(
            "SELECT run_id, rulebook_hash, as_of FROM runs ORDER BY run_id DESC LIMIT 1"
        )
        if row is None:
            raise NoSnapshot("no scoring run yet: run `socialrating score` first")
    else:
        row = store.one("SELECT run_id, rulebook_hash, as_of FROM runs WHERE run_id = ?", [run_id])
        if row is None:
            raise NoSnapshot(f"no scoring run {run_id}")
    return int(row[0]), str(row[1]), str(row[2])


def _rows_of(
    store: Store, code: str, run: int
) -> tuple[int, str, tuple[Any, ...], list[Any]] | None:
    """The subject ``code``'s id, kind, snapshot row and list memberships in ``run`` (None
    when the subject or its row is not there), in point reads: the subject through the
    registry's index on codes, then the rest by run and subject id, which the snapshot and
    the list members are stored in order of (literal ids, not parameters, let DuckDB prune
    row groups by their min and max)."""
    found = store.one("SELECT subject_id, kind FROM subjects WHERE code = ?", [code])
    if found is None:
        return None
    subject_id, kind = int(found[0]), str(found[1])
    row = store.one(
        f"""SELECT score, grade, direct_grade IS NOT NULL, contagion FROM snapshot
            WHERE run_id = {run} AND subject_id = {subject_id}"""
    )
    if row is None:
        return None
    # Put in order here: a sort in DuckDB costs 0.6 ms of the read's 1.3 (a subject has
    # a few rows; text sorts by code point in both).
    members = sorted(
        store.rows(
            f"""SELECT list, cause, entry_id, grade, start_day, end_day, via_subject
                FROM list_members WHERE run_id = {run} AND subject_id = {subject_id}"""
        ),
        key=lambda row: (row[0], row[1]),
    )
    return subject_id, kind, row, members


def decide_one(
    store: Store, code: str, service: str, run_id: int | None = None, *, explain: bool = True
) -> Decision:
    """May the subject ``code`` use ``service``, by run ``run_id`` (default: the latest)?
    With ``explain``, a refusal or terms by grade carries the score's key factors too.

    Raises:
        NoSnapshot: no such run.
        UnknownService: the run's rulebook has no such service.
        UnknownSubject: no subject ``code`` in the run.
    """
    run, rb_hash, as_of = remembered(store, ("run", run_id), lambda: run_of(store, run_id))
    rb = stored_rulebook(store, rb_hash)
    svc = next((s for s in rb.spec.services if s.code == service), None)
    if svc is None:
        known = ", ".join(s.code for s in rb.spec.services) or "none"
        raise UnknownService(f"unknown service {service!r} (the rulebook's services: {known})")
    read = _rows_of(store, code, run)
    if read is None:
        raise UnknownSubject(f"unknown subject {code!r} (not in run {run})")
    subject_id, kind, (score, grade, direct, contagion), rows = read
    lists = {x.code for x in rb.spec.lists}
    vias = sorted({int(r[6]) for r in rows if r[6] is not None})
    via_codes = dict(
        store.rows(
            f"SELECT subject_id, code FROM subjects WHERE subject_id IN ({', '.join(map(str, vias))})"
        )
        if vias
        else []
    )
    members = [
        Membership(lst, cause, entry, g, start, end, via_codes.get(via))
        for lst, cause, entry, g, start, end, via in rows
        if lst in lists
    ]
    decision = decide(
        svc,
        code,
        kind,
        str(grade),
        int(score),
        members,
        bool(direct),
        contagion=int(contagion),
    ).by(run, as_of)
    decision = with_run_factors(
        decision,
        rb,
        kind,
        str(grade),
        lambda: remembered(store, ("factor_grades", run), lambda: factor_grades(store, run)),
        lambda: stored_for(store, run, subject_id),
    )
    return with_score_factors(store, decision) if explain else decision


def needs_score_factors(decision: Decision) -> bool:
    """A refusal or terms by a rule on grades, without the score's key factors yet (a
    refusal from a run carries those the run stored)."""
    return not decision.scored and decision.decision != "allowed" and decision.by_grade


def with_score_factors(store: Store, decision: Decision) -> Decision:
    """``decision`` with the score's key factors after those of its lists, when a rule on
    grades refused it or set terms (FCRA §609(f)) and the run stored none: the subject's
    statement as of the run's day, by the run's rulebook, gives them (one subject's
    entries, ``scoring/lookup``)."""
    if not needs_score_factors(decision):
        return decision
    import datetime as dt
    from dataclasses import replace

    from socialrating.scoring.factors import refusal_factors
    from socialrating.scoring.statements import statement

    assert decision.as_of is not None
    rb = None if decision.run_id is None else run_rulebook(store, decision.run_id)
    st = statement(store, decision.subject, dt.date.fromisoformat(decision.as_of), rb)
    return replace(decision, factors=refusal_factors(decision, st.key_factors), scored=True)
