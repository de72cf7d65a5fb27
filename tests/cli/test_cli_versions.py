"""`rulebook install`, `rulebook list` and `show` with versions in time, as a user runs
them; and a preview of an amendment dated after the records it re-values."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import TINY
from tests.test_cli import cli, ok, one_json

SUBJECTS = "code,kind,born,sex,region\nC1,citizen,1980-05-01,f,north\nC2,citizen,,,\n"
BATCH = "key,subject,parameter,date\nk1,C1,loan_default,2021-03-01\nk2,C2,loan_default,2022-01-15\n"


def amendment(tmp_path: Path) -> Path:
    """Version 2 of the tiny rulebook, from 2022-01-01: a loan default costs 200, not 50."""
    text = (
        TINY.read_text()
        .replace('version: "1"', 'version: "2"')
        .replace("effective: 2021-01-01", "effective: 2022-01-01")
        .replace(
            "code: loan_default, category: finance, points: -50",
            "code: loan_default, category: finance, points: -200",
        )
    )
    path = tmp_path / "v2.yaml"
    path.write_text(text)
    return path


def setup(tmp_path: Path) -> str:
    db = str(tmp_path / "v.duckdb")
    (tmp_path / "s.csv").write_text(SUBJECTS)
    (tmp_path / "b.csv").write_text(BATCH)
    ok("init", "--db", db, "--rulebook", str(TINY))
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    ok("ingest", str(tmp_path / "b.csv"), "--institution", "bank", "--db", db)
    return db


def test_install_list_and_show(tmp_path: Path) -> None:
    db = setup(tmp_path)
    v2 = str(amendment(tmp_path))
    refused = cli("rulebook", "install", v2, "--db", db)
    assert refused.exit_code == 1
    assert "takes effect on 2022-01-01, before today" in refused.output
    assert "--backdate REASON" in refused.output
    listed = one_json("rulebook", "list", "--db", db)["rulebooks"]
    assert len(listed) == 1  # nothing was stored
    empty = cli("rulebook", "install", v2, "--db", db, "--backdate", " ")
    assert empty.exit_code == 1 and "the reason for backdating is empty" in empty.output
    done = ok("rulebook", "install", v2, "--db", db, "--backdate", "amendment 2022/1")
    assert "tiny 2" in done.stdout and "in force from 2022-01-01" in done.stdout
    again = one_json("rulebook", "install", v2, "--db", db, "--backdate", "again")
    assert again["installed"] is False
    listed = one_json("rulebook", "list", "--db", db)["rulebooks"]
    periods = {r["version"]: (r["in_force_from"], r["in_force_until"]) for r in listed}
    assert periods == {"1": ("2021-01-01", "2021-12-31"), "2": ("2022-01-01", None)}
    table = ok("rulebook", "list", "--db", db).stdout
    assert "2021-01-01 to 2021-12-31" in table and "from 2022-01-01" in table
    ok("score", "--db", db, "--as-of", "2022-02-01")
    doc = one_json("show", "C1", "--db", db, "--as-of", "2022-02-01")
    (line,) = doc["lines"]
    assert (line["points"], doc["score"]) == (-50, 950)  # the value of 2021
    assert line["rules"].startswith("tiny 1 (") and doc["rules"].startswith("tiny 2 (")
    shown = ok("show", "C1", "--db", db, "--as-of", "2022-02-01").stdout
    assert "valued by tiny 1" in shown and "rulebook tiny 2" in shown
    doc = one_json("show", "C2", "--db", db, "--as-of", "2022-02-01")
    assert (doc["lines"][0]["points"], doc["score"]) == (-200, 800)
    # Before the amendment, the first version scores.
    doc = one_json("show", "C1", "--db", db, "--as-of", "2021-06-01")
    assert doc["rules"].startswith("tiny 1 (") and doc["score"] == 950
    ok("verify", "--db", db, "--rescore", "1")


def test_a_preview_keeps_the_value_of_older_records(tmp_path: Path) -> None:
    db = setup(tmp_path)
    v2 = str(amendment(tmp_path))
    ok("score", "--db", db, "--as-of", "2022-02-01")
    doc = json.loads(ok("rulebook", "preview", v2, "--db", db, "--json").stdout)
    assert doc["as_of"] == "2022-02-01"
    # C2's 2022 record costs 200 now (B → C), C1's 2021 record still 50 (stays B).
    assert doc["grades"] == [
        {"kind": "citizen", "from": "B", "to": "B", "subjects": 1},
        {"kind": "citizen", "from": "B", "to": "C", "subjects": 1},
    ]
    early = cli("rulebook", "preview", v2, "--db", db, "--as-of", "2021-06-01")
    assert early.exit_code == 1
    assert "takes effect on 2022-01-01, after 2021-06-01" in early.output


def test_the_audit_reads_the_version_and_run_of_a_date(tmp_path: Path) -> None:
    db = setup(tmp_path)
    v2 = str(amendment(tmp_path))
    ok("rulebook", "install", v2, "--db", db, "--backdate", "amendment 2022/1")
    ok("score", "--db", db, "--as-of", "2021-06-30")
    ok("score", "--db", db, "--as-of", "2022-02-01")
    hashes = {
        r["version"]: r["hash"] for r in one_json("rulebook", "list", "--db", db)["rulebooks"]
    }
    first = one_json("rulebook", "audit", "--db", db, "--as-of", "2021-12-31")
    assert first["rulebook"]["hash"] == hashes["1"] and first["ledger"]["run_id"] == 1
    second = one_json("rulebook", "audit", "--db", db, "--as-of", "2022-03-01")
    assert second["rulebook"]["hash"] == hashes["2"] and second["ledger"]["run_id"] == 2
    assert one_json("rulebook", "audit", "--db", db)["rulebook"]["hash"] == hashes["2"]
    early = one_json("rulebook", "audit", v2, "--db", db, "--as-of", "2021-12-31")
    assert early["ledger"] is None  # no run of version 2 as of then
    bad = cli("rulebook", "audit", "--db", db, "--as-of", "2021-13-01")
    assert bad.exit_code == 2 and "not a date" in bad.output
