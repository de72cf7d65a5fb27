"""The scoring plan compiled once per rulebook, then run for any date and subject.

Building and compiling an Ibis expression costs a good fraction of a second; running the
compiled query for one subject costs milliseconds. So each plan is compiled once per
rulebook, with the as-of day and the subject as parameters, and cached for the process.
The compiled SQL names only tables and the registry ids of the rulebook's citizen
channels, so the cache key is the rulebook hash, those ids and the plan's name.
The parameters are compiled as sentinel literals that no real query contains, and replaced
by the real values before each run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from socialrating.errors import ScoringError
from socialrating.ledger.store import Store
from socialrating.model import InstitutionClass
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.contagion import (
    contacts,
    contacts_of,
    reach,
    spread,
    without_contagion,
)
from socialrating.scoring.lists import memberships
from socialrating.scoring.mechanics import stages
from socialrating.scoring.plan import PlanInputs, attribute_caps, scores

AS_OF_SENTINEL = 987_654_321
SUBJECT_SENTINEL = 876_543_219_876_543
RUN_SENTINEL = 102_938_475


def plan_inputs(store: Store, rb: RulebookHeader) -> PlanInputs:
    """The plan's inputs: the store's tables, for rulebook ``rb``."""
    b = store.ibis
    params = b.table("rulebook_parameters")
    channels = rb.institutions_of(InstitutionClass.CITIZEN)
    ids = (
        store.rows(
            "SELECT institution_id FROM institutions WHERE list_contains(?, code) ORDER BY 1",
            [channels],
        )
        if channels
        else []
    )

    def registry_id(code: str | None) -> int | None:
        if code is None:
            return None
        found = store.scalar("SELECT parameter_id FROM parameters WHERE code = ?", [code])
        return None if found is None else int(found)

    rep, contagion = rb.spec.representatives, rb.spec.contagion
    return PlanInputs(
        entries=b.table("entries"),
        subjects=b.table("subjects"),
        parameters=params.filter(params.rulebook_hash == rb.hash),
        institutions=b.table("institutions"),
        parameters_registry=b.table("parameters"),
        rulebook=rb,
        snapshot=b.table("snapshot"),
        representative_parameter=registry_id(rep.parameter if rep else None),
        contact_parameter=registry_id(contagion.parameter if contagion else None),
        report_channels=tuple(int(i) for (i,) in ids),
    )


def scored(
    inputs: PlanInputs, as_of: int | ir.Value, subject: int | ir.Value | None = None
) -> ir.Table:
    """Per subject (or for one): score, grade, stage and what contagion cost, as of a day."""
    rb = inputs.rulebook
    if rb.spec.contagion is not None and subject is not None:
        final = _reached(inputs, as_of, subject)[0]
        return final.filter(final.subject_id == subject)
    st = stages(inputs, as_of, subject)
    per_subject = scores(inputs, st.records, subject, st.ranks)
    if rb.spec.contagion is None:
        return without_contagion(per_subject)
    return spread(rb, per_subject, contacts(inputs, as_of))[0]


def _reached(
    inputs: PlanInputs, as_of: int | ir.Value, subject: int | ir.Value
) -> tuple[ir.Table, ir.Table, ir.Table]:
    """The contagion rounds over the subjects ``subject``'s contagion reaches: the scores
    after them, the grades of the round before the last, and the contacts."""
    edges = contacts(inputs, as_of)
    near = reach(inputs, edges, subject)
    st = stages(inputs, as_of, near)
    final, previous = spread(inputs.rulebook, scores(inputs, st.records, near, st.ranks), edges)
    return final, previous, edges


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
    if any(lst.enter_with for lst in inputs.rulebook.spec.lists):
        # Joint punishment carries memberships between subjects, so one subject's lists
        # need everyone's (a full run's worth of work; see the note in docs/rulebook.md).
        every = memberships(inputs, as_of, _all_scores(inputs, as_of, subject, run))
        return every.filter(every.subject_id == subject)
    return memberships(inputs, as_of, _subject_score(inputs, as_of, subject, run), subject)


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
    "repairs",
)


PLANS: dict[str, Callable[[PlanInputs, ir.Value, ir.Value, ir.Value], ir.Table]] = {
    "scores": _all_scores,
    "subject_score": _subject_score,
    "statement": _statement_rows,
    "run_lists": _run_lists,
    "subject_lists": _subject_lists,
    "subject_contacts": _subject_contacts,
}


_CACHE: dict[tuple[str, tuple[int, ...], str], str] = {}


def _code_version() -> str:
    """A digest of the code that builds plans: a stored plan is reused only by the same code."""
    import hashlib

    import duckdb

    h = hashlib.sha256(f"{ibis.__version__}|{duckdb.__version__}".encode())
    here = Path(__file__).parent
    for module in ("plan.py", "mechanics.py", "lists.py", "contagion.py", "compiled.py"):
        h.update((here / module).read_bytes())
    return h.hexdigest()[:16]


CODE_VERSION = _code_version()


def compiled(store: Store, rb: RulebookHeader, name: str) -> str:
    """The SQL of plan ``name`` for ``rb`` on ``store``, compiled on first use.

    Compiling a plan takes seconds, so the SQL is also kept in the database
    (``plan_cache``, keyed by rulebook, registry ids, plan and code version): a later
    process, such as the next `socialrating show`, reuses it.
    """
    inputs = plan_inputs(store, rb)
    ids = (
        *inputs.report_channels,
        inputs.representative_parameter or 0,
        inputs.contact_parameter or 0,
    )
    key = (rb.hash, ids, name)
    stored_key = f"{key[0]}|{','.join(map(str, key[1]))}|{name}|{CODE_VERSION}"
    if key not in _CACHE:
        store.run(PLAN_CACHE_DDL)
        row = store.one("SELECT sql FROM plan_cache WHERE key = ?", [stored_key])
        if row is not None:
            _CACHE[key] = str(row[0])
    if key not in _CACHE:
        as_of, subject, run = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")
        expr = PLANS[name](inputs, as_of, subject, run)

        def sql(day: int, subject_id: int, run_id: int) -> str:
            values = {as_of: day, subject: subject_id, run: run_id}
            return str(store.ibis.compile(expr, params=values))

        first = sql(AS_OF_SENTINEL, SUBJECT_SENTINEL, RUN_SENTINEL)
        # Compiled again with other values, the text must differ exactly where the
        # sentinels stand; otherwise a sentinel's digits also occur in the plan itself.
        other = sql(AS_OF_SENTINEL + 1, SUBJECT_SENTINEL + 1, RUN_SENTINEL + 1)
        if bind(first, AS_OF_SENTINEL + 1, SUBJECT_SENTINEL + 1, RUN_SENTINEL + 1) != other:
            raise ScoringError(
                f"plan {name!r} for rulebook {rb.short_hash} contains a sentinel value"
            )
        _CACHE[key] = first
        store.run(
            "INSERT INTO plan_cache SELECT ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM plan_cache WHERE key = ?)",
            [stored_key, first, stored_key],
        )
    return _CACHE[key]


PLAN_CACHE_DDL = "CREATE TABLE IF NOT EXISTS plan_cache (key VARCHAR NOT NULL, sql VARCHAR)"


def bind(sql: str, as_of: int, subject_id: int | None = None, run_id: int | None = None) -> str:
    """The compiled SQL with the as-of day, subject and run put in place of their sentinels."""
    sql = sql.replace(str(AS_OF_SENTINEL), str(int(as_of)))
    if subject_id is not None:
        sql = sql.replace(str(SUBJECT_SENTINEL), str(int(subject_id)))
    if run_id is not None:
        sql = sql.replace(str(RUN_SENTINEL), str(int(run_id)))
    return sql


def run_plan(
    store: Store,
    rb: RulebookHeader,
    name: str,
    as_of: int,
    subject_id: int | None = None,
    run_id: int | None = None,
) -> pa.Table:
    """Run plan ``name`` as of day ``as_of`` (for one subject or run, where it takes one)."""
    return store.arrow(bind(compiled(store, rb, name), as_of, subject_id, run_id))
