"""Append a batch of rows to the ledger, atomically, extending the hash chain."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from socialrating.ledger.digests import (
    GENESIS,
    PAYLOAD_COLUMNS,
    batch_digest,
    payload_digest_sql,
    row_digest_sql,
    rows_digest,
)
from socialrating.ledger.store import Store

_EPOCH = dt.datetime(1970, 1, 1)


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


def utc_now() -> dt.datetime:
    """Now, in UTC, as the naive timestamp the ledger stores (microsecond precision)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def epoch_us(ts: dt.datetime) -> int:
    return (ts - _EPOCH) // dt.timedelta(microseconds=1)


def append_rows(
    store: Store, relation: str, institution_id: int | None, source: str, order_by: str = "line"
) -> Batch | None:
    """Append the rows of ``relation`` (a table or view) as one batch.

    ``relation`` has every payload column but ``institution_id`` (given here) and a column
    to order by. The caller has validated the rows; this only numbers, digests and stores
    them, inside the caller's transaction. Returns None when there are no rows.
    """
    n = int(store.scalar(f"SELECT count(*) FROM {relation}"))
    if n == 0:
        return None
    batch_id = store.next_id("batches", "batch_id")
    first = store.next_id("entries", "entry_id")
    arrived = utc_now()
    cols = [c for c in PAYLOAD_COLUMNS if c != "institution_id"]
    store.run(
        f"""
        INSERT INTO entries
        SELECT entry_id, batch_id, kind, institution_id, parameter_id, subject_id, day,
               arrived_at, quantity, severity, confidence, counterpart_id, evidence, refers_to,
               act, level, idem_key, payload_digest, {row_digest_sql()} AS row_digest
        FROM (
            SELECT *, {payload_digest_sql()} AS payload_digest FROM (
                SELECT CAST(? + row_number() OVER (ORDER BY {order_by}) - 1 AS BIGINT) AS entry_id,
                       CAST(? AS INTEGER) AS batch_id, CAST(? AS INTEGER) AS institution_id,
                       CAST(? AS TIMESTAMP) AS arrived_at, {", ".join(cols)}
                FROM {relation}
            )
        )
        """,
        [first, batch_id, institution_id, arrived],
    )
    digests = store.arrow(
        "SELECT row_digest FROM entries WHERE batch_id = ? ORDER BY entry_id", [batch_id]
    )
    prev = store.scalar("SELECT digest FROM batches ORDER BY batch_id DESC LIMIT 1") or GENESIS
    rows_hex = rows_digest(digests.column(0))
    last = first + n - 1
    digest = batch_digest(
        prev, batch_id, institution_id, source, n, first, last, epoch_us(arrived), rows_hex
    )
    store.run(
        "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [batch_id, institution_id, source, n, first, last, arrived, rows_hex, prev, digest],
    )
    return Batch(batch_id, institution_id, source, n, first, last, digest)
