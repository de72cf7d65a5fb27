"""Rectifications (a record made good within a window), against a plain Python reference
written from the rule text (docs/rulebook.md), and what a statement says of them."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed

from socialrating.errors import BatchRejected
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import statement

RULEBOOK = DATA / "rectify.yaml"
START = dt.date(2021, 1, 1)
POINTS = {"late": -50, "minor": -7, "other": -20}
EXPIRY = {"late": 200, "minor": 100, "other": 150}

Record = tuple[str, int, float | None]  # parameter, day (from START), quantity
Fix = tuple[int, int]  # index of the record it names, day


def _date(day: int) -> dt.date:
    return START + dt.timedelta(days=day)


def _window(x: Record, fix_day: int) -> tuple[int, float | None, int | None]:
    """The rulebook's windows (tests/data/rectify.yaml) as written: (window, share, points)."""
    _, day, quantity = x
    if fix_day - day <= 20 and quantity is not None and quantity <= 100:
        return 1, 1.0, None
    if fix_day - day <= 20:
        return 2, 0.8, None
    if _date(fix_day).year <= _date(day).year:
        return 3, 0.4, None
    if _date(fix_day).year <= _date(day).year + 1:
        return 4, None, 3
    return 0, None, None


def reference(records: list[Record], fixes: list[Fix], as_of: int) -> tuple[int, list[str]]:
    """The score as of ``as_of`` and each fix's status, from the rule text."""
    points: list[int] = []
    for i, (code, day, _) in enumerate(records):
        p = POINTS[code]
        if code == "late":  # repeated while an earlier one (day, then entry order) counts
            earlier = [
                (d, j) for j, (c, d, _) in enumerate(records) if c == "late" and (d, j) < (day, i)
            ]
            if any(d + EXPIRY["late"] > day for d, _ in earlier):
                p *= 2
        points.append(p)
    score = 1000
    for i, (code, day, _) in enumerate(records):
        if day <= as_of < day + EXPIRY[code]:
            score += points[i]
    statuses = ["nothing_to_repair"] * len(fixes)
    for i, x in enumerate(records):
        code, day, _ = x
        if code == "other":
            continue
        held = [
            (fix_day, n)
            for n, (ref, fix_day) in enumerate(fixes)
            if ref == i
            and fix_day <= as_of
            and day <= fix_day < day + EXPIRY[code]
            and _window(x, fix_day)[0] > 0
        ]
        if not held:
            continue
        fix_day, n = min(held)
        _, share, fixed = _window(x, fix_day)
        back = fixed if fixed is not None else math.trunc(-points[i] * share + 1e-9)
        counting = as_of < day + EXPIRY[code]
        statuses[n] = "counted" if counting else "expired"
        score += back if counting else 0
    return score, statuses


day = st.integers(0, 60).map(lambda k: 10 * k + k % 3)  # about 20 months, 3 calendar years


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[Record], list[Fix], int]:
    """Records, fixes naming them (often soon after, sometimes before or twice), a day."""
    records = draw(
        st.lists(
            st.tuples(
                st.sampled_from(("late", "late", "minor", "other")),
                day,
                st.sampled_from((None, 50.0, 100.0, 500.0)),
            ),
            min_size=1,
            max_size=5,
        )
    )
    fixable = [i for i, (c, _, _) in enumerate(records) if c != "other"]
    fixes: list[Fix] = []
    if fixable:
        for _ in range(draw(st.integers(0, 4))):
            i = draw(st.sampled_from(fixable))
            gap = draw(st.sampled_from((-10, 0, 5, 20, 21, 120, 300, 500)))
            fixes.append((i, max(0, records[i][1] + gap)))
    as_of = draw(day) + 5
    return records, fixes, as_of


def _store() -> Store:
    store = open_store(":memory:", create=True)
    activate_rulebook(store, load_rulebook(RULEBOOK))
    register_subjects(store, pa.table({"code": ["c1", "c2"], "kind": ["citizen"] * 2}))
    return store


def _feed(store: Store, records: list[Record], fixes: list[Fix]) -> tuple[int, int]:
    """The records, then the fixes (each naming its record's entry): first entry ids."""
    rows = [
        {"subject": "c1", "parameter": c, "date": _date(d).isoformat(), "quantity": q}
        for c, d, q in records
    ]
    first = feed(store, "office", rows).batch
    assert first is not None
    if not fixes:
        return first.first_entry, 0
    refs = [
        {
            "subject": "c1",
            "parameter": "fix",
            "date": _date(d).isoformat(),
            "refers_to": first.first_entry + i,
        }
        for i, d in fixes
    ]
    second = feed(store, "office", refs).batch
    assert second is not None
    return first.first_entry, second.first_entry


