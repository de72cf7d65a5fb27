"""Stage a batch file (CSV, Parquet or NDJSON) in DuckDB as text columns with line numbers.

Everything is staged as text so that validation can say exactly which value on which line
is wrong, instead of the reader stopping at the first cell it cannot parse.

A file is staged as the view ``staged_batch``: ``pos`` (0, 1, … in file order), ``line``
(the line an editor shows for CSV and NDJSON, the row number from 1 for Parquet), every
column of COLUMNS as text (null when absent), ``batch`` (0: the batch's index among
those staged at once, ``stage_tables``) and ``plain`` (true when the reader knows that no
text holds a control character). Memory stays bounded whatever the file's
size: DuckDB reads it (and spills to disk past its memory limit), or Python does, a chunk
at a time. Each format has two ways in, which stage the same rows:

- fast: DuckDB reads the file, on every core: a CSV file whose records are its lines
  (``csvrows.scan_csv_layout`` checks that a block at a time), a Parquet file whose
  columns are text, numbers, booleans or dates (timestamps in ``date``);
- exact: Python reads it a chunk at a time (the csv module, JSON by orjson and ``json``
  as ``jsontext`` says, Arrow): every other file, and the one that words every problem
  of a file's layout.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import re
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TextIO

import duckdb
import numpy as np
import pyarrow as pa

from socialrating.csvrows import (
    BLANK_RE2,
    CHUNK_ROWS,
    CsvLayout,
    csv_header,
    duplicated,
    iter_csv_columns,
    scan_csv_layout,
)
from socialrating.errors import Problem
from socialrating.jsontext import parsed_each
from socialrating.ledger.limits import MAX_LINE_CHARS, SHOWN_CHARS, printable
from socialrating.ledger.store import ORDER_GATE

COLUMNS = (
    "key",
    "subject",
    "parameter",
    "date",
    "quantity",
    "severity",
    "confidence",
    "counterpart",
    "evidence",
    "kind",
    "refers_to",
    "act",
    "level",
)
FORMATS = {".csv": "csv", ".parquet": "parquet", ".ndjson": "ndjson", ".jsonl": "ndjson"}

STAGED = "staged_batch"  # the view validation reads
_ROWS = "staged_rows"  # the table behind it (rows in file order: rowid is pos)
_RAW = "staged_raw"  # a CSV file as DuckDB read it (fields by position)
_ARROW = "staged_arrow"  # a batch handed over in memory, read where it is
_ONE_BATCH = "CAST(0 AS INTEGER) AS batch"  # a file is one batch
# Whether the reader knows that no text holds a control character (``CsvLayout.plain``):
# the row checks then need not look for one.
_NOT_PLAIN = "false AS plain"


def staged_table(columns: dict[str, list[str | None]], lines: list[int]) -> pa.Table:
    """A table of every known column as text, with ``line``; absent columns are null."""
    n = len(lines)
    data = {"line": pa.array(lines, pa.int64())}
    for col in COLUMNS:
        data[col] = pa.array(columns.get(col, [None] * n), pa.string())
    return pa.table(data)


def stage_file(con: duckdb.DuckDBPyConnection, path: str | Path) -> list[Problem]:
    """Stage the rows of the batch file at ``path`` as ``staged_batch``.

    Returns:
        The problems found while reading (bad lines, unknown columns, unreadable file);
        rows that could not be read are not staged.
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if path.is_dir():
        _new_rows(con)
        return [Problem(str(path), None, "", "is a directory, not a batch file")]
    if fmt is None:
        _new_rows(con)
        return [
            Problem(
                str(path),
                None,
                "",
                f"unknown format {path.suffix!r}: use .csv, .parquet or .ndjson",
            )
        ]
    try:
        # Its rows are numbered by where DuckDB stores them: in the order read, meanwhile.
        with ORDER_GATE.kept():
            if fmt == "csv":
                return _stage_csv(con, path)
            if fmt == "ndjson":
                return _stage_ndjson(con, path)
            return _stage_parquet(con, path)
    except (OSError, UnicodeDecodeError) as exc:
        _new_rows(con)
        return [Problem(str(path), None, "", f"cannot read: {exc}")]


