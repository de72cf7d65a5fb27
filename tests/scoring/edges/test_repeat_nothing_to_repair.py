"""A repair that repaired nothing (never counted) still makes a later deduction a repeat.

docs 3.10: a repeat needs an earlier deduction that "still counted on its day". A
nothing_to_repair record never counts, but _repeats runs before _repairs and pairs every
valid deduction. Here the courts category doubles repeats; the void debt_paid (-50)
doubles the following court penalty (-30 -> -60).
"""

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec

from socialrating.scoring import statement

RB = PILOT.replace("  - code: courts\n", "  - code: courts\n    repeat: {factor: 2}\n").replace(
    "parameters:\n",
    "parameters:\n  - {code: court_penalty, category: courts, points: -30, expires_after_days: 730,"
    " institutions: [court]}\n",
)


def test_void_repair_is_no_earlier_offence(tmp_path):
    assert RB.count("court_penalty") == 1 and "repeat: {factor: 2}\n  - code: fines" not in RB
    store, _ = make_store(tmp_path, RB, {"c1": "citizen"})
    feed(
        store,
        "court",
        [
            rec("c1", "debt_paid", "2021-03-01"),
            rec("c1", "court_penalty", "2021-04-01"),
        ],
    )
    st = statement(store, "c1", d("2021-12-31"))
    lines = [(line.status.value, line.points) for line in st.lines]
    assert lines == [("nothing_to_repair", -50), ("counted", -30)], lines
    assert st.score == 970
