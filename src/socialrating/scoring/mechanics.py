"""The pilot mechanics: stages between evaluating records and totalling them.

Each stage looks at the records ``plan.evaluate`` produced and changes some records'
points or status, by joining a small table keyed by entry id back onto the records:

1. ``acts``: records of one act (same subject, same act id) count once: of its
   deductions only the heaviest counts, of its additions only the highest; the others
   are absorbed (ties: the earliest by day, then entry id).
2. ``repeats``: a deduction of a category with a repeat rule, made while an earlier
   deduction of that category still counted (its validity covers this one's day), has
   its points multiplied by the factor (by factor ** n for the n-th repeat, if compound).
3. ``reductions``: a record that lowers the balance (a seminar) counts only if the
   balance on its day lies in its range and no earlier qualifying one of the same
   parameter lies within its period; otherwise it is refused.
4. ``repairs``: a repair record (a debt paid) ends the direct grades it names that stand
   on its day; the direct-grade record stops counting (repaired) and the repair's own
   points count for the repair's validity. A repair that ends nothing does not count.
5. ``direct grades and frozen additions``: a direct-grade record that still counts as of
   the date sets its subject's grade (the worst of several wins); while one stands, the
   subject's additions are frozen: shown, not counted.

Every stage is a join or a window: no Python loop, and nothing specific to a backend.
Stages a rulebook does not use are left out of its plan.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from socialrating.model import STATUS_CODES, Status
from socialrating.rulebook import RulebookHeader

COUNTED = STATUS_CODES[Status.COUNTED]
EXPIRED = STATUS_CODES[Status.EXPIRED]


def apply_mechanics(rb: RulebookHeader, ev: ir.Table) -> ir.Table:
    """Stages 1 to 5 over evaluated records; adds the columns the statement explains.

    Added columns: ``absorbed_by`` (the entry that counts for the act), ``repeat_n`` and
    ``multiplier``, ``balance`` and ``refused_by`` (reductions), ``repaired_by`` and
    ``repaired_day`` (direct grades), ``repairs`` (the direct grade a repair ended),
    ``direct_standing`` (the subject has a standing direct grade).
    """
    ev = _acts(ev)
    if any(c.repeat is not None for c in rb.spec.categories):
        ev = _repeats(ev)
    else:
        ev = ev.mutate(repeat_n=ibis.literal(0, "int64"), multiplier=ibis.literal(1.0))
    if any(p.reduction is not None for p in rb.spec.parameters):
        ev = _reductions(rb, ev)
    else:
        ev = ev.mutate(balance=ibis.null("int64"), refused_by=ibis.null("int64"))
    if rb.direct:
        ev = _repairs(ev)
        ev = _frozen(ev)
    else:
        ev = ev.mutate(
            repaired_by=ibis.null("int64"),
            repaired_day=ibis.null("int32"),
            repairs=ibis.null("int64"),
            direct_standing=ibis.literal(False),
        )
    return ev


def _eligible(ev: ir.Table) -> ir.BooleanValue:
    """Counted or expired: the statuses a later stage may still change."""
    return ev.status.isin([COUNTED, EXPIRED])


def _keep(ev: ir.Table, small: ir.Table, key: str, **extra: ir.Value) -> ir.Table:
    """``ev`` left-joined to ``small`` on entry id, keeping ev's columns plus ``extra``."""
    joined = ev.left_join(small, ev.entry_id == small[key])
    return joined.select(*[joined[c] for c in ev.columns], **extra)


def _acts(ev: ir.Table) -> ir.Table:
    cand = ev.filter(ev.valid, ev.act.notnull())
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
    absorbed = ranked.filter(ranked.rank > 0)
    ev = _keep(ev, absorbed, "act_entry", absorbed_by=absorbed.first)
    return ev.mutate(
        status=ibis.ifelse(
            ev.absorbed_by.notnull() & _eligible(ev), STATUS_CODES[Status.ABSORBED], ev.status
        ).cast("int8")
    )


def _candidates(ev: ir.Table) -> ir.BooleanValue:
    """Valid records that an act did not absorb."""
    return ev.valid & ev.absorbed_by.isnull()


