"""Read CSV text into columns, remembering the line each row starts on.

Shared by batch files and rulebook catalogues: both report problems by the line an
editor shows, so a quoted field spanning lines or a blank line never shifts the count.

Two readers give the same header, values and lines: ``read_csv_columns`` (Python's csv
module, row by row, exact for any file and the one that words every problem) and
``read_csv_arrow`` (Arrow's parser, for the common file whose rows are its lines; it
declines any other file, and the caller then reads it with ``read_csv_columns``).
``iter_csv_columns`` is ``read_csv_columns`` a chunk of rows at a time, and
``scan_csv_layout`` checks a file a block at a time for another parser (DuckDB's) to read
it as ``read_csv_columns`` would, lines included.
"""

from __future__ import annotations

import codecs
import csv
import re
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from socialrating.errors import Problem

CHUNK_ROWS = 65_536  # rows per chunk when a file is read a chunk at a time

# A file the two readers cannot read differently: every line one record, every field
# either plain (no quote, comma or line break) or quoted, with "" for a quote and no line
# break inside. A quote inside a plain field, text after a closing quote or a line break
# in quotes is left to the csv module, whose rules for them are its own.
_FIELD = r'(?:"(?:[^"\r\n]|"")*"|[^",\r\n]*)'
_RECORD = rf"{_FIELD}(?:,{_FIELD})*"
_ONE_RECORD_A_LINE = rf"\A(?:{_RECORD}(?:\r\n|\n|\r))*(?:{_RECORD})?\z"


@dataclass
class CsvColumns:
    """A CSV file read as text: its header, a list of values per column, each row's line."""

    header: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CsvArrow:
    """A CSV file read by Arrow: its header, a string array per column, each row's line.

    Attributes:
        header: the column names, trimmed, as ``read_csv_columns`` gives them.
        columns: per name, the values as written (a repeated name keeps its last column).
        lines: each row's line (int64), the same as ``read_csv_columns``'s.
    """

    header: list[str]
    columns: dict[str, Any]
    lines: Any


def read_csv_columns(text: Iterable[str], source: str) -> tuple[CsvColumns | None, list[Problem]]:
    """The header and columns of CSV ``text``, and a problem for every row that is not well formed.

    Returns None (with the problem) when there is no readable header. Blank lines are
    skipped; a row with the wrong number of fields is reported and left out.
    """
    # One chunk holds every row.
    return next(iter_csv_columns(text, source, chunk_rows=sys.maxsize))


def iter_csv_columns(
    text: Iterable[str], source: str, chunk_rows: int = CHUNK_ROWS
) -> Iterator[tuple[CsvColumns | None, list[Problem]]]:
    """``read_csv_columns`` a chunk of at most ``chunk_rows`` rows at a time, in file order.

    Yields (columns, problems) pairs: each chunk has the header, its rows and their lines,
    and the problems of the lines it covers. A file with a header yields at least one
    chunk (perhaps empty); one without yields ``(None, [the problem])`` only.
    """
    # strict: a quote opened and never closed is an error, not a field that swallows the
    # rest of the file (Python's reader would otherwise end it silently at the end).
    reader = csv.reader(text, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        yield None, [Problem(source, 1, "", "empty file: no header line")]
        return
    except csv.Error as exc:
        yield None, [Problem(source, 1, "", f"not valid CSV: {_said(exc)}")]
        return
    twice = duplicated(header)
    if twice:
        yield None, [Problem(source, 1, h, f"column {h!r} appears more than once") for h in twice]
        return
    problems: list[Problem] = []
    rows: list[list[str]] = []
    lines: list[int] = []
    width = len(header)
    # csv.reader counts physical lines; a row starts on the line after the previous ended.
    start = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(source, start, "", f"not valid CSV: {_said(exc)}"))
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        if len(values) != width:
            problems.append(
                Problem(source, line, "", f"expected {width} fields, found {len(values)}")
            )
            continue
        rows.append(values)
        lines.append(line)
        if len(rows) >= chunk_rows:
            yield _chunk(header, rows, lines), problems
            problems, rows, lines = [], [], []
    yield _chunk(header, rows, lines), problems


def duplicated(header: list[str]) -> list[str]:
    """The column names a header repeats, in order of first repeat."""
    seen: set[str] = set()
    twice: list[str] = []
    for name in header:
        if name in seen and name not in twice:
            twice.append(name)
        seen.add(name)
    return twice


def _said(exc: csv.Error) -> str:
    """What Python's CSV reader says, in a user's words where it is terse."""
    text = str(exc)
    if "unexpected end of data" in text:
        return "a quoted field opens on this line and is never closed"
    return text


