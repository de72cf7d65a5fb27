"""The access log's journal: reads made durable in a file at once, imported in large groups.

A server logs every read of one subject's data before it answers (``access.AccessWriter``).
Committing each group of reads to the database cost more than the reads themselves: an
insert of a few rows is a millisecond of CPU or more in DuckDB, whatever its size, and a
server answering single decisions spent most of its time there (``bench/serve.py``: 2,000
decisions a second with the log, 4,900 without it). Appending the same rows to a file and
``fdatasync``-ing it costs about 50 µs of CPU and 0.15 ms of waiting: the read is as
durable, and answered once it is. The rows go on into ``access_log`` in groups of
thousands (``Journal.import_into``), each with the number of the last row it holds, in the
same transaction (``access_journal``). A server killed before an import leaves the file
behind: the next one to open the database imports what the file holds beyond that number
(``Journal.open``), so every read answered is in the log exactly once, and a torn last
line, never acknowledged, is dropped.

The file is ``<db>.access-journal``, next to the database; it is removed when the server
stops and has imported everything.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt

from socialrating.errors import LedgerError
from socialrating.ledger.store import Store

Ids = npt.NDArray[np.int64]
Row = tuple[int | None, str, str, int | str | Ids, str]
"""A read to log: key id, role, action, the subject (its id, or its code; or the ids of
the many subjects a batch read), detail."""

SUFFIX = ".access-journal"
IMPORT_ROWS = 200_000
"""Reads of subjects held in the journal at most before they are imported."""

STATE = "CREATE TABLE IF NOT EXISTS access_journal (imported_through BIGINT NOT NULL)"


def journal_path(db: str) -> Path:
    return Path(f"{db}{SUFFIX}")


class Journal:
    """The journal file of one database, open for appending; see the module."""

    def __init__(self, path: Path, through: int, seconds: float) -> None:
        """Open (create) the file at ``path``, locked: one journal per database.

        Raises:
            LedgerError: another writer of this process has it open.
        """
        self.path = path
        self.seconds = seconds  # a row waits at most this long before it is imported
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise LedgerError(f"{path} is open by another writer of the access log") from None
        _sync_directory(path.parent)  # the file's name survives a power cut too
        self.through = through  # the last row imported
        self.last = through  # the last row written
        self.held: list[tuple[int, int, Row]] = []  # (number, µs since the epoch, read)
        self.reads = 0  # of subjects, in the rows held
        self.since = 0.0  # when the oldest held row was written (time.monotonic)
        self.retry = 0.0  # no import tried before (time.monotonic): one failed lately
        self.broken: BaseException | None = None  # a failed write that could not be undone

    @classmethod
    def open(cls, store: Store) -> Journal:
        """The journal of ``store``'s database (a file), with what a killed server left in it
        imported first.

        Raises:
            LedgerError: a line before the last is not a read this module wrote, or another
                writer of this process has the journal open.
        """
        from socialrating.settings import ACCESS_JOURNAL_SECONDS

        seconds = ACCESS_JOURNAL_SECONDS.count()
        store.run(STATE)
        through = store.scalar("SELECT max(imported_through) FROM access_journal") or 0
        left = _read(journal_path(store.path))
        journal = cls(journal_path(store.path), int(through), seconds)
        try:
            journal.held = [row for row in left if row[0] > journal.through]
            journal.reads = sum(_reads(row) for _, _, row in journal.held)
            journal.last = max([journal.through, *(n for n, _, _ in left)])
            if journal.held:
                journal.import_into(store)
            os.ftruncate(journal._fd, 0)
        except BaseException:
            journal.close(remove=False)
            raise
        return journal

    def append(self, rows: list[Row]) -> None:
        """Write ``rows`` to the file and wait until they are on disk."""
        at = time.time_ns() // 1000
        numbered = [(self.last + i, at, row) for i, row in enumerate(rows, 1)]
        data = b"".join(_line(n, us, row) for n, us, row in numbered)
        view = memoryview(data)
        if self.broken is not None:
            raise LedgerError(
                f"{self.path}: a failed write could not be taken back ({self.broken}); "
                "no more reads are logged until the service is restarted"
            )
        self.last += len(rows)  # numbers never used twice, even when the write fails
        start = os.lseek(self._fd, 0, os.SEEK_END)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
            os.fdatasync(self._fd)
        except BaseException:
            # Not acknowledged: the lines are taken back, so that no half line stays
            # before the next ones (the file would not be read at the next start).
            try:
                os.ftruncate(self._fd, start)
            except OSError as exc:
                self.broken = exc  # what is left stays last in the file
            raise
        if not self.held:
            self.since = time.monotonic()
        self.held.extend(numbered)
        self.reads += sum(_reads(row) for row in rows)

    def due(self) -> bool:
        """Whether the rows held should be imported now."""
        now = time.monotonic()
        return (
            bool(self.held)
            and now >= self.retry
            and (self.reads >= IMPORT_ROWS or now - self.since >= self.seconds)
        )

    def wait(self) -> float | None:
        """Seconds until the rows held are due (None: none held)."""
        if not self.held:
            return None
        return max(0.0, max(self.retry, self.since + self.seconds) - time.monotonic())

    def import_into(self, store: Store) -> None:
        """Insert the rows held into ``access_log`` (reads of subjects not registered are
        left out, as the log always did) with the number of the last one, in one
        transaction; then empty the file when nothing more was written to it."""
        if not self.held:
            return
        last = max(n for n, _, _ in self.held)
        try:
            reads = [(us, row) for _, us, row in self.held]
            with registered(store, reads), store.transaction(counted=False):
                store.run(INSERT_READS)
                store.run("DELETE FROM access_journal")
                store.run("INSERT INTO access_journal VALUES (?)", [last])
        except BaseException:
            self.retry = time.monotonic() + self.seconds  # not before then again
            raise
        self.through, self.held, self.reads, self.retry = last, [], 0, 0.0
        os.ftruncate(self._fd, 0)

    def close(self, remove: bool) -> None:
        """Close the file; with ``remove``, delete it (everything in it is imported)."""
        os.close(self._fd)
        if remove:
            self.path.unlink(missing_ok=True)


INSERT_READS = """
INSERT INTO access_log
SELECT make_timestamp(j.at), j.key_id, j.role, j.action, coalesce(j.subject_id, s.subject_id),
       j.detail
