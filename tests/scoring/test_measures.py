"""Measures that are not sums of points (docs/rulebook.md 3.26) against a plain Python
reference written from the rule text: severity-weighted acts, capped and weighted by age
in calendar months, divided by an exposure, ranked as percentiles among peers, alerting at
thresholds; the lists they feed, and malformed measures."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, problems_of, write

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.model import day_number
from socialrating.rulebook import load_rulebook
from socialrating.rulebook.schema import Measure
from socialrating.scoring import score_run, statement
from socialrating.scoring.measure_lines import MeasureLine

RULEBOOK = DATA / "measures.yaml"
MEASURES = load_rulebook(RULEBOOK).spec.measures
START = dt.date(2020, 1, 1)
VALIDITY = {"minor": 24, "serious": 24, "grave": 24, "hazmat": 12}
"""The parameters that stop counting, after how many calendar months (measures.yaml)."""
INSTITUTION = {"power_units": "census", "passenger": "census", "hazmat": "census"}
ALERT_LISTS = {"intervention": ("maintenance", "crashes"), "crash_watch": ("crashes",)}


@dataclass(frozen=True)
class Rec:
    """A record as sent; ``pos`` is its place in the ledger's entry order."""

    subject: str
    code: str
    day: dt.date
    act: str | None = None
    level: str | None = None
    quantity: float | None = None
    pos: int = 0


Act = tuple[str | None, dt.date, int, float, float, float]
"""(act, first day, records, summed weight, capped weight, time weight)"""


def _sorted(acts: list[Act]) -> list[Act]:
    return sorted(acts, key=lambda a: (a[0] or "", a[1:]))


@dataclass(frozen=True)
class Expected:
    value: float | None
    severity: float
    exposure: float | None
    peer_count: int
    peer_group: int | None
    peers: int | None
    percentile: float | None
    threshold: float
    alert: bool
    acts: list[Act]
    """The acts in the window, sorted."""


def add_months(day: dt.date, months: int) -> dt.date:
    """``months`` calendar months after ``day``: the day of the month kept, or the last."""
    m = day.month - 1 + months
    year, month = day.year + m // 12, m % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def counts(r: Rec, as_of: dt.date) -> bool:
    """The record counts on ``as_of``: it has happened and has not expired."""
    months = VALIDITY.get(r.code)
    return r.day <= as_of and (months is None or as_of < add_months(r.day, months))


def time_weight(m: Measure, day: dt.date, as_of: dt.date) -> float | None:
    """The first tier whose months after ``day`` have not passed; None: out of the window."""
    for tier in m.time_weights:
        if as_of < add_months(day, tier.months):
            return tier.weight
    return None


def _measure(m: Measure, recs: list[Rec], as_of: dt.date) -> dict[str, Any] | None:
    """One subject's measure before ranking, or None when it has no record in the window."""
    counted = [r for r in recs if counts(r, as_of)]
    acts: dict[tuple[str, str | int], list[Rec]] = {}
    for r in counted:
        if r.code in m.weights:
            key = ("act", r.act) if r.act is not None else ("own", r.pos)
            acts.setdefault(key, []).append(r)
    severity = 0.0
    seen: list[Act] = []
    for rs in acts.values():
        weight = sum(m.weights[r.code] + m.level_weights.get(r.level or "", 0.0) for r in rs)
        capped = weight if m.act_cap is None else min(weight, m.act_cap)
        first = min(r.day for r in rs)
        tw = time_weight(m, first, as_of)
        if tw is None:
            continue
        severity += capped * tw
        seen.append((rs[0].act, first, len(rs), weight, capped, tw))
    exposure: float | None
    read = bool(seen)
    if m.per.records is not None:
        ws = [time_weight(m, r.day, as_of) for r in counted if r.code in m.per.records]
        weights = [w for w in ws if w is not None]
        exposure = sum(weights) if weights else None
        read = read or bool(weights)
    else:
        qs = [r for r in counted if r.code == m.per.quantity]
        latest = max(qs, key=lambda r: (r.day, r.pos), default=None)
        exposure = None if latest is None else latest.quantity
        read = read or latest is not None
    peer_count = sum(
        1 for r in counted if r.code in m.peers.count and time_weight(m, r.day, as_of) is not None
    )
    if not (read or peer_count):
        return None
    groups = [g for g in m.peers.groups if g <= peer_count]
    threshold = next(
        t.at for t in m.thresholds if t.with_ is None or any(r.code in t.with_ for r in counted)
    )
    return {
        "value": severity / exposure if exposure else None,
        "severity": severity,
        "exposure": exposure,
        "peer_count": peer_count,
        "peer_group": groups[-1] if groups else None,
        "threshold": threshold,
        "acts": _sorted(seen),
    }


