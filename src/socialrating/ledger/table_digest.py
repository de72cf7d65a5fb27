"""The digest of a table's rows, whatever order they are stored in.

Two methods, each named in what the ledger records (``integrity``), so that a digest is
always checked by the method it was made with:

- ``COLUMNS`` (ledger format 12 on): the rows are read in a canonical order (by blocks
  of 2^``CHUNK_BITS`` subject ids when the table has a ``subject_id``, then by every column,
  ``ORDER BY ALL``) into Arrow, and one SHA-256 is computed over each block's columns,
  each column as its validity bits then its values (integers, dates and times as 64-bit
  little-endian integers, floats as 64-bit floats, texts and bytes as their lengths then
  their bytes, lists as their lengths then their items), every part preceded by its
  length and every block by its first subject id and its rows. The encoding is
  injective, so two different sets of rows cannot share it; reading columns in bulk and
  hashing with the CPU's SHA instructions makes it 2.5 times cheaper than ``ROWS`` (a run
  of the bench ledger, 2 million subjects: 0.9 s against 2.3 s for its three tables).
- ``ROWS`` (formats 8 to 11): each row's MD5 over its fields' texts (length-prefixed,
  NULL as ``~``), sorted, grouped by their first two hex digits, each group's SHA-256,
  and the SHA-256 of those in order; computed by DuckDB.

A block of ``COLUMNS`` holds at most 2^``CHUNK_BITS`` subjects' rows in memory, whatever
the size of the registry. The order is ``ORDER BY ALL``'s, but a table whose first columns
are a key (``KEYS``) is read ordered by them alone, or as it is stored (``STORED_IN_ORDER``),
and checked: rows strictly increasing in their key are in that order already (a block
that is not, keys repeated, is read again by ``ORDER BY ALL``). The digest is the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from socialrating.errors import LedgerError
from socialrating.ledger.store import Store

if TYPE_CHECKING:
    import pyarrow as pa

ROWS, COLUMNS = "md5-rows", "sha256-columns"
"""The methods (``COLUMNS`` is the one new digests are made with)."""

CHUNK_BITS = 20
"""A block of ``COLUMNS`` holds the rows of 2^CHUNK_BITS subject ids: they are read into
memory at once."""


KEYS = {"snapshot": 2, "run_factors": 3, "rulebook_parameters": 2}
"""Tables whose first columns are a key of the rows written (run and subject; run,
subject and rank; rulebook and parameter), so that rows ordered by it are in ``ORDER BY
ALL``'s order: sorting by two or three numbers costs DuckDB less than by every column
(0.05 against 0.07 s for a million subjects' snapshot rows, 0.03 against 0.05 s for their
key factors)."""

STORED_IN_ORDER = {"snapshot", "rulebook_parameters"}
"""Tables written in the order of their key: read as stored (0.03 s for a million
subjects' snapshot rows; 0.035 against 0.1 s for the seed's 160,000 parameters), they
need no sort at all when found in it."""


@dataclass(frozen=True)
class Digest:
    """A table's (or a part's) rows and their order-free digest."""

    rows: int
    digest: str

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "digest": self.digest}


def columns_of(store: Store, table: str) -> list[str]:
    """The table's columns, in their order (every one is digested: an edit to any shows)."""
    found = [
        str(c)
        for (c,) in store.rows(
            """SELECT column_name FROM information_schema.columns
               WHERE table_name = ? AND table_schema = 'main'
                 AND table_catalog = current_database() ORDER BY ordinal_position""",
            [table],
        )
    ]
    if not found:
        raise LedgerError(f"the database has no table {table!r}")
    return found


def table_digest(
    store: Store,
    table: str,
    where: str = "TRUE",
    relation: str = "",
    method: str = COLUMNS,
) -> Digest:
    """The digest of ``table``'s rows that satisfy ``where`` (read from ``relation``, a
    table or temp table of the same columns, when given), by ``method``."""
    columns = columns_of(store, table)
    source = relation or table
    if method == ROWS:
        return _rows_digest(store, columns, source, where)
    if method != COLUMNS:
        raise LedgerError(f"unknown digest method {method!r}")
    names = ", ".join(f'"{c}"' for c in columns)
    h = hashlib.sha256(f"{COLUMNS}|{'|'.join(columns)}".encode())

    key = KEYS.get(table, 0)

    def read(among: str) -> pa.Table:  # in a canonical order
        query = f"SELECT {names} FROM {source} WHERE ({where}) AND {among}"
        if key:
            if table in STORED_IN_ORDER:
                rows = store.arrow(query)
                if _increasing(rows, key):
                    return rows
            order = ", ".join(f'"{c}"' for c in columns[:key])
            rows = store.arrow(f"{query} ORDER BY {order}")
            if _increasing(rows, key):
                return rows
        return store.arrow(f"{query} ORDER BY ALL")

    if "subject_id" not in columns:
        return Digest(_block(h, read("TRUE")), h.hexdigest())
    # The blocks that hold rows (ids may be sparse), and whether some rows have no subject.
    blocks = store.rows(
        f"SELECT DISTINCT subject_id >> {CHUNK_BITS} FROM {source} WHERE {where} "
        "ORDER BY 1 NULLS LAST"
    )
    rows = 0
    for (number,) in blocks:
        if number is None:
            break
        start = int(number) << CHUNK_BITS
        h.update(f"|block {start}".encode())
        rows += _block(
            h, read(f"subject_id >= {start} AND subject_id < {start + (1 << CHUNK_BITS)}")
        )
    if blocks and blocks[-1][0] is None:  # rows without a subject: a block of their own
        h.update(b"|block null")
        rows += _block(h, read("subject_id IS NULL"))
    return Digest(rows, h.hexdigest())


