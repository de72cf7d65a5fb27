"""Digests of ledger rows and the hash chain of batches.

Each row's ``payload_digest`` covers what the institution said (kind, institution,
parameter, subject, day, quantity, severity, confidence, counterpart, evidence, the entry
it refers to, its idempotency key); its ``row_digest`` adds where the ledger put it (entry
id, batch id, arrival time). Both are computed by DuckDB, vectorised. A batch's digest
covers its row digests in entry order, its own fields and the digest of the batch before,
so any edit, insertion, deletion or reordering breaks the chain from that batch on.

Digests are defined over hex text (a row digest covers its payload digest's hex, a batch
digest its row digests' hex, back to back) and stored as their 32 bytes (``stored``,
``as_hex``): half the size, and no compression for DuckDB to attempt on random bytes.
"""

from __future__ import annotations

import binascii
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Arrow is imported where rows are hashed, not by every look-up
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


def row_digest_sql(alias: str = "", payload: str | None = None) -> str:
    """A DuckDB expression for the row digest of the row ``alias`` (payload digest included:
    ``payload``, an expression of its hex text, by default the row's ``payload_digest``
    column as a batch stages it; a stored row's is ``as_hex("payload_digest")``)."""
    p = f"{alias}." if alias else ""
    payload = payload or f"{p}payload_digest"
    return (
        f"sha256(concat_ws('|', CAST({p}entry_id AS VARCHAR), CAST({p}batch_id AS VARCHAR), "
        f"CAST(epoch_us({p}arrived_at) AS VARCHAR), {payload}))"
    )


def stored(hex_sql: str) -> str:
    """A digest's hex text (a DuckDB expression) as the ledger stores it: its bytes."""
    return f"unhex({hex_sql})"


def as_hex(column: str) -> str:
    """A stored digest (a column of bytes) as the hex text it is defined over."""
    return f"lower(hex({column}))"


def rows_digest(row_digests: pa.ChunkedArray | pa.Array) -> str:
    """SHA-256 over a batch's row digests in entry order: their hex text back to back (the
    digests as stored, bytes, or as hex strings)."""
    import pyarrow as pa

    h = hashlib.sha256()
    chunks = row_digests.chunks if isinstance(row_digests, pa.ChunkedArray) else [row_digests]
    for chunk in chunks:
        update_rows_digest(h, chunk)
    return h.hexdigest()


def update_rows_digest(h: hashlib._Hash, chunk: pa.Array) -> None:
    """Feed the next row digests (in entry order: bytes as stored, or hex strings) to
    ``rows_digest``'s hash ``h``."""
    if len(chunk) == 0:
        return
    if chunk.null_count:
        raise ValueError("a row digest is missing")
    import pyarrow as pa

    binary = pa.types.is_binary(chunk.type) or pa.types.is_large_binary(chunk.type)
    wide = pa.large_binary() if binary else pa.large_string()
    chunk = chunk.cast(wide) if chunk.type != wide else chunk
    # The data buffer holds the digests back to back: hash it (as hex, if bytes) at once.
    offsets = chunk.buffers()[1]
    data = chunk.buffers()[2]
    start, end = _offset(offsets, chunk.offset), _offset(offsets, chunk.offset + len(chunk))
    held = memoryview(data)[start:end] if data is not None else b""
    h.update(binascii.hexlify(held) if binary else held)


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
