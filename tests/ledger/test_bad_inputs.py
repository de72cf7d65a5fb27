"""Bad input, found by trying (issue 11): every case is refused with words that say what
was wrong and where, in every format that can carry it, and nothing is stored.

Batches are files (CSV, NDJSON, Parquet) read by ``ingest_file`` into the ``store``
fixture (tests/conftest.py: the tiny rulebook, citizens C1..C9, organisations O1, O2);
each bad row follows a good one, so the good row proves one bad row stops the batch.
Subjects go through ``read_subjects_file`` and ``register_subjects``, and the commands
through the CLI. The limits are those of ``socialrating.ledger.limits``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import TINY
from tests.ledger.test_ingest import GOOD, entries, only, rejected, write
from tests.test_cli import cli, ok

from socialrating.errors import BatchRejected, Problem
from socialrating.ledger import Store, ingest_file, register_subjects
from socialrating.ledger import readers as readers_module
from socialrating.ledger.limits import MAX_FIELD_CHARS, MAX_LINE_CHARS, printable
from socialrating.ledger.subjects import read_subjects_file

FORMATS = ["csv", "ndjson", "parquet"]


def subjects(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM subjects"))


def subjects_rejected(store: Store, path: Path) -> list[Problem]:
    """The problems of a subjects file that must register nobody."""
    before = subjects(store)
    with pytest.raises(BatchRejected) as info:
        register_subjects(store, read_subjects_file(path, refuse_others=True), str(path))
    assert subjects(store) == before
    assert all(p.source == str(path) for p in info.value.problems)
    return info.value.problems


def seen(problems: list[Problem]) -> list[tuple[int | None, str, str]]:
    return [(p.line, p.field, p.reason) for p in problems]


# --- a citizen report whose reporter is its subject ---------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_citizen_cannot_report_itself(store: Store, tmp_path: Path, fmt: str) -> None:
    # A citizen report names its reporter as the counterpart (docs/rulebook.md, 3.4).
    rows = [
        {"key": "r1", "subject": "C1", "parameter": "rumour", "date": "2021-02-01", "counterpart": "C2"},
        {"key": "r2", "subject": "C3", "parameter": "rumour", "date": "2021-02-01", "counterpart": "C3"},
    ]  # fmt: skip
    p = only(rejected(store, write(tmp_path, fmt, rows), "hotline"))
    assert (p.line, p.field) == (3 if fmt == "csv" else 2, "counterpart")
    assert (
        p.reason == "the reporter 'C3' is the subject of the report: a citizen cannot report itself"
    )
    # from a state institution, a counterpart is a contact or a representative: not a report
    police = [{**rows[1], "parameter": "red_light", "key": "p1"}]
    assert ingest_file(store, write(tmp_path, fmt, police, "police"), "police").stored == 1


# --- lone surrogates and other JSON that is not text --------------------------------------


def test_ndjson_with_a_lone_surrogate(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.ndjson"
    lines = [
        json.dumps(GOOD[0]),
        '{"key": "s2", "subject": "C1", "parameter": "blood", "date": "2021-02-01", '
        '"evidence": "photo \\ud800"}',
        '{"key": "\\udfff", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}',
        '{"key": "s4", "\\ud800": 1, "subject": "C1", "parameter": "blood", "date": "2021-02-01"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert seen(rejected(store, path)) == [
        (2, "evidence", "not Unicode text: a lone surrogate \\ud800 at character 7 of 'photo \\ud800'"),
        (3, "key", "not Unicode text: a lone surrogate \\udfff at character 1 of '\\udfff'"),
        (4, "\\ud800", "unknown column '\\ud800' (known: key, subject, parameter, date, quantity, "
         "severity, confidence, counterpart, evidence, kind, refers_to, act, level)"),
    ]  # fmt: skip


def test_ndjson_numbers_json_cannot_hold_and_nesting_too_deep(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.ndjson"
    path.write_text(
        json.dumps(GOOD[0]) + "\n" + '{"key": "n2", "quantity": 1' + "0" * 5000 + "}\n"
        + "[" * 100_000 + "\n",
        encoding="utf-8",
    )  # fmt: skip
    problems = rejected(store, path)
    assert [(p.line, p.field) for p in problems] == [(2, ""), (3, "")]
    assert problems[0].reason.startswith("not valid JSON: Exceeds the limit (4300 digits)")
    assert problems[1].reason == "not valid JSON: nested too deeply"


@pytest.mark.parametrize("chunk", [2, 65_536])
def test_ndjson_read_in_chunks_says_what_one_chunk_says(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Lines are parsed a chunk at a time (``readers.parse_records``): an unknown column
    is named once, at its first line, whichever chunk it is in; blank lines are skipped
    wherever they fall; an integer past 64 bits stays exact."""
    monkeypatch.setattr(readers_module, "CHUNK_ROWS", chunk)
    path = tmp_path / "batch.ndjson"
    base = '"subject": "C1", "parameter": "blood", "date": "2021-02-01"'
    lines = [
        json.dumps(GOOD[0]),
        f'{{"key": "c2", {base}, "colour": "red"}}',
        "   ",
        '{"key": "c4",',
        f'{{"key": "c5", {base}, "colour": "blue", "size": 1}}',
        "[1]",
        f'{{"key": "c7", {base}, "quantity": 18446744073709551616}}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    known = "(known: " + ", ".join(readers_module.COLUMNS) + ")"
    assert seen(rejected(store, path)) == [
        (2, "colour", f"unknown column 'colour' {known}"),
        (4, "", "not valid JSON: Expecting property name enclosed in double quotes (column 1)"),
        (5, "size", f"unknown column 'size' {known}"),
        (6, "", "each line must be a JSON object"),
        (7, "quantity", "must be at most 1,000,000,000: 18446744073709551616"),  # not 1.8e19
    ]
    problems: list[Problem] = []
    records, numbers = readers_module.parse_records("f", list(enumerate(lines, 1)), problems)
    assert numbers == [1, 2, 5, 7] and records[-1]["quantity"] == 2**64


# --- Parquet dates and timestamps out of range --------------------------------------------


def days(n: int) -> pa.Array:
    return pa.array([n], pa.int32()).cast(pa.date32())


def micros(n: int, unit: str = "us", tz: str | None = None) -> pa.Array:
    return pa.array([n], pa.int64()).cast(pa.timestamp(unit, tz))


OUT_OF_RANGE = [
    ("date-max", days(2**31 - 1), "is in the future: infinity"),
    ("date-min", days(-(2**31)), "is before 1900-01-01: 5877642-06-23 (BC)"),
    ("date-year-1", pa.array([dt.date(1, 1, 1)]), "is before 1900-01-01: 0001-01-01"),
    ("date-1899", pa.array([dt.date(1899, 12, 31)]), "is before 1900-01-01: 1899-12-31"),
    ("date-2201", pa.array([dt.date(2201, 1, 1)]), "is in the future: 2201-01-01"),
    ("timestamp-late", micros(2**62), "is in the future: 148108-07-06"),
    ("timestamp-early", micros(-(2**62), "us", "UTC"), "is before 1900-01-01: 144170-06-28 (BC)"),
    ("timestamp-ns-1823", micros(-(2**62), "ns"), "is before 1900-01-01: 1823-11-12"),
]


@pytest.mark.parametrize(
    ("column", "says"), [c[1:] for c in OUT_OF_RANGE], ids=[c[0] for c in OUT_OF_RANGE]
)
@pytest.mark.parametrize("path_taken", ["fast", "exact"])
def test_parquet_dates_out_of_range(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    column: pa.Array,
    says: str,
    path_taken: str,
) -> None:
    if path_taken == "exact":
        monkeypatch.setattr(readers_module, "_stage_parquet_fast", lambda *_args: False)
    path = tmp_path / "batch.parquet"
    good = pa.array([dt.date(2021, 2, 1)]).cast(column.type)
    table = pa.table(
        {
            "key": ["k1", "k2"],
            "subject": ["C1", "C1"],
            "parameter": ["blood", "blood"],
            "date": pa.concat_arrays([good, column]),
        }
    )
    pq.write_table(table, path)
    p = only(rejected(store, path))
    assert (p.line, p.field, p.reason) == (2, "date", says)


def test_a_parquet_timestamp_out_of_range_in_another_column_is_read(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "batch.parquet"
    pq.write_table(
        pa.table({**{k: [v] for k, v in GOOD[0].items()}, "evidence": micros(2**62)}), path
    )
    assert ingest_file(store, path, "police").stored == 1


# --- nested values: Parquet lists, NDJSON lists and objects ---------------------------------


def test_a_parquet_list_column_in_a_batch(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    table = pa.table(
        {
            "key": ["k1", "k2"],
            "subject": ["C1", "C2"],
            "parameter": ["blood", "blood"],
            "date": ["2021-02-01", "2021-02-01"],
            "evidence": pa.array([["a"], ["b", "c"]]),
        }
    )
    pq.write_table(table, path)
    p = only(rejected(store, path))
    assert (p.line, p.field) == (None, "evidence")
    assert p.reason == "must hold single values (text, numbers, dates), not list<element: string>"


@pytest.mark.parametrize(
    ("column", "says"),
    [
        (pa.array([["north"], ["south", "east"]]), "list<element: string>"),
        (pa.array([{"a": 1}, {"a": 2}]), "struct<a: int64>"),
    ],
    ids=["list", "struct"],
)
def test_a_parquet_list_column_in_subjects_import(
    store: Store, tmp_path: Path, column: pa.Array, says: str
) -> None:
    path = tmp_path / "people.parquet"
    pq.write_table(
        pa.table({"code": ["L1", "L2"], "kind": ["citizen"] * 2, "region": column}), path
    )
    assert seen(subjects_rejected(store, path)) == [
        (None, "region", f"must hold single values (text or dates), not {says}")
    ]
    result = cli("subjects", "import", str(path), "--db", store.path)
    assert result.exit_code == 1 and "region: must hold single values" in result.stderr


# --- keys that are not strings -----------------------------------------------------------


def test_ndjson_keys_that_are_not_strings(store: Store, tmp_path: Path) -> None:
    rest = {"subject": "C1", "parameter": "blood", "date": "2021-02-01"}
    rows = [GOOD[0], {"key": 5, **rest}, {"key": 5.0, **rest}, {"key": True, **rest},
            {"key": [1], **rest}, {"key": {"a": 1}, **rest}]  # fmt: skip
    assert seen(rejected(store, write(tmp_path, "ndjson", rows))) == [
        (2, "key", "must be a string (text in quotes), not 5"),
        (3, "key", "must be a string (text in quotes), not 5.0"),
        (4, "key", "must be a string (text in quotes), not true"),
        (5, "key", "must be a single value, not [1]"),  # not also "missing"
        (6, "key", "must be a single value, not {'a': 1}"),
    ]


@pytest.mark.parametrize("typ", [pa.int64(), pa.float64(), pa.binary()])
def test_a_parquet_key_column_that_is_not_text(store: Store, tmp_path: Path, typ: Any) -> None:
    path = tmp_path / "batch.parquet"
    keys = pa.array([b"1"] if typ == pa.binary() else [1], typ)
    pq.write_table(
        pa.table({"key": keys, **{k: [v] for k, v in GOOD[0].items() if k != "key"}}), path
    )
    p = only(rejected(store, path))
    assert (p.line, p.field) == (None, "key")
    assert p.reason == f"must be a text column (an idempotency key is text), not {typ}"


# --- control characters in keys and codes ------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("key", "k\x00", "'k\\x00'"),
        ("key", "k\x1b[31m", "'k\\x1b[31m'"),
        ("subject", "C\x001", "'C\\x001'"),
        ("parameter", "blood\x7f", "'blood\\x7f'"),
        ("counterpart", "C\x852", "'C\\x852'"),
    ],
    ids=["nul-key", "escape-key", "nul-subject", "del-parameter", "c1-counterpart"],
)
def test_control_characters_in_keys_and_codes(
    store: Store, tmp_path: Path, fmt: str, field: str, value: str, shown: str
) -> None:
    rows = [GOOD[0], {"key": "k2", "subject": "C2", "parameter": "blood", "date": "2021-02-01"}]
    rows[1][field] = value
    if fmt == "csv":  # a field with a control character, quoted
        path = tmp_path / "batch.csv"
        path.write_text(
            "key,subject,parameter,date,counterpart\n"
            + "\n".join(
                ",".join(
                    f'"{r.get(c, "")}"'
                    for c in ("key", "subject", "parameter", "date", "counterpart")
                )
                for r in rows
            )
            + "\n",
            encoding="utf-8",
        )
    else:
        path = write(tmp_path, fmt, rows)
    problems = rejected(store, path)
    line = 3 if fmt == "csv" else 2
    assert (line, field, f"must not contain control characters: {shown}") in seen(problems)
    assert all(p.line == line and p.field == field for p in problems)  # and the code is unknown
    assert all("\x00" not in str(p) and "\x1b" not in str(p) for p in problems)


def test_evidence_may_hold_tabs_and_line_breaks_but_no_other_control(
    store: Store, tmp_path: Path
) -> None:
    rows = [{**GOOD[0], "evidence": "desk 4\tfile 2\r\nsecond line"}]
    assert ingest_file(store, write(tmp_path, "ndjson", rows, "good"), "police").stored == 1
    bad = [{**GOOD[1], "evidence": "bell \x07"}]
    p = only(rejected(store, write(tmp_path, "ndjson", bad)))
    assert (p.line, p.field) == (1, "evidence")
    assert (
        p.reason
        == "must not contain control characters other than tab and line breaks: 'bell \\x07'"
    )


def test_control_characters_in_subject_codes(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        'code,kind,region\nN1,citizen,"North\ndistrict"\n"N\x002",citizen,\nN3,citizen,"a\x0bb"\n',
        encoding="utf-8",
    )
    assert seen(subjects_rejected(store, path)) == [
        (4, "code", "must not contain control characters: 'N\\x002'"),
        (
            5,
            "region",
            "must not contain control characters other than tab and line breaks: 'a\\x0bb'",
        ),
    ]
    parquet = tmp_path / "people.parquet"
    pq.write_table(pa.table({"code": ["P1", "P\x1f"], "kind": ["citizen"] * 2}), parquet)
    assert seen(subjects_rejected(store, parquet)) == [
        (2, "code", "must not contain control characters: 'P\\x1f'")
    ]


# --- dates before 1900 or after 2200 -----------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("date", "says"),
    [
        ("1899-12-31", "is before 1900-01-01: 1899-12-31"),
        ("0001-01-01", "is before 1900-01-01: 0001-01-01"),
        ("2201-01-01", "is in the future: 2201-01-01"),
        ("9999-12-31", "is in the future: 9999-12-31"),
    ],
)
def test_record_dates_run_from_1900_to_today(
    store: Store, tmp_path: Path, fmt: str, date: str, says: str
) -> None:
    rows = [GOOD[0], {**GOOD[1], "date": date}]
    p = only(rejected(store, write(tmp_path, fmt, rows)))
    assert (p.field, p.reason) == ("date", says)
    first = [{**GOOD[0], "date": "1900-01-01"}]
    assert ingest_file(store, write(tmp_path, fmt, first, "first"), "police").stored == 1