def _chunk(header: list[str], rows: list[list[str]], lines: list[int]) -> CsvColumns:
    by_column = zip(*rows, strict=True) if rows else iter([[] for _ in header])
    columns = {h: list(values) for h, values in zip(header, by_column, strict=True)}
    return CsvColumns(header, columns, lines)


def _physical_lines(data: bytes) -> int:
    """The number of lines of ``data`` as csv.reader counts them (\\n, \\r\\n or \\r end one)."""
    count = data.count(b"\n")
    if b"\r" in data:
        count += data.count(b"\r") - data.count(b"\r\n")
    if data and not data.endswith((b"\n", b"\r")):
        count += 1
    return count


def read_csv_arrow(data: bytes) -> CsvArrow | None:
    """The header and columns of CSV ``data`` read by Arrow, or None where it may differ.

    ``data`` is valid UTF-8 without a byte order mark. The result equals what
    ``read_csv_columns`` reads from the same text (values as strings, untrimmed). None when
    that cannot be promised, or when ``read_csv_columns`` would report a problem: the file
    is empty or has fewer than two columns; a record is not one line of plain or cleanly
    quoted fields; a line is blank; a row has the wrong number of fields; a field is longer
    than csv.field_size_limit().
    """
    if not data:
        return None
    # The whole file as one string (no copy), checked by one linear-time RE2 match.
    large = len(data) >= 2**31
    offsets = np.array([0, len(data)], np.int64 if large else np.int32)
    kind = pa.large_string() if large else pa.string()
    text = pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    if not pc.match_substring_regex(text, _ONE_RECORD_A_LINE)[0].as_py():
        return None
    first_end = min((i for i in (data.find(b"\n"), data.find(b"\r")) if i >= 0), default=len(data))
    try:
        header = [h.strip() for h in next(csv.reader([data[:first_end].decode("utf-8")]))]
    except (StopIteration, csv.Error, UnicodeDecodeError):
        return None
    if len(header) < 2:
        # One column: a line of spaces or "" is a row to Arrow, a blank line to csv.reader.
        return None
    rows = _physical_lines(data) - 1
    names = [f"f{i}" for i in range(len(header))]
    if rows == 0:
        table = pa.table([pa.array([], pa.string()) for _ in names], names=names)
    else:
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(skip_rows=1, column_names=names),
                parse_options=pacsv.ParseOptions(newlines_in_values=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
                ),
            )
        except pa.ArrowException:
            return None
    # Arrow skips blank lines, which shift the lines of the rows below them.
    if table.num_rows != rows:
        return None
    columns = [table.column(i).combine_chunks() for i in range(len(names))]
    limit = csv.field_size_limit()
    if rows and any(pc.max(pc.binary_length(c)).as_py() > limit for c in columns):
        return None
    lines = pa.array(np.arange(2, rows + 2, dtype=np.int64))
    return CsvArrow(header, dict(zip(header, columns, strict=True)), lines)


# --- CSV files whose records are their lines, read by another parser ---------------------

BLOCK_BYTES = 16 << 20  # a file is checked a block of about this size at a time

# What str.strip() removes: a field of these only is blank to read_csv_columns' callers.
_SPACES = "".join(f"\\x{{{c:x}}}" for c in range(0x3001) if chr(c).isspace())
BLANK_RE2 = f"[{_SPACES}]*"  # an RE2 pattern (DuckDB's regexp_full_match, Arrow's compute)


@dataclass(frozen=True)
class CsvLayout:
    """A CSV file whose records are its lines (see ``scan_csv_layout``).

    Attributes:
        header: the column names, trimmed, as ``read_csv_columns`` gives them.
        rows: the lines after the header, blank lines at the end of the file not counted.
        plain: the file holds no control character but its line ends (C0, DEL or C1, a
            tab included), so that no value does: the row checks need not look for one.
    """

    header: list[str]
    rows: int
    plain: bool = False


