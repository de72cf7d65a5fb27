"""The service's request paths made cheaper keep their promises: every read is in the
access log once it is answered (reads made together are committed together), a revoked
key stops working at once, and a decision from the run held in memory is the decision
read from the run's rows."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pytest
from tests.conftest import DATA, feed, rec

from socialrating.decisions.lookup import decide_one
from socialrating.errors import LedgerError, UnknownService, UnknownSubject
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import RunResult, score_run
from socialrating.service import journal, usecases
from socialrating.service.access import (
    log_access_of,
    log_accesses,
    log_subject_ids,
    start_writer,
    writer_for,
)
from socialrating.service.keys import create_key, principal_for, revoke_key
from socialrating.service.policy import AccessError, Principal, Role
from socialrating.service.tables import ensure_tables

READER = Principal(Role.PROVIDER, ("loan",), 7)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Store]:
    """The consequences rulebook (loan, flight, bidding, senior), subjects C1..C9 and O1."""
    store = open_store(tmp_path / "served.duckdb", create=True)
    activate_rulebook(store, load_rulebook(DATA / "consequences.yaml"))
    register_subjects(
        store,
        pa.table(
            {
                "code": [f"C{i}" for i in range(1, 10)] + ["O1"],
                "kind": ["citizen"] * 9 + ["organisation"],
            }
        ),
    )
    ensure_tables(store)
    yield store
    store.close()


def cursor(store: Store) -> Store:
    """A connection of its own, as each request has."""
    return store.cursor()


def logged(store: Store) -> list[tuple[str, str, str]]:
    """The access log, with what a writer holds in its journal imported first."""
    writer = writer_for(store.path)
    if writer is not None:
        writer.flush()
    return store.rows(
        """SELECT s.code, a.action, a.detail FROM access_log a JOIN subjects s USING (subject_id)
           ORDER BY ALL"""
    )


@pytest.mark.parametrize("writer", [False, True], ids=["callers-write", "writer-thread"])
def test_reads_made_together_are_each_logged_once(served: Store, writer: bool) -> None:
    if writer:
        start_writer(served)
    codes = [f"C{i}" for i in range(1, 10)]
    started = threading.Barrier(12)
    errors: list[BaseException] = []

    def reader(n: int) -> None:
        own = cursor(served)
        started.wait()
        try:
            for i in range(25):
                log_access_of(own, READER, "decide", codes[(n + i) % 9], f"{n}-{i}")
            log_access_of(own, READER, "decide", "nobody", f"{n}-x")  # not registered
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = logged(served)
    assert len(rows) == 12 * 25
    assert sorted(d for _, _, d in rows) == sorted(f"{n}-{i}" for n in range(12) for i in range(25))
    assert all(code == codes[(int(d.split("-")[0]) + int(d.split("-")[1])) % 9]
               for code, _, d in rows)  # fmt: skip


def test_a_failed_write_fails_every_read_it_carried(served: Store) -> None:
    served.run("ALTER TABLE access_log RENAME TO access_log_away")
    with pytest.raises(Exception, match="access_log"):
        log_access_of(cursor(served), READER, "decide", "C1")
    served.run("ALTER TABLE access_log_away RENAME TO access_log")
    log_access_of(cursor(served), READER, "decide", "C1")  # and the next one writes again
    assert logged(served) == [("C1", "decide", "")]


def test_a_read_not_made_durable_fails_and_the_next_one_is_logged(
    served: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    start_writer(served)

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(journal.os, "fdatasync", full)
    with pytest.raises(OSError, match="No space left"):
        log_access_of(cursor(served), READER, "decide", "C1", "lost")
    monkeypatch.undo()
    log_access_of(cursor(served), READER, "decide", "C2", "kept")
    # The lines of the failed write were taken back: the file holds only the next one.
    lines = journal.journal_path(served.path).read_text().splitlines()
    assert [json.loads(line)[-1] for line in lines] == ["kept"]
    assert logged(served) == [("C2", "decide", "kept")]


def test_reads_stay_in_the_journal_until_the_log_takes_them(served: Store, tmp_path: Path) -> None:
    """A read is durable once it is in the journal: an import that fails (here the log's
    table is away) loses nothing and imports nothing twice when it is tried again; a writer
    that stops before it could import leaves the file, which the next one imports."""
    writer = start_writer(served)
    log_access_of(cursor(served), READER, "decide", "C9", "zeroth")
    # The rows go in, but the number of the last one cannot: the import is rolled back.
    served.run("ALTER TABLE access_journal RENAME TO access_journal_away")
    with pytest.raises(Exception, match="access_journal"):
        writer.flush()
    served.run("ALTER TABLE access_journal_away RENAME TO access_journal")
    assert logged(served) == [("C9", "decide", "zeroth")]  # once
    served.run("ALTER TABLE access_log RENAME TO access_log_away")
    log_access_of(cursor(served), READER, "decide", "C1", "first")  # answered: in the journal
    with pytest.raises(Exception, match="access_log"):
        writer.flush()
    log_access_of(cursor(served), READER, "decide", "C2", "second")
    served.close()  # the writer cannot import either: the file stays
    path = tmp_path / "served.duckdb"
    assert journal.journal_path(str(path)).stat().st_size > 0
    with open_store(path) as again:
        again.run("ALTER TABLE access_log_away RENAME TO access_log")
        assert logged(again) == [("C9", "decide", "zeroth")]
        start_writer(again)  # imports what the file holds
        assert logged(again) == [
            ("C1", "decide", "first"), ("C2", "decide", "second"), ("C9", "decide", "zeroth")
        ]  # fmt: skip
        log_access_of(cursor(again), READER, "decide", "C3", "third")
    assert not journal.journal_path(str(path)).exists()  # imported, then removed
    with open_store(path) as last:
        start_writer(last)
        assert logged(last) == [
            ("C1", "decide", "first"), ("C2", "decide", "second"), ("C3", "decide", "third"),
            ("C9", "decide", "zeroth"),
        ]  # fmt: skip


def test_a_journal_left_behind_is_imported_once_and_a_torn_line_dropped(
    served: Store, tmp_path: Path
) -> None:
    """Lines up to the number the log last took are not imported again (a server killed
    between its import and emptying the file); a last line without its end (torn by the
    kill, never acknowledged) is dropped; a damaged line before it stops the writer with
    the file named."""
    ids = dict(served.rows("SELECT code, subject_id FROM subjects"))
    served.run(journal.STATE)
    served.run("INSERT INTO access_journal VALUES (2)")
    path = journal.journal_path(served.path)
    lines = [json.dumps([n, 1_600_000_000_000_000 + n, 7, "provider", "decide", subject, str(n)])
             for n, subject in [(1, ids["C1"]), (2, "C2"), (3, "C3"), (4, [ids["C4"], ids["C5"]])]
             ]  # fmt: skip
    path.write_text("\n".join(lines) + '\n[5, 1600000000000005, 7, "provi')
    start_writer(served)
    assert logged(served) == [("C3", "decide", "3"), ("C4", "decide", "4"), ("C5", "decide", "4")]
    assert served.scalar("SELECT max(read_at) FROM access_log") == dt.datetime(
        2020, 9, 13, 12, 26, 40, 4
    )
    # Numbering goes on after the last line in the file, not after the last imported.
    log_access_of(cursor(served), READER, "decide", "C6", "6")
    assert [json.loads(line)[0] for line in path.read_text().splitlines()] == [5]
    served.close()
    with open_store(path.with_suffix("")) as again:
        assert again.scalar("SELECT max(imported_through) FROM access_journal") == 5
        for damaged in ("not json", "5", '[6, 1, 7, "provider", "decide", [[1]], ""]'):
            path.write_text(lines[0] + "\n" + damaged + "\n" + lines[3] + "\n")
            with pytest.raises(LedgerError, match=r"access-journal, line 2: not a read"):
                start_writer(again)


def test_one_writer_a_database_at_a_time(served: Store) -> None:
    """A writer started again for the same database closes the one before (what it held
    imported); the journal is locked against another writer meanwhile."""
    first = start_writer(served)
    log_access_of(cursor(served), READER, "decide", "C1", "before")
    with pytest.raises(LedgerError, match="open by another writer"):
        journal.Journal(journal.journal_path(served.path), 0, 2.0)
    second = start_writer(served)
    assert writer_for(served.path) is second and first is not second
    log_access_of(cursor(served), READER, "decide", "C2", "after")
    assert logged(served) == [("C1", "decide", "before"), ("C2", "decide", "after")]


def test_a_read_given_up_does_not_stop_the_writer(served: Store) -> None:
    writer = start_writer(served)
    given_up = writer.submit((7, "provider", "decide", "C1", "given up"))
    assert given_up.cancel()  # as asyncio does to a request's future when a server stops
    writer.submit((7, "provider", "decide", "C2", "next")).result(timeout=30)
    assert logged(served) == [("C1", "decide", "given up"), ("C2", "decide", "next")]


def test_a_batch_read_through_a_writer_is_one_line_of_its_journal(served: Store) -> None:
    """A batch's reads (``log_subject_ids``) go into the journal as one line, durable
    before the answer, and into the log as a row per subject once imported."""
    ids = dict(served.rows("SELECT code, subject_id FROM subjects"))
    start_writer(served)
    log_subject_ids(cursor(served), READER, "decide", [ids["C2"], ids["C1"], ids["C2"]], "loan")
    log_subject_ids(cursor(served), READER, "decide", [], "loan")  # nothing read: no line
    lines = journal.journal_path(served.path).read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])[5] == [ids["C1"], ids["C2"]]
    assert logged(served) == [("C1", "decide", "loan"), ("C2", "decide", "loan")]
    assert journal.journal_path(served.path).read_text() == ""  # imported: emptied


def test_a_writer_of_a_database_in_memory_logs_a_batch_read(tmp_path: Path) -> None:
    """Without a file there is no journal: each group is a commit of its rows."""
    store = open_store(":memory:", create=True)
    try:
        register_subjects(store, pa.table({"code": ["C1", "C2"], "kind": ["citizen"] * 2}))
        ensure_tables(store)
        ids = dict(store.rows("SELECT code, subject_id FROM subjects"))
        start_writer(store)
        log_subject_ids(store, READER, "decide", [ids["C1"], ids["C2"]], "loan")
        log_access_of(store, READER, "decide", "C1", "one")
        assert logged(store) == [
            ("C1", "decide", "loan"), ("C1", "decide", "one"), ("C2", "decide", "loan")
        ]  # fmt: skip
    finally:
        store.close()


def test_a_batch_logs_each_registered_subject_once(served: Store) -> None:
    log_accesses(served, READER, "decide", ["C1", "C2", "C1", "nobody"], "loan")
    log_accesses(served, READER, "decide", [], "loan")
    assert logged(served) == [("C1", "decide", "loan"), ("C2", "decide", "loan")]


def test_a_revoked_key_stops_working_at_once(served: Store) -> None:
    key, secret = create_key(served, Role.ANALYST)
    assert principal_for(served, secret) == Principal(Role.ANALYST, (), key.key_id)
    assert principal_for(served, secret) is not None  # now from memory
    revoke_key(served, key.key_id)
    assert principal_for(served, secret) is None
    assert principal_for(served, "sr_unknown") is None


def test_a_decision_from_memory_is_the_one_read_from_the_run(served: Store) -> None:
    feed(served, "court", [rec("C1", "debtor", "2021-02-01"), rec("O1", "debtor", "2021-02-01")])
    feed(served, "police", [rec("C2", "unruly", "2021-02-01")])
    run = score_run(served, dt.date(2021, 5, 31)).run_id
    admin, provider = Principal(Role.ADMIN), Principal(Role.PROVIDER, ("loan", "flight"), 3)
    for code in ("C1", "C2", "C3", "O1"):
        for service in ("loan", "flight", "bidding", "senior"):
            fast = usecases.decide(served, admin, code, service)
            read = decide_one(served, code, service, explain=False).as_dict()
            assert fast == read, (code, service)
            assert fast == usecases.decide(served, admin, code, service, run_id=run)
            # Explained: the same decision, with the score's factors for one by grade.
            explained = usecases.decide(served, admin, code, service, explain=True)
            assert explained == decide_one(served, code, service).as_dict(), (code, service)
            assert {**explained, "key_factors": fast["key_factors"]} == fast
    assert usecases.decide(served, provider, "C1", "loan")["decision"] == "refused"
    with pytest.raises(UnknownSubject, match="nobody"):
        usecases.decide(served, admin, "nobody", "loan")
    with pytest.raises(UnknownService, match="ferry"):
        usecases.decide(served, admin, "C1", "ferry")
    # A record acknowledged after the run counts in the next decision (scored again first).
    before = usecases.decide(served, admin, "C3", "loan")
    feed(served, "court", [rec("C3", "debtor", "2021-03-01")])
    after = usecases.decide(served, admin, "C3", "loan")
    assert (before["decision"], after["decision"]) == ("terms", "refused")
    assert after["run_id"] > before["run_id"]
    assert after == decide_one(served, "C3", "loan").as_dict()


def test_a_writer_writes_what_is_pending_when_its_store_closes(tmp_path: Path) -> None:
    store = open_store(tmp_path / "w.duckdb", create=True)
    register_subjects(store, pa.table({"code": ["C1", "C2"], "kind": ["citizen"] * 2}))
    ensure_tables(store)
    writer = start_writer(store)
    pending = [writer.submit((7, "provider", "decide", code, "loan")) for code in ("C1", "C2")]
    store.close()  # closes the writer first: what it holds is written, then it is forgotten
    assert all(f.done() and f.exception() is None for f in pending)
    assert writer_for(str(tmp_path / "w.duckdb")) is None
    with open_store(tmp_path / "w.duckdb") as again:
        assert logged(again) == [("C1", "decide", "loan"), ("C2", "decide", "loan")]


def test_a_decision_from_memory_waits_for_nothing_but_is_the_same(served: Store) -> None:
    """``decide_from_memory`` answers only while the latest run is known current and held
    in memory: the decision ``decide`` gives, its read logged once the future is done."""
    feed(served, "court", [rec("C1", "debtor", "2021-02-01")])
    score_run(served, dt.date(2021, 5, 31))
    provider = Principal(Role.PROVIDER, ("loan",), 3)
    start_writer(served)
    # Nothing known yet: the database must be read first.
    assert usecases.decide_from_memory(served.path, provider, "C1", "loan") is None
    slow = usecases.decide(served, provider, "C1", "loan")
    quick = usecases.decide_from_memory(served.path, provider, "C1", "loan")
    assert quick is not None
    decision, logged_read = quick
    assert decision == slow and decision["decision"] == "refused"
    logged_read.result(timeout=10)
    assert logged(served) == [("C1", "decide", "loan")] * 2
    # Refusals stay the policy's, wherever the answer comes from.
    with pytest.raises(AccessError):
        usecases.decide_from_memory(served.path, provider, "C1", "flight")
    with pytest.raises(UnknownSubject):
        usecases.decide_from_memory(served.path, provider, "nobody", "loan")
    # A record acknowledged (a commit): memory no longer answers until the run is current.
    feed(served, "court", [rec("C2", "debtor", "2021-03-01")])
    assert usecases.decide_from_memory(served.path, provider, "C2", "loan") is None
    assert usecases.decide(served, provider, "C2", "loan")["decision"] == "refused"
    quick = usecases.decide_from_memory(served.path, provider, "C2", "loan")
    assert quick is not None and quick[0]["decision"] == "refused"
    quick[1].result(timeout=10)


def test_batches_sent_at_once_are_numbered_and_counted_once(served: Store) -> None:
    """Requests appending at the same time, each on a cursor of its own, take turns: no
    entry or batch number is used twice, and a key sent in two batches at once counts once."""
    from socialrating.ledger.verify import verify_ledger

    admin = Principal(Role.ADMIN)
    started = threading.Barrier(6)
    errors: list[BaseException] = []

    def sender(n: int) -> None:
        own = cursor(served)
        started.wait()
        try:
            for j in range(4):
                rows = [
                    # Keys "shared-…" are sent by every thread: only the first batch stores them.
                    {"key": f"{'shared' if i < 5 else n}-{j}-{i}", "subject": f"C{i % 9 + 1}",
                     "parameter": "debtor", "date": "2021-02-01"}
                    for i in range(40)
                ]  # fmt: skip
                usecases.ingest_records(own, admin, "court", rows, f"t{n}-{j}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids, distinct, keys = served.one(
        "SELECT count(*), count(DISTINCT entry_id), count(DISTINCT idem_key) FROM entries "
        "WHERE kind = 1"
    ) or (0, 0, 0)
    assert ids == distinct == keys == 6 * 4 * 35 + 4 * 5
    batches = served.one("SELECT count(*), count(DISTINCT batch_id) FROM batches") or (0, 0)
    assert batches[0] == batches[1]
    assert verify_ledger(served).ok


def test_decisions_do_not_wait_behind_a_batch_being_stored(
    served: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a batch holds its transaction open (a big ingest), decisions are answered and
    their reads logged; once it is acknowledged, the next decision reflects it."""
    from socialrating.ledger import append, ingest

    score_run(served, dt.date(2021, 5, 31))
    provider = Principal(Role.PROVIDER, ("loan",), 3)
    start_writer(served)
    assert usecases.decide(served, provider, "C4", "loan")["decision"] == "terms"
    inside, release = threading.Event(), threading.Event()
    original = append.append_parts

    def slow_append(*args: object, **kwargs: object) -> object:
        found = original(*args, **kwargs)  # type: ignore[arg-type]
        inside.set()
        assert release.wait(30)
        return found

    monkeypatch.setattr(ingest, "append_parts", slow_append)
    own = cursor(served)
    rows = [{"key": "slow-1", "subject": "C4", "parameter": "debtor", "date": "2021-02-01"}]
    writer = threading.Thread(
        target=usecases.ingest_records, args=(own, Principal(Role.ADMIN), "court", rows, "slow")
    )
    writer.start()
    try:
        assert inside.wait(30)
        for _ in range(5):
            quick = usecases.decide_from_memory(served.path, provider, "C4", "loan")
            assert quick is not None and quick[0]["decision"] == "terms"
            quick[1].result(timeout=10)  # logged while the batch's transaction is open
            assert usecases.decide(served, provider, "C4", "loan")["decision"] == "terms"
        assert writer.is_alive()
    finally:
        release.set()
        writer.join()
        own.close()
    assert usecases.decide(served, provider, "C4", "loan")["decision"] == "refused"
    assert logged(served).count(("C4", "decide", "loan")) == 12


