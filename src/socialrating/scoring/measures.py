"""Measures that are not sums of points (the rulebook's ``measures``), in the plan.

A measure (the carrier Safety Measurement System's BASICs, docs/rulebook.md 3.26) reads
the counting records of its parameters, on a day:

- each record weighs its parameter's severity weight, plus its level's weight; the records
  of one act (one inspection) add up, to at most ``act_cap``; a record without an act is
  an act of its own;
- an act weighs again by its age on the day, the first ``time_weights`` tier whose months
  after the act's (first) day have not passed; older acts are out of the window;
- the measure is the sum of those weighted acts divided by the exposure: the summed time
  weights of the ``per.records`` records (the relevant inspections), or the quantity of
  the latest counting ``per.quantity`` record (power units); no exposure, no measure;
- the subjects (of the measure's kind) whose count of ``peers.count`` records in the window
  falls in the same peer group, and whose measure is above 0, rank among themselves: the
  percentile is 100 times the share of the others with a lower measure (0 with no other);
- the measure alerts at or above the first threshold that applies.

A percentile depends on every peer, so the plan measures everybody with a record of a
measure (a statement too reads all of those records: ``lookup``). A measure changes no
score; a list may take the subjects it alerts for (``enter_at_alerts``).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from socialrating.model import STATUS_CODES, Status
from socialrating.rulebook.schema import Measure
from socialrating.scoring.depends import measure_codes
from socialrating.scoring.plan import (
    PlanInputs,
    evaluate,
    is_subject,
    kept_until,
    months_later,
)

COUNTED = STATUS_CODES[Status.COUNTED]
EXPIRED = STATUS_CODES[Status.EXPIRED]

MEASURE_COLUMNS = (
    "measure",
    "subject_id",
    "value",
    "severity",
    "exposure",
    "peer_count",
    "peer_group",
    "peers",
    "percentile",
    "threshold",
    "alert",
)


def _records(inputs: PlanInputs, as_of: int | ir.Value) -> ir.Table:
    """The counting records of every parameter a measure reads, with its code."""
    reg = inputs.parameters_registry
    ids = reg.filter(reg.code.isin(measure_codes(inputs.rulebook))).select(
        m_id=reg.parameter_id, code=reg.code
    )
    p = inputs.parameters
    ev = evaluate(inputs, as_of, of_parameters=p.filter(p.parameter_id.isin(ids.m_id)))
    standing = ev.status == COUNTED
    if inputs.rulebook.spec.retention is not None:  # an expired record kept still counts here
        kept = kept_until(inputs.rulebook, ev.expires_day)
        kept_on = (ev.status == EXPIRED) & ev.valid & (as_of < kept).fill_null(False)
        standing = standing | kept_on  # expired after counting: never one that did not
    ev = ev.filter(standing)
    s = inputs.subjects.select(k_id="subject_id", kind="kind")
    ev = ev.join(ids, ev.parameter_id == ids.m_id).join(s, ev.subject_id == s.k_id)
    return ev.select(
        "subject_id", "entry_id", "day", "act", "level", "quantity", "order_key", "code", "kind"
    )


def time_weight(m: Measure, day: ir.IntegerValue, as_of: ir.IntegerValue) -> ir.FloatingValue:
    """The weight of a record (an act) of ``day`` by its age on ``as_of``: null when it is
    older than the last tier."""
    return ibis.cases(
        *[(as_of < months_later(day, t.months), float(t.weight)) for t in m.time_weights],
        else_=ibis.null("float64"),
    )


def _severity(m: Measure, r: ir.Table) -> ir.FloatingValue:
    weight = ibis.cases(*[(r.code == c, float(w)) for c, w in m.weights.items()], else_=0.0)
    if m.level_weights:
        extra = ibis.cases(
            *[(r.level == lv, float(w)) for lv, w in m.level_weights.items()], else_=0.0
        )
        weight = weight + extra.fill_null(0.0)
    return weight


def acts(inputs: PlanInputs, m: Measure, rec: ir.Table, as_of: ir.IntegerValue) -> ir.Table:
    """Per subject and act in the measure's window: its first day, its summed severity
    weight, that weight capped, its time weight and what it adds (capped times time weight)."""
    r = rec.filter(rec.code.isin(list(m.weights)))
    r = r.mutate(
        act_key=r.act.fill_null(ibis.literal("#") + r.entry_id.cast("string")),
        weight=_severity(m, r),
    )
    a = r.group_by(["subject_id", "act_key"]).aggregate(
        act=r.act.max(), first_day=r.day.min(), weight=r.weight.sum(), records=r.count()
    )
    capped = a.weight if m.act_cap is None else ibis.least(a.weight, float(m.act_cap))
    a = a.mutate(capped=capped, time_weight=time_weight(m, a.first_day, as_of))
    a = a.filter(a.time_weight.notnull())
    return a.mutate(adds=a.capped * a.time_weight)


def _of_kind(m: Measure, rec: ir.Table) -> ir.Table:
    return rec if m.subjects == "any" else rec.filter(rec.kind == m.subjects)


def _one(inputs: PlanInputs, m: Measure, rec: ir.Table, as_of: ir.IntegerValue) -> ir.Table:
    rec = _of_kind(m, rec)
    a = acts(inputs, m, rec, as_of)
    severity = a.group_by("subject_id").aggregate(severity=a.adds.sum())
    if m.per.records is not None:
        e = rec.filter(rec.code.isin(m.per.records))
        e = e.mutate(w=time_weight(m, e.day, as_of))
        e = e.filter(e.w.notnull())  # in the window
        exposure = e.group_by("subject_id").aggregate(exposure=e.w.sum())
    else:
        e = rec.filter(rec.code == m.per.quantity)
        exposure = e.group_by("subject_id").aggregate(exposure=e.quantity.argmax(e.order_key))
    c = rec.filter(rec.code.isin(m.peers.count))
    c = c.filter(time_weight(m, c.day, as_of).notnull())
    counts = c.group_by("subject_id").aggregate(peer_count=c.count())
    who = ibis.union(
        severity.select("subject_id"),
        exposure.select("subject_id"),
        counts.select("subject_id"),
        distinct=True,
    )
    t = who.left_join(
        severity.rename(s_id="subject_id"), who.subject_id == severity.subject_id
    ).drop("s_id")
    t = t.left_join(exposure.rename(e_id="subject_id"), t.subject_id == exposure.subject_id).drop(
        "e_id"
    )
    t = t.left_join(counts.rename(c_id="subject_id"), t.subject_id == counts.subject_id).drop(
        "c_id"
    )
    t = t.mutate(severity=t.severity.fill_null(0.0), peer_count=t.peer_count.fill_null(0))
    value = ibis.ifelse(t.exposure > 0, t.severity / t.exposure, ibis.null("float64"))
    group = ibis.cases(
        *[(t.peer_count >= g, g) for g in reversed(m.peers.groups)], else_=ibis.null("int32")
    )
    t = t.mutate(value=value, peer_group=group.cast("int32"))
    ranked = t.peer_group.notnull() & (t.value > 0).fill_null(False)
    t = t.mutate(ranked=ranked)
    w = ibis.window(group_by=[t.peer_group, t.ranked], order_by=t.value)
    everyone = ibis.window(group_by=[t.peer_group, t.ranked])
    t = t.mutate(
        percentile=ibis.ifelse(t.ranked, ibis.percent_rank().over(w) * 100.0, ibis.null("float64")),
        peers=ibis.ifelse(t.ranked, t.subject_id.count().over(everyone), ibis.null("int64")),
    )
    branches = []
    for i, th in enumerate(m.thresholds):
        if th.with_ is None:
            continue
        h = rec.filter(rec.code.isin(th.with_)).select(h_id=rec.subject_id).distinct()
        h = h.mutate(**{f"holds_{i}": ibis.literal(True)})
        t = t.left_join(h, t.subject_id == h.h_id).drop("h_id")
        branches.append((t[f"holds_{i}"].fill_null(False), float(th.at)))
    threshold = (
        ibis.cases(*branches, else_=float(m.thresholds[-1].at))
        if branches
        else (ibis.literal(float(m.thresholds[-1].at)))
    )
    t = t.mutate(threshold=threshold)
    return t.select(
        measure=ibis.literal(m.code),
        subject_id=t.subject_id.cast("int64"),
        value=t.value.cast("float64"),
        severity=t.severity.cast("float64"),
        exposure=t.exposure.cast("float64"),
        peer_count=t.peer_count.cast("int64"),
        peer_group=t.peer_group,
        peers=t.peers.cast("int64"),
        percentile=t.percentile.cast("float64"),
        threshold=t.threshold.cast("float64"),
        alert=(t.percentile >= t.threshold).fill_null(False),
    )


def measured(
    inputs: PlanInputs, as_of: int | ir.Value, subject_id: int | ir.Value | None = None
) -> ir.Table:
    """One row per measure and subject with a record it reads in its window (or for one
    subject: its rows, still ranked among everybody): ``MEASURE_COLUMNS``."""
    rb = inputs.rulebook
    assert rb.spec.measures, "only a rulebook with measures measures"
    day = ibis.literal(0, "int32") + as_of
    rec = _records(inputs, as_of)
    parts = [_one(inputs, m, rec, day) for m in rb.spec.measures]
    t = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    if subject_id is not None:
        t = t.filter(is_subject(t.subject_id, subject_id))
    return t


def measured_acts(inputs: PlanInputs, as_of: int | ir.Value, subject_id: ir.Value) -> ir.Table:
    """One subject's acts in each measure's window, as ``acts`` has them, with ``measure``."""
    rb = inputs.rulebook
    day = ibis.literal(0, "int32") + as_of
    rec = _records(inputs, as_of)
    rec = rec.filter(rec.subject_id == subject_id)
    parts = []
    for m in rb.spec.measures:
        a = acts(inputs, m, _of_kind(m, rec), day)
        parts.append(
            a.select(
                measure=ibis.literal(m.code),
                act=a.act,
                act_key=a.act_key,
                first_day=a.first_day.cast("int32"),
                records=a.records.cast("int64"),
                weight=a.weight.cast("float64"),
                capped=a.capped.cast("float64"),
                time_weight=a.time_weight.cast("float64"),
                adds=a.adds.cast("float64"),
            )
        )
    t = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return t.order_by(["measure", "first_day", "act_key"])
