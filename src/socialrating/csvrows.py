"""Read CSV text into columns, remembering the line each row starts on.

Shared by batch files and rulebook catalogues: both report problems by the line an
editor shows, so a quoted field spanning lines or a blank line never shifts the count.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field

from socialrating.errors import Problem


@dataclass
class CsvColumns:
    """A CSV file read as text: its header, a list of values per column, each row's line."""

    header: list[str] = field(default_factory=list)
    columns: dict[str, list[str]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)


def read_csv_columns(text: Iterable[str], source: str) -> tuple[CsvColumns | None, list[Problem]]:
    """The header and columns of CSV ``text``, and a problem for every row that is not well formed.

    Returns None (with the problem) when there is no readable header. Blank lines are
    skipped; a row with the wrong number of fields is reported and left out.
    """
    reader = csv.reader(text)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return None, [Problem(source, 1, "", "empty file: no header line")]
    except csv.Error as exc:
        return None, [Problem(source, 1, "", f"not valid CSV: {exc}")]
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
            problems.append(Problem(source, start, "", f"not valid CSV: {exc}"))
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
    columns = {h: [row[i] for row in rows] for i, h in enumerate(header)}
    return CsvColumns(header, columns, lines), problems
