"""The CLI on the pilot mechanics: `show` explains a direct grade, and a second rulebook."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import ok, one_json

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "tests" / "cases" / "pilot.yaml"
LICENCE = ROOT / "rulebooks" / "licence-points.yaml"


def setup(tmp_path: Path, rulebook: Path, subjects: str, batches: dict[str, str]) -> str:
    db = str(tmp_path / "m.duckdb")
    ok("init", "--db", db, "--rulebook", str(rulebook))
    (tmp_path / "subjects.csv").write_text(subjects, encoding="utf-8")
    ok("subjects", "import", str(tmp_path / "subjects.csv"), "--db", db)
    for institution, text in batches.items():
        path = tmp_path / f"{institution}.csv"
        path.write_text(text, encoding="utf-8")
        ok("ingest", str(path), "--institution", institution, "--db", db)
    return db


def test_show_explains_a_direct_grade_and_frozen_additions(tmp_path: Path) -> None:
    db = setup(
        tmp_path,
        PILOT,
        "code,kind\nc1,citizen\n",
        {
            "court": "key,subject,parameter,date\nd1,c1,dishonest_debtor,2021-03-01\n",
            "civil": "key,subject,parameter,date\nd2,c1,hero,2021-04-01\n",
        },
    )
    out = ok("show", "c1", "--db", db, "--as-of", "2021-12-31").stdout
    assert out.startswith("c1 (citizen) as of 2021-12-31: score 550, grade D")
    assert "Direct grade D since 2021-03-01 until 2026-02-28" in out
    assert "addition frozen while a direct grade stands" in out
    assert "direct grade D" in out and "-450" in out  # the adjustment from 1000 to 550
    doc = one_json("show", "c1", "--db", db, "--as-of", "2021-12-31")
    assert doc["direct_grade"]["grade"] == "D" and doc["points_score"] == 1000
    assert doc["base"] + sum(line["counted"] for line in doc["lines"]) + doc["adjustment"] == 550
    score = one_json("score", "--db", db, "--as-of", "2021-12-31")
    assert score["grades"]["citizen"]["D"] == 1


def test_licence_points_register_end_to_end(tmp_path: Path) -> None:
    db = setup(
        tmp_path,
        LICENCE,
        "code,kind\nd1,citizen\n",
        {
            "police": "key,subject,parameter,date\n"
            "a,d1,offence.serious,2021-01-10\nb,d1,offence.serious,2021-03-01\n",
            "seminar": "key,subject,parameter,date\nc,d1,seminar.completed,2021-04-01\n",
        },
    )
    out = ok("show", "d1", "--db", db, "--as-of", "2021-12-31").stdout
    assert out.startswith("d1 (citizen) as of 2021-12-31: score 3, grade R")
    assert "allowed at a balance of 4" in out
    doc = one_json("show", "d1", "--db", db, "--as-of", "2021-03-31")
    assert (doc["score"], doc["stage"]) == (4, "admonition")