@pytest.mark.slow
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ledger=ledgers())
def test_rectifications_follow_the_rules(ledger: tuple[list[Record], list[Fix], int]) -> None:
    records, fixes, as_of = ledger
    store = _store()
    try:
        _, fix_first = _feed(store, records, fixes)
        got = statement(store, "c1", _date(as_of))
        score, statuses = reference(records, fixes, as_of)
        assert got.score == score, (records, fixes, as_of)
        by_entry = {line.entry_id: line for line in got.lines}
        for n, (_, fix_day) in enumerate(fixes):
            if fix_day > as_of:
                continue
            line = by_entry[fix_first + n]
            assert line.status.value == statuses[n], (n, records, fixes, as_of, line)
    finally:
        store.close()


def test_a_statement_says_what_was_made_good_and_why_not() -> None:
    store = _store()
    try:
        first, fixes = _feed(
            store,
            [("late", 100, 50.0), ("minor", 100, None), ("late", 400, None)],
            [(0, 110), (0, 115), (1, 90), (2, 900)],
        )
        lines = {line.entry_id: line for line in statement(store, "c1", _date(450)).lines}
        late, made_good = lines[first], lines[fixes]
        assert (late.status.value, late.related_entry) == ("expired", fixes)
        assert made_good.counted == 0 and made_good.status.value == "expired"
        assert lines[fixes + 1].status.value == "nothing_to_repair"
        assert f"rectified already by entry {fixes}" in lines[fixes + 1].reason
        assert "is no record of late, minor" in lines[fixes + 2].reason  # dated before it
        lines = {line.entry_id: line for line in statement(store, "c1", _date(120)).lines}
        assert (lines[first].counted, lines[first].related_entry) == (-50, fixes)
        assert f"rectified by entry {fixes}" in lines[first].reason
        assert lines[fixes].counted == 50
        assert "within 20 days, quantity at most 100: 100% of its points back" in (
            lines[fixes].reason
        )
        assert lines[fixes].expires == _date(300)
    finally:
        store.close()


def test_a_rectification_outside_every_window_rectifies_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rectify.yaml"  # `late` counts long after its windows close
    path.write_text(
        RULEBOOK.read_text().replace("expires_after_days: 200", "expires_after_days: 2000")
    )
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(path))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"]}))
        first, fixes = _feed(store, [("late", 10, None)], [(0, 800)])
        got = statement(store, "c1", _date(805))
        line = {line.entry_id: line for line in got.lines}[fixes]
        assert line.status.value == "nothing_to_repair"
        assert f"entry {first} was rectified outside every window" in line.reason
        assert got.score == 950
    finally:
        store.close()


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"parameter": "fix"}, "required: the entry id of the record it rectifies"),
        ({"parameter": "fix", "refers_to": "other"}, "is not of a parameter that 'fix' rectifies"),
        ({"parameter": "fix", "refers_to": "late", "subject": "c2"}, "is about another subject"),
        ({"parameter": "fix", "refers_to": 999_999}, "no entry 999999 in the ledger"),
        ({"parameter": "late", "refers_to": "batch"}, "is not a record"),
    ],
)
def test_a_rectification_must_name_a_record_it_may_rectify(
    row: dict[str, object], problem: str
) -> None:
    store = _store()
    try:
        stored = feed(
            store,
            "office",
            [
                {"subject": "c1", "parameter": "late", "date": "2021-02-01"},
                {"subject": "c1", "parameter": "other", "date": "2021-02-01"},
            ],
        ).batch
        assert stored is not None
        named = {
            "late": stored.first_entry,
            "other": stored.first_entry + 1,
            "batch": store.scalar("SELECT min(entry_id) FROM entries WHERE kind <> 1"),
        }
        row = {**row, "refers_to": named.get(str(row.get("refers_to")), row.get("refers_to"))}
        before = store.scalar("SELECT count(*) FROM entries")
        with pytest.raises(BatchRejected) as info:
            feed(store, "office", [{"subject": "c1", "date": "2021-02-10", **row}])
        assert any(problem in p.reason for p in info.value.problems), info.value.problems
        assert store.scalar("SELECT count(*) FROM entries") == before
    finally:
        store.close()
