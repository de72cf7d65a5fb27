"""`check`, `check-batch` and `lists` through the CLI, with malformed input files."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.conftest import DATA
from tests.test_cli import cli, ok, one_json


@pytest.fixture
def db(tmp_path: Path) -> str:
    db = str(tmp_path / "d.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    (tmp_path / "s.csv").write_text(
        "code,kind,born\nc1,citizen,1980-01-01\nc2,citizen,1990-01-01\no1,organisation,\n"
    )
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    (tmp_path / "court.csv").write_text(
        "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,o1,debtor,2021-02-01\n"
    )
    ok("ingest", str(tmp_path / "court.csv"), "--institution", "court", "--db", db)
    return db


def test_check_before_any_run_says_to_score(db: str) -> None:
    result = cli("check", "c1", "loan", "--db", db)
    assert result.exit_code != 0 and "socialrating score" in result.output


def test_check_lists_and_batch(db: str, tmp_path: Path) -> None:
    ok("score", "--db", db, "--as-of", "2021-05-31")
    doc = one_json("check", "c1", "loan", "--db", db)
    assert doc["decision"] == "refused"
    assert [r["code"] for r in doc["reasons"]] == ["RULE:loan#1", "LIST:debtors"]
    assert doc["reasons"][1]["entry_id"] == 2  # entry 1 is the rulebook's activation
    # Its key factor: the membership the rule looked at, with the record behind it.
    assert doc["key_factors"] == [
        {"code": "LIST:debtors", "text": "on debtors by entry 2", "effect": 0, "entries": [2]}
    ]
    assert "key factors: 1. on debtors by entry 2" in ok("check", "c1", "loan", "--db", db).stdout
    # Terms by grade from a run carry no factors: the statement ranks the score's.
    assert one_json("check", "c2", "loan", "--db", db)["key_factors"] == []
    text = ok("check", "c2", "loan", "--db", db).stdout
    assert "terms (rate_adjustment -0.5, collateral none)" in text
    sizes = one_json("lists", "--db", db)
    assert [(r["list"], r["members"], r["by_grade"]) for r in sizes["lists"]] == [
        ("debtors", 2, 0),
        ("flight_ban", 0, 0),
        ("blacklist", 1, 1),
        ("rep_ban", 0, 0),
    ]
    debtors = one_json("lists", "debtors", "--db", db)
    assert [(m["subject"], m["cause"], m["since"]) for m in debtors["members"]] == [
        ("c1", "record", "2021-02-01"),
        ("o1", "record", "2021-02-01"),
    ]
    bad = cli("lists", "nolist", "--db", db)
    assert bad.exit_code != 0 and "unknown list 'nolist'" in bad.output
    (tmp_path / "pax.csv").write_text("subject,seat\nc1,1A\nc2,1B\nghost,2C\n")
    out = tmp_path / "out.csv"
    doc = one_json("check-batch", str(tmp_path / "pax.csv"), "loan", "--db", db, "-o", str(out))
    assert doc["decisions"] == {"refused": 1, "terms": 1, "unknown": 1}
    assert out.read_text().count("\n") == 4
    pq.write_table(pa.table({"subject": ["o1"]}), tmp_path / "pax.parquet")
    doc = one_json("check-batch", str(tmp_path / "pax.parquet"), "bidding", "--db", db)
    # One shape for a decision everywhere: a batch's is the one `check --json` prints.
    assert doc["not_allowed"] == [one_json("check", "o1", "bidding", "--db", db)]
    assert [r["code"] for r in doc["not_allowed"][0]["reasons"]] == [
        "RULE:bidding#1",
        "LIST:blacklist",
    ]
    assert doc["not_allowed"][0]["terms"] == {}


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("pax.csv", "passenger\nc1\n", "no column 'subject' (columns: passenger)"),
        # a blank line and a seat spanning two lines before: the empty subject is on line 5
        ("pax.csv", 'subject,seat\n\nc1,"1A\n(window)"\n ,2B\n', "pax.csv:5: subject: empty"),
        ("pax.txt", "subject\nc1\n", "use a .csv or .parquet file"),
        ("pax.parquet", "not parquet", "pax.parquet"),
    ],
)
def test_malformed_batch_files(db: str, tmp_path: Path, name: str, content: str, says: str) -> None:
    ok("score", "--db", db, "--as-of", "2021-05-31")
    path = tmp_path / name
    path.write_text(content)
    result = cli("check-batch", str(path), "flight", "--db", db)
    assert result.exit_code != 0
    assert says in result.output


def test_a_parquet_list_names_rows_from_1(db: str, tmp_path: Path) -> None:
    ok("score", "--db", db, "--as-of", "2021-05-31")
    path = tmp_path / "pax.parquet"
    pq.write_table(pa.table({"subject": ["c1", None, " "]}), path)
    result = cli("check-batch", str(path), "flight", "--db", db)
    assert result.exit_code != 0
    assert "2 row(s) without a subject, by row number from 1" in result.output
    assert f"{path}:2: subject: empty" in result.output
    assert f"{path}:3: subject: empty" in result.output


def test_unknown_service(db: str) -> None:
    ok("score", "--db", db, "--as-of", "2021-05-31")
    result = cli("check", "c1", "rocket", "--db", db)
    assert result.exit_code != 0 and "unknown service 'rocket'" in result.output
