"""The seed rulebook's consequences (SPEC section 6), worked by hand.

First every rule of every seed service, by grade and list (the pure rules); then a small
ledger on the seed itself, as of 2021-12-31, where every seed list gets its members by
the rule SPEC section 6 gives it:

- ``debtor`` (a dishonest-debtor finding on 2021-03-01): grade D directly (550); on
  ``dishonest_debtors``, ``flight_ban`` and ``rail_ban``; and, as the legal representative
  of ``org_rep``, that organisation is blacklisted with them (joint punishment), which in
  turn bars them from senior positions (the chain of ``enter_with``).
- ``paid``: a finding on 2021-02-01, the debt paid on 2021-05-01: off every list;
  1000 - 50 = 950, B.
- ``flyer``: disruptive on a flight (-50): 950, B; on ``flight_ban`` for two years.
- ``teen`` (born 2005): disruptive too, but under 18: on no list.
- ``rider``: occupying a seat on high-speed rail (-20): 980, A; on ``rail_ban``.
- ``convict``: a conviction of three years or more (-300): 700, C; on
  ``senior_position_ban``.
- ``rep``: legal representative of ``org_debtor`` (a finding: blacklisted): barred from
  senior positions with it.
- ``clean``: 1000, A. ``org_clean``: 1000, B for organisations: not blacklisted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import SEED, feed, rec

from socialrating.decisions.decider import Decider, UnknownService, load_decider
from socialrating.decisions.rules import decide
from socialrating.errors import UnknownSubject
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.scoring import score_run, statement

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def seed() -> Rulebook:
    return load_rulebook(SEED)


def service(rb: Rulebook, code: str):  # type: ignore[no-untyped-def]
    return next(s for s in rb.spec.services if s.code == code)


# (service, kind, grade, lists) -> (decision, terms)
RULES = [
    ("state_employment", "citizen", "C", [], "refused", {}),
    ("state_employment", "citizen", "D", [], "refused", {}),
    ("state_employment", "citizen", "AAA", [], "terms", {"priority": "high"}),
    ("state_employment", "citizen", "AA", [], "terms", {"priority": "high"}),
    ("state_employment", "citizen", "A", [], "allowed", {}),
    ("state_employment", "citizen", "B", [], "allowed", {}),
    ("state_services", "citizen", "AA", [], "terms", {"queue": "priority"}),
    ("state_services", "citizen", "D", [], "allowed", {}),
    ("loan", "citizen", "AAA", ["dishonest_debtors"], "refused", {}),
    ("loan", "citizen", "D", [], "refused", {}),
    (
        "loan",
        "citizen",
        "AAA",
        [],
        "terms",
        {"rate_adjustment": -0.5, "max_term_months": 360, "collateral": "none"},
    ),
    (
        "loan",
        "citizen",
        "AA",
        [],
        "terms",
        {"rate_adjustment": -0.25, "max_term_months": 300, "collateral": "none"},
    ),
    (
        "loan",
        "citizen",
        "A",
        [],
        "terms",
        {"rate_adjustment": 0, "max_term_months": 240, "collateral": "standard"},
    ),
    (
        "loan",
        "citizen",
        "B",
        [],
        "terms",
        {"rate_adjustment": 0.5, "max_term_months": 120, "collateral": "standard"},
    ),
    (
        "loan",
        "citizen",
        "C",
        [],
        "terms",
        {"rate_adjustment": 1.5, "max_term_months": 60, "collateral": "full"},
    ),
    ("flight", "citizen", "A", ["flight_ban"], "refused", {}),
    ("flight", "citizen", "D", [], "refused", {}),
    ("flight", "citizen", "B", ["rail_ban"], "allowed", {}),
    ("high_speed_rail", "citizen", "A", ["rail_ban"], "refused", {}),
    ("high_speed_rail", "citizen", "D", [], "refused", {}),
    ("high_speed_rail", "citizen", "C", ["flight_ban"], "allowed", {}),
    ("senior_position", "citizen", "A", ["senior_position_ban"], "refused", {}),
    ("senior_position", "citizen", "D", [], "allowed", {}),
    ("legal_representative", "citizen", "A", ["senior_position_ban"], "refused", {}),
    ("legal_representative", "citizen", "C", [], "allowed", {}),
    ("bicycle_rental", "citizen", "D", [], "refused", {}),
    ("bicycle_rental", "citizen", "A", [], "terms", {"deposit": 0}),
    ("bicycle_rental", "citizen", "AAA", [], "terms", {"deposit": 0}),
    ("bicycle_rental", "citizen", "B", [], "terms", {"deposit": 199}),
    ("bicycle_rental", "citizen", "C", [], "terms", {"deposit": 199}),
    *[
        (svc, "organisation", grade, lists, decision, {})
        for svc in ("project_bidding", "securities_market", "land_auction", "corporate_bonds")
        for grade, lists, decision in (
            ("A", ["organisation_blacklist"], "refused"),
            ("D", ["organisation_blacklist"], "refused"),
            ("A", [], "allowed"),
            ("C", [], "allowed"),
        )
    ],
]


@pytest.mark.parametrize(("code", "kind", "grade", "lists", "decision", "terms"), RULES)
def test_every_seed_service_rule(
    seed: Rulebook,
    code: str,
    kind: str,
    grade: str,
    lists: list[str],
    decision: str,
    terms: dict[str, object],
) -> None:
    from socialrating.decisions.rules import Membership

    members = [Membership(lst, "record", 1) for lst in lists]
    got = decide(service(seed, code), "S", kind, grade, 0, members)
    assert (got.decision, got.terms) == (decision, terms)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("project_bidding", "citizen"), ("flight", "organisation"), ("loan", "organisation")],
)
def test_seed_services_are_for_one_kind(seed: Rulebook, code: str, kind: str) -> None:
    got = decide(service(seed, code), "S", kind, "A", 1000, [])
    assert got.decision == "refused" and got.reasons[0].code == f"SUBJECTS:{kind}"


# --- the seed's lists on a real ledger ----------------------------------------------------

CITIZENS = ["debtor", "paid", "flyer", "teen", "rider", "convict", "rep", "clean"]
ORGANISATIONS = ["org_rep", "org_debtor", "org_clean"]
AS_OF = "2021-12-31"


@pytest.fixture(scope="module")
def store(seed: Rulebook, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("seed") / "seed.duckdb"
    s = open_store(path, create=True)
    activate_rulebook(s, seed)
    codes = CITIZENS + ORGANISATIONS
    born = ["1980-01-01"] * len(CITIZENS) + [None] * len(ORGANISATIONS)
    born[CITIZENS.index("teen")] = "2005-01-01"
    kinds = ["citizen"] * len(CITIZENS) + ["organisation"] * len(ORGANISATIONS)
    register_subjects(s, pa.table({"code": codes, "kind": kinds, "born": born}))
    feed(
        s,
        "court.supreme",
        [
            rec("debtor", "courts.dishonest_debtor", "2021-03-01"),
            rec("paid", "courts.dishonest_debtor", "2021-02-01"),
            rec("org_debtor", "courts.dishonest_debtor", "2021-03-01"),
            rec("convict", "courts.conviction_major", "2021-04-01"),
        ],
    )
    feed(s, "court.supreme", [rec("paid", "courts.debt_paid", "2021-05-01")])
    feed(
        s,
        "aviation.national",
        [
            rec("flyer", "transport.disruptive_passenger", "2021-06-01"),
            rec("teen", "transport.disruptive_passenger", "2021-06-01"),
        ],
    )
    feed(s, "railway.national", [rec("rider", "transport.seat_occupying", "2021-06-01")])
    feed(
        s,
        "market_regulation.national",
        [
            rec("org_rep", "registry.legal_representative", "2021-01-01", counterpart="debtor"),
            rec("org_debtor", "registry.legal_representative", "2021-01-01", counterpart="rep"),
        ],
    )
    score_run(s, D(AS_OF))
    yield s
    s.close()


def test_seed_lists_by_hand(store: Store) -> None:
    got = {
        (lst, code, cause)
        for lst, code, cause in store.rows(
            """SELECT m.list, s.code, m.cause FROM list_members m JOIN subjects s
               USING (subject_id) WHERE run_id = (SELECT max(run_id) FROM runs)"""
        )
    }
    assert got == {
        ("dishonest_debtors", "debtor", "record"),
        ("dishonest_debtors", "org_debtor", "record"),
        ("flight_ban", "debtor", "record"),
        ("flight_ban", "flyer", "record"),
        ("rail_ban", "debtor", "record"),
        ("rail_ban", "rider", "record"),
        ("organisation_blacklist", "org_debtor", "record"),
        ("organisation_blacklist", "org_debtor", "grade"),  # D directly: 700
        ("organisation_blacklist", "org_rep", "joint"),  # its representative is a debtor
        ("senior_position_ban", "convict", "record"),
        ("senior_position_ban", "rep", "joint"),  # represents a blacklisted organisation
        ("senior_position_ban", "debtor", "joint"),  # represents org_rep, now blacklisted
    }


def test_seed_scores_by_hand(store: Store) -> None:
    got = dict(
        store.rows(
            """SELECT s.code, n.score || ' ' || n.grade FROM snapshot n JOIN subjects s
               USING (subject_id) WHERE run_id = (SELECT max(run_id) FROM runs)"""
        )
    )
    assert got == {
        "debtor": "550 D",
        "paid": "950 B",
        "flyer": "950 B",
        "teen": "950 B",
        "rider": "980 A",
        "convict": "700 C",
        "rep": "1000 A",
        "clean": "1000 A",
        "org_rep": "1000 B",
        "org_debtor": "700 D",
        "org_clean": "1000 B",
    }


@pytest.fixture(scope="module")
def decider(store: Store) -> Decider:
    return load_decider(store)


DECISIONS = {
    # subject: {service: decision}; the others: as the grade alone says
    "debtor": {
        "loan": "refused",
        "flight": "refused",
        "high_speed_rail": "refused",
        "senior_position": "refused",
        "legal_representative": "refused",
        "bicycle_rental": "refused",
        "state_employment": "refused",
    },
    "paid": {"loan": "terms", "flight": "allowed", "high_speed_rail": "allowed"},
    "flyer": {"flight": "refused", "high_speed_rail": "allowed"},
    "teen": {"flight": "allowed"},
    "rider": {"flight": "allowed", "high_speed_rail": "refused", "bicycle_rental": "terms"},
    "convict": {
        "senior_position": "refused",
        "legal_representative": "refused",
        "state_employment": "refused",
    },
    "rep": {"senior_position": "refused", "legal_representative": "refused", "loan": "terms"},
    "clean": {"senior_position": "allowed", "state_employment": "allowed"},
    **{
        org: {
            svc: decision
            for svc in ("project_bidding", "securities_market", "land_auction", "corporate_bonds")
        }
        for org, decision in (
            ("org_rep", "refused"),
            ("org_debtor", "refused"),
            ("org_clean", "allowed"),
        )
    },
}


@pytest.mark.parametrize("subject", sorted(DECISIONS))
def test_seed_decisions_by_hand(decider: Decider, subject: str) -> None:
    for svc, expected in DECISIONS[subject].items():
        assert decider.decide(subject, svc).decision == expected, (subject, svc)


def test_seed_reasons_name_the_records(store: Store, decider: Decider) -> None:
    finding = store.scalar(
        """SELECT e.entry_id FROM entries e JOIN subjects s USING (subject_id)
           JOIN parameters p USING (parameter_id)
           WHERE s.code = 'debtor' AND p.code = 'courts.dishonest_debtor'"""
    )
    flight = decider.decide("debtor", "flight")
    assert [(r.code, r.entry_id) for r in flight.reasons] == [
        ("RULE:flight#1", None),
        ("LIST:flight_ban", finding),
    ]
    link = store.scalar(
        """SELECT e.entry_id FROM entries e JOIN subjects s USING (subject_id)
           WHERE s.code = 'org_debtor' AND e.counterpart_id IS NOT NULL"""
    )
    senior = decider.decide("rep", "senior_position")
    assert [(r.code, r.entry_id) for r in senior.reasons] == [
        ("RULE:senior_position#1", None),
        ("LIST:senior_position_ban", link),
    ]
    assert "org_debtor" in senior.reasons[1].text
    # The statement decides the same, from the same rules.
    st = statement(store, "rep", D(AS_OF))
    by_service = {d.service: d.decision for d in st.decisions}
    assert by_service["senior_position"] == "refused" and by_service["loan"] == "terms"


def test_a_look_up_decides_as_the_loaded_run(store: Store, decider: Decider) -> None:
    """`check` reads one subject's rows; it answers exactly as the whole run loaded, and
    adds the score's key factors to a refusal or terms by grade."""
    from dataclasses import replace

    from socialrating.decisions.lookup import decide_one, needs_score_factors, with_score_factors

    by_grade = 0
    for code in CITIZENS + ORGANISATIONS:
        for svc in decider.rulebook.spec.services:
            one, loaded = decide_one(store, code, svc.code), decider.decide(code, svc.code)
            assert replace(one, factors=loaded.factors) == loaded
            assert one == with_score_factors(store, loaded)
            assert one.factors[: len(loaded.factors)] == loaded.factors
            if needs_score_factors(loaded) and len(one.factors) > len(loaded.factors):
                by_grade += 1  # the score's factors follow the lists'
    assert by_grade  # some low grades here set terms or refuse, for what worsened them
    with pytest.raises(UnknownSubject, match="'ghost'"):
        decide_one(store, "ghost", "flight")
    with pytest.raises(UnknownService, match="'teleport'"):
        decide_one(store, "debtor", "teleport")


