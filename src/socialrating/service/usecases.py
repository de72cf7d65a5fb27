"""The use cases every face calls: each asks the policy first, then the library.

Each takes the store and the ``Principal`` asking; the results are JSON-ready dicts in
the shapes the CLI's ``--json`` prints, with what the role may not see left out: a
provider's decision carries no score and no entry, a subject's statement names no other
person.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from socialrating.errors import (
    AppealError,
    Problem,
    ProblemsError,
    UnknownAppeal,
    UnknownSubject,
)
from socialrating.ledger.store import Store, commits, openings
from socialrating.service.access import access_of, log_access_of, log_accesses, log_subject_ids
from socialrating.service.policy import SCOPED, Action, Principal, Role, check

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from socialrating.appeals.cases import Appeal

log = logging.getLogger(__name__)

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


def may_ingest(principal: Principal, institution: str) -> None:
    """Refuse a principal who may not send records from ``institution`` (before a request
    body is read)."""
    check(principal, Action.INGEST, institution)


def ingest_records(
    store: Store,
    principal: Principal,
    institution: str,
    rows: list[dict[str, Any]],
    source: str,
    lines: list[int] | None = None,
    problems: list[Problem] | None = None,
) -> dict[str, Any]:
    """Append records (JSON objects) from ``institution``: all of them, or none if any is bad.

    Each row is checked as an NDJSON line is: an unknown column, a value that is a list or
    an object, a lone surrogate or a key that is not a string is a problem. ``lines`` say
    where each row came from (default: 1, 2, …); ``problems`` found while reading them
    (lines that are not records) are reported with the rows'.
    """
    from socialrating.ledger.ingest import ingest_table
    from socialrating.ledger.readers import records_table, unknown_columns_of

    check(principal, Action.INGEST, institution)
    lines = list(range(1, len(rows) + 1)) if lines is None else lines
    found = list(problems or [])
    unknown_columns_of(source, rows, lines, found)
    try:
        table = records_table(source, rows, lines, found)
        return ingest_table(store, table, institution, source, found).as_dict()
    except ProblemsError as exc:  # refused: nothing stored; the institution can read why
        _rejected(store, institution, source, len(rows), exc.problems)
        raise


def ingest_upload(
    store: Store, principal: Principal, institution: str, path: Path, source: str
) -> dict[str, Any]:
    """Append a batch file (CSV, Parquet or NDJSON) from ``institution``: all of its rows,
    or none if any is bad, as `socialrating ingest` does."""
    from dataclasses import replace

    from socialrating.ledger.ingest import ingest_file

    check(principal, Action.INGEST, institution)
    try:
        return ingest_file(store, path, institution, source=source).as_dict()
    except ProblemsError as exc:
        # Named as the institution knows the file, not by where the server kept it.
        exc.problems = [
            replace(p, source=source) if p.source == str(path) else p for p in exc.problems
        ]
        exc.summary = exc.summary.replace(str(path), source)
        _rejected(store, institution, source, 0, exc.problems)
        raise type(exc)(exc.summary, exc.problems) from None


def _rejected(
    store: Store, institution: str, source: str, rows: int, problems: list[Problem]
) -> None:
    import json

    first = json.dumps([p.as_dict() for p in problems[:20]], ensure_ascii=False)
    store.run(
        "INSERT INTO rejections VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?)",
        [institution, source, rows, len(problems), first],
    )


def batches(
    store: Store, principal: Principal, institution: str, limit: int = 50
) -> dict[str, Any]:
    """An institution's latest batches in the ledger, and the latest it sent that were
    refused, with their first problems: what it sent, never what it did to a score."""
    import json

    from socialrating.errors import UnknownInstitution

    check(principal, Action.BATCHES, institution)
    found = store.scalar("SELECT institution_id FROM institutions WHERE code = ?", [institution])
    if found is None:
        raise UnknownInstitution(f"no institution {institution!r} is registered")
    stored = [
        {
            "batch_id": int(b),
            "source": src,
            "rows": int(n),
            "first_entry": first,
            "last_entry": last,
            "arrived_at": f"{at:%Y-%m-%d %H:%M:%S}",
            "digest": digest,
        }
        for b, src, n, first, last, at, digest in store.rows(
            """SELECT batch_id, source, rows, first_entry, last_entry, arrived_at, digest
               FROM batches WHERE institution_id = ? ORDER BY batch_id DESC LIMIT ?""",
            [int(found), int(limit)],
        )
    ]
    refused = [
        {
            "rejected_at": f"{at:%Y-%m-%d %H:%M:%S}",
            "source": src,
            "rows": n,
            "problems": p,
            "first_problems": json.loads(first),
        }
        for at, src, n, p, first in store.rows(
            """SELECT rejected_at, source, rows, problems, first_problems FROM rejections
               WHERE institution = ? ORDER BY rejected_at DESC LIMIT ?""",
            [institution, int(limit)],
        )
    ]
    return {"institution": institution, "batches": stored, "rejections": refused}


SAFE_TEXT = {
    "GRADE": "the subject's grade",
    "LIST": "a list membership",
    "CONTAGION": "contacts lowered the grade",
    "LIMIT": "a limit on the grade",
    "DIRECT": "a grade set directly",
    "PARAMETER": "the subject's records",
    "SUBJECTS": "the service is not for this kind of subject",
    "SUBJECT": "not a subject of the run",
}


def _for_provider(decision: dict[str, Any]) -> dict[str, Any]:
    """A decision as a provider sees it: codes and the rule's words; no score, no entry
    (its key factors too: their codes, without points or records)."""
    reasons = []
    for r in decision["reasons"]:
        code = str(r["code"])
        kind = code.split(":", 1)[0].split("#", 1)[0]
        text = r["text"] if kind == "RULE" else SAFE_TEXT.get(kind, "")
        reasons.append({"code": code, "text": text, "entry_id": None})
    factors = [
        {
            "code": f["code"],
            "text": SAFE_TEXT.get(str(f["code"]).split(":", 1)[0], ""),
            "effect": None,
            "entries": [],
        }
        for f in decision.get("key_factors", [])
    ]
    return {**decision, "reasons": reasons, "key_factors": factors}


_RESCORING = threading.Lock()
LATEST = "SELECT run_id, as_of, last_entry FROM runs ORDER BY run_id DESC LIMIT 1"
NEWER = "SELECT EXISTS (SELECT 1 FROM entries WHERE entry_id > ?)"
"""Entries after a run's last: stored in id order, so this reads only the tail."""


