"""Property: an incremental run stores exactly what a full run as of the same day stores.

For random ledgers on rulebooks with every kind of dependency between subjects and days
(caps, expiry, reports and verifications, camera confidence; lists with terms per cause,
extensions, re-entry bars, minimum ages and joint punishment two links deep; contagion in
two rounds; the pilot mechanics; lists entered by measures' alerts, which rank everybody
measured; records passed across links, in a chain, by register records that change
between runs), a first batch is scored in full as of one day, a second batch comes in (new
subjects too), and the ledger is scored as of another day (earlier or later) incrementally
and in full: the snapshots and the list members are the same row for row. Some records are
appealed, and the appeals voided or upheld, before the first run and after it. Some
ledgers have a second version of the rulebook (every fixed point doubled, and a quantity
band's points too), in force from a later day, installed before the first run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from pathlib import Path
from typing import Any
from unittest import mock

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import DATA, TINY, feed

from socialrating.appeals import file_appeal, review_appeal
from socialrating.errors import AppealError
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.model import day_date
from socialrating.rulebook import load_rulebook
from socialrating.scoring import incremental, score_run

PILOT = Path(__file__).resolve().parents[1] / "cases" / "pilot.yaml"

# Per rulebook: subjects (code, kind, born), and the records one may draw: (institution,
# parameter, the subjects it may be about, extra fields: "q" a quantity, "c" a camera
# confidence, "p" a counterpart person, "P" a counterpart person or none, "r" a citizen
# reporter, "v" a verification, "a" an act id, "l" a level).
Scenario = tuple[list[tuple[str, str, str | None]], list[tuple[str, str, list[str], str]]]
SCENARIOS: dict[str, tuple[Path, Scenario, dt.date]] = {
    "tiny": (
        TINY,
        (
            [
                ("C1", "citizen", None),
                ("C2", "citizen", None),
                ("C3", "citizen", None),
                ("O1", "organisation", None),
            ],
            [
                ("police", "red_light", ["C1", "C2", "C3"], ""),
                ("cams", "speeding", ["C1", "C2"], "c"),
                ("police", "blood", ["C1", "C2", "C3"], ""),
                ("police", "volunteer_hours", ["C1", "C3"], "q"),
                ("hotline", "rumour", ["C1", "C2", "C3"], "r"),
                ("court", "late_tax", ["O1"], "q"),
                ("police", "hero", ["C2"], ""),
            ],
        ),
        dt.date(2021, 1, 1),
    ),
    "consequences": (
        DATA / "consequences.yaml",
        (
            [
                ("c1", "citizen", "1980-01-01"),
                ("c2", "citizen", "1990-05-05"),
                ("kid", "citizen", "2003-03-15"),
                ("o1", "organisation", None),
                ("o2", "organisation", None),
            ],
            [
                ("court", "debtor", ["c1", "c2", "kid", "o1", "o2"], ""),
                ("court", "paid", ["c1", "c2", "o1"], ""),
                ("police", "unruly", ["c1", "c2", "kid"], ""),
                ("court", "ban.add", ["c1", "kid"], ""),
                ("court", "ban.remove", ["c1", "kid"], ""),
                ("court", "tax_debt", ["c1", "c2"], ""),
                ("registry", "rep", ["o1", "o2"], "p"),
            ],
        ),
        dt.date(2021, 1, 1),
    ),
    "contagion": (
        DATA / "contagion.yaml",
        (
            [(f"p{i}", "citizen", None) for i in range(6)] + [("o1", "organisation", None)],
            [
                ("court", "fraud", ["p0", "p1", "o1"], ""),
                ("court", "minor", [f"p{i}" for i in range(6)], ""),
                ("court", "fine", [f"p{i}" for i in range(6)], ""),
                ("court", "probation", ["p0", "p1", "p2", "p3"], ""),
                ("telecom", "contact", [f"p{i}" for i in range(6)], "p"),
            ],
        ),
        dt.date(2021, 1, 1),
    ),
    "court-terms": (
        DATA / "court-terms.yaml",
        (
            [
                ("c1", "citizen", "1980-01-01"),
                ("kid", "citizen", "1999-11-17"),  # 18 on day 200
                ("o1", "organisation", None),
            ],
            [
                ("court", "ground1", ["c1", "kid", "o1"], ""),
                ("court", "ground2", ["c1", "kid", "o1"], ""),
                ("court", "extension", ["c1", "kid", "o1"], ""),
                ("court", "performed", ["c1", "kid", "o1"], ""),
                ("court", "creditor", ["c1", "kid", "o1"], ""),
                ("registry", "rep", ["o1"], "p"),
            ],
        ),
        dt.date(2017, 5, 1),
    ),
    "calendar": (
        DATA / "calendar.yaml",
        (
            [("c1", "citizen", None), ("c2", "citizen", None)],
            [
                ("office", "half_year", ["c1", "c2"], ""),
                ("office", "this_year", ["c1", "c2"], ""),
                ("office", "next_year", ["c1"], ""),
                ("office", "by_size", ["c1", "c2"], "q"),
            ],
        ),
        dt.date(2020, 10, 1),
    ),
    "limits": (
        DATA / "limits.yaml",
        (
            [
                ("c1", "citizen", "2019-09-01"),  # a year old on day 244
                ("c2", "citizen", None),
                ("o1", "organisation", "2018-06-01"),  # two years old on day 152
            ],
            [
                ("office", "fault", ["c1", "c2", "o1"], ""),
                ("office", "fault", ["c1", "o1"], ""),
                ("office", "watch", ["c1", "c2", "o1"], ""),
            ],
        ),
        dt.date(2020, 1, 1),
    ),
    "stages": (
        DATA / "stages.yaml",
        (
            [("c1", "citizen", None), ("c2", "citizen", None)],
            [
                ("police", "offence", ["c1", "c2"], ""),
                ("police", "big", ["c1", "c2"], ""),
                ("police", "offence", ["c1"], ""),
                ("authority", "adm", ["c1", "c2"], ""),
                ("authority", "warn", ["c1", "c2"], ""),
                ("authority", "wd", ["c1"], ""),
            ],
        ),
        dt.date(2020, 1, 1),
    ),
    "measures": (
        DATA / "measures.yaml",
        (
            [
                ("o1", "organisation", None),
                ("o2", "organisation", None),
                ("o3", "organisation", None),
            ],
            [
                ("inspectors", "inspection", ["o1", "o2", "o3"], "a"),
                ("inspectors", "inspection", ["o1", "o2"], "a"),
                ("inspectors", "minor", ["o1", "o2", "o3"], "al"),
                ("inspectors", "serious", ["o1", "o2"], "al"),
                ("inspectors", "grave", ["o1", "o2", "o3"], "al"),
                ("inspectors", "crash", ["o1", "o2", "o3"], "al"),
                ("inspectors", "crash", ["o1", "o2"], "al"),
                ("census", "power_units", ["o1", "o2", "o3"], "q"),
                ("census", "hazmat", ["o1", "o3"], ""),
                ("census", "passenger", ["o2"], ""),
            ],
        ),
        dt.date(2020, 1, 1),
    ),
    "derived": (
        DATA / "derived.yaml",
        (
            [
                ("o1", "organisation", None),
                ("o2", "organisation", None),
                ("o3", "organisation", None),
                ("p1", "citizen", None),
                ("p2", "citizen", None),
                ("p3", "citizen", None),
                ("p4", "citizen", None),
            ],
            [
                ("registry", "rep", ["o1", "o2", "o3"], "P"),
                ("court", "org.fine", ["o1", "o2", "o3"], ""),
                ("court", "org.fine", ["o1", "o2"], ""),
                ("court", "org.fine", ["o1"], ""),
                ("office", "deed", ["p3", "p4"], ""),
            ],
        ),
        dt.date(2020, 1, 1),
    ),
    "linked-limits": (
        DATA / "linked-limits.yaml",
        (
            [
                ("o1", "organisation", "2019-09-01"),  # a year old on day 244
                ("o2", "organisation", "2020-06-01"),  # a year old on day 517
                ("o3", "organisation", None),
                ("p1", "citizen", None),
                ("p2", "citizen", None),
                ("p3", "citizen", None),
            ],
            [
                ("registry", "rep", ["o1", "o2", "o3"], "P"),
                ("office", "fault", ["o1", "o2", "o3", "p1", "p2"], ""),
                ("office", "fault", ["o1"], ""),  # o1 graded D makes o2 (young) a sister
                ("office", "fault", ["o1"], ""),
                ("office", "graded", ["o3", "p1", "p2"], ""),
                ("office", "listed", ["o1", "o2", "o3", "p3"], ""),
                ("office", "cleared", ["o1", "o2", "o3", "p3"], ""),
            ],
        ),
        dt.date(2020, 1, 1),
    ),
    "pilot": (
        PILOT,
        (
            [("c1", "citizen", None), ("c2", "citizen", None), ("o1", "organisation", None)],
            [
                ("police", "red_light", ["c1", "c2"], ""),
                ("police", "unsafe_work", ["c1", "o1"], ""),
                ("court", "dishonest_debtor", ["c1", "c2"], ""),
                ("court", "org_dishonest", ["o1"], ""),
                ("court", "debt_paid", ["c1", "c2", "o1"], ""),
                ("police", "fine", ["c1", "c2"], "q"),
                ("civil", "volunteer_hours", ["c1", "c2"], "q"),
                ("civil", "course", ["c1", "c2"], ""),
            ],
        ),
        dt.date(2020, 7, 1),
    ),
}

BACKGROUND: dict[str, list[tuple[str, dict[str, Any]]]] = {
    # p1 represents o1 and o2, p2 o3, from the start (the drawn register records change
    # that): persons no drawn record is about, whose results change only across links.
    "derived": [
        ("registry", {"subject": o, "parameter": "rep", "date": "2020-01-01", "counterpart": p})
        for o, p in (("o1", "p1"), ("o2", "p1"), ("o3", "p2"))
    ],
    # p1 runs o1 and o2, p2 o3, from the start; o3 is graded D for most of 2020 (two
    # faults): its head p2 is limited, and a firm p2 comes to run is its sister.
    "linked-limits": [
        ("registry", {"subject": o, "parameter": "rep", "date": "2020-01-01", "counterpart": p})
        for o, p in (("o1", "p1"), ("o2", "p1"), ("o3", "p2"))
    ]
    + [("office", {"subject": "o3", "parameter": "fault", "date": "2020-02-01"})] * 2,
    # Carriers measured from the start, so that they rank and alert on most days (and the
    # drawn records, and appeals voiding these, move one another's percentiles): power
    # units, a crash each in 2020 (on the census's days only the quantity differs), two
    # inspections each for o1 and o2 with a violation.
    "measures": [
        ("census", {"subject": o, "parameter": "power_units", "date": "2020-01-01", "quantity": q})
        for o, q in (("o1", 1), ("o2", 2.5), ("o3", 4))
    ]
    + [
        ("inspectors", {"subject": o, "parameter": p, "date": d, "act": a})
        for o, p, d, a in (
            ("o1", "crash", "2020-03-01", "C1"),
            ("o2", "crash", "2020-07-01", "C1"),
            ("o3", "crash", "2020-11-01", "C1"),
            ("o1", "inspection", "2020-02-01", "I1"),
            ("o1", "inspection", "2020-06-01", "I2"),
            ("o1", "serious", "2020-06-01", "I2"),
            ("o2", "inspection", "2020-04-01", "I1"),
            ("o2", "minor", "2020-04-01", "I1"),
            ("o2", "inspection", "2020-09-01", "I2"),
        )
    ],
}
"""Records fed before the first batch, so that what a scenario tests happens often."""

draw = st.tuples(
    st.integers(0, 50),  # which record (modulo the scenario's kinds)
    st.integers(0, 50),  # which subject (modulo those it may be about)
    st.integers(-20, 500),  # day offset from the rulebook's effective date
    st.integers(0, 50),  # counterpart, quantity, confidence: whatever the record needs
)


def rows_of(name: str, draws: list[tuple[int, int, int, int]]) -> list[tuple[str, dict[str, Any]]]:
    _, (subjects, kinds), start = SCENARIOS[name]
    citizens = [code for code, kind, _ in subjects if kind == "citizen"]
    out = []
    for k, s, offset, extra in draws:
        institution, parameter, about, needs = kinds[k % len(kinds)]
        row: dict[str, Any] = {
            "subject": about[s % len(about)],
            "parameter": parameter,
            "date": (start + dt.timedelta(days=offset)).isoformat(),
        }
        if "q" in needs:
            row["quantity"] = [1, 2.5, 7, 40, 300][extra % 5]
        if "c" in needs:
            row["confidence"] = [0.85, 0.9, 0.95, 0.99][extra % 4]
        if "a" in needs:  # an act (an inspection) shared by the subject's records, or none
            act = ["I1", "I2", "I3", None][extra % 4]
            if act is not None:
                row["act"] = act
        if "l" in needs:
            level = [None, "oos", "injury"][extra // 4 % 3]
            if level is not None:
                row["level"] = level
        if "p" in needs or "r" in needs:
            others = [c for c in citizens if c != row["subject"]]
            row["counterpart"] = others[extra % len(others)]
        if "P" in needs:  # a register record naming a person, or nobody
            named = [*citizens, None][extra % (len(citizens) + 1)]
            if named is not None:
                row["counterpart"] = named
        out.append((institution, row))
    return out


def feed_all(store: Store, rows: list[tuple[str, dict[str, Any]]]) -> None:
    i = 0
    while i < len(rows):  # consecutive rows of one institution make one batch
        j = i
        while j < len(rows) and rows[j][0] == rows[i][0]:
            j += 1
        feed(store, rows[i][0], [row for _, row in rows[i:j]])
        i = j


def appeal_records(store: Store, picks: list[tuple[int, bool]]) -> None:
    """Appeal the records ``picks`` choose (by position among the ledger's records), each
    voided or upheld on the record's own day."""
    records = store.rows(
        """SELECT e.entry_id, s.code, e.day FROM entries e JOIN subjects s USING (subject_id)
           WHERE e.kind = 1 ORDER BY e.entry_id"""
    )
    for pick, void in picks:
        if not records:
            return
        entry, code, day = records[pick % len(records)]
        try:
            found = file_appeal(store, code, entry, "disputed", day_date(day))
        except AppealError:  # voided already
            continue
        outcome = "voided" if void else "upheld"
        review_appeal(store, found.appeal_id, outcome, "reviewed", "reviewer", day_date(day))


AMENDMENTS = (None, 90, 300)
"""Days after the first version's effective date that the second takes effect (None: no
second version). Few, since each compiles plans of its own."""


def amend(store: Store, path: Path, offset: int, tmp: Path) -> int:
    """Install version 2 of the rulebook at ``path``: every ``points: N`` doubled, in force
    ``offset`` days after version 1. Returns its effective day number."""
    text = path.read_text(encoding="utf-8")
    start = load_rulebook(path).spec.effective
    effective = start + dt.timedelta(days=offset)
    text = re.sub(r"(?m)^effective: .*$", f"effective: {effective.isoformat()}", text)
    text = re.sub(r"\bpoints: (-?\d+)", lambda m: f"points: {2 * int(m.group(1))}", text)
    text = re.sub(r"(?m)^version: .*$", 'version: "amended"', text)
    amended = tmp / f"{path.stem}-{offset}.yaml"
    amended.write_text(text, encoding="utf-8")
    activate_rulebook(store, load_rulebook(amended), backdate="doubled")
    return (effective - dt.date(1970, 1, 1)).days


CHOICE = "socialrating.scoring.incremental"


def stored(store: Store, run_id: int) -> tuple[list[tuple[Any, ...]], ...]:
    snapshot = store.rows(
        """SELECT subject_id, score, grade, points_score, direct_grade, stage, contagion,
                  contagion_contacts FROM snapshot WHERE run_id = ? ORDER BY subject_id""",
        [run_id],
    )
    # A grade is dated by the runs before (run._date_grade_memberships), which differ.
    members = store.rows(
        """SELECT list, subject_id, cause, entry_id, grade,
                  CASE WHEN cause = 'record' THEN start_day END, end_day, via_subject
           FROM list_members WHERE run_id = ? ORDER BY ALL""",
        [run_id],
    )
    # The key factors stored for subjects refused by grade (consequences, contagion: D).
    factors = store.rows(
        """SELECT subject_id, rank, code, name, effect, made_good, entries, grade
           FROM run_factors WHERE run_id = ? ORDER BY ALL""",
        [run_id],
    )
    return snapshot, members, factors


def assert_touched_is_all_that_changes(store: Store, base_id: int, day: dt.date) -> None:
    """Scored again as of the base run's own day, only the subjects ``touched`` names (what
    a service waits for after new entries) may differ from the base run: it answers for
    the others meanwhile."""
    from socialrating.ledger.rulebooks import in_force
    from socialrating.model import day_number
    from socialrating.scoring.incremental import base_run, touched

    rb = in_force(store, day_number(day))
    base = base_run(store, rb)
    if base is None or base.run_id != base_id:  # a new version: everyone waits
        return
    waiting = set(touched(store, rb, base).tolist())

    def others(run_id: int) -> list[list[tuple[Any, ...]]]:
        # Rows keyed by subject first, but for the list members (list, then subject).
        return [
            [r for r in rows if r[1 if i == 1 else 0] not in waiting]
            for i, rows in enumerate(stored(store, run_id))
        ]

    class Undone(Exception):
        """Rolls the run back: the next run still starts from the base."""

    with contextlib.suppress(Undone), store.transaction():
        again = score_run(store, day, full=True)
        assert others(again.run_id) == others(base_id)
        raise Undone
    assert store.scalar("SELECT max(run_id) FROM runs") == base_id


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENARIOS))
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    first=st.lists(draw, max_size=25),
    second=st.lists(draw, max_size=12),
    days=st.tuples(st.integers(0, 520), st.integers(0, 520)),
    late_subject=st.booleans(),
    early_appeals=st.lists(st.tuples(st.integers(0, 80), st.booleans()), max_size=2),
    appeals=st.lists(st.tuples(st.integers(0, 80), st.booleans()), max_size=4),
    amendment=st.sampled_from(AMENDMENTS),
    gives_up=st.booleans(),
)
def test_an_incremental_run_equals_a_full_run(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    first: list[tuple[int, int, int, int]],
    second: list[tuple[int, int, int, int]],
    days: tuple[int, int],
    late_subject: bool,
    early_appeals: list[tuple[int, bool]],
    appeals: list[tuple[int, bool]],
    amendment: int | None,
    gives_up: bool,
) -> None:
    """With ``gives_up``, the run after the base runs in full as soon as it chooses anyone
    (``FULL_SHARE``), carrying the key factors of those it did not choose."""
    path, (subjects, _), start = SCENARIOS[name]
    store = open_store(":memory:", create=True)
    patches = contextlib.ExitStack()
    if gives_up:
        patches.enter_context(mock.patch(f"{CHOICE}.FULL_FROM_SUBJECTS", 0))
        patches.enter_context(mock.patch(f"{CHOICE}.FULL_SHARE", 1e-9))
    try:
        activate_rulebook(store, load_rulebook(path))
        second_day = None
        if amendment is not None:
            second_day = amend(store, path, amendment, tmp_path_factory.getbasetemp())
        codes, kinds, born = zip(*subjects, strict=True)
        register_subjects(store, pa.table({"code": codes, "kind": kinds, "born": born}))
        feed_all(store, BACKGROUND.get(name, []))
        feed_all(store, rows_of(name, first))
        appeal_records(store, early_appeals)
        d0, d1 = (start + dt.timedelta(days=d) for d in days)
        base = score_run(store, d0, full=True)
        if late_subject:  # registered after the first run
            register_subjects(store, pa.table({"code": ["late"], "kind": ["citizen"]}))
        feed_all(store, rows_of(name, second))
        appeal_records(store, appeals)
        assert_touched_is_all_that_changes(store, base.run_id, d0)
        incremental = score_run(store, d1)
        same_version = second_day is None or ((d0 - dt.date(1970, 1, 1)).days >= second_day) == (
            (d1 - dt.date(1970, 1, 1)).days >= second_day
        )
        if same_version:
            assert incremental.incremental["base_run"] == base.run_id
        else:  # another version scores d1: no earlier run of it to start from
            assert not incremental.incremental
        full = score_run(store, d1, full=True)
        assert not full.incremental
        assert stored(store, incremental.run_id) == stored(store, full.run_id)
        assert (incremental.grades, incremental.lists) == (full.grades, full.lists)
    finally:
        patches.close()
        store.close()


