"""The pilot mechanics: stages between evaluating records and totalling them.

They look only at the few records that concern them: those of ``plan.special``
parameters (repeat categories, direct grades, repairs, reductions, organisation values),
and for acts those that carry an act id. Each subset is evaluated on its own scan and the
mechanics run on it; the special records then join the stream of all other records by a
union, so the main stream is neither materialised nor joined back by entry id.

In order:

1. **acts**: records of one act (same subject, same act id) count once: of its
   deductions only the heaviest counts, of its additions only the highest; records of 0
   points take no part (ties: the earliest by day, then entry id). The others are absorbed.
   An act with a record that grades directly is punished by the grade alone: its other
   records are absorbed into the first such record.
2. **repairs**: a repair record (a debt paid) ends the direct grades it names that stand
   on its day; each direct grade is ended by its first repair only. The direct-grade
   record stops counting (repaired); a repair that ended nothing does not count.
3. **repeats**: a deduction of a category with a repeat rule, made while an earlier
   deduction of that category still counted (its validity covers this one's day), has
   its points multiplied by the factor (by factor ** n for the n-th repeat, if compound),
   at most ``MAX_POINTS`` in absolute value.
4. **rectifications**: a record of a parameter that ``rectifies`` names an earlier record
   (``refers_to``) of a parameter it may rectify, of the same subject, still counting on
   its day. The first of its windows that holds it gives its points (a share of the named
   record's points, or points as written), and it counts for as long as that record
   does. The first rectification of a record within a window counts; later ones, and
   those outside every window or naming no such record, rectify nothing.
5. **reductions** (then **skipped stages**: a measure issued with no earlier record of
   the measure before it reduces the balance on its day to a set value): a record with a reduction rule counts only if the balance on its day
   (the base plus the points of the subject's records of earlier days still counting
   then, other reductions left out) lies in its range, and no earlier such record of the
   same parameter that met the range lies within its period; otherwise it is refused.
6. **direct grades**: a direct-grade record that still counts as of the date sets its
   subject's grade (the worst wins); while one stands, the subject's additions are frozen.

Absorbed, repaired and repair-less records take no part in later stages. Every stage is a
join or a window: no Python loop, and nothing specific to a backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from socialrating.model import STATUS_CODES, Status
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import Window
from socialrating.scoring.plan import (
    ORDER_SHIFT,
    PlanInputs,
    evaluate,
    has_special,
    rectification_ids,
    stage_measure_ids,
    staged,
    year_of,
)

COUNTED = STATUS_CODES[Status.COUNTED]
EXPIRED = STATUS_CODES[Status.EXPIRED]
# A repeated deduction is at most this many points: factors compound fast, and 20 million
# records of this size still sum within a 64-bit score.
MAX_POINTS = 1_000_000_000


@dataclass(frozen=True)
class Stages:
    """The records after the mechanics, and the subjects' standing direct grades.

    Attributes:
        records: every record, with final ``points`` and ``status`` and the columns the
            statement explains (``absorbed_by``, ``repeat_n``, ``multiplier``,
            ``balance``, ``refused_by``, ``repaired_by``, ``repaired_day``, ``repairs``).
        ranks: per subject with a standing direct grade, the worst band index per subject
            kind (``direct_ranks``); None when the rulebook has no direct grades.
    """

    records: ir.Table
    ranks: ir.Table | None


def stages(
    inputs: PlanInputs, as_of: int | ir.Value, subject_id: int | ir.Value | None = None
) -> Stages:
    """Stages 1 and 2 of the plan: evaluated records with the pilot mechanics applied.

    The records of plain parameters flow through in one stream (``evaluate``'s plain
    subset); those of special parameters are evaluated apart, go through the mechanics,
    and join the stream by a union, so nothing is joined back by entry id. Acts concern
    records of any parameter: the few records with an act id are evaluated apart, and
    which of them are absorbed is joined onto both branches.
    """
    rb = inputs.rulebook
    acts = staged(inputs, evaluate(inputs, as_of, subject_id, subset="acts"), "acts")
    absorbed = staged(inputs, _absorbed(acts, bool(rb.direct)), "absorbed")
    plain = _apply_acts(evaluate(inputs, as_of, subject_id, subset="plain"), absorbed)
    defaults = {c: v for c, v in _EXPLAINED.items() if c != "absorbed_by"}
    if not has_special(rb):
        return Stages(staged(inputs, plain.mutate(**defaults), "records"), None)
    side = _side(inputs, as_of, subject_id, absorbed)
    columns = [*plain.columns, *defaults]
    ev = plain.mutate(**defaults).union(
        side.select(
            *[side[c].cast(_EXPLAINED[c].type()) if c in _EXPLAINED else side[c] for c in columns]
        ),
        distinct=False,
    )
    if not rb.direct:
        return Stages(staged(inputs, ev, "records"), None)
    standing = side.filter(side.direct_bit.notnull(), side.status == COUNTED)
    subjects = standing.select(frozen_subject=standing.subject_id).distinct()
    joined = ev.left_join(subjects, ev.subject_id == subjects.frozen_subject)
    frozen = (
        joined.frozen_subject.notnull()
        & (joined.status == COUNTED)
        & (joined.points > 0)
        & joined.direct_bit.isnull()
    )
    ev = joined.select(
        *[joined[c] for c in ev.columns if c != "status"],
        status=ibis.ifelse(frozen, STATUS_CODES[Status.FROZEN], joined.status).cast("int8"),
    )
    return Stages(staged(inputs, ev, "records"), direct_ranks(rb, standing))


# What the mechanics add to explain what they decided (with the value of records they
# do not look at).
_EXPLAINED: dict[str, ir.Value] = {
    "absorbed_by": ibis.null("int64"),
    "repeat_n": ibis.literal(0, "int64"),
    "multiplier": ibis.literal(1.0),
    "balance": ibis.null("int64"),
    "refused_by": ibis.null("int64"),
    "repaired_by": ibis.null("int64"),
    "repaired_day": ibis.null("int32"),
    "repairs": ibis.null("int64"),
    "rectifies": ibis.null("int64"),
    "rectified_by": ibis.null("int64"),
    "rectify_window": ibis.null("int32"),
}


def _side(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    absorbed: ir.Table,
) -> ir.Table:
    """The records of special parameters, evaluated, with the mechanics applied."""
    rb = inputs.rulebook
    s = evaluate(inputs, as_of, subject_id, subset="special")
    s = staged(inputs, _apply_acts(s, absorbed), "special")
    s = staged(inputs, _repairs(s), "repairs") if rb.direct else _no_repairs(s)
    if any(c.repeat is not None for c in rb.spec.categories):
        s = staged(inputs, _repeats(s), "repeats")
    else:
        s = s.mutate(repeat_n=ibis.literal(0, "int64"), multiplier=ibis.literal(1.0))
    if any(p.rectifies is not None for p in rb.spec.parameters):
        s = staged(inputs, _rectifications(inputs, as_of, s), "rectifications")
    else:
        s = s.mutate(
            rectifies=ibis.null("int64"),
            rectified_by=ibis.null("int64"),
            rectify_window=ibis.null("int32"),
        )
    if any(p.reduction is not None for p in rb.spec.parameters):
        s = staged(inputs, _reductions(inputs, as_of, subject_id, s, absorbed), "reductions")
    else:
        s = s.mutate(balance=ibis.null("int64"), refused_by=ibis.null("int64"))
    if any(p.skipped_stage is not None for p in rb.spec.parameters):
        s = staged(inputs, _skipped_stages(inputs, as_of, subject_id, s, absorbed), "skipped")
    return s


def _eligible(t: ir.Table) -> ir.BooleanValue:
    """Counted or expired: the statuses a mechanic may still change."""
    return t.status.isin([COUNTED, EXPIRED])


def _set_status(t: ir.Table, condition: ir.BooleanValue, status: Status) -> ir.Table:
    new = ibis.ifelse(condition & _eligible(t), STATUS_CODES[status], t.status)
    return t.mutate(status=new.cast("int8"))


def _keep(t: ir.Table, small: ir.Table, key: str, **extra: ir.Value) -> ir.Table:
    """``t`` left-joined to ``small`` on entry id, keeping t's columns plus ``extra``."""
    joined = t.left_join(small, t.entry_id == small[key])
    return joined.select(*[joined[c] for c in t.columns], **extra)


