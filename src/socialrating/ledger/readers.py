"""Stage a batch file (CSV, Parquet or NDJSON) in DuckDB as text columns with line numbers.

Everything is staged as text so that validation can say exactly which value on which line
is wrong, instead of the reader stopping at the first cell it cannot parse.

A file is staged as the view ``staged_batch``: ``pos`` (0, 1, … in file order), ``line``
(the line an editor shows for CSV and NDJSON, the row number from 1 for Parquet) and every
column of COLUMNS as text (null when absent). Memory stays bounded whatever the file's
size: DuckDB reads it (and spills to disk past its memory limit), or Python does, a chunk
at a time. Each format has two ways in, which stage the same rows:

- fast: DuckDB reads the file, on every core: a CSV file whose records are its lines
  (``csvrows.scan_csv_layout`` checks that a block at a time), a Parquet file whose
  columns are text, numbers, booleans or dates (timestamps in ``date``);
- exact: Python reads it a chunk at a time (the csv module, json, Arrow): every other
  file, and the one that words every problem of a file's layout.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow as pa

from socialrating.csvrows import (
    BLANK_RE2,
    CHUNK_ROWS,
    CsvLayout,
    duplicated,
    iter_csv_columns,
    scan_csv_layout,
)
from socialrating.errors import Problem

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
_TEXT_COLUMNS = ", ".join(f'"{c}" VARCHAR' for c in COLUMNS)


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
    lines = table.column("line")
    if table.num_rows > 1 and not _increasing(lines):
        table = table.sort_by("line")
    _new_rows(con)
    _append(con, table)


def drop_staged(con: duckdb.DuckDBPyConnection) -> None:
    """Drop what staging made."""
    con.execute(f"DROP VIEW IF EXISTS {STAGED}")
    for name in (_ROWS, _RAW):
        con.execute(f"DROP TABLE IF EXISTS {name}")


def _increasing(lines: pa.ChunkedArray) -> bool:
    import pyarrow.compute as pc

    values = lines.combine_chunks()
    return bool(pc.all(pc.less(values[:-1], values[1:])).as_py())


def _new_rows(con: duckdb.DuckDBPyConnection) -> None:
    """An empty ``staged_rows`` table, with ``staged_batch`` over it."""
    drop_staged(con)
    con.execute(f"CREATE TEMP TABLE {_ROWS} (line BIGINT, {_TEXT_COLUMNS})")
    _rows_view(con)


def _rows_view(con: duckdb.DuckDBPyConnection) -> None:
    # A table's rows keep the order they were inserted in: rowid numbers them from 0.
    con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGED} AS SELECT rowid AS pos, * FROM {_ROWS}")


def _append(con: duckdb.DuckDBPyConnection, table: pa.Table) -> None:
    """Append a chunk (``line`` and text columns; absent ones are null) to ``staged_rows``."""
    present = set(table.column_names)
    select = ", ".join(
        ['CAST("line" AS BIGINT)']
        + [f'CAST("{c}" AS VARCHAR)' if c in present else "NULL" for c in COLUMNS]
    )
    con.register("staged_chunk", table)
    try:
        con.execute(f"INSERT INTO {_ROWS} SELECT {select} FROM staged_chunk")
    finally:
        con.unregister("staged_chunk")


def _unknown(source: str, line: int | None, names: list[str]) -> list[Problem]:
    return [
        Problem(source, line, name, f"unknown column {name!r} (known: {', '.join(COLUMNS)})")
        for name in names
        if name not in COLUMNS
    ]


# --- CSV ---------------------------------------------------------------------------------


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path) -> list[Problem]:
    layout = scan_csv_layout(path)
    if layout is not None and duplicated(layout.header):
        return _stage_csv_exact(con, path)  # which names the repeated columns
    if layout is not None and _stage_csv_fast(con, path, layout):
        return _unknown(str(path), 1, layout.header)
    return _stage_csv_exact(con, path)


def _stage_csv_fast(con: duckdb.DuckDBPyConnection, path: Path, layout: CsvLayout) -> bool:
    """DuckDB reads a file whose records are its lines; False if it finds other rows."""
    drop_staged(con)
    names = {f"f{i}": "VARCHAR" for i in range(len(layout.header))}
    try:
        con.execute(
            f"""CREATE TEMP TABLE {_RAW} AS SELECT * FROM read_csv(?,
                header = false, skip = 1, delim = ',', quote = '"', escape = '"',
                columns = {names!r}, auto_detect = false, strict_mode = true,
                null_padding = false, max_line_size = {max(csv.field_size_limit(), 8192)})""",
            [str(path)],
        )
        rows = con.execute(f"SELECT count(*) FROM {_RAW}").fetchone()
    except duckdb.Error:
        # Not valid UTF-8, a row of another width, a line too long: the exact reader says.
        drop_staged(con)
        return False
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
        f"CREATE TEMP VIEW {STAGED} AS SELECT rowid AS pos, rowid + 2 AS line, {select} FROM {_RAW}"
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
    objs: list[dict[str, object]] = []
    lines: list[int] = []
    known = frozenset(COLUMNS)
    unknown: set[str] = set()
    loads = json.loads
    with path.open(encoding="utf-8-sig") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = loads(text)
            except json.JSONDecodeError as exc:
                problems.append(
                    Problem(src, line, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
                )
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(src, line, "", "each line must be a JSON object"))
                continue
            if not known.issuperset(obj):
                for name in obj:
                    if name not in known and name not in unknown:
                        unknown.add(name)
                        problems += _unknown(src, line, [name])
            objs.append(obj)
            lines.append(line)
            if len(objs) >= CHUNK_ROWS:
                _append(con, _ndjson_table(src, objs, lines, problems))
                objs, lines = [], []
    _append(con, _ndjson_table(src, objs, lines, problems))
    return problems


def _ndjson_table(
    src: str, objs: list[dict[str, object]], lines: list[int], problems: list[Problem]
) -> pa.Table:
    """The text columns of parsed NDJSON objects; a value that is an object or a list is a
    problem (and null)."""
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
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        texts: list[str | None] = []
        for line, value in zip(lines, values, strict=True):
            if isinstance(value, (dict, list)):
                problems.append(Problem(src, line, name, f"must be a single value, not {value!r}"))
                value = None
            texts.append(None if value is None else _text(value))
        data[name] = pa.array(texts, pa.string())
    return pa.table(data)


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
    return _unknown(src, None, schema.names)


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
                        column = batch.column(name)
                        if name == "date" and pa.types.is_timestamp(column.type):
                            column = _utc_dates(column)
                        cols[name] = [None if v is None else _text(v) for v in column.to_pylist()]
                _append(con, staged_table(cols, list(range(line, line + batch.num_rows))))
                line += batch.num_rows
    except (pa.ArrowException, OSError) as exc:
        _new_rows(con)
        return Problem(str(path), None, "", f"not a readable Parquet file: {exc}")
    return None


def _utc_dates(column: pa.Array) -> pa.Array:
    """The UTC day of each timestamp (a naive timestamp is taken to be in UTC)."""
    typ = column.type
    if typ.tz is not None:
        column = column.cast(pa.timestamp(typ.unit, "UTC"))
    return column.cast(pa.date32())
