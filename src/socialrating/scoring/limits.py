"""Grade limits: ceilings on a grade under conditions (the rulebook's ``grade_limits``).

A limit applies to a subject of its kind when every condition it gives holds on the
scoring day: the subject was registered (``born``) less than so many years before, its
grade at the end of the previous calendar year (by score and direct grades, before any
limit or contagion) was one of some grades, a record of one of some parameters counts
for it, it is on one of some lists (by a record, an alert, or joint punishment carried
from one; never by a grade, which is what the limit makes), or a subject linked to it
by the register along a path of links (an organisation's representative, a person's
organisations) is graded one of some grades by score and direct grades that day. While
one applies, the subject's grade is at best the limit's ``at_best``: a
better grade by score, by a direct grade or after contagion is lowered to it; a worse one
stands. Of several, the most restrictive wins (the first in the rulebook on a tie). The
score stays what the points make it. Nothing here is specific to a backend.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from socialrating.model import STATUS_CODES, Status
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import GradeLimit, Linked
from socialrating.scoring.depends import limit_steps
from socialrating.scoring.lists import memberships
from socialrating.scoring.plan import PlanInputs, linked, representatives, scores, year_start

COUNTED = STATUS_CODES[Status.COUNTED]
FROZEN = STATUS_CODES[Status.FROZEN]
_EPOCH = dt.date(1970, 1, 1)


def limited(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    result: ir.Table,
    records: ir.Table,
    graded: ir.Table,
) -> ir.Table:
    """``result`` (per subject: ``kind`` and ``grade``) with the rulebook's grade limits
    applied to ``grade``; ``score_grade`` keeps the grade before them and ``limited_by``
    names the limit that lowered it (null where none did). ``records`` are the evaluated
    records after the mechanics (``mechanics.stages``), ``graded`` the grades by score and
    direct grades (``plan.scores``) of the same subjects: a whole run's are every
    subject's; for some subjects, a ``linked`` limit grades those it links them to."""
    rb = inputs.rulebook
    limits = rb.spec.grade_limits
    if not limits:
        return result.mutate(score_grade=result.grade, limited_by=ibis.null("string"))
    t = result
    if any(g.when.registered_within_years for g in limits):
        s = inputs.subjects.select(l_subject="subject_id", l_born="born").view()
        t = t.left_join(s, t.subject_id == s.l_subject).drop("l_subject")
    listed = _listed(inputs, as_of, subject_id) if any(g.when.on_lists for g in limits) else None
    steps = limit_steps(rb)
    links = representatives(inputs, as_of) if steps else None
    if steps and subject_id is not None:  # grade those the subjects are linked to
        graded = _graded_near(inputs, as_of, subject_id, steps)
    for i, g in enumerate(limits):
        if g.when.records:
            t = _flagged(t, _holders(inputs, records, g.when.records), f"l_holds_{i}")
        if g.when.on_lists:
            assert listed is not None
            on = listed.filter(listed.list.isin(list(g.when.on_lists)))
            t = _flagged(t, on.select(h_subject=on.subject_id), f"l_listed_{i}")
        if g.when.linked is not None:
            assert links is not None
            t = _flagged(t, _reached(graded, links, g.when.linked), f"l_linked_{i}")
    if any(g.when.graded_last_year for g in limits):
        t = _with_last_year(inputs, as_of, subject_id, t)
    day = ibis.literal(0, "int32") + as_of  # the scoring day, as a column expression
    ranks = {i: _rank_of(rb, t.kind, g.at_best) for i, g in enumerate(limits)}
    applies = {i: _applies(g, t, day, i) for i, g in enumerate(limits)}
    current = _grade_rank(rb, t.kind, t.grade)
    ceiling = ibis.greatest(
        *[ibis.ifelse(applies[i], ranks[i], -1) for i in range(len(limits))], ibis.literal(-1)
    )
    lowered = ceiling > current.fill_null(-1)
    by = ibis.cases(
        *[(applies[i] & (ranks[i] == ceiling), g.code) for i, g in enumerate(limits)],
        else_=ibis.null("string"),
    )
    grade = ibis.ifelse(lowered, _grade_at(rb, t.kind, ceiling), t.grade)
    return t.select(
        *[c for c in result.columns if c != "grade"],
        grade=grade,
        score_grade=t.grade,
        limited_by=ibis.ifelse(lowered, by, ibis.null("string")),
    )


def _applies(g: GradeLimit, t: ir.Table, day: ir.IntegerValue, i: int) -> ir.BooleanValue:
    """Limit ``g`` (the ``i``-th) applies to the row's subject on ``day``."""
    w = g.when
    holds: ir.BooleanValue = ibis.literal(True)
    if g.subjects != "any":
        holds = holds & (t.kind == g.subjects)
    if w.registered_within_years is not None:
        until = t.l_born + ibis.interval(years=w.registered_within_years)
        epoch = ibis.literal(_EPOCH)
        holds = holds & (day < until.delta(epoch, unit="day")).fill_null(False)
    if w.records:
        holds = holds & t[f"l_holds_{i}"]
    if w.graded_last_year:
        holds = holds & t.l_last_grade.isin(list(w.graded_last_year)).fill_null(False)
    if w.on_lists:
        holds = holds & t[f"l_listed_{i}"]
    if w.linked is not None:
        holds = holds & t[f"l_linked_{i}"]
    return holds


