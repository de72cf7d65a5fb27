"""A reduction's balance depends on the arrival order of same-day records.

docs 3.13: the balance counts records with "fact day before it". _reductions joins on
order_key (day, then entry id), so a same-day offence counts if it *arrived* before the
seminar and not if it arrived after: the same facts give different scores.
"""

from pathlib import Path

from tests.scoring.edges.helpers import d, feed, make_store, rec

from socialrating.scoring import statement

LICENCE = (Path(__file__).resolve().parents[3] / "rulebooks" / "licence-points.yaml").read_text()


def _score(tmp_path, offence_first):
    store, _ = make_store(tmp_path, LICENCE, {"c1": "citizen"})
    feed(
        store,
        "police",
        [rec("c1", "offence.serious", "2021-01-10"), rec("c1", "offence.serious", "2021-02-10")],
    )  # balance 4

    def offence() -> None:
        feed(store, "police", [rec("c1", "offence.serious", "2021-03-01")])

    if offence_first:
        offence()
    feed(store, "seminar", [rec("c1", "seminar.completed", "2021-03-01")])
    if not offence_first:
        offence()
    st = statement(store, "c1", d("2021-12-31"))
    sem = next(line for line in st.lines if line.parameter == "seminar.completed")
    store.close()
    return st.score, sem.reason


def test_same_day_balance_independent_of_arrival(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _score(tmp_path / "a", offence_first=True)
    b = _score(tmp_path / "b", offence_first=False)
    # doc: balance = 4 (the offences before the seminar's day) either way: the seminar counts
    # and the score is 4 + 2 - 1 = 5. Offence first: balance 6, refused, score 6.
    assert a == b, (a, b)
    assert a[0] == 5