def fresh(store: Store, since: int | None = None) -> int | None:
    """Make the latest run reflect every entry acknowledged so far (or by the time the
    commits counted were ``since``, when a request came); its run id.

    When entries came in after the latest run (records, verifications, a void on appeal),
    the subjects they touch (and whom those touch: contacts, representatives) are scored
    again as of that run's date, in an incremental run; everyone else's rows are carried
    over. A record dated after that date counts from the next run on a later date.

    Meanwhile the run before answers decisions for everyone the entries cannot touch
    (``pending``), until the new run is loaded for decisions, when it was. A request that
    waited for a rescoring under way is answered by it: records acknowledged after the
    request came are not waited for (they would be, run after run, while batches keep
    coming).
    """
    from socialrating.decisions.decider import load_decider
    from socialrating.scoring.run import score_run

    path = store.path
    # While this process commits nothing on the database, which it holds for writing (no
    # other process can change it), a run found current stays current: no table is read.
    seen = commits(path)
    since = seen if since is None else since
    known = _CURRENT.get(path)
    if known is not None and known[0] == seen:
        return known[1]
    run = store.one(LATEST)
    if run is None or not store.scalar(NEWER, [int(run[2])]):
        found = None if run is None else int(run[0])
        if found is not None and not _RESCORING.locked():
            _CURRENT[path] = (seen, found)  # current as of ``seen``, counted before
        return found
    with _RESCORING:  # one rescoring at a time; the others then find it done
        ours = None
        try:
            run = store.one(LATEST)
            assert run is not None
            # The run stored meanwhile scored everything acknowledged when the request came.
            covered = _COVERED.get(path)
            if covered is not None and covered[1] == int(run[0]) and covered[0] >= since:
                return covered[1]
            if store.scalar(NEWER, [int(run[2])]):
                before = int(run[0])
                with store.writing():  # nothing else is committed until the new run is
                    waiting = _PENDING.get(path)
                    if waiting is not None and (waiting[0], waiting[1]) == (commits(path), before):
                        ours = _PENDING[path] = (waiting[0], before, waiting[2], True)
                    scored = score_run(store, run[1])
                    # Committed whole: every entry acknowledged until now is in it.
                    _COVERED[path] = (commits(path), scored.run_id)
                    if ours is not None and commits(path) == ours[0] + 1:
                        # The new run's commit alone: the run before still answers for
                        # everyone it did not score again, while the new one is loaded.
                        ours = _PENDING[path] = (ours[0] + 1, before, ours[2], False)
                run = store.one(LATEST)
                assert run is not None
                if (path, openings(path), before) in _DECIDERS:  # a service answers from it
                    _decider(store, load_decider, int(run[0]))
            # Current now, unless entries came in meanwhile (scored again on the next call).
            seen = commits(path)
            run = store.one(LATEST)
            assert run is not None
            if not store.scalar(NEWER, [int(run[2])]):
                _CURRENT[path] = (seen, int(run[0]))
            return int(run[0])
        finally:
            if ours is not None and _PENDING.get(path) is ours:
                del _PENDING[path]  # a state found since (entries after the new run) stays