def _increasing(table: pa.Table, key: int) -> bool:
    """Whether the rows are strictly increasing in their first ``key`` columns, none of
    them null: then no two rows share a key, and ``ORDER BY ALL`` puts them in this order."""
    import pyarrow.compute as pc

    n = table.num_rows
    if n < 2:
        return True
    less = same = None
    for column in table.columns[:key]:
        values = column.combine_chunks()
        if values.null_count:
            return False
        before, after = values.slice(0, n - 1), values.slice(1)
        lt, eq = pc.less(before, after), pc.equal(before, after)
        less = lt if less is None else pc.or_(less, pc.and_(same, lt))
        same = eq if same is None else pc.and_(same, eq)
    return bool(pc.all(less).as_py())


def _block(h: Any, table: pa.Table) -> int:
    """Feed ``h`` one block of rows, column by column; return its rows."""
    h.update(f"|rows {table.num_rows}".encode())
    for column in table.columns:
        for part in _parts(column.combine_chunks()):
            h.update(len(part).to_bytes(8, "little"))
            h.update(part)
    return int(table.num_rows)


def _parts(array: pa.Array) -> Iterator[bytes | memoryview]:
    """A column as bytes: its validity bits, then its values (a null's as 0 or empty)."""
    # Imported here: a look-up that imports this module (to check a run) reads no Arrow.
    import numpy as np
    import pyarrow as pa

    from socialrating import arrays

    n = len(array)
    if array.null_count:
        yield np.packbits(arrays.numbers(array.is_valid().cast(pa.uint8()))).tobytes()
    else:  # what ``packbits`` makes of n ones, without making them
        yield b"\xff" * (n // 8) + (bytes([0xFF << (8 - n % 8) & 0xFF]) if n % 8 else b"")
    kind = array.type
    if pa.types.is_dictionary(kind):
        yield from _parts(array.dictionary_decode())
    elif pa.types.is_floating(kind):
        yield _bytes(_filled(array.cast(pa.float64())), "<f8")
    elif (
        pa.types.is_integer(kind)
        or pa.types.is_boolean(kind)
        or (pa.types.is_temporal(kind) and not pa.types.is_interval(kind))
    ):
        numbers = array if pa.types.is_integer(kind) else _as_integers(array)
        yield _bytes(_filled(numbers.cast(pa.int64())), "<i8")
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        yield _bytes(_filled(array.value_lengths().cast(pa.int64())), "<i8")
        yield from _parts(array.flatten())
    else:
        yield from _texts(array)


def _filled(array: pa.Array) -> pa.Array:
    """Numbers with each null as 0."""
    from socialrating.arrays import scalar

    return array.fill_null(scalar(0, array.type)) if array.null_count else array


def _bytes(array: pa.Array, dtype: str) -> memoryview:
    """A column of numbers without nulls as the bytes of its values in ``dtype``, not
    copied when they are stored so (a million rows' copy costs more than their hash)."""
    import numpy as np

    from socialrating.arrays import numbers

    return np.ascontiguousarray(numbers(array), dtype=dtype).data.cast("B")


def _as_integers(array: pa.Array) -> pa.Array:
    """A boolean, date or time column as the integers it is stored as."""
    import pyarrow as pa

    kind = array.type
    if pa.types.is_boolean(kind):
        return array.cast(pa.int8())
    width = pa.int32() if kind in (pa.date32(), pa.time32("s"), pa.time32("ms")) else pa.int64()
    return array.view(width)


def _texts(array: pa.Array) -> Iterator[bytes | memoryview]:
    """Texts or bytes (anything else as its text): their lengths, then their bytes."""
    import numpy as np
    import pyarrow as pa

    from socialrating.arrays import empty_text

    kind = array.type
    binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    binary = binary or pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind)
    wide = pa.large_binary() if binary else pa.large_string()
    narrow = kind in (pa.string(), pa.binary())  # 32-bit offsets, read as they are
    values = array
    if array.null_count or not (narrow or kind == wide):
        values = array.cast(wide).fill_null(empty_text(wide))
        narrow = False
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype="<i4" if narrow else "<i8")
    offsets = offsets[values.offset : values.offset + n + 1]
    yield np.diff(offsets).astype("<i8", copy=False).data.cast("B")
    data = values.buffers()[2]
    yield memoryview(data)[int(offsets[0]) : int(offsets[-1])] if data is not None else b""


def _rows_digest(store: Store, columns: list[str], source: str, where: str) -> Digest:
    fields = ", ".join(
        f"coalesce(CAST(length(CAST({c} AS VARCHAR)) AS VARCHAR) || ':' || CAST({c} AS VARCHAR),"
        " '~')"
        for c in (f'"{c}"' for c in columns)
    )
    rows, digest = store.one(
        f"""WITH r AS (
              SELECT md5(concat_ws('|', {fields})) AS d FROM {source} WHERE {where}),
            g AS (SELECT left(d, 2) AS b, count(*) AS n,
                         sha256(string_agg(d, '' ORDER BY d)) AS d FROM r GROUP BY b)
            SELECT coalesce(sum(n), 0), sha256(coalesce(string_agg(d, '' ORDER BY b), ''))
            FROM g"""
    ) or (0, "")
    return Digest(int(rows), str(digest))
