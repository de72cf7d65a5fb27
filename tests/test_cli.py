"""The command line, end to end, through typer's CliRunner on real files.

The ledger built here (tiny rulebook, base 1000, as of 2021-06-01):

- C1 gives blood (+10) and is a hero (+50): 1060, grade AAA (min 1050);
- C2 runs a red light (-10) and speeds (-20): 970, grade A (min 960; the traffic cap is -30);
- O1 litters (-1): 999, grade B (organisations: A from 1000, B from 900).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import TINY
from typer.testing import CliRunner, Result

from socialrating.cli import app

AS_OF = "2021-06-01"
SUBJECTS = (
    "code,kind,born,sex,region\nC1,citizen,1980-05-01,f,north\nC2,citizen,,,\nO1,organisation,,,\n"
)
BATCH = (
    "key,subject,parameter,date\n"
    "p1,C1,blood,2021-02-01\n"
    "p2,C1,hero,2021-03-01\n"
    "p3,C2,red_light,2021-02-01\n"
    "p4,C2,speeding,2021-02-02\n"
    "p5,O1,litter,2021-02-03\n"
)


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="socialrating")


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result


def one_json(*args: str) -> Any:
    """Run a command with --json: it prints exactly one JSON document and nothing else."""
    result = ok(*args, "--json")
    assert result.stderr == ""
    return json.loads(result.stdout)  # raises on a second document or any other text


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "subjects.csv").write_text(SUBJECTS, encoding="utf-8")
    (tmp_path / "batch.csv").write_text(BATCH, encoding="utf-8")
    return {
        "db": str(tmp_path / "cli.duckdb"),
        "subjects": str(tmp_path / "subjects.csv"),
        "batch": str(tmp_path / "batch.csv"),
    }


@pytest.fixture
def db(files: dict[str, str]) -> str:
    """A database set up through the CLI: init, subjects import, ingest."""
    ok("init", "--db", files["db"], "--rulebook", str(TINY))
    ok("subjects", "import", files["subjects"], "--db", files["db"])
    ok("ingest", files["batch"], "--institution", "police", "--db", files["db"])
    return files["db"]


def test_set_up_with_text_output(files: dict[str, str]) -> None:
    db = files["db"]
    result = ok("init", "--db", db, "--rulebook", str(TINY))
    assert result.stdout.startswith(f"{db}: rulebook tiny 1 (")
    assert result.stdout.rstrip().endswith(") activated")
    assert (
        ok("init", "--db", db, "--rulebook", str(TINY)).stdout.rstrip().endswith("already active")
    )
    result = ok("subjects", "import", files["subjects"], "--db", db)
    assert result.stdout.strip() == f"{files['subjects']}: 3 new subject(s) registered"
    result = ok("ingest", files["batch"], "--institution", "police", "--db", db)
    assert result.stdout.strip() == (
        f"{files['batch']}: 5 stored, 0 already in the ledger (of 5 rows); batch 7, entries 2 to 6"
    )


def test_set_up_with_json_output(files: dict[str, str]) -> None:
    db = files["db"]
    doc = one_json("init", "--db", db, "--rulebook", str(TINY))
    assert (doc["db"], doc["rulebook"], doc["activated"]) == (db, str(TINY), True)
    assert len(doc["hash"]) == 64
    assert one_json("init", "--db", db, "--rulebook", str(TINY))["activated"] is False
    assert one_json("subjects", "import", files["subjects"], "--db", db) == {
        "file": files["subjects"],
        "registered": 3,
    }
    assert one_json("subjects", "import", files["subjects"], "--db", db)["registered"] == 0
    doc = one_json("ingest", files["batch"], "--institution", "police", "--db", db)
    assert doc == {
        "source": files["batch"],
        "institution": "police",
        "rows": 5,
        "stored": 5,
        "duplicates": 0,
        "batch_id": 7,  # after the activation and the digests of registries, rulebook, spec
        "first_entry": 2,
        "last_entry": 6,
    }
    doc = one_json("ingest", files["batch"], "--institution", "police", "--db", db)
    assert (doc["stored"], doc["duplicates"], doc["batch_id"]) == (0, 5, None)


def test_score_json(db: str) -> None:
    doc = one_json("score", "--db", db, "--as-of", AS_OF)
    assert (doc["run_id"], doc["as_of"], doc["subjects"]) == (1, AS_OF, 3)
    assert doc["records"] == 5
    assert doc["grades"] == {
        "citizen": {"AAA": 1, "AA": 0, "A": 1, "B": 0, "C": 0, "D": 0},
        "organisation": {"A": 0, "B": 1, "C": 0},
    }
    assert doc["mean_score"] == {"citizen": (1060 + 970) / 2, "organisation": 999.0}
    assert one_json("score", "--db", db, "--as-of", AS_OF)["run_id"] == 2


def test_score_text(db: str) -> None:
    out = ok("score", "--db", db, "--as-of", AS_OF).stdout
    assert out.startswith(f"run 1: as of {AS_OF}, rulebook ")
    assert "3 subjects, 5 records in" in out
    assert re.search(r"organisation\s*│\s*B\s*│\s*1\s*│", out)


@pytest.mark.parametrize(
    ("code", "score", "grade", "lines"),
    [
        ("C1", 1060, "AAA", [("blood", 10), ("hero", 50)]),
        ("C2", 970, "A", [("red_light", -10), ("speeding", -20)]),
        ("O1", 999, "B", [("litter", -1)]),
    ],
)
def test_show_json_lines_sum_to_the_score(
    db: str, code: str, score: int, grade: str, lines: list[tuple[str, int]]
) -> None:
    doc = one_json("show", code, "--db", db, "--as-of", AS_OF)
    assert (doc["subject"], doc["as_of"], doc["base"], doc["score"], doc["grade"]) == (
        code,
        AS_OF,
        1000,
        score,
        grade,
    )
    assert [(line["parameter"], line["counted"]) for line in doc["lines"]] == lines
    assert doc["base"] + sum(line["counted"] for line in doc["lines"]) == doc["score"]
    assert all(line["institution"] == "police" for line in doc["lines"])


def test_show_text(db: str) -> None:
    out = ok("show", "C2", "--db", db, "--as-of", AS_OF).stdout
    assert out.startswith(f"C2 (citizen) as of {AS_OF}: score 970, grade A")
    assert "red_light" in out and "2022-02-01" in out  # expires after 365 days


def test_score_and_show_as_of_before_the_records(db: str) -> None:
    doc = one_json("show", "C1", "--db", db, "--as-of", "2021-01-15")
    assert (doc["score"], doc["lines"]) == (1000, [])


def test_institutions_json(db: str) -> None:
    assert one_json("institutions", "--db", db) == [
        {"id": 1, "code": "police", "class": "state", "name": "Police"},
        {"id": 2, "code": "court", "class": "state", "name": "Court"},
        {"id": 3, "code": "bank", "class": "nonstate", "name": "Bank"},
        {"id": 4, "code": "hotline", "class": "citizen", "name": "Citizen hotline"},
        {"id": 5, "code": "cams", "class": "camera", "name": "City cameras"},
    ]


def test_rulebook_check_json(db: str) -> None:
    doc = one_json("rulebook", "check", str(TINY))
    assert (doc["ok"], doc["name"], doc["version"], doc["institutions"]) == (True, "tiny", "1", 5)
    assert doc["hash"] == one_json("init", "--db", db, "--rulebook", str(TINY))["hash"]


# --- errors -------------------------------------------------------------------------------


def test_show_unknown_subject(db: str) -> None:
    result = cli("show", "NOPE", "--db", db, "--as-of", AS_OF)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "error: no subject with code 'NOPE' is registered" in result.stderr
    result = cli("show", "NOPE", "--db", db, "--as-of", AS_OF, "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": "UnknownSubject",
        "message": "no subject with code 'NOPE' is registered",
    }


@pytest.mark.parametrize(
    "command",
    [
        ["score", "--as-of", AS_OF],
        ["show", "C1"],
        ["institutions"],
        ["verify"],
        ["subjects", "import", "subjects.csv"],
        ["ingest", "batch.csv", "--institution", "police"],
    ],
    ids=lambda c: c[0],
)
def test_missing_database_says_to_run_init(tmp_path: Path, command: list[str]) -> None:
    db = tmp_path / "absent.duckdb"
    result = cli(*command, "--db", str(db))
    assert result.exit_code == 1
    assert f"no database at {db}: run `socialrating init` first" in result.stderr
    assert not db.exists()  # asking did not create it


def test_bad_batch_lists_every_problem(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("key,subject,parameter,date\nb1,NOPE,blood,2021-02-01\nb2,C1,blood,2021-02-30\n")
    result = cli("ingest", str(bad), "--institution", "police", "--db", db)
    assert result.exit_code == 1
    assert "2 problem(s); nothing from this batch was stored" in result.stderr
    assert f"{bad}:2: subject: unknown subject 'NOPE'" in result.stderr
    assert f"{bad}:3: date: not a date (YYYY-MM-DD): '2021-02-30'" in result.stderr
    result = cli("ingest", str(bad), "--institution", "police", "--db", db, "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["error"] == "BatchRejected"
    assert [(p["line"], p["field"]) for p in doc["problems"]] == [(2, "subject"), (3, "date")]


def test_unknown_institution(db: str, files: dict[str, str]) -> None:
    result = cli("ingest", files["batch"], "--institution", "nobody", "--db", db)
    assert result.exit_code == 1
    assert "unknown institution 'nobody'" in result.stderr


def test_missing_subjects_file(db: str, tmp_path: Path) -> None:
    result = cli("subjects", "import", str(tmp_path / "absent.csv"), "--db", db)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"{tmp_path / 'absent.csv'}: cannot read" in result.stderr


def test_rulebook_check_lists_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = TINY.read_text(encoding="utf-8")
    text = text.replace("{grade: AA, min: 1030}", "{grade: AA, min: 1090}")
    text = text.replace("category: finance, points: -50", "category: money, points: -50")
    bad.write_text(text, encoding="utf-8")
    lines = text.splitlines()
    aa = next(n for n, line in enumerate(lines, 1) if "grade: AA," in line)
    money = next(n for n, line in enumerate(lines, 1) if "category: money" in line)
    result = cli("rulebook", "check", str(bad))
    assert result.exit_code == 1
    assert f"rulebook {bad} has 2 problem(s)" in result.stderr
    assert f"{bad}:{aa}: grades.citizen[1].min: bands go from highest to lowest" in result.stderr
    assert f"{bad}:{money}: parameters[4].category: unknown category 'money'" in result.stderr
    result = cli("rulebook", "check", str(bad), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["error"] == "RulebookError"
    assert [(p["line"], p["field"]) for p in doc["problems"]] == [
        (aa, "grades.citizen[1].min"),
        (money, "parameters[4].category"),
    ]


@pytest.mark.parametrize("command", [["score"], ["show", "C1"]], ids=["score", "show"])
@pytest.mark.parametrize("date", ["2021-13-01", "yesterday"])
def test_bad_as_of_is_rejected(db: str, command: list[str], date: str) -> None:
    result = cli(*command, "--db", db, "--as-of", date)
    assert result.exit_code == 2  # a usage error, before anything runs
    assert f"not a date (YYYY-MM-DD): '{date}'" in result.stderr
    assert result.stdout == ""
    doc = one_json("verify", "--db", db)
    assert doc["entries"] == 6  # nothing was scored or stored


# --- demo ---------------------------------------------------------------------------------


def test_demo_is_idempotent_and_verifies(tmp_path: Path) -> None:
    args = [
        "demo",
        "--db",
        str(tmp_path / "demo.duckdb"),
        "--rulebook",
        str(TINY),
        "--citizens",
        "300",
        "--organisations",
        "20",
        "--days",
        "60",
    ]
    first = one_json(*args)
    assert first["subjects"] == 320
    run = first["run"]
    assert (run["subjects"], run["as_of"]) == (320, "2021-03-01")  # day 60 from 2021-01-01
    assert sum(run["grades"]["citizen"].values()) == 300
    assert sum(run["grades"]["organisation"].values()) == 20
    assert first["stored"] > 0 and first["duplicates"] == 0
    assert run["records"] <= first["stored"]  # verifications are stored but are not records
    second = one_json(*args)
    assert (second["stored"], second["duplicates"]) == (0, first["stored"])
    assert second["run"]["grades"] == run["grades"]
    assert second["run"]["run_id"] == run["run_id"]  # nothing new: no second run
    assert (first["reused_run"], second["reused_run"]) == (False, True)
    doc = one_json("verify", "--db", str(tmp_path / "demo.duckdb"))
    assert (doc["ok"], doc["entries"]) == (True, first["stored"] + 1)  # + the activation


def test_a_demo_nations_organisations_scale_with_its_citizens(tmp_path: Path) -> None:
    db = str(tmp_path / "small.duckdb")
    common = ["--db", db, "--rulebook", str(TINY), "--days", "10"]
    assert one_json("demo", *common, "--citizens", "250")["subjects"] == 250 + 25
    # The hints to try name the database the demo wrote (here not the default).
    text = " ".join(ok("demo", *common, "--citizens", "250").stdout.split())
    assert "Try: socialrating show C" in text and f"--db {db} --as-of 2021-01-10" in text
    text = ok("demo", "--help").stdout
    assert "one for every 10 citizens" in " ".join(text.split())


def test_demo_draws_contacts_for_the_rulebooks_contagion(tmp_path: Path) -> None:
    from tests.conftest import DATA

    from socialrating.ledger import open_store

    db = str(tmp_path / "contacts.duckdb")
    rulebook = str(DATA / "contagion.yaml")
    doc = one_json("demo", "--db", db, "--rulebook", rulebook, "--citizens", "400",
                   "--organisations", "10", "--days", "90")  # fmt: skip
    assert set(doc["run"]["contagion"]) == {"lowered", "fell_to_from_grades"}
    with open_store(db, read_only=True) as store:
        n, bad = store.one(
            """SELECT count(*), count(*) FILTER (WHERE c.kind <> 'citizen'
                                                 OR e.counterpart_id = e.subject_id)
               FROM entries e JOIN parameters p USING (parameter_id)
               JOIN subjects c ON c.subject_id = e.counterpart_id
               WHERE p.code = 'contact'"""
        ) or (0, 0)
    # About 6 contacts a citizen a year: some 590 in 90 days, each with another citizen.
    assert 400 < n < 800 and bad == 0
