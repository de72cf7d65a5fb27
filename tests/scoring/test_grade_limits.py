"""Grade limits (docs/rulebook.md 3.24) against a plain Python reference written from the
rule text: the registry date, last year's grade and counting records each cap a grade,
the most restrictive wins, and the score stays what the points make it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, problems_of, write

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

RULEBOOK = DATA / "limits.yaml"
START = dt.date(2020, 1, 1)
GRADES = "ABCD"


def _grade(score: int) -> int:
    return 0 if score >= 100 else 1 if score >= 80 else 2 if score >= 50 else 3


def _score(records: list[tuple[str, int]], day: int) -> int:
    return 100 - 30 * sum(1 for p, d in records if p == "fault" and d <= day < d + 200)


def reference(
    kind: str, born: dt.date, records: list[tuple[str, int]], day: int
) -> tuple[int, str, str | None]:
    """(score, grade, the limit that lowered it) as of ``day`` (days from START)."""
    date = START + dt.timedelta(days=day)
    score = _score(records, day)
    by_score = _grade(score)
    last_end = (dt.date(date.year - 1, 12, 31) - START).days
    last = _grade(_score(records, last_end))
    watched = any(p == "watch" and d <= day < d + 100 for p, d in records)

    def within(years: int) -> bool:
        """Less than ``years`` after ``born`` (29 February's anniversary: 28 February)."""
        day = min(born.day, 28) if (born.month, born.day) == (2, 29) else born.day
        return date < born.replace(year=born.year + years, day=day)

    limits = [
        ("young", 1, kind == "organisation" and within(2)),
        ("last_year", 2, last == 3),
        ("watched", 1, kind == "citizen" and watched),
        ("both", 2, within(1) and watched),
    ]
    ceiling = max((rank for _, rank, applies in limits if applies), default=-1)
    if ceiling <= by_score:
        return score, GRADES[by_score], None
    by = next(code for code, rank, applies in limits if applies and rank == ceiling)
    return score, GRADES[ceiling], by


day = st.integers(0, 110).map(lambda k: 10 * k)
# Faults whose 200 days end on 1 January or a day either side (2021, 2022): last year's
# grade is the one of 31 December.
edge = st.sampled_from((165, 166, 167, 530, 531, 532))


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    kind=st.sampled_from(("citizen", "organisation")),
    born=st.one_of(
        st.integers(-900, 800).map(lambda d: START + dt.timedelta(days=d)),
        st.sampled_from((dt.date(2020, 2, 29), dt.date(2019, 2, 28), dt.date(2016, 2, 29))),
    ),
    records=st.lists(
        st.tuples(st.sampled_from(("fault", "fault", "watch")), st.one_of(day, edge)), max_size=8
    ),
    as_of=day.map(lambda d: d + 5),
)
def test_grade_limits_follow_the_rules(
    kind: str, born: dt.date, records: list[tuple[str, int]], as_of: int
) -> None:
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(
            store, pa.table({"code": ["s1"], "kind": [kind], "born": [born.isoformat()]})
        )
        if records:
            rows = [
                {
                    "subject": "s1",
                    "parameter": p,
                    "date": (START + dt.timedelta(days=d)).isoformat(),
                }
                for p, d in records
            ]
            feed(store, "office", rows)
        date = START + dt.timedelta(days=as_of)
        got = statement(store, "s1", date)
        score, grade, by = reference(kind, born, records, as_of)
        assert (got.score, got.grade) == (score, grade), (kind, born, records, as_of)
        assert (got.limit.code if got.limit else None) == by
        run = score_run(store, date, full=True)
        stored = store.one("SELECT score, grade FROM snapshot WHERE run_id = ?", [run.run_id])
        assert stored == (score, grade)
    finally:
        store.close()