def _blood_donors(store: Store, n: int) -> list[str]:
    """The tiny rulebook active, citizens C1 to Cn, each with a blood donation on
    2021-02-01 (+10); their codes."""
    activate_rulebook(store, load_rulebook(TINY))
    codes = [f"C{i}" for i in range(1, n + 1)]
    register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * n}))
    feed(store, "police", [{"subject": c, "parameter": "blood", "date": "2021-02-01"}
                           for c in codes])  # fmt: skip
    return codes


def test_an_incremental_run_scores_only_what_changed(tmp_path: Path) -> None:
    """After a day with one new record, one subject is scored again, not everyone."""
    store = open_store(tmp_path / "i.duckdb", create=True)
    try:
        _blood_donors(store, 50)
        score_run(store, dt.date(2021, 6, 1))
        feed(store, "police", [{"subject": "C7", "parameter": "red_light", "date": "2021-06-01"}])
        run = score_run(store, dt.date(2021, 6, 2))
        assert (run.incremental["scores"], run.incremental["lists"]) == (1, 1)
        score = store.scalar(
            "SELECT score FROM snapshot n JOIN subjects s USING (subject_id) "
            "WHERE run_id = ? AND code = 'C7'",
            [run.run_id],
        )
        assert score == 1000 + 10 - 10
        assert store.scalar("SELECT count(*) FROM snapshot WHERE run_id = ?", [run.run_id]) == 50
        quiet = score_run(store, dt.date(2022, 2, 2))  # nothing happened or expired since
        assert quiet.incremental["scores"] == 0
        later = score_run(store, dt.date(2022, 6, 2))  # C7's red light expired on 2022-06-01
        assert later.incremental["scores"] == 1
    finally:
        store.close()


