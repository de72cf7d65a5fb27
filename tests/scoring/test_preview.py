"""`socialrating rulebook preview`: the real ledger scored under a candidate rulebook,
beside the one in force, with nothing stored; its figures are those of two real runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DATA
from tests.ledgers import cli_ledger
from tests.test_cli import cli, ok

from socialrating.decisions.decider import load_decider
from socialrating.ledger import open_store

PEOPLE = (
    "code,kind,born,sex,region\n"
    + "".join(
        f"c{i},citizen,{1950 + 10 * (i % 5)}-06-01,{'FM'[i % 2]},{['north', 'south'][i % 2]}\n"
        for i in range(1, 13)
    )
    + "o1,organisation,,,south\no2,organisation,,,north\n"
)
COURT = (
    "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,c2,tax_debt,2021-03-01\n"
    "k3,o1,debtor,2021-04-01\nk4,c3,tax_debt,2021-01-10\nk5,c3,tax_debt,2021-02-10\n"
)
POLICE = (
    "key,subject,parameter,date\np1,c4,unruly,2021-04-01\np2,c5,unruly,2021-03-01\n"
    "p3,c5,unruly,2021-04-15\np4,c6,unruly,2021-05-20\np5,c7,unruly,2021-05-01\n"
    "p6,c7,unruly,2021-05-02\np7,c7,unruly,2021-05-03\n"
)
EDITS = (
    ("{code: unruly, category: traffic, points: -20,", "{code: unruly, category: traffic, points: -60,"),
    ("    - {grade: B, min: 850}", "    - {grade: B, min: 900}"),
    ("    term_days: 100", "    term_days: 30"),
    ("      - {when: {grades: [D]}, decision: refused}\n  - code: loan",
     "      - {when: {grades: [C, D]}, decision: refused}\n  - code: loan"),
    ("    otherwise: refused", "    otherwise: allowed"),
)  # fmt: skip
SAME_SERVICES = EDITS[:3]  # points, a band and a list's term: decisions flip all the same
AS_OF = "2021-05-31"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("preview")
    db = cli_ledger(tmp, subjects=PEOPLE, batch=COURT, scored=())
    (tmp / "police.csv").write_text(POLICE, encoding="utf-8")
    ok("ingest", str(tmp / "police.csv"), "--institution", "police", "--db", db)
    ok("score", "--db", db, "--as-of", AS_OF)
    return db, written(tmp / "candidate.yaml", EDITS)


def written(path: Path, edits: tuple[tuple[str, str], ...]) -> Path:
    """The consequences rulebook with ``edits`` made, written to ``path``."""
    text = (DATA / "consequences.yaml").read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


def previewed(db: str, candidate: Path, *extra: str) -> dict[str, Any]:
    result = ok("rulebook", "preview", str(candidate), "--db", db, "--json", *extra)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


@pytest.mark.parametrize("edits", [EDITS, SAME_SERVICES], ids=["services-too", "same-services"])
def test_the_preview_is_the_difference_of_two_real_runs(
    ledger: tuple[str, Path], tmp_path: Path, edits: tuple[tuple[str, str], ...]
) -> None:
    db, _ = ledger
    candidate = written(tmp_path / "candidate.yaml", edits)
    before = Path(db).read_bytes()
    doc = previewed(db, candidate)
    assert Path(db).read_bytes() == before  # nothing stored
    assert doc["reused_run"] == 1  # the latest run stands for the rulebook in force
    # Independently: the candidate activated in a copy and a full run stored.
    copy = str(tmp_path / "copy.duckdb")
    shutil.copy(db, copy)
    ok("rulebook", "install", str(candidate), "--db", copy, "--backdate", "the candidate")
    ok("score", "--db", copy, "--as-of", AS_OF, "--full")
    with open_store(copy, read_only=True) as store:
        grades = [
            {"kind": k, "from": x, "to": y, "subjects": n}
            for k, x, y, n in store.rows(
                """SELECT s.kind, b.grade, a.grade, count(*)::INT FROM snapshot b
                   JOIN snapshot a USING (subject_id) JOIN subjects s USING (subject_id)
                   WHERE b.run_id = 1 AND a.run_id = 2 GROUP BY ALL ORDER BY ALL"""
            )
        ]
        members = {
            run: set(store.rows(f"SELECT list, subject_id FROM list_members WHERE run_id = {run}"))
            for run in (1, 2)
        }
        old, new = load_decider(store, 1), load_decider(store, 2)
        flips: dict[str, dict[tuple[str, str], int]] = {}
        for service in [s.code for s in new.rulebook.spec.services]:
            x = old.decide_many(new.codes, service).column("decision").to_pylist()
            y = new.decide_many(new.codes, service).column("decision").to_pylist()
            for p, q in zip(x, y, strict=True):
                if p != q:
                    counted = flips.setdefault(service, {})
                    counted[(p, q)] = counted.get((p, q), 0) + 1
    assert doc["grades"] == grades
    assert doc["grade_changed"] == sum(g["subjects"] for g in grades if g["from"] != g["to"]) > 0
    for code, moved in doc["lists"].items():
        entered = {m for m in members[2] - members[1] if m[0] == code}
        left = {m for m in members[1] - members[2] if m[0] == code}
        assert moved == {"entered": len(entered), "left": len(left)}, code
    assert {s: {(f["from"], f["to"]): f["subjects"] for f in v}
            for s, v in doc["decisions"].items() if v} == flips  # fmt: skip
    assert flips  # the candidate flips decisions here
    assert doc["parameters"][0]["parameter"] == "unruly"
    assert doc["parameters"][0]["subjects_with_records"] == 4
    by_sex = {row["sex"]: row for row in doc["by"]["sex"]}
    assert sum(r["subjects"] for r in by_sex.values()) == 14
    assert sum(r["grade_changed"] for r in by_sex.values()) == doc["grade_changed"]


def test_a_preview_on_another_day_scores_both_rulebooks(ledger: tuple[str, Path]) -> None:
    db, candidate = ledger
    doc = previewed(db, candidate, "--as-of", "2021-04-30")
    assert doc["reused_run"] is None and doc["as_of"] == "2021-04-30"
    assert sum(g["subjects"] for g in doc["grades"]) == 14


def test_the_rulebook_in_force_previewed_changes_nothing(ledger: tuple[str, Path]) -> None:
    db, _ = ledger
    doc = previewed(db, DATA / "consequences.yaml")
    assert doc["grade_changed"] == 0 and doc["parameters"] == []
    assert all(not v for v in doc["decisions"].values())
    assert all(v == {"entered": 0, "left": 0} for v in doc["lists"].values())
    text = ok("rulebook", "preview", str(DATA / "consequences.yaml"), "--db", db).stdout
    assert "0 of them change grade" in text and "decisions: none flips" in text


def test_a_candidate_that_is_not_a_rulebook_says_why(
    ledger: tuple[str, Path], tmp_path: Path
) -> None:
    db, _ = ledger
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nversion: 1\n", encoding="utf-8")
    result = cli("rulebook", "preview", str(bad), "--db", db)
    assert result.exit_code == 1 and "bad.yaml" in result.output
    assert "Traceback" not in result.output