def test_a_file_replaced_and_opened_again_is_not_answered_from_memory(tmp_path: Path) -> None:
    """Run 1 of a file opened again may be another run 1 (the file replaced by another
    process meanwhile): what the process held of the old one is not used."""
    path = tmp_path / "replaced.duckdb"
    admin = Principal(Role.ADMIN)

    def made(records: list[dict[str, object]]) -> Store:
        store = open_store(path, create=True)
        activate_rulebook(store, load_rulebook(DATA / "consequences.yaml"))
        register_subjects(store, pa.table({"code": ["C1"], "kind": ["citizen"]}))
        ensure_tables(store)
        if records:
            feed(store, "court", records)
        score_run(store, dt.date(2021, 5, 31))
        return store

    store = made([rec("C1", "debtor", "2021-02-01")])
    assert usecases.decide(store, admin, "C1", "loan")["decision"] == "refused"
    store.close()
    path.unlink()
    store = made([])  # another file at the same path: its run 1 has no debtor
    try:
        assert usecases.decide(store, admin, "C1", "loan")["decision"] == "terms"
    finally:
        store.close()


def hold(
    monkeypatch: pytest.MonkeyPatch, module: object, name: str
) -> tuple[threading.Event, threading.Event]:
    """Make ``module.name`` wait, once called, until released: (called, release)."""
    called, release = threading.Event(), threading.Event()
    original = getattr(module, name)

    def held(*args: object, **kwargs: object) -> object:
        called.set()
        assert release.wait(30)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, held)
    return called, release


