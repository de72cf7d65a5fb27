"""Property: list memberships by record follow the list rules, against a plain Python
reference written from the rule text (docs/rulebook.md 1.9): a term per entry cause,
extensions within a fixed term, a re-entry bar after a creditor's request, the minimum
age on the day of the entry record, and the latest leaving record ending earlier terms."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run, statement

RULEBOOK = DATA / "court-terms.yaml"
START = dt.date(2017, 5, 1)
BORN = {"c1": dt.date(1980, 1, 1), "kid": dt.date(1999, 11, 17)}  # kid is 18 on day 200
KINDS = ("ground1", "ground2", "extension", "performed", "creditor")
TERM = {"ground1": None, "ground2": 120}
EXTENSION, BAR, MIN_AGE = 50, 60, 18


def reference(
    records: list[tuple[str, int]], born: dt.date, as_of: int
) -> tuple[int, int | None, int] | None:
    """(since, until, index of the cause) of the subject's membership of ``debtors`` as of
    day ``as_of`` (days from START), from its records (parameter, day) in entry order."""
    seen = [(i, code, day) for i, (code, day) in enumerate(records) if day <= as_of]
    adult = born.replace(year=born.year + MIN_AGE)
    left = max((day for _, code, day in seen if code in ("performed", "creditor")), default=None)
    running = []
    for i, code, day in seen:
        if code not in TERM or START + dt.timedelta(days=day) < adult:
            continue
        if any(c == "creditor" and d <= day < d + BAR for _, c, d in seen):
            continue
        term = TERM[code]
        end = None
        if term is not None:
            extra = sum(EXTENSION for _, c, d in seen if c == "extension" and day <= d < day + term)
            end = day + term + extra
        if (left is None or day > left) and (end is None or end > as_of):
            running.append((day, i, end))
    if not running:
        return None
    until = None if any(end is None for _, _, end in running) else max(e for *_, e in running)
    cause = max(running)[1]  # the latest entry record (day, then entry order)
    return min(day for day, _, _ in running), until, cause


# Days on a grid of 10, so that records often fall within each other's periods.
day = st.integers(0, 26).map(lambda k: 10 * k)
record = st.tuples(st.sampled_from(KINDS), day)


@st.composite
def ledgers(draw: st.DrawFn) -> tuple[list[tuple[str, int]], int]:
    """An entry, often with a creditor's deletion shortly before it and an extension
    within its term, some other records, and a day near its end to look at."""
    entry = draw(day)
    records = [(draw(st.sampled_from(("ground1", "ground2", "ground2"))), entry)]
    if draw(st.booleans()):
        records.insert(0, ("creditor", max(0, entry - draw(st.integers(0, 9)) * 10)))
    if draw(st.booleans()):
        records.append(("extension", entry + draw(st.integers(0, 13)) * 10))
    records += draw(st.lists(record, max_size=4))
    order = draw(st.permutations(range(len(records))))
    as_of = entry + draw(st.integers(0, 20)) * 10 + 5
    return [records[i] for i in order], as_of


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ledger=ledgers(), who=st.sampled_from(sorted(BORN)))
def test_list_terms_follow_the_rules(ledger: tuple[list[tuple[str, int]], int], who: str) -> None:
    records, as_of = ledger
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(
            store,
            pa.table(
                {
                    "code": list(BORN),
                    "kind": ["citizen"] * len(BORN),
                    "born": [b.isoformat() for b in BORN.values()],
                }
            ),
        )
        rows = [
            {"subject": who, "parameter": code, "date": (START + dt.timedelta(days=d)).isoformat()}
            for code, d in records
        ]
        feed(store, "court", rows)
        first = store.scalar("SELECT min(entry_id) FROM entries WHERE kind = 1")
        st_ = statement(store, who, START + dt.timedelta(days=as_of))
        got = [m for m in st_.lists if m.list == "debtors"]
        want = reference(records, BORN[who], as_of)
        if want is None:
            assert got == [], (got, records)
            return
        since, until, cause = want
        assert len(got) == 1, (got, records)
        m = got[0]
        assert (m.start_day, m.end_day, m.entry_id) == (
            (START - dt.date(1970, 1, 1)).days + since,
            None if until is None else (START - dt.date(1970, 1, 1)).days + until,
            int(first) + cause,
        ), records
    finally:
        store.close()


def test_a_joint_membership_from_a_grade_starts_when_its_source_did() -> None:
    """O and Q fall to D on 2021-02-01 and are blacklisted by their grades from the first
    run that finds them so (2021-03-01). P, named O's representative on 2021-03-20, is
    barred with it from that day; R, Q's since 2021-01-05, from Q's listing on. Later runs
    keep the dates."""
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(DATA / "consequences.yaml"))
        register_subjects(
            store,
            pa.table({"code": ["O", "P", "Q", "R"],
                      "kind": ["organisation", "citizen", "organisation", "citizen"],
                      "born": [None, dt.date(1970, 1, 1), None, dt.date(1970, 1, 1)]}),
        )  # fmt: skip
        feed(
            store,
            "court",
            [{"subject": o, "parameter": "debtor", "date": "2021-02-01"} for o in ("O", "Q")],
        )
        feed(
            store,
            "registry",
            [
                {"subject": "O", "parameter": "rep", "date": "2021-03-20", "counterpart": "P"},
                {"subject": "Q", "parameter": "rep", "date": "2021-01-05", "counterpart": "R"},
            ],
        )
        score_run(store, dt.date(2021, 3, 1))
        score_run(store, dt.date(2021, 3, 25))
        run = score_run(store, dt.date(2021, 4, 1))
        got = store.rows(
            """SELECT s.code, m.list, m.cause, strftime(DATE '1970-01-01' + m.start_day, '%Y-%m-%d')
               FROM list_members m JOIN subjects s USING (subject_id)
               WHERE run_id = ? AND m.list IN ('blacklist', 'rep_ban') ORDER BY ALL""",
            [run.run_id],
        )
        assert got == [
            ("O", "blacklist", "grade", "2021-03-01"),
            ("P", "rep_ban", "joint", "2021-03-20"),
            ("Q", "blacklist", "grade", "2021-03-01"),
            ("R", "rep_ban", "joint", "2021-03-01"),
        ]
    finally:
        store.close()