_CURRENT: dict[str, tuple[int, int]] = {}
"""Per database, the commits counted (``store.commits``) when ``fresh`` last found the latest
run current, and that run."""

_COVERED: dict[str, tuple[int, int]] = {}
"""Per database, the last run ``fresh`` stored, and the commits counted once it was: it
reflects every entry acknowledged by then."""

_PENDING: dict[str, tuple[int, int, np.ndarray | None, bool]] = {}
"""Per database, while entries came in after its latest run: the commits counted when they
were found, that run, the subjects whose decisions they may change (sorted ids; None:
anyone's), and whether ``fresh`` is committing the run that scores them again (the one
commit that leaves the others' decisions as they were)."""
_CHOOSING = threading.Lock()


def current_run(path: str) -> int | None:
    """The latest run of the database at ``path`` if ``fresh`` found it current and nothing
    was committed since (answered from memory), else None."""
    known = _CURRENT.get(path)
    return known[1] if known is not None and known[0] == commits(path) else None


def _pending_known(path: str) -> tuple[int, np.ndarray | None] | None:
    """``pending`` as last found, if nothing was committed since but the run scoring the
    subjects it names (answered from memory), else None."""
    known = _PENDING.get(path)
    if known is None:
        return None
    seen = commits(path)
    if known[0] == seen or (known[3] and known[0] + 1 == seen):
        return known[1], known[2]
    return None


def pending(store: Store) -> tuple[int, np.ndarray | None] | None:
    """When entries came in after the latest run: that run, and the subjects whose
    decisions the entries may change (``incremental.touched``; None: anyone's, as after a
    new version of the rulebook), which must wait for ``fresh`` to score them again.
    None when the latest run is current, or there is none. Found once per commit, on a
    cursor of its own (tens of milliseconds on two million records)."""
    from socialrating.ledger.rulebooks import in_force
    from socialrating.model import day_number
    from socialrating.scoring.incremental import base_run, touched

    if current_run(store.path) is not None:
        return None
    known = _pending_known(store.path)
    if known is not None:
        return known
    with _CHOOSING:
        seen = commits(store.path)  # counted before reading: a later commit finds it again
        known = _pending_known(store.path)
        if known is not None:
            return known
        run = store.one(LATEST)
        if run is None or not store.scalar(NEWER, [int(run[2])]):
            return None
        rb = in_force(store, day_number(run[1]))  # as ``score_run`` takes it
        base = base_run(store, rb)
        ids = None
        if base is not None and base.run_id == int(run[0]):
            cursor = store.cursor()
            try:
                ids = touched(cursor, rb, base)
            except Exception:  # then everyone waits for the rescoring, as it would anyway
                log.exception("could not find the subjects new entries touch")
            finally:
                cursor.close()
        _PENDING[store.path] = (seen, int(run[0]), ids, False)
        return int(run[0]), ids


