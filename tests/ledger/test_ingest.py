"""Ingesting batch files: good rows are stored once, and a bad batch stores nothing.

Every batch here is a real file (CSV, NDJSON or Parquet) written to tmp_path and read by
``ingest_file``. Most malformed batches have a good row on line 2 and the bad one on line
3, so the expected line is the one an editor shows, and the good row proves that one bad
row stops the whole batch.

The ``store`` fixture (tests/conftest.py) holds the tiny rulebook's activation as entry 1
and subjects C1..C9 (citizens), O1, O2 (organisations).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialrating.errors import BatchRejected, LedgerError, Problem
from socialrating.ledger import Store, ingest_file
from socialrating.ledger.readers import COLUMNS

Row = dict[str, Any]

# --- writing batch files ------------------------------------------------------------------


def write_csv(path: Path, rows: list[Row]) -> Path:
    header = [c for c in COLUMNS if any(c in r for r in rows)]
    lines = [",".join(header)] + [",".join(str(r.get(c, "")) for c in header) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_ndjson(path: Path, rows: list[Row]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[Row]) -> Path:
    """Parquet with typed columns: dates as dates, numbers as numbers."""
    types: dict[str, tuple[pa.DataType, Any]] = {
        "date": (pa.date32(), dt.date.fromisoformat),
        "quantity": (pa.float64(), float),
        "confidence": (pa.float64(), float),
        "severity": (pa.int16(), int),
        "refers_to": (pa.int64(), int),
    }
    data = {}
    for col in (c for c in COLUMNS if any(c in r for r in rows)):
        typ, parse = types.get(col, (pa.string(), str))
        data[col] = pa.array([None if r.get(col) is None else parse(r[col]) for r in rows], typ)
    pq.write_table(pa.table(data), path)
    return path


WRITERS = {"csv": write_csv, "ndjson": write_ndjson, "parquet": write_parquet}


def write(tmp_path: Path, fmt: str, rows: list[Row], name: str = "batch") -> Path:
    return WRITERS[fmt](tmp_path / f"{name}.{fmt}", rows)


def entries(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM entries"))


def rejected(store: Store, path: Path, institution: str = "police") -> list[Problem]:
    """The problems of a batch that must be rejected whole; checks that nothing was stored."""
    before = (entries(store), store.scalar("SELECT count(*) FROM batches"))
    with pytest.raises(BatchRejected) as info:
        ingest_file(store, path, institution)
    assert (entries(store), store.scalar("SELECT count(*) FROM batches")) == before
    assert f"{len(info.value.problems)} problem(s); nothing from this batch was stored" in str(
        info.value
    )
    assert all(p.source == str(path) for p in info.value.problems)
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


def stored_rows(store: Store) -> list[tuple[Any, ...]]:
    """The records after the activation: (key, subject, parameter, date, quantity, confidence)."""
    return store.rows(
        """SELECT e.idem_key, s.code, p.code, DATE '1970-01-01' + e.day, e.quantity, e.confidence
           FROM entries e LEFT JOIN subjects s USING (subject_id)
           LEFT JOIN parameters p USING (parameter_id)
           WHERE e.kind = 1 ORDER BY e.entry_id"""
    )


GOOD: list[Row] = [
    {"key": "k1", "subject": "C1", "parameter": "blood", "date": "2021-02-01"},
    {
        "key": "k2",
        "subject": "C2",
        "parameter": "volunteer_hours",
        "date": "2021-02-02",
        "quantity": "2.5",
    },
    {"key": "k3", "subject": "O1", "parameter": "litter", "date": "2021-02-03", "severity": "2"},
]
GOOD_STORED = [
    ("k1", "C1", "blood", dt.date(2021, 2, 1), None, None),
    ("k2", "C2", "volunteer_hours", dt.date(2021, 2, 2), 2.5, None),
    ("k3", "O1", "litter", dt.date(2021, 2, 3), None, None),
]


# --- good batches -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_batch_stores_its_rows(store: Store, tmp_path: Path, fmt: str) -> None:
    result = ingest_file(store, write(tmp_path, fmt, GOOD), "police")
    assert (result.rows, result.stored, result.duplicates) == (3, 3, 0)
    assert result.batch is not None
    # Batches 1 to 6 hold the rulebook's activation and the digests of the registries, of
    # its compiled tables and of its kept spec; entry 1 is the activation.
    assert (result.batch.batch_id, result.batch.first_entry, result.batch.last_entry) == (7, 2, 4)
    assert stored_rows(store) == GOOD_STORED
    assert store.rows(
        "SELECT DISTINCT i.code FROM entries e JOIN institutions i USING "
        "(institution_id) WHERE e.kind = 1"
    ) == [("police",)]
    assert store.rows("SELECT severity FROM entries WHERE idem_key = 'k3'") == [(2,)]


@pytest.mark.parametrize("first", ["csv", "ndjson", "parquet"])
@pytest.mark.parametrize("again", ["csv", "ndjson", "parquet"])
def test_same_records_resent_in_any_format_store_nothing(
    store: Store, tmp_path: Path, first: str, again: str
) -> None:
    ingest_file(store, write(tmp_path, first, GOOD, "first"), "police")
    result = ingest_file(store, write(tmp_path, again, GOOD, "again"), "police")
    assert (result.rows, result.stored, result.duplicates, result.batch) == (3, 0, 3, None)
    assert entries(store) == 4
    assert result.as_dict()["batch_id"] is None


def test_resent_batch_with_new_rows_stores_only_the_new(store: Store, tmp_path: Path) -> None:
    ingest_file(store, write(tmp_path, "csv", GOOD[:2], "first"), "police")
    result = ingest_file(store, write(tmp_path, "csv", GOOD, "again"), "police")
    assert (result.stored, result.duplicates) == (1, 2)
    assert result.batch is not None and result.batch.first_entry == result.batch.last_entry == 4
    assert stored_rows(store) == GOOD_STORED


def test_same_key_from_another_institution_is_another_record(store: Store, tmp_path: Path) -> None:
    row = {"key": "k1", "subject": "C1", "parameter": "red_light", "date": "2021-02-01"}
    ingest_file(store, write(tmp_path, "csv", [row], "police"), "police")
    result = ingest_file(
        store, write(tmp_path, "csv", [{**row, "confidence": "0.97"}], "cams"), "cams"
    )
    assert result.stored == 1
    assert entries(store) == 3


def test_key_resent_with_different_content_names_the_earlier_entry(
    store: Store, tmp_path: Path
) -> None:
    ingest_file(store, write(tmp_path, "csv", GOOD, "first"), "police")
    changed = [GOOD[0], {**GOOD[1], "quantity": "3"}]
    p = only(rejected(store, write(tmp_path, "ndjson", changed, "again")))
    assert (p.line, p.field) == (2, "key")
    assert p.reason == "key 'k2' was already used for entry 3 with different content"


def test_repeated_key_in_one_batch_with_same_content_is_stored_once(
    store: Store, tmp_path: Path
) -> None:
    result = ingest_file(store, write(tmp_path, "csv", [GOOD[0], GOOD[1], GOOD[0]]), "police")
    assert (result.rows, result.stored, result.duplicates) == (3, 2, 1)
    assert stored_rows(store) == GOOD_STORED[:2]


def test_repeated_key_in_one_batch_with_different_content_names_the_earlier_line(
    store: Store, tmp_path: Path
) -> None:
    rows = [GOOD[0], GOOD[1], {**GOOD[0], "date": "2021-02-09"}]
    p = only(rejected(store, write(tmp_path, "csv", rows)))
    assert (p.line, p.field) == (4, "key")
    assert p.reason == "key 'k1' repeats line 2 with different content"


def test_verification_of_a_citizen_report_is_stored(store: Store, tmp_path: Path) -> None:
    report = {"key": "r1", "subject": "C3", "parameter": "rumour", "date": "2021-02-01"}
    ingest_file(store, write(tmp_path, "csv", [report], "report"), "hotline")
    report_id = store.scalar("SELECT entry_id FROM entries WHERE idem_key = 'r1'")
    assert report_id == 2
    check = {"key": "v1", "kind": "verification", "refers_to": str(report_id), "date": "2021-02-05"}
    result = ingest_file(store, write(tmp_path, "csv", [check], "verify"), "police")
    assert result.stored == 1
    # The verification takes its subject and parameter from the report it verifies.
    assert store.rows(
        """SELECT e.kind, e.refers_to, s.code, p.code, i.code FROM entries e
           JOIN subjects s USING (subject_id) JOIN parameters p USING (parameter_id)
           JOIN institutions i USING (institution_id) WHERE e.idem_key = 'v1'"""
    ) == [(2, 2, "C3", "rumour", "police")]


def test_csv_with_byte_order_mark(store: Store, tmp_path: Path) -> None:
    # Spreadsheets save "CSV UTF-8" with a BOM; it must not become part of the first column.
    path = write(tmp_path, "csv", GOOD)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert ingest_file(store, path, "police").stored == 3
    assert stored_rows(store) == GOOD_STORED


def test_empty_csv_with_header_stores_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("key,subject,parameter,date\n", encoding="utf-8")
    result = ingest_file(store, path, "police")
    assert (result.rows, result.stored, result.batch) == (0, 0, None)
    assert entries(store) == 1


# --- malformed rows -----------------------------------------------------------------------

HEADER = "key,subject,parameter,date,quantity,confidence,counterpart,kind,refers_to"
GOOD_LINE = {
    "police": "g1,C1,blood,2021-02-01,,,,,",
    "cams": "g1,C1,red_light,2021-02-01,,0.97,,,",
    "court": "g1,O1,late_tax,2021-02-01,3,,,,",
}

# (id, institution, the bad CSV line (line 3), field, words the reason must hold)
BAD_ROWS = [
    (
        "unknown-subject",
        "police",
        "b,NOPE,blood,2021-02-01,,,,,",
        "subject",
        "unknown subject 'NOPE'",
    ),
    (
        "unknown-parameter",
        "police",
        "b,C1,nope,2021-02-01,,,,,",
        "parameter",
        "unknown parameter 'nope' (not in the active rulebook)",
    ),
    (
        "not-permitted",
        "police",
        "b,C1,loan_default,2021-02-01,,,,,",
        "parameter",
        "institution 'police' may not report 'loan_default'",
    ),
    (
        "missing-key",
        "police",
        ",C1,blood,2021-02-01,,,,,",
        "key",
        "missing: every row needs an idempotency key",
    ),
    (
        "bad-date",
        "police",
        "b,C1,blood,2021-02-30,,,,,",
        "date",
        "not a date (YYYY-MM-DD): '2021-02-30'",
    ),
    ("date-not-iso", "police", "b,C1,blood,01/02/2021,,,,,", "date", "'01/02/2021'"),
    ("missing-date", "police", "b,C1,blood,,,,,,", "date", "missing (YYYY-MM-DD)"),
    ("future-date", "police", "b,C1,blood,2999-01-01,,,,,", "date", "is in the future: 2999-01-01"),
    (
        "quantity-not-a-number",
        "police",
        "b,C1,volunteer_hours,2021-02-01,three,,,,",
        "quantity",
        "not a number: 'three'",
    ),
    (
        "negative-quantity",
        "police",
        "b,C1,volunteer_hours,2021-02-01,-2,,,,",
        "quantity",
        "must not be negative: -2",
    ),
    (
        "nan-quantity",
        "police",
        "b,C1,volunteer_hours,2021-02-01,nan,,,,",
        "quantity",
        "not a number: 'nan'",
    ),
    (
        "infinite-quantity",
        "police",
        "b,C1,volunteer_hours,2021-02-01,inf,,,,",
        "quantity",
        "not a number: 'inf'",
    ),
    (
        "huge-quantity",
        "police",
        "b,C1,volunteer_hours,2021-02-01,1e300,,,,",
        "quantity",
        "must be at most 1,000,000,000: 1e300",
    ),
    (
        "refers-to-not-whole",
        "police",
        "b,,,2021-02-01,,,,verification,2.5",
        "refers_to",
        "not an entry id: '2.5'",
    ),
    (
        "confidence-above-1",
        "cams",
        "b,C1,red_light,2021-02-01,,1.5,,,",
        "confidence",
        "must be a number from 0 to 1: '1.5'",
    ),
    (
        "confidence-not-a-number",
        "cams",
        "b,C1,red_light,2021-02-01,,high,,,",
        "confidence",
        "'high'",
    ),
    (
        "camera-without-confidence",
        "cams",
        "b,C1,red_light,2021-02-01,,,,,",
        "confidence",
        "required: camera records carry an identification confidence",
    ),
    (
        "citizen-only-on-organisation",
        "police",
        "b,O1,blood,2021-02-01,,,,,",
        "subject",
        "'blood' applies to citizens, not to organisation 'O1'",
    ),
    (
        "organisation-only-on-citizen",
        "court",
        "b,C1,late_tax,2021-02-01,3,,,,",
        "subject",
        "'late_tax' applies to organisations, not to citizen 'C1'",
    ),
    (
        "per-unit-without-quantity",
        "police",
        "b,C1,volunteer_hours,2021-02-01,,,,,",
        "quantity",
        "required: 'volunteer_hours' counts points by quantity",
    ),
    (
        "unknown-kind",
        "police",
        "b,C1,blood,2021-02-01,,,,bogus,",
        "kind",
        "unknown kind 'bogus' (use record or verification)",
    ),
    (
        "unknown-counterpart",
        "police",
        "b,C1,blood,2021-02-01,,,ZZ,,",
        "counterpart",
        "unknown subject 'ZZ'",
    ),
    (
        "verification-without-refers-to",
        "police",
        "b,,,2021-02-01,,,,verification,",
        "refers_to",
        "required: the entry id of the report verified",
    ),
    (
        "refers-to-not-a-number",
        "police",
        "b,,,2021-02-01,,,,verification,two",
        "refers_to",
        "not an entry id: 'two'",
    ),
    (
        "verification-of-missing-entry",
        "police",
        "b,,,2021-02-01,,,,verification,999",
        "refers_to",
        "no entry 999 in the ledger",
    ),
    (
        "verification-of-rulebook-entry",
        "police",
        "b,,,2021-02-01,,,,verification,1",
        "refers_to",
        "entry 1 is not a citizen report",
    ),
]


@pytest.mark.parametrize(
    ("institution", "bad", "field", "says"),
    [case[1:] for case in BAD_ROWS],
    ids=[case[0] for case in BAD_ROWS],
)
def test_bad_row_is_reported_at_its_line_and_nothing_is_stored(
    store: Store, tmp_path: Path, institution: str, bad: str, field: str, says: str
) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(f"{HEADER}\n{GOOD_LINE[institution]}\n{bad}\n", encoding="utf-8")
    p = only(rejected(store, path, institution))
    assert (p.line, p.field) == (3, field)
    assert says in p.reason


@pytest.fixture
def reports(store: Store, tmp_path: Path) -> dict[str, int]:
    """A police record (entry 2) and a hotline report (entry 3) to refer to."""
    ingest_file(store, write(tmp_path, "csv", [GOOD[0]], "police"), "police")
    report = {"key": "r1", "subject": "C3", "parameter": "rumour", "date": "2021-02-01"}
    ingest_file(store, write(tmp_path, "csv", [report], "hotline"), "hotline")
    return {"record": 2, "report": 3}


def verification(refers_to: int, key: str = "v1") -> Row:
    return {"key": key, "kind": "verification", "refers_to": str(refers_to), "date": "2021-02-05"}


def test_verification_of_a_non_report(
    store: Store, tmp_path: Path, reports: dict[str, int]
) -> None:
    rows = [verification(reports["report"], "ok"), verification(reports["record"])]
    p = only(rejected(store, write(tmp_path, "csv", rows)))
    assert (p.line, p.field) == (3, "refers_to")
    assert p.reason == "entry 2 is not a citizen report"


def test_verification_by_a_non_state_institution(
    store: Store, tmp_path: Path, reports: dict[str, int]
) -> None:
    p = only(rejected(store, write(tmp_path, "csv", [verification(reports["report"])]), "bank"))
    assert (p.line, p.field) == (2, "kind")
    assert p.reason == "only state authorities verify reports; 'bank' is nonstate"


def test_verification_naming_another_subject(
    store: Store, tmp_path: Path, reports: dict[str, int]
) -> None:
    row = {**verification(reports["report"]), "subject": "C4"}
    p = only(rejected(store, write(tmp_path, "csv", [row])))
    assert (p.line, p.field) == (2, "subject")
    assert p.reason == "does not match the subject of entry 3"


def test_three_bad_rows_among_good_rows_are_all_reported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(
        "key,subject,parameter,date,quantity\n"
        "a,C1,blood,2021-02-01,\n"  # 2 good
        "b,NOPE,blood,2021-02-01,\n"  # 3 unknown subject
        "c,C2,blood,2021-02-02,\n"  # 4 good
        "d,C3,volunteer_hours,2021-02-03,-1\n"  # 5 negative quantity
        "e,C4,blood,2021-13-01,\n"  # 6 bad date
        "f,C5,blood,2021-02-04,\n",  # 7 good
        encoding="utf-8",
    )
    problems = rejected(store, path)
    assert [(p.line, p.field) for p in problems] == [(3, "subject"), (5, "quantity"), (6, "date")]
    assert "'NOPE'" in problems[0].reason
    assert "-1" in problems[1].reason
    assert "'2021-13-01'" in problems[2].reason


def test_several_problems_on_one_row_are_all_reported(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("key,subject,parameter,date\n,NOPE,nope,someday\n", encoding="utf-8")
    problems = rejected(store, path)
    assert [(p.line, p.field) for p in problems] == [
        (2, "date"),
        (2, "key"),
        (2, "parameter"),
        (2, "subject"),
    ]


# --- malformed files ----------------------------------------------------------------------


def test_line_numbers_count_blank_lines_quoted_newlines_and_crlf(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(
        b"key,subject,parameter,date,evidence\r\n"  # 1
        b'a,C1,blood,2021-02-01,"first line\r\nsecond line"\r\n'  # 2-3
        b"\r\n"  # 4
        b"b,C1,blood,2021-02-31,\r\n"  # 5
    )
    p = only(rejected(store, path))
    assert (p.line, p.field) == (5, "date")


def test_csv_row_with_wrong_field_count(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(
        "key,subject,parameter,date\na,C1,blood,2021-02-01\nb,C1,blood\nc,C1,blood,2021-02-01,x\n",
        encoding="utf-8",
    )
    problems = rejected(store, path)
    assert [(p.line, p.field, p.reason) for p in problems] == [
        (3, "", "expected 4 fields, found 3"),
        (4, "", "expected 4 fields, found 5"),
    ]


def test_ndjson_line_not_json_or_not_an_object(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.ndjson"
    path.write_text(
        json.dumps(GOOD[0]) + "\n"  # 1
        "\n"  # 2: blank lines are skipped but counted
        "{not json}\n"  # 3
        '["a", "list"]\n'  # 4
         + json.dumps({**GOOD[0], "key": "k5", "evidence": {"photo": 2}}) + "\n",  # 5
        encoding="utf-8",
    )
    problems = rejected(store, path)
    assert [(p.line, p.field) for p in problems] == [(3, ""), (4, ""), (5, "evidence")]
    assert problems[0].reason.startswith("not valid JSON")
    assert problems[1].reason == "each line must be a JSON object"
    assert problems[2].reason == "must be a single value, not {'photo': 2}"


def test_ndjson_values_that_are_numbers_are_read_as_written(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.ndjson"
    rows = [{**GOOD[1], "quantity": 2.5}, {**GOOD[1], "key": "k9", "quantity": float("nan")}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    p = only(rejected(store, path))
    assert (p.line, p.field, p.reason) == (2, "quantity", "not a number: 'nan'")


def test_unknown_column_in_csv(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(
        "key,subject,parameter,date,colour\na,C1,blood,2021-02-01,red\n", encoding="utf-8"
    )
    p = only(rejected(store, path))
    assert (p.line, p.field) == (1, "colour")
    assert p.reason.startswith("unknown column 'colour' (known: key, subject,")


def test_unknown_column_in_ndjson_is_reported_once(store: Store, tmp_path: Path) -> None:
    rows = [GOOD[0], {**GOOD[1], "colour": "red"}, {**GOOD[2], "colour": "blue"}]
    p = only(rejected(store, write(tmp_path, "ndjson", rows)))
    assert (p.line, p.field) == (2, "colour")


def test_unknown_column_in_parquet(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    pq.write_table(
        pa.table(
            {
                "key": ["a"],
                "subject": ["C1"],
                "parameter": ["blood"],
                "date": ["2021-02-01"],
                "colour": ["red"],
            }
        ),
        path,
    )
    p = only(rejected(store, path))
    assert (p.line, p.field) == (None, "colour")


def test_parquet_rows_are_numbered_from_one(store: Store, tmp_path: Path) -> None:
    rows = [GOOD[0], {**GOOD[1], "quantity": -1.0}]
    p = only(rejected(store, write(tmp_path, "parquet", rows)))
    assert (p.line, p.field, p.reason) == (2, "quantity", "must not be negative: -1.0")


def test_unreadable_parquet(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.parquet"
    path.write_bytes(b"key,subject\nthis is a CSV file\n")
    p = only(rejected(store, path))
    assert (p.line, p.field) == (None, "")
    assert p.reason.startswith("not a readable Parquet file")


def test_unknown_file_extension(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.xlsx"
    path.write_bytes(b"PK")
    p = only(rejected(store, path))
    assert p.reason == "unknown format '.xlsx': use .csv, .parquet or .ndjson"


def test_missing_file(store: Store, tmp_path: Path) -> None:
    p = only(rejected(store, tmp_path / "absent.csv"))
    assert p.reason.startswith("cannot read") and "absent.csv" in p.reason


def test_empty_csv_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "batch.csv"
    path.write_text("", encoding="utf-8")
    p = only(rejected(store, path))
    assert (p.line, p.reason) == (1, "empty file: no header line")


def test_unknown_institution(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "csv", GOOD)
    with pytest.raises(LedgerError) as info:
        ingest_file(store, path, "nobody")
    assert type(info.value) is LedgerError  # not a bad batch: the sender is unknown
    assert "unknown institution 'nobody'" in str(info.value)
    assert "police" in str(info.value)  # it lists some that exist
    assert entries(store) == 1


@pytest.mark.parametrize(
    ("severity", "says"),
    [("2.5", "not a whole number: '2.5'"), ("40000", "out of range (-32768 to 32767): '40000'")],
)
def test_bad_severity(store: Store, tmp_path: Path, severity: str, says: str) -> None:
    path = tmp_path / "batch.csv"
    path.write_text(f"key,subject,parameter,date,severity\nk,C1,blood,2021-02-01,{severity}\n")
    p = only(rejected(store, path, "police"))
    assert (p.line, p.field) == (2, "severity")
    assert says in p.reason


def test_classes_follow_the_active_rulebook(store: Store, tmp_path: Path) -> None:
    from tests.conftest import TINY, feed, rec

    from socialrating.ledger import activate_rulebook
    from socialrating.rulebook import load_rulebook

    report = feed(store, "hotline", [rec("C1", "rumour", "2021-02-01", counterpart="C2")])
    assert report.batch is not None
    entry = report.batch.first_entry
    text = TINY.read_text()
    text = text.replace(
        "{code: bank, name: Bank, class: nonstate}", "{code: bank, name: Bank, class: state}"
    )
    text = text.replace(
        "{code: police, name: Police, class: state}",
        "{code: police, name: Police, class: nonstate}",
    )
    changed = tmp_path / "tiny2.yaml"
    changed.write_text(text)
    assert activate_rulebook(store, load_rulebook(changed), backdate="classes corrected")
    with pytest.raises(BatchRejected) as exc:
        feed(store, "police", [{"kind": "verification", "refers_to": entry, "date": "2021-02-05"}])
    assert "only state authorities verify reports; 'police' is nonstate" in str(exc.value)
    stored = feed(
        store, "bank", [{"kind": "verification", "refers_to": entry, "date": "2021-02-05"}]
    )
    assert stored.stored == 1


@pytest.mark.parametrize(
    ("stamp", "typ", "day"),
    [
        # 23:30 on 1 Feb in UTC-5 is 04:30 on 2 Feb in UTC: the fact arose on 2 Feb.
        (
            dt.datetime(2021, 2, 2, 4, 30, tzinfo=dt.UTC),
            pa.timestamp("us", "America/New_York"),
            dt.date(2021, 2, 2),
        ),
        (dt.datetime(2021, 2, 3, 8, 0), pa.timestamp("ms"), dt.date(2021, 2, 3)),  # naive: UTC
    ],
)
def test_parquet_timestamps_are_read_as_their_utc_day(
    store: Store, tmp_path: Path, stamp: dt.datetime, typ: pa.DataType, day: dt.date
) -> None:
    table = pa.table(
        {"key": ["t1"], "subject": ["C1"], "parameter": ["blood"], "date": pa.array([stamp], typ)}
    )
    path = tmp_path / "batch.parquet"
    pq.write_table(table, path)
    assert ingest_file(store, path, "police").stored == 1
    assert (
        store.scalar("SELECT day FROM entries WHERE kind = 1") == (day - dt.date(1970, 1, 1)).days
    )


@pytest.mark.parametrize(
    ("column", "value", "says"),
    [
        ("act", "has space", "not an act id (up to 120 letters, digits, _ . : / -): 'has space'"),
        ("act", "x" * 121, "not an act id"),
        ("level", "nat;ional", "not a level code (up to 40 letters, digits, _ . : -): 'nat;ional'"),
    ],
)
def test_bad_act_or_level_is_reported(
    store: Store, tmp_path: Path, column: str, value: str, says: str
) -> None:
    rows = [{**GOOD[0], "key": "ok"}, {**GOOD[0], "key": "bad", column: value}]
    p = only(rejected(store, write(tmp_path, "csv", rows)))
    assert (p.line, p.field) == (3, column)
    assert says in p.reason


def test_act_and_level_are_stored_and_digested(store: Store, tmp_path: Path) -> None:
    rows = [{**GOOD[0], "key": "k1", "act": "case/2021:17", "level": "national"}]
    ingest_file(store, write(tmp_path, "csv", rows), "police")
    assert store.one("SELECT act, level FROM entries WHERE idem_key = 'k1'") == (
        "case/2021:17",
        "national",
    )
    # The same key with another act id is different content, not a duplicate.
    changed = [{**rows[0], "act": "case/2021:18"}]
    p = only(rejected(store, write(tmp_path, "csv", changed)))
    assert p.field == "key" and "different content" in p.reason


def test_parameters_are_those_of_the_rulebook_active_when_a_batch_arrives(
    store: Store, tmp_path: Path
) -> None:
    """A process remembers what a rulebook says of each parameter it has seen (a rulebook's
    rows never change), but a batch is checked against the rulebook active when it
    arrives, and a code it did not know may be known by the next batch."""
    from tests.conftest import TINY, feed, rec

    from socialrating.ledger import activate_rulebook
    from socialrating.rulebook import load_rulebook

    assert feed(store, "police", [rec("C1", " red_light ", "2021-02-01")]).stored == 1
    with pytest.raises(BatchRejected) as exc:
        feed(store, "police", [rec("C1", "jaywalk", "2021-02-02")])
    assert "unknown parameter 'jaywalk'" in str(exc.value)
    text = TINY.read_text().replace(
        "institutions: [police, cams], tags: [traffic]}",
        "institutions: [cams], tags: [traffic]}\n"
        "  - {code: jaywalk, category: traffic, points: -5, expires_after_days: 365, "
        "institutions: [police]}",
    )
    changed = tmp_path / "tiny2.yaml"
    changed.write_text(text)
    assert activate_rulebook(store, load_rulebook(changed), backdate="jaywalking reported")
    assert feed(store, "police", [rec("C1", "jaywalk", "2021-02-02")]).stored == 1
    with pytest.raises(BatchRejected) as exc:
        feed(store, "police", [rec("C1", "red_light", "2021-02-03")])
    assert "institution 'police' may not report 'red_light'" in str(exc.value)
    assert feed(store, "cams", [rec("C1", "red_light", "2021-02-03", confidence="0.95")]).stored


def test_a_key_stored_while_a_batch_waits_for_its_turn_counts_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch looks for its keys in the ledger before its turn, then, in its turn, among
    the entries stored since: a batch storing the same key meanwhile is found."""
    from tests.conftest import feed, rec

    import socialrating.ledger.ingest as ingest_module

    original = ingest_module._append_checked
    meanwhile: list[int] = []
    started: list[bool] = []

    def late(s: Store, parts: Any, checked: Any) -> Any:
        if not started:  # the first batch's turn: another batch commits first
            started.append(True)
            other = store.cursor()
            try:
                meanwhile.append(feed(other, "police", [rec("C2", "red_light", "2021-02-01",
                                                            key="k-shared")]).stored)  # fmt: skip
            finally:
                other.close()
        return original(s, parts, checked)

    monkeypatch.setattr(ingest_module, "_append_checked", late)
    report = feed(
        store,
        "police",
        [rec("C2", "red_light", "2021-02-01", key="k-shared"),
         rec("C3", "red_light", "2021-02-01", key="k-own")],
    )  # fmt: skip
    assert meanwhile == [1]
    assert (report.stored, report.duplicates) == (1, 1)
    assert store.scalar("SELECT count(*) FROM entries WHERE idem_key = 'k-shared'") == 1


def test_a_batch_that_refers_to_nothing_gets_the_look_ups_columns(store: Store) -> None:
    """The empty table of referred entries is made from the types DuckDB gave the look-up
    (without planning it again): the same columns and types."""
    from socialrating.ledger import ingest as ingest_module
    from socialrating.ledger.readers import drop_staged, stage_table, staged_table

    ingest_module._NO_REFS.clear()
    context = ingest_module._context(store, "police")
    stage_table(store.con, staged_table({"subject": ["C1"], "parameter": ["blood"]}, [2]))
    part = ingest_module._Part(context, "one", [])
    store.con.register("batch_institutions", ingest_module._institutions([part]))
    try:
        ingest_module._refs(store, context, True)  # planned: the types DuckDB gives
        planned = store.rows("DESCRIBE batch_refs")
        assert ingest_module._NO_REFS
        ingest_module._refs(store, context, True)  # made from those types
        assert store.rows("DESCRIBE batch_refs") == planned
        assert store.scalar("SELECT count(*) FROM batch_refs") == 0
    finally:
        drop_staged(store.con)
        store.con.unregister("batch_institutions")
        store.run("DROP TABLE IF EXISTS batch_refs")