def stage_table(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Stage an Arrow table of ``line`` and text columns (see ``staged_table``) in line order."""
    stage_tables(con, [table])


def stage_tables(con: duckdb.DuckDBPyConnection, tables: list[pa.Table]) -> None:
    """Stage Arrow tables of ``line`` and text columns (see ``staged_table``), each a batch
    (``batch``: its index) in line order, one after the other.

    The tables are already in memory: DuckDB reads them where they are (registered, with
    their rows numbered), instead of a copy (which cost about 6 ms for 10,000 rows). Put
    together, each table's columns are made text first, as DuckDB makes them text."""
    drop_staged(con)
    present = {c for table in tables for c in table.column_names}
    columns = [c for c in ("line", *COLUMNS) if c in present]
    text = pa.schema([(c, pa.int64() if c == "line" else pa.string()) for c in columns])
    parts = []
    for k, table in enumerate(tables):
        if table.num_rows > 1 and not _increasing(table.column("line")):
            table = table.sort_by("line")
        if len(tables) > 1:
            table = _as_text_table(con, table, columns, text)
        n = table.num_rows
        parts.append(table.append_column("batch", pa.array(np.full(n, k, np.int32))))
    staged = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
    staged = staged.append_column("pos", pa.array(np.arange(staged.num_rows, dtype=np.int64)))
    con.register(_ARROW, staged)
    con.execute(
        f"CREATE TEMP VIEW {STAGED} AS SELECT pos, {_as_text(present)}, batch, {_NOT_PLAIN} "
        f"FROM {_ARROW}"
    )


def _as_text_table(
    con: duckdb.DuckDBPyConnection, table: pa.Table, columns: list[str], text: pa.Schema
) -> pa.Table:
    """``table`` with the columns ``columns`` (those it lacks null), of the types ``text``:
    as is when its columns are text already, else as DuckDB casts them (as a table staged
    alone is)."""
    have = set(table.column_names)
    if all(table.schema.field(c).type == text.field(c).type for c in columns if c in have):
        for c in columns:
            if c not in have:
                table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
        return table.select(columns)
    con.register("staged_cast", table)
    try:
        cast = con.sql(f"SELECT {_as_text(have)} FROM staged_cast").to_arrow_table()
    finally:
        con.unregister("staged_cast")
    return cast.select(columns).cast(text)


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what staging made."""
    # One script: a statement each would pay its own call (a batch drops them three times).
    con.execute(
        f"DROP VIEW IF EXISTS {STAGED}; "
        + " ".join(f"DROP TABLE IF EXISTS {name};" for name in (_ROWS, _RAW))
    )
    con.unregister(_ARROW)  # nothing if it is not registered


def _increasing(lines: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    values = lines.combine_chunks()
    return bool(pc.all(pc.less(values[:-1], values[1:])).as_py())


def _new_rows(con: duckdb.DuckDBPyConnection) -> None:
    """An empty ``staged_rows`` table, with ``staged_batch`` over it."""
    drop_staged(con)
    con.execute(f"CREATE TEMP TABLE {_ROWS} (line BIGINT)")
    _rows_view(con)


def _staged_columns(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {
        str(r[0]) for r in con.execute(f"SELECT column_name FROM (DESCRIBE {_ROWS})").fetchall()
    }


def _rows_view(con: duckdb.DuckDBPyConnection) -> None:
    """``staged_batch`` over ``staged_rows``: every known column, null where the table has
    none of it."""
    have = _staged_columns(con)
    columns = ", ".join(f'"{c}"' if c in have else f'NULL::VARCHAR AS "{c}"' for c in COLUMNS)
    # A table's rows keep the order they were inserted in: rowid numbers them from 0.
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {STAGED} AS SELECT rowid AS pos, line, {columns}, "
        f"{_ONE_BATCH}, {_NOT_PLAIN} FROM {_ROWS}"
    )


def _append(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Append a chunk (``line`` and text columns; absent ones are null) to ``staged_rows``.

    Only the columns some row fills are stored: a column is added to the table when a chunk
    first fills one (the rows before it null), since DuckDB holds a temporary table
    uncompressed, 16 bytes a row for a text column even when every value is null (a
    million NDJSON rows that fill 8 of the 13 columns: 142 MB staged with all of them)."""
    n = table.num_rows
    filled = [c for c in COLUMNS if c in table.column_names and table.column(c).null_count < n]
    new = [c for c in filled if c not in _staged_columns(con)]
    for c in new:
        con.execute(f'ALTER TABLE {_ROWS} ADD COLUMN "{c}" VARCHAR')
    texts = _as_text(set(filled), absent=False)
    con.register("staged_chunk", table)
    try:
        con.execute(f"INSERT INTO {_ROWS} BY NAME SELECT {texts} FROM staged_chunk")
    finally:
        con.unregister("staged_chunk")
    if new:
        _rows_view(con)


def _as_text(present: set[str], *, absent: bool = True) -> str:
    """The select list of ``line`` and every column of COLUMNS as text, from an Arrow table
    with the columns ``present`` (the others null; left out without ``absent``)."""
    return ", ".join(
        ['CAST("line" AS BIGINT) AS line']
        + [
            f'CAST("{c}" AS VARCHAR) AS "{c}"' if c in present else f'NULL::VARCHAR AS "{c}"'
            for c in COLUMNS
            if absent or c in present
        ]
    )


def _unknown(source: str, line: int | None, names: list[str]) -> list[Problem]:
    """A problem for each name not in COLUMNS: unknown columns are refused, in every format."""
    return [
        Problem(
            source,
            line,
            printable(name, SHOWN_CHARS),
            f"unknown column '{printable(name, SHOWN_CHARS)}' (known: {', '.join(COLUMNS)})",
        )
        for name in names
        if name not in COLUMNS
    ]


# --- CSV ---------------------------------------------------------------------------------


RACY_SECONDS = 2.0
"""A file changed this recently before it is read may change again unseen (a file's
times are coarse: a few milliseconds, two seconds on some file systems)."""


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path) -> list[Problem]:
    # DuckDB reads the file (when its header promises the fast path) while another thread
    # checks its layout: the file is read twice, at once; a file that fails the check
    # (rare, and read by Python then) costs the read for nothing.
    started, before = time.time(), _identity(path)
    header = csv_header(path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanning = pool.submit(scan_csv_layout, path)
        width = len(header) if header is not None and not duplicated(header) else None
        read = width is not None and _read_csv(con, path, width)
        layout = scanning.result()
    if layout is not None and duplicated(layout.header):
        drop_staged(con)
        return _stage_csv_exact(con, path)  # which names the repeated columns
    if layout is not None:
        if layout.plain and not _unchanged(path, before, started):
            # What the check saw may not be what DuckDB read: the rows are searched.
            layout = dataclasses.replace(layout, plain=False)
        if width != len(layout.header):
            read = _read_csv(con, path, len(layout.header))
        if read and _stage_csv_fast(con, layout):
            return _unknown(str(path), 1, layout.header)
    drop_staged(con)
    return _stage_csv_exact(con, path)


def _identity(path: Path) -> tuple[int, ...]:
    """What changes when a file is written or replaced: device, inode, size, times."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _unchanged(path: Path, before: tuple[int, ...], started: float) -> bool:
    """Whether the file read since ``started`` (its identity ``before`` then) is the same
    file, unchanged, and was last changed long enough before (``RACY_SECONDS``, as git
    treats a file changed in the second its index was written) for a change while it was
    read to show in its times."""
    latest = max(before[3], before[4]) / 1e9
    return _identity(path) == before and latest < started - RACY_SECONDS


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, width: int) -> bool:
    """DuckDB reads the file's rows after its header as ``width`` text columns ``f0``, …;
    False (nothing kept) if it cannot: not valid UTF-8, a row of another width, a line too
    long (the exact reader says which)."""
    drop_staged(con)
    names = {f"f{i}": "VARCHAR" for i in range(width)}
    try:
        con.execute(
            f"""CREATE TEMP TABLE {_RAW} AS SELECT * FROM read_csv(?,
                header = false, skip = 1, delim = ',', quote = '"', escape = '"',
                columns = {names!r}, auto_detect = false, strict_mode = true,
                null_padding = false, max_line_size = {max(csv.field_size_limit(), 8192)})""",
            [str(path)],
        )
    except duckdb.Error:
        drop_staged(con)
        return False
    return True


def _stage_csv_fast(con: duckdb.DuckDBPyConnection, layout: CsvLayout) -> bool:
    """The file DuckDB read (``_read_csv``) staged, when its records are its lines; False
    if DuckDB found other rows."""
    rows = con.execute(f"SELECT count(*) FROM {_RAW}").fetchone()
    if rows is None or rows[0] != layout.rows:  # a blank line was skipped
        drop_staged(con)
        return False
    # The last column of a name wins, as with read_csv_columns; a blank field is null.
    index = {name: i for i, name in enumerate(layout.header)}
    select = ", ".join(
        f'{_blank_null(f"f{index[c]}")} AS "{c}"' if c in index else f'NULL::VARCHAR AS "{c}"'
        for c in COLUMNS
    )
    con.execute(
        f"CREATE TEMP VIEW {STAGED} AS SELECT rowid AS pos, rowid + 2 AS line, {select}, "
        f"{_ONE_BATCH}, {str(layout.plain).lower()} AS plain FROM {_RAW}"
    )
    return True


def _blank_null(col: str) -> str:
    """SQL: the field, or null when it is blank to the csv readers (str.strip() empties it)."""
    # Most values start with a printable character; only the rest need the pattern.
    return (
        f"CASE WHEN ascii({col}) BETWEEN 33 AND 132 THEN {col} "
        f"WHEN regexp_full_match({col}, '{BLANK_RE2}') THEN NULL ELSE {col} END"
    )


def _stage_csv_exact(con: duckdb.DuckDBPyConnection, path: Path) -> list[Problem]:
    src = str(path)
    _new_rows(con)
    problems: list[Problem] | None = None
    # utf-8-sig: a BOM (spreadsheets write one) is not part of the first column's name.
    with path.open(newline="", encoding="utf-8-sig") as f:
        for read, found in iter_csv_columns(f, src):
            if read is None:
                return found
            if problems is None:
                problems = _unknown(src, 1, read.header)
            problems += found
            cols: dict[str, list[str | None]] = {
                name: [v if v.strip() else None for v in values]
                for name, values in read.columns.items()
                if name in COLUMNS
            }
            _append(con, staged_table(cols, read.lines))
    return problems or []


# --- NDJSON ------------------------------------------------------------------------------


def _stage_ndjson(con: duckdb.DuckDBPyConnection, path: Path) -> list[Problem]:
    src = str(path)
    _new_rows(con)
    problems: list[Problem] = []
    numbered: list[tuple[int, str]] = []
    unknown: set[str] = set()

    def stage() -> None:
        objs, lines = parse_records(src, numbered, problems)
        unknown_columns_of(src, objs, lines, problems, unknown)
        _append(con, records_table(src, objs, lines, problems))
        numbered.clear()

    with path.open(encoding="utf-8-sig") as f:
        for line, text in _lines(f, MAX_LINE_CHARS):
            if text is None:
                problems.append(
                    Problem(src, line, "", f"longer than {MAX_LINE_CHARS:,} characters: not read")
                )
                continue
            numbered.append((line, text))
            if len(numbered) >= CHUNK_ROWS:
                stage()
    stage()
    return problems


def _lines(f: TextIO, limit: int) -> Iterator[tuple[int, str | None]]:
    """Each line of ``f`` with its number; None for a line over ``limit`` characters, which
    is skipped without being held in memory."""
    line = 0
    while text := f.readline(limit + 1):
        line += 1
        if len(text) > limit and not text.endswith("\n"):
            while (rest := f.readline(limit + 1)) and not rest.endswith("\n"):
                pass
            yield line, None
            continue
        yield line, text


def parse_record(
    src: str, line: int, text: str | bytes, problems: list[Problem]
) -> dict[str, object] | None:
    """One line of NDJSON (a file's, or an HTTP body's) as a record: a JSON object. None,
    with the problem added to ``problems``, when it is not one. Read by ``json``: for the
    lines orjson could not say (``parse_records``), with ``json``'s value or words."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not UTF-8 text: byte {exc.start + 1} of the line ({exc.reason})"
            problems.append(Problem(src, line, "", reason))
            return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(Problem(src, line, "", f"not valid JSON: {exc.msg} (column {exc.colno})"))
        return None
    except RecursionError:
        problems.append(Problem(src, line, "", "not valid JSON: nested too deeply"))
        return None
    except ValueError as exc:  # a number of more than 4,300 digits
        problems.append(Problem(src, line, "", f"not valid JSON: {printable(str(exc), 200)}"))
        return None
    if not isinstance(obj, dict):
        problems.append(Problem(src, line, "", "each line must be a JSON object"))
        return None
    return obj


def parse_records(
    src: str, numbered: Sequence[tuple[int, str | bytes]], problems: list[Problem]
) -> tuple[list[dict[str, object]], list[int]]:
    """The records of NDJSON lines (each with its number), and their numbers: parsed by
    orjson where its value is ``json``'s (``jsontext``), else by ``parse_record``, which
    adds a problem for each line that is not a record; none for a blank line."""
    objs: list[dict[str, object]] = []
    lines: list[int] = []
    for (line, text), obj in zip(numbered, parsed_each(t for _, t in numbered), strict=True):
        if type(obj) is not dict:
            if not text.strip():
                continue
            obj = parse_record(src, line, text, problems)
            if obj is None:
                continue
        objs.append(obj)
        lines.append(line)
    return objs, lines


_KNOWN = frozenset(COLUMNS)


def unknown_columns(
    src: str, line: int, obj: dict[str, object], seen: set[str], problems: list[Problem]
) -> None:
    """A problem for each name of ``obj`` not in COLUMNS and not in ``seen`` (then added)."""
    if _KNOWN.issuperset(obj):
        return
    for name in obj:
        if name not in _KNOWN and name not in seen:
            seen.add(name)
            problems += _unknown(src, line, [name])


def unknown_columns_of(
    src: str,
    objs: list[dict[str, object]],
    lines: list[int],
    problems: list[Problem],
    seen: set[str] | None = None,
) -> None:
    """``unknown_columns`` for records parsed together: a problem for each unknown name
    not in ``seen`` (then added), at the first line that has it (the records are looked
    at one by one only when their names together are not all columns)."""
    if _KNOWN.issuperset(set().union(*objs)):
        return
    seen = set() if seen is None else seen
    for line, obj in zip(lines, objs, strict=True):
        unknown_columns(src, line, obj, seen, problems)


_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN = frozenset({str, type(None), int, float})


def records_table(
    src: str, objs: list[dict[str, object]], lines: list[int], problems: list[Problem]
) -> pa.Table:
    """The text columns (see ``staged_table``) of parsed JSON records, from NDJSON or HTTP.

    A value that is an object or a list, a string holding a lone surrogate (JSON's
    ``"\\ud800"``, which is not Unicode text) or a ``key`` that is not a string is a
    problem; the value is staged as null (a key that is a number as written).
    """
    present = set().union(*objs)
    data: dict[str, pa.Array] = {"line": pa.array(lines, pa.int64())}
    for name in COLUMNS:
        if name not in present:
            data[name] = pa.nulls(len(lines), pa.string())
            continue
        values = [obj.get(name) for obj in objs]
        try:
            data[name] = pa.array(values, pa.string())  # the common case: text (or null) only
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            pass
        if name != "key" and _PLAIN.issuperset(map(type, values)):
            # Text, nulls and numbers (written as Python writes them, as below).
            plain = [v if v is None or type(v) is str else str(v) for v in values]
            try:
                data[name] = pa.array(plain, pa.string())
                continue
            except UnicodeEncodeError:  # a lone surrogate: said below
                pass
        texts: list[str | None] = []
        for line, value in zip(lines, values, strict=True):
            text = None
            if isinstance(value, str):
                if _SURROGATE.search(value) is None:
                    text = value
                else:
                    problems.append(Problem(src, line, name, _surrogate(value)))
            elif isinstance(value, (dict, list)):
                shown = printable(repr(value), SHOWN_CHARS)
                problems.append(Problem(src, line, name, f"must be a single value, not {shown}"))
            elif value is not None:
                text = _text(value)
                if name == "key":
                    reason = (
                        f"must be a string (text in quotes), not {printable(text, SHOWN_CHARS)}"
                    )
                    problems.append(Problem(src, line, name, reason))
            texts.append(text)
        data[name] = pa.array(texts, pa.string())
    return pa.table(data)


def _surrogate(value: str) -> str:
    found = _SURROGATE.search(value)
    assert found is not None
    return (
        f"not Unicode text: a lone surrogate {printable(found.group())} at character "
        f"{found.start() + 1} of '{printable(value, SHOWN_CHARS)}'"
    )


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- Parquet -----------------------------------------------------------------------------


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> list[Problem]:
    import pyarrow.parquet as pq

    src = str(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        _new_rows(con)
        return [Problem(src, None, "", f"not a readable Parquet file: {exc}")]
    if not _stage_parquet_fast(con, path, schema):
        problem = _stage_parquet_exact(con, path)
        if problem is not None:
            return [problem]
    return _unknown(src, None, schema.names) + _parquet_types(src, schema)


def _parquet_types(src: str, schema: pa.Schema) -> list[Problem]:
    """A problem for each known column whose type no value may have: a list, a struct or
    a map (a field holds one value), and a ``key`` that is not text."""
    problems = []
    for field in schema:
        typ = field.type
        if field.name not in COLUMNS:
            continue
        if pa.types.is_nested(typ):
            reason = f"must hold single values (text, numbers, dates), not {typ}"
            problems.append(Problem(src, None, field.name, reason))
        elif field.name == "key" and not _is_text(typ) and not pa.types.is_null(typ):
            reason = f"must be a text column (an idempotency key is text), not {typ}"
            problems.append(Problem(src, None, field.name, reason))
    return problems


def _is_text(typ: pa.DataType) -> bool:
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ))