def _absorbed(acts: ir.Table, direct: bool) -> ir.Table:
    """The records absorbed into an act (``act_entry``), with the record that counts for
    them (``first``), from the evaluated records that carry an act id.

    With ``direct`` (the rulebook grades directly), an act one of whose records sets a
    grade is punished by that grade alone: its other records are absorbed into the first
    such record (the grading records all stand, and the worst grade wins).
    """
    if not direct:
        return _absorbed_by_points(acts)
    g = acts.filter(acts.valid, acts.direct_bit.notnull())
    graders = g.group_by(g_subject=g.subject_id, g_act=g.act).aggregate(g_first=g.order_key.min())
    joined = acts.left_join(
        graders, [acts.subject_id == graders.g_subject, acts.act == graders.g_act]
    )
    graded = joined.filter(
        joined.g_first.notnull(), joined.valid, joined.points != 0, joined.direct_bit.isnull()
    ).select(act_entry=joined.entry_id, first=joined.g_first % ORDER_SHIFT)
    rest = joined.filter(joined.g_first.isnull()).select(*acts.columns)
    return _absorbed_by_points(rest).union(graded, distinct=False)


def _absorbed_by_points(acts: ir.Table) -> ir.Table:
    """Of an act's deductions only the heaviest counts, of its additions the highest."""
    cand = acts.filter(acts.valid, acts.points != 0)
    cand = cand.mutate(sign=ibis.ifelse(cand.points < 0, -1, 1))
    w = ibis.window(
        group_by=[cand.subject_id, cand.act, cand.sign],
        order_by=[ibis.desc(cand.points.abs()), cand.order_key],
    )
    ranked = cand.select(
        act_entry=cand.entry_id,
        rank=ibis.row_number().over(w),
        first=cand.entry_id.first().over(w),
    )
    return ranked.filter(ranked.rank > 0).select("act_entry", "first")


