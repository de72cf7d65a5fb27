"""Measures issued at stages (docs/rulebook.md 3.25): a measure with no earlier record of
the one before it reduces the balance, against a plain Python reference written from the
rule text, and malformed rules."""

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
from socialrating.scoring import statement

RULEBOOK = DATA / "stages.yaml"
START = dt.date(2020, 1, 1)
OFFENCES = {"offence": (2, 300), "big": (3, 500)}
MEASURES = {"warn": (5, "adm"), "wd": (7, "warn")}
INSTITUTION = {
    "offence": "police",
    "big": "police",
    "adm": "authority",
    "warn": "authority",
    "wd": "authority",
}


def reference(records: list[tuple[str, int]], as_of: int) -> tuple[int, dict[int, int]]:
    """The score as of ``as_of`` and each measure's points (by position), from the rule
    text: a measure's balance is the offences of earlier days still counting on its day."""
    order = sorted(range(len(records)), key=lambda i: (records[i][1], i))
    rank = {i: n for n, i in enumerate(order)}  # entry order: day, then as sent
    score = 0
    for code, day in records:
        if code in OFFENCES and day <= as_of < day + OFFENCES[code][1]:
            score += OFFENCES[code][0]
    given: dict[int, int] = {}
    for i, (code, day) in enumerate(records):
        if code not in MEASURES or day > as_of:
            continue
        target, before = MEASURES[code]
        counted = [
            (OFFENCES[c][0], d + OFFENCES[c][1])
            for c, d in records
            if c in OFFENCES and d < day < d + OFFENCES[c][1]
        ]
        balance = sum(p for p, _ in counted)
        earlier = any(c == before and rank[j] < rank[i] for j, (c, _) in enumerate(records))
        points = target - balance if not earlier and balance > target else 0
        until = max((end for _, end in counted), default=None)
        given[i] = points
        if points and (until is None or as_of < until):
            score += points
    return score, given


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[tuple[str, int]], int]:
    """Offences close together, measures among and after them (often on the same days),
    and a day to look at before, during or after their validity."""
    start = draw(st.integers(0, 20)) * 10
    offences = draw(
        st.lists(
            st.tuples(
                st.sampled_from(("offence", "big")), st.integers(0, 8).map(lambda k: start + 10 * k)
            ),
            min_size=1,
            max_size=6,
        )
    )
    measures = draw(
        st.lists(
            st.tuples(
                st.sampled_from(("adm", "warn", "wd", "warn", "wd")),
                st.integers(0, 24).map(lambda k: start + 5 * k),
            ),
            max_size=3,
        )
    )
    records = draw(st.permutations(offences + measures))
    as_of = start + draw(st.sampled_from((45, 95, 150, 295, 305, 455, 505, 700)))
    return list(records), as_of


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ledger=ledgers())
def test_skipped_stages_follow_the_rules(ledger: tuple[list[tuple[str, int]], int]) -> None:
    records, as_of = ledger
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        # Entry order is day, then as sent: send in that order, one batch per record.
        order = sorted(range(len(records)), key=lambda i: (records[i][1], i))
        entry = {}
        for i in order:
            code, d = records[i]
            date = (START + dt.timedelta(days=d)).isoformat()
            sent = feed(
                store, INSTITUTION[code], [{"subject": "c1", "parameter": code, "date": date}]
            )
            assert sent.batch is not None
            entry[i] = sent.batch.first_entry
        got = statement(store, "c1", START + dt.timedelta(days=as_of))
        score, given = reference(records, as_of)
        assert got.score == score, (records, as_of)
        lines = {line.entry_id: line for line in got.lines}
        for i, points in given.items():
            assert lines[entry[i]].points == points, (i, records, as_of)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("rule", "field", "reason"),
    [
        (
            "{reduce_to: 5, unless_after: [nope]}",
            "skipped_stage.unless_after[0]",
            "'nope' is not a parameter of the YAML",
        ),
        ("{reduce_to: 5, unless_after: []}", "skipped_stage.unless_after", "at least 1 item"),
        ("{reduce_to: five, unless_after: [blood]}", "skipped_stage.reduce_to", "valid integer"),
        ("{reduce_to: 5}", "skipped_stage.unless_after", "Field required"),
    ],
)
def test_a_malformed_skipped_stage_is_refused(
    tmp_path: Path, rule: str, field: str, reason: str
) -> None:
    text = MINI + (
        "  - {code: warned, category: traffic, points: 0, institutions: [police], "
        f"skipped_stage: {rule}}}\n"
    )
    problems = problems_of(write(tmp_path, text))
    found = [(p.field, p.reason) for p in problems]
    assert any(f == f"parameters[3].{field}" and reason in r for f, r in found), found


def test_points_beside_a_skipped_stage_are_refused(tmp_path: Path) -> None:
    text = MINI + (
        "  - {code: warned, category: traffic, points: -3, institutions: [police], "
        "skipped_stage: {reduce_to: 5, unless_after: [blood]}}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.reason.split(":")[0]) for p in problems] == [
        ("parameters[3].points", "points beside skipped_stage would never count")
    ]


def test_a_base_above_the_target_is_not_reduced(tmp_path: Path) -> None:
    """Only points of records are reduced: a base of 6 with no record stays 6 (a reduction
    from it would have nothing to end with)."""
    path = tmp_path / "stages.yaml"
    path.write_text(RULEBOOK.read_text().replace("base_score: 0", "base_score: 6"))
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(path))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        feed(store, "authority", [{"subject": "c1", "parameter": "warn", "date": "2020-03-01"}])
        got = statement(store, "c1", dt.date(2021, 1, 1))
        assert (got.score, got.lines[0].points) == (6, 0)
        assert "the balance of 6 holds no record's points" in got.lines[0].reason
    finally:
        store.close()
