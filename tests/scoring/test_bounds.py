"""A score floor and ceiling, worked by hand on tests/data/bounds.yaml, as of 2021-06-30.

Base 1000, floor 550, ceiling 1100; citizen bands A >= 960, B >= 850, C >= 600, D below
(a direct D stands at 560); organisations A >= 950, D below. fraud -450, fine -100,
minor -380, award +80 (all never expire), debtor: a direct grade D for 365 days. A
contact with a D citizen costs -60, at most -100, in 2 rounds. Stage ``watch`` at 600 or
below.

- x: fraud: 550, exactly the floor: nothing bounded. D, watch.
- y: fraud and fine: 450, raised to 550 (the floor adds +100). D, watch.
- z: two awards: 1160, lowered to 1100 (the ceiling removes -60). A.
- w: debtor, fraud, fine, an award (frozen): points score 450; the direct grade sets 560.
- o (an organisation): two frauds: 100, raised to 550 (+450). D.
- c: minor: 620, C; contacts x and y (both D): -120, capped at -100: 520, raised to 550
  (+30). D, watch.
- e: minor: 620, C; contacts c, who is D from round 1: round 2, -60: 560, D.
- h: three awards: 1240; contacts x: -60: 1180, lowered to 1100 (-80). A.
- f: no records: 1000, A.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, TINY, feed, rec
from tests.rulebook.test_loader import write

from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.model import Status
from socialrating.rulebook import load_rulebook
from socialrating.scoring import Statement, score_run, statement

D = dt.date.fromisoformat
AS_OF = "2021-06-30"
CITIZENS = ["x", "y", "z", "w", "c", "e", "h", "f"]


def contact(subject: str, other: str, date: str) -> dict[str, str]:
    return rec(subject, "contact", date, counterpart=other)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(tmp_path / "b.duckdb", create=True)
    activate_rulebook(s, load_rulebook(DATA / "bounds.yaml"))
    kinds = ["citizen"] * len(CITIZENS) + ["organisation"]
    register_subjects(s, pa.table({"code": [*CITIZENS, "o"], "kind": kinds}))
    feed(
        s,
        "court",
        [
            rec("x", "fraud", "2021-02-01"),
            rec("y", "fraud", "2021-02-01"),
            rec("y", "fine", "2021-03-01"),
            rec("w", "fraud", "2021-02-01"),
            rec("w", "fine", "2021-03-01"),
            rec("w", "debtor", "2021-04-01"),
            rec("o", "fraud", "2021-02-01"),
            rec("o", "fraud", "2021-03-01"),
            rec("c", "minor", "2021-03-01"),
            rec("e", "minor", "2021-03-01"),
        ],
    )
    feed(
        s,
        "civil",
        [
            rec("z", "award", "2021-02-01"),
            rec("z", "award", "2021-03-01"),
            rec("h", "award", "2021-02-01"),
            rec("h", "award", "2021-03-01"),
            rec("h", "award", "2021-04-01"),
            rec("w", "award", "2021-05-01"),
        ],
    )
    feed(
        s,
        "telecom",
        [
            contact("c", "x", "2021-06-10"),
            contact("c", "y", "2021-06-11"),
            contact("e", "c", "2021-06-12"),
            contact("h", "x", "2021-06-13"),
        ],
    )
    yield s
    s.close()


def show(store: Store, code: str, as_of: str = AS_OF) -> Statement:
    st = statement(store, code, D(as_of))
    assert st.total == st.score
    assert st.points_total == st.points_score
    return st


def snapshot(store: Store, as_of: str = AS_OF) -> dict[str, tuple[int, str, int, str | None]]:
    run = score_run(store, D(as_of))
    return {
        code: (int(score), grade, int(points), stage)
        for code, score, grade, points, stage in store.rows(
            """SELECT s.code, n.score, n.grade, n.points_score, n.stage
               FROM snapshot n JOIN subjects s USING (subject_id) WHERE run_id = ?""",
            [run.run_id],
        )
    }


# code: (score, grade, points score, stage), then (contagion, bounded, bound, adjustment)
HAND = {
    "x": ((550, "D", 550, "watch"), (0, 0, None, 0)),
    "y": ((550, "D", 450, "watch"), (0, 100, "floor", 0)),
    "z": ((1100, "A", 1160, None), (0, -60, "ceiling", 0)),
    "w": ((560, "D", 450, "watch"), (0, 0, None, 110)),
    "o": ((550, "D", 100, "watch"), (0, 450, "floor", 0)),
    "c": ((550, "D", 620, "watch"), (-100, 30, "floor", 0)),
    "e": ((560, "D", 620, "watch"), (-60, 0, None, 0)),
    "h": ((1100, "A", 1240, None), (-60, -80, "ceiling", 0)),
    "f": ((1000, "A", 1000, None), (0, 0, None, 0)),
}


def test_scores_are_bounded_by_hand(store: Store) -> None:
    assert snapshot(store) == {code: want[0] for code, want in HAND.items()}


@pytest.mark.parametrize("code", list(HAND))
def test_statements_show_what_the_bound_did_and_sum_exactly(store: Store, code: str) -> None:
    st = show(store, code)
    (score, grade, points_score, stage), (lost, bounded, bound, adjustment) = HAND[code]
    assert (st.score, st.grade, st.points_score, st.stage) == (score, grade, points_score, stage)
    assert (st.contagion, st.bounded, st.bound, st.adjustment) == (lost, bounded, bound, adjustment)
    assert st.points_score + st.contagion + st.bounded + st.adjustment == st.score
    doc = st.as_dict()
    assert (doc["bounded"], doc["bound"], doc["score"]) == (bounded, bound, score)


def test_the_floor_adds_exactly_what_the_points_fall_short(store: Store) -> None:
    st = show(store, "y")
    assert [(line.parameter, line.counted) for line in st.lines] == [
        ("fraud", -450),
        ("fine", -100),
    ]
    # 1000 - 450 - 100 = 450; the floor adds 100.
    assert st.base + sum(line.counted for line in st.lines) + st.bounded == st.score == 550


def test_a_direct_grade_stands_at_its_direct_score_whatever_the_floor(store: Store) -> None:
    st = show(store, "w")
    assert st.direct is not None and st.direct.grade == "D"
    assert [(line.parameter, line.status) for line in st.lines] == [
        ("fraud", Status.COUNTED),
        ("fine", Status.COUNTED),
        ("debtor", Status.COUNTED),
        ("award", Status.FROZEN),
    ]
    # The points score stays below the floor; the direct score (560) is the score.
    assert (st.points_score, st.bounded, st.adjustment, st.score) == (450, 0, 110, 560)


def test_contagion_is_bounded_and_its_statement_names_the_contacts(store: Store) -> None:
    st = show(store, "c")
    assert sorted((c.subject, c.grade) for c in st.contacts) == [("x", "D"), ("y", "D")]
    # 620 - 100 = 520, raised to the floor.
    assert (st.points_score, st.contagion, st.bounded, st.score) == (620, -100, 30, 550)
    # y's own points (450) are below the floor: y spreads with the grade of its bounded
    # score, 550, D.
    assert show(store, "y").grade == "D"


def test_the_ceiling_is_applied_after_contagion(store: Store) -> None:
    st = show(store, "h")
    assert [(c.subject, c.grade) for c in st.contacts] == [("x", "D")]
    assert (st.points_score, st.contagion, st.bounded, st.score) == (1240, -60, -80, 1100)


def test_a_rulebook_without_bounds_leaves_scores_alone(tmp_path: Path) -> None:
    text = (DATA / "bounds.yaml").read_text().replace("floor: 550\nceiling: 1100\n", "")
    s = open_store(tmp_path / "nb.duckdb", create=True)
    try:
        activate_rulebook(s, load_rulebook(write(tmp_path, text, "unbounded.yaml")))
        register_subjects(s, pa.table({"code": ["y"], "kind": ["citizen"]}))
        feed(s, "court", [rec("y", "fraud", "2021-02-01"), rec("y", "fine", "2021-03-01")])
        st = show(s, "y")
        assert (st.score, st.grade, st.bounded, st.bound) == (450, "D", 0, None)
    finally:
        s.close()


# The tiny rulebook (tests/conftest.py) with the widest bounds that keep every grade
# reachable: its lowest citizen band ends at 599, its highest starts at 1050.
BOUNDED_TINY = TINY.read_text().replace("base_score: 1000\n", "base_score: 1000\nfloor: 599\n")
BOUNDED_TINY = BOUNDED_TINY.replace("floor: 599\n", "floor: 599\nceiling: 1050\n")
KINDS = [
    ("bank", "loan_default"),  # -50, uncapped: nine reach the floor
    ("police", "hero"),  # +50, uncapped: two reach the ceiling
    ("police", "red_light"),
    ("police", "blood"),
]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    # (subject, kind, day, how many such records): runs of records, so bounds are reached
    records=st.lists(
        st.tuples(
            st.integers(0, 2),
            st.sampled_from([0, 0, 0, 1, 2, 3]),
            st.integers(0, 300),
            st.integers(1, 9),
        ),
        min_size=1,
        max_size=20,
    ),
    as_of_offset=st.integers(300, 700),
)
def test_bounded_statements_sum_to_the_stored_scores(
    tmp_path: Path, records: list[tuple[int, int, int, int]], as_of_offset: int
) -> None:
    rulebook = load_rulebook(write(tmp_path, BOUNDED_TINY, "bounded-tiny.yaml"))
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, rulebook)
        codes = ["C1", "C2", "C3"]
        register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * 3}))
        start = dt.date(2021, 1, 1)
        for institution, parameter in KINDS:
            rows = [
                rec(codes[who], parameter, (start + dt.timedelta(days=day)).isoformat())
                for who, kind, day, times in records
                if KINDS[kind][1] == parameter
                for _ in range(times)
            ]
            if rows:
                feed(store, institution, rows)
        as_of = start + dt.timedelta(days=as_of_offset)
        run = score_run(store, as_of)
        stored = dict(
            store.rows(
                """SELECT s.code, n.score FROM snapshot n JOIN subjects s USING (subject_id)
                   WHERE n.run_id = ?""",
                [run.run_id],
            )
        )
        for code in codes:
            st = statement(store, code, as_of)
            assert st.total == st.score == stored[code]
            assert 599 <= st.score <= 1050
            raw = st.points_score + st.contagion
            assert st.bounded == st.score - raw
            assert st.bound == ("floor" if raw < 599 else "ceiling" if raw > 1050 else None)
    finally:
        store.close()