@pytest.mark.parametrize("by_range", [True, False])
def test_a_record_is_chosen_on_the_day_it_stops_counting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, by_range: bool
) -> None:
    """A red light of 2021-06-01 counts 365 days, until 2022-06-01: a run chooses its
    subject when that day is after its base run's day and no later than its own, not the
    day before or after. The choice finds such records by a range of days per validity,
    or (past ``SPANS_BY_RANGE`` validities) by the day plus the validity alone."""
    if not by_range:
        monkeypatch.setattr(incremental, "SPANS_BY_RANGE", 0)
    store = open_store(tmp_path / "e.duckdb", create=True)
    try:
        _blood_donors(store, 5)
        feed(store, "police", [{"subject": "C3", "parameter": "red_light", "date": "2021-06-01"}])
        score_run(store, dt.date(2022, 5, 30))
        days = [dt.date(2022, 5, 31), dt.date(2022, 6, 1), dt.date(2022, 6, 2)]
        assert [score_run(store, d).incremental["scores"] for d in days] == [0, 1, 0]
        assert (
            store.scalar(
                "SELECT score FROM snapshot n JOIN subjects s USING (subject_id) "
                "WHERE code = 'C3' ORDER BY run_id DESC LIMIT 1"
            )
            == 1000 + 10
        )
    finally:
        store.close()


