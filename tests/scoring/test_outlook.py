"""What would change a subject's grade: each day ahead on which a counted record expires
or a list term ends, with the standing a statement as of that day gives."""

from __future__ import annotations

from tests.conftest import d, feed, rec

from socialrating.ledger import Store
from socialrating.scoring import statement
from socialrating.scoring.outlook import outlook


def test_the_days_ahead_and_the_grade_on_each(store: Store) -> None:
    feed(store, "police", [rec("C1", "speeding", "2021-03-01"), rec("C1", "blood", "2021-04-01")])
    feed(store, "bank", [rec("C1", "loan_default", "2021-05-01")])  # never expires
    doc = outlook(store, "C1", d("2021-06-01"))
    assert (doc["score"], doc["grade"]) == (1000 - 20 + 10 - 50, "B")
    assert [s["date"] for s in doc["steps"]] == ["2022-03-01", "2023-04-01"]
    first, second = doc["steps"]
    assert first["ends"] == ["speeding of 2021-03-01 (entry 2, -20)"]
    assert (first["score"], first["grade"]) == (960, "A")  # the grade changes that day
    assert (second["score"], second["grade"]) == (950, "B")
    for step in doc["steps"]:
        later = statement(store, "C1", d(step["date"]))
        assert (later.score, later.grade) == (step["score"], step["grade"])
    assert doc["more"] == 0
    assert outlook(store, "C1", d("2021-06-01"), days=1)["more"] == 1
    quiet = outlook(store, "C2", d("2021-06-01"))
    assert quiet["steps"] == [] and quiet["score"] == 1000
