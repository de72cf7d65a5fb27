"""Grade limits by list membership (``on_lists``) and across register links (``linked``,
docs/rulebook.md 3.24) against a plain Python reference written from the rule text: a
list entered by a record or carried by joint punishment caps a grade; a subject linked
along a path of links to one graded so by score and direct grades is capped, never by a
path back to itself; malformed conditions are refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, problems_of, write

from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

RULEBOOK = DATA / "linked-limits.yaml"
START = dt.date(2020, 1, 1)
ORGS = ("o0", "o1", "o2")
PEOPLE = ("p0", "p1", "p2")
GRADES = "ABCD"
INSTITUTION = {"rep": "registry"}
# The limits of linked-limits.yaml in its order: (code, kinds, at best).
LIMITS = (
    ("watched", ("citizen", "organisation"), 2),
    ("head", ("citizen",), 1),
    ("runs_d", ("citizen",), 2),
    ("sister", ("organisation",), 3),
    ("led_by_c", ("organisation",), 1),
)

Sent = tuple[str, str, str | None, int]
"""A record sent: (parameter, subject, the person a register record names, day)."""


# --- the reference ----------------------------------------------------------------------


def representative(sent: list[Sent], org: str, day: int) -> str | None:
    """The person the organisation's latest register record up to ``day`` names (by day,
    then the order sent); none without one, or if it names nobody."""
    named = [(d, i, person) for i, (p, o, person, d) in enumerate(sent) if p == "rep" and o == org]
    named = [r for r in named if r[0] <= day]
    return max(named)[2] if named else None


def own_grade(sent: list[Sent], subject: str, day: int) -> int:
    """By score and direct grades: a `graded` record standing (150 days) grades C; else
    100 less 30 a `fault` counting (200 days), in the bands 100 / 80 / 50."""
    mine = [(p, d) for p, s, _, d in sent if s == subject and d <= day]
    if any(p == "graded" and day < d + 150 for p, d in mine):
        return 2
    score = 100 - 30 * sum(1 for p, d in mine if p == "fault" and day < d + 200)
    return 0 if score >= 100 else 1 if score >= 80 else 2 if score >= 50 else 3


def watched(sent: list[Sent], subject: str, day: int) -> bool:
    """A `listed` record up to the day whose 120 days run, with no `cleared` after it."""
    mine = [(d, i, p) for i, (p, s, _, d) in enumerate(sent) if s == subject and d <= day]
    return any(
        p == "listed"
        and day < d + 120
        and not any(q == "cleared" and (d2, i2) > (d, i) for d2, i2, q in mine)
        for d, i, p in mine
    )


def reference(
    sent: list[Sent], born: dict[str, dt.date | None], day: int
) -> dict[str, tuple[str, str | None]]:
    """Per subject, its grade as of ``day`` and the limit that set it (None: none did)."""
    date = START + dt.timedelta(days=day)
    reps = {org: representative(sent, org, day) for org in ORGS}
    grade = {s: own_grade(sent, s, day) for s in ORGS + PEOPLE}
    out = {}
    for s in ORGS + PEOPLE:
        kind = "organisation" if s in ORGS else "citizen"
        young = born[s] is not None and date < born[s].replace(year=born[s].year + 1)
        if kind == "citizen":
            runs = [o for o in ORGS if reps[o] == s]
            head = any(watched(sent, o, day) for o in runs)
            runs_d = any(grade[o] == 3 for o in runs)
            conditions = {"head": head, "runs_d": runs_d}
        else:
            person = reps[s]
            siblings = [o for o in ORGS if o != s and person is not None and reps[o] == person]
            sister = young and any(grade[o] == 3 for o in siblings)
            led = person is not None and grade[person] >= 2
            conditions = {"sister": sister, "led_by_c": led}
        conditions["watched"] = watched(sent, s, day)
        applying = [
            (code, rank) for code, kinds, rank in LIMITS if kind in kinds and conditions[code]
        ]
        ceiling = max((rank for _, rank in applying), default=-1)
        if ceiling <= grade[s]:
            out[s] = (GRADES[grade[s]], None)
        else:
            out[s] = (GRADES[ceiling], next(code for code, rank in applying if rank == ceiling))
    return out


# --- the property -----------------------------------------------------------------------

day = st.integers(0, 30).map(lambda k: 10 * k)
Drawn = tuple[list[Sent], dict[str, dt.date | None], int]
BORN = (None, dt.date(2015, 1, 1), dt.date(2019, 9, 1), dt.date(2020, 4, 1))


@st.composite
def ledgers(draw: st.DrawFn) -> Drawn:
    """Register records on few days (a person, or sometimes nobody), faults and direct
    grades of anyone, list entries and clearings (five days after the tenth), in any
    order; organisations registered at a few dates; a day to look at."""
    register = draw(
        st.lists(
            st.tuples(
                st.just("rep"),
                st.sampled_from(ORGS),
                st.sampled_from((*PEOPLE, *PEOPLE, None)),
                st.integers(0, 3).map(lambda k: 60 * k),
            ),
            min_size=1,
            max_size=8,
        )
    )
    acts = draw(
        st.lists(
            st.tuples(
                st.sampled_from(("fault", "fault", "fault", "graded", "listed", "cleared")),
                st.sampled_from(ORGS + PEOPLE),
                st.none(),
                day,
            ),
            max_size=10,
        )
    )
    acts = [(p, s, n, d + 5 if p == "cleared" else d) for p, s, n, d in acts]
    sent: list[Sent] = draw(st.permutations([*register, *acts]))
    born = {o: draw(st.sampled_from(BORN)) for o in ORGS} | {p: None for p in PEOPLE}
    as_of = draw(day) + draw(st.sampled_from((0, 5)))
    return list(sent), born, as_of


def _load(store: Store, sent: list[Sent], born: dict[str, dt.date | None]) -> None:
    activate_rulebook(store, load_rulebook(RULEBOOK))
    codes = ORGS + PEOPLE
    kinds = ["organisation"] * len(ORGS) + ["citizen"] * len(PEOPLE)
    dates = [None if born[c] is None else born[c].isoformat() for c in codes]  # type: ignore[union-attr]
    register_subjects(store, pa.table({"code": codes, "kind": kinds, "born": dates}))
    for i, (p, subject, person, d) in enumerate(sent):  # one batch a record: the order sent
        row = {"subject": subject, "parameter": p, "key": f"k{i}"}
        row["date"] = (START + dt.timedelta(days=d)).isoformat()
        if person is not None:
            row["counterpart"] = person
        feed(store, INSTITUTION.get(p, "office"), [row])


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ledger=ledgers())
def test_limits_by_lists_and_links_follow_the_rules(ledger: Drawn) -> None:
    """Every subject's grade and the limit that set it, in statements and a full run."""
    sent, born, as_of = ledger
    store = open_store(":memory:", create=True)
    try:
        _load(store, sent, born)
        expected = reference(sent, born, as_of)
        date = START + dt.timedelta(days=as_of)
        for code in ORGS + PEOPLE:
            got = statement(store, code, date)
            assert (got.grade, got.limit and got.limit.code) == expected[code], (code, ledger)
        run = score_run(store, date, full=True)
        stored = store.rows(
            """SELECT s.code, n.grade FROM snapshot n JOIN subjects s USING (subject_id)
               WHERE run_id = ?""",
            [run.run_id],
        )
        assert dict(stored) == {c: g for c, (g, _) in expected.items()}, ledger
    finally:
        store.close()