def _repeats(ev: ir.Table) -> ir.Table:
    cand = ev.filter(
        _candidates(ev), ev.points < 0, ev.repeat_factor.notnull(), ~ev.reduction.fill_null(False)
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
    ev = _keep(ev, n, "repeat_entry", repeat_n=n.n.fill_null(0).cast("int64"))
    multiplier = ibis.cases(
        (ev.repeat_n == 0, 1.0),
        (ev.repeat_compound.fill_null(False), ev.repeat_factor.pow(ev.repeat_n)),
        else_=ev.repeat_factor,
    )
    scaled = ev.points.cast("float64") * multiplier
    points = (scaled.sign() * (scaled.abs() + 1e-9).floor()).cast("int64")
    return ev.mutate(multiplier=multiplier, points=ibis.ifelse(ev.repeat_n > 0, points, ev.points))


def _reductions(rb: RulebookHeader, ev: ir.Table) -> ir.Table:
    base = ibis.literal(rb.spec.base_score, "int64")
    ok = _candidates(ev)
    red = ev.filter(ok, ev.reduction.fill_null(False)).select(
        "entry_id",
        "subject_id",
        "parameter_id",
        "order_key",
        "day",
        "reduction_from",
        "reduction_to",
        "reduction_once_days",
    )
    oth = ev.filter(ok, ~ev.reduction.fill_null(False)).select(
        o_subject=ev.subject_id, o_order=ev.order_key, o_expires=ev.expires_day, o_points=ev.points
    )
    joined = red.left_join(
        oth,
        [
            red.subject_id == oth.o_subject,
            oth.o_order < red.order_key,
            oth.o_expires.isnull() | (oth.o_expires > red.day),
        ],
    )
    bal = joined.group_by(red.columns).aggregate(balance=base + joined.o_points.sum().fill_null(0))
    in_range = ibis.literal(True)
    in_range = in_range & (bal.reduction_from.isnull() | (bal.balance >= bal.reduction_from))
    in_range = in_range & (bal.reduction_to.isnull() | (bal.balance <= bal.reduction_to))
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
        .aggregate(by=y.y_order.min() % 2**40)
    )
    result = bal.left_join(blocked, bal.entry_id == blocked.blocked_entry).select(
        reduction_entry=bal.entry_id,
        balance=bal.balance.cast("int64"),
        refused=~bal.in_range | blocked.by.notnull(),
        refused_by=blocked.by,
    )
    ev = _keep(
        ev,
        result,
        "reduction_entry",
        balance=result.balance,
        refused=result.refused.fill_null(False),
        refused_by=result.refused_by,
    )
    status = ibis.ifelse(ev.refused & _eligible(ev), STATUS_CODES[Status.REFUSED], ev.status)
    return ev.mutate(status=status.cast("int8")).drop("refused")


def _repairs(ev: ir.Table) -> ir.Table:
    ok = _candidates(ev)
    d = ev.filter(ok, ev.direct_bit.notnull()).select(
        d_entry=ev.entry_id,
        d_subject=ev.subject_id,
        d_bit=ev.direct_bit,
        d_day=ev.day,
        d_expires=ev.expires_day,
        d_order=ev.order_key,
    )
    r = ev.filter(ok, ev.repairs_mask.notnull()).select(
        r_entry=ev.entry_id,
        r_subject=ev.subject_id,
        r_mask=ev.repairs_mask,
        r_day=ev.day,
        r_order=ev.order_key,
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
    ended = m.group_by(ended_entry=m.d_entry).aggregate(
        first=m.r_order.min(), first_day=m.r_day.min()
    )
    used = m.group_by(used_entry=m.r_entry).aggregate(ends=m.d_order.min() % 2**40)
    ev = _keep(
        ev,
        ended,
        "ended_entry",
        repaired_by=ended.first % 2**40,
        repaired_day=ended.first_day.cast("int32"),
    )
    ev = _keep(ev, used, "used_entry", repairs=used.ends)
    eligible = _eligible(ev)
    status = ibis.cases(
        (ev.repaired_by.notnull() & eligible, STATUS_CODES[Status.REPAIRED]),
        (
            ev.repairs_mask.notnull() & ev.repairs.isnull() & eligible,
            STATUS_CODES[Status.NO_REPAIR],
        ),
        else_=ev.status,
    )
    return ev.mutate(status=status.cast("int8"))


def direct_ranks(rb: RulebookHeader, ev: ir.Table) -> ir.Table:
    """Per subject with a standing direct grade: the worst band index for each subject kind.

    A band's index is its position in the rulebook's list (0 the highest); the worst grade
    has the largest index. ``rank_citizen`` is null where the grade is not a citizen grade.
    """
    standing = ev.filter(ev.direct_bit.notnull(), ev.status == COUNTED)
    ranks = {}
    for kind in ("citizen", "organisation"):
        branches = [(standing.direct_grade == b.grade, i) for i, b in enumerate(rb.bands(kind))]
        ranks[f"rank_{kind}"] = ibis.cases(*branches, else_=ibis.null("int64")).max()
    return standing.group_by(direct_subject=standing.subject_id).aggregate(**ranks)


def _frozen(ev: ir.Table) -> ir.Table:
    standing = ev.filter(ev.direct_bit.notnull(), ev.status == COUNTED)
    subjects = standing.select(frozen_subject=standing.subject_id).distinct()
    joined = ev.left_join(subjects, ev.subject_id == subjects.frozen_subject)
    ev = joined.select(
        *[joined[c] for c in ev.columns], direct_standing=subjects.frozen_subject.notnull()
    )
    frozen = ev.direct_standing & (ev.status == COUNTED) & (ev.points > 0) & ev.direct_bit.isnull()
    return ev.mutate(
        status=ibis.ifelse(frozen, STATUS_CODES[Status.FROZEN], ev.status).cast("int8")
    )
