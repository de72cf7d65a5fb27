"""The parts of key factors for many subjects at once, computed with a run (``run_factors``).

A statement ranks one subject's factors from its lines (``factors.score_factors``). A run
needs them for every subject a service may refuse or set terms for by grade, so that a
batch of decisions carries them without a statement per subject: this plan gives, per
chosen subject, what ``score_factors`` sums from the lines, in SQL over all of them.

- per parameter: the points its counted records cost the worse way (direct grades
  apart), how many records, what rectifications of them gave back, and the records;
- per standing direct grade: its record (the worst grade, the earliest record, is
  the one the score follows).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from socialrating.scoring.factors import worse_way
from socialrating.scoring.mechanics import stages
from socialrating.scoring.plan import COUNTED, PlanInputs, attribute_caps, rectification_ids

DAY_KEY = 1 << 40
"""Entry ids are below it: ``day * DAY_KEY + entry_id`` orders by day, then entry."""

NEEDED = (
    "entry_id",
    "subject_id",
    "parameter_id",
    "day",
    "category_id",
    "period",
    "points",
    "status",
    "cap_max_deduction",
    "cap_max_addition",
    "direct_grade",
    "rectifies",
)
"""The record columns the factors are computed from (and the caps attributed by)."""


def factor_parts(inputs: PlanInputs, as_of: int | ir.Value, chosen: ir.Column) -> ir.Table:
    """Per chosen subject: one row per parameter whose records cost it points the worse
    way (``direct_grade`` null) and one per standing direct grade (``direct_grade`` set).

    Columns: subject_id, parameter_id, direct_grade, records, effect (net of what
    rectifications gave back), made_good (that part), entries: of a parameter, the keys
    ``day * DAY_KEY + entry_id`` of its records, sorted; of a direct grade, its entry id.
    """
    rb = inputs.rulebook
    rec = stages(inputs, as_of, chosen).records
    rec = rec.filter(rec.subject_id.isin(chosen)).select(*NEEDED)
    ways = {kind: worse_way(rb, kind) for kind in ("citizen", "organisation")}
    if ways["citizen"] == ways["organisation"]:
        rec = rec.mutate(way=ibis.literal(ways["citizen"]))
    else:
        s = inputs.subjects.select(w_subject="subject_id", w_kind="kind")
        rec = rec.left_join(s, rec.subject_id == s.w_subject)
        way = ibis.ifelse(rec.w_kind == "citizen", ways["citizen"], ways["organisation"])
        rec = rec.mutate(way=way).drop("w_subject", "w_kind")
    rectifiers = rectification_ids(inputs, rectified=False)
    # Caps are attributed per sign of points: where no rectification gives points back,
    # only the records of the worse sign (and direct grades) matter, and the attribution
    # sorts every row it carries.
    if rectifiers is None:
        rec = rec.filter((rec.points * rec.way > 0) | rec.direct_grade.notnull())
    rec = attribute_caps(rec)
    worse = rec.filter(rec.counted_points * rec.way > 0, rec.direct_grade.isnull())
    if rectifiers is not None:
        back = rec.filter(
            rec.parameter_id.isin(rectifiers), rec.counted_points != 0, rec.rectifies.notnull()
        )
        back = back.group_by(back_entry=back.rectifies).aggregate(back=back.counted_points.sum())
        worse = worse.left_join(back, worse.entry_id == back.back_entry).drop("back_entry")
        worse = worse.mutate(back=worse.back.fill_null(0))
    else:
        worse = worse.mutate(back=ibis.literal(0, "int64"))
    # Day, then entry, as a statement orders its lines: each list sorted once gathered
    # (cheaper than an ordered aggregate); ``run_factors`` takes the entry ids back out.
    order = worse.day.cast("int64") * DAY_KEY + worse.entry_id
    per_parameter = worse.group_by(["subject_id", "parameter_id"]).aggregate(
        records=worse.count(),
        effect=(worse.counted_points.sum() + worse.back.sum()).cast("int64"),
        made_good=worse.back.sum().cast("int64"),
        way=worse.way.max(),
        entries=order.collect().sort(),
    )
    per_parameter = per_parameter.filter(per_parameter.effect * per_parameter.way > 0)
    standing = rec.filter(rec.direct_grade.notnull(), rec.status == COUNTED)
    direct = standing.select(
        "subject_id",
        "parameter_id",
        "direct_grade",
        records=ibis.literal(1, "int64"),
        effect=ibis.literal(0, "int64"),
        made_good=ibis.literal(0, "int64"),
        entries=ibis.array([standing.entry_id]),
    )
    return per_parameter.select(
        "subject_id",
        "parameter_id",
        direct_grade=ibis.null("string"),
        records=per_parameter.records.cast("int64"),
        effect="effect",
        made_good="made_good",
        entries="entries",
    ).union(direct, distinct=False)