def test_subjects_registered_since_the_base_run_are_scored(tmp_path: Path) -> None:
    """Subjects are numbered in order and never removed, so those numbered above the base
    run's last are the new ones when the registry holds exactly those and the base run's;
    otherwise (a subject numbered below, as no registration does but a ledger may hold)
    they are found by the rows the base run lacks. Either way each is scored."""
    store = open_store(tmp_path / "r.duckdb", create=True)
    try:
        _blood_donors(store, 5)
        first = score_run(store, dt.date(2021, 6, 1))
        register_subjects(store, pa.table({"code": ["late"], "kind": ["citizen"]}))
        base = incremental.base_run(store, load_rulebook(TINY))
        assert base is not None and base.run_id == first.run_id
        assert "subject_id > 5" in incremental._registered_since(store, base)
        second = score_run(store, dt.date(2021, 6, 1))
        assert second.incremental["scores"] == 1 and second.subjects == 6
        store.run("INSERT INTO subjects VALUES (0, 'early', 'citizen', NULL, NULL, NULL)")
        base = incremental.base_run(store, load_rulebook(TINY))
        assert base is not None
        assert "ANTI JOIN" in incremental._registered_since(store, base)
        third = score_run(store, dt.date(2021, 6, 1))
        assert third.incremental["scores"] == 1 and third.subjects == 7
        assert (
            store.scalar(
                "SELECT score FROM snapshot WHERE run_id = ? AND subject_id = 0", [third.run_id]
            )
            == 1000
        )
    finally:
        store.close()


