"""The access log: every read of one subject's data, which the subject can see."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import suppress
from typing import Any

import numpy as np

from socialrating.errors import LedgerError
from socialrating.ledger.store import Store
from socialrating.service.journal import INSERT_READS, Journal, Row, registered
from socialrating.service.policy import Principal

log = logging.getLogger(__name__)


def log_access(
    store: Store, principal: Principal, action: str, subject_id: int, detail: str = ""
) -> None:
    """Write that ``principal`` read ``subject_id``'s data for ``action``."""
    store.run(
        "INSERT INTO access_log VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?)",
        [principal.key_id, principal.role.value, action, subject_id, detail],
    )


class AccessWriter:
    """Writes the access log of one database from a thread of its own, in groups.

    Every read submitted while a group is being written goes into the next group (a group
    commit), so the more reads arrive together, the less each costs. For a database in a
    file, a group is appended to its journal and made durable there (``journal``: a
    fraction of a database commit), and the journal is imported into ``access_log`` every
    few thousand reads or seconds, when the log is read (``flush``) and when the writer
    closes; for one in memory, each group is a database commit. ``submit`` returns a future
    that is done once the read is durable (or failed with the group's error): a read
    answered after it is a read logged. A server starts one (``start_writer``); without
    one, reads are written by the caller, one commit each.
    """

    def __init__(self, store: Store) -> None:
        self.path = store.path
        self._store = store.cursor()
        try:
            self._journal = None if store.path == ":memory:" else Journal.open(self._store)
        except BaseException:
            self._store.close()
            raise
        self._lock = threading.Condition()
        self._pending: list[tuple[Row | None, Future[None]]] = []  # None: a flush
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="access-log", daemon=True)
        self._thread.start()

    def submit(self, row: Row) -> Future[None]:
        """Log ``row`` with the next group; done once it is durable."""
        return self._enqueue(row)

    def flush(self) -> None:
        """Return once every read submitted before is in ``access_log``.

        Raises:
            duckdb.Error: the import failed (the reads stay in the journal, for the next).
        """
        self._enqueue(None).result()

    def _enqueue(self, row: Row | None) -> Future[None]:
        done: Future[None] = Future()
        with self._lock:
            if self._closed:
                raise LedgerError("the access log is closed: the service is stopping")
            self._pending.append((row, done))
            self._lock.notify()
        return done

    def _loop(self) -> None:
        journal = self._journal
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    if journal is not None and journal.held:
                        self._lock.wait(journal.wait())
                        if journal.due():
                            break
                    else:
                        self._lock.wait()
                if not self._pending and self._closed:
                    break
                group, self._pending = self._pending, []
            reads = [(row, done) for row, done in group if row is not None]
            flushes = [done for row, done in group if row is None]
            _settle([done for _, done in reads], self._log, [row for row, _ in reads])
            if journal is not None and (flushes or journal.due()):
                _settle(flushes, journal.import_into, self._store)
            else:
                _settle(flushes, lambda: None)
        self._finish()

    def _log(self, rows: list[Row]) -> None:
        if not rows:
            return
        if self._journal is None:
            _write(self._store, rows)
        else:
            self._journal.append(rows)

    def _finish(self) -> None:
        journal = self._journal
        if journal is not None:
            try:
                journal.import_into(self._store)
            except Exception as exc:  # the file stays, for the next server to import
                log.error("the access log's journal %s was not imported: %s", journal.path, exc)
                journal.close(remove=False)
            else:
                journal.close(remove=True)
        self._store.close()

    def close(self) -> None:
        """Write what is pending, then stop (and forget this writer)."""
        with self._lock:
            self._closed = True
            self._lock.notify()
        self._thread.join()
        if _WRITERS.get(self.path) is self:
            del _WRITERS[self.path]


def _settle(futures: list[Future[None]], work: Callable[..., None], *args: Any) -> None:
    """Do ``work``, then complete ``futures`` with its outcome (but those cancelled
    meanwhile: a request given up, by a server stopping for example)."""
    outcome: BaseException | None = None
    try:
        work(*args)
    except Exception as exc:
        outcome = exc
    for done in futures:
        with suppress(InvalidStateError):
            if outcome is None:
                done.set_result(None)
            else:
                done.set_exception(outcome)


