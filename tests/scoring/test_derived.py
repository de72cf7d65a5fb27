"""Records passed across links (a parameter's ``derived_from``, docs/rulebook.md 3.27):
each record of the source parameter passes one to the organisation's legal
representative on its day, or to every organisation the person represents that day,
against a plain Python reference written from the rule text; voiding the source voids
what it passed; malformed rules."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, problems_of, write

from socialrating.appeals.filing import file_appeal, review_appeal
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

RULEBOOK = DATA / "derived.yaml"
START = dt.date(2020, 1, 1)
ORGS = ("o0", "o1", "o2")
PEOPLE = ("p0", "p1", "p2")
# Each parameter's points and days of validity (None: for ever), as derived.yaml sets them.
POINTS: dict[str, tuple[int, int | None]] = {
    "rep": (0, None),
    "org.fine": (-3, 200),
    "head.fine": (-50, 100),
    "firm.head_fine": (-700, None),
    "deed": (1, 150),
    "firm.deed": (20, 300),
}
# The derived parameters in the order the rulebook defines them: (source, through);
# firm.head_fine takes a derived one as its source (a chain of two links).
DERIVED: dict[str, tuple[str, str]] = {
    "head.fine": ("org.fine", "representative"),
    "firm.head_fine": ("head.fine", "organisations"),
    "firm.deed": ("deed", "organisations"),
}
INSTITUTION = {"rep": "registry", "org.fine": "court", "deed": "office"}


# --- the reference ----------------------------------------------------------------------

Register = tuple[str, str | None, int, int]
"""A register record: (organisation, the person it names or None, day, entry id)."""
Record = tuple[str, str, int, int, str | None]
"""A record: (subject, parameter, entry id, day, the subject it was passed from)."""


def representative(register: list[Register], voided: set[int], org: str, day: int) -> str | None:
    """The organisation's legal representative on ``day``: the person named by its latest
    (by day, then entry order) register record not voided, up to that day; none if there
    is no such record or it names nobody."""
    named = [(d, e, person) for o, person, d, e in register if o == org and d <= day]
    named = [r for r in named if r[1] not in voided]
    return max(named, key=lambda r: (r[0], r[1]))[2] if named else None


def passed(records: list[Record], register: list[Register], voided: set[int]) -> list[Record]:
    """``records`` and every record the rulebook's derived parameters pass from them,
    in the rulebook's order (so a chain takes what the link before it passed), and not
    back to the organisation a record passed to a person came from."""
    out = list(records)
    for q, (source, through) in DERIVED.items():
        for subject, p, entry, day, came in list(out):
            if p != source:
                continue
            if through == "representative":
                person = representative(register, voided, subject, day)
                if person is not None:
                    out.append((person, q, entry, day, subject))
            else:
                for org in ORGS:
                    if representative(register, voided, org, day) == subject and org != came:
                        out.append((org, q, entry, day, subject))
    return out


def reference(
    records: list[Record], voided: set[int], as_of: int
) -> dict[str, tuple[int, Counter[tuple[int, str, str]]]]:
    """Per subject, its score as of ``as_of`` and its lines passed from another subject
    (entry id, parameter, that subject): every record up to ``as_of`` has a line, and
    counts its parameter's points while valid and not voided (with its source)."""
    out: dict[str, tuple[int, Counter[tuple[int, str, str]]]] = {}
    for code in ORGS + PEOPLE:
        score = 0
        lines: Counter[tuple[int, str, str]] = Counter()
        for subject, p, entry, day, came in records:
            if subject != code or day > as_of:
                continue
            if came is not None:
                lines[(entry, p, came)] += 1
            points, days = POINTS[p]
            if entry not in voided and (days is None or as_of < day + days):
                score += points
        out[code] = (score, lines)
    return out


# --- the property -----------------------------------------------------------------------

Sent = tuple[str, str, str | None, int]
"""A record sent: (parameter, subject, the person a register record names, day)."""
day = st.integers(0, 25).map(lambda k: 10 * k)
# Register records on few days: several about one organisation fall on one day.
register_day = st.integers(0, 3).map(lambda k: 40 * k)
Drawn = tuple[list[Sent], list[tuple[bool, int]], int]