@pytest.mark.parametrize(
    ("born", "says"),
    [
        ("1899-12-31", "before 1900-01-01: 1899-12-31"),
        ("0001-01-01", "before 1900-01-01: 0001-01-01"),
        ("2201-01-01", "in the future: 2201-01-01"),
    ],
)
def test_birth_dates_run_from_1900_to_today(
    store: Store, tmp_path: Path, born: str, says: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(f"code,kind,born\nN1,citizen,1900-01-01\nN2,citizen,{born}\n")
    assert seen(subjects_rejected(store, path)) == [(3, "born", says)]


@pytest.mark.parametrize(
    ("column", "says"),
    [
        (days(2**31 - 1), "in the future: infinity"),
        (days(-(2**31)), "before 1900-01-01: 5877642-06-23 (BC)"),
        (micros(2**62), "in the future: 148108-07-06"),
        (pa.array([dt.date(1850, 1, 1)]), "before 1900-01-01: 1850-01-01"),
    ],
    ids=["date-max", "date-min", "timestamp-late", "date-1850"],
)
def test_parquet_birth_dates_out_of_range(
    store: Store, tmp_path: Path, column: pa.Array, says: str
) -> None:
    path = tmp_path / "people.parquet"
    good = pa.array([dt.date(1980, 5, 1)]).cast(column.type)
    table = pa.table(
        {"code": ["N1", "N2"], "kind": ["citizen"] * 2, "born": pa.concat_arrays([good, column])}
    )
    pq.write_table(table, path)
    assert seen(subjects_rejected(store, path)) == [(2, "born", says)]


def test_a_parquet_birth_timestamp_is_its_day(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "people.parquet"
    born = pa.array([dt.datetime(1980, 5, 1, 23, 30)], pa.timestamp("ms"))
    pq.write_table(pa.table({"code": ["N1"], "kind": ["citizen"], "born": born}), path)
    assert register_subjects(store, read_subjects_file(path), str(path)) == 1
    assert str(store.scalar("SELECT born FROM subjects WHERE code = 'N1'")) == "1980-05-01"


# --- fields over the size limit, in every format -----------------------------------------

LONG = "x" * (MAX_FIELD_CHARS + 1)
TOO_LONG = (
    f"longer than {MAX_FIELD_CHARS:,} characters (the limit for any field): "
    f"{MAX_FIELD_CHARS + 1:,} characters"
)


@pytest.mark.parametrize("fmt", ["ndjson", "parquet"])
@pytest.mark.parametrize("field", ["evidence", "key", "subject", "act"])
def test_a_field_over_the_limit(store: Store, tmp_path: Path, fmt: str, field: str) -> None:
    rows = [GOOD[0], {**GOOD[1], field: LONG}]
    problems = rejected(store, write(tmp_path, fmt, rows))
    assert (2, field, TOO_LONG) in seen(problems)
    # other problems of the same value (an unknown subject, not an act id) show it cut short
    assert all(len(p.reason) < 300 for p in problems)


@pytest.mark.parametrize("fmt", ["ndjson", "parquet"])
def test_a_field_at_the_limit_is_stored(store: Store, tmp_path: Path, fmt: str) -> None:
    rows = [{**GOOD[0], "evidence": "é" * MAX_FIELD_CHARS}]  # characters, not bytes
    assert ingest_file(store, write(tmp_path, fmt, rows), "police").stored == 1


def test_a_csv_field_over_the_limit(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(
        f"key,subject,parameter,date,evidence\nk1,C1,blood,2021-02-01,\nk2,C1,blood,2021-02-01,{LONG}\n"
    )
    p = only(rejected(store, path))
    assert (p.line, p.reason) == (
        3,
        f"not valid CSV: field larger than field limit ({MAX_FIELD_CHARS})",
    )


def test_an_ndjson_line_over_the_limit_is_not_read(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.ndjson"
    huge = json.dumps({**GOOD[1], "evidence": "x" * MAX_LINE_CHARS})
    path.write_text(json.dumps(GOOD[0]) + "\n" + huge + "\n" + json.dumps(GOOD[2]) + "\n")
    p = only(rejected(store, path))
    assert (p.line, p.field, p.reason) == (
        2,
        "",
        f"longer than {MAX_LINE_CHARS:,} characters: not read",
    )


def test_subject_fields_over_the_limit(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "people.parquet"
    pq.write_table(
        pa.table({"code": ["N1", "N2"], "kind": ["citizen"] * 2, "region": ["a", LONG]}), path
    )
    assert seen(subjects_rejected(store, path)) == [(2, "region", TOO_LONG)]
    csv = tmp_path / "people.csv"
    csv.write_text(f"code,kind\nN1,citizen\n{LONG},citizen\n")
    with pytest.raises(BatchRejected, match="field larger than field limit"):
        read_subjects_file(csv)


# --- a directory passed as a file ----------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_directory_given_to_ingest(store: Store, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"batch.{fmt}"
    path.mkdir()
    p = only(rejected(store, path))
    assert (p.line, p.field, p.reason) == (None, "", "is a directory, not a batch file")


@pytest.mark.parametrize("name", ["people.csv", "people.parquet"])
def test_a_directory_given_to_subjects_import(tmp_path: Path, name: str) -> None:
    db = str(tmp_path / "d.duckdb")
    ok("init", "--db", db, "--rulebook", str(TINY))
    (tmp_path / name).mkdir()
    result = cli("subjects", "import", str(tmp_path / name), "--db", db)
    assert result.exit_code == 1
    assert f"{tmp_path / name}: is a directory, not a file of subjects" in result.stderr


def test_a_directory_given_as_a_rulebook(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.mkdir()
    for args in (
        ("rulebook", "check", str(path)),
        ("init", "--db", str(tmp_path / "r.duckdb"), "--rulebook", str(path)),
    ):
        result = cli(*args)
        assert result.exit_code == 1, args
        assert f"{path}: [Errno 21] Is a directory" in result.stderr, result.stderr
    assert not (tmp_path / "r.duckdb").exists() or "activated" not in result.stdout


def test_a_directory_given_to_the_ingest_command(tmp_path: Path) -> None:
    db = str(tmp_path / "d.duckdb")
    ok("init", "--db", db, "--rulebook", str(TINY))
    (tmp_path / "b.csv").mkdir()
    result = cli("ingest", str(tmp_path / "b.csv"), "--institution", "police", "--db", db)
    assert result.exit_code == 1
    assert f"{tmp_path / 'b.csv'}: is a directory, not a batch file" in result.stderr


# --- unknown extra columns: refused, in every format -----------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_columns_are_refused_with_their_names(
    store: Store, tmp_path: Path, fmt: str
) -> None:
    rows = [
        {**GOOD[0], "colour": "red", "notes": "x"},
        {**GOOD[0], "key": "k2", "colour": "", "notes": ""},
    ]
    path = tmp_path / f"batch.{fmt}"
    if fmt == "csv":  # the writers of tests/ledger/test_ingest.py keep to known columns
        names = list(rows[0])
        path.write_text(
            "\n".join(
                [",".join(names)] + [",".join(str(r.get(c, "")) for c in names) for r in rows]
            )
        )
    elif fmt == "parquet":
        names = list(rows[0])
        pq.write_table(pa.table({c: [str(r.get(c, "")) for r in rows] for c in names}), path)
    else:
        write(tmp_path, fmt, rows)
    problems = rejected(store, path)
    assert sorted(p.field for p in problems) == ["colour", "notes"]
    assert all(p.reason.startswith(f"unknown column '{p.field}' (known: key,") for p in problems)


def test_unknown_columns_in_subjects_import_are_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("code,kind,brn\nN1,citizen,1980-01-01\n")
    assert seen(subjects_rejected(store, path)) == [
        (1, "brn", "unknown column 'brn' (known: code, kind, born, sex, region)")
    ]
    result = cli("subjects", "import", str(path), "--db", store.path)
    assert result.exit_code == 1 and "unknown column 'brn'" in result.stderr
    parquet = tmp_path / "people.parquet"
    pq.write_table(pa.table({"code": ["N1"], "kind": ["citizen"], "id": [1]}), parquet)
    assert seen(subjects_rejected(store, parquet)) == [
        (None, "id", "unknown column 'id' (known: code, kind, born, sex, region)")
    ]


# --- what is shown of a bad value ----------------------------------------------------------


def test_printable_escapes_and_cuts() -> None:
    assert printable("a\x00b\x9f\ud800") == "a\\x00b\\x9f\\ud800"
    assert printable("x" * 100, 5) == "xxxxx…"
    assert printable("plain é 👍") == "plain é 👍"


def test_parquet_of_other_types_still_reads(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    pq.write_table(
        pa.table(
            {**{k: [v] for k, v in GOOD[0].items()}, "evidence": pa.array([decimal.Decimal("2.5")])}
        ),
        path,
    )
    assert ingest_file(store, path, "police").stored == 1
    assert entries(store) >= 2
