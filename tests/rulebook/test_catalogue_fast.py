"""The catalogue's two CSV readers: Arrow's (fast) and the csv module's (exact) agree.

A CSV catalogue is read by Arrow when its rows are its lines, else row by row. Each case
here reads the same file both ways and checks that the tables (values and lines) and the
problems (reading and checking) are identical, and that the fast path was taken exactly
where it should be, so that a regression in either reader fails a test.
"""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SEED

from socialrating.csvrows import read_csv_arrow, read_csv_columns
from socialrating.errors import Problem
from socialrating.rulebook import load_rulebook
from socialrating.rulebook.catalogue import check_catalogue, read_catalogue
from socialrating.rulebook.schema import RulebookSpec

# The seed's content hash, computed before the fast reader existed: the hash names the
# rulebook in existing databases, so reading faster must not change it.
SEED_HASH = "9aef5223c46795d9c50f68ee87bdd9d3ea3d1063b5f78e26462bb555f17244f9"

SPEC = RulebookSpec.model_validate(
    yaml.safe_load(
        """
name: mini
version: "1"
effective: 2021-01-01
grades:
  citizen: [{grade: A, min: 1000}, {grade: B}]
  organisation: [{grade: A, min: 1000}, {grade: B}]
institutions:
  - {code: police, class: state}
  - {code: hotline, class: citizen}
categories:
  - code: traffic
  - code: charity
parameters:
  - {code: blood, category: charity, points: 10, institutions: [police]}
"""
    )
)
YAML_CODES = {"blood": "rulebook.yaml:15"}

HEADER = "code,name,category,points,institutions,tags,min_confidence"
ROWS = (
    "jaywalk,Jaywalking,traffic,-2,police;hotline,traffic;street,",
    'donate,"Gives money, monthly",charity,3,police,,0.9',
    'quote,"Says ""hello""",charity,1, police ; hotline ,,',
    "  padded  ,  ,traffic,  -1  ,police,  ,  ",
)
BAD_ROWS = (
    "lost,Lost,charity,abc,police,,",
    "nowhere,Nowhere,nocat,1,police;nobody,bad tag,2",
    "blood,Blood,charity,1,police,,",
    "jaywalk,Again,traffic,-1,police,,",
    ",,,,,,",
)


def csv_bytes(*rows: str, header: str = HEADER, end: str = "\n") -> bytes:
    return (end.join((header, *rows)) + end).encode()


# name -> (file name, file bytes, whether the fast reader takes it)
CASES: dict[str, tuple[str, bytes, bool]] = {
    "normal": ("c.csv", csv_bytes(*ROWS), True),
    "bad values": ("c.csv", csv_bytes(*ROWS, *BAD_ROWS), True),
    "no final newline": ("c.csv", csv_bytes(*ROWS).rstrip(b"\n"), True),
    "crlf": ("c.csv", csv_bytes(*ROWS, *BAD_ROWS, end="\r\n"), True),
    "cr": ("c.csv", csv_bytes(*ROWS, end="\r"), True),
    "bom": ("c.csv", b"\xef\xbb\xbf" + csv_bytes(*ROWS, *BAD_ROWS), True),
    "gzip": ("c.csv.gz", gzip.compress(csv_bytes(*ROWS, *BAD_ROWS)), True),
    "gzip crlf bom": (
        "c.csv.gz",
        gzip.compress(b"\xef\xbb\xbf" + csv_bytes(*ROWS, end="\r\n")),
        True,
    ),
    "header only": ("c.csv", csv_bytes(), True),
    "header only, no newline": ("c.csv", HEADER.encode(), True),
    "repeated column": (
        "c.csv",
        csv_bytes("a,b,traffic,1,police,,", header=HEADER[:-14] + "code"),
        True,
    ),
    "few columns": (
        "c.csv",
        csv_bytes("a,traffic,1,police", header="code,category,points,institutions"),
        True,
    ),
    "blank line": ("c.csv", csv_bytes(ROWS[0], "", *BAD_ROWS), False),
    "blank line at the end": ("c.csv", csv_bytes(*ROWS) + b"\n", False),
    "line of spaces": ("c.csv", csv_bytes(ROWS[0], "   ", *BAD_ROWS), False),
    "quoted newline": (
        "c.csv",
        csv_bytes(ROWS[0], 'n,"two\nlines",charity,1,police,,', *BAD_ROWS),
        False,
    ),
    "quoted crlf": (
        "c.csv",
        csv_bytes(ROWS[0], 'n,"two\r\nlines",charity,1,police,,', end="\r\n"),
        False,
    ),
    "too many fields": (
        "c.csv",
        csv_bytes(ROWS[0], "x,X,traffic,1,police,,,extra", *BAD_ROWS),
        False,
    ),
    "too few fields": ("c.csv", csv_bytes(ROWS[0], "x,X,traffic", *BAD_ROWS), False),
    "quote inside a field": ("c.csv", csv_bytes(ROWS[0], 'x,5" nails,traffic,1,police,,'), False),
    "text after a quote": ("c.csv", csv_bytes(ROWS[0], 'x,"a"b,traffic,1,police,,'), False),
    "unclosed quote": ("c.csv", csv_bytes(ROWS[0], 'x,X,traffic,1,police,,"open'), False),
    "unknown column": (
        "c.csv",
        csv_bytes("a,traffic,1,police,red", header="code,category,points,institutions,colour"),
        True,
    ),
    "missing column": (
        "c.csv",
        csv_bytes("a,traffic,police", header="code,category,institutions"),
        True,
    ),
    "empty file": ("c.csv", b"", False),
    "one column": ("c.csv", b"code\na\n  \nb\n", False),
}