def test_statement_lists_equal_the_run(store: Store) -> None:
    """A statement computes one subject's lists from the subjects linked to it (joint
    punishment chains two links deep here); they equal the whole run's."""
    run = {
        code: sorted(
            (lst, cause, entry, via)
            for lst, cause, entry, via in store.rows(
                """SELECT m.list, m.cause, m.entry_id, v.code FROM list_members m
                   JOIN subjects s USING (subject_id)
                   LEFT JOIN subjects v ON v.subject_id = m.via_subject
                   WHERE m.run_id = (SELECT max(run_id) FROM runs) AND s.code = ?""",
                [code],
            )
        )
        for code in CITIZENS + ORGANISATIONS
    }
    for code in CITIZENS + ORGANISATIONS:
        st = statement(store, code, D(AS_OF))
        assert sorted((m.list, m.cause, m.entry_id, m.via) for m in st.lists) == run[code], code
    assert run["debtor"] and any(m[1] == "joint" for m in run["debtor"])


def test_statements_read_only_what_they_need(store: Store) -> None:
    """Joint punishment two links deep: each narrow statement equals the whole ledger's."""
    for code in CITIZENS + ORGANISATIONS:
        narrow = statement(store, code, D(AS_OF)).as_dict()
        assert narrow == statement(store, code, D(AS_OF), narrow=False).as_dict(), code


def test_a_batch_gives_each_refusal_the_key_factor_codes_of_its_decision(
    decider: Decider,
) -> None:
    """For every service and subject of the seed's ledger (lists, joint punishment, grades
    the run stored factors for, the wrong kind of subject), the key factor codes a batch
    computes together are those of the same decision made alone."""
    from tests.scoring.test_run_factors import batches_give_the_codes_of_each_decision

    seen = batches_give_the_codes_of_each_decision(decider, [*CITIZENS, *ORGANISATIONS, "nobody"])
    assert {"LIST", "PARAMETER"} <= seen, seen