def _apply_acts(t: ir.Table, absorbed: ir.Table) -> ir.Table:
    """``t`` with the records absorbed into an act marked (``absorbed_by``); a join that
    the database drops when the ledger holds no act ids."""
    t = _keep(t, absorbed, "act_entry", absorbed_by=absorbed.first)
    return _set_status(t, t.absorbed_by.notnull(), Status.ABSORBED)


def _alive(s: ir.Table) -> ir.BooleanValue:
    """Valid records that no earlier mechanic took out (absorbed, repaired, no repair)."""
    return s.valid & s.status.isin([COUNTED, EXPIRED])


def _no_repairs(s: ir.Table) -> ir.Table:
    return s.mutate(
        repaired_by=ibis.null("int64"), repaired_day=ibis.null("int32"), repairs=ibis.null("int64")
    )


def _repairs(s: ir.Table) -> ir.Table:
    ok = _alive(s)
    d = s.filter(ok, s.direct_bit.notnull()).select(
        d_entry=s.entry_id,
        d_subject=s.subject_id,
        d_bit=s.direct_bit,
        d_day=s.day,
        d_expires=s.expires_day,
        d_order=s.order_key,
    )
    r = s.filter(ok, s.repairs_mask.notnull()).select(
        r_subject=s.subject_id, r_mask=s.repairs_mask, r_day=s.day, r_order=s.order_key
    )
    m = d.join(
        r,
        [
            d.d_subject == r.r_subject,
            (r.r_mask & d.d_bit) != 0,
            r.r_day >= d.d_day,
            d.d_expires.isnull() | (r.r_day < d.d_expires),
        ],
    )
    # Each direct grade is ended by its first repair; later repairs find nothing left.
    ended = m.group_by(ended_entry=m.d_entry).aggregate(
        first=m.r_order.min(), first_day=m.r_day.min()
    )
    ended = ended.mutate(by=ended.first % ORDER_SHIFT)
    used = ended.group_by(used_entry=ended.by).aggregate(ends=ended.ended_entry.min())
    s = _keep(
        s, ended, "ended_entry", repaired_by=ended.by, repaired_day=ended.first_day.cast("int32")
    )
    s = _keep(s, used, "used_entry", repairs=used.ends)
    s = _set_status(s, s.repaired_by.notnull(), Status.REPAIRED)
    return _set_status(s, s.repairs_mask.notnull() & s.repairs.isnull(), Status.NO_REPAIR)