@st.composite
def ledgers(draw: st.DrawFn) -> Drawn:
    """Register records (a person, or often nobody) on few days, fines of organisations
    and deeds of persons on days ten apart (validity ends on the day of another record),
    sent in any order; a few records voided, mostly register records; a day to look at."""
    register = draw(
        st.lists(
            st.tuples(
                st.just("rep"),
                st.sampled_from(ORGS),
                st.sampled_from((*PEOPLE, None, None)),
                register_day,
            ),
            min_size=1,
            max_size=10,
        )
    )
    fines = draw(
        st.lists(
            st.tuples(st.just("org.fine"), st.sampled_from(ORGS), st.none(), day),
            min_size=1,
            max_size=5,
        )
    )
    deeds = draw(
        st.lists(
            st.tuples(st.just("deed"), st.sampled_from(PEOPLE), st.none(), day),
            min_size=1,
            max_size=5,
        )
    )
    sent: list[Sent] = draw(st.permutations([*register, *fines, *deeds]))
    voids = draw(
        st.lists(st.tuples(st.sampled_from((True, True, False)), st.integers(0, 50)), max_size=3)
    )
    as_of = draw(st.integers(10, 40).map(lambda k: 10 * k)) + draw(st.sampled_from((0, 5)))
    return list(sent), voids, as_of


@pytest.mark.slow
@settings(
    max_examples=35,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ledger=ledgers())
def test_records_pass_across_links(ledger: Drawn) -> None:
    """Fines to the representative of their day, and from them to the other organisations
    they represent that day (not back to the fined one); deeds to the organisations one
    represents: every subject's score and lines passed to it, in statements and a full
    run."""
    sent, voids, as_of = ledger
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        codes = ORGS + PEOPLE
        kinds = ["organisation"] * len(ORGS) + ["citizen"] * len(PEOPLE)
        register_subjects(store, pa.table({"code": codes, "kind": kinds}))
        rows = []
        for i, (p, subject, person, d) in enumerate(sent):
            row = {"subject": subject, "parameter": p, "key": f"k{i}"}
            row["date"] = (START + dt.timedelta(days=d)).isoformat()
            if person is not None:
                row["counterpart"] = person
            rows.append((INSTITUTION[p], row))
        i = 0
        while i < len(rows):  # consecutive rows of one institution make one batch
            j = i
            while j < len(rows) and rows[j][0] == rows[i][0]:
                j += 1
            feed(store, rows[i][0], [row for _, row in rows[i:j]])
            i = j
        entry = dict(store.rows("SELECT idem_key, entry_id FROM entries WHERE kind = 1"))
        voided: set[int] = set()
        for of_register, pick in voids:  # a register record, or another one
            chosen = [n for n, r in enumerate(sent) if (r[0] == "rep") == of_register]
            if not chosen:
                continue
            n = chosen[pick % len(chosen)]
            if entry[f"k{n}"] in voided:
                continue
            _, subject, _, d = sent[n]
            filed = START + dt.timedelta(days=d)  # on the record's day
            appeal = file_appeal(store, subject, entry[f"k{n}"], "disputed", filed)
            review_appeal(store, appeal.appeal_id, "voided", "void", "clerk", filed)
            voided.add(entry[f"k{n}"])
        register = [
            (subject, person, d, entry[f"k{i}"])
            for i, (p, subject, person, d) in enumerate(sent)
            if p == "rep"
        ]
        records: list[Record] = [
            (subject, p, entry[f"k{i}"], d, None)
            for i, (p, subject, _, d) in enumerate(sent)
            if p != "rep"
        ]
        expected = reference(passed(records, register, voided), voided, as_of)
        date = START + dt.timedelta(days=as_of)
        for code in codes:
            got = statement(store, code, date)
            lines = Counter(
                (line.entry_id, line.parameter, line.passed_from)
                for line in got.lines
                if line.passed_from is not None
            )
            assert (got.score, lines) == expected[code], (code, ledger)
            for line in got.lines:
                assert (line.passed_from is not None) == (line.parameter in DERIVED), line
                if line.passed_from is not None:
                    assert line.reason.startswith("passed from"), line.reason
        run = score_run(store, date, full=True)
        snapshot = store.rows(
            """SELECT s.code, n.score FROM snapshot n JOIN subjects s USING (subject_id)
               WHERE run_id = ?""",
            [run.run_id],
        )
        assert dict(snapshot) == {c: expected[c][0] for c in codes}, ledger
    finally:
        store.close()


