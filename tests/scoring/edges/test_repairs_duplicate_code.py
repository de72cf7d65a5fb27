"""`repairs: [X, X]` is rejected (the bits were once summed, naming another parameter),
and a repair naming two parameters ends either."""

import pytest
from tests.scoring.edges.helpers import PILOT, d, feed, make_store, rec

from socialrating.errors import RulebookError
from socialrating.rulebook.rulebook import _mask
from socialrating.scoring import statement

RB = PILOT.replace(
    "repairs: [dishonest_debtor, org_dishonest]", "repairs: [dishonest_debtor, dishonest_debtor]"
)


def test_duplicate_repair_code_is_rejected(tmp_path):
    assert RB != PILOT
    with pytest.raises(RulebookError) as info:
        make_store(tmp_path, RB, {"c1": "citizen"})
    assert any("'dishonest_debtor' is named twice" in p.reason for p in info.value.problems)


def test_mask_sets_each_bit_once():
    assert _mask({"a": 1, "b": 2}, ["a", "a", "b"]) == 3


def test_repair_of_the_named_grade(tmp_path):
    store, _ = make_store(tmp_path, PILOT, {"c1": "citizen"})
    feed(
        store,
        "court",
        [rec("c1", "dishonest_debtor", "2021-03-01"), rec("c1", "debt_paid", "2021-06-01")],
    )
    st = statement(store, "c1", d("2021-12-31"))
    assert [line.status.value for line in st.lines] == ["repaired", "counted"]
    assert st.direct is None and st.score == 950