def test_a_run_that_would_score_most_subjects_again_runs_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the subjects chosen by their own entries reach ``FULL_SHARE`` of the registry,
    the run scores everyone (cheaper then) and says so; below it, it stays incremental.
    Either way the snapshot is a full run's."""
    monkeypatch.setattr(incremental, "FULL_FROM_SUBJECTS", 0)
    monkeypatch.setattr(incremental, "FULL_SHARE", 0.5)
    store = open_store(tmp_path / "f.duckdb", create=True)
    try:
        codes = _blood_donors(store, 10)
        first = score_run(store, dt.date(2021, 6, 1))
        feed(store, "police", [{"subject": c, "parameter": "red_light", "date": "2021-06-01"}
                               for c in codes[:4]])  # fmt: skip
        few = score_run(store, dt.date(2021, 6, 2))  # 4 of 10: incremental
        assert few.incremental == {"base_run": first.run_id, "scores": 4, "lists": 4}
        feed(store, "police", [{"subject": c, "parameter": "red_light", "date": "2021-06-03"}
                               for c in codes[2:7]])  # fmt: skip
        many = score_run(store, dt.date(2021, 6, 3))  # 5 of 10: in full
        assert many.incremental == {"base_run": few.run_id, "full": 1}
        full = score_run(store, dt.date(2021, 6, 3), full=True)
        assert stored(store, many.run_id) == stored(store, full.run_id)
    finally:
        store.close()