def _repeats(s: ir.Table) -> ir.Table:
    cand = s.filter(
        _alive(s), s.points < 0, s.repeat_factor.notnull(), ~s.reduction.fill_null(False)
    )
    a = cand.select("entry_id", "subject_id", "category_id", "order_key", "day")
    b = cand.select(
        b_subject=cand.subject_id,
        b_category=cand.category_id,
        b_order=cand.order_key,
        b_expires=cand.expires_day,
    )
    pairs = a.join(
        b,
        [
            a.subject_id == b.b_subject,
            a.category_id == b.b_category,
            b.b_order < a.order_key,
            b.b_expires.isnull() | (b.b_expires > a.day),
        ],
    )
    n = pairs.group_by(repeat_entry=pairs.entry_id).aggregate(n=pairs.b_order.count())
    s = _keep(s, n, "repeat_entry", repeat_n=n.n.fill_null(0).cast("int64"))
    # Past 30 compounding repeats the factor stops growing: the points are at the bound.
    exponent = ibis.least(s.repeat_n, 30)
    multiplier = ibis.cases(
        (s.repeat_n == 0, 1.0),
        (s.repeat_compound.fill_null(False), s.repeat_factor.pow(exponent)),
        else_=s.repeat_factor,
    )
    scaled = ibis.greatest(
        ibis.least(s.points.cast("float64") * multiplier, MAX_POINTS), -MAX_POINTS
    )
    points = (scaled.sign() * (scaled.abs() + 1e-9).floor()).cast("int64")
    return s.mutate(multiplier=multiplier, points=ibis.ifelse(s.repeat_n > 0, points, s.points))