def _waits(decider: Any, codes: list[str], ids: np.ndarray | None) -> bool:
    """Whether a decision for any of ``codes`` must wait for the run scored again: one
    ``ids`` names (None: all), or one ``decider``'s run does not know (registered since)."""
    import numpy as np
    import pyarrow as pa

    if ids is None:
        return True
    if len(codes) == 1:  # a binary search, no query (on the event loop, from memory)
        try:
            subject_id = int(decider.ids[decider.position(codes[0])])
        except UnknownSubject:
            return True
        at = int(np.searchsorted(ids, subject_id))
        return at < len(ids) and int(ids[at]) == subject_id
    pos, found = decider.positions(pa.array(codes, pa.string()))
    if not bool(np.all(found)):
        return True
    return bool(np.isin(decider.ids[pos], ids).any())


def _answering(store: Store, codes: list[str]) -> Any:
    """The decider that answers for ``codes`` now: the latest run's, where it is current, or
    where the entries since cannot change their decisions (``pending``) and it is in
    memory; else the latest run, scored again first if it must be (``fresh``)."""
    from socialrating.decisions.decider import load_decider

    since = commits(store.path)  # what was acknowledged when the request came
    waiting = pending(store)
    if waiting is not None:
        decider = _DECIDERS.get((store.path, openings(store.path), waiting[0]))
        if decider is not None and not _waits(decider, codes, waiting[1]):
            return decider
    return _decider(store, load_decider, fresh(store, since))


def decide(
    store: Store,
    principal: Principal,
    subject: str,
    service: str,
    run_id: int | None = None,
    *,
    explain: bool = False,
) -> dict[str, Any]:
    """May ``subject`` use ``service``? From the latest run (or ``run_id``).

    The latest run is answered from memory (the run loaded whole, as for a batch: a binary
    search, no query); another run from its rows (``decide_one``). With ``explain``, a
    refusal or terms by grade carries the score's key factors too (the subject's
    statement as of the run's day); without, only its lists'.
    """
    from socialrating.decisions.lookup import decide_one, with_score_factors

    check(principal, Action.DECIDE, service)
    if run_id is None:
        decided = _answering(store, [subject]).decide(subject, service)
    else:
        decided = decide_one(store, subject, service, run_id, explain=False)
    decision = (with_score_factors(store, decided) if explain else decided).as_dict()
    _log(store, principal, "decide", subject, service)
    return decision if principal.role is Role.ADMIN else _for_provider(decision)


def decide_from_memory(
    path: str, principal: Principal, subject: str, service: str
) -> tuple[dict[str, Any], Future[None]] | None:
    """``decide`` for the latest run, answered without waiting on the database: the
    decision, and its access-log write under way (done once committed: answer then).

    None when the answer needs the database: the latest run is not known current (see
    ``current_run``), nor known to answer for the subject while entries since it are
    scored (``pending``), or is not loaded, or no writer logs reads of it
    (``AccessWriter``).
    """
    from socialrating.service.access import writer_for

    check(principal, Action.DECIDE, service)
    run_id, waiting = current_run(path), None
    if run_id is None:  # entries since the run: it still answers for whom they cannot touch
        known = _pending_known(path)
        if known is None or known[1] is None:
            return None
        run_id, waiting = known
    decider = _DECIDERS.get((path, openings(path), run_id))
    writer = writer_for(path)
    if decider is None or writer is None:
        return None
    if waiting is not None and _waits(decider, [subject], waiting):
        return None
    decision = decider.decide(subject, service).as_dict()
    subject_id = int(decider.ids[decider.position(subject)])
    logged = writer.submit((principal.key_id, principal.role.value, "decide", subject_id, service))
    return (decision if principal.role is Role.ADMIN else _for_provider(decision)), logged


