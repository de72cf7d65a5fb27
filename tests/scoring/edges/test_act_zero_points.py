"""Zero-point records are treated as additions by acts and can be absorbed.

docs 3.14: "of its valid deductions only the heaviest counts, of its additions only the
highest"; additions are records with positive points (3.8). mechanics._acts puts every
record with points >= 0 in the 'addition' group, so two zero-point direct-grade findings of
one court case (a ban, C, and a dishonest-debtor listing, D) absorb each other: the
earlier (C) counts and the worse grade D is lost.
"""

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec, snapshot

from socialrating.scoring import score_run, statement


def test_zero_point_findings_of_one_act(tmp_path):
    store, _ = make_store(tmp_path, PILOT, {"c1": "citizen"})
    feed(
        store,
        "court",
        [
            rec("c1", "court_ban", "2021-03-01", act="case-17"),
            rec("c1", "dishonest_debtor", "2021-03-01", act="case-17"),
        ],
    )
    st = statement(store, "c1", d("2021-12-31"))
    assert [line.status.value for line in st.lines] == ["counted", "counted"], [
        (line.status.value, line.reason) for line in st.lines
    ]
    assert (st.score, st.grade) == (550, "D")
    run = score_run(store, d("2021-12-31"))
    assert snapshot(store, run.run_id)["c1"][:2] == (550, "D")


def test_zero_point_finding_absorbed_by_addition(tmp_path):
    store, _ = make_store(tmp_path, PILOT, {"c1": "citizen"})
    feed(store, "court", [rec("c1", "dishonest_debtor", "2021-03-01", act="X1")])
    feed(store, "civil", [rec("c1", "hero", "2021-03-01", act="X1")])
    st = statement(store, "c1", d("2021-12-31"))
    assert st.lines[0].status.value == "counted", st.lines[0].reason
    assert st.grade == "D"