def _rectifications(inputs: PlanInputs, as_of: int | ir.Value, s: ir.Table) -> ir.Table:
    """Stage 4: each rectification gets its points and validity from the record it names.

    Sets ``rectifies`` (the record named, when it is one the rectification may rectify),
    ``rectify_window`` (1-based; 0 outside every window) and ``rectified_by`` (on a
    rectified record, the rectification that counts for it; on a later rectification of
    the same record, that one too).
    """
    rb = inputs.rulebook
    rectifiers = [q for q in rb.spec.parameters if q.rectifies is not None]
    rectifying = rectification_ids(inputs, rectified=False)
    assert rectifying is not None
    ok = _alive(s)
    r = _coded(
        inputs,
        s.filter(ok, s.refers_to.notnull(), s.parameter_id.isin(rectifying)),
        "r",
        entry="entry_id",
        subject="subject_id",
        day="day",
        order="order_key",
        ref="refers_to",
    )
    x = _coded(
        inputs,
        s.filter(ok, s.points != 0),
        "x",
        entry="entry_id",
        subject="subject_id",
        day="day",
        points="points",
        quantity="quantity",
        expires="expires_day",
    )
    may = ibis.or_(
        *[
            (r.r_code == q.code) & x.x_code.isin(list(q.rectifies.parameters))
            for q in rectifiers
            if q.rectifies is not None
        ]
    )
    m = r.join(
        x,
        [
            r.r_ref == x.x_entry,
            r.r_subject == x.x_subject,
            may,
            x.x_day <= r.r_day,
            x.x_expires.isnull() | (r.r_day < x.x_expires),
        ],
    )
    windows = [
        (m.r_code == q.code, k, w)
        for q in rectifiers
        if q.rectifies is not None
        for k, w in enumerate(q.rectifies.within, start=1)
    ]
    held = [(of & _within(m, w), k, w) for of, k, w in windows]
    m = m.mutate(
        window=ibis.cases(*[(c, k) for c, k, _ in held], else_=0).cast("int32"),
        back=ibis.cases(*[(c, _given_back(m.x_points, w)) for c, _, w in held], else_=0),
    )
    w = ibis.window(group_by=m.x_entry, order_by=[ibis.desc(m.window > 0), m.r_order])
    m = m.mutate(first=m.r_order.first().over(w))
    counts = (m.window > 0) & (m.r_order == m.first)
    result = m.select(
        rect_entry=m.r_entry,
        named=m.x_entry,
        window=m.window,
        counts=counts,
        back=m.back.cast("int64"),
        until=m.x_expires,
        dup_of=ibis.ifelse((m.window > 0) & ~counts, m.first % ORDER_SHIFT, ibis.null("int64")),
    )
    fixed = result.filter(result.counts).select(fixed_entry=result.named, by=result.rect_entry)
    s = _keep(
        s,
        result,
        "rect_entry",
        rectifies=result.named,
        rectify_window=result.window,
        counts=result.counts.fill_null(False),
        back=result.back,
        until=result.until,
        dup_of=result.dup_of,
    )
    s = _keep(s, fixed, "fixed_entry", fixed_by=fixed.by)
    is_rectifier = s.parameter_id.isin(rectifying)
    expired = s.until.notnull() & (as_of >= s.until)
    s = s.mutate(
        rule_points=ibis.ifelse(s.counts, s.back, s.rule_points),
        points=ibis.ifelse(s.counts, s.back, s.points),
        expires_day=ibis.ifelse(s.counts, s.until, s.expires_day),
        rectified_by=s.fixed_by.fill_null(s.dup_of),
        status=ibis.ifelse(s.counts & expired & _eligible(s), EXPIRED, s.status).cast("int8"),
    )
    s = _set_status(s, is_rectifier & ~s.counts, Status.NO_REPAIR)
    return s.drop("counts", "back", "until", "dup_of", "fixed_by")


def _coded(inputs: PlanInputs, t: ir.Table, prefix: str, **columns: str) -> ir.Table:
    """Rows of ``t`` with the code of their parameter (the registry's): each of
    ``columns`` (a name → a column of ``t``) and the code, named ``<prefix>_<name>``."""
    reg = inputs.parameters_registry
    code_of = reg.select(c_id=reg.parameter_id, c_code=reg.code)
    joined = t.join(code_of, t.parameter_id == code_of.c_id)
    return joined.select(
        **{f"{prefix}_{name}": t[column] for name, column in columns.items()},
        **{f"{prefix}_code": code_of.c_code},
    )


def _within(m: ir.Table, w: Window) -> ir.BooleanValue:
    """The rectification lies in window ``w`` after the record it names."""
    held: ir.BooleanValue
    if w.days is not None:
        held = m.r_day - m.x_day <= w.days
    else:
        assert w.calendar_years is not None
        held = year_of(m.r_day) <= year_of(m.x_day) + w.calendar_years
    if w.quantity_up_to is not None:
        held = held & (m.x_quantity <= w.quantity_up_to).fill_null(False)
    return held


def _given_back(points: ir.IntegerValue, w: Window) -> ir.IntegerValue:
    """What a rectification in window ``w`` gives back of a record's ``points``."""
    if w.points is not None:
        return ibis.literal(w.points, "int64")
    assert w.share is not None
    back = -points.cast("float64") * w.share
    return (back.sign() * (back.abs() + 1e-9).floor()).cast("int64")