def decide_many(
    store: Store, principal: Principal, service: str, subjects: list[str]
) -> dict[str, Any]:
    """Decisions for many subjects (a passenger list); unknown ones are ``unknown``."""
    from socialrating.decisions.batch import decision_dict

    check(principal, Action.DECIDE, service)
    decider = _answering(store, subjects)
    decisions = [decision_dict(decider, s, service) for s in subjects]
    log_accesses(store, principal, "decide", subjects, service)
    if principal.role is not Role.ADMIN:
        decisions = [_for_provider(d) for d in decisions]
    return {"run_id": decider.run_id, "service": service, "decisions": decisions}


def decide_many_table(
    store: Store, principal: Principal, service: str, subjects: list[str]
) -> tuple[int, pa.Table]:
    """Decisions for many subjects at once, as ``check-batch`` writes them to a CSV file
    (``batch.CSV_COLUMNS``: subject, decision, reason codes, terms, a refusal's key factor
    codes; no texts, no entries, which a provider may see of any decision): the run, and
    the table. Decided together (``Decider.decide_many``), not one by one as
    ``decide_many``'s full objects are (but for the refusals' key factors).
    """
    import pyarrow as pa

    from socialrating.decisions.batch import CSV_COLUMNS, with_key_factors

    check(principal, Action.DECIDE, service)
    decider = _answering(store, subjects)
    codes = pa.array(subjects, pa.string())
    pos, found = decider.positions(codes)
    table = decider.decide_many(codes, service, (pos, found))
    log_subject_ids(store, principal, "decide", decider.ids[pos[found]], service)
    table = with_key_factors(table, decider, service, (pos, found))
    return decider.run_id, table.select(list(CSV_COLUMNS))


_DECIDERS: dict[tuple[str, int, int], Any] = {}
_LOADING = threading.Lock()


def _decider(store: Store, load: Any, latest: int | None) -> Any:
    """The latest run (``latest``, as ``fresh`` found it) loaded whole, kept while it is the
    latest (a batch or a busy service answers from memory).

    Raises:
        NoSnapshot: no run yet (``latest`` is None).
    """
    # The same run id in a file opened again may be another run (the file replaced).
    key = (store.path, openings(store.path), int(latest or 0))
    found = _DECIDERS.get(key)
    if found is None:
        with _LOADING:  # one load at a time: requests arriving meanwhile wait for it
            found = _DECIDERS.get(key)
            if found is None:
                found = load(store, latest)
                # The run before stays too: it answers while entries since are scored.
                for old in list(_DECIDERS)[:-1]:
                    del _DECIDERS[old]
                _DECIDERS[key] = found
    return found


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


def outlook(
    store: Store, principal: Principal, subject: str, as_of: dt.date | None = None
) -> dict[str, Any]:
    """What would change the subject's grade: the days ahead on which its records expire
    or its lists end, and its standing on each if nothing else happens."""
    from socialrating.model import utc_now
    from socialrating.scoring.outlook import outlook as ahead

    check(principal, Action.STATEMENT, subject)
    day = as_of or utc_now().date()
    doc = ahead(store, subject, day)
    _log(store, principal, "outlook", subject, day.isoformat())
    return doc


def history(
    store: Store, principal: Principal, subject: str, as_of: dt.date | None = None
) -> dict[str, Any]:
    """The subject's score at each month's end over the last year, and the records that
    moved it."""
    from socialrating.model import utc_now
    from socialrating.scoring.history import history as past

    check(principal, Action.STATEMENT, subject)
    day = as_of or utc_now().date()
    doc = past(store, subject, day)
    _log(store, principal, "history", subject, day.isoformat())
    return doc


