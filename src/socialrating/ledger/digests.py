"""Digests of ledger rows and the hash chain of batches.

Each row's ``payload_digest`` covers what the institution said (kind, institution,
parameter, subject, day, quantity, severity, confidence, counterpart, evidence, the entry
it refers to, its idempotency key); its ``row_digest`` adds where the ledger put it (entry
id, batch id, arrival time). Both are computed by DuckDB, vectorised. A batch's digest
covers its row digests in entry order, its own fields and the digest of the batch before,
so any edit, insertion, deletion or reordering breaks the chain from that batch on.
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

GENESIS = "0" * 64

PAYLOAD_COLUMNS = (
    "kind",
    "institution_id",
    "parameter_id",
    "subject_id",
    "day",
    "quantity",
    "severity",
    "confidence",
    "counterpart_id",
    "evidence",
    "refers_to",
    "act",
    "level",
    "idem_key",
)


def payload_digest_sql(alias: str = "") -> str:
    """A DuckDB expression for the payload digest of the row ``alias``.

    Each field is written as its length, a colon and its text, and NULL as ``~``: an
    encoding no two different rows share, whatever text a free field holds (a plain
    separator would let ``evidence='a|2'`` and ``refers_to`` trade characters unseen).
    """
    prefix = f"{alias}." if alias else ""
    parts = ", ".join(
        f"coalesce(CAST(length(CAST({prefix}{col} AS VARCHAR)) AS VARCHAR) || ':' "
        f"|| CAST({prefix}{col} AS VARCHAR), '~')"
        for col in PAYLOAD_COLUMNS
    )
    return f"sha256('v3|' || concat_ws('|', {parts}))"


def row_digest_sql(alias: str = "") -> str:
    """A DuckDB expression for the row digest of the row ``alias`` (payload digest included)."""
    p = f"{alias}." if alias else ""
    return (
        f"sha256(concat_ws('|', CAST({p}entry_id AS VARCHAR), CAST({p}batch_id AS VARCHAR), "
        f"CAST(epoch_us({p}arrived_at) AS VARCHAR), {p}payload_digest))"
    )


def rows_digest(row_digests: pa.ChunkedArray | pa.Array) -> str:
    """SHA-256 over a batch's row digests (hex strings) in entry order."""
    h = hashlib.sha256()
    chunks = row_digests.chunks if isinstance(row_digests, pa.ChunkedArray) else [row_digests]
    for chunk in chunks:
        update_rows_digest(h, chunk)
    return h.hexdigest()


def update_rows_digest(h: hashlib._Hash, chunk: pa.Array) -> None:
    """Feed the next row digests (hex strings, in entry order) to ``rows_digest``'s hash ``h``."""
    if len(chunk) == 0:
        return
    if chunk.null_count:
        raise ValueError("a row digest is missing")
    chunk = chunk.cast(pa.large_string()) if chunk.type != pa.large_string() else chunk
    # The string data buffer holds the digests back to back: hash it without copying.
    offsets = chunk.buffers()[1]
    data = chunk.buffers()[2]
    start, end = _offset(offsets, chunk.offset), _offset(offsets, chunk.offset + len(chunk))
    h.update(memoryview(data)[start:end])


def _offset(offsets: pa.Buffer, i: int) -> int:
    return int.from_bytes(memoryview(offsets)[8 * i : 8 * i + 8], "little", signed=True)


def batch_digest(
    prev_digest: str,
    batch_id: int,
    institution_id: int | None,
    source: str | None,
    rows: int,
    first_entry: int | None,
    last_entry: int | None,
    arrived_at_us: int,
    rows_digest_hex: str,
) -> str:
    """The digest of one batch, chained to the one before it (every field length-prefixed)."""
    fields = (
        prev_digest,
        batch_id,
        institution_id,
        source,
        rows,
        first_entry,
        last_entry,
        arrived_at_us,
        rows_digest_hex,
    )
    text = "|".join("~" if f is None else f"{len(str(f))}:{f}" for f in fields)
    return hashlib.sha256(("v2|" + text).encode()).hexdigest()
