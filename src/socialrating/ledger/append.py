"""Append a batch of rows to the ledger, atomically, extending the hash chain."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np

from socialrating.errors import LedgerError
from socialrating.ledger.digests import (
    GENESIS,
    PAYLOAD_COLUMNS,
    batch_digest,
    payload_digest_sql,
    row_digest_sql,
    update_rows_digest,
)
from socialrating.ledger.store import ORDER_GATE, Store
from socialrating.model import utc_now

_EPOCH = dt.datetime(1970, 1, 1)
_FETCH_ROWS = 65_536  # row digests hashed per fetch (memory stays bounded)

UNORDERED_FROM = 50_000
"""A batch of more rows than this is stored by DuckDB's threads in parallel, in whatever
order they finish (``append_digested``)."""

LAST_ENTRY = "(SELECT coalesce(max(last_entry), 0) FROM batches)"
"""SQL for the number of the ledger's last entry (0 when it has none), read from the
batches: every entry is appended in a batch that records its last entry's number
(``append_digested``), and the batches are few where the entries are many (on a ledger
being written, ``max(entry_id)`` over the entries cost 7 ms, over the batches 1.3)."""


@dataclass(frozen=True)
class Batch:
    """One appended batch: its id, the entries it holds and its digest."""

    batch_id: int
    institution_id: int | None
    source: str
    rows: int
    first_entry: int
    last_entry: int
    digest: str


def epoch_us(ts: dt.datetime) -> int:
    return (ts - _EPOCH) // dt.timedelta(microseconds=1)


def append_rows(
    store: Store, relation: str, institution_id: int | None, source: str, order_by: str = "line"
) -> Batch | None:
    """Append the rows of ``relation`` (a table or view) as one batch, in ``order_by`` order.

    ``relation`` has every payload column but ``institution_id`` (given here) and a column
    to order by. The caller has validated the rows; this digests, numbers and stores them
    (see ``append_digested``), inside the caller's transaction. Returns None when there
    are no rows.
    """
    cols = ", ".join(c for c in PAYLOAD_COLUMNS if c != "institution_id")
    institution = "NULL" if institution_id is None else str(int(institution_id))
    store.run(
        f"""CREATE OR REPLACE TEMP VIEW append_source AS
            SELECT *, {payload_digest_sql()} AS payload_digest FROM (
                SELECT row_number() OVER (ORDER BY {order_by}) - 1 AS pos,
                       CAST({institution} AS INTEGER) AS institution_id, {cols}
                FROM {relation})"""
    )
    try:
        return append_digested(store, "append_source", institution_id, source)
    finally:
        store.run("DROP VIEW IF EXISTS append_source")


def append_digested(
    store: Store, relation: str, institution_id: int | None, source: str, rows: int | None = None
) -> Batch | None:
    """Append the rows of ``relation``, whose payload digests are computed, as one batch.

    ``relation`` (a table, a view or a parenthesised query) has ``pos`` (0 to n - 1, the
    order of the entries), every column of PAYLOAD_COLUMNS and ``payload_digest``
    (``payload_digest_sql``). The caller has validated the rows; this numbers them (entry
    ``first + pos``), adds each row's digest and the batch's, chained to the batch before,
    inside the caller's transaction. DuckDB computes the row digests in parallel (and
    stores a batch of more than ``UNORDERED_FROM`` rows in any order); the batch's digest
    reads them back in entry order, a slice at a time. ``rows`` is the number of rows,
    when the caller knows it. Returns None when there are no rows.
    """
    n = int(store.scalar(f"SELECT count(*) FROM {relation}")) if rows is None else rows
    if n == 0:
        return None
    _require_transaction(store)
    batch_id, first, prev = _next(store)
    arrived = utc_now()
    if n > UNORDERED_FROM:
        _insert_in_any_order(store, relation, batch_id, first, arrived)
    else:
        _insert(store, relation, batch_id, first, arrived)
    rows_hex = _rows_digest(store, batch_id, first, n, in_order=n <= UNORDERED_FROM)
    last = first + n - 1
    digest = batch_digest(
        prev, batch_id, institution_id, source, n, first, last, epoch_us(arrived), rows_hex
    )
    store.run(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, institution_id, source, n, first, last, arrived, rows_hex, prev, digest],
    )
    return Batch(batch_id, institution_id, source, n, first, last, digest)


def _insert_in_any_order(
    store: Store, relation: str, batch_id: int, first: int, arrived: dt.datetime
) -> None:
    """``_insert``, with DuckDB free to store the rows in any order.

    Kept in insertion order, DuckDB stores a large batch on one thread once its memory is
    bounded (a million rows: 2.9 s, against 1.5 s on two threads in any order). The entry
    numbers are explicit, and whatever needs them in order asks for it. DuckDB's setting
    is one for the database: in the caller's transaction, holding the write lock, no other
    batch or run stores rows meanwhile, and files wait to be staged (``ORDER_GATE``). It
    is set and put back on a cursor of its own, outside the transaction, which a failed
    insert aborts; a setting of yours that already allows any order is left alone."""
    with ORDER_GATE.off():
        side = store.con.cursor()
        try:
            row = side.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
            kept = bool(row and row[0])
            if kept:
                side.execute("SET preserve_insertion_order = false")
            try:
                _insert(store, relation, batch_id, first, arrived)
            finally:
                if kept:
                    side.execute("RESET preserve_insertion_order")
        finally:
            side.close()


def _insert(store: Store, relation: str, batch_id: int, first: int, arrived: dt.datetime) -> None:
    """Insert the rows of ``relation`` (see ``append_digested``) as entries ``first`` on."""
    store.run(
        f"""
        INSERT INTO entries
        SELECT entry_id, batch_id, kind, institution_id, parameter_id, subject_id, day,
               arrived_at, quantity, severity, confidence, counterpart_id, evidence, refers_to,
               act, level, idem_key, payload_digest, {row_digest_sql()} AS row_digest
        FROM (
            SELECT CAST(? + pos AS BIGINT) AS entry_id, CAST(? AS INTEGER) AS batch_id,
                   CAST(? AS TIMESTAMP) AS arrived_at, * EXCLUDE (pos)
            FROM {relation}
        )
        """,
        [first, batch_id, arrived],
    )


def append_note(store: Store, source: str) -> int:
    """Append a batch of no entries whose ``source`` says something the ledger records
    (a digest of a table, ``integrity``), chained like every batch; its batch id.

    Such a batch holds no entry, so entry numbers stay those of records alone; its
    digest covers its source, and the next batch's digest covers its digest.
    """
    _require_transaction(store)
    batch_id, _, prev = _next(store)
    arrived = utc_now()
    empty = hashlib.sha256().hexdigest()  # ``rows_digest`` of no rows
    digest = batch_digest(prev, batch_id, None, source, 0, None, None, epoch_us(arrived), empty)
    store.run(
        "INSERT INTO batches VALUES (?, NULL, ?, 0, NULL, NULL, ?, ?, ?, ?)",
        [batch_id, source, arrived, empty, prev, digest],
    )
    return batch_id


def _next(store: Store) -> tuple[int, int, str]:
    """The next batch's number, its first entry's, and the digest it chains to (that of
    the last batch: a point read by its number, not a sort of the batches), in one query."""
    row = store.one(
        f"""SELECT (SELECT coalesce(max(batch_id), 0) + 1 FROM batches),
                  {LAST_ENTRY} + 1,
                  (SELECT digest FROM batches
                   WHERE batch_id = (SELECT max(batch_id) FROM batches))"""
    )
    assert row is not None
    return int(row[0]), int(row[1]), str(row[2] or GENESIS)


def _require_transaction(store: Store) -> None:
    """Refuse to append outside a transaction: the batch would not be all or nothing, and a
    server would not know that the ledger moved (``store.commits``)."""
    if not store.in_transaction:
        raise LedgerError("a batch is appended inside a transaction (Store.transaction)")


def _rows_digest(store: Store, batch_id: int, first: int, n: int, in_order: bool = True) -> str:
    """``rows_digest`` of the batch's row digests, read a slice at a time in entry order.

    With ``in_order`` (the rows were stored in insertion order) they come back in the order
    they were inserted, which is entry order; each slice's entry ids are checked, and if
    they ever are not in order, the digests are read again sorted. Without it, they are
    read sorted from the start.
    """
    query = "SELECT entry_id, row_digest FROM entries WHERE batch_id = ?"
    for ordered in (False, True) if in_order else (True,):
        h = hashlib.sha256()
        expected = first
        reader = store.con.sql(
            query + (" ORDER BY entry_id" if ordered else ""), params=[batch_id]
        ).to_arrow_reader(_FETCH_ROWS)
        with reader:
            for chunk in reader:
                ids = chunk.column(0).to_numpy()
                if not np.array_equal(ids, np.arange(expected, expected + len(ids))):
                    break
                update_rows_digest(h, chunk.column(1))
                expected += len(ids)
        if expected == first + n:
            return h.hexdigest()
    raise LedgerError(f"batch {batch_id}: its entries are not numbered {first} to {first + n - 1}")
