"""`validity: []` loads, then every scoring of the rulebook crashes (ibis.cases() with no branch).

The loader should reject an empty validity list (or treat it as absent).
"""

from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec

from socialrating.errors import RulebookError
from socialrating.scoring import score_run, statement

RB = PILOT.replace(
    "  - {code: hero, category: awards, points: 50, expires_after_days: 730, institutions: [civil]}",
    "  - {code: hero, category: awards, points: 50, expires_after_days: 730, institutions: [civil], validity: []}",
)


def test_empty_validity(tmp_path):
    assert RB != PILOT
    try:
        store, _ = make_store(tmp_path, RB, {"c1": "citizen"})
    except RulebookError:
        return  # a clear load-time error is what we want
    feed(store, "civil", [rec("c1", "hero", "2021-03-01")])
    st = statement(store, "c1", d("2021-12-31"))  # TypeError: cases() missing ... 'branch'
    assert st.score == 1050
    score_run(store, d("2021-12-31"))
