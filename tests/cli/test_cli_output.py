"""What the command line prints: data never read as markup, plain help, quiet pipes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from tests.conftest import DATA
from tests.test_cli import cli, ok, one_json

from socialrating.cli import app

SOCIALRATING = str(Path(sys.executable).with_name("socialrating"))
# Codes a terminal library could take for markup or emoji codes, registered as they are.
ODD = ["[red]c3[/red]", "x:A:y", "[bold]"]


@pytest.fixture
def db(tmp_path: Path) -> str:
    """The consequences rulebook; c1 a debtor (refused a loan), odd codes with no records."""
    db = str(tmp_path / "o.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    rows = "".join(f'"{code}",citizen,1980-01-01\n' for code in ODD)
    (tmp_path / "s.csv").write_text("code,kind,born\nc1,citizen,1980-01-01\n" + rows)
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    (tmp_path / "b.csv").write_text("key,subject,parameter,date\nk1,c1,debtor,2021-02-01\n")
    ok("ingest", str(tmp_path / "b.csv"), "--institution", "court", "--db", db)
    ok("score", "--db", db, "--as-of", "2021-05-31")
    return db


def test_reason_codes_print_as_they_are(db: str) -> None:
    out = ok("check", "x:A:y", "loan", "--db", db).stdout
    assert "GRADE:A: grade A (score 1000)" in out
    assert "x:A:y — loan: terms" in out
    assert "🅰" not in out


@pytest.mark.parametrize("code", ODD)
def test_subject_codes_print_as_they_are(db: str, code: str) -> None:
    assert f"{code} — loan: terms" in ok("check", code, "loan", "--db", db).stdout
    assert ok("show", code, "--db", db, "--as-of", "2021-05-31").stdout.startswith(
        f"{code} (citizen) as of 2021-05-31: score 1000, grade A"
    )
    assert code in ok("subjects", "list", "--db", db).stdout


def test_errors_print_data_as_it_is(db: str) -> None:
    result = cli("show", "[red]nobody[/red]", "--db", db)
    assert result.exit_code == 1
    assert "no subject with code '[red]nobody[/red]' is registered" in result.stderr


def test_every_help_names_values_plainly() -> None:
    """No ``<str>``, ``<bool>`` or ``{file}`` placeholders in any help page."""
    root = typer.main.get_command(app)
    pages = [[]] + [[name] for name in root.commands]  # type: ignore[attr-defined]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        pages += [[name, sub] for sub in getattr(command, "commands", {})]
    for page in pages:
        text = ok(*page, "--help").stdout
        assert "Usage: socialrating" in text, page
        assert not re.search(r"<[a-z]+>|\{[A-Za-z_]+\}", text), page
    text = ok("ingest", "--help").stdout
    assert "Usage: socialrating ingest [OPTIONS] FILE" in text
    assert "--institution CODE" in text and "--db PATH" in text
    for column in ("key", "subject", "parameter", "date", "quantity", "confidence", "counterpart"):
        assert re.search(rf"\n +{column} +\S", text), column


def test_version() -> None:
    from importlib.metadata import version

    assert ok("--version").stdout == f"socialrating {version('socialrating')}\n"


def test_help_starts_without_the_engine() -> None:
    """``--help`` imports neither DuckDB, Ibis, Arrow nor Rich (they take most of a second)."""
    code = (
        "import sys\n"
        "from socialrating.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('duckdb', 'ibis', 'pyarrow', 'rich', 'numpy') if m in sys.modules]\n"
        "print(heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.strip() == "[]"


@pytest.mark.parametrize("table", [False, True], ids=["json", "table"])
def test_a_closed_pipe_ends_quietly(db: str, table: bool) -> None:
    """``socialrating … | head`` ends with status 0 and no broken-pipe message."""
    args = ["subjects", "list", "--db", db] if table else ["rulebook", "schema"]
    proc = subprocess.Popen([SOCIALRATING, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away before the command writes
    with proc.stderr:
        stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0
    assert stderr == ""


def test_runs_lists_every_run(db: str) -> None:
    ok("score", "--db", db, "--as-of", "2021-06-30")
    runs = one_json("runs", "--db", db)
    assert [(r["run_id"], r["as_of"], r["subjects"], r["records"]) for r in runs] == [
        (2, "2021-06-30", 4, 1),
        (1, "2021-05-31", 4, 1),
    ]
    assert runs[0]["rulebook"] == "consequences 1" and len(runs[0]["rulebook_hash"]) == 64
    assert runs[0]["lists"]["debtors"] == 1
    text = ok("runs", "--db", db).stdout
    assert "2021-06-30" in text and "consequences 1" in text
    assert one_json("runs", "--db", db, "--limit", "1")[0]["run_id"] == 2


def test_runs_before_any_run(tmp_path: Path) -> None:
    db = str(tmp_path / "e.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    assert one_json("runs", "--db", db) == []
    assert "no scoring run yet" in ok("runs", "--db", db).stdout


def test_subjects_list(db: str) -> None:
    doc = one_json("subjects", "list", "--db", db)
    assert (doc["total"], doc["matched"]) == (4, 4)
    assert [s["code"] for s in doc["subjects"]] == sorted(["c1", *ODD])
    assert doc["subjects"][0] == {
        "code": "[bold]", "kind": "citizen", "born": "1980-01-01", "sex": None, "region": None,
    }  # fmt: skip
    doc = one_json("subjects", "list", "--db", db, "--search", "A:", "--kind", "citizen")
    assert [s["code"] for s in doc["subjects"]] == ["x:A:y"]
    doc = one_json("subjects", "list", "--db", db, "--limit", "1")
    assert (doc["matched"], len(doc["subjects"])) == (4, 1)
    assert "the first 1 are shown" in ok("subjects", "list", "--db", db, "--limit", "1").stdout
    assert one_json("subjects", "list", "--db", db, "--kind", "organisation")["subjects"] == []
    assert cli("subjects", "list", "--db", db, "--kind", "robot").exit_code == 2


def test_parameters(db: str) -> None:
    doc = one_json("parameters", "--db", db)
    assert (doc["total"], doc["matched"]) == (7, 7)
    debtor = next(p for p in doc["parameters"] if p["code"] == "debtor")
    assert debtor == {
        "code": "debtor", "name": debtor["name"], "category": "courts", "points": -200,
        "per_unit": False, "expiry_days": 1095, "subjects": "any", "institutions": ["court"],
        "tags": debtor["tags"], "worth": "-200", "counts_for": "1095 days",
    }  # fmt: skip
    police = one_json("parameters", "--db", db, "--institution", "police")
    assert [p["code"] for p in police["parameters"]] == ["unruly"]
    found = one_json("parameters", "--db", db, "--search", "BAN.")
    assert [p["code"] for p in found["parameters"]] == ["ban.add", "ban.remove"]
    text = ok("parameters", "--db", db, "--institution", "court", "--limit", "2").stdout
    assert "the first 2 are shown" in text and "5 of 7 parameters match" in text
    bad = cli("parameters", "--db", db, "--institution", "polic")
    assert bad.exit_code == 1
    assert "unknown institution 'polic'" in bad.stderr and "did you mean police" in bad.stderr
    doc = json.loads(cli("parameters", "--db", db, "--institution", "x", "--json").stdout)
    assert doc["error"] == "UnknownInstitution"