def reference(m: Measure, ledger: dict[str, list[Rec]], as_of: dt.date) -> dict[str, Expected]:
    """Every subject's ``m`` as of ``as_of``, ranked among its peers."""
    rows = {s: row for s, recs in ledger.items() if (row := _measure(m, recs, as_of))}
    ranked = {
        s: row
        for s, row in rows.items()
        if row["peer_group"] is not None and row["value"] is not None and row["value"] > 0
    }
    out = {}
    for s, row in rows.items():
        percentile = peers = None
        if s in ranked:
            group = [o for o in ranked.values() if o["peer_group"] == row["peer_group"]]
            lower = sum(1 for o in group if o["value"] < row["value"])
            peers = len(group)
            percentile = 0.0 if peers == 1 else lower / (peers - 1) * 100.0
        out[s] = Expected(
            row["value"],
            row["severity"],
            row["exposure"],
            row["peer_count"],
            row["peer_group"],
            peers,
            percentile,
            row["threshold"],
            percentile is not None and percentile >= row["threshold"],
            row["acts"],
        )
    return out


def _close(a: float | None, b: float | None, rel: float) -> bool:
    if a is None or b is None:
        return a is b
    return b == pytest.approx(a, rel=rel, abs=rel)


def check(line: MeasureLine, want: Expected) -> None:
    assert _close(want.value, line.value, 1e-9), (want.value, line.value)
    assert _close(want.severity, line.severity, 1e-9), (want.severity, line.severity)
    assert _close(want.exposure, line.exposure, 1e-9), (want.exposure, line.exposure)
    assert _close(want.percentile, line.percentile, 1e-6), (want.percentile, line.percentile)
    got = (line.peer_count, line.peer_group, line.peers, line.threshold, line.alert)
    assert got == (want.peer_count, want.peer_group, want.peers, want.threshold, want.alert)
    acts = [(a.act, a.date, a.records, a.weight, a.capped, a.time_weight) for a in line.acts]
    assert _sorted(acts) == want.acts
    assert all(a.adds == a.capped * a.time_weight for a in line.acts)


# --- the property ------------------------------------------------------------------------


def _date(month: int, dom: int) -> dt.date:
    """Day ``dom`` (or the month's last) of the ``month``-th month from January 2020."""
    year, m = 2020 + month // 12, month % 12 + 1
    return dt.date(year, m, min(dom, calendar.monthrange(year, m)[1]))


# Days of the month that make month arithmetic interesting (31 August + 6 months is 28
# February), so that as-of days often fall on or beside a tier's end.
DOMS = (1, 2, 15, 28, 29, 30, 31)
# Records over 18 months, looked at in the last 12 of them or a few after: most acts are
# in the window, some in each tier, some just out.
day = st.builds(_date, st.integers(0, 17), st.sampled_from(DOMS))
as_of_day = st.builds(_date, st.integers(6, 21), st.sampled_from(DOMS))

Drawn = dict[str, Any]


@st.composite
def organisation(draw: st.DrawFn) -> Drawn:
    """One carrier's inspections (acts A0, A1, ... sharing names across carriers),
    violations in them or on their own, crashes and census records."""
    inspections = draw(st.lists(day, max_size=6))
    violations = draw(
        st.lists(
            st.tuples(
                st.sampled_from(("minor", "serious", "grave", "crash")),
                st.integers(-1, 3),  # the act (an inspection's index; else none)
                day,
                st.booleans(),  # on the inspection's day, or on a day of its own
                st.sampled_from((None, None, "oos", "injury")),
            ),
            max_size=8,
        )
    )
    census = draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    ("power_units", "power_units", "power_units", "passenger", "hazmat")
                ),
                st.one_of(st.just(START), day),
                st.sampled_from((1, 2.5, 4, 8, 0)),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return {"inspections": inspections, "violations": violations, "census": census}


def records_of(orgs: list[Drawn]) -> list[Rec]:
    """The records in the order they are sent: the inspectors' batch, then the census's."""
    inspected, registered = [], []
    for i, o in enumerate(orgs):
        code = f"o{i + 1}"
        acts = o["inspections"]
        for k, d in enumerate(acts):
            inspected.append(Rec(code, "inspection", d, act=f"A{k}"))
        for parameter, k, d, same_day, level in o["violations"]:
            act = f"A{k}" if 0 <= k < len(acts) else None
            when = acts[k] if act is not None and same_day else d
            inspected.append(Rec(code, parameter, when, act=act, level=level))
        for parameter, d, q in o["census"]:
            quantity = q if parameter == "power_units" else None
            registered.append(Rec(code, parameter, d, quantity=quantity))
    return [
        Rec(r.subject, r.code, r.day, r.act, r.level, r.quantity, pos)
        for pos, r in enumerate(inspected + registered)
    ]