# --- worked examples --------------------------------------------------------------------


def _store() -> Store:
    store = open_store(":memory:", create=True)
    activate_rulebook(store, load_rulebook(RULEBOOK))
    codes = ["p1", "p2", "o1", "o2"]
    kinds = ["citizen", "citizen", "organisation", "organisation"]
    register_subjects(store, pa.table({"code": codes, "kind": kinds}))
    return store


def test_a_voided_source_voids_what_it_passed() -> None:
    """o1's fine passes to p1, its representative; voided on appeal, it counts for
    neither, and p1's line from it is voided too (the same entry); so is o2's line passed
    on from p1's (p1 represents o2 too)."""
    store = _store()
    try:
        feed(store, "registry", [{"subject": o, "parameter": "rep", "date": "2020-01-05",
                                  "counterpart": "p1"} for o in ("o1", "o2")])  # fmt: skip
        fines = [
            {"subject": "o1", "parameter": "org.fine", "date": "2020-02-01"},
            {"subject": "o1", "parameter": "org.fine", "date": "2020-03-01"},
        ]
        first = feed(store, "court", fines[:1]).batch
        feed(store, "court", fines[1:])
        assert first is not None
        as_of = dt.date(2020, 4, 1)
        assert statement(store, "p1", as_of).score == -100
        assert statement(store, "o2", as_of).score == -1400
        appeal = file_appeal(store, "o1", first.first_entry, "never fined", dt.date(2020, 2, 2))
        review_appeal(
            store, appeal.appeal_id, "voided", "no such fine", "clerk", dt.date(2020, 2, 3)
        )
        head = statement(store, "p1", as_of)
        got = [(line.entry_id, line.status.value, line.passed_from) for line in head.lines]
        assert got == [
            (first.first_entry, "voided", "o1"),
            (first.first_entry + 1, "counted", "o1"),
        ]
        assert head.score == -50
        assert statement(store, "o1", as_of).score == -3
        other = statement(store, "o2", as_of)
        got = [(line.entry_id, line.status.value, line.passed_from) for line in other.lines]
        assert got[-2:] == [
            (first.first_entry, "voided", "p1"),
            (first.first_entry + 1, "counted", "p1"),
        ]
        assert other.score == -700
        run = score_run(store, as_of, full=True)
        snapshot = store.rows(
            """SELECT s.code, n.score FROM snapshot n JOIN subjects s USING (subject_id)
               WHERE run_id = ? ORDER BY s.code""",
            [run.run_id],
        )
        assert snapshot == [("o1", -3), ("o2", -700), ("p1", -50), ("p2", 0)]
    finally:
        store.close()


def test_a_chain_passes_on_what_it_was_passed() -> None:
    """p1 represents o1 and o2, then (from 1 March) o1 only. o1's fine of 1 February (-3)
    passes to p1 (-50 for 100 days) and from p1 to o2 (-700), not back to o1; its fine of
    1 April to p1, and from p1 to no one. On 1 June: p1 -50 (the first ended on 11 May),
    o1 -6, o2 -700."""
    store = _store()
    try:
        feed(store, "registry", [
            {"subject": "o1", "parameter": "rep", "date": "2020-01-05", "counterpart": "p1"},
            {"subject": "o2", "parameter": "rep", "date": "2020-01-05", "counterpart": "p1"},
            {"subject": "o2", "parameter": "rep", "date": "2020-03-01", "counterpart": "p2"},
        ])  # fmt: skip
        fines = [
            {"subject": "o1", "parameter": "org.fine", "date": "2020-02-01"},
            {"subject": "o1", "parameter": "org.fine", "date": "2020-04-01"},
        ]
        sent = feed(store, "court", fines).batch
        assert sent is not None
        f1, f2 = sent.first_entry, sent.first_entry + 1
        as_of = dt.date(2020, 6, 1)
        got = {c: statement(store, c, as_of) for c in ("p1", "p2", "o1", "o2")}
        assert {c: s.score for c, s in got.items()} == {"p1": -50, "p2": 0, "o1": -6, "o2": -700}
        passed = {
            c: [(line.entry_id, line.parameter, line.passed_from)
                for line in s.lines if line.passed_from]
            for c, s in got.items()
        }  # fmt: skip
        assert passed == {
            "p1": [(f1, "head.fine", "o1"), (f2, "head.fine", "o1")],
            "p2": [],
            "o1": [],
            "o2": [(f1, "firm.head_fine", "p1")],
        }
    finally:
        store.close()