def body_of(name: str, data: bytes) -> bytes:
    """What the fast reader is given: the CSV bytes, unzipped, without a BOM."""
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.removeprefix(b"\xef\xbb\xbf")


def both_ways(name: str, data: bytes) -> tuple[pa.Table | None, list[Problem]]:
    """The catalogue read fast and exactly; fails unless both give the same table and problems."""
    path = Path(name)
    fast, fast_problems = read_catalogue(path, data)
    exact, exact_problems = read_catalogue(path, data, fast=False)
    assert fast_problems == exact_problems
    if exact is None:
        assert fast is None
        return None, exact_problems
    assert fast is not None
    assert fast.schema == exact.schema
    assert fast.to_pylist() == exact.to_pylist()
    assert fast.equals(exact)
    assert check_catalogue(path, fast, SPEC, YAML_CODES) == check_catalogue(
        path, exact, SPEC, YAML_CODES
    )
    return exact, exact_problems


@pytest.mark.parametrize("case", list(CASES))
def test_fast_and_exact_readers_agree(case: str) -> None:
    name, data, takes_fast = CASES[case]
    both_ways(name, data)
    assert (read_csv_arrow(body_of(name, data)) is not None) is takes_fast


def test_lines_are_the_files_lines_on_both_paths() -> None:
    # Fast: rows are lines 2, 3, ...; exact: a quoted newline counts too.
    table, _ = both_ways(*CASES["bad values"][:2])
    assert table is not None
    assert table.column("line").to_pylist() == list(range(2, 2 + len(ROWS) + len(BAD_ROWS)))
    table, problems = both_ways(*CASES["quoted newline"][:2])
    assert table is not None
    # ROWS[0] on line 2, the quoted newline's row on lines 3-4, then BAD_ROWS
    assert table.column("line").to_pylist() == [2, 3, *range(5, 5 + len(BAD_ROWS))]
    table, problems = both_ways(*CASES["too many fields"][:2])
    assert [(p.line, p.reason) for p in problems] == [(3, "expected 7 fields, found 8")]


def test_cells_are_trimmed_and_empty_ones_null() -> None:
    table, _ = both_ways(*CASES["normal"][:2])
    assert table is not None
    rows = table.to_pylist()
    assert rows[1]["name"] == "Gives money, monthly"
    assert rows[2]["name"] == 'Says "hello"'
    assert rows[2]["institutions"] == "police ; hotline"
    assert (rows[3]["code"], rows[3]["name"], rows[3]["points"]) == ("padded", None, "-1")
    assert rows[0]["per_unit"] is None  # a column the file does not have


