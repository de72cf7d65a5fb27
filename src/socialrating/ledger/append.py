"""Append a batch of rows to the ledger, atomically, extending the hash chain."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import numpy as np

from socialrating import arrays
from socialrating.errors import LedgerError
from socialrating.ledger.digests import (
    GENESIS,
    PAYLOAD_COLUMNS,
    batch_digest,
    payload_digest_sql,
    row_digest_sql,
    stored,
    update_rows_digest,
)
from socialrating.ledger.store import ORDER_GATE, Store
from socialrating.model import utc_now

_EPOCH = dt.datetime(1970, 1, 1)
_FETCH_ROWS = 65_536  # row digests hashed per fetch (memory stays bounded)

UNORDERED_FROM = 250_000
"""A batch (or a group of batches stored at once) of more rows than this is stored by
DuckDB's threads in parallel, in whatever order they finish (``append_digested``): a
million rows in 1.5 s instead of 2.9 s. Below it the rows keep their order: the process
that stored them in any order scored afterwards more slowly than a fresh one does on the
same file (a simulated year of groups of up to 200,000 rows: its last week's full run
10.7-12.0 s, the database reopened in the same process 8.2-10.0 s), and a year of groups
kept in order ran at 0.076-0.081 of the peer against 0.069-0.070, its ingest no slower."""


def in_any_order(rows: int) -> bool:
    """Whether a batch, or a group of batches, of ``rows`` rows is stored in any order
    (``UNORDERED_FROM``): the one answer for its checked rows and for its insert."""
    return rows > UNORDERED_FROM


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


@dataclass(frozen=True)
class Part:
    """One batch of rows appended with others at once: its institution, its source and how
    many rows it has (a part of no rows makes no batch)."""

    institution_id: int | None
    source: str
    rows: int


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
    return append_parts(store, relation, [Part(institution_id, source, n)])[0]


def append_parts(store: Store, relation: str, parts: list[Part]) -> list[Batch | None]:
    """Append the rows of ``relation`` as one batch per part of ``parts``, in their order:
    ``append_digested`` for several batches at once (one insert, one read of their row
    digests), each numbered, digested and chained as if appended alone.

    ``relation`` is as ``append_digested``'s, with ``pos`` numbering the rows of every part
    (the first part's rows first) and, for more than one part, ``batch``: the part's index.
    Returns each part's batch (None for a part of no rows)."""
    if sum(p.rows for p in parts) == 0:
        return [None] * len(parts)
    _require_transaction(store)
    batch_id, first, prev = _next(store)
    arrived = utc_now()
    numbered: list[tuple[int, int, int] | None] = []  # each part's batch id, first entry, rows
    for part in parts:
        numbered.append((batch_id, first, part.rows) if part.rows else None)
        batch_id, first = batch_id + bool(part.rows), first + part.rows
    spans = [span for span in numbered if span is not None]
    ids = [span[0] if span else 0 for span in numbered]
    n = sum(span[2] for span in spans)
    # One batch: its number; several: each row's, by its part.
    batch_sql = str(ids[0]) if len(parts) == 1 else f"{ids}[batch + 1]"
    start = spans[0][1]
    unordered = in_any_order(n)
    if unordered:
        _insert_in_any_order(store, relation, batch_sql, start, arrived)
    else:
        _insert(store, relation, batch_sql, start, arrived)
    digests = _rows_digests(store, spans, in_order=not unordered)
    values: list[object] = []
    batches: list[Batch | None] = []
    for part, span in zip(parts, numbered, strict=True):
        if span is None:
            batches.append(None)
            continue
        bid, first_entry, rows = span
        last = first_entry + rows - 1
        rows_hex = digests[bid]
        digest = batch_digest(
            prev,
            bid,
            part.institution_id,
            part.source,
            rows,
            first_entry,
            last,
            epoch_us(arrived),
            rows_hex,
        )
        values += [bid, part.institution_id, part.source, rows, first_entry, last, arrived]
        values += [rows_hex, prev, digest]
        batches.append(
            Batch(bid, part.institution_id, part.source, rows, first_entry, last, digest)
        )
        prev = digest
    row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    store.run(f"INSERT INTO batches VALUES {', '.join([row] * len(spans))}", values)
    return batches


def _insert_in_any_order(
    store: Store, relation: str, batch_sql: str, first: int, arrived: dt.datetime
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
                _insert(store, relation, batch_sql, first, arrived)
            finally:
                if kept:
                    side.execute("RESET preserve_insertion_order")
        finally:
            side.close()


def _insert(store: Store, relation: str, batch_sql: str, first: int, arrived: dt.datetime) -> None:
    """Insert the rows of ``relation`` (see ``append_parts``) as entries ``first`` on, each
    in the batch ``batch_sql`` gives it (SQL: a batch's number, or one over the row's
    ``batch``)."""
    store.run(
        f"""
        INSERT INTO entries
        SELECT entry_id, batch_id, kind, institution_id, parameter_id, subject_id, day,
               arrived_at, quantity, severity, confidence, counterpart_id, evidence, refers_to,
               act, level, idem_key, {stored("payload_digest")} AS payload_digest,
               {stored(row_digest_sql())} AS row_digest
        FROM (
            SELECT CAST(? + pos AS BIGINT) AS entry_id, CAST({batch_sql} AS INTEGER) AS batch_id,
                   CAST(? AS TIMESTAMP) AS arrived_at, * EXCLUDE (pos)
            FROM {relation}
        )
        """,
        [first, arrived],
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


def _rows_digests(
    store: Store, spans: list[tuple[int, int, int]], in_order: bool = True
) -> dict[int, str]:
    """``rows_digest`` of each batch's row digests, by batch id, for ``spans`` (each a batch
    id, its first entry and its rows: consecutive batches, numbered on), read a slice at a
    time in entry order.

    With ``in_order`` (the rows were stored in insertion order) they come back in the order
    they were inserted, which is entry order; each slice's entry ids are checked, and if
    they ever are not in order, the digests are read again sorted. Without it, they are
    read sorted from the start.
    """
    low, high = spans[0][0], spans[-1][0]
    first, n = spans[0][1], sum(span[2] for span in spans)
    query = "SELECT entry_id, row_digest FROM entries WHERE batch_id BETWEEN ? AND ?"
    for ordered in (False, True) if in_order else (True,):
        digests: dict[int, str] = {}
        expected = first
        k, h = 0, hashlib.sha256()
        reader = store.con.sql(
            query + (" ORDER BY entry_id" if ordered else ""), params=[low, high]
        ).to_arrow_reader(_FETCH_ROWS)
        with reader:
            for chunk in reader:
                ids = arrays.numbers(chunk.column(0))
                end = expected + len(ids)
                if end > first + n or not np.array_equal(ids, np.arange(expected, end)):
                    break
                column = chunk.column(1)
                while len(column):
                    batch_id, start, rows = spans[k]
                    take = min(len(column), start + rows - expected)
                    update_rows_digest(h, column.slice(0, take))
                    column, expected = column.slice(take), expected + take
                    if expected == start + rows:
                        digests[batch_id] = h.hexdigest()
                        k, h = k + 1, hashlib.sha256()
        if expected == first + n:
            return digests
    raise LedgerError(
        f"batches {low} to {high}: their entries are not numbered {first} to {first + n - 1}"
        if low != high
        else f"batch {low}: its entries are not numbered {first} to {first + n - 1}"
    )