# --- worked examples --------------------------------------------------------------------


def test_a_new_firm_of_a_d_rated_firms_head_is_rated_d() -> None:
    """Tax credit: a firm registered by the responsible person of a D-rated taxpayer is
    rated D directly (REAL_RULES 3.2); the D-rated firm's head is at best C; a firm they
    ran for years is not limited by it (the limit is for new firms), and the D-rated firm
    itself is not its own sister."""
    store = open_store(":memory:", create=True)
    try:
        sent: list[Sent] = [
            ("rep", "o0", "p0", 0),
            ("rep", "o1", "p0", 0),
            ("rep", "o2", "p0", 0),
            ("fault", "o0", None, 10),
            ("fault", "o0", None, 10),
        ]
        born = {"o0": dt.date(2015, 1, 1), "o1": dt.date(2019, 9, 1), "o2": dt.date(2015, 1, 1)}
        _load(store, sent, born | {p: None for p in PEOPLE})
        on = dt.date(2020, 2, 1)
        o0, o1, o2, p0 = (statement(store, c, on) for c in ("o0", "o1", "o2", "p0"))
        assert (o0.grade, o0.limit) == ("D", None)
        assert (o1.score, o1.grade, o1.limit and o1.limit.code) == (100, "D", "sister")
        assert o1.as_dict()["grade_limit"]["by_score"] == "A"
        assert (o2.grade, o2.limit) == ("A", None)
        assert (p0.score, p0.grade, p0.limit and p0.limit.code) == (100, "C", "runs_d")
        # A year after its registration, the new firm is graded by its own score again.
        assert statement(store, "o1", dt.date(2020, 9, 1)).grade == "A"
    finally:
        store.close()