def test_contagion_reaches_on_only_through_those_who_may_be_low(tmp_path: Path) -> None:
    """A falls to D. B (620 points: 50 of contagion would make a D) is a contact of A,
    C a contact of B: in round 1 B falls to D by A, in round 2 C loses points by B. X,
    A's other contact, has 1000 points: it cannot fall to D, so its contact Y is not
    touched, though Y is two contacts from A. X's other contact W, a D all along, is
    not touched either, but still costs X points. The incremental run equals a full one."""
    from socialrating.ledger.rulebooks import in_force
    from socialrating.model import day_number
    from socialrating.scoring.incremental import base_run, touched

    store = open_store(tmp_path / "c.duckdb", create=True)
    try:
        activate_rulebook(store, load_rulebook(DATA / "contagion.yaml"))
        codes = ["A", "B", "C", "W", "X", "Y"]
        register_subjects(store, pa.table({"code": codes, "kind": ["citizen"] * 6}))
        feed(
            store,
            "court",
            [
                {"subject": "B", "parameter": "minor", "date": "2021-03-01"},
                {"subject": "W", "parameter": "fraud", "date": "2021-03-01"},
            ],
        )
        pairs = [("A", "B"), ("B", "C"), ("A", "X"), ("X", "Y"), ("W", "X")]
        feed(
            store,
            "telecom",
            [
                {"subject": a, "parameter": "contact", "counterpart": b, "date": "2021-03-02"}
                for a, b in pairs
            ],
        )
        day = dt.date(2021, 3, 5)
        score_run(store, day, full=True)
        feed(store, "court", [{"subject": "A", "parameter": "fraud", "date": "2021-03-03"}])
        rb = in_force(store, day_number(day))
        base = base_run(store, rb)
        assert base is not None
        ids = dict(store.rows("SELECT subject_id, code FROM subjects"))
        assert sorted(ids[int(i)] for i in touched(store, rb, base)) == ["A", "B", "C", "X"]
        incremental = score_run(store, day)
        assert incremental.incremental["scores"] == 4
        full = score_run(store, day, full=True)
        assert stored(store, incremental.run_id) == stored(store, full.run_id)
        rows = store.rows(
            "SELECT code, grade, contagion FROM snapshot JOIN subjects USING (subject_id) "
            "WHERE run_id = ? ORDER BY code",
            [incremental.run_id],
        )
        assert rows == [
            ("A", "D", 0),
            ("B", "D", -30),
            ("C", "A", -30),
            ("W", "D", 0),
            ("X", "B", -50),
            ("Y", "A", 0),
        ]
    finally:
        store.close()


