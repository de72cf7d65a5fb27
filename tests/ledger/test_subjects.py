"""The subject registry: importing subjects, with every bad row reported and nothing stored."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialrating.errors import BatchRejected, UnknownSubject
from socialrating.ledger import Store, find_subject, register_subjects
from socialrating.ledger.subjects import read_subjects_file


def count(store: Store) -> int:
    return int(store.scalar("SELECT count(*) FROM subjects"))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "subjects.csv"
    path.write_text(text)
    return path


def test_import_registers_new_subjects_and_skips_known_ones(store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "code,kind,born,sex,region\nP1,citizen,1980-05-01,F,region-01\nQ1,organisation,,,\n",
    )
    assert register_subjects(store, read_subjects_file(path), str(path)) == 2
    assert register_subjects(store, read_subjects_file(path), str(path)) == 0
    p1 = find_subject(store, "P1")
    assert (p1.kind.value, str(p1.born), p1.sex, p1.region) == (
        "citizen",
        "1980-05-01",
        "F",
        "region-01",
    )
    with pytest.raises(UnknownSubject, match="'NOPE'"):
        find_subject(store, "NOPE")


def test_every_bad_row_is_reported_and_none_is_stored(store: Store, tmp_path: Path) -> None:
    before = count(store)
    path = write(
        tmp_path,
        "code,kind,born\n"  # line 1: the header
        "P1,citizen,1980-05-01\n"  # line 2: good
        "P2,person,\n"  # line 3: bad kind
        "P3,citizen,1980-13-01\n"  # line 4: bad date
        ",citizen,\n"  # line 5: no code
        "P5,citizen,\n"
        "P5,citizen,\n",  # lines 6 and 7: the same code twice
    )
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, read_subjects_file(path), str(path))
    got = [(p.line, p.field) for p in exc.value.problems]
    assert got == [(3, "kind"), (4, "born"), (5, "code"), (6, "code"), (7, "code")]
    assert "by file line" in exc.value.summary
    reasons = " ".join(p.reason for p in exc.value.problems)
    assert "must be citizen or organisation, not 'person'" in reasons
    assert "not a date (YYYY-MM-DD): '1980-13-01'" in reasons
    assert "code 'P5' appears more than once" in reasons
    assert count(store) == before


def test_a_known_code_with_other_facts_is_rejected(store: Store) -> None:
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, pa.table({"code": ["C1"], "kind": ["organisation"]}))
    assert "already registered as a different subject: citizen" in exc.value.problems[0].reason


def test_missing_columns_are_named(store: Store) -> None:
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, pa.table({"name": ["x"]}))
    assert sorted(p.field for p in exc.value.problems) == ["code", "kind"]


def problems_of(store: Store, path: Path) -> list[str]:
    """The problems of importing ``path``, as the CLI prints them."""
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, read_subjects_file(path), str(path))
    return [str(p) for p in exc.value.problems]


def test_a_bad_row_on_line_3_is_reported_on_line_3(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "code,kind\nP1,citizen\nP2,person\n")
    assert problems_of(store, path) == [
        f"{path}:3: kind: must be citizen or organisation, not 'person'"
    ]


def test_blank_lines_and_quoted_newlines_do_not_shift_the_line(
    store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "code,kind,region\n"  # line 1
        "\n"  # line 2: blank
        'P1,citizen,"North\n'  # lines 3-4: a region spanning two lines
        'district"\n'
        "\n"  # line 5: blank
        "P2,person,\n",  # line 6: bad kind
    )
    assert problems_of(store, path) == [
        f"{path}:6: kind: must be citizen or organisation, not 'person'"
    ]
    # the same file, gzipped, and with a byte-order mark as spreadsheets write it
    gz = tmp_path / "subjects.csv.gz"
    gz.write_bytes(gzip.compress(b"\xef\xbb\xbf" + path.read_bytes()))
    assert problems_of(store, gz) == [
        f"{gz}:6: kind: must be citizen or organisation, not 'person'"
    ]


def test_an_in_memory_table_may_say_its_lines(store: Store) -> None:
    table = pa.table({"code": ["P1", "P2"], "kind": ["citizen", "robot"], "line": [10, 12]})
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, table, "feed")
    assert [(p.line, p.field) for p in exc.value.problems] == [(12, "kind")]
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, table.drop_columns(["line"]), "feed")
    assert [(p.line, p.field) for p in exc.value.problems] == [(2, "kind")]
    assert "by row number from 1" in exc.value.summary


def test_parquet_problems_name_rows_from_1(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "subjects.parquet"
    table = pa.table(
        {
            "code": ["P1", "P2", "P3"],
            "kind": ["citizen", "citizen", "person"],
            "born": pa.array([dt.date(1980, 5, 1), None, None], pa.date32()),
            "line": [7, 8, 9],  # not a subjects column: ignored, rows are still numbered
        }
    )
    pq.write_table(table, path)
    with pytest.raises(BatchRejected) as exc:
        register_subjects(store, read_subjects_file(path), str(path))
    assert [str(p) for p in exc.value.problems] == [
        f"{path}:3: kind: must be citizen or organisation, not 'person'"
    ]
    assert "by row number from 1" in exc.value.summary
    pq.write_table(table.slice(0, 2), path)
    assert register_subjects(store, read_subjects_file(path), str(path)) == 2
    assert str(find_subject(store, "P1").born) == "1980-05-01"


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("s.csv", b"code,born\nP1,\n", ["{path}:1: kind: no column 'kind' (columns: code, born)"]),
        (
            "s.csv",
            b"name\nP1\n",
            [
                "{path}:1: code: no column 'code' (columns: name)",
                "{path}:1: kind: no column 'kind' (columns: name)",
            ],
        ),
        ("s.csv", b"", ["{path}:1: empty file: no header line"]),
        (
            "s.csv",
            b"code,kind\nP1,citizen\nP2,citizen,extra\n\nP3\n",
            ["{path}:3: expected 2 fields, found 3", "{path}:5: expected 2 fields, found 1"],
        ),
        ("s.csv", b"\x89PNG\r\n\x1a\n\x00\xff", ["{path}: not UTF-8 text, so not CSV"]),
        ("s.parquet", b"code,kind\n", ["{path}: not a readable Parquet file"]),
        ("s.json", b'{"code": "P1"}', ["{path}: unknown format '.json'"]),
        ("absent.csv", None, ["{path}: [Errno 2] No such file or directory"]),
    ],
    ids=[
        "csv-no-kind",
        "csv-no-code-no-kind",
        "empty",
        "wrong-field-count",
        "not-text",
        "not-parquet",
        "unknown-format",
        "missing-file",
    ],
)
def test_malformed_files_give_clear_errors(
    tmp_path: Path, name: str, content: bytes | None, says: list[str]
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BatchRejected) as exc:
        read_subjects_file(path)
    got = [str(p) for p in exc.value.problems]
    assert len(got) == len(says)
    for line, expected in zip(got, says, strict=True):
        assert line.startswith(expected.format(path=path)), line


def test_a_parquet_file_without_kind_is_named(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"code": ["P1"]}), path)
    with pytest.raises(BatchRejected) as exc:
        read_subjects_file(path)
    assert [str(p) for p in exc.value.problems] == [
        f"{path}: kind: no column 'kind' (columns: code)"
    ]


def test_a_birth_date_in_the_future_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_text("code,kind,born\nN1,citizen,1990-01-01\nN2,citizen,2999-01-01\n")
    with pytest.raises(BatchRejected) as info:
        register_subjects(store, read_subjects_file(path), str(path))
    assert [(p.line, p.field, p.reason) for p in info.value.problems] == [
        (3, "born", "in the future: 2999-01-01")
    ]
    assert store.scalar("SELECT count(*) FROM subjects WHERE code LIKE 'N%'") == 0