def test_a_record_of_a_derived_parameter_may_also_be_sent() -> None:
    """An institution of head.fine may send one itself (a court naming the person): it is
    an ordinary record of it, passed from nobody (docs/rulebook.md 1.7)."""
    store = _store()
    try:
        feed(store, "court", [{"subject": "p1", "parameter": "head.fine", "date": "2020-02-01"}])
        got = statement(store, "p1", dt.date(2020, 3, 1))
        assert [(line.parameter, line.passed_from, line.counted) for line in got.lines] == [
            ("head.fine", None, -50)
        ]
        assert got.score == -50
    finally:
        store.close()


# --- malformed rules --------------------------------------------------------------------

REG = "  - {code: reg, category: charity, points: 0, institutions: [police], subjects: organisation}\n"
FIRM = "  - {code: firm.fine, category: traffic, points: -5, institutions: [police], subjects: organisation}\n"
REPRESENTATIVES = "representatives: {parameter: reg}\n"


def head(source: str, through: str = "representative", subjects: str = "citizen") -> str:
    return (
        "  - {code: head.fine, category: traffic, points: -5, institutions: [police], "
        f"subjects: {subjects}, derived_from: {{parameter: {source}, through: {through}}}}}\n"
    )


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        (
            MINI + REG + FIRM + head("nope") + REPRESENTATIVES,
            "derived_from.parameter",
            "'nope' is not a parameter of the YAML",
        ),
        (
            MINI + REG + head("firm.fine") + FIRM + REPRESENTATIVES,
            "derived_from.parameter",
            "'firm.fine' must be defined before it",
        ),
        (
            MINI + REG + FIRM + head("head.fine") + REPRESENTATIVES,
            "derived_from.parameter",
            "'head.fine' must be defined before it",
        ),
        (
            MINI + REG + FIRM + head("firm.fine"),
            "derived_from",
            "passing across links needs `representatives` in the rulebook",
        ),
        (
            MINI + REG + FIRM + head("firm.fine", subjects="organisation") + REPRESENTATIVES,
            "derived_from.through",
            "records passed through representative are about citizens: set subjects: citizen",
        ),
        (
            MINI + REG + FIRM + head("blood", "organisations") + REPRESENTATIVES,
            "derived_from.through",
            "records passed through organisations are about organisations: "
            "set subjects: organisation",
        ),
        (
            MINI + REG + FIRM + head("blood") + REPRESENTATIVES,
            "derived_from.parameter",
            "'blood' is about citizens, not organisations",
        ),
        (
            MINI + REG + FIRM + head("firm.fine", "sideways") + REPRESENTATIVES,
            "derived_from.through",
            "Input should be 'representative' or 'organisations' (got 'sideways')",
        ),
    ],
    ids=[
        "unknown-source",
        "source-later",
        "source-itself",
        "no-representatives",
        "representative-not-a-citizen",
        "organisations-not-an-organisation",
        "source-about-citizens",
        "through-sideways",
    ],
)
def test_a_malformed_derived_from_is_refused(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    problems = problems_of(write(tmp_path, text))
    # MINI has 26 lines and 3 parameters; head.fine is the k-th line appended to it.
    k = next(k for k, t in enumerate(text[len(MINI) :].splitlines()) if "code: head.fine" in t)
    assert [(p.line, p.field, p.reason) for p in problems] == [
        (27 + k, f"parameters[{3 + k}].{field}", reason)
    ]


def test_the_rulebooks_are_valid(tmp_path: Path) -> None:
    """Each link loads, so does a derived parameter about anyone, and derived.yaml's chain."""
    for text in (
        MINI + REG + FIRM + head("firm.fine") + REPRESENTATIVES,
        MINI + REG + FIRM + head("blood", "organisations", "organisation") + REPRESENTATIVES,
        MINI + REG + FIRM + head("firm.fine", subjects="any") + REPRESENTATIVES,
    ):
        load_rulebook(write(tmp_path, text))
    load_rulebook(RULEBOOK)