def _parquet_text(name: str, typ: pa.DataType) -> str | None:
    """SQL for a Parquet column as the text Python's str() gives its values, or None."""
    col = f'"{name}"'
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        return col
    if pa.types.is_integer(typ) or pa.types.is_boolean(typ) or pa.types.is_null(typ):
        return f"CAST({col} AS VARCHAR)"  # 'true', 'false', digits: as str() writes them
    if pa.types.is_float32(typ) or pa.types.is_float64(typ):
        # DuckDB writes a double as Python does (the shortest text that reads back the same).
        return f"CAST(CAST({col} AS DOUBLE) AS VARCHAR)"
    if pa.types.is_date32(typ):
        # A day out of Python's range is written as DuckDB writes it ('infinity',
        # '148108-07-06', '5877642-06-23 (BC)'): ingest refuses it as out of range.
        return f"CAST({col} AS VARCHAR)"
    if name == "date" and pa.types.is_timestamp(typ):
        # The UTC day of each timestamp (a naive timestamp is taken to be in UTC).
        utc = f"timezone('UTC', {col})" if typ.tz is not None else col
        return f"CAST(CAST({utc} AS DATE) AS VARCHAR)"
    return None


def _stage_parquet_fast(con: duckdb.DuckDBPyConnection, path: Path, schema: pa.Schema) -> bool:
    """DuckDB reads the file when it can give every known column's text; else False."""
    names = schema.names
    if len(set(names)) != len(names) or "file_row_number" in names:
        return False
    select = []
    for col in COLUMNS:
        if col not in names:
            select.append(f'NULL::VARCHAR AS "{col}"')
            continue
        expr = _parquet_text(col, schema.field(col).type)
        if expr is None:
            return False
        select.append(f'{expr} AS "{col}"')
    drop_staged(con)
    try:
        con.execute(
            f"""CREATE TEMP TABLE {_ROWS} AS
                SELECT file_row_number + 1 AS line, {", ".join(select)}
                FROM read_parquet(?, file_row_number = true)""",
            [str(path)],
        )
        shuffled = con.execute(f"SELECT count(*) FROM {_ROWS} WHERE line <> rowid + 1").fetchone()
    except duckdb.Error:
        drop_staged(con)
        return False
    if shuffled is None or shuffled[0]:
        con.execute(f"ALTER TABLE {_ROWS} RENAME TO {_RAW}")
        con.execute(f"CREATE TEMP TABLE {_ROWS} AS SELECT * FROM {_RAW} ORDER BY line")
        con.execute(f"DROP TABLE {_RAW}")
    _rows_view(con)
    return True


