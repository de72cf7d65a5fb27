"""Malformed CSV never passes silently: an unclosed quote or a repeated column is an error
that names its line, in every command that reads CSV (batches, subjects, passenger lists,
rulebook catalogues), and nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DATA, TINY
from tests.test_cli import cli, ok, one_json

UNCLOSED = (
    'k1,C1,blood,2021-02-01,"unterminated\nk2,C2,blood,2021-02-02,x\nk3,C3,blood,2021-02-03,y\n'
)


@pytest.fixture
def db(tmp_path: Path) -> str:
    db = str(tmp_path / "q.duckdb")
    ok("init", "--db", db, "--rulebook", str(TINY))
    (tmp_path / "s.csv").write_text("code,kind\nC1,citizen\nC2,citizen\nC3,citizen\n")
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    return db


def entries(db: str) -> int:
    return int(one_json("verify", "--db", db)["entries"])


def test_a_batch_with_an_unclosed_quote_stores_nothing(db: str, tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("key,subject,parameter,date,evidence\n" + UNCLOSED)
    before = entries(db)
    result = cli("ingest", str(path), "--institution", "police", "--db", db)
    assert result.exit_code == 1
    assert f"{path}:2: not valid CSV: a quoted field opens on this line and is never closed" in (
        result.stderr
    )
    assert entries(db) == before


def test_a_batch_with_a_repeated_column_stores_nothing(db: str, tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("key,subject,parameter,date,key\nb1,C1,blood,2021-02-01,b2\n")
    result = cli("ingest", str(path), "--institution", "police", "--db", db)
    assert result.exit_code == 1
    assert f"{path}:1: key: column 'key' appears more than once" in result.stderr


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('code,kind\nN1,citizen\nN2,"citizen\nN3,citizen\n', ":3: not valid CSV: a quoted field"),
        ("code,kind,region,region\nN1,citizen,a,b\n", ":1: region: column 'region' appears"),
    ],
    ids=["unclosed", "repeated"],
)
def test_subject_files(db: str, tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "people.csv"
    path.write_text(text)
    result = cli("subjects", "import", str(path), "--db", db)
    assert result.exit_code == 1 and says in result.stderr
    assert one_json("subjects", "list", "--db", db, "--search", "N")["matched"] == 0


def test_a_passenger_list_with_an_unclosed_quote_decides_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "p.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    (tmp_path / "s.csv").write_text("code,kind\nc1,citizen\nc2,citizen\n")
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    ok("score", "--db", db, "--as-of", "2021-05-31")
    path = tmp_path / "pax.csv"
    path.write_text('subject,seat\nc1,"12A\nc2,12C\n')
    result = cli("check-batch", str(path), "flight", "--db", db)
    assert result.exit_code == 1
    assert f"{path}:2: not valid CSV: a quoted field opens on this line" in result.stderr


def test_a_catalogue_with_a_repeated_column(tmp_path: Path) -> None:
    from tests.rulebook.test_loader import csv_text, problems_of, with_catalogue

    text = csv_text(
        "jaywalk,traffic,-2,police,traffic,x", header="code,category,points,institutions,tags,tags"
    )
    problems = problems_of(with_catalogue(tmp_path, "params.csv", text))
    assert [(p.line, p.field, p.reason) for p in problems] == [
        (1, "tags", "column 'tags' appears more than once")
    ]
