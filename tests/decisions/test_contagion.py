"""Contagion worked by hand on tests/data/contagion.yaml, as of 2021-06-30.

Base 1000; bands A >= 960, B >= 850, C >= 600, D below. A contact costs -30 points, at
most -50, for contacts on the 30 days up to the date (2021-06-01 .. 2021-06-30), in
2 rounds. Own scores (round 0):

- d1, d2: fraud (-450): 550, D. o1 (an organisation): fraud: 550, D.
- a: 1000. Contacts d1 twice (both directions): one pair: 970, A.
- b: fine (-100): 900. Contacts d1 and d2: -60, capped at -50: 850, B (on the band edge).
- c: minor (-380): 620, C. Contacts d2: round 1: 590, D. Also contacts e (C in round 1).
- e: minor: 620, C. Contacts c (C in round 0, D in round 1): round 1 620, round 2 590, D.
- f: 1000. Contacts e, who is C in round 1: still 1000 after round 2. With 3 rounds, e
  is D in round 2, so f: 970, and c (whose contact e is now D too): -60, capped: 570.
- g: probation (a direct grade B, 850). Contacts d1: a direct grade outranks points: 850.
- h: 1000. Contacts o1 (an organisation: does not spread) and d1 on 2021-05-31 (one day
  before the window): 1000. As of 2021-06-29, the 2021-05-31 contact is in the window: 970.
- d1 contacts d2: both D already, neither changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import DATA, feed, rec
from tests.rulebook.test_loader import line_with, only, problems_of, write

from socialrating.decisions.decider import load_decider
from socialrating.ledger import (
    Store,
    activate_rulebook,
    active_rulebook,
    open_store,
    register_subjects,
)
from socialrating.model import day_number
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

D = dt.date.fromisoformat
CITIZENS = ["d1", "d2", "a", "b", "c", "e", "f", "g", "h"]


def contact(subject: str, other: str, date: str) -> dict[str, str]:
    return rec(subject, "contact", date, counterpart=other)


def build(path: Path, rulebook: Path = DATA / "contagion.yaml") -> Store:
    s = open_store(path, create=True)
    activate_rulebook(s, load_rulebook(rulebook))
    codes = [*CITIZENS, "o1"]
    kinds = ["citizen"] * len(CITIZENS) + ["organisation"]
    register_subjects(s, pa.table({"code": codes, "kind": kinds}))
    feed(
        s,
        "court",
        [
            rec("d1", "fraud", "2021-02-01"),
            rec("d2", "fraud", "2021-02-01"),
            rec("o1", "fraud", "2021-02-01"),
            rec("b", "fine", "2021-03-01"),
            rec("c", "minor", "2021-03-01"),
            rec("e", "minor", "2021-03-01"),
            rec("g", "probation", "2021-04-01"),
        ],
    )
    feed(
        s,
        "telecom",
        [
            contact("a", "d1", "2021-06-10"),
            contact("d1", "a", "2021-06-12"),
            contact("b", "d1", "2021-06-05"),
            contact("d2", "b", "2021-06-06"),
            contact("c", "d2", "2021-06-15"),
            contact("e", "c", "2021-06-20"),
            contact("f", "e", "2021-06-25"),
            contact("g", "d1", "2021-06-25"),
            contact("h", "o1", "2021-06-10"),
            contact("h", "d1", "2021-05-31"),
            contact("d1", "d2", "2021-06-01"),
        ],
    )
    return s


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = build(tmp_path / "c.duckdb")
    yield s
    s.close()


def snapshot(store: Store, as_of: str) -> dict[str, tuple[int, str, int, int]]:
    run = score_run(store, D(as_of))
    return {
        code: (int(score), grade, int(lost), int(n))
        for code, score, grade, lost, n in store.rows(
            """SELECT s.code, n.score, n.grade, n.contagion, n.contagion_contacts
               FROM snapshot n JOIN subjects s USING (subject_id) WHERE run_id = ?""",
            [run.run_id],
        )
    }


HAND = {
    "d1": (550, "D", 0, 0),
    "d2": (550, "D", 0, 0),
    "o1": (550, "D", 0, 0),
    "a": (970, "A", -30, 1),
    "b": (850, "B", -50, 2),
    "c": (590, "D", -30, 1),
    "e": (590, "D", -30, 1),
    "f": (1000, "A", 0, 0),
    "g": (850, "B", 0, 0),
    "h": (1000, "A", 0, 0),
}


def test_contagion_by_hand(store: Store) -> None:
    assert snapshot(store, "2021-06-30") == HAND


def test_the_window_ends_the_day_before_it_starts(store: Store) -> None:
    got = snapshot(store, "2021-06-29")
    assert got["h"] == (970, "A", -30, 1)  # the contact of 2021-05-31 is now in the window
    assert got["f"] == (1000, "A", 0, 0)  # f's contact with e (2021-06-25) still counts


def test_a_third_round_reaches_one_contact_further(tmp_path: Path) -> None:
    text = (DATA / "contagion.yaml").read_text().replace("rounds: 2", "rounds: 3")
    s = build(tmp_path / "r3.duckdb", write(tmp_path, text, "contagion3.yaml"))
    try:
        # f: e is D in round 2; c: e being D in round 2 costs c again in round 3.
        three = {**HAND, "f": (970, "A", -30, 1), "c": (570, "D", -50, 2)}
        assert snapshot(s, "2021-06-30") == three
        st = statement(s, "f", D("2021-06-30"))
        assert [(c.subject, c.grade) for c in st.contacts] == [("e", "D")]
    finally:
        s.close()


def test_statements_agree_with_the_run_and_name_the_contacts(store: Store) -> None:
    # A statement computes contagion over the subjects within `rounds` contacts only.
    for code, (score, grade, lost, n) in HAND.items():
        st = statement(store, code, D("2021-06-30"))
        assert (st.score, st.grade, st.contagion, len(st.contacts)) == (score, grade, lost, n)
        assert st.total == st.score
    e = statement(store, "e", D("2021-06-30"))
    assert e.points_score == 620 and e.contagion == -30 and e.score == 590
    [c] = e.contacts
    assert (c.subject, c.grade, c.last_date) == ("c", "D", D("2021-06-20"))
    assert store.scalar(
        "SELECT count(*) FROM entries WHERE entry_id = ? AND counterpart_id IS NOT NULL",
        [c.entry_id],
    )
    c_st = statement(store, "c", D("2021-06-30"))
    # c's contacts: d2 (D: it counts) and e (C in round 1: it does not).
    assert [x.subject for x in c_st.contacts] == ["d2"] and c_st.contacts_in_window == 2
    b = statement(store, "b", D("2021-06-30"))
    assert sorted(x.subject for x in b.contacts) == ["d1", "d2"] and b.contagion == -50
    assert b.as_dict()["contagion"] == -50


def test_lists_and_decisions_follow_the_grade_after_contagion(store: Store) -> None:
    run = score_run(store, D("2021-06-30"))
    assert run.contagion == {"lowered": 4, "fell_to_from_grades": 2}  # a, b, c, e; c, e
    listed = {
        code
        for (code,) in store.rows(
            """SELECT s.code FROM list_members m JOIN subjects s USING (subject_id)
               WHERE run_id = ? AND list = 'low_grade'""",
            [run.run_id],
        )
    }
    assert listed == {"d1", "d2", "c", "e"}
    decider = load_decider(store)
    c = decider.decide("c", "loan")
    assert c.decision == "refused"
    assert [r.code for r in c.reasons] == ["RULE:loan#1", "GRADE:D", "CONTAGION"]
    d1 = decider.decide("d1", "loan")
    assert [r.code for r in d1.reasons] == ["RULE:loan#1", "GRADE:D"]
    batch = decider.decide_many(["c", "d1", "a"], "loan").to_pylist()
    assert [r["reasons"] for r in batch] == [
        "RULE:loan#1;GRADE:D;CONTAGION",
        "RULE:loan#1;GRADE:D",
        "RULE:loan#otherwise;GRADE:A;CONTAGION",
    ]


MINI_CONTAGION = "contagion: {parameter: blood, from_grades: [C], points: -5, max_deduction: 20, window_days: 30}\n"


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("parameter: blood", "parameter: nope", "contagion.parameter", "'nope' is not a parameter"),
        (
            "from_grades: [C]",
            "from_grades: [B]",
            "contagion.from_grades",
            "the lowest citizen grades (C)",
        ),
        (
            "from_grades: [C]",
            "from_grades: [Z]",
            "contagion.from_grades",
            "no grade 'Z' for citizens",
        ),
        (
            "from_grades: [C]",
            "from_grades: [A, B, C]",
            "contagion.from_grades",
            "cannot be every citizen grade",
        ),
        ("points: -5", "points: 5", "contagion.points", "less than 0"),
        ("window_days: 30", "window_days: 0", "contagion.window_days", "greater than 0"),
    ],
)
def test_malformed_contagion(tmp_path: Path, old: str, new: str, field: str, reason: str) -> None:
    from tests.rulebook.test_loader import MINI

    text = MINI + MINI_CONTAGION.replace(old, new)
    p = only(problems_of(write(tmp_path, text)))
    assert p.field == field
    assert reason in p.reason
    assert p.line == line_with(text, "contagion:")


def test_a_valid_contagion_loads(tmp_path: Path) -> None:
    from tests.rulebook.test_loader import MINI

    rb = load_rulebook(write(tmp_path, MINI + MINI_CONTAGION))
    assert rb.spec.contagion is not None and rb.spec.contagion.rounds == 2


# --- property: the plan's rounds equal a plain Python reference, and statements agree ------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from socialrating.rulebook import Rulebook  # noqa: E402

PEOPLE = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "o1"]  # o1: an organisation
OWN = {"none": 0, "fine": -100, "minor": -380, "fraud": -450}


def reference(
    rb: Rulebook, own: dict[str, int], pairs: set[frozenset[str]]
) -> dict[str, tuple[int, str, int]]:
    """The rounds of docs/rulebook.md section 3.18, one subject at a time."""
    c = rb.spec.contagion
    assert c is not None
    kind = {p: "organisation" if p.startswith("o") else "citizen" for p in PEOPLE}
    score0 = {p: 1000 + own.get(p, 0) for p in PEOPLE}
    grade = {p: rb.grade_of(score0[p], kind[p]) for p in PEOPLE}
    exposed = {p for p in PEOPLE if kind[p] == "citizen" and grade[p] not in c.from_grades}
    result = {p: (score0[p], grade[p], 0) for p in PEOPLE}
    for _ in range(c.rounds):
        low = {p for p in PEOPLE if kind[p] == "citizen" and grade[p] in c.from_grades}
        for p in exposed:
            n = sum(1 for q in PEOPLE if q != p and frozenset((p, q)) in pairs and q in low)
            lost = max(c.points * n, -c.max_deduction)
            result[p] = (score0[p] + lost, rb.grade_of(score0[p] + lost, "citizen"), lost)
        grade = {p: result[p][1] for p in PEOPLE}
    return result


contact_record = st.tuples(
    st.sampled_from(PEOPLE), st.sampled_from(PEOPLE), st.integers(-40, 5)
)  # a day offset from the scoring day (2021-06-30); > 0 is after it


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    own=st.dictionaries(st.sampled_from(PEOPLE), st.sampled_from(list(OWN))),
    contacts=st.lists(contact_record, max_size=14),
    rounds=st.integers(1, 3),
    shown=st.sampled_from(PEOPLE[:-1]),
)
def test_rounds_equal_a_python_reference(
    tmp_path_factory: pytest.TempPathFactory,
    own: dict[str, str],
    contacts: list[tuple[str, str, int]],
    rounds: int,
    shown: str,
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    text = (DATA / "contagion.yaml").read_text().replace("rounds: 2", f"rounds: {rounds}")
    rb = load_rulebook(write(folder, text, "c.yaml"))
    s = open_store(":memory:", create=True)
    try:
        activate_rulebook(s, rb)
        kinds = ["organisation" if p.startswith("o") else "citizen" for p in PEOPLE]
        register_subjects(s, pa.table({"code": PEOPLE, "kind": kinds}))
        # An organisation can only be a fraud (the other findings are for citizens).
        own = {p: "fraud" if p == "o1" and w != "none" else w for p, w in own.items()}
        findings = [rec(p, what, "2021-02-01") for p, what in own.items() if what != "none"]
        if findings:
            feed(s, "court", findings)
        as_of = D("2021-06-30")
        records = [
            contact(a, b, (as_of + dt.timedelta(days=k)).isoformat()) for a, b, k in contacts
        ]
        if records:
            feed(s, "telecom", records)
        window = {frozenset((a, b)) for a, b, k in contacts if a != b and -30 < k <= 0}
        expected = reference(rb, {p: OWN[w] for p, w in own.items()}, window)
        got = {code: (sc, g, lost) for code, (sc, g, lost, _) in snapshot(s, "2021-06-30").items()}
        assert got == expected
        st_ = statement(s, shown, as_of, rb)  # the rounds over its reach only
        assert (st_.score, st_.grade, st_.contagion) == expected[shown]
        assert st_.total == st_.score
    finally:
        s.close()


@pytest.mark.parametrize("as_of", ["2021-06-29", "2021-06-30", "2021-09-30"])
def test_a_statement_reads_only_what_it_needs(store: Store, as_of: str) -> None:
    """A statement reads the entries within its subject's reach (``scoring/lookup``); it
    equals the statement computed over the whole ledger, and reads less of it."""
    from socialrating.scoring.lookup import needed_subjects

    for code in HAND:
        narrow = statement(store, code, D(as_of)).as_dict()
        assert narrow == statement(store, code, D(as_of), narrow=False).as_dict(), code
    rb = active_rulebook(store)
    h = store.scalar("SELECT subject_id FROM subjects WHERE code = 'h'")
    contact = store.scalar("SELECT parameter_id FROM parameters WHERE code = 'contact'")
    near, _ = needed_subjects(store, rb, int(h), day_number(D(as_of)), None, int(contact))
    assert len(near) < store.scalar("SELECT count(*) FROM subjects")
