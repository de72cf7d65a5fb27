"""The scoring plan: one definition of scoring as Ibis table expressions.

The stages, in order (each a function of the one before):

1. ``evaluate``: every record known as of the date, with its points and its status
   (voided on appeal, counted, expired, low confidence, unverified, corroborating, before
   the rulebook took effect, not in the rulebook), its expiry day and its cap period.
2. ``category_totals``: per subject, capped category, cap period and sign, the counted
   deductions and additions, each clamped to the category's cap (all other counted
   points ride along under category 0).
3. ``scores``: per subject, base score plus the totals, and the grade from the bands of
   the subject's kind.

A statement is stage 1 filtered to one subject, with each record's share of its cap
(``attribute_caps``); its sum equals the subject's score from stage 3. Nothing here is
specific to a backend, and every ordering is explicit (day, then entry id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import ibis
import ibis.expr.types as ir

from socialrating.model import STATUS_CODES, EntryKind, Status
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import Parameter, ValidityRule
from socialrating.scoring import ibis_speedups

ibis_speedups.install()  # every plan is built here first: Ibis builds and compiles it faster

COUNTED = STATUS_CODES[Status.COUNTED]
# Orders "day, then entry id" as one integer: entry ids stay below 2**40 (about 10**12).
ORDER_SHIFT = 2**40
_NO_CAP = 2**62


Stage = Callable[[ir.Table, str], ir.Table]
"""A staged runner's step: computes a table once on the engine and returns a table that
reads the result (``backends.engine.EnginePlans.staged_sql``); the label names the stage."""


@dataclass(frozen=True)
class PlanInputs:
    """The tables and rulebook a plan runs on, on any Ibis backend.

    Attributes:
        entries: the ledger (``entries`` table).
        subjects: the subject registry.
        parameters: the rulebook's compiled parameters (``rulebook_parameters`` of its hash).
        institutions: the institution registry (ids, codes and classes).
        parameters_registry: the parameter registry (ids and codes), for statements.
        rulebook: the rulebook's spec and hash.
        report_channels: registry ids of the rulebook's citizen channels, whose records
            are reports (looked up once, outside the plan, so building it queries nothing).
        snapshot: the snapshots of scoring runs, whose grades put subjects on lists.
        representative_parameter: registry id of the parameter naming organisations'
            legal representatives (the rulebook's ``representatives``), if any.
        contact_parameter: registry id of the contagion's contact parameter, if any.
        stage: a staged runner's step (``staged``), or None for one query.
    """

    entries: ir.Table
    subjects: ir.Table
    parameters: ir.Table
    institutions: ir.Table
    parameters_registry: ir.Table
    rulebook: RulebookHeader
    report_channels: tuple[int, ...] = ()
    snapshot: ir.Table | None = None
    representative_parameter: int | None = None
    contact_parameter: int | None = None
    valuations: ir.Table | None = None
    retroactive_ids: tuple[int, ...] = ()
    stage: Stage | None = None


def staged(inputs: PlanInputs, table: ir.Table, label: str) -> ir.Table:
    """``table``, computed once here when the plan is run stage by stage (an engine that
    would otherwise plan the whole run at once with estimates far off, or copy a shared
    part into every place that reads it); otherwise ``table`` itself, one query."""
    return table if inputs.stage is None else inputs.stage(table, label)


# What a record takes from the version in force on the day of its fact (its value); the
# rest (category, caps, mechanics, lists) comes from the version in force on the run's day.
VALUED = (
    "base_points",
    "per_unit",
    "expiry_days",
    "points_organisation",
    "points_representative",
    "bands_id",
    "validity_id",
)


def valuations(parameters: ir.Table, earlier: list[tuple[int, int, int, str]]) -> ir.Table:
    """The rows of ``parameters`` (``rulebook_parameters``) of each earlier version, with
    ``valued_by`` (1, 2, … in ``earlier``'s order) and the days it was in force:
    ``earlier`` holds (valued_by, start, end, hash)."""
    parts = [
        parameters.filter(parameters.rulebook_hash == h).select(
            v_parameter_id=parameters.parameter_id,
            v_by=ibis.literal(by, "int16"),
            v_from=ibis.literal(start, "int32"),
            v_to=ibis.literal(end, "int32"),
            v_base_points=parameters.points,
            **{f"v_{c}": parameters[c] for c in VALUED if c != "base_points"},
        )
        for by, start, end, h in earlier
    ]
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


def _valued(inputs: PlanInputs, rec: ir.Table) -> ir.Table:
    """Records valued by the version in force on the day of their fact.

    A record of a day before the version in force on the run's day takes its value (the
    ``VALUED`` columns) from the earlier version in force that day (``valued_by`` its
    position in ``rulebook.earlier``, 1-based; 0 is the version in force). If that version
    had no such parameter, the record had no rule then: ``no_rule`` (it does not count).
    A parameter the version in force lists as ``retroactive`` is valued by it on every day.
    """
    rb = inputs.rulebook
    if inputs.valuations is None:
        return rec.mutate(valued_by=ibis.literal(0, "int16"), no_rule=ibis.literal(False))
    v = inputs.valuations
    retro: ir.BooleanValue = (
        rec.parameter_id.isin(list(inputs.retroactive_ids))
        if inputs.retroactive_ids
        else ibis.literal(False)
    )
    earlier = (rec.day < rb.effective_day) & (rec.day >= rb.first_day) & ~retro
    joined = rec.left_join(
        v,
        [rec.parameter_id == v.v_parameter_id, rec.day >= v.v_from, rec.day < v.v_to],
    )
    then = earlier & v.v_by.notnull()
    return joined.select(
        *[rec[c] for c in rec.columns if c not in VALUED],
        **{c: ibis.ifelse(then, v[f"v_{c}"], rec[c]) for c in VALUED},
        valued_by=ibis.ifelse(then, v.v_by, ibis.literal(0, "int16")),
        no_rule=(earlier & v.v_by.isnull()),
    )


def window_start(day: ir.IntegerValue, effective: int, length: ir.IntegerValue) -> ir.IntegerValue:
    """The first day of the window of ``length`` days, counted from ``effective``, holding ``day``.

    The modulo is made non-negative: backends keep the sign of the dividend, which would
    put a day just before ``effective`` into the first window after it.
    """
    since = day - effective
    return day - (since % length + length) % length


def is_subject(column: ir.IntegerColumn, subject_id: int | ir.Value) -> ir.BooleanValue:
    """``column`` holds the subject: one id (or an Ibis parameter), or any id of a column
    of them (the subjects a statement's contagion reaches)."""
    if isinstance(subject_id, ir.Column):
        return column.isin(subject_id)
    return column == subject_id


def special(inputs: PlanInputs, p: ir.Table) -> ir.BooleanValue:
    """Parameters whose records go through the pilot mechanics (see ``mechanics``)."""
    marked = (
        p.repeat_factor.notnull()
        | p.reduction.fill_null(False)
        | p.direct_bit.notnull()
        | p.repairs_mask.notnull()
        | p.points_organisation.notnull()
        | p.points_representative.notnull()
    )
    for ids in (rectification_ids(inputs), stage_measure_ids(inputs), yearly_ids(inputs)):
        if ids is not None:
            marked = marked | p.parameter_id.isin(ids)
    return marked


def yearly(rb: RulebookHeader) -> set[str]:
    """The parameters (of any version) whose bands take a calendar year's quantity."""
    return {
        q.code
        for spec in rb.specs
        for q in spec.parameters
        if q.bands is not None and q.bands.per == "calendar_year"
    }


def yearly_ids(inputs: PlanInputs) -> ir.Column | None:
    """The registry ids of ``yearly`` parameters: their records go through the special
    evaluation, where the year's quantity is accumulated (None when there are none)."""
    return _registry_ids(inputs, {code: [] for code in yearly(inputs.rulebook)}, False)


def rectification_ids(inputs: PlanInputs, *, rectified: bool = True) -> ir.Column | None:
    """The registry ids of the parameters that rectify and (with ``rectified``) of those
    they rectify; None if the rulebook has no rectifications."""
    named = {q.code: q.rectifies.parameters for q in inputs.rulebook.spec.parameters if q.rectifies}
    return _registry_ids(inputs, named, rectified)


def stage_measure_ids(inputs: PlanInputs, *, unless: bool = True) -> ir.Column | None:
    """The registry ids of the measures with a ``skipped_stage`` and (with ``unless``) of
    the measures they look for before them; None if the rulebook has none."""
    named = {
        q.code: q.skipped_stage.unless_after
        for q in inputs.rulebook.spec.parameters
        if q.skipped_stage
    }
    return _registry_ids(inputs, named, unless)


def _registry_ids(
    inputs: PlanInputs, named: dict[str, list[str]], with_named: bool
) -> ir.Column | None:
    """The registry ids of the parameters ``named`` maps (and, ``with_named``, of those
    each names), looked up in the plan itself; None when there are none."""
    codes = set(named) | ({c for codes in named.values() for c in codes} if with_named else set())
    if not codes:
        return None
    reg = inputs.parameters_registry
    return reg.filter(reg.code.isin(sorted(codes))).parameter_id


def has_special(rb: RulebookHeader) -> bool:
    """Whether any parameter of the rulebook is ``special`` (known from the spec alone)."""
    return (
        any(c.repeat is not None for c in rb.spec.categories)
        or any(
            p.reduction is not None
            or p.direct_grade is not None
            or p.repairs is not None
            or p.points_organisation is not None
            or p.points_representative is not None
            or p.rectifies is not None
            or p.skipped_stage is not None
            for p in rb.spec.parameters
        )
        or bool(yearly(rb))
    )


def evaluate(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None = None,
    subset: Literal["all", "plain", "special", "acts"] = "all",
    of_subjects: ir.Column | None = None,
    of_parameters: ir.Table | None = None,
) -> ir.Table:
    """Stage 1: every record that happened by day ``as_of``, with points and status.

    ``as_of`` and ``subject_id`` may be Ibis parameters, so the plan compiles once. The
    records flow through in one pipeline (scan, join the parameters, join the few citizen
    reports' verification states); nothing is materialised on the way. Each record gets
    its rule's points (fixed, per unit or by quantity band), its validity (by points or
    level where the rule says so), whether it is ``valid`` (everything but expiry allows
    it to count) and its status. A record voided on appeal (``voids``) keeps its row, with
    status ``voided`` and not ``valid``, so that no mechanic, list or total takes it in.

    ``subset="special"`` evaluates only the records of ``special`` parameters, whose
    points may depend on the subject (an organisation's or a legal representative's
    value) and which the pilot mechanics look at; ``subset="plain"`` all the others;
    ``subset="acts"`` the records that carry an act id, whatever their parameter (valued
    as ``special`` values them). ``of_subjects`` keeps only those subjects' records;
    ``of_parameters`` (rows of ``inputs.parameters``) only the records of those
    parameters, filtered in the scan before any join.
    """
    rb = inputs.rulebook
    e = inputs.entries
    p = inputs.parameters
    along: ir.Column | None = None
    # Each subset filters the ledger scan itself (rather than filtering a shared scan), so
    # that no scan of the whole ledger is shared between subsets and none is materialised
    # (some subjects' records are: ``_records``).
    if subset == "special":
        sp = p.filter(special(inputs, p))
        r = _records(inputs, as_of, subject_id, e.parameter_id.isin(sp.parameter_id))
        rec = _with_parameters(r.join(sp, r.parameter_id == sp.parameter_id), r, sp)
    else:
        extra = []
        if subset == "acts":
            along = yearly_ids(inputs)
            # The records of yearly bands come along (and leave at the end), so that the
            # year's quantity of one with an act id is the year's, not its acts'.
            has_act = e.act.notnull()
            extra.append(has_act if along is None else has_act | e.parameter_id.isin(along))
        if of_subjects is not None:
            extra.append(e.subject_id.isin(of_subjects))
        if of_parameters is not None:
            p = of_parameters
            extra.append(e.parameter_id.isin(p.parameter_id))
        r = _records(inputs, as_of, subject_id, *extra)
        if subset == "plain" and has_special(rb):
            # Marked on the parameters and filtered once joined: cheaper than an anti-join
            # of the ledger against the special parameters (unknown ones are plain).
            p = p.mutate(plain_rule=~special(inputs, p))
            joined = r.left_join(p, r.parameter_id == p.parameter_id)
            joined = joined.filter(joined.plain_rule.fill_null(True))
            rec = _with_parameters(joined, r, p)
        else:
            rec = _with_parameters(r.left_join(p, r.parameter_id == p.parameter_id), r, p)
    rec = _valued(inputs, rec)
    v = voids(inputs)
    rec = rec.left_join(v, rec.entry_id == v.voided_entry).select(
        *[rec[c] for c in rec.columns], voided=v.voided_entry.notnull()
    )
    if inputs.report_channels:
        states = _report_states(
            inputs, as_of, subject_id, list(inputs.report_channels), of_parameters
        )
        rec = rec.left_join(states, rec.entry_id == states.report_entry).select(
            *[rec[c] for c in rec.columns],
            report_state=states.report_state.fill_null(0),
            verified_by=states.verified_by,
            corroborates=states.corroborates,
        )
    else:
        rec = rec.mutate(
            report_state=ibis.literal(0, "int8"),
            verified_by=ibis.null("int64"),
            corroborates=ibis.null("int64"),
        )
    priced = subset in ("special", "acts")
    rules = [q for spec in rb.specs for q in spec.parameters]
    if priced and any(q.points_organisation is not None for q in rules):
        s = inputs.subjects
        orgs = s.filter(s.kind == "organisation").select(org_id=s.subject_id)
        rec = rec.left_join(orgs, rec.subject_id == orgs.org_id)
        base = ibis.ifelse(
            orgs.org_id.notnull() & rec.points_organisation.notnull(),
            rec.points_organisation,
            rec.base_points,
        )
        rec = rec.select(*[rec[c] for c in rec.columns], rule_base=base)
    else:
        rec = rec.mutate(rule_base=rec.base_points)
    if priced and any(q.points_representative is not None for q in rules):
        reps = representatives(inputs, as_of).select("person", "parameter_id").distinct()
        rec = rec.left_join(reps, rec.subject_id == reps.person)
        base = ibis.ifelse(
            reps.person.notnull() & rec.points_representative.notnull(),
            rec.points_representative,
            rec.rule_base,
        )
        rec = rec.select(*[rec[c] for c in rec.columns if c != "rule_base"], rule_base=base)
    yearly_bands = subset != "plain" and any(
        q.bands is not None and q.bands.per == "calendar_year"
        for version in rb.versions
        for q in version.banded
    )
    if yearly_bands:
        # The year's quantity of the records that may count, up to the record (by day,
        # then entry), plus the record's own: computed only where such parameters are
        # evaluated, once, as a column (the bands read it several times). A record that
        # may not count is valued as if it did.
        year = ibis.window(
            group_by=[rec.subject_id, rec.parameter_id, year_of(rec.day)],
            order_by=[rec.day, rec.entry_id],
            rows=(None, 0),
        )
        own = rec.quantity.fill_null(0.0)
        counts = ibis.ifelse(_may_count(rec, rb).fill_null(False), own, 0.0)
        rec = rec.mutate(year_quantity=counts.sum().over(year) - counts + own)
    qty = rec.quantity.fill_null(1.0)
    per_unit = _trunc(rec.rule_base.cast("float64") * qty)
    points = ibis.ifelse(rec.per_unit, per_unit, rec.rule_base)
    band = ibis.null("int32")
    qty0 = rec.quantity.fill_null(0.0)
    banded = [
        ((rec.bands_id == i) & _by(rec, by, rb), q)
        for by, version in enumerate(rb.versions)
        for i, q in enumerate(version.banded, start=1)
    ]
    accumulated: ir.FloatingValue = rec.year_quantity if yearly_bands else ibis.null("float64")
    if banded:
        points = ibis.cases(
            *[(c, _banded_points(q, qty0, accumulated)) for c, q in banded], else_=points
        )
        band = ibis.cases(
            *[(c, _band_reached(q, _banded_quantity(q, qty0, accumulated))) for c, q in banded],
            else_=band,
        )
    # A column from here on: validity by size and the statuses read the points several
    # times, and an expression would be copied into each (the SQL grew by megabytes).
    rec = rec.mutate(
        rule_points=points.fill_null(0).cast("int64"),
        band=band.cast("int32"),
        accumulated=_accumulated(banded, accumulated),
    )
    points = rec.rule_points
    valid = _may_count(rec, rb)
    expiry_days = rec.expiry_days
    lasting = [
        ((rec.validity_id == i) & _by(rec, by, rb), q)
        for by, version in enumerate(rb.versions)
        for i, q in enumerate(version.with_validity, start=1)
    ]
    if lasting:
        expiry_days = ibis.cases(
            *[(c, _validity_days(q, rec, points)) for c, q in lasting],
            else_=rec.expiry_days,
        )
    expires = rec.day + expiry_days
    status = ibis.cases(
        (rec.voided, STATUS_CODES[Status.VOIDED]),
        (~rec.known, STATUS_CODES[Status.NOT_IN_RULEBOOK]),
        ((rec.day < rb.first_day) | rec.no_rule, STATUS_CODES[Status.BEFORE_EFFECT]),
        (expires.notnull() & (as_of >= expires), STATUS_CODES[Status.EXPIRED]),
        (
            rec.confidence.notnull() & (rec.confidence < rec.min_confidence),
            STATUS_CODES[Status.LOW_CONFIDENCE],
        ),
        (rec.report_state == 1, STATUS_CODES[Status.UNVERIFIED]),
        (rec.report_state == 2, STATUS_CODES[Status.CORROBORATING]),
        else_=COUNTED,
    ).cast("int8")
    # A cap period is named by its first day; modulo keeps this integer arithmetic
    # (Ibis compiles // to a floating-point division on some backends).
    period = ibis.ifelse(
        rec.cap_period_days.notnull(),
        window_start(rec.day, rb.effective_day, rec.cap_period_days.fill_null(1)),
        0,
    )
    capped = rec.cap_period_days.notnull()
    if any(c.cap is not None and c.cap.calendar_year for c in rb.spec.categories):
        calendar = rec.cap_calendar_year.fill_null(False)
        period = ibis.ifelse(calendar, year_start(rec.day), period)
        capped = capped | calendar
    evaluated = rec.mutate(
        points=points,
        valid=valid.fill_null(False),
        status=status,
        expires_day=expires,
        period=period.cast("int32"),
        capped=capped,
        order_key=rec.day.cast("int64") * ORDER_SHIFT + rec.entry_id,
    )
    if along is not None:
        return evaluated.filter(evaluated.act.notnull())
    return evaluated


def _may_count(rec: ir.Table, rb: RulebookHeader) -> ir.BooleanValue:
    """Everything but expiry lets the record count: not voided, in the rulebook and in
    force on its day, confident enough, and (a report) verified."""
    return (
        ~rec.voided
        & rec.known
        & ~rec.no_rule
        & (rec.day >= rb.first_day)
        & ~(rec.confidence.notnull() & (rec.confidence < rec.min_confidence)).fill_null(False)
        & (rec.report_state == 0)
    )


def _by(rec: ir.Table, by: int, rb: RulebookHeader) -> ir.BooleanValue:
    """The record is valued by version ``by`` (always, when there is only the one)."""
    return rec.valued_by == by if rb.earlier else ibis.literal(True)


def _with_parameters(joined: ir.Table, rec: ir.Table, p: ir.Table) -> ir.Table:
    """The columns of a record joined to its parameter that later stages use."""
    return joined.select(
        rec.entry_id,
        rec.subject_id,
        rec.parameter_id,
        rec.institution_id,
        rec.day,
        rec.quantity,
        rec.confidence,
        rec.counterpart_id,
        rec.act,
        rec.level,
        rec.refers_to,
        (rec.passed_from if "passed_from" in rec.columns else ibis.null("int64")).name(
            "passed_from"
        ),
        p.parameter_id.notnull().name("known"),
        p.category_id,
        p.points.name("base_points"),
        p.per_unit,
        p.expiry_days,
        p.min_confidence,
        p.cap_period_days,
        p.cap_max_deduction,
        p.cap_max_addition,
        p.cap_calendar_year,
        p.repeat_factor,
        p.repeat_compound,
        p.points_organisation,
        p.points_representative,
        p.bands_id,
        p.validity_id,
        p.direct_grade,
        p.direct_bit,
        p.repairs_mask,
        p.reduction,
        p.reduction_from,
        p.reduction_to,
        p.reduction_once_days,
        p.list_enter_mask,
        p.list_leave_mask,
    )


def representatives(inputs: PlanInputs, as_of: int | ir.Value) -> ir.Table:
    """Per organisation, its legal representative as of the date (``org``, ``person``,
    ``link_entry``, ``link_day``): the counterpart of the latest record of the rulebook's
    representatives parameter about it (a voided one is no record); none if that record
    names nobody."""
    e = inputs.entries
    r = e.filter(
        e.kind == int(EntryKind.RECORD),
        e.day <= as_of,
        e.parameter_id == (inputs.representative_parameter or -1),
    )
    r = unvoided(inputs, r)
    r = r.mutate(order_key=r.day.cast("int64") * ORDER_SHIFT + r.entry_id)
    # Grouped by the parameter too (one value): a key of one small integer column lets
    # DuckDB size its table by the range of subject ids, far more than these few rows.
    latest = r.group_by(org=r.subject_id, parameter_id=r.parameter_id).aggregate(
        person=r.counterpart_id.argmax(r.order_key),
        link_entry=r.entry_id.argmax(r.order_key),
        link_day=r.day.argmax(r.order_key),
    )
    return staged(inputs, latest.filter(latest.person.notnull()), "representatives")


def linked(inputs: PlanInputs, as_of: ir.Value, subject: ir.Value, hops: int) -> ir.Column:
    """The subject (or subjects, a column of ids) and every subject within ``hops`` links
    of it: an organisation and its legal representative as of the date are linked, both
    ways."""
    links = representatives(inputs, as_of)
    s = inputs.subjects
    near = s.filter(is_subject(s.subject_id, subject)).select(near=s.subject_id.cast("int64"))
    for _ in range(hops):
        persons = links.join(near, links.org == near.near).select(near=links.person.cast("int64"))
        orgs = links.join(near, links.person == near.near).select(near=links.org.cast("int64"))
        near = near.union(persons).union(orgs)  # distinct
    return near.near


def _trunc(x: ir.FloatingValue) -> ir.IntegerValue:
    """Whole points, fractions dropped toward zero; the 1e-9 absorbs binary rounding
    (0.29 * 100 is 28.999…, meant as 29)."""
    return (x.sign() * (x.abs() + 1e-9).floor()).cast("int64")


def year_start(day: ir.IntegerValue) -> ir.IntegerValue:
    """The day number of 1 January of the year that holds ``day``."""
    return day - _date(day).day_of_year().cast("int32") + 1


def year_of(day: ir.IntegerValue) -> ir.IntegerValue:
    """The calendar year that holds ``day``."""
    return _date(day).year().cast("int32")


_EPOCH = dt.date(1970, 1, 1)


def _date(day: ir.IntegerValue) -> ir.DateValue:
    return ibis.literal(_EPOCH) + day.as_interval("D")


def _band_points(p: Parameter, qty: ir.FloatingValue) -> ir.IntegerValue:
    assert p.bands is not None
    steps = p.bands.steps
    if p.bands.mode == "highest":
        return ibis.cases(*[(qty >= s.from_, s.points) for s in reversed(steps)], else_=0).cast(
            "int64"
        )
    total: ir.FloatingValue = ibis.literal(0.0)
    for i, s in enumerate(steps):
        top = qty if i == len(steps) - 1 else ibis.least(qty, steps[i + 1].from_)
        part = ibis.greatest(top - s.from_, 0.0) * float(s.per_unit or 0.0)
        if s.max_points is not None:
            cap = float(s.max_points)
            part = ibis.least(ibis.greatest(part, -cap), cap)
        total = total + part
    return _trunc(total)


def _banded_quantity(
    p: Parameter, qty: ir.FloatingValue, accumulated: ir.FloatingValue
) -> ir.FloatingValue:
    """The quantity ``p``'s bands take: the record's, or the year's up to it."""
    assert p.bands is not None
    return accumulated if p.bands.per == "calendar_year" else qty


def _banded_points(
    p: Parameter, qty: ir.FloatingValue, accumulated: ir.FloatingValue
) -> ir.IntegerValue:
    """A banded record's points: of its quantity, or, for bands of the year's quantity,
    what its quantity adds to the year's banded points (so a year's records add up to
    the points of the year's total)."""
    assert p.bands is not None
    if p.bands.per == "record":
        return _band_points(p, qty)
    return _band_points(p, accumulated) - _band_points(p, accumulated - qty)


def _accumulated(
    banded: list[tuple[ir.BooleanValue, Parameter]], accumulated: ir.FloatingValue
) -> ir.FloatingValue:
    """The year's quantity up to the record, for records of yearly bands (else null)."""
    yearly = [c for c, q in banded if q.bands and q.bands.per == "calendar_year"]
    if not yearly:
        return ibis.null("float64")
    return ibis.ifelse(ibis.or_(*yearly), accumulated, ibis.null("float64"))


def _band_reached(p: Parameter, qty: ir.FloatingValue) -> ir.IntegerValue:
    assert p.bands is not None
    steps = list(enumerate(p.bands.steps, start=1))
    return ibis.cases(*[(qty >= s.from_, i) for i, s in reversed(steps)], else_=0)


def _validity_days(p: Parameter, rec: ir.Table, points: ir.IntegerValue) -> ir.IntegerValue:
    """How many days a record of ``p`` counts, by the first of its validity rules that
    matches (its ``expiry_days`` if none does)."""
    branches = []
    for rule in p.validity or []:
        condition: ir.BooleanValue = ibis.literal(True)
        if rule.points_up_to is not None:
            condition = condition & (points.abs() <= rule.points_up_to)
        if rule.level is not None:
            condition = condition & (rec.level == rule.level).fill_null(False)
        branches.append((condition, _span(rule, rec.day)))
    return ibis.cases(*branches, else_=rec.expiry_days)


def _span(rule: ValidityRule, day: ir.IntegerValue) -> ir.IntegerValue:
    """The days a record of ``day`` counts for under ``rule``: so many days, calendar
    months (the day of the month kept, or the month's last), or to the end of a year."""
    if rule.days is not None:
        return ibis.literal(rule.days, "int32")
    if rule.months is not None:
        return (months_later(day, rule.months) - day).cast("int32")
    assert rule.calendar_years is not None
    end = ibis.date(year_of(day) + rule.calendar_years + 1, 1, 1)
    return (end.delta(ibis.literal(_EPOCH), unit="day") - day).cast("int32")


def kept_until(rb: RulebookHeader, expires: ir.IntegerValue) -> ir.IntegerValue:
    """The day an expired record (expiring on ``expires``) stops being kept on record, by
    the rulebook's ``retention`` (null: no retention, or no expiry)."""
    r = rb.spec.retention
    if r is None:
        return ibis.null("int32")
    if r.days is not None:
        return (expires + r.days).cast("int32")
    assert r.months is not None
    return months_later(expires, r.months)


def months_later(day: ir.IntegerValue, months: int) -> ir.IntegerValue:
    """The day number ``months`` calendar months after ``day`` (the day of the month kept,
    or the month's last)."""
    end = _date(day) + ibis.interval(months=months)
    return end.delta(ibis.literal(_EPOCH), unit="day").cast("int32")


def _records(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    *extra: ir.BooleanValue,
) -> ir.Table:
    """The ledger's records of days up to ``as_of`` (of one subject), filtered by ``extra``,
    all in one filter (voided ones too: ``evaluate`` marks them).

    Of some subjects (a column: those an incremental run chose, those a contagion
    reaches), the subjects' records are one table that ``extra`` filters, the same for
    every subset of them: DuckDB reads the ledger for them once and shares their rows,
    instead of scanning the whole ledger for each subset. On the bench
    ledger's one day, the plan staging 90,265 chosen subjects took 0.8 s against 1.0 s.
    """
    e = inputs.entries
    if isinstance(subject_id, ir.Column):
        mine = e.filter(
            e.kind == int(EntryKind.RECORD), e.day <= as_of, e.subject_id.isin(subject_id)
        )
        return mine.filter(*extra) if extra else mine
    predicates = [e.kind == int(EntryKind.RECORD), e.day <= as_of, *extra]
    if subject_id is not None:
        predicates.append(is_subject(e.subject_id, subject_id))
    return e.filter(*predicates)


def voids(inputs: PlanInputs) -> ir.Table:
    """The records voided on appeal (``voided_entry``): those a void entry refers to.

    A void corrects the record for every as-of date, whatever the void's own day: the
    record should never have counted (docs/rulebook.md, 3.20). The ledger holds few voids,
    and its scan for them skips the row groups that hold none.
    """
    e = inputs.entries
    v = e.filter(e.kind == int(EntryKind.VOID), e.refers_to.notnull())
    # Read by every evaluation and more: staged once (an engine copying it into each
    # place scanned the ledger for voids 51 times in one stage).
    return staged(inputs, v.select(voided_entry=v.refers_to).distinct(), "voids")


def unvoided(inputs: PlanInputs, records: ir.Table) -> ir.Table:
    """``records`` (rows of the ledger, with ``entry_id``) but the voided ones."""
    v = voids(inputs)
    return records.anti_join(v, records.entry_id == v.voided_entry)


def _report_states(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    subject_id: int | ir.Value | None,
    reporters: list[int],
    of_parameters: ir.Table | None = None,
) -> ir.Table:
    """Per citizen report: 0 it counts, 1 unverified, 2 it corroborates an earlier one.

    A report counts when a state authority verified it by ``as_of`` (if the parameter
    allows it), or when at least ``verify_reporters`` distinct citizens other than the
    subject reported the same subject and parameter in the same window; then the earliest
    of them counts (by day, then entry id) and the others corroborate it. Reports are
    grouped by parameter, so ``of_parameters`` (only those parameters' reports) leaves
    every state the same.
    """
    rb = inputs.rulebook
    e = inputs.entries
    p = inputs.parameters if of_parameters is None else of_parameters
    r = unvoided(inputs, _records(inputs, as_of, subject_id, e.institution_id.isin(reporters)))
    if of_parameters is not None:
        r = r.filter(r.parameter_id.isin(p.parameter_id))
    r = r.join(p, r.parameter_id == p.parameter_id).select(
        r.entry_id,
        r.subject_id,
        r.parameter_id,
        r.day,
        r.counterpart_id,
        p.verify_by_authority,
        p.verify_reporters,
        p.verify_window_days,
    )
    checks = e.filter(e.kind == int(EntryKind.VERIFICATION), e.day <= as_of)
    checks = checks.group_by(checks.refers_to).aggregate(verified_by=checks.entry_id.min())
    window = r.verify_window_days.fill_null(1)
    keyed = r.mutate(
        bucket=window_start(r.day, rb.effective_day, window),
        order_key=r.day.cast("int64") * ORDER_SHIFT + r.entry_id,
    )
    independent = keyed.counterpart_id.notnull() & (keyed.counterpart_id != keyed.subject_id)
    groups = keyed.group_by(["subject_id", "parameter_id", "bucket"]).aggregate(
        n_reporters=ibis.ifelse(independent, keyed.counterpart_id, ibis.null("int64")).nunique(),
        first_key=keyed.order_key.min(),
    )
    joined = keyed.left_join(
        groups,
        [
            keyed.subject_id == groups.subject_id,
            keyed.parameter_id == groups.parameter_id,
            keyed.bucket == groups.bucket,
        ],
    ).left_join(checks, keyed.entry_id == checks.refers_to)
    by_authority = joined.verify_by_authority.fill_null(False) & joined.verified_by.notnull()
    corroborated = joined.verify_reporters.notnull() & (
        joined.n_reporters >= joined.verify_reporters
    )
    first = joined.order_key == joined.first_key
    # One act counts once: in a corroborated window only the earliest report counts, even
    # if an authority also verified a later one; outside one, each verified report counts.
    state = ibis.cases(
        (corroborated & first, 0),
        (corroborated, 2),
        (by_authority, 0),
        else_=1,
    ).cast("int8")
    states = joined.select(
        report_entry=joined.entry_id,
        report_state=state,
        verified_by=ibis.ifelse(
            by_authority & (~corroborated | first), joined.verified_by, ibis.null("int64")
        ),
        corroborates=ibis.ifelse(
            corroborated & ~first, joined.first_key % ORDER_SHIFT, ibis.null("int64")
        ),
    )
    # Read by every evaluation: staged once (each of the records, the special and the acts).
    return staged(inputs, states, "reports")


def category_totals(inputs: PlanInputs, evaluated: ir.Table) -> ir.Table:
    """Stage 2: per subject, capped category, period and sign, counted points clamped.

    Deductions (sign -1) and additions (sign 1) of a capped category are grouped apart and
    clamped to the category's ``max_deduction`` and ``max_addition``; every other counted
    point rides along under category 0, period 0, sign 0 (no cap), so that one group-by
    serves all. It is the costliest step of a run, so it carries a single sum, and only
    the records that add to it.
    """
    # Records of 0 points add nothing to any total (a fifth of the seed's: list entries).
    e = evaluated.filter(evaluated.status == COUNTED, evaluated.points != 0)
    capped = e.capped
    sign = ibis.cases(
        (capped & (e.points < 0) & e.cap_max_deduction.notnull(), -1),
        (capped & (e.points > 0) & e.cap_max_addition.notnull(), 1),
        else_=0,
    ).cast("int8")
    keyed = e.select(
        "subject_id",
        "points",
        group_category=ibis.ifelse(sign != 0, e.category_id, 0),
        group_period=ibis.ifelse(sign != 0, e.period, 0),
        sign=sign,
    )
    g = keyed.group_by(
        subject_id=keyed.subject_id,
        category_id=keyed.group_category,
        period=keyed.group_period,
        sign=keyed.sign,
    ).aggregate(total=keyed.points.sum())
    p = inputs.parameters
    caps = p.group_by("category_id").aggregate(
        max_deduction=p.cap_max_deduction.max(), max_addition=p.cap_max_addition.max()
    )
    g = g.left_join(caps, g.category_id == caps.category_id)
    clamped = ibis.cases(
        (g.sign < 0, ibis.greatest(g.total, -g.max_deduction)),
        (g.sign > 0, ibis.least(g.total, g.max_addition)),
        else_=g.total,
    )
    return g.select(
        g.subject_id,
        g.category_id,
        g.period,
        g.sign,
        g.total,
        points=clamped.cast("int64"),
        cut=(g.total - clamped).cast("int64"),
    )


def bounded(rulebook: RulebookHeader, score: ir.IntegerValue) -> ir.IntegerValue:
    """``score`` clamped into the rulebook's ``floor`` and ``ceiling`` (either may be unset).

    Validation keeps the floor in the lowest band and the ceiling in the highest, so
    bounding changes a score (and its stage) but never its grade.
    """
    spec = rulebook.spec
    if spec.floor is not None:
        score = ibis.greatest(score, ibis.literal(spec.floor, "int64")).cast("int64")
    if spec.ceiling is not None:
        score = ibis.least(score, ibis.literal(spec.ceiling, "int64")).cast("int64")
    return score


def grade_expr(
    rulebook: RulebookHeader, score: ir.IntegerValue, kind: ir.StringValue
) -> ir.StringValue:
    """The grade for a score and subject kind, from the rulebook's bands."""
    branches = []
    for subject_kind in ("citizen", "organisation"):
        for band in rulebook.bands(subject_kind):
            if not band.by_score:
                continue
            condition = kind == subject_kind
            if band.min is not None:
                condition = condition & (score >= band.min)
            branches.append((condition, band.grade))
    return ibis.cases(*branches, else_=ibis.null("string"))


def stage_expr(rulebook: RulebookHeader, score: ir.IntegerValue) -> ir.StringValue:
    """The stage a score has reached: the last listed stage whose threshold it meets."""
    branches = []
    for stage in reversed(rulebook.spec.stages):
        if stage.at_least is not None:
            branches.append((score >= stage.at_least, stage.name))
        elif stage.at_most is not None:
            branches.append((score <= stage.at_most, stage.name))
    if not branches:
        return ibis.null("string")
    return ibis.cases(*branches, else_=ibis.null("string"))


def scores(
    inputs: PlanInputs,
    evaluated: ir.Table,
    subject_id: int | ir.Value | None = None,
    ranks: ir.Table | None = None,
) -> ir.Table:
    """Stage 4: per subject (every registered subject), score, grade and stage.

    ``points_score`` is base plus capped points; ``score`` is that, ``bounded`` into the
    rulebook's floor and ceiling, and the grade and stage follow ``score``. A standing
    direct grade (``ranks``, from ``mechanics.direct_ranks``) sets ``grade`` (the worst of
    several) and puts ``score`` at that band's direct score (which lies within the bounds).
    """
    rb = inputs.rulebook
    totals = category_totals(inputs, evaluated)
    per_subject = totals.group_by("subject_id").aggregate(points=totals.points.sum())
    s = inputs.subjects
    if subject_id is not None:
        s = s.filter(is_subject(s.subject_id, subject_id))
    joined = s.left_join(per_subject, s.subject_id == per_subject.subject_id)
    points_score = (rb.spec.base_score + joined.points.fill_null(0)).cast("int64")
    if ranks is None:
        scored = joined.select(subject_id=s.subject_id, kind=s.kind, points_score=points_score)
        score = bounded(rb, scored.points_score)
        return scored.select(
            "subject_id",
            "kind",
            score=score,
            grade=grade_expr(rb, score, scored.kind),
            points_score="points_score",
            direct_grade=ibis.null("string"),
            stage=stage_expr(rb, score),
        )
    joined = joined.left_join(ranks, s.subject_id == ranks.direct_subject)
    scored = joined.select(
        subject_id=s.subject_id,
        kind=s.kind,
        points_score=points_score,
        rank=ibis.ifelse(s.kind == "citizen", ranks.rank_citizen, ranks.rank_organisation),
    )
    direct_grade = ibis.cases(
        *[
            ((scored.kind == kind) & (scored.rank == i), band.grade)
            for kind in ("citizen", "organisation")
            for i, band in enumerate(rb.bands(kind))
        ],
        else_=ibis.null("string"),
    )
    direct_score = ibis.cases(
        *[
            ((scored.kind == kind) & (scored.rank == i), rb.direct_score(kind, band.grade))
            for kind in ("citizen", "organisation")
            for i, band in enumerate(rb.bands(kind))
            if band.min is not None or band.direct_score is not None
        ],
        else_=ibis.null("int64"),
    )
    scored = scored.mutate(
        direct_grade=direct_grade,
        score=direct_score.fill_null(bounded(rb, scored.points_score)).cast("int64"),
    )
    return scored.select(
        "subject_id",
        "kind",
        "score",
        grade=scored.direct_grade.fill_null(grade_expr(rb, scored.score, scored.kind)),
        points_score="points_score",
        direct_grade="direct_grade",
        stage=stage_expr(rb, scored.score),
    )


def attribute_caps(evaluated: ir.Table) -> ir.Table:
    """Each counted record's share of its category's cap, in the order day, then entry id.

    Deductions and additions are capped separately: a record counts in full until its
    running total reaches the cap, the one that crosses it counts in part, the rest count 0.
    The shares add up to the capped totals of ``category_totals``; records of uncapped
    categories keep their points.
    """
    counted = evaluated.status == COUNTED
    sign = ibis.cases((evaluated.points < 0, -1), (evaluated.points > 0, 1), else_=0)
    keyed = evaluated.mutate(sign=sign, counted_points=ibis.ifelse(counted, evaluated.points, 0))
    w = ibis.window(
        group_by=[keyed.subject_id, keyed.category_id, keyed.period, keyed.sign],
        order_by=[keyed.day, keyed.entry_id],
        rows=(None, 0),
    )
    running = keyed.counted_points.sum().over(w)
    before = running - keyed.counted_points
    low = -keyed.cap_max_deduction.fill_null(_NO_CAP)
    high = keyed.cap_max_addition.fill_null(_NO_CAP)

    def clamp(x: ir.IntegerValue) -> ir.IntegerValue:
        return ibis.ifelse(keyed.sign < 0, ibis.greatest(x, low), ibis.least(x, high))

    share = (clamp(running) - clamp(before)).cast("int64")
    return keyed.mutate(counted_points=ibis.ifelse(counted, share, 0)).drop("sign")