def test_a_contact_no_longer_low_stops_costing_points(tmp_path: Path) -> None:
    """A falls to D by a fraud, and B, its contact, loses 30 points by it. Then A is put
    on probation (a direct grade of B): A can no longer be low, though it could in the run
    before, so B is scored again and loses nothing. The incremental run equals a full one
    (a simulated nation found this: B kept its 30 points of contagion)."""
    store = open_store(tmp_path / "l.duckdb", create=True)
    try:
        activate_rulebook(store, load_rulebook(DATA / "contagion.yaml"))
        register_subjects(store, pa.table({"code": ["A", "B"], "kind": ["citizen"] * 2}))
        feed(store, "court", [{"subject": "A", "parameter": "fraud", "date": "2021-03-01"}])
        feed(store, "telecom", [{"subject": "A", "parameter": "contact", "counterpart": "B",
                                 "date": "2021-03-02"}])  # fmt: skip
        base = score_run(store, dt.date(2021, 3, 5), full=True)
        contagion = "SELECT code, grade, contagion FROM snapshot JOIN subjects USING (subject_id) "
        contagion += "WHERE run_id = ? ORDER BY code"
        assert store.rows(contagion, [base.run_id]) == [("A", "D", 0), ("B", "A", -30)]
        feed(store, "court", [{"subject": "A", "parameter": "probation", "date": "2021-03-06"}])
        incremental = score_run(store, dt.date(2021, 3, 7))
        assert incremental.incremental["base_run"] == base.run_id
        full = score_run(store, dt.date(2021, 3, 7), full=True)
        assert stored(store, incremental.run_id) == stored(store, full.run_id)
        assert store.rows(contagion, [incremental.run_id]) == [("A", "B", 0), ("B", "A", 0)]
    finally:
        store.close()
