"""Read a parameter catalogue (CSV, gzipped CSV or Parquet) into rows of text.

Each row remembers its line (CSV: the physical line; Parquet: the 1-based row), so that
validation can point at it. Lists inside a cell are separated by ``;``.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from socialrating.errors import Problem

COLUMNS = (
    "code",
    "name",
    "category",
    "points",
    "per_unit",
    "expires_after_days",
    "institutions",
    "min_confidence",
    "verify_by_authority",
    "verify_reporters",
    "verify_window_days",
    "tags",
    "subjects",
)
REQUIRED = ("code", "category", "points", "institutions")
LIST_COLUMNS = ("institutions", "tags")


def read_rows(path: Path, data: bytes) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    """Rows of the catalogue as ``(line, {column: text})``, and the problems of its layout."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _parquet_rows(path, data)
    if name.endswith(".csv.gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            return [], [Problem(str(path), None, "", f"not a gzip file: {exc}")]
    elif not name.endswith(".csv"):
        return [], [Problem(str(path), None, "", "catalogue must be .csv, .csv.gz or .parquet")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [Problem(str(path), None, "", f"not UTF-8 text: {exc}")]
    return _csv_rows(path, text)


def _check_header(path: Path, header: list[str]) -> list[Problem]:
    problems = [
        Problem(str(path), 1, col, f"unknown column {col!r} (known: {', '.join(COLUMNS)})")
        for col in header
        if col not in COLUMNS
    ]
    problems += [
        Problem(str(path), 1, col, "required column is missing")
        for col in REQUIRED
        if col not in header
    ]
    return problems


def _csv_rows(path: Path, text: str) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return [], [Problem(str(path), 1, "", "empty catalogue: no header line")]
    problems = _check_header(path, header)
    if problems:
        return [], problems
    rows: list[tuple[int, dict[str, str]]] = []
    width = len(header)
    for cells in _lines(reader):
        line, values = cells
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        if len(values) != width:
            problems.append(
                Problem(str(path), line, "", f"expected {width} fields, found {len(values)}")
            )
            continue
        rows.append((line, dict(zip(header, values, strict=True))))
    return rows, problems


def _lines(reader: Any) -> Iterator[tuple[int, list[str]]]:
    # csv.reader counts physical lines; the row that ends on line_num starts on the line
    # after the previous row ended, which is what an editor shows.
    start = reader.line_num + 1
    for values in reader:
        yield start, values
        start = reader.line_num + 1


def _parquet_rows(path: Path, data: bytes) -> tuple[list[tuple[int, dict[str, str]]], list[Problem]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        return [], [Problem(str(path), None, "", f"not a readable Parquet file: {exc}")]
    problems = _check_header(path, table.column_names)
    if problems:
        return [], problems
    columns = {
        name: ["" if v is None else _text(v) for v in table.column(name).to_pylist()]
        for name in table.column_names
    }
    rows = [
        (i + 1, {name: columns[name][i] for name in table.column_names})
        for i in range(table.num_rows)
    ]
    return rows, []


def _text(value: object) -> str:
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