FROM journal_rows j LEFT JOIN subjects s ON s.code = j.code
WHERE j.subject_id IS NOT NULL OR s.subject_id IS NOT NULL
UNION ALL
SELECT make_timestamp(j.at), j.key_id, j.role, j.action, x.subject_id, j.detail
FROM journal_ids x JOIN journal_rows j USING (row)
"""
"""Insert the reads ``registered`` gives into ``access_log``, in one statement: by subject
id, by code (joined with the registry; a code not registered is left out, as the log
always did), or the ids of a batch's many."""


@contextmanager
def registered(store: Store, reads: Sequence[tuple[int, Row]]) -> Iterator[None]:
    """``reads`` (each with its time, µs since the epoch) as the tables ``INSERT_READS``
    reads, on ``store``'s connection for the block."""
    import pyarrow as pa

    times, rows = zip(*reads, strict=True)
    key_ids, roles, actions, subjects, details = zip(*rows, strict=True)
    many = [(i, s) for i, s in enumerate(subjects) if isinstance(s, np.ndarray)]
    read = pa.table(
        {
            "row": pa.array(range(len(rows)), pa.int64()),
            "at": pa.array(times, pa.int64()),
            "key_id": pa.array(key_ids, pa.int32()),
            "role": pa.array(roles, pa.string()),
            "action": pa.array(actions, pa.string()),
            "subject_id": pa.array(
                [s if isinstance(s, int) else None for s in subjects], pa.int64()
            ),
            "code": pa.array([s if isinstance(s, str) else None for s in subjects], pa.string()),
            "detail": pa.array(details, pa.string()),
        }
    )
    # The subjects of reads of many, one row each, joined to their read.
    ids = pa.table(
        {
            "row": np.repeat(np.array([i for i, _ in many], np.int64), [len(s) for _, s in many]),
            "subject_id": np.concatenate([np.zeros(0, np.int64), *(s for _, s in many)]),
        }
    )
    store.con.register("journal_rows", read)
    store.con.register("journal_ids", ids)
    try:
        yield
    finally:
        store.con.unregister("journal_rows")
        store.con.unregister("journal_ids")


def _sync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reads(row: Row) -> int:
    """How many subjects' data ``row`` says were read."""
    subject = row[3]
    return len(subject) if isinstance(subject, np.ndarray) else 1


def _line(n: int, us: int, row: Row) -> bytes:
    """The journal's line of read number ``n``, made at ``us`` µs since the epoch."""
    key_id, role, action, subject, detail = row
    if isinstance(subject, np.ndarray):
        subject = subject.tolist()
    return json.dumps([n, us, key_id, role, action, subject, detail]).encode() + b"\n"


def _read(path: Path) -> list[tuple[int, int, Row]]:
    """The reads in the journal at ``path``: a last line without its end (torn by a crash,
    so never acknowledged) is left out."""
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    rows = []
    for number, line in enumerate(lines[:-1], 1):  # the last piece: empty, or torn
        try:
            n, us, key_id, role, action, subject, detail = json.loads(line)
            if isinstance(subject, list):
                subject = np.array(subject, np.int64)
                if subject.ndim != 1:
                    raise ValueError("not a list of subject ids")
            if not (
                isinstance(n, int)
                and isinstance(us, int)
                and isinstance(subject, int | str | np.ndarray)
            ):
                raise ValueError("not a numbered read")
        except (ValueError, TypeError) as exc:
            raise LedgerError(
                f"{path}, line {number}: not a read of the access log's journal ({exc}); "
                "move the file aside to start the server, and keep it: it may hold reads "
                "answered but not yet in the access log"
            ) from None
        rows.append((n, us, (key_id, role, action, subject, detail)))
    return rows
