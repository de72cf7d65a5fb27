"""A reduction's balance includes a repair that repaired nothing (and so never counted).

docs 3.13: the balance is the base plus the points of records "that counted on that day".
A debt_paid with no standing direct grade is nothing_to_repair: "does not count" (3.12).
mechanics._reductions runs before _repairs and sums every valid record, so the -50 of the
void repair lowers the balance from 1000 to 950 and admits the course (900..999).
"""

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec, snapshot

from socialrating.scoring import score_run, statement


def test_void_repair_not_in_balance(tmp_path):
    store, _ = make_store(tmp_path, PILOT, {"c1": "citizen"})
    feed(store, "court", [rec("c1", "debt_paid", "2021-03-01")])
    feed(store, "civil", [rec("c1", "course", "2021-04-01")])
    st = statement(store, "c1", d("2021-12-31"))
    assert [line.status.value for line in st.lines] == ["nothing_to_repair", "refused"], [
        (line.status.value, line.reason) for line in st.lines
    ]
    assert st.score == 1000
    run = score_run(store, d("2021-12-31"))
    assert snapshot(store, run.run_id)["c1"][0] == 1000
