"""A subject's score over time: the score at each month's end equals the statement's on
that day, and the records that moved it are those that counted in the window."""

from __future__ import annotations

import datetime as dt

from tests.conftest import d, feed, rec

from socialrating.ledger import Store
from socialrating.scoring import statement
from socialrating.scoring.history import history, month_ends


def test_month_ends() -> None:
    assert month_ends(dt.date(2021, 3, 15), 3) == [
        dt.date(2020, 12, 31), dt.date(2021, 1, 31), dt.date(2021, 2, 28), dt.date(2021, 3, 15)
    ]  # fmt: skip
    assert month_ends(dt.date(2024, 3, 1), 1) == [dt.date(2024, 2, 29), dt.date(2024, 3, 1)]


def test_the_score_over_time_and_what_moved_it(store: Store) -> None:
    feed(store, "police", [rec("C1", "speeding", "2021-03-10"), rec("C1", "blood", "2021-05-02")])
    feed(store, "bank", [rec("C1", "loan_default", "2020-06-01")])  # before the rulebook
    doc = history(store, "C1", d("2021-06-15"), months=6)
    assert [(p["date"], p["score"]) for p in doc["points"]] == [
        ("2020-12-31", 1000), ("2021-01-31", 1000), ("2021-02-28", 1000),
        ("2021-03-10", 980), ("2021-03-31", 980), ("2021-04-30", 980),
        ("2021-05-02", 990), ("2021-05-31", 990), ("2021-06-15", 990),
    ]  # fmt: skip
    for p in doc["points"]:
        st = statement(store, "C1", d(p["date"]))
        assert (st.score, st.grade) == (p["score"], p["grade"])
    assert [(m["date"], m["parameter"], m["points"]) for m in doc["moves"]] == [
        ("2021-03-10", "speeding", -20), ("2021-05-02", "blood", 10)
    ]  # fmt: skip