def _row(r: Rec) -> dict[str, Any]:
    row: dict[str, Any] = {"subject": r.subject, "parameter": r.code, "date": r.day.isoformat()}
    for name in ("act", "level", "quantity"):
        if getattr(r, name) is not None:
            row[name] = getattr(r, name)
    return row


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(orgs=st.lists(organisation(), min_size=3, max_size=6), as_of=as_of_day)
def test_measures_follow_the_rules(orgs: list[Drawn], as_of: dt.date) -> None:
    records = records_of(orgs)
    note(f"as of {as_of}: " + "".join(f"\n  {r}" for r in records))
    codes = [f"o{i + 1}" for i in range(len(orgs))]
    ledger: dict[str, list[Rec]] = {c: [] for c in codes}
    for r in records:
        ledger[r.subject].append(r)
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": codes, "kind": ["organisation"] * len(codes)}))
        for institution in ("inspectors", "census"):
            rows = [
                _row(r) for r in records if INSTITUTION.get(r.code, "inspectors") == institution
            ]
            if rows:
                sent = feed(store, institution, rows)
                assert sent.stored == len(rows), sent
        want = {m.code: reference(m, ledger, as_of) for m in MEASURES}
        for code in codes:
            got = statement(store, code, as_of)
            lines = {line.code: line for line in got.measures}
            mine = {m: of[code] for m, of in want.items() if code in of}
            assert sorted(lines) == sorted(mine), (code, lines, mine)
            for m, expected in mine.items():
                check(lines[m], expected)
            alerts = {m for m, e in mine.items() if e.alert}
            members = {(x.list, x.cause, x.grade) for x in got.lists}
            assert members == {
                (lst, "alert", m) for lst, ms in ALERT_LISTS.items() for m in ms if m in alerts
            }, (code, mine)
        # The narrowed statement reads every record a measure reads: the same as the whole
        # ledger's, for a subject measured (ranked among the others), if any.
        code = max(codes, key=lambda c: sum(c in of for of in want.values()))
        whole = statement(store, code, as_of, narrow=False)
        assert whole.measures == statement(store, code, as_of).measures
    finally:
        store.close()


def test_old_inspections_alone_make_no_measure() -> None:
    """o1's one inspection (2020-01-01) weighs 2 after five months; 17 months on it is out
    of the 12-month window, and o1 has nothing else that ``maintenance`` reads."""
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": ["o1"], "kind": ["organisation"]}))
        row = {"subject": "o1", "parameter": "inspection", "date": "2020-01-01", "act": "A0"}
        feed(store, "inspectors", [row])
        (line,) = statement(store, "o1", dt.date(2020, 6, 1)).measures
        assert (line.value, line.exposure, line.peer_count) == (0.0, 2.0, 1)
        assert statement(store, "o1", dt.date(2021, 6, 1)).measures == []
    finally:
        store.close()


# --- alert memberships are dated by runs -------------------------------------------------


def test_an_alert_membership_is_dated_by_the_first_run_that_listed_it() -> None:
    """o1 and o2 have two inspections each (the first peer group); o1's serious violation
    (4 x 3) outweighs o2's minor one (1 x 3): o1 is at percentile 100 (>= 75), o2 at 0."""
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(RULEBOOK))
        register_subjects(store, pa.table({"code": ["o1", "o2"], "kind": ["organisation"] * 2}))
        rows = [
            {"subject": s, "parameter": "inspection", "date": d, "act": a}
            for s in ("o1", "o2")
            for d, a in (("2021-01-10", "I1"), ("2021-02-10", "I2"))
        ]
        rows += [
            {"subject": "o1", "parameter": "serious", "date": "2021-02-10", "act": "I2"},
            {"subject": "o2", "parameter": "minor", "date": "2021-02-10", "act": "I2"},
        ]
        feed(store, "inspectors", rows)
        first, second = dt.date(2021, 3, 1), dt.date(2021, 3, 2)
        score_run(store, first)
        run = score_run(store, second)
        got = statement(store, "o1", second)
        (line,) = got.measures
        assert (line.value, line.percentile, line.threshold, line.alert) == (2.0, 100.0, 75, True)
        assert got.as_dict()["lists"] == [
            {
                "list": "intervention",
                "cause": "alert",
                "via": None,
                "entry_id": None,
                "grade": "maintenance",
                "since": "2021-03-01",
                "until": None,
            }
        ]
        stored = store.rows(
            """SELECT s.code, m.list, m.cause, m.grade, m.start_day FROM list_members m
               JOIN subjects s USING (subject_id) WHERE run_id = ?""",
            [run.run_id],
        )
        assert stored == [("o1", "intervention", "alert", "maintenance", day_number(first))]
        assert statement(store, "o2", second).lists == []
    finally:
        store.close()


# --- malformed measures ------------------------------------------------------------------