def _flagged(t: ir.Table, held: ir.Table, name: str) -> ir.Table:
    """``t`` with a column ``name``: its subject is one of ``held``'s (``h_subject``)."""
    held = held.distinct().view()  # a view: ``held`` may come from ``t``'s own inputs
    joined = t.left_join(held, t.subject_id == held.h_subject)
    return joined.select(*t.columns, **{name: joined.h_subject.notnull()})


def _holders(inputs: PlanInputs, records: ir.Table, codes: list[str]) -> ir.Table:
    """The subjects (``h_subject``) a record of one of ``codes`` counts for."""
    reg = inputs.parameters_registry
    ids = reg.filter(reg.code.isin(list(codes))).parameter_id
    standing = records.status.isin([COUNTED, FROZEN])  # a frozen addition still stands
    held = records.filter(standing, records.parameter_id.isin(ids))
    return held.select(h_subject=held.subject_id)


def _listed(
    inputs: PlanInputs, as_of: int | ir.Value, subject_id: int | ir.Value | None
) -> ir.Table:
    """The list memberships on the day by a record, an alert or joint punishment carried
    from one (computed with no grades: a grade is what the limits make)."""
    s = inputs.subjects
    ungraded = s.filter(ibis.literal(False)).select(
        subject_id=s.subject_id, grade=ibis.null("string")
    )
    scope = subject_id
    hops = sum(1 for lst in inputs.rulebook.spec.lists if lst.enter_with)
    if subject_id is not None and hops:
        scope = linked(inputs, as_of, subject_id, hops)  # whom joint punishment carries from
    return memberships(inputs, as_of, ungraded, scope)


def _graded_near(
    inputs: PlanInputs, as_of: int | ir.Value, subject_id: int | ir.Value, steps: int
) -> ir.Table:
    """The grades by score and direct grades of the subjects within ``steps`` links."""
    from socialrating.scoring.mechanics import stages

    near = linked(inputs, as_of, subject_id, steps)
    st = stages(inputs, as_of, near)
    return scores(inputs, st.records, near, st.ranks)


def _reached(graded: ir.Table, links: ir.Table, link: Linked) -> ir.Table:
    """The subjects (``h_subject``) that a subject graded one of ``link.graded`` leads to
    along ``link.through``, the links of the day (``links``); a path that comes back to
    where it started does not count."""
    src = graded.filter(graded.grade.isin(list(link.graded)))
    path = src.select(k_from=src.subject_id.cast("int64"), k_at=src.subject_id.cast("int64"))
    for step in link.through:
        r = links.view()
        if step == "representative":
            j = path.join(r, path.k_at == r.org)
            path = j.select(j.k_from, k_at=j.person.cast("int64"))
        else:
            j = path.join(r, path.k_at == r.person)
            path = j.select(j.k_from, k_at=j.org.cast("int64"))
    return path.filter(path.k_at != path.k_from).select(h_subject=path.k_at)


def _with_last_year(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    t: ir.Table,
) -> ir.Table:
    """``t`` with ``l_last_grade``: the grade at the end of the previous calendar year,
    by score and direct grades (no limit, no contagion)."""
    from socialrating.scoring.mechanics import stages

    day = ibis.literal(0, "int32") + as_of
    last = (year_start(day) - 1).cast("int32")
    st = stages(inputs, last, subject_id)
    before = scores(inputs, st.records, subject_id, st.ranks)
    before = before.select(l_last_subject=before.subject_id, l_last_grade=before.grade).view()
    joined = t.left_join(before, t.subject_id == before.l_last_subject)
    return joined.drop("l_last_subject")


def _grade_rank(rb: RulebookHeader, kind: ir.StringValue, grade: ir.StringValue) -> ir.IntegerValue:
    """The position of ``grade`` in the bands of ``kind`` (0 the best)."""
    return ibis.cases(
        *[
            ((kind == k) & (grade == band.grade), i)
            for k in ("citizen", "organisation")
            for i, band in enumerate(rb.bands(k))
        ],
        else_=ibis.null("int64"),
    )


def _rank_of(rb: RulebookHeader, kind: ir.StringValue, grade: str) -> ir.IntegerValue:
    """The position of the grade ``grade`` for the row's kind (-1 where it has none)."""
    return ibis.cases(
        *[
            (kind == k, i)
            for k in ("citizen", "organisation")
            for i, band in enumerate(rb.bands(k))
            if band.grade == grade
        ],
        else_=-1,
    )


def _grade_at(rb: RulebookHeader, kind: ir.StringValue, rank: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(
        *[
            ((kind == k) & (rank == i), band.grade)
            for k in ("citizen", "organisation")
            for i, band in enumerate(rb.bands(k))
        ],
        else_=ibis.null("string"),
    )