def dashboard(store: Store, principal: Principal) -> dict[str, Any]:
    """The operator's dashboard (``service.dashboard``): runs, refusals, records per
    institution and day, last batches, appeals, the ledger's head."""
    from socialrating.decisions.decider import load_decider
    from socialrating.service.dashboard import dashboard as build

    check(principal, Action.DASHBOARD)
    latest = fresh(store)
    decider = None if latest is None else _decider(store, load_decider, latest)
    return build(store, decider)


def verify_now(store: Store, principal: Principal) -> dict[str, Any]:
    """Verify the ledger as `socialrating verify` does (every entry and batch, and the
    digests of everything beside them), and keep the outcome for the dashboard."""
    import time

    from socialrating.ledger.integrity import verify_integrity
    from socialrating.ledger.verify import verify_ledger

    check(principal, Action.DASHBOARD)
    started = time.perf_counter()
    report = verify_ledger(store)
    integrity = verify_integrity(store)
    seconds = time.perf_counter() - started
    said = [f.reason for f in report.findings] + [
        f"{p.what}: {p.reason}" for p in integrity.problems
    ]
    ok = report.ok and integrity.ok
    store.run(
        "INSERT INTO verifications VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?, ?)",
        [ok, report.entries, report.head, len(said), said[0] if said else None, seconds],
    )
    return {"ok": ok, "entries": report.entries, "head": report.head, "problems": said}


def access_log(store: Store, principal: Principal, subject: str) -> dict[str, Any]:
    """Who read ``subject``'s data, when, for what."""
    check(principal, Action.ACCESS_LOG, subject)
    subject_id = _subject_id(store, subject)
    return {"subject": subject, "reads": access_of(store, subject_id)}


def aggregates(
    store: Store, principal: Principal, by: str, what: str = "grades", service: str | None = None
) -> dict[str, Any]:
    """Subjects of the latest run by ``region``, ``age_band`` or ``sex``, and by ``what``:
    their grade (``grades``), each list they are on (``lists``), or the decision
    ``service`` gives them (``decisions``). Cells of fewer than ``SMALLEST_CELL`` subjects
    are suppressed (null)."""
    from socialrating.groups import group_sql

    check(principal, Action.AGGREGATES)
    group = group_sql(by, "r.as_of")
    latest = fresh(store) if what == "decisions" else None
    run = store.one("SELECT run_id, as_of FROM runs ORDER BY run_id DESC LIMIT 1")
    if run is None:
        from socialrating.errors import NoSnapshot

        raise NoSnapshot("no scoring run yet")
    run_id = int(run[0])
    at = f"(SELECT as_of FROM runs WHERE run_id = {run_id}) r"
    if what == "grades":
        key, source = "grade", f"snapshot n JOIN subjects s USING (subject_id), {at}"
        cell, where = "n.grade", f"n.run_id = {run_id}"
    elif what == "lists":
        key, source = "list", f"list_members n JOIN subjects s USING (subject_id), {at}"
        cell, where = "n.list", f"n.run_id = {run_id}"
    else:
        from socialrating.decisions.decider import load_decider

        decider = _decider(store, load_decider, latest)
        codes = store.arrow(
            f"SELECT s.code FROM snapshot n JOIN subjects s USING (subject_id) "
            f"WHERE n.run_id = {run_id}"
        ).column(0)
        store.con.register("agg_decisions", decider.decide_many(codes, str(service)))
        key, source = "decision", f"agg_decisions n JOIN subjects s ON s.code = n.subject, {at}"
        cell, where = "n.decision", "TRUE"
    try:
        rows = store.rows(
            f"""SELECT s.kind, {group} AS g, {cell}, count(DISTINCT s.subject_id)
                FROM {source} WHERE {where} GROUP BY ALL ORDER BY ALL"""
        )
    finally:
        if what == "decisions":
            store.con.unregister("agg_decisions")
    cells = [
        {"kind": kind, by: group, key: value, "subjects": int(n) if n >= SMALLEST_CELL else None}
        for kind, group, value, n in rows
    ]
    return {
        "run_id": run_id,
        "as_of": str(run[1]),
        "by": by,
        "of": what if service is None else f"{what}:{service}",
        "cells": cells,
        "suppressed_below": SMALLEST_CELL,
    }