def test_a_limit_says_what_it_did() -> None:
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(
            store, pa.table({"code": ["o1"], "kind": ["organisation"], "born": ["2021-03-01"]})
        )
        st_ = statement(store, "o1", dt.date(2022, 1, 1))
        assert (st_.score, st_.grade) == (100, "B")
        assert st_.as_dict()["grade_limit"] == {
            "code": "young",
            "name": "",
            "at_best": "B",
            "by_score": "A",
        }
        assert [f.code for f in st_.key_factors] == ["LIMIT:young"]
        assert statement(store, "o1", dt.date(2023, 3, 1)).grade == "A"  # two years on
    finally:
        store.close()


def test_last_year_is_the_grade_of_31_december() -> None:
    """Two faults that stop counting on 1 January 2021: D on 31 December 2020, so at best
    C in 2021, though the score is back to 100."""
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        feed(store, "office", [{"subject": "c1", "parameter": "fault", "date": "2020-06-15"}] * 2)
        assert statement(store, "c1", dt.date(2020, 12, 31)).grade == "D"
        later = statement(store, "c1", dt.date(2021, 3, 1))
        assert (later.score, later.grade, later.limit and later.limit.code) == (
            100,
            "C",
            "last_year",
        )
        assert statement(store, "c1", dt.date(2022, 1, 1)).grade == "A"
    finally:
        store.close()


@pytest.mark.parametrize(
    ("limit", "field", "reason"),
    [
        (
            "{code: x, at_best: Z, when: {records: [red_light]}}",
            "at_best",
            "no grade 'Z' for organisations",
        ),
        ("{code: x, at_best: B, when: {}}", "when", "give a condition"),
        (
            "{code: x, at_best: B, when: {records: [nope]}}",
            "when.records",
            "'nope' is not a parameter of the YAML",
        ),
        (
            "{code: x, at_best: B, when: {graded_last_year: [Q]}}",
            "when.graded_last_year",
            "no grade 'Q' for organisations",
        ),
        (
            "{code: x, at_best: B, when: {registered_within_years: 0}}",
            "when.registered_within_years",
            "greater than 0",
        ),
        ("{code: x, at_best: B, when: {since: 3}}", "when.since", "unknown field"),
    ],
)
def test_a_malformed_grade_limit_is_refused(
    tmp_path: Path, limit: str, field: str, reason: str
) -> None:
    text = (
        MINI
        + f"grade_limits:\n  - {limit}\n  - {{code: y, at_best: C, when: {{records: [nope2]}}, subjects: citizen}}\n"
    )
    problems = problems_of(write(tmp_path, text))
    found = [(p.field, p.reason) for p in problems]
    assert any(f == f"grade_limits[0].{field}" and reason in r for f, r in found), found
    # The second limit's own problem is reported too, whatever the first's.
    assert any(f == "grade_limits[1].when.records" for f, _ in found), found


def test_a_frozen_record_still_holds_a_limit(tmp_path: Path) -> None:
    """A limiting record that is an addition frozen under a direct grade still stands."""
    path = tmp_path / "frozen.yaml"
    path.write_text(
        RULEBOOK.read_text()
        .replace(
            "  - {code: watch,",
            "  - {code: graded, category: acts, points: 0, direct_grade: B, "
            "institutions: [office]}\n"
            "  - {code: flag, category: acts, points: 5, institutions: [office]}\n"
            "  - {code: watch,",
        )
        .replace(
            "  - {code: young,",
            "  - {code: flagged, subjects: citizen, at_best: C, when: {records: [flag]}}\n"
            "  - {code: young,",
        )
    )
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(path))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        feed(
            store,
            "office",
            [
                {"subject": "c1", "parameter": "graded", "date": "2020-02-01"},
                {"subject": "c1", "parameter": "flag", "date": "2020-03-01"},
            ],
        )
        got = statement(store, "c1", dt.date(2020, 6, 1))
        assert [line.status.value for line in got.lines] == ["counted", "frozen"]
        assert (got.grade, got.limit and got.limit.code) == ("C", "flagged")
    finally:
        store.close()
