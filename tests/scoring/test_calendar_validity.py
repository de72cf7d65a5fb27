"""Validity in calendar months and to the end of a calendar year (docs/rulebook.md 3.9):
the day a record stops counting, in a statement and in a run, month ends and leap years
included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, changed, problems_of, write
from tests.test_cli import ok, one_json

from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement


@pytest.fixture
def store() -> Iterator[Store]:
    s = open_store(":memory:", create=True)
    activate_rulebook(s, load_rulebook(DATA / "calendar.yaml"))
    register_subjects(s, pa.table({"code": ["c1"], "kind": ["citizen"]}))
    yield s
    s.close()


@pytest.mark.parametrize(
    ("parameter", "day", "quantity", "ends"),
    [
        ("half_year", "2021-08-31", None, "2022-02-28"),  # the last day of a shorter month
        ("half_year", "2019-08-31", None, "2020-02-29"),  # … in a leap year
        ("half_year", "2021-05-01", None, "2021-11-01"),
        ("this_year", "2021-08-31", None, "2022-01-01"),
        ("this_year", "2021-12-31", None, "2022-01-01"),
        ("next_year", "2021-01-01", None, "2023-01-01"),
        ("by_size", "2021-05-01", 1, "2023-11-01"),  # 2.5 years
        ("by_size", "2021-05-01", 3, "2021-05-11"),  # larger: 10 days
    ],
)
def test_a_record_stops_counting_on_its_calendar_day(
    store: Store, parameter: str, day: str, quantity: int | None, ends: str
) -> None:
    feed(
        store,
        "office",
        [{"subject": "c1", "parameter": parameter, "date": day, "quantity": quantity}],
    )
    end = dt.date.fromisoformat(ends)
    last = end - dt.timedelta(days=1)
    counting = statement(store, "c1", last)
    (line,) = counting.lines
    assert (line.expires, line.status.value) == (end, "counted")
    assert counting.score < 100
    ended = statement(store, "c1", end)
    assert (ended.score, ended.lines[0].status.value) == (100, "expired")
    for as_of, score in ((last, counting.score), (end, 100)):
        run = score_run(store, as_of, full=True)
        got = store.scalar("SELECT score FROM snapshot WHERE run_id = ?", [run.run_id])
        assert got == score, as_of


def test_an_incremental_run_sees_a_calendar_expiry(store: Store) -> None:
    feed(store, "office", [{"subject": "c1", "parameter": "this_year", "date": "2021-06-01"}])
    base = score_run(store, dt.date(2021, 12, 31), full=True)
    assert store.scalar("SELECT score FROM snapshot WHERE run_id = ?", [base.run_id]) == 80
    later = score_run(store, dt.date(2022, 1, 1))
    assert later.incremental["base_run"] == base.run_id
    assert store.scalar("SELECT score FROM snapshot WHERE run_id = ?", [later.run_id]) == 100


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ("{days: 10, months: 3}", "give days, months or calendar_years (one of them)"),
        ("{points_up_to: 1}", "give days, months or calendar_years (one of them)"),
        ("{months: 0}", "greater than 0"),
        ("{calendar_years: -1}", "greater than or equal to 0"),
    ],
)
def test_a_malformed_calendar_rule_is_refused(tmp_path: Path, rule: str, reason: str) -> None:
    text = changed(
        "{code: red_light, category: traffic, points: -10, institutions: [police]}",
        f"{{code: red_light, category: traffic, points: -10, institutions: [police], "
        f"validity: [{rule}]}}",
        MINI,
    )
    problems = problems_of(write(tmp_path, text))
    assert any(
        p.field.startswith("parameters[0].validity[0]") and reason in p.reason for p in problems
    ), [(p.field, p.reason) for p in problems]


def test_the_parameters_say_how_long_in_calendar_terms(tmp_path: Path) -> None:
    db = str(tmp_path / "calendar.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "calendar.yaml"))
    rows = {r["code"]: r["counts_for"] for r in one_json("parameters", "--db", db)["parameters"]}
    assert rows == {
        "half_year": "6 months",
        "this_year": "to the end of its year",
        "next_year": "to the end of its year + 1",
        "by_size": "30 months, 10 days by size or level",
    }