MEASURE = """\
measures:
  - code: m1
    weights: {red_light: 3, blood: 1}
    level_weights: {oos: 2}
    act_cap: 10
    time_weights: [{months: 6, weight: 2}, {months: 12, weight: 1}]
    per: {records: [blood]}
    peers: {count: [blood], groups: [1, 5]}
    thresholds: [{at: 50, with: [rumour]}, {at: 70}]
lists:
  - code: watch
    subjects: organisation
    enter_at_alerts: [m1]
"""
"""A valid measure and a list it feeds, after MINI's parameters."""

OTHER = (
    "  - {code: m2, weights: {blood: 1}, time_weights: [{months: 6, weight: 1}], "
    "per: {quantity: blood}, peers: {count: [blood], groups: [1]}, thresholds: [{at: 50}]}\n"
)


def test_a_valid_measure_loads(tmp_path: Path) -> None:
    rb = load_rulebook(write(tmp_path, MINI + MEASURE))
    (m,) = rb.spec.measures
    assert (m.code, m.subjects, m.act_cap, m.per.records) == ("m1", "organisation", 10, ["blood"])
    assert rb.spec.lists[0].enter_at_alerts == ["m1"]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            "{red_light: 3, blood: 1}",
            "{red_light: 3, nope: 1}",
            "measures[0].weights",
            "'nope' is not a parameter of the YAML",
        ),
        (
            "per: {records: [blood]}",
            "per: {records: [blood], quantity: blood}",
            "measures[0].per",
            "give exactly one exposure: records (inspections) or quantity",
        ),
        (
            "per: {records: [blood]}",
            "per: {}",
            "measures[0].per",
            "give exactly one exposure: records (inspections) or quantity",
        ),
        (
            "per: {records: [blood]}",
            "per: {quantity: nope}",
            "measures[0].per.quantity",
            "'nope' is not a parameter of the YAML",
        ),
        (
            "count: [blood]",
            "count: [nope]",
            "measures[0].peers.count",
            "'nope' is not a parameter of the YAML",
        ),
        (
            "with: [rumour]",
            "with: [nope]",
            "measures[0].thresholds[0].with",
            "'nope' is not a parameter of the YAML",
        ),
        (
            "{months: 6, weight: 2}, {months: 12",
            "{months: 12, weight: 2}, {months: 6",
            "measures[0].time_weights",
            "the months must rise from one time weight to the next",
        ),
        (
            "{months: 6, weight: 2}, {months: 12",
            "{months: 6, weight: 2}, {months: 6",
            "measures[0].time_weights",
            "the months must rise from one time weight to the next",
        ),
        (
            "groups: [1, 5]",
            "groups: [5, 1]",
            "measures[0].peers.groups",
            "the groups' lowest counts must rise from one group to the next",
        ),
        (
            "{at: 70}",
            "{at: 70, with: [blood]}",
            "measures[0].thresholds",
            "the last threshold applies to everyone: leave out its `with`",
        ),
        (
            "{at: 50, with: [rumour]}",
            "{at: 50}",
            "measures[0].thresholds[0]",
            "only the last threshold may leave out `with`",
        ),
        (
            "lists:\n",
            OTHER.replace("m2", "m1") + "lists:\n",
            "measures[1].code",
            "code 'm1' is used twice",
        ),
        (
            "enter_at_alerts: [m1]",
            "enter_at_alerts: [m1, m9]",
            "lists[0].enter_at_alerts",
            "'m9' is not a measure of the rulebook",
        ),
        (
            "subjects: organisation\n    enter_at_alerts",
            "subjects: citizen\n    enter_at_alerts",
            "lists[0].enter_at_alerts",
            "measure 'm1' is of organisations, the list of citizens",
        ),
        (
            "{red_light: 3, blood: 1}",
            "{red_light: heavy, blood: 1}",
            "measures[0].weights.red_light",
            "Input should be a valid number",
        ),
        (
            "{months: 6, weight: 2}",
            "{months: 6, weight: 0}",
            "measures[0].time_weights[0].weight",
            "Input should be greater than 0",
        ),
        (
            "{at: 70}",
            "{at: 101}",
            "measures[0].thresholds[1].at",
            "Input should be less than or equal to 100",
        ),
    ],
)
def test_a_malformed_measure_is_refused(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    text = MINI + MEASURE
    assert text.count(old) == 1, old
    problems = problems_of(write(tmp_path, text.replace(old, new)))
    found = [(p.field, p.reason) for p in problems]
    assert len(found) == 1 and found[0][0] == field and reason in found[0][1], found


def test_a_second_measure_of_another_code_loads(tmp_path: Path) -> None:
    rb = load_rulebook(write(tmp_path, MINI + MEASURE.replace("lists:\n", OTHER + "lists:\n")))
    assert [m.code for m in rb.spec.measures] == ["m1", "m2"]
    assert rb.spec.measures[1].per.quantity == "blood"
