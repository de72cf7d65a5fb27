"""Integrity beyond the entries: digests, recorded in the ledger, of everything a score
depends on.

The entries are hash-chained (``digests``, ``verify``), but a score also depends on
tables that are not entries: the registries that turn codes into ids, each rulebook's
stored text and the tables compiled from it, the cached scoring plans, and the stored
results of each run (a decision reads them; an incremental run carries them over). Each
change to one of these appends to the ledger a batch of no entries whose source records
its digest (``append.append_note``), chained like every batch, so that an edit made
outside socialrating no longer matches (entry numbers stay those of records):

- ``registry:``, after every change of a registry (subjects, institutions, parameters,
  API keys): the table's rows and digest;
- ``run:``, when a run finishes: its ``runs`` row and the digests of its snapshot and its
  list members;
- ``compiled:``, when a rulebook is installed: the digests of its compiled tables
  (parameters, institutions' classes, permissions); and when a scoring plan is cached:
  the SHA-256 of its SQL.

A rulebook's own text needs no digest: its content hash is its identity, which the
rulebook's activation entry records. ``verify_integrity`` checks all of it;
``trusted_*`` are the checks that scoring makes before it relies on a table (refusing with
``IntegrityError``), each far cheaper than a run.

A table's digest is order-free (``table_digest``): from ledger format 12 a SHA-256 of its
rows read in a canonical order, column by column (``COLUMNS``); digests recorded before
were made by ``ROWS``. Each record names its method (``method``; none: ``ROWS``), and a
check recomputes by that method.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from socialrating.errors import LedgerError
from socialrating.ledger.store import Store, vouched
from socialrating.ledger.table_digest import COLUMNS, ROWS, table_digest

# What a batch of no entries records (its source starts with one of these, and a colon).
REGISTRY, RUN, COMPILED = "registry", "run", "compiled"

REGISTRIES = ("subjects", "institutions", "parameters", "api_keys")
"""The registries, whose digests the ledger records after each change."""

COMPILED_TABLES = ("rulebook_parameters", "rulebook_institutions", "rulebook_permissions")
"""The tables compiled from each rulebook (rows of its hash)."""


class IntegrityError(LedgerError):
    """A table that scores depend on does not match the digest the ledger recorded of it:
    the database was edited outside socialrating."""


METHOD = COLUMNS
"""The method new digests are made with."""


def named(method: str) -> dict[str, str]:
    """What a record says of its method: nothing for ``ROWS`` (records made before
    format 12 said nothing)."""
    return {} if method == ROWS else {"method": method}


def method_of(recorded: dict[str, Any]) -> str:
    """The method a recorded digest was made with (``ROWS`` before format 12 named none)."""
    return str(recorded.get("method", ROWS))


def record(store: Store, kind: str, evidence: dict[str, Any]) -> None:
    """Record a digest in the ledger: a batch of no entries whose source is ``kind`` and
    the digest (``append.append_note``), inside the caller's transaction."""
    from socialrating.ledger.append import append_note

    append_note(store, f"{kind}:{json.dumps(evidence, sort_keys=True, separators=(',', ':'))}")


def record_registries(store: Store, names: Iterable[str] = REGISTRIES) -> None:
    """Record the digests of the registries ``names`` as they are now (after a change)."""
    for name in names:
        if store.has_table(name):
            d = table_digest(store, name, method=METHOD)
            record(store, REGISTRY, {"table": name, **d.as_dict(), **named(METHOD)})


def compiled_digests(
    store: Store, rulebook_hash: str, temp: bool = False, method: str = COLUMNS
) -> dict[str, Any]:
    """The digests of the tables compiled from one rulebook (of the temp tables
    ``compiled_*`` that ``rulebooks.compile_tables`` makes, with ``temp``)."""
    found = {}
    for table in COMPILED_TABLES:
        relation = f"temp.compiled_{table.removeprefix('rulebook_')}" if temp else ""
        where = "TRUE" if temp else f"rulebook_hash = '{rulebook_hash}'"
        found[table] = table_digest(store, table, where, relation, method).as_dict()
    return found