def public_lists(store: Store, principal: Principal) -> dict[str, Any]:
    """The lists the latest run's rulebook publishes: their sizes and public fields."""
    from socialrating.decisions.batch import list_sizes

    check(principal, Action.PUBLIC_LISTS)
    sizes = list_sizes(store)
    public = _published(store, int(sizes["run_id"]))
    return {
        "run_id": sizes["run_id"],
        "as_of": sizes["as_of"],
        "lists": [
            {"list": x["list"], "name": x["name"], "members": x["members"],
             "fields": public[x["list"]]}
            for x in sizes["lists"]
            if x["list"] in public
        ],
    }  # fmt: skip


def public_list(
    store: Store,
    principal: Principal,
    code: str,
    limit: int = 100,
    offset: int = 0,
    subject: str | None = None,
) -> dict[str, Any]:
    """The members of a published list, each with only the fields the rulebook marks
    public, in code order (``limit`` and ``offset`` page through it); with ``subject``,
    whether that subject is on it (as the court's debtor list is searched)."""
    from socialrating.decisions.batch import list_members
    from socialrating.errors import UnknownList

    check(principal, Action.PUBLIC_LISTS)
    run = store.scalar("SELECT max(run_id) FROM runs")
    fields = _published(store, int(run)).get(code) if run is not None else None
    if fields is None:  # unknown and unpublished lists alike
        raise UnknownList(f"no published list {code!r}")
    doc = list_members(store, code, None, limit, offset, subject)
    extra: dict[str, tuple[str, str]] = {}
    if {"kind", "region"} & set(fields):
        codes = [m["subject"] for m in doc["members"]]
        extra = {
            str(c): (str(k), r)
            for c, k, r in store.rows(
                "SELECT code, kind, region FROM subjects WHERE list_contains(?, code)", [codes]
            )
        }
    members = []
    for m in doc["members"]:
        kind, region = extra.get(m["subject"], (None, None))
        full = {**m, "kind": kind, "region": region}
        if m["cause"] != "record":  # a grade or another subject is never published
            full.update(parameter=None, date=None, institution=None)
        members.append({f: full[f] for f in fields})
    return {
        "run_id": doc["run_id"],
        "as_of": doc["as_of"],
        "list": code,
        "size": doc["size"],
        "offset": offset,
        "fields": fields,
        "members": members,
    }


def _published(store: Store, run_id: int) -> dict[str, list[str]]:
    """Per list that the run's rulebook publishes, its public fields."""
    from socialrating.ledger.rulebooks import stored_rulebook

    rb_hash = store.scalar("SELECT rulebook_hash FROM runs WHERE run_id = ?", [run_id])
    rb = stored_rulebook(store, str(rb_hash))
    return {lst.code: list(lst.public) for lst in rb.spec.lists if lst.public}


def file_appeal(
    store: Store, principal: Principal, subject: str, entry_id: int, reason: str
) -> dict[str, Any]:
    """File ``subject``'s appeal against its record ``entry_id``, dated today (UTC)."""
    from socialrating.appeals import file_appeal as file

    check(principal, Action.APPEAL, subject)
    if principal.role is not Role.ADMIN:
        # One answer for a missing entry and another subject's: neither is said.
        about = store.one(
            """SELECT e.kind FROM entries e JOIN subjects s USING (subject_id)
               WHERE e.entry_id = ? AND s.code = ?""",
            [entry_id, subject],
        )
        if about is None or about[0] != 1:
            raise AppealError(f"entry {entry_id} is not a record about {subject}")
    found = file(store, subject, entry_id, reason)
    return found.as_dict()