def _reductions(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    s: ir.Table,
    absorbed: ir.Table,
) -> ir.Table:
    red = s.filter(_alive(s), s.reduction.fill_null(False)).select(
        "entry_id",
        "subject_id",
        "parameter_id",
        "order_key",
        "day",
        "reduction_from",
        "reduction_to",
        "reduction_once_days",
    )
    # The subjects' other records, other reductions left out.
    sums = _balances(
        inputs,
        as_of,
        subject_id,
        absorbed,
        red.select(b_of=red.entry_id, b_subject=red.subject_id, b_day=red.day),
        s.filter(~s.reduction.fill_null(False)),
    )
    # Read three times below (the ranges, the blocking pairs, the result): computed once.
    bal = staged(
        inputs, red.join(sums, red.entry_id == sums.b_entry).select(red, sums.balance), "balances"
    )
    in_range = (bal.reduction_from.isnull() | (bal.balance >= bal.reduction_from)) & (
        bal.reduction_to.isnull() | (bal.balance <= bal.reduction_to)
    )
    bal = bal.mutate(in_range=in_range)
    x = bal.filter(bal.in_range)
    y = x.select(y_subject=x.subject_id, y_param=x.parameter_id, y_order=x.order_key, y_day=x.day)
    blocked = (
        x.join(
            y,
            [
                x.subject_id == y.y_subject,
                x.parameter_id == y.y_param,
                y.y_order < x.order_key,
                x.reduction_once_days.notnull(),
                x.day - y.y_day < x.reduction_once_days,
            ],
        )
        .group_by(blocked_entry=x.entry_id)
        .aggregate(by=y.y_order.min() % ORDER_SHIFT)
    )
    result = bal.left_join(blocked, bal.entry_id == blocked.blocked_entry).select(
        reduction_entry=bal.entry_id,
        balance=bal.balance.cast("int64"),
        refused=~bal.in_range | blocked.by.notnull(),
        refused_by=blocked.by,
    )
    s = _keep(
        s,
        result,
        "reduction_entry",
        balance=result.balance,
        refused=result.refused.fill_null(False),
        refused_by=result.refused_by,
    )
    return _set_status(s, s.refused, Status.REFUSED).drop("refused")


def _balances(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    absorbed: ir.Table,
    of: ir.Table,
    special: ir.Table,
) -> ir.Table:
    """Per row of ``of`` (``b_of`` an entry, ``b_subject``, ``b_day``): the ``balance`` on
    its day (the base plus the points of the subject's records of earlier days still
    counting then), whether a record adding to it never expires (``open_ended``) and the
    last day one does (``last``); keyed ``b_entry``.

    The records are the plain ones as evaluated and the ``special`` ones (rows of the side
    stream) as the stages so far left them (their points after repeats; those absorbed,
    repaired or refused out). The two are apart already: a union joins them.
    """
    plain = evaluate(inputs, as_of, subject_id, subset="plain", of_subjects=of.b_subject)
    plain = _apply_acts(plain, absorbed)
    plain = plain.filter(_alive(plain))
    special = special.filter(_alive(special))
    others = plain.select(
        o_subject=plain.subject_id,
        o_day=plain.day,
        o_expires=plain.expires_day,
        o_points=plain.points,
    ).union(
        special.select(
            o_subject=special.subject_id,
            o_day=special.day,
            o_expires=special.expires_day,
            o_points=special.points,
        ),
        distinct=False,
    )
    joined = of.left_join(
        others,
        [
            of.b_subject == others.o_subject,
            others.o_day < of.b_day,
            others.o_expires.isnull() | (others.o_expires > of.b_day),
        ],
    )
    adds = joined.o_points > 0
    base = ibis.literal(inputs.rulebook.spec.base_score, "int64")
    return joined.group_by(b_entry=joined.b_of).aggregate(
        balance=base + joined.o_points.sum().fill_null(0),
        open_ended=(adds & joined.o_expires.isnull()).any(),
        last=ibis.ifelse(adds, joined.o_expires, ibis.null("int32")).max(),
    )


