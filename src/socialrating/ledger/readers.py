"""Read a batch file (CSV, Parquet or NDJSON) into text columns with line numbers.

Everything is read as text so that validation can say exactly which value on which line
is wrong, instead of the reader stopping at the first cell it cannot parse.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from socialrating.csvrows import read_csv_columns
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


def staged_table(columns: dict[str, list[str | None]], lines: list[int]) -> pa.Table:
    """A table of every known column as text, with ``line``; absent columns are null."""
    n = len(lines)
    data = {"line": pa.array(lines, pa.int64())}
    for col in COLUMNS:
        data[col] = pa.array(columns.get(col, [None] * n), pa.string())
    return pa.table(data)


def _unknown(source: str, line: int, names: list[str]) -> list[Problem]:
    return [
        Problem(source, line, name, f"unknown column {name!r} (known: {', '.join(COLUMNS)})")
        for name in names
        if name not in COLUMNS
    ]


def read_batch(path: str | Path) -> tuple[pa.Table, list[Problem]]:
    """The rows of a batch file as text, and the problems of its layout.

    Returns:
        A table with ``line`` and every column of COLUMNS (null when absent), and the
        problems found while reading (bad lines, unknown columns, unreadable file).
    """
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        problem = Problem(
            str(path), None, "", f"unknown format {path.suffix!r}: use .csv, .parquet or .ndjson"
        )
        return staged_table({}, []), [problem]
    try:
        if fmt == "csv":
            return _read_csv(path)
        if fmt == "ndjson":
            return _read_ndjson(path)
        return _read_parquet(path)
    except (OSError, UnicodeDecodeError) as exc:
        return staged_table({}, []), [Problem(str(path), None, "", f"cannot read: {exc}")]


def _read_csv(path: Path) -> tuple[pa.Table, list[Problem]]:
    src = str(path)
    # utf-8-sig: a BOM (spreadsheets write one) is not part of the first column's name.
    with path.open(newline="", encoding="utf-8-sig") as f:
        read, problems = read_csv_columns(f, src)
    if read is None:
        return staged_table({}, []), problems
    cols: dict[str, list[str | None]] = {
        name: [v if v.strip() else None for v in values]
        for name, values in read.columns.items()
        if name in COLUMNS
    }
    return staged_table(cols, read.lines), _unknown(src, 1, read.header) + problems


def _read_ndjson(path: Path) -> tuple[pa.Table, list[Problem]]:
    src = str(path)
    problems: list[Problem] = []
    cols: dict[str, list[str | None]] = {name: [] for name in COLUMNS}
    lines: list[int] = []
    unknown: set[str] = set()
    with path.open(encoding="utf-8-sig") as f:
        for line, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(
                    Problem(src, line, "", f"not valid JSON: {exc.msg} (column {exc.colno})")
                )
                continue
            if not isinstance(obj, dict):
                problems.append(Problem(src, line, "", "each line must be a JSON object"))
                continue
            for name in obj:
                if name not in COLUMNS and name not in unknown:
                    unknown.add(name)
                    problems += _unknown(src, line, [name])
            lines.append(line)
            for name in COLUMNS:
                value = obj.get(name)
                if isinstance(value, (dict, list)):
                    problems.append(
                        Problem(src, line, name, f"must be a single value, not {value!r}")
                    )
                    value = None
                cols[name].append(None if value is None else _text(value))
    return staged_table(cols, lines), problems


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_parquet(path: Path) -> tuple[pa.Table, list[Problem]]:
    import pyarrow.parquet as pq

    src = str(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        return staged_table({}, []), [Problem(src, None, "", f"not a readable Parquet file: {exc}")]
    problems = _unknown(src, None, table.column_names)  # type: ignore[arg-type]
    cols: dict[str, list[str | None]] = {}
    for name in table.column_names:
        if name in COLUMNS:
            column = table.column(name)
            if name == "date" and pa.types.is_timestamp(column.type):
                column = _utc_dates(column)
            cols[name] = [None if v is None else _text(v) for v in column.to_pylist()]
    return staged_table(cols, list(range(1, table.num_rows + 1))), problems


def _utc_dates(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The UTC day of each timestamp (a naive timestamp is taken to be in UTC)."""
    typ = column.type
    if typ.tz is not None:
        column = column.cast(pa.timestamp(typ.unit, "UTC"))
    return column.cast(pa.date32())