def appeals(
    store: Store, principal: Principal, subject: str | None, status: str | None
) -> dict[str, Any]:
    """The appeals in filing order (a subject's own; for a reviewer, the queue)."""
    from socialrating.appeals import list_appeals

    if subject is None and principal.role is Role.SUBJECT and principal.acts_for:
        subject = principal.acts_for[0]
    check(principal, Action.APPEALS, subject)
    found = list_appeals(store, subject, status)  # type: ignore[arg-type]
    log_accesses(store, principal, "appeals", sorted({a.subject for a in found}))
    return {"appeals": [a.as_dict() for a in found]}


def review_queue(
    store: Store, principal: Principal, as_of: dt.date | None = None
) -> dict[str, Any]:
    """The appeals awaiting review, each beside what a reviewer weighs: the record as the
    institution sent it (quantity, confidence, severity, evidence, act, level) and its line
    in the subject's statement as of ``as_of`` (default: today, UTC): points, what counted,
    and why. Each subject's read is logged."""
    from socialrating.appeals import list_appeals
    from socialrating.model import utc_now
    from socialrating.scoring.statements import statement as build

    check(principal, Action.REVIEW)
    day = as_of or utc_now().date()
    found = list_appeals(store, None, "open")
    queue: list[dict[str, Any]] = []
    lines: dict[str, dict[int, Any]] = {}
    for appeal in found:
        a: dict[str, Any] = dict(appeal.as_dict())
        if appeal.subject not in lines:
            st = build(store, appeal.subject, day)
            lines[appeal.subject] = {line.entry_id: line.as_dict() for line in st.lines}
        a["line"] = lines[appeal.subject].get(appeal.entry_id)
        row = store.one(
            """SELECT quantity, confidence, severity, evidence, act, level FROM entries
               WHERE entry_id = ?""",
            [appeal.entry_id],
        )
        names = ("quantity", "confidence", "severity", "evidence", "act", "level")
        a["record"] = {k: v for k, v in zip(names, row or (), strict=False) if v is not None}
        queue.append(a)
    log_accesses(store, principal, "review_queue", sorted(lines), day.isoformat())
    return {"as_of": day.isoformat(), "appeals": queue}


def appeal(store: Store, principal: Principal, appeal_id: int) -> dict[str, Any]:
    """One appeal, its record, deadline, review and effect."""
    from socialrating.appeals import appeal as read

    found = _appeal_for(store, principal, Action.APPEALS, appeal_id, read)
    _log(store, principal, "appeal", found.subject, str(appeal_id))
    return found.as_dict()


def review_appeal(
    store: Store, principal: Principal, appeal_id: int, outcome: str, reason: str
) -> dict[str, Any]:
    """Uphold or void the record an appeal disputes; the reviewer is the key."""
    from socialrating.appeals import appeal as read
    from socialrating.appeals import review_appeal as review

    _appeal_for(store, principal, Action.REVIEW, appeal_id, read)
    found = review(store, appeal_id, outcome, reason, str(principal))  # type: ignore[arg-type]
    _log(store, principal, "review", found.subject, str(appeal_id))
    return found.as_dict()


def _appeal_for(
    store: Store, principal: Principal, action: Action, appeal_id: int, read: Any
) -> Appeal:
    """The appeal, if ``principal`` may take ``action`` on it; a subject asking for an
    appeal not its own (or none) is refused alike."""
    if principal.role in SCOPED:
        try:
            found = read(store, appeal_id)
        except UnknownAppeal:
            found = None
        check(principal, action, None if found is None else found.subject)
        assert found is not None  # check refused a missing appeal
        return cast("Appeal", found)
    check(principal, action)
    return cast("Appeal", read(store, appeal_id))


def _subject_id(store: Store, code: str) -> int:
    found = store.scalar("SELECT subject_id FROM subjects WHERE code = ?", [code])
    if found is None:
        raise UnknownSubject(f"no subject with code {code!r} is registered")
    return int(found)


def _log(store: Store, principal: Principal, action: str, subject: str, detail: str) -> None:
    log_access_of(store, principal, action, subject, detail)