def record_compiled(store: Store, rulebook_hash: str) -> None:
    """Record the digests of the tables just compiled from a rulebook."""
    tables = compiled_digests(store, rulebook_hash, method=METHOD)
    record(store, COMPILED, {"rulebook": rulebook_hash, "tables": tables, **named(METHOD)})


def plan_digest(sql: str) -> str:
    """The digest of a scoring plan's SQL: its SHA-256."""

    return hashlib.sha256(sql.encode()).hexdigest()


def record_plan(store: Store, key: str, sql: str) -> None:
    """Record the digest of a scoring plan's SQL as it is cached."""
    record(store, COMPILED, {"plan": key, "sha256": plan_digest(sql)})


def run_digests(store: Store, run_id: int, method: str = COLUMNS) -> dict[str, Any]:
    """The digests of a run's stored results: its ``runs`` row (but for its times and
    figures), its snapshot, its list members and its key factors (by ``method``; the
    method named too when it is not ``ROWS``)."""
    row = store.one(
        "SELECT rulebook_hash, CAST(as_of AS VARCHAR), last_entry, subjects FROM runs "
        "WHERE run_id = ?",
        [run_id],
    )
    where = f"run_id = {int(run_id)}"
    return {
        "run_id": int(run_id),
        "run": None if row is None else list(row),
        "snapshot": table_digest(store, "snapshot", where, method=method).as_dict(),
        "list_members": table_digest(store, "list_members", where, method=method).as_dict(),
        "run_factors": table_digest(store, "run_factors", where, method=method).as_dict(),
    } | named(method)


def record_run(store: Store, run_id: int) -> None:
    """Record the digests of a run's results, as it finishes (``vouch_run`` once that is
    committed)."""
    record(store, RUN, run_digests(store, run_id, METHOD))


def vouch_run(store: Store, run_id: int) -> None:
    """This process stored run ``run_id`` and recorded its digests (committed): it need not
    check them while it holds the database (``trusted_run``)."""
    vouched(store).add((RUN, int(run_id)))


def record_everything(store: Store) -> None:
    """Record the digests of everything as it is (a database upgraded to this format: its
    tables are trusted as found, from now on)."""
    record_registries(store)
    for (h,) in store.rows("SELECT hash FROM rulebooks ORDER BY installed_at, hash"):
        record_compiled(store, str(h))
    for (run_id,) in store.rows("SELECT run_id FROM runs ORDER BY run_id"):
        record_run(store, int(run_id))


# -- reading what the ledger recorded -------------------------------------------------


def _recorded(store: Store, kind: str) -> list[tuple[int, dict[str, Any]]]:
    """The digests recorded of ``kind``, by batch, in ledger order."""
    return [
        (int(batch), json.loads(str(source)[len(kind) + 1 :]))
        for batch, source in store.rows(
            """SELECT batch_id, source FROM batches
               WHERE rows = 0 AND institution_id IS NULL AND starts_with(source, ?)
               ORDER BY batch_id""",
            [kind + ":"],
        )
    ]


def latest_registries(store: Store) -> dict[str, tuple[int, dict[str, Any]]]:
    """Per registry, the latest digest recorded of it (and its entry)."""
    return {doc["table"]: (entry, doc) for entry, doc in _recorded(store, REGISTRY)}


def recorded_runs(store: Store) -> dict[int, tuple[int, dict[str, Any]]]:
    return {int(doc["run_id"]): (entry, doc) for entry, doc in _recorded(store, RUN)}


def recorded_compiled(store: Store) -> dict[str, tuple[int, dict[str, Any]]]:
    """Per rulebook hash, the digests of its compiled tables (the latest recorded)."""
    return {
        doc["rulebook"]: (entry, doc)
        for entry, doc in _recorded(store, COMPILED)
        if "rulebook" in doc
    }


def recorded_plan(store: Store, key: str) -> str | None:
    """The SHA-256 recorded of the cached plan ``key`` (None: none was)."""
    found = store.scalar(
        """SELECT source FROM batches WHERE rows = 0 AND institution_id IS NULL
             AND starts_with(source, ?) ORDER BY batch_id DESC LIMIT 1""",
        [f'{COMPILED}:{{"plan":{json.dumps(key)},'],
    )
    return None if found is None else str(json.loads(str(found)[len(COMPILED) + 1 :])["sha256"])