def _skipped_stages(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    s: ir.Table,
    absorbed: ir.Table,
) -> ir.Table:
    """Stage 6: a measure issued with no earlier record of its ``unless_after`` reduces the
    balance on its day to its ``reduce_to``, if above: its points are the difference, and
    it counts until the last record with points in that balance expires. Otherwise it
    counts with no points, naming the earlier measure (``refused_by``), if any."""
    rb = inputs.rulebook
    measures = [q for q in rb.spec.parameters if q.skipped_stage is not None]
    ids = stage_measure_ids(inputs, unless=False)
    assert ids is not None
    m = _coded(
        inputs,
        s.filter(_alive(s), s.parameter_id.isin(ids)),
        "m",
        entry="entry_id",
        subject="subject_id",
        day="day",
        order="order_key",
    )
    sums = _balances(
        inputs,
        as_of,
        subject_id,
        absorbed,
        m.select(b_of=m.m_entry, b_subject=m.m_subject, b_day=m.m_day),
        s.filter(~s.parameter_id.isin(ids)),
    )
    u = _coded(inputs, s.filter(_alive(s)), "u", subject="subject_id", order="order_key")
    after = ibis.or_(
        *[
            (m.m_code == q.code) & u.u_code.isin(list(q.skipped_stage.unless_after))
            for q in measures
            if q.skipped_stage is not None
        ]
    )
    pairs = m.join(u, [m.m_subject == u.u_subject, u.u_order < m.m_order, after])
    pairs = pairs.select(e_entry=m.m_entry, e_order=u.u_order)
    earlier = pairs.group_by("e_entry").aggregate(before=pairs.e_order.min() % ORDER_SHIFT)
    target = ibis.cases(
        *[(m.m_code == q.code, q.skipped_stage.reduce_to) for q in measures if q.skipped_stage],
        else_=ibis.null("int64"),
    )
    t = (
        m.mutate(target=target)
        .left_join(sums, m.m_entry == sums.b_entry)
        .left_join(earlier, m.m_entry == earlier.e_entry)
    )
    t = t.select("m_entry", "target", "balance", "open_ended", "last", "before")
    # Only points of records can be reduced (not a base above the target), and the
    # reduction ends with the last of them.
    held = t.open_ended.fill_null(False) | t.last.notnull()
    reduces = t.before.isnull() & (t.balance > t.target) & held
    result = t.select(
        sk_entry=t.m_entry,
        sk_balance=t.balance.cast("int64"),
        sk_points=ibis.ifelse(reduces, t.target - t.balance, 0).cast("int64"),
        sk_until=ibis.ifelse(t.open_ended, ibis.null("int32"), t.last),
        sk_reduces=reduces,
        sk_before=t.before,
    )
    s = _keep(
        s,
        result,
        "sk_entry",
        sk_balance=result.sk_balance,
        sk_points=result.sk_points,
        sk_until=result.sk_until,
        sk_reduces=result.sk_reduces.fill_null(False),
        sk_before=result.sk_before,
    )
    measured = s.sk_balance.notnull()
    expired = s.sk_until.notnull() & (as_of >= s.sk_until)
    s = s.mutate(
        balance=ibis.ifelse(measured, s.sk_balance, s.balance),
        refused_by=ibis.ifelse(measured, s.sk_before, s.refused_by),
        rule_points=ibis.ifelse(s.sk_reduces, s.sk_points, s.rule_points),
        points=ibis.ifelse(s.sk_reduces, s.sk_points, s.points),
        expires_day=ibis.ifelse(s.sk_reduces, s.sk_until, s.expires_day),
        status=ibis.ifelse(s.sk_reduces & expired & _eligible(s), EXPIRED, s.status).cast("int8"),
    )
    return s.drop("sk_balance", "sk_points", "sk_until", "sk_reduces", "sk_before")


def direct_ranks(rb: RulebookHeader, standing: ir.Table) -> ir.Table:
    """Per subject with a standing direct grade: the worst band index for each subject kind.

    A band's index is its position in the rulebook's list (0 the highest); the worst grade
    has the largest index. ``rank_citizen`` is null where the grade is not a citizen grade.
    """
    ranks = {}
    for kind in ("citizen", "organisation"):
        branches = [(standing.direct_grade == b.grade, i) for i, b in enumerate(rb.bands(kind))]
        ranks[f"rank_{kind}"] = ibis.cases(*branches, else_=ibis.null("int64")).max()
    return standing.group_by(direct_subject=standing.subject_id).aggregate(**ranks)