def test_a_list_sets_a_grade_and_joint_punishment_carries_it() -> None:
    """On the watch list: at best C while the term runs, not after clearing; the firm's
    representative is on `heads` with it (at best B), and its firm is led by a C (B)."""
    store = open_store(":memory:", create=True)
    try:
        sent: list[Sent] = [
            ("rep", "o0", "p0", 0),
            ("listed", "o0", None, 10),
            ("listed", "p1", None, 10),
            ("rep", "o1", "p1", 0),
            ("cleared", "p1", None, 55),
        ]
        _load(store, sent, {c: None for c in ORGS + PEOPLE})
        on = dt.date(2020, 2, 1)
        got = {c: statement(store, c, on) for c in ("o0", "p0", "p1", "o1")}
        assert {c: (s.grade, s.limit and s.limit.code) for c, s in got.items()} == {
            "o0": ("C", "watched"),
            "p0": ("B", "head"),
            "p1": ("C", "watched"),
            "o1": ("A", None),  # p1 is C by a limit, not by score: no `led_by_c`
        }
        after = {c: statement(store, c, dt.date(2020, 3, 1)).grade for c in ("o0", "p0", "p1")}
        assert after == {"o0": "C", "p0": "B", "p1": "A"}
        gone = {c: statement(store, c, dt.date(2020, 5, 10)).grade for c in ("o0", "p0")}
        assert gone == {"o0": "A", "p0": "A"}  # 120 days on
    finally:
        store.close()


@pytest.mark.parametrize(
    ("condition", "field", "reason"),
    [
        ("{on_lists: [nope]}", "when.on_lists", "no list 'nope'"),
        ("{on_lists: [graded_list]}", "when.on_lists", "entered only at grades"),
        ("{on_lists: [carried]}", "when.on_lists", "entered only at grades"),
        (
            "{linked: {graded: [C], through: [organisations, representative]}}",
            "when.linked.through",
            "goes back to the person it started from",
        ),
        (
            "{linked: {graded: [C], through: [representative, representative]}}",
            "when.linked.through",
            "'representative' cannot follow 'representative'",
        ),
        (
            "{linked: {graded: [C], through: [representative]}}",
            "when.linked.through",
            "the path ends at citizens, but the limit is for organisations",
        ),
        (
            "{linked: {graded: [Q], through: [organisations]}}",
            "when.linked.graded",
            "no grade 'Q' for citizens",
        ),
        ("{linked: {graded: [], through: [organisations]}}", "when.linked.graded", "at least 1"),
        (
            "{linked: {graded: [C], through: [parents]}}",
            "when.linked.through[0]",
            "Input should be",
        ),
    ],
)
def test_a_malformed_limit_condition_is_refused(
    tmp_path: Path, condition: str, field: str, reason: str
) -> None:
    text = (
        MINI
        + "lists:\n  - {code: graded_list, enter_at_grades: [C]}\n"
        + "  - {code: carried, enter_with: [{list: graded_list, through: representative}]}\n"
        + f"grade_limits:\n  - {{code: x, at_best: B, when: {condition}}}\n"
    )
    found = [(p.field, p.reason) for p in problems_of(write(tmp_path, text))]
    assert any(f == f"grade_limits[0].{field}" and reason in r for f, r in found), found


def test_a_linked_condition_needs_representatives(tmp_path: Path) -> None:
    text = (
        MINI
        + "grade_limits:\n  - {code: x, at_best: B, "
        + "when: {linked: {graded: [C], through: [organisations]}}}\n"
    )
    found = [(p.field, p.reason) for p in problems_of(write(tmp_path, text))]
    assert (
        "grade_limits[0].when.linked",
        "needs representatives: the rulebook names none",
    ) in found