def asking(
    served: Store, provider: Principal, answers: dict[str, str], code: str
) -> threading.Thread:
    """A request, started, asking ``code``'s loan decision on a cursor of its own; the
    decision goes into ``answers``."""

    def ask() -> None:
        own = cursor(served)
        try:
            answers[code] = usecases.decide(own, provider, code, "loan")["decision"]
        finally:
            own.close()

    thread = threading.Thread(target=ask)
    thread.start()
    return thread


def test_decisions_the_new_records_cannot_touch_do_not_wait_for_the_rescoring(
    served: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records acknowledged after the latest run are scored again before a decision about
    a subject they touch is answered; a decision about anyone else is answered meanwhile
    from the run before (its rows carry over unchanged), single, batch or from memory."""
    from socialrating.scoring import run as runs

    feed(served, "court", [rec("C6", "debtor", "2021-02-01")])
    first = score_run(served, dt.date(2021, 5, 31))
    provider = Principal(Role.PROVIDER, ("loan",), 3)
    start_writer(served)
    assert usecases.decide(served, provider, "C4", "loan")["decision"] == "terms"
    assert usecases.decide(served, provider, "C6", "loan")["decision"] == "refused"
    usecases.ingest_records(
        served,
        Principal(Role.ADMIN),
        "court",
        [{"key": "late-1", "subject": "C4", "parameter": "debtor", "date": "2021-02-01"}],
        "late",
    )
    waiting = usecases.pending(served)
    assert waiting is not None and waiting[0] == first.run_id and waiting[1] is not None
    ids = dict(served.rows("SELECT code, subject_id FROM subjects"))
    assert ids["C4"] in waiting[1] and ids["C5"] not in waiting[1]

    inside, release = hold(monkeypatch, runs, "score_run")
    answers: dict[str, str] = {}
    touched = asking(served, provider, answers, "C4")
    try:
        assert inside.wait(30)  # C4's decision is scoring the new record
        for _ in range(3):
            assert usecases.decide(served, provider, "C5", "loan")["decision"] == "terms"
            many = usecases.decide_many(served, provider, "loan", ["C5", "C6", "C7"])
            assert [d["decision"] for d in many["decisions"]] == ["terms", "refused", "terms"]
            assert many["run_id"] == first.run_id
            quick = usecases.decide_from_memory(served.path, provider, "C6", "loan")
            assert quick is not None and quick[0]["decision"] == "refused"
            quick[1].result(timeout=10)
            # C4's answer needs the new run: not from memory.
            assert usecases.decide_from_memory(served.path, provider, "C4", "loan") is None
        assert touched.is_alive() and "C4" not in answers
    finally:
        release.set()
        touched.join()
    assert answers["C4"] == "refused"  # on the debtors list by the new record
    assert usecases.pending(served) is None  # the new run is current
    latest = usecases.decide(served, provider, "C5", "loan")
    assert latest["decision"] == "terms" and latest["run_id"] == first.run_id + 1
    quick = usecases.decide_from_memory(served.path, provider, "C4", "loan")
    assert quick is not None and quick[0]["decision"] == "refused"
    quick[1].result(timeout=10)


class Serving(NamedTuple):
    run: RunResult
    provider: Principal


def serving(served: Store) -> Serving:
    """A run as of 2021-05-31, answering a loan provider (C5: terms), the access log's
    writer started."""
    run = score_run(served, dt.date(2021, 5, 31))
    provider = Principal(Role.PROVIDER, ("loan",), 3)
    start_writer(served)
    assert usecases.decide(served, provider, "C5", "loan")["decision"] == "terms"
    return Serving(run, provider)


def send(served: Store, key: str, code: str) -> None:
    """A court's record putting ``code`` on the debtors list, acknowledged."""
    record = {"key": key, "subject": code, "parameter": "debtor", "date": "2021-02-01"}
    usecases.ingest_records(served, Principal(Role.ADMIN), "court", [record], key)


def test_records_arriving_while_the_new_run_is_loaded_are_waited_for(
    served: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the rescored run is loaded into memory the run before answers for the
    subjects it did not score again; but records acknowledged meanwhile are about a state
    neither run has seen: a decision they touch waits and reflects them."""
    from socialrating.decisions import decider as deciders

    provider = serving(served).provider
    send(served, "late-1", "C4")
    assert usecases.pending(served) is not None
    loading, release = hold(monkeypatch, deciders, "load_decider")
    answers: dict[str, str] = {}
    first = asking(served, provider, answers, "C4")
    second = None
    try:
        assert loading.wait(30)  # the new run is stored, and being loaded
        assert usecases.decide(served, provider, "C6", "loan")["decision"] == "terms"
        send(served, "late-2", "C5")  # after the new run: C5 is not in it
        second = asking(served, provider, answers, "C5")
        second.join(1.0)
        assert second.is_alive() and "C5" not in answers  # not answered from the run before
    finally:
        release.set()
        first.join()
        if second is not None:
            second.join()
    assert answers == {"C4": "refused", "C5": "refused"}


def test_a_decision_waiting_for_a_rescoring_is_answered_by_it(
    served: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A decision that came while a rescoring was under way waits for that run only:
    records acknowledged after it came, while the run was stored and loaded, are scored
    by the next run, for the decisions that come after them (else, while batches keep
    coming, a decision would wait run after run)."""
    from socialrating.decisions import decider as deciders
    from socialrating.scoring import run as runs

    started = serving(served)
    base, provider = started.run, started.provider
    send(served, "late-1", "C4")
    scoring, release_scoring = hold(monkeypatch, runs, "score_run")
    held = runs.score_run
    scored: list[int] = []

    def counted(*args: object, **kwargs: object) -> object:
        scored.append(1)
        return held(*args, **kwargs)

    monkeypatch.setattr(runs, "score_run", counted)
    loading, release_loading = hold(monkeypatch, deciders, "load_decider")
    answers: dict[str, str] = {}
    runs_of: dict[str, int] = {}

    def ask(code: str, key: str) -> threading.Thread:
        def go() -> None:
            own = cursor(served)
            try:
                got = usecases.decide(own, provider, code, "loan")
                answers[key], runs_of[key] = got["decision"], got["run_id"]
            finally:
                own.close()

        thread = threading.Thread(target=go)
        thread.start()
        return thread

    first = ask("C4", "first")
    threads = [first]
    try:
        assert scoring.wait(30)  # the first decision is scoring late-1
        threads.append(ask("C4", "second"))  # comes while late-1 is being scored
        threads[-1].join(0.5)
        sender = threading.Thread(target=send, args=(served, "late-2", "C5"))
        sender.start()  # waits until the run is stored: nothing else is committed meanwhile
        threads.append(sender)
        release_scoring.set()
        assert loading.wait(30)  # the run is stored, and being loaded
        sender.join(30)
        assert not sender.is_alive()  # late-2 acknowledged after both decisions came
    finally:
        release_scoring.set()
        release_loading.set()
        for thread in threads:
            thread.join(30)
    assert answers == {"first": "refused", "second": "refused"}
    assert runs_of == {"first": base.run_id + 1, "second": base.run_id + 1}
    assert len(scored) == 1  # the second decision did not wait for late-2's rescoring
    after = usecases.decide(served, provider, "C5", "loan")
    assert (after["decision"], after["run_id"]) == ("refused", base.run_id + 2)
    assert len(scored) == 2