def trusted_cached(store: Store, key: str, text: str, what: str) -> str:
    """A ``plan_cache`` row's text (a compiled plan, a rulebook's kept spec), once it is
    proved to be what the ledger recorded of it; ``what`` names it in the error.

    Raises:
        IntegrityError: the ledger recorded no digest of it, or another one.
    """
    recorded = recorded_plan(store, key)
    if recorded != plan_digest(text):
        said = "no digest of it" if recorded is None else "another digest"
        raise IntegrityError(f"{what} is not what the ledger recorded ({said}): {EDITED}")
    return text


# -- the checks that scoring makes ----------------------------------------------------

EDITED = "the database was edited outside socialrating; run `socialrating verify` for details"


def trusted_compiled(store: Store, rulebook_hash: str, *, upgrade: bool = False) -> None:
    """Refuse a rulebook whose compiled tables differ from the digests recorded when it
    was installed.

    Not checked again while this process holds the database for writing (``vouched``).
    With ``upgrade`` (a scoring run, which writes the ledger anyway), digests recorded by
    an earlier method and found to match are recorded again by today's (``METHOD``), in
    a note appended like any: a rulebook installed before format 12 is otherwise checked
    by each process that scores by its slower method for good (0.4-0.8 s a process on
    the bench ledger, against about 0.2 s).

    Raises:
        IntegrityError: they differ, or none were recorded.
    """
    if (COMPILED, rulebook_hash) in vouched(store):
        return
    found = recorded_compiled(store).get(rulebook_hash)
    if found is None:
        raise IntegrityError(
            f"the ledger recorded no digest of rulebook {rulebook_hash[:12]}'s compiled "
            f"tables: {EDITED}"
        )
    _, differing = compiled_against(store, rulebook_hash, found[1])
    if differing:
        raise IntegrityError(
            f"{differing[0]} of rulebook {rulebook_hash[:12]} differs from the digest recorded "
            f"in batch {found[0]}: {EDITED}"
        )
    if upgrade and method_of(found[1]) != METHOD and not store.read_only:
        with store.transaction():
            record_compiled(store, rulebook_hash)
    vouched(store).add((COMPILED, rulebook_hash))


def trusted_run(store: Store, run_id: int) -> None:
    """Refuse a run whose stored results differ from the digests recorded when it finished.

    A run that this process recorded or checked while holding the database for writing
    is not checked again (``store.vouched``): a server scoring again after each batch pays
    for its digests once, not on every run.

    Raises:
        IntegrityError: they differ, or none were recorded.
    """
    if (RUN, int(run_id)) in vouched(store):
        return
    found = recorded_runs(store).get(int(run_id))
    if found is None:
        raise IntegrityError(f"the ledger recorded no digest of run {run_id}: {EDITED}")
    differing = run_against(store, run_id, found[1])
    if differing:
        what = "the runs row" if differing[0] == "run" else differing[0]
        raise IntegrityError(
            f"{what} of run {run_id} differs from the digest recorded in batch {found[0]}: {EDITED}"
        )
    vouch_run(store, run_id)


