"""Bands of a year's accumulated quantity (docs/rulebook.md 3.11): each record gives what
its quantity adds to the year's banded points, against a plain Python reference written
from the rule text; capped marginal bands; malformed bands."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, problems_of, write

from socialrating.appeals.filing import file_appeal, review_appeal
from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

RULEBOOK = DATA / "yearly.yaml"
START = dt.date(2020, 1, 1)
DONATION = [(0, 0.01, 10), (1000, 0.0025, 10), (5000, 0.002, 10), (10000, 0.001, 10)]
HOURS = [(10, 2), (20, 5), (50, 10)]
VALID_DAYS = 730


def donation_points(total: float) -> int:
    """Marginal bands, each at most its cap, the sum truncated toward zero."""
    points = 0.0
    for i, (start, rate, cap) in enumerate(DONATION):
        top = total if i == len(DONATION) - 1 else min(total, DONATION[i + 1][0])
        points += min(max(top - start, 0.0) * rate, cap)
    return math.floor(points + 1e-9)


def hours_points(total: float) -> int:
    return max((points for start, points in HOURS if total >= start), default=0)


def reference(records: list[tuple[str, int, float]], as_of: int) -> tuple[int, list[int]]:
    """The score as of ``as_of`` and each record's points (in the order given, which is
    the entry order within a day): a record gives the year's banded points up to it
    minus those before it."""
    order = sorted(range(len(records)), key=lambda i: (records[i][1], i))
    running: dict[tuple[str, int], float] = {}
    given = [0] * len(records)
    for i in order:
        code, day, qty = records[i]
        if day > as_of:
            continue
        year = (START + dt.timedelta(days=day)).year
        before = running.get((code, year), 0.0)
        running[(code, year)] = before + qty
        band = donation_points if code == "donation" else hours_points
        given[i] = band(before + qty) - band(before)
    score = sum(
        given[i] for i, (_, day, _) in enumerate(records) if day <= as_of < day + VALID_DAYS
    )
    return score, given


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[tuple[str, int, float]], int]:
    """Donations and hours over about three years (several per year, some on one day),
    and a day to look at."""
    records = draw(
        st.lists(
            st.tuples(
                st.sampled_from(("donation", "hours")),
                st.integers(0, 36).map(lambda k: 30 * k),
                st.sampled_from((5.0, 50.0, 99.5, 400.0, 950.0, 3000.0, 7000.0, 12000.0, 25000.0)),
            ),
            min_size=1,
            max_size=10,
        )
    )
    records = [(c, d, q if c == "donation" else q / 200) for c, d, q in records]
    as_of = draw(st.sampled_from((100, 365, 400, 730, 800, 1100)))
    return records, as_of


@pytest.mark.slow
@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ledger=ledgers())
def test_yearly_bands_follow_the_rules(ledger: tuple[list[tuple[str, int, float]], int]) -> None:
    records, as_of = ledger
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        order = sorted(range(len(records)), key=lambda i: (records[i][1], i))
        entry = {}
        for i in order:  # entry order is day, then as sent
            code, d, qty = records[i]
            date = (START + dt.timedelta(days=d)).isoformat()
            row = {"subject": "c1", "parameter": code, "date": date, "quantity": f"{qty}"}
            sent = feed(store, "charity", [row])
            assert sent.batch is not None
            entry[i] = sent.batch.first_entry
        day = START + dt.timedelta(days=as_of)
        got = statement(store, "c1", day)
        score, given = reference(records, as_of)
        assert got.score == score, (records, as_of)
        lines = {line.entry_id: line for line in got.lines}
        for i, points in enumerate(given):
            if records[i][1] <= as_of:
                assert lines[entry[i]].points == points, (i, records, as_of)
        run = score_run(store, day)
        assert store.scalar("SELECT score FROM snapshot WHERE run_id = ?", [run.run_id]) == score
    finally:
        store.close()


def test_a_voided_donation_does_not_accumulate() -> None:
    """A record that may not count (an unverified, voided or unconfident one) adds nothing
    to the year's quantity: the next donation is banded as if it had not been sent."""
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        rows = [
            {"subject": "c1", "parameter": "donation", "date": "2020-02-01", "quantity": "900"},
            {"subject": "c1", "parameter": "donation", "date": "2020-03-01", "quantity": "400"},
        ]
        first = feed(store, "charity", rows[:1]).batch
        feed(store, "charity", rows[1:])
        assert first is not None
        appeal = file_appeal(store, "c1", first.first_entry, "never donated", dt.date(2020, 3, 2))
        review_appeal(
            store, appeal.appeal_id, "voided", "no such donation", "clerk", dt.date(2020, 3, 3)
        )
        got = statement(store, "c1", dt.date(2020, 6, 1))
        points = [(line.status.value, line.points) for line in got.lines]
        # Voided, the first is valued as if it counted (900: 9); the second is banded
        # from 0 (400: 4), not from 900 (1300: 10 + 0.75 -> 10, so 1).
        assert points == [("voided", 9), ("counted", 4)], points
        assert got.score == 4
    finally:
        store.close()


@pytest.mark.parametrize(
    ("bands", "field", "reason"),
    [
        (
            "{mode: highest, steps: [{from: 1, points: 2, max_points: 1}]}",
            "bands.steps[0].max_points",
            "max_points caps a marginal band",
        ),
        (
            "{mode: marginal, per: month, steps: [{from: 0, per_unit: 1}]}",
            "bands.per",
            "'record' or 'calendar_year'",
        ),
        (
            "{mode: marginal, steps: [{from: 0, per_unit: 1, max_points: -3}]}",
            "bands.steps[0].max_points",
            "greater than or equal to 0",
        ),
    ],
)
def test_malformed_bands_are_refused(tmp_path: Path, bands: str, field: str, reason: str) -> None:
    text = MINI + (
        f"  - {{code: given, category: traffic, institutions: [police], bands: {bands}}}\n"
    )
    problems = problems_of(write(tmp_path, text))
    found = [(p.field, p.reason) for p in problems]
    assert any(f == f"parameters[3].{field}" and reason in r for f, r in found), found
