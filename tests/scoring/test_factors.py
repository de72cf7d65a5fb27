"""Key factors: which way is worse per rulebook, and the factors a refusal or terms carry
when its rule looked at the grade (the score's factors) or a list (the membership)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
from tests.conftest import DATA, ROOT, feed

from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import statement
from socialrating.scoring.factors import worse_way


def _ledger(path: Path, codes: list[str]) -> Store:
    """The consequences rulebook's ledger: citizens ``codes``; c1 unruly twice (-40) and
    a tax debt (-10)."""
    store = open_store(path, create=True)
    activate_rulebook(store, load_rulebook(DATA / "consequences.yaml"))
    register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * len(codes)}))
    feed(
        store,
        "police",
        [
            {"subject": "c1", "parameter": "unruly", "date": "2021-02-01"},
            {"subject": "c1", "parameter": "unruly", "date": "2021-03-01"},
        ],
    )
    feed(store, "court", [{"subject": "c1", "parameter": "tax_debt", "date": "2021-03-02"}])
    return store


def test_which_way_is_worse() -> None:
    assert worse_way(load_rulebook(ROOT / "rulebooks" / "seed.yaml"), "citizen") == -1
    # The register counts up from 0, the lowest band: points are against the driver.
    assert worse_way(load_rulebook(ROOT / "rulebooks" / "licence-points.yaml"), "citizen") == 1
    # One band: no way is worse, and no points are counted either.
    assert worse_way(load_rulebook(ROOT / "rulebooks" / "court-list.yaml"), "citizen") == -1


def test_terms_by_grade_carry_the_score_factors_and_a_list_refusal_its_membership(
    tmp_path: Path,
) -> None:
    store = _ledger(tmp_path / "f.duckdb", ["c1", "c2"])
    try:
        feed(store, "court", [{"subject": "c2", "parameter": "debtor", "date": "2021-03-02"}])
        st = statement(store, "c1", dt.date(2021, 6, 1))  # 1000 - 40 - 10 = 950: B
        assert st.grade == "B"
        assert [(f.code, f.effect, len(f.entries)) for f in st.key_factors] == [
            ("PARAMETER:unruly", -40, 2),
            ("PARAMETER:tax_debt", -10, 1),
        ]
        (loan,) = [d for d in st.decisions if d.service == "loan"]
        assert loan.decision == "terms"  # the rule on grades B and C
        assert loan.factors == st.key_factors
        (flight,) = [d for d in st.decisions if d.service == "flight"]
        assert flight.decision == "refused"  # on the flight ban: unruly enters it
        assert [f.code for f in flight.factors] == ["LIST:flight_ban"]
        assert flight.factors[0].entries  # the record that put c1 on the list
        st2 = statement(store, "c2", dt.date(2021, 6, 1))
        (loan2,) = [d for d in st2.decisions if d.service == "loan"]
        assert [f.code for f in loan2.factors] == ["LIST:debtors"]
        allowed = [d for d in st2.decisions if d.decision == "allowed"]
        assert allowed and all(d.factors == [] for d in allowed)
        assert st2.as_dict()["decisions"][0]["key_factors"] is not None
    finally:
        store.close()


def test_a_run_decision_by_grade_carries_the_score_factors(tmp_path: Path) -> None:
    """`check` (a decision from a stored run) on a rule on grades gives the score's key
    factors, as the statement does; the API gives a provider their codes when asked
    (`explain`: it reads the subject's records), and answers from memory otherwise."""
    from tests.test_cli import one_json

    from socialrating.decisions.lookup import decide_one
    from socialrating.scoring import score_run

    path = tmp_path / "f.duckdb"
    store = _ledger(path, ["c1", "c3"])
    try:
        score_run(store, dt.date(2021, 6, 1))
        loan = decide_one(store, "c1", "loan")
        assert loan.decision == "terms"
        assert [(f.code, f.effect) for f in loan.factors] == [
            ("PARAMETER:unruly", -40),
            ("PARAMETER:tax_debt", -10),
        ]
        assert decide_one(store, "c3", "loan").factors == []  # allowed: none
    finally:
        store.close()
    doc = one_json("check", "c1", "loan", "--db", str(path))
    assert [f["code"] for f in doc["key_factors"]] == ["PARAMETER:unruly", "PARAMETER:tax_debt"]
    # Over HTTP, a provider asks for them (`explain`), and sees their codes only.
    from fastapi.testclient import TestClient

    from socialrating.api import create_app
    from socialrating.service.keys import create_key
    from socialrating.service.policy import Role

    with open_store(path) as keyed:
        _, secret = create_key(keyed, Role.PROVIDER, ("loan",))
    with TestClient(create_app(str(path))) as client:
        auth = {"Authorization": f"Bearer {secret}"}
        quick = client.get("/v1/decisions/loan/c1", headers=auth).json()
        assert quick["decision"] == "terms" and quick["key_factors"] == []
        explained = client.get("/v1/decisions/loan/c1?explain=true", headers=auth).json()
        assert explained["key_factors"] == [
            {"code": code, "text": "the subject's records", "effect": None, "entries": []}
            for code in ("PARAMETER:unruly", "PARAMETER:tax_debt")
        ]