def _stage_parquet_exact(con: duckdb.DuckDBPyConnection, path: Path) -> Problem | None:
    """Arrow reads the file a row group at a time, Python writes each value as text."""
    import pyarrow.parquet as pq

    _new_rows(con)
    line = 1
    try:
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=CHUNK_ROWS):
                cols: dict[str, list[str | None]] = {}
                for name in batch.schema.names:
                    if name in COLUMNS:
                        cols[name] = _column_text(con, name, batch.column(name))
                _append(con, staged_table(cols, list(range(line, line + batch.num_rows))))
                line += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        _new_rows(con)
        return Problem(str(path), None, "", f"not a readable Parquet file: {exc}")
    return None


def _column_text(con: duckdb.DuckDBPyConnection, name: str, column: pa.Array) -> list[str | None]:
    """Each value of a Parquet column as text: as the fast path writes it where it reads the
    type (dates: as DuckDB writes them, also out of Python's range), else as str()."""
    typ = column.type
    if pa.types.is_date(typ) or (name == "date" and pa.types.is_timestamp(typ)):
        return list(date_text(con, column).to_pylist())
    try:
        return [None if v is None else _text(v) for v in column.to_pylist()]
    except (ValueError, OverflowError):  # a timestamp out of Python's range
        return list(column.cast(pa.string()).to_pylist())


def date_text(con: duckdb.DuckDBPyConnection, column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Dates or timestamps as DuckDB writes their day (YYYY-MM-DD; a timestamp's UTC day, a
    naive one taken to be in UTC), also days out of Python's range ('infinity',
    '148108-07-06', '5877642-06-23 (BC)'), so that a check can say they are out of range."""
    typ = column.type
    expr = _parquet_text("date", typ) if pa.types.is_timestamp(typ) else None
    expr = expr or 'CAST(CAST("date" AS DATE) AS VARCHAR)'
    con.register("staged_dates", pa.table({"date": column}))
    try:
        return (
            con.sql(f"SELECT {expr} FROM staged_dates").to_arrow_table().column(0).combine_chunks()
        )
    finally:
        con.unregister("staged_dates")