_WRITERS: dict[str, AccessWriter] = {}


def start_writer(store: Store) -> AccessWriter:
    """Log every read of ``store``'s database through a writer thread of group commits
    until ``store`` closes (a server, which answers many reads at once); one started before
    for the same database is closed first (what it holds imported)."""
    earlier = _WRITERS.get(store.path)
    if earlier is not None:
        earlier.close()
    writer = AccessWriter(store)
    _WRITERS[store.path] = writer
    store.cache["access_writer"] = writer  # closed, and so flushed, with the store
    return writer


def writer_for(path: str) -> AccessWriter | None:
    """The writer logging reads of the database at ``path``, if a server started one."""
    return _WRITERS.get(path)


def log_access_of(
    store: Store, principal: Principal, action: str, code: str, detail: str = ""
) -> None:
    """Write that ``principal`` read the data of the subject ``code``, if it is registered;
    return once it is committed (with the reads made at the same time, when a writer
    logs this database: ``AccessWriter``)."""
    _log_read(store, (principal.key_id, principal.role.value, action, code, detail))


def _log_read(store: Store, row: Row) -> None:
    """Write one read (or one line of reads): through the database's writer when it has
    one (``AccessWriter``), else at once; return once it is durable."""
    writer = _WRITERS.get(store.path)
    if writer is None:
        _write(store, [row])
    else:
        writer.submit(row).result()


def _write(store: Store, rows: list[Row]) -> None:
    """Insert reads (key, role, action, subject id, code or ids, detail) of registered
    subjects, in one statement."""
    if len(rows) == 1 and isinstance(rows[0][3], str):  # found by the index on its code
        key_id, role, action, code, detail = rows[0]
        store.run(
            """INSERT INTO access_log SELECT now()::TIMESTAMP, ?, ?, ?, subject_id, ?
               FROM subjects WHERE code = ?""",
            [key_id, role, action, detail, code],
        )
        return
    now = time.time_ns() // 1000
    with registered(store, [(now, row) for row in rows]):
        store.run(INSERT_READS)


def log_accesses(
    store: Store, principal: Principal, action: str, codes: list[str], detail: str = ""
) -> None:
    """Write that ``principal`` read the data of each registered subject of ``codes``
    (once each)."""
    # A join with the distinct codes, not list_contains (which scans the whole list for
    # every registered subject: 0.3 s for 10,000 codes among 110,000 subjects).
    store.run(
        """INSERT INTO access_log SELECT now()::TIMESTAMP, ?, ?, ?, s.subject_id, ?
           FROM (SELECT DISTINCT unnest(?::VARCHAR[]) AS code) q JOIN subjects s USING (code)""",
        [principal.key_id, principal.role.value, action, detail, codes],
    )


def log_subject_ids(
    store: Store, principal: Principal, action: str, subject_ids: Sequence[int], detail: str = ""
) -> None:
    """Write that ``principal`` read the data of each subject of ``subject_ids`` (once each;
    a list or a NumPy array of ids); with a writer, in its journal, as one line
    (``AccessWriter``)."""
    unique = np.unique(np.asarray(subject_ids, dtype=np.int64))
    if not len(unique):
        return
    _log_read(store, (principal.key_id, principal.role.value, action, unique, detail))


def access_of(store: Store, subject_id: int, limit: int = 100) -> list[dict[str, object]]:
    """Who read this subject's data, when and for what, latest first (with the reads a
    server's writer holds in its journal: ``AccessWriter.flush``)."""
    writer = _WRITERS.get(store.path)
    if writer is not None:
        writer.flush()
    return [
        {
            "at": f"{at:%Y-%m-%d %H:%M:%S}",
            "key_id": key,
            "role": role,
            "action": action,
            "detail": detail,
        }
        for at, key, role, action, detail in store.rows(
            f"""SELECT read_at, key_id, role, action, detail FROM access_log
                WHERE subject_id = {int(subject_id)} ORDER BY read_at DESC LIMIT {int(limit)}"""
        )
    ]
