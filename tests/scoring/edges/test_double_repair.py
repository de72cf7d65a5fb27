"""A second repair of an already-repaired direct grade still 'repairs' it and counts (-50 twice).

docs/rulebook.md 3.12: a repair ends every *standing* direct grade; "A repair that finds no
standing direct grade does not count (nothing_to_repair)". After the first debt_paid the
grade no longer stands, so the second debt_paid must be nothing_to_repair.
"""

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec, snapshot

from socialrating.scoring import score_run, statement


def test_second_repair_finds_nothing(tmp_path):
    store, _ = make_store(tmp_path, PILOT, {"c1": "citizen"})
    feed(
        store,
        "court",
        [
            rec("c1", "dishonest_debtor", "2021-03-01"),
            rec("c1", "debt_paid", "2021-06-01"),
            rec("c1", "debt_paid", "2021-09-01"),  # e.g. the court sends the payment twice
        ],
    )
    st = statement(store, "c1", d("2021-12-31"))
    statuses = [line.status.value for line in st.lines]
    assert statuses == ["repaired", "counted", "nothing_to_repair"], statuses
    assert st.score == 950
    run = score_run(store, d("2021-12-31"))
    assert snapshot(store, run.run_id)["c1"][0] == 950
