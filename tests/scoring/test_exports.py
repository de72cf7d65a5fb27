"""Linked rulebooks (``exports``, docs/rulebook.md 3.28): a village's year-end stars become
the county's points, and the county's direct downgrades the village's deductions, between
two ledgers in two DuckDB files, as their operators run it from the command line; the
same export again counts once; malformed exports are refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import feed
from tests.rulebook.test_loader import MINI, problems_of, write
from tests.test_cli import cli, ok, one_json

from socialrating.ledger import open_store
from socialrating.scoring import statement

ROOT = Path(__file__).resolve().parents[2]
VILLAGE = ROOT / "rulebooks" / "village-stars.yaml"
COUNTY = ROOT / "rulebooks" / "county-points.yaml"
SUBJECTS = "code,kind\nx1,citizen\nx2,citizen\nx3,citizen\nx4,citizen\n"


def _ledgers(tmp_path: Path) -> tuple[str, str]:
    """The village's ledger and the county's, with the same four residents; in 2020 x2
    earns 31 village bonus items (+62: 1062, five stars) and x3 11 (+22: 1022, three
    stars); the police find x1 drunk at the wheel on 2020-06-01 (the county grades them
    B directly, for two years)."""
    village, county = str(tmp_path / "village.duckdb"), str(tmp_path / "county.duckdb")
    (tmp_path / "s.csv").write_text(SUBJECTS)
    rows = [f"b{i},x2,village.bonus,2020-03-01" for i in range(31)]
    rows += [f"c{i},x3,village.bonus,2020-04-01" for i in range(11)]
    (tmp_path / "v.csv").write_text("key,subject,parameter,date\n" + "\n".join(rows) + "\n")
    (tmp_path / "c.csv").write_text(
        "key,subject,parameter,date\nd1,x1,direct.drunk_driving,2020-06-01\n"
    )
    for db, rulebook, batch, institution in (
        (village, VILLAGE, "v.csv", "committee"),
        (county, COUNTY, "c.csv", "police"),
    ):
        ok("init", "--db", db, "--rulebook", str(rulebook))
        ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
        ok("ingest", str(tmp_path / batch), "--institution", institution, "--db", db)
    return village, county


@pytest.mark.slow
def test_stars_and_downgrades_pass_between_two_ledgers(tmp_path: Path) -> None:
    village, county = _ledgers(tmp_path)
    # The county's year end first: x1's direct B (standing) becomes a village deduction.
    down = tmp_path / "downgrades.csv"
    doc = one_json(
        "export", "village_downgrades", "--as-of", "2020-12-31", "-o", str(down),
        "--into", str(VILLAGE), "--db", county,
    )  # fmt: skip
    assert (doc["records"], doc["by_parameter"], doc["institution"]) == (
        1,
        {"district.downgrade_b": 1},
        "district",
    )
    ok("ingest", str(down), "--institution", "district", "--db", village)
    # Then the village's: the stars of 31 December become county points.
    stars = tmp_path / "stars.csv"
    result = ok(
        "export", "district_points", "--as-of", "2020-12-31", "-o", str(stars),
        "--into", str(COUNTY), "--db", village,
    )  # fmt: skip
    assert "2 records" in result.stdout
    assert "socialrating ingest" in result.stdout and "--institution village" in result.stdout
    lines = stars.read_text().splitlines()
    assert lines[0] == '"key","subject","parameter","date","evidence"'
    assert [line.split(",")[1:4] for line in lines[1:]] == [
        ['"x2"', '"village.stars5"', '"2020-12-31"'],
        ['"x3"', '"village.stars3"', '"2020-12-31"'],
    ]
    ok("ingest", str(stars), "--institution", "village", "--db", county)
    with open_store(village) as store:  # x1 lost 50 in the village: one star, no export
        x1 = statement(store, "x1", dt.date(2020, 12, 31))
        assert (x1.score, x1.grade) == (950, "S1")
    with open_store(county) as store:
        x2 = statement(store, "x2", dt.date(2021, 1, 15))
        assert x2.score == 1015
        [line] = x2.lines
        assert (line.parameter, line.points) == ("village.stars5", 15)
        entry = store.one("SELECT evidence FROM entries WHERE entry_id = ?", [line.entry_id])
        assert entry is not None and "village-stars 2020" in entry[0]
        assert "graded S5" in entry[0]
        assert statement(store, "x3", dt.date(2021, 1, 15)).score == 1002
        assert statement(store, "x4", dt.date(2021, 1, 15)).score == 1000
    # The same export again: the same keys, counted once.
    again = tmp_path / "again.ndjson"
    ok("export", "district_points", "--as-of", "2020-12-31", "-o", str(again), "--db", village)
    assert [json.loads(x)["key"] for x in again.read_text().splitlines()] == [
        "village-stars:district_points:2020-12-31:x2",
        "village-stars:district_points:2020-12-31:x3",
    ]
    ingested = one_json("ingest", str(again), "--institution", "village", "--db", county)
    assert ingested["duplicates"] == 2
    # And after new records of the next year: the grades of 2020 did not change.
    (tmp_path / "n.csv").write_text("key,subject,parameter,date\nn1,x2,village.bonus,2021-01-05\n")
    ok("ingest", str(tmp_path / "n.csv"), "--institution", "committee", "--db", village)
    third = tmp_path / "third.parquet"
    ok("export", "district_points", "--as-of", "2020-12-31", "-o", str(third), "--db", village)
    ingested = one_json("ingest", str(third), "--institution", "village", "--db", county)
    assert (ingested["stored"], ingested["duplicates"]) == (0, 2)
    with open_store(county) as store:
        assert statement(store, "x2", dt.date(2021, 1, 15)).score == 1015
    # An export scores without storing a run: the latest run stays whatever it was.
    for db in (village, county):
        with open_store(db) as store:
            assert store.scalar("SELECT count(*) FROM runs") == 0


def test_an_export_that_cannot_be_made_says_why(tmp_path: Path) -> None:
    village, _ = _ledgers(tmp_path)
    out = tmp_path / "x.csv"
    result = cli("export", "nope", "--as-of", "2020-12-31", "-o", str(out), "--db", village)
    assert result.exit_code == 1
    assert "has no export 'nope' (its exports: district_points)" in result.output
    result = cli(
        "export", "district_points", "--as-of", "2020-06-30", "-o", str(out), "--db", village
    )
    assert result.exit_code == 1
    assert "made at the year's end" in result.output and "2020-12-31" in result.output
    # Checked against a rulebook that does not take them: nothing is written.
    result = cli(
        "export", "district_points", "--as-of", "2020-12-31", "-o", str(out),
        "--into", str(VILLAGE), "--db", village,
    )  # fmt: skip
    assert result.exit_code == 1
    assert "has no institution 'village'" in result.output
    assert "has no parameter 'village.stars5'" in result.output
    assert not out.exists()
    bad = tmp_path / "x.txt"
    result = cli(
        "export", "district_points", "--as-of", "2020-12-31", "-o", str(bad), "--db", village
    )
    assert result.exit_code == 1 and "use a .csv, .ndjson or .parquet file" in result.output
    with open_store(village) as store:  # nothing was scored or stored on the way
        assert store.scalar("SELECT count(*) FROM runs") == 0


@pytest.mark.parametrize(
    ("export", "field", "reason"),
    [
        (
            "{code: e, institution: i, grades: {Z: p}}",
            "exports[0].grades.Z",
            "no grade 'Z' for citizens",
        ),
        ("{code: e, institution: i, grades: {}}", "exports[0].grades", "at least 1"),
        ("{code: e, grades: {A: p}}", "exports[0].institution", "required"),
        (
            "{code: e, institution: i, grades: {A: p}, every: day}",
            "exports[0].every",
            "unknown field",
        ),
    ],
)
def test_a_malformed_export_is_refused(
    tmp_path: Path, export: str, field: str, reason: str
) -> None:
    text = MINI + f"exports:\n  - {export}\n  - {{code: e2, institution: i, grades: {{Q: p}}}}\n"
    found = [(p.field, p.reason) for p in problems_of(write(tmp_path, text))]
    assert any(f == field and reason in r for f, r in found), found
    # The second export's own problem is reported too.
    assert any(f == "exports[1].grades.Q" for f, _ in found), found


def test_an_export_code_is_used_once(tmp_path: Path) -> None:
    text = MINI + (
        "exports:\n  - {code: e, institution: i, grades: {A: p}}\n"
        "  - {code: e, institution: i, grades: {B: q}}\n"
    )
    found = [(p.field, p.reason) for p in problems_of(write(tmp_path, text))]
    assert ("exports[1].code", "code 'e' is used twice") in found


# --- the property: what an export makes, against a reference ---------------------------

STARS = ((1061, "S5"), (1041, "S4"), (1021, "S3"), (991, "S2"), (801, "S1"))
TO_COUNTY = {"S5": "village.stars5", "S4": "village.stars4", "S3": "village.stars3"}


def _stars(score: int) -> str:
    return next((g for least, g in STARS if score >= least), "S0")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    items=st.lists(
        st.tuples(
            st.sampled_from(("x1", "x2", "x3")),
            st.sampled_from(("village.bonus", "village.penalty", "village.award")),
            st.sampled_from((1, 2, 5, 10, 11, 20, 21, 30, 31)),  # about the bands' bounds
            st.sampled_from(("2020-05-01", "2019-12-31", "2021-01-01")),
        ),
        max_size=6,
    )
)
def test_an_export_makes_a_record_per_subject_graded_so(
    items: list[tuple[str, str, int, str]],
) -> None:
    """Village items of 2020 (and of the years either side, which do not count on
    2020-12-31) make each resident's stars; the year-end export makes a record of the
    county's parameter for each with three stars or more, and nobody else."""
    points = {"village.bonus": 2, "village.penalty": -2, "village.award": 3}
    store = open_store(":memory:", create=True)
    try:
        from socialrating.ledger import activate_rulebook, register_subjects
        from socialrating.rulebook import load_rulebook
        from socialrating.scoring.exports import export_records

        activate_rulebook(store, load_rulebook(VILLAGE))
        register_subjects(store, pa.table({"code": ["x1", "x2", "x3"], "kind": ["citizen"] * 3}))
        rows = [{"subject": s, "parameter": p, "date": d} for s, p, n, d in items for _ in range(n)]
        if rows:
            feed(store, "committee", rows)
        exported = export_records(store, "district_points", dt.date(2020, 12, 31))
        score = {s: 1000 for s in ("x1", "x2", "x3")}
        for s, p, n, d in items:
            if d.startswith("2020"):
                score[s] += points[p] * n
        expected = [
            (s, TO_COUNTY[_stars(score[s])]) for s in sorted(score) if _stars(score[s]) in TO_COUNTY
        ]
        got = exported.rows.select(["subject", "parameter"]).to_pylist()
        assert [(r["subject"], r["parameter"]) for r in got] == expected, (items, score)
        assert set(exported.rows.column("date").to_pylist()) <= {"2020-12-31"}
    finally:
        store.close()
