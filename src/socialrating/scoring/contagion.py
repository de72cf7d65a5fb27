"""Contagion: contact with low-graded citizens lowers a citizen's score, in fixed rounds.

The rulebook's ``contagion`` names a contact parameter (telecom records: a subject and its
counterpart), the grades that spread (``from_grades``, the lowest citizen grades), the
points per contact, a cap, a window and a number of rounds. After the scores from the
subjects' own records (round 0):

- ``contacts``: the distinct pairs of subjects with a contact record on one of the
  ``window_days`` days up to the date, both ways (a call joins caller and callee);
- ``spread``: in round k, a citizen who is *exposed* (a citizen whose own grade is not
  one of ``from_grades`` and who has no standing direct grade) loses ``points`` for each
  distinct contact who is a citizen with one of ``from_grades`` in round k-1, at most
  ``max_deduction``; the lowered score is bounded by the rulebook's floor and ceiling
  like any score, and its grade and stage follow from it.

Only exposed scores change, and only downward, so the set of low-graded citizens can only
grow from one round to the next: the result is deterministic, and after round k it has
reached every citizen within k contacts of a low-graded one. It is all joins and
group-bys on subject ids, nothing specific to a backend.

For one subject (a statement) the rounds need only the subjects within ``rounds``
contacts of it (``reach``): round k is exact for subjects within ``rounds - k`` contacts,
so round ``rounds`` is exact for the subject and round ``rounds - 1`` for its contacts.

Only a subject that *may be low* (``may_be_low``: a citizen whose own score, less the
most contagion can take, or whose direct grade is one of ``from_grades``) is low in any
round; nobody else's grade spreads. So the reach may pass only through such subjects
(``through``: an incremental run knows them from the run before for everyone whose own
records did not change), and a change to a subject that cannot be low before or after it
reaches nobody's contagion.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from socialrating.model import EntryKind
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.plan import (
    ORDER_SHIFT,
    PlanInputs,
    Stage,
    bounded,
    grade_expr,
    is_subject,
    stage_expr,
    unvoided,
)


def contacts(inputs: PlanInputs, as_of: int | ir.Value) -> ir.Table:
    """Distinct contact pairs in the window up to ``as_of``, both ways.

    Columns: ``a`` and ``b`` (subject ids; a row for each direction), ``last_day`` and
    ``last_entry`` (the latest contact record joining them).
    """
    c = inputs.rulebook.spec.contagion
    assert c is not None, "only rulebooks with contagion have contacts"
    e = inputs.entries
    r = e.filter(
        e.kind == int(EntryKind.RECORD),
        e.parameter_id == (inputs.contact_parameter or -1),
        e.day <= as_of,
        e.day > as_of - c.window_days,
        e.counterpart_id.notnull(),
        e.counterpart_id != e.subject_id,
    )
    r = unvoided(inputs, r)  # a contact voided on appeal joins nobody
    order = r.day.cast("int64") * ORDER_SHIFT + r.entry_id
    out = r.select(a=r.subject_id, b=r.counterpart_id, day=r.day, entry=r.entry_id, o=order)
    back = r.select(a=r.counterpart_id, b=r.subject_id, day=r.day, entry=r.entry_id, o=order)
    both = out.union(back, distinct=False)
    return both.group_by(["a", "b"]).aggregate(
        last_day=both.day.max(), last_entry=both.entry.argmax(both.o)
    )


def reach(
    inputs: PlanInputs,
    edges: ir.Table,
    subject_id: int | ir.Value,
    through: ir.Column | None = None,
) -> ir.Column:
    """The subject (or subjects, a column of ids) and every subject within ``rounds``
    contacts of it; with ``through``, only along contacts among those subjects (the rest
    cannot be low in any round, so their rounds change nobody's)."""
    c = inputs.rulebook.spec.contagion
    assert c is not None
    s = inputs.subjects
    # The registry's ids are not nullable and the contacts' are: cast both alike for the union.
    near = s.filter(is_subject(s.subject_id, subject_id)).select(near=s.subject_id.cast("int64"))
    if through is not None:
        edges = edges.filter(edges.b.isin(through))
    for _ in range(c.rounds):
        step = edges.join(near, edges.a == near.near).select(near=edges.b.cast("int64"))
        near = near.union(step)  # distinct
    return near.near


def may_be_low(
    rb: RulebookHeader,
    kind: ir.StringValue,
    points_score: ir.IntegerValue,
    direct_grade: ir.StringValue,
) -> ir.BooleanValue:
    """Whether a subject (by its kind, and its points and direct grade before contagion)
    is one of ``from_grades`` in some round: a citizen graded so directly, or without a
    direct grade whose score less the most contagion can take is graded so (the grades
    are the lowest, so any score between is too, or higher)."""
    c = rb.spec.contagion
    assert c is not None
    lowest = bounded(rb, (points_score - c.max_deduction).cast("int64"))
    low_by_score = grade_expr(rb, lowest, kind).isin(c.from_grades)
    low = ibis.ifelse(direct_grade.isnull(), low_by_score, direct_grade.isin(c.from_grades))
    return ((kind == "citizen") & low).fill_null(False)


def spreaders(rb: RulebookHeader, scored: ir.Table) -> ir.Column:
    """The subjects of ``scored`` (the scores before contagion) whose grade may spread in
    some round (``may_be_low``): the only contacts the rounds count are towards them."""
    low = may_be_low(rb, scored.kind, scored.points_score, scored.direct_grade)
    return scored.filter(low).subject_id


def spread(
    rb: RulebookHeader, scored: ir.Table, edges: ir.Table, stage: Stage | None = None
) -> tuple[ir.Table, ir.Table]:
    """The scores after the rounds, and the grades of the round before the last.

    ``scored`` is the plan's per-subject scores (round 0: ``subject_id``, ``kind``,
    ``score``, ``grade``, ``points_score``, ``direct_grade``, ``stage``). The result has
    the same columns, with ``score``, ``grade`` and ``stage`` after the last round, plus
    ``contagion`` (the points lost, 0 or negative) and ``contagion_contacts`` (the
    low-graded contacts that cost them). The second table holds ``g_subject``,
    ``g_kind`` and ``g_grade`` as of the round before the last, the grades a
    subject's contacts were judged by. A staged runner (``stage``) computes each round
    once: the next reads it.
    """
    c = rb.spec.contagion
    assert c is not None
    exposed = (
        (scored.kind == "citizen")
        & scored.direct_grade.isnull()
        & ~scored.grade.isin(c.from_grades)
    )
    base = scored.mutate(exposed=exposed)
    # Only a subject that may be low in some round spreads its grade: the contacts towards
    # anyone else (most of them) change no round's count, and are left out before them.
    edges = edges.filter(edges.b.isin(spreaders(rb, scored)))
    grades = base.select(g_subject=base.subject_id, g_kind=base.kind, g_grade=base.grade)
    final = previous = grades
    for _ in range(c.rounds):
        previous = grades
        final = _round(rb, base, edges, grades)
        if stage is not None:
            final = stage(final, "contagion")
        grades = final.select(g_subject=final.subject_id, g_kind=final.kind, g_grade=final.grade)
    return final, previous


def _round(rb: RulebookHeader, base: ir.Table, edges: ir.Table, grades: ir.Table) -> ir.Table:
    c = rb.spec.contagion
    assert c is not None
    low = grades.filter(grades.g_kind == "citizen", grades.g_grade.isin(c.from_grades))
    j = edges.join(low, edges.b == low.g_subject)
    hits = j.group_by(h_subject=j.a).aggregate(n=j.b.count())
    t = base.left_join(hits, base.subject_id == hits.h_subject)
    n = ibis.ifelse(t.exposed, t.n.fill_null(0), 0).cast("int64")
    lost = ibis.greatest(n * c.points, -c.max_deduction).cast("int64")
    lowered = bounded(rb, (t.points_score + lost).cast("int64"))
    score = ibis.ifelse(t.exposed, lowered, t.score).cast("int64")
    return t.select(
        subject_id=t.subject_id,
        kind=t.kind,
        score=score,
        grade=ibis.ifelse(t.exposed, grade_expr(rb, lowered, t.kind), t.grade),
        points_score=t.points_score,
        direct_grade=t.direct_grade,
        stage=stage_expr(rb, score),
        contagion=lost,
        contagion_contacts=n,
    )


def without_contagion(scored: ir.Table) -> ir.Table:
    """``scored`` with the columns ``spread`` adds, for a rulebook without contagion."""
    return scored.mutate(
        contagion=ibis.literal(0, "int64"), contagion_contacts=ibis.literal(0, "int64")
    )


def contacts_of(
    edges: ir.Table, previous: ir.Table, subject_id: int | ir.Value, from_grades: list[str]
) -> ir.Table:
    """The subject's contacts in the window, with the grade each had in the round before
    the last and whether it cost the subject points (``low``)."""
    mine = edges.filter(edges.a == subject_id)
    j = mine.left_join(previous, mine.b == previous.g_subject)
    return j.select(
        contact_id=j.b,
        grade=j.g_grade,
        low=((j.g_kind == "citizen") & j.g_grade.isin(from_grades)).fill_null(False),
        last_day=j.last_day,
        last_entry=j.last_entry,
    ).order_by(["contact_id"])