def scan_csv_layout(path: Path, block_bytes: int = BLOCK_BYTES) -> CsvLayout | None:
    """The header and number of rows of the CSV file at ``path`` if every line is one record.

    Then a CSV parser told the dialect (comma, double quote, ``""`` for a quote) reads the
    rows ``read_csv_columns`` reads, row i (from 0) on line i + 2, as long as it finds
    ``rows`` rows: a blank line other than at the end makes it find fewer. None when that
    cannot be promised (read the file with ``read_csv_columns``): the file is empty or not
    UTF-8, has fewer than two columns, mixes line ends or ends a line with a lone carriage
    return, has a line that is not one record of plain or cleanly quoted fields as many as
    the header's, or a line longer than ``4 * block_bytes``. The file is read a block at a
    time (blocks end at line ends), so memory stays bounded whatever its size.

    Raises:
        OSError: the file cannot be read.
    """
    header: list[str] | None = None
    records = ""
    crlf: bool | None = None
    newlines = 0
    last = b""
    carry = b""
    plain = True
    # The blocks are matched in a second thread while the next is read (Arrow's regular
    # expressions let go of the GIL); at most two are held at a time.
    pool = ThreadPoolExecutor(max_workers=1)
    pending: Future[bool] | None = None
    with pool, path.open("rb") as f:
        while True:
            data = f.read(block_bytes)
            block = carry + data
            if not block:
                break
            if data:
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    if len(block) > 4 * block_bytes:
                        return None
                    carry = block
                    continue
                block, carry = block[:cut], block[cut:]
            else:
                carry = b""
            if header is None:
                block = block.removeprefix(codecs.BOM_UTF8)
                header = _header_line(block)
                if header is None:
                    return None
                records = _records_pattern(len(header))
            lines = block.count(b"\n")
            if b"\r" in block:
                ends = block.count(b"\r\n")
                if ends != lines or block.count(b"\r") != ends:
                    return None  # a lone carriage return, or both kinds of line end
            block_crlf = b"\r" in block
            if lines and crlf is not None and block_crlf != crlf:
                return None
            crlf = block_crlf if lines else crlf
            if pending is not None and not pending.result():
                return None
            pending = pool.submit(_matches, block, records)
            plain = plain and not _has_control(block)
            newlines += lines
            last = block
        if pending is not None and not pending.result():
            return None
    if header is None:
        return None
    body = last.rstrip(b"\r\n")
    if not body:
        return None  # blank lines at the end, across blocks: left to the exact reader
    ends = last[len(body) :].count(b"\n")
    lines = newlines + (0 if ends else 1)
    return CsvLayout(header, lines - 1 - max(ends - 1, 0), plain)


def csv_header(path: Path) -> list[str] | None:
    """The header ``scan_csv_layout`` would find in the CSV file at ``path`` (read from its
    first block alone), or None where it would find none."""
    with path.open("rb") as f:
        block = f.read(BLOCK_BYTES)
    end = block.find(b"\n")
    if end < 0:
        return None  # no line end in the first block: left to the scan
    return _header_line(block[: end + 1].removeprefix(codecs.BOM_UTF8))


def _header_line(block: bytes) -> list[str] | None:
    end = block.find(b"\n")
    try:
        text = (block if end < 0 else block[:end]).decode("utf-8").rstrip("\r")
        header = [h.strip() for h in next(csv.reader([text]))]
    except (UnicodeDecodeError, csv.Error, StopIteration):
        return None
    # One column: a line of spaces or "" is a row to other parsers, a blank line to csv.reader.
    return header if 2 <= len(header) <= 1000 else None


def _records_pattern(width: int) -> str:
    """Lines of ``width`` fields each (see _ONE_RECORD_A_LINE), and blank lines at the end."""
    record = rf"{_FIELD}(?:,{_FIELD}){{{width - 1}}}"
    return rf"\A(?:{record}(?:\r\n|\n))*(?:{record})?(?:\r\n|\n)*\z"


_PRINTABLE = bytes(range(0x20, 0x7F)) + b"\r\n"
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]|\xc2[\x80-\x9f]")


def _has_control(block: bytes) -> bool:
    """Whether the UTF-8 ``block`` holds a control character other than a line end: C0
    (a tab too), DEL, or C1 (U+0080 to U+009F, two bytes from \\xc2)."""
    # What is left without printable ASCII and line ends is short: control characters,
    # and whole multibyte characters (their bytes are never ASCII), so a C1 character's
    # two bytes stay together.
    return _CONTROL.search(block.translate(None, _PRINTABLE)) is not None


def _matches(block: bytes, pattern: str) -> bool:
    """Whether ``block`` is valid UTF-8 and matches ``pattern`` (RE2)."""
    offsets = np.array([0, len(block)], np.int64 if len(block) >= 2**31 else np.int32)
    kind = pa.large_string() if len(block) >= 2**31 else pa.string()
    text = pa.Array.from_buffers(kind, 1, [None, pa.py_buffer(offsets), pa.py_buffer(block)])
    try:
        text.validate(full=True)  # UTF-8
    except pa.ArrowInvalid:
        return False
    return bool(pc.match_substring_regex(text, pattern)[0].as_py())
