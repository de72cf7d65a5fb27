"""The scoring plans, as Ibis expressions of the plan's inputs: a whole run's scores and
lists, and one subject's statement lines, score, lists and contacts.

Each takes the inputs and Ibis parameters for the as-of day, the subject and the run;
``compiled`` compiles them to SQL once per rulebook and keeps the SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.types as ir

from socialrating.ledger.store import Store
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.contagion import (
    contacts,
    contacts_of,
    may_be_low,
    reach,
    spread,
    without_contagion,
)
from socialrating.scoring.depends import derived_parameters, reuses_round0, statement_parts
from socialrating.scoring.derived import with_derived
from socialrating.scoring.factor_plan import factor_parts
from socialrating.scoring.incremental import ROUND0
from socialrating.scoring.limits import limited
from socialrating.scoring.lists import memberships
from socialrating.scoring.measures import measured, measured_acts
from socialrating.scoring.mechanics import stages
from socialrating.scoring.plan import (
    PlanInputs,
    attribute_caps,
    is_subject,
    kept_until,
    linked,
    scores,
    staged,
    valuations,
)


def plan_inputs(store: Store, rb: RulebookHeader, tables: Any = None) -> PlanInputs:
    """The plan's inputs: the store's tables, for rulebook ``rb``; or the same tables on
    another Ibis backend (``tables``, a copy of the store's: ``socialrating.backends``)."""
    from socialrating.scoring.compiled import plan_ids

    b = store.ibis if tables is None else tables
    params = b.table("rulebook_parameters")
    channels, representative, contact = plan_ids(store, rb)
    retroactive: tuple[int, ...] = ()
    if rb.earlier and rb.spec.retroactive:
        retroactive = tuple(
            int(i)
            for (i,) in store.rows(
                "SELECT parameter_id FROM parameters WHERE list_contains(?, code) ORDER BY 1",
                [list(rb.spec.retroactive)],
            )
        )
    earlier = [
        (by, period.start, period.end, period.rulebook.hash)
        for by, period in enumerate(rb.earlier, start=1)
    ]
    entries = b.table("entries")
    if derived_parameters(rb):
        entries = with_derived(entries, b.table("parameters"), rb, representative)
    return PlanInputs(
        entries=entries,
        subjects=b.table("subjects"),
        parameters=params.filter(params.rulebook_hash == rb.hash),
        institutions=b.table("institutions"),
        parameters_registry=b.table("parameters"),
        rulebook=rb,
        snapshot=b.table("snapshot"),
        representative_parameter=representative,
        contact_parameter=contact,
        report_channels=channels,
        valuations=valuations(params, earlier) if earlier else None,
        retroactive_ids=retroactive,
    )


def scored(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject: int | ir.Value | None = None,
    through: ir.Column | None = None,
    known: ir.Table | None = None,
) -> ir.Table:
    """Per subject (or for one, or some): score, grade, stage and what contagion cost, as
    of a day. For some subjects, contagion reaches them only ``through`` the subjects
    given, where those are all that may be low in any round (``contagion.reach``); and
    the scores before contagion (``scores``) of those in ``known`` are taken from it."""
    rb = inputs.rulebook
    if rb.spec.contagion is not None and subject is not None:
        final = _reached(inputs, as_of, subject, through, known)[0]
        return final.filter(is_subject(final.subject_id, subject))
    st = stages(inputs, as_of, subject)
    per_subject = staged(inputs, scores(inputs, st.records, subject, st.ranks), "scores")
    if rb.spec.contagion is None:
        final = without_contagion(per_subject)
    else:
        final = spread(rb, per_subject, contacts(inputs, as_of), inputs.stage)[0]
    return limited(inputs, as_of, subject, final, st.records, per_subject)


def _reached(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject: int | ir.Value,
    through: ir.Column | None = None,
    known: ir.Table | None = None,
) -> tuple[ir.Table, ir.Table, ir.Table]:
    """The contagion rounds over the subjects ``subject``'s contagion reaches: the scores
    after them, the grades of the round before the last, and the contacts. The scores
    before the rounds of those in ``known`` (``scores``' columns) are taken from it, and
    only the others' records are read (not with grade limits: they read the records)."""
    edges = contacts(inputs, as_of)
    near = reach(inputs, edges, subject, through)
    if known is None:
        st = stages(inputs, as_of, near)
        per_subject = scores(inputs, st.records, near, st.ranks)
    else:
        assert reuses_round0(inputs.rulebook), "grade limits read the records"
        rest = near.as_table()
        rest = rest.filter(~rest.near.isin(known.subject_id)).near
        st = stages(inputs, as_of, rest)
        fresh = scores(inputs, st.records, rest, st.ranks)
        mine = known.filter(known.subject_id.isin(near))
        per_subject = fresh.union(
            mine.select(*[mine[c].cast(t) for c, t in fresh.schema().items()]), distinct=False
        )
    final, previous = spread(inputs.rulebook, per_subject, edges)
    return limited(inputs, as_of, near, final, st.records, per_subject), previous, edges


def _all_scores(inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value) -> ir.Table:
    return scored(inputs, as_of)


def _subject_score(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    return scored(inputs, as_of, subject)


def _subject_contacts(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    contagion = inputs.rulebook.spec.contagion
    assert contagion is not None, "only rulebooks with contagion have this plan"
    _, previous, edges = _reached(inputs, as_of, subject)
    return contacts_of(edges, previous, subject, contagion.from_grades)


def _run_lists(inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value) -> ir.Table:
    snap = inputs.snapshot
    assert snap is not None, "plan_inputs sets the snapshot table"
    return memberships(inputs, as_of, snap.filter(snap.run_id == run))


def _subject_lists(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    hops = sum(1 for lst in inputs.rulebook.spec.lists if lst.enter_with)
    if hops:
        # Joint punishment carries memberships between linked subjects, a list at a time,
        # each from an earlier list: the subject's lists need those of the subjects within
        # that many links of it, and nobody else's.
        near = linked(inputs, as_of, subject, hops)
        every = memberships(inputs, as_of, scored(inputs, as_of, near), near)
        return every.filter(every.subject_id == subject)
    return memberships(inputs, as_of, _subject_score(inputs, as_of, subject, run), subject)


def _subject_measures(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    return measured(inputs, as_of, subject).order_by("measure")


def _subject_measure_acts(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    return measured_acts(inputs, as_of, subject)


def _statement_rows(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    rec = attribute_caps(stages(inputs, as_of, subject).records)
    p, i = inputs.parameters_registry, inputs.institutions
    return (
        rec.left_join(p, rec.parameter_id == p.parameter_id)
        .left_join(i, rec.institution_id == i.institution_id)
        .select(
            *[rec[c] for c in STATEMENT_COLUMNS],
            p.code.name("parameter"),
            i.code.name("institution"),
            kept_day=kept_until(inputs.rulebook, rec.expires_day),
            kept_counts=rec.valid,  # kept for measures: only what counted until its expiry
        )
        .order_by([rec.day, rec.entry_id])
    )


# The record columns a statement line is built from.
STATEMENT_COLUMNS = (
    "entry_id",
    "day",
    "category_id",
    "rule_points",
    "points",
    "counted_points",
    "status",
    "expires_day",
    "quantity",
    "confidence",
    "act",
    "level",
    "verified_by",
    "corroborates",
    "cap_max_deduction",
    "cap_max_addition",
    "cap_calendar_year",
    "period",
    "parameter_id",
    "band",
    "accumulated",
    "passed_from",
    "absorbed_by",
    "repeat_n",
    "multiplier",
    "balance",
    "refused_by",
    "reduction_from",
    "reduction_to",
    "reduction_once_days",
    "direct_grade",
    "repaired_by",
    "repaired_day",
    "valued_by",
    "repairs",
    "refers_to",
    "rectifies",
    "rectified_by",
    "rectify_window",
)


def _round0(inputs: PlanInputs, as_of: ir.Value, run: ir.Value, chosen: ir.Column) -> ir.Table:
    st = stages(inputs, as_of, chosen)
    return scores(inputs, st.records, chosen, st.ranks)


def _known_round0(
    inputs: PlanInputs, as_of: ir.Value, run: ir.Value, chosen: ir.Column
) -> ir.Table | None:
    """The table ``ROUND0`` (its columns those of ``_round0``), where a plan for chosen
    subjects reads it: with contagion and without grade limits (they read records)."""
    if not reuses_round0(inputs.rulebook):
        return None
    return ibis.table(_round0(inputs, as_of, run, chosen).schema(), ROUND0)


def _chosen_scores(
    inputs: PlanInputs, as_of: ir.Value, run: ir.Value, chosen: ir.Column
) -> ir.Table:
    if inputs.rulebook.spec.contagion is None:
        return scored(inputs, as_of, chosen)
    # Whoever is not chosen scores as in the run before (``run``): contagion reaches the
    # chosen through those who may be low there, and through the chosen themselves.
    through = _low_before(inputs, run).subject_id
    return scored(inputs, as_of, chosen, through, _known_round0(inputs, as_of, run, chosen))


def _low_before(inputs: PlanInputs, run: ir.Value) -> ir.Table:
    """The subjects of run ``run`` who may be low in a round of contagion (``may_be_low``)."""
    snap, s = inputs.snapshot, inputs.subjects
    assert snap is not None, "plan_inputs sets the snapshot table"
    snap = snap.filter(snap.run_id == run)
    # Only a citizen may be low: the run's rows are judged as a citizen's first, on the
    # snapshot alone, and only those found are looked up in the registry (joining every
    # row to it first took a third of a second on two million subjects, twice a run).
    low = snap.filter(
        may_be_low(inputs.rulebook, ibis.literal("citizen"), snap.points_score, snap.direct_grade)
    )
    return low.semi_join(s.filter(s.kind == "citizen"), "subject_id").select("subject_id")


def _chosen_low(inputs: PlanInputs, as_of: ir.Value, run: ir.Value, chosen: ir.Column) -> ir.Table:
    """The subjects who may be low in a round of contagion (``may_be_low``) as of the day
    (the chosen: their own records scored again) or in run ``run`` (anyone: a chosen
    subject who may be low there but not now changes its contacts' contagion too)."""
    now = _known_round0(inputs, as_of, run, chosen)
    if now is None:
        now = _round0(inputs, as_of, run, chosen)
    low_now = now.filter(may_be_low(inputs.rulebook, now.kind, now.points_score, now.direct_grade))
    before = _low_before(inputs, run)
    return low_now.select(subject_id=low_now.subject_id.cast("int64")).union(
        before.select(subject_id=before.subject_id.cast("int64"))
    )


def _chosen_lists(
    inputs: PlanInputs, as_of: ir.Value, run: ir.Value, chosen: ir.Column
) -> ir.Table:
    snap = inputs.snapshot
    assert snap is not None, "plan_inputs sets the snapshot table"
    hops = sum(1 for lst in inputs.rulebook.spec.lists if lst.enter_with)
    near = linked(inputs, as_of, chosen, hops) if hops else chosen
    every = memberships(inputs, as_of, snap.filter(snap.run_id == run), near)
    return every.filter(every.subject_id.isin(chosen))


def _chosen_factors(
    inputs: PlanInputs, as_of: ir.Value, run: ir.Value, chosen: ir.Column
) -> ir.Table:
    return factor_parts(inputs, as_of, chosen)


CHOSEN: dict[str, tuple[str, Callable[[PlanInputs, ir.Value, ir.Value, ir.Column], ir.Table]]] = {
    "scores@chosen": ("chosen_scores", _chosen_scores),
    "round0@chosen": ("chosen_scores", _round0),
    "low@chosen": ("chosen_scores", _chosen_low),
    "run_lists@chosen": ("chosen_lists", _chosen_lists),
    "factors@chosen": ("chosen_factors", _chosen_factors),
}
"""The plans of an incremental run: those of a whole run, for the subjects in a table
(the subjects whose result can have changed, ``incremental``), and the table's name."""

PLANS: dict[str, Callable[[PlanInputs, ir.Value, ir.Value, ir.Value], ir.Table]] = {
    "scores": _all_scores,
    "subject_score": _subject_score,
    "statement": _statement_rows,
    "run_lists": _run_lists,
    "subject_lists": _subject_lists,
    "subject_contacts": _subject_contacts,
    "subject_measures": _subject_measures,
    "subject_measure_acts": _subject_measure_acts,
}


def _statement_all(
    inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, run: ir.Value
) -> ir.Table:
    """The rows of every plan a statement reads, in one plan, so that the stages they
    share (the subject's records, its score) are planned and computed once: a ``part``
    column (its index in ``statement_parts``), and each plan's columns as
    ``plan__column``, null in the other plans' rows. The statement's order is not kept."""
    names = statement_parts(inputs.rulebook)
    tables = [PLANS[n](inputs, as_of, subject, run) for n in names]
    types = {
        f"{n}__{c}": dtype
        for n, t in zip(names, tables, strict=True)
        for c, dtype in t.schema().items()
    }
    parts = []
    for i, (n, t) in enumerate(zip(names, tables, strict=True)):
        own = f"{n}__"
        values = {
            c: t[c.removeprefix(own)] if c.startswith(own) else ibis.null(dtype)
            for c, dtype in types.items()
        }
        parts.append(t.select(part=ibis.literal(i, "int8"), **values))
    return ibis.union(*parts, distinct=False)


PLANS["statement_all"] = _statement_all