class TrustingRun:
    """``trusted_run`` on a cursor of its own, in a thread, while the caller goes on with
    the run's rows: an incremental run checks the run it carries rows from beside its own
    plans, which leave the second core mostly idle (0.5-0.9 s of digests on the bench
    ledger). ``wait`` for it (it raises the check's error) before anything that relied on
    the run is committed; leaving the context waits too (the cursor is closed)."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.failed: list[BaseException] = []
        self.thread: threading.Thread | None = None
        if (RUN, int(run_id)) in vouched(store):
            return
        self.cursor = store.cursor()

        def check() -> None:
            try:
                trusted_run(self.cursor, run_id)
            except BaseException as error:  # raised where the caller waits
                self.failed.append(error)

        self.thread = threading.Thread(target=check, name=f"check run {run_id}", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        """Wait for the check; raise its error, if it found one."""
        if self.thread is not None:
            self.thread.join()
            self.thread = None
            self.cursor.close()
        if self.failed:
            raise self.failed[0]

    def __enter__(self) -> TrustingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait()


def compiled_against(
    store: Store, rulebook_hash: str, recorded: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """The digests of a rulebook's compiled tables now, and those that differ from the
    ``recorded`` ones."""
    now = compiled_digests(store, rulebook_hash, method=method_of(recorded))
    return now, [t for t, d in recorded["tables"].items() if now[t] != d]


def run_against(store: Store, run_id: int, recorded: dict[str, Any]) -> list[str]:
    """The parts of a run (``run``, ``snapshot``, ``list_members``, ``run_factors``) whose
    digests now differ from the ``recorded`` ones. A run recorded before runs stored key
    factors (format 10) has none recorded, and keeps none."""
    now = run_digests(store, run_id, method_of(recorded))
    parts = ("run", "snapshot", "list_members", "run_factors")
    return [
        part
        for part in parts
        # A part recorded before runs stored it has no rows.
        if (now[part] != recorded[part] if part in recorded else now[part]["rows"] != 0)
    ]


# -- verify ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One table (or part) that does not match what the ledger says of it."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


@dataclass(frozen=True)
class IntegrityReport:
    """What ``verify_integrity`` checked, and every mismatch."""

    rulebooks: int
    registries: int
    runs: int
    plans: int
    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "rulebooks": self.rulebooks,
            "registries": self.registries,
            "runs": self.runs,
            "plans": self.plans,
            "problems": [{"what": p.what, "reason": p.reason} for p in self.problems],
        }


def verify_integrity(store: Store) -> IntegrityReport:
    """Check every rulebook against its hash and what the code compiles from it, every
    registry, cached plan and run against the digest the ledger recorded. Reads only."""
    problems: list[Problem] = []
    rulebooks = _verify_rulebooks(store, problems)
    registries = _verify_registries(store, problems)
    plans = _verify_plans(store, problems)
    runs = _verify_runs(store, problems)
    return IntegrityReport(rulebooks, registries, runs, plans, problems)


def _verify_rulebooks(store: Store, problems: list[Problem]) -> int:
    from socialrating.ledger.rulebooks import compile_tables, stored_hash, stored_rulebook_full

    activated = {str(h) for (h,) in store.rows("SELECT evidence FROM entries WHERE kind = ?", [3])}
    compiled = recorded_compiled(store)
    stored = store.rows(
        "SELECT hash, yaml_text, catalogue_name, catalogue_bytes FROM rulebooks ORDER BY hash"
    )
    for h in sorted(activated - {str(r[0]) for r in stored}):
        problems.append(Problem(f"rulebook {h[:12]}", "activated in the ledger, but not stored"))
    for h, text, cat_name, cat_bytes in stored:
        what = f"rulebook {str(h)[:12]}"
        actual = stored_hash(text, cat_name, cat_bytes)
        if actual != h:
            problems.append(
                Problem(what, f"its stored text or catalogue hashes to {actual[:12]}, not {h}")
            )
            continue
        found = compiled.get(str(h))
        if found is None:
            problems.append(Problem(what, "the ledger recorded no digest of its compiled tables"))
            continue
        now, differing = compiled_against(store, str(h), found[1])
        for table in differing:
            problems.append(
                Problem(
                    f"{table} of {what}", f"differs from the digest recorded in batch {found[0]}"
                )
            )
        # What the code compiles from the stored text, against what is stored.
        try:
            compile_tables(store, stored_rulebook_full(store, str(h)))
            again = compiled_digests(store, str(h), temp=True, method=method_of(found[1]))
        except Exception as exc:  # a damaged rulebook: say so, never a traceback
            problems.append(Problem(what, f"cannot be compiled again: {exc}"))
            continue
        finally:
            for table in COMPILED_TABLES:
                store.run(f"DROP TABLE IF EXISTS temp.compiled_{table.removeprefix('rulebook_')}")
        for table in COMPILED_TABLES:
            if again[table] != now[table]:
                problems.append(
                    Problem(f"{table} of {what}", "differs from what the code compiles from it")
                )
    return len(stored)


def _verify_registries(store: Store, problems: list[Problem]) -> int:
    latest = latest_registries(store)
    checked = 0
    for name in REGISTRIES:
        if not store.has_table(name):
            continue
        checked += 1
        found = latest.get(name)
        now = table_digest(store, name, method=METHOD if found is None else method_of(found[1]))
        if found is None:
            if now.rows:
                problems.append(Problem(name, "the ledger recorded no digest of this registry"))
            continue
        if now.as_dict() != {"rows": found[1]["rows"], "digest": found[1]["digest"]}:
            problems.append(
                Problem(
                    name,
                    f"{now.rows:,} rows that differ from the {found[1]['rows']:,} whose digest "
                    f"batch {found[0]} recorded",
                )
            )
    return checked


def _verify_plans(store: Store, problems: list[Problem]) -> int:
    if not store.has_table("plan_cache"):
        return 0
    from socialrating.ledger.rulebooks import kept_spec_differs, spec_key

    plans = store.rows("SELECT key, sql FROM plan_cache ORDER BY key")
    for key, sql in plans:
        recorded = recorded_plan(store, str(key))
        rulebook, _, name, *_ = str(key).split("|")
        what = f"cached {'spec' if name == 'spec' else 'plan ' + name} of rulebook {rulebook[:12]}"
        if recorded is None:
            problems.append(Problem(what, "the ledger recorded no digest of it"))
        elif plan_digest(str(sql)) != recorded:
            problems.append(Problem(what, "its text differs from the digest the ledger recorded"))
        elif key == spec_key(rulebook) and kept_spec_differs(store, rulebook, str(sql)):
            problems.append(Problem(what, "it is not what the rulebook's stored text says"))
    return len(plans)


def _verify_runs(store: Store, problems: list[Problem]) -> int:
    recorded = recorded_runs(store)
    runs = [int(r) for (r,) in store.rows("SELECT run_id FROM runs ORDER BY run_id")]
    stored = set(runs)
    for run_id in runs:
        found = recorded.get(run_id)
        if found is None:
            problems.append(Problem(f"run {run_id}", "the ledger recorded no digest of it"))
            continue
        for part in run_against(store, run_id, found[1]):
            what = "its runs row" if part == "run" else f"its {part}"
            problems.append(
                Problem(
                    f"run {run_id}", f"{what} differs from the digest recorded in batch {found[0]}"
                )
            )
    for run_id in sorted(set(recorded) - stored):
        problems.append(Problem(f"run {run_id}", "recorded in the ledger, but deleted"))
    # Stored rows of runs that do not exist.
    for table in ("snapshot", "list_members", "run_factors"):
        orphans = store.scalar(
            f"SELECT count(DISTINCT run_id) FROM {table} WHERE run_id NOT IN "
            "(SELECT run_id FROM runs)"
        )
        if orphans:
            problems.append(Problem(table, f"rows of {orphans} run(s) that are not in runs"))
    return len(runs)


# -- verify --rescore -----------------------------------------------------------------


@dataclass(frozen=True)
class RescoreReport:
    """A run computed again from the ledger as it stood, against what it stored."""

    run_id: int
    as_of: str
    subjects: int
    differing: int
    examples: list[str]
    members: int
    members_differing: int
    factors: int = 0
    """The key factor rows the run stored (``run_factors``), and how many differ."""
    factors_differing: int = 0

    @property
    def ok(self) -> bool:
        return not self.differing and not self.members_differing and not self.factors_differing

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "run_id": self.run_id,
            "as_of": self.as_of,
            "subjects": self.subjects,
            "differing": self.differing,
            "examples": self.examples,
            "list_members": self.members,
            "list_members_differing": self.members_differing,
            "run_factors": self.factors,
            "run_factors_differing": self.factors_differing,
        }


# Compared without the membership dates: a grade's membership carried from run to run keeps
# the day it began, which a computation from scratch cannot know.
_MEMBER_COLUMNS = "list, subject_id, cause, entry_id, grade, via_subject"


def rescore(store: Store, run_id: int) -> RescoreReport:
    """Compute run ``run_id`` again, in full, from the entries it saw (up to its last entry)
    and the subjects it scored, and compare with its stored snapshot, list members and
    key factors.
    Reads only (temp views shadow the ledger's tables meanwhile).

    Raises:
        LedgerError: no such run.
    """
    from socialrating.ledger.rulebooks import run_rulebook
    from socialrating.model import day_number
    from socialrating.scoring.compiled import bind, compiled
    from socialrating.scoring.run import SNAPSHOT_COLUMNS
    from socialrating.scoring.run_factors import factor_grades, refused_grades, store_factors

    row = store.one(
        "SELECT rulebook_hash, as_of, last_entry, subjects FROM runs WHERE run_id = ?",
        [int(run_id)],
    )
    if row is None:
        last = store.scalar("SELECT max(run_id) FROM runs")
        held = f"its runs are 1 to {last}" if last else "it has no run yet"
        raise LedgerError(f"no run {run_id} in the database ({held})")
    _, as_of, last_entry, subjects = row
    day = day_number(as_of)
    rb = run_rulebook(store, int(run_id))  # the versions the ledger held at its last entry
    # Plans are compiled (or read from the cache) before the views shadow the tables.
    scores = bind(compiled(store, rb, "scores"), day)
    lists = bind(compiled(store, rb, "run_lists"), day, None, int(run_id)) if rb.spec.lists else ""
    # The key factors, where the run stored them (runs of format 9 did not).
    factors = factor_grades(store, int(run_id)) is not None and any(refused_grades(rb).values())
    if factors:
        compiled(store, rb, "factors@chosen")
    main = store.main
    store.run(
        f"CREATE OR REPLACE TEMP VIEW entries AS SELECT * FROM {main}.entries "
        f"WHERE entry_id <= {int(last_entry)}"
    )
    store.run(
        f"CREATE OR REPLACE TEMP VIEW subjects AS SELECT * FROM {main}.subjects "
        f"WHERE subject_id <= (SELECT max(subject_id) FROM (SELECT subject_id FROM "
        f"{main}.subjects ORDER BY subject_id LIMIT {int(subjects)}))"
    )
    try:
        store.run(f"CREATE OR REPLACE TEMP TABLE rescored AS {scores}")
        stored = f"SELECT {SNAPSHOT_COLUMNS} FROM {main}.snapshot WHERE run_id = {int(run_id)}"
        again = f"SELECT {SNAPSHOT_COLUMNS} FROM temp.rescored"
        differing = store.rows(
            f"""SELECT DISTINCT subject_id FROM (({stored}) EXCEPT ALL ({again})
                UNION ALL (({again}) EXCEPT ALL ({stored}))) ORDER BY 1"""
        )
        members = members_differing = 0
        if lists:
            kept = f"SELECT {_MEMBER_COLUMNS} FROM {main}.list_members WHERE run_id = {int(run_id)}"
            redone = f"SELECT {_MEMBER_COLUMNS} FROM ({lists})"
            members = int(store.scalar(f"SELECT count(*) FROM ({kept})"))
            members_differing = int(
                store.scalar(
                    f"""SELECT count(*) FROM (({kept}) EXCEPT ALL ({redone})
                        UNION ALL (({redone}) EXCEPT ALL ({kept})))"""
                )
            )
        n_factors = factors_differing = 0
        if factors:
            store.run(f"CREATE OR REPLACE TEMP TABLE refactored AS FROM {main}.run_factors LIMIT 0")
            store_factors(store, rb, int(run_id), day, "temp.rescored", into="temp.refactored")
            kept = f"FROM {main}.run_factors WHERE run_id = {int(run_id)}"
            n_factors = int(store.scalar(f"SELECT count(*) {kept}"))
            factors_differing = int(
                store.scalar(
                    f"""SELECT count(*) FROM (({kept}) EXCEPT ALL (FROM temp.refactored)
                        UNION ALL ((FROM temp.refactored) EXCEPT ALL ({kept})))"""
                )
            )
    finally:
        store.run("DROP VIEW IF EXISTS temp.entries")
        store.run("DROP VIEW IF EXISTS temp.subjects")
        store.run("DROP TABLE IF EXISTS temp.rescored")
        store.run("DROP TABLE IF EXISTS temp.refactored")
    codes = [
        str(c)
        for (c,) in store.rows(
            "SELECT code FROM subjects WHERE list_contains(?, subject_id) ORDER BY subject_id",
            [[int(s) for (s,) in differing[:10]]],
        )
    ]
    return RescoreReport(
        int(run_id),
        str(as_of),
        int(subjects),
        len(differing),
        codes,
        members,
        members_differing,
        n_factors,
        factors_differing,
    )