def test_bad_values_are_reported_with_their_lines() -> None:
    # The same problems, in the same order, as before the fast reader existed.
    table, _ = both_ways(*CASES["crlf"][:2])
    assert table is not None
    problems = check_catalogue(Path("c.csv"), table, SPEC, YAML_CODES)
    assert [(p.line, p.field, p.reason) for p in problems] == [
        (10, "code", "required"),
        (10, "category", "required"),
        (7, "category", "unknown category 'nocat'"),
        (10, "points", "required"),
        (6, "points", "not a whole number from -100000 to 100000: 'abc'"),
        (10, "institutions", "required: at least one institution"),
        (7, "institutions", "unknown institution 'nobody'"),
        (7, "min_confidence", "not a number above 0 and at most 1: '2'"),
        (7, "tags", "not a code (letters, digits, _ . : -): 'bad tag'"),
        (8, "code", "parameter 'blood' is already defined at rulebook.yaml:15"),
        (9, "code", "parameter 'jaywalk' is already defined at c.csv:2"),
    ]


def test_fast_reader_gives_what_the_csv_module_reads() -> None:
    data = csv_bytes(*ROWS, *BAD_ROWS, end="\r\n")
    fast = read_csv_arrow(data)
    exact, problems = read_csv_columns(io.StringIO(data.decode(), newline=""), "c.csv")
    assert fast is not None and exact is not None and not problems
    assert fast.header == exact.header
    assert {k: v.to_pylist() for k, v in fast.columns.items()} == exact.columns
    assert fast.lines.to_pylist() == exact.lines


def test_a_field_over_the_csv_modules_limit_is_left_to_it() -> None:
    limit = csv.field_size_limit()
    data = csv_bytes(ROWS[0], "x,X,traffic,1,police,," + "t" * (limit + 1))
    assert read_csv_arrow(data) is None
    _, problems = both_ways("c.csv", data)
    assert [(p.line, p.reason) for p in problems] == [
        (3, f"not valid CSV: field larger than field limit ({limit})")
    ]


# Fields from an alphabet rich in what CSV treats specially, written by csv.writer with
# every quoting and line ending (mostly one row a line: the fast path), and raw text
# (mostly not: the exact path).
FIELD = st.text(alphabet='ab ,;"\t\r\n-1é', max_size=6)
ROW = st.lists(FIELD, min_size=4, max_size=4) | st.lists(FIELD, min_size=0, max_size=6)
QUOTING = st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])


def written(rows: list[list[str]], quoting: int, end: str) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, quoting=quoting, lineterminator=end)
    writer.writerow(["code", "category", "points", "institutions"])
    writer.writerows(rows)
    return out.getvalue().encode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    rows=st.lists(ROW, max_size=6),
    quoting=QUOTING,
    end=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_any_written_csv_reads_the_same_both_ways(
    rows: list[list[str]], quoting: int, end: str, bom: bool
) -> None:
    data = written(rows, quoting, end)
    both_ways("c.csv", b"\xef\xbb\xbf" + data if bom else data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(body=st.text(alphabet='ab,;"\r\n ', max_size=40))
def test_any_text_reads_the_same_both_ways(body: str) -> None:
    both_ways("c.csv", ("code,category,points,institutions\n" + body).encode())


def test_seed_is_read_fast_and_the_same_as_exactly() -> None:
    path = SEED.parent / "seed-catalogue.csv.gz"
    data = path.read_bytes()
    assert read_csv_arrow(body_of(path.name, data)) is not None
    fast, fast_problems = read_catalogue(path, data)
    exact, exact_problems = read_catalogue(path, data, fast=False)
    assert fast is not None and exact is not None
    assert fast.num_rows == 159_625 and fast.equals(exact)
    assert fast_problems == exact_problems == []


def test_seed_hash_is_unchanged() -> None:
    assert load_rulebook(SEED).hash == SEED_HASH
