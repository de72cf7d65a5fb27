"""Records passed across links (a parameter's ``derived_from``), in the plan.

An organisation's rewards and penalties are also booked to its legal representative
under the individual scale, and the representative of a company on the court list is
graded C (Wendeng Arts. 6, 12.6, 18.5; ``../shared/REAL_RULES.md`` 3.4). A parameter
with ``derived_from`` is such a booking, written as data: each record of the source
parameter yields one of it (one its institutions send themselves is an ordinary record),

- ``through: representative``: about the organisation's legal representative on the
  record's day (the person the latest register record of that organisation, by day then
  entry, up to that day names), when it has one;
- ``through: organisations``: about every organisation whose legal representative on the
  record's day is the person the record is about (but the organisation a record passed
  to that person came from);

with the source record's entry id, day, quantity, act and level, so that it is dated,
voided and appealed with it, and with ``passed_from`` naming the subject it came from.
From then on it is a record of its own parameter like any other: its points, direct
grade, validity, repeats and repairs are that parameter's. A derived parameter may take
another derived one (defined before it) as its source, so bookings chain: from a firm to
its head, and from the head to the other firms they run.

The derived records depend on no as-of day (only on register records up to their own
day), so they are added to the ledger's records once, where the plan reads entries.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from socialrating.model import EntryKind
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.depends import derived_parameters


def with_derived(
    entries: ir.Table, registry: ir.Table, rb: RulebookHeader, representative: int | None
) -> ir.Table:
    """``entries`` with a ``passed_from`` column (null for the ledger's own rows) and the
    records the rulebook's derived parameters pass across links, in the same columns."""
    base = entries.mutate(passed_from=ibis.null("int64"))
    derived = derived_parameters(rb)
    if not derived or representative is None:
        return base
    e = entries
    record = int(EntryKind.RECORD)
    voided = e.filter(e.kind == int(EntryKind.VOID), e.refers_to.notnull()).select(
        v_entry=e.refers_to
    )
    reg = e.filter(e.kind == record, e.parameter_id == representative)
    reg = reg.anti_join(voided, reg.entry_id == voided.v_entry)
    reg = reg.select(
        r_org=reg.subject_id,
        r_person=reg.counterpart_id,
        r_day=reg.day,
        r_key=reg.day.cast("int64") * (2**40) + reg.entry_id,
    )
    codes = registry.select(c_id=registry.parameter_id, c_code=registry.code)
    # Joins make columns nullable: every part takes the ledger's types, nullable.
    types = {c: t.copy(nullable=True) for c, t in base.schema().items()}

    def nullable(t: ir.Table) -> ir.Table:
        return t.select(*[t[c].cast(types[c]).name(c) for c in base.columns])

    made: dict[str, ir.Table] = {}
    for q in derived:
        assert q.derived_from is not None
        source_code = q.derived_from.parameter
        src = e.filter(
            e.kind == record,
            e.parameter_id.isin(codes.filter(codes.c_code == source_code).c_id),
        ).mutate(passed_from=ibis.null("int64"))
        if source_code in made:
            src = nullable(src).union(made[source_code], distinct=False)
        target = codes.filter(codes.c_code == q.code).select(t_id=codes.c_id)
        if q.derived_from.through == "representative":
            linked = _to_representative(src, reg.view())
        else:
            linked = _to_organisations(src, reg.view())
        linked = linked.cross_join(target)
        made[q.code] = nullable(
            linked.select(
                *[
                    linked.l_subject.cast("int64").name(c)
                    if c == "subject_id"
                    else linked.t_id.name(c)
                    if c == "parameter_id"
                    else linked.l_from.cast("int64").name(c)
                    if c == "passed_from"
                    else linked[c]
                    for c in base.columns
                ]
            )
        )
    return ibis.union(nullable(base), *made.values(), distinct=False)


def _to_representative(src: ir.Table, reg: ir.Table) -> ir.Table:
    """Each source record about an organisation with its representative on its day."""
    j = src.join(reg, [src.subject_id == reg.r_org, reg.r_day <= src.day])
    pick = j.group_by(p_entry=j.entry_id, p_subject=j.subject_id).aggregate(
        p_person=j.r_person.argmax(j.r_key)
    )
    pick = pick.filter(pick.p_person.notnull())
    t = src.join(pick, [src.entry_id == pick.p_entry, src.subject_id == pick.p_subject])
    return t.mutate(l_subject=t.p_person, l_from=t.subject_id)


def _to_organisations(src: ir.Table, reg: ir.Table) -> ir.Table:
    """Each source record about a person with every organisation it represents that day."""
    s = src.select(s_entry=src.entry_id, s_person=src.subject_id, s_day=src.day)
    named = reg.filter(reg.r_person.notnull())
    cand = s.join(named, [s.s_person == named.r_person, named.r_day <= s.s_day])
    cand = cand.select("s_entry", "s_person", "s_day", c_org=cand.r_org).distinct()
    latest = reg.view()
    j = cand.join(latest, [cand.c_org == latest.r_org, latest.r_day <= cand.s_day])
    now = j.group_by(["s_entry", "s_person", "c_org"]).aggregate(
        n_person=j.r_person.argmax(j.r_key)
    )
    now = now.filter(now.n_person == now.s_person)
    t = src.join(now, [src.entry_id == now.s_entry, src.subject_id == now.s_person])
    # Not back to the organisation a passed record came from (a chain's first link).
    t = t.filter(t.c_org != t.passed_from.fill_null(-1))
    return t.mutate(l_subject=t.c_org, l_from=t.subject_id)
