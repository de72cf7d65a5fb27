"""What every engine shares: the scoring plans compiled for it, run in one query or stage
by stage, and a whole run (the snapshot, then the lists from it).

An engine's module (``postgres``, ``spark``) says how to reach it, how a stage is kept
(``keep``), how the rows of a query come back (``query``) and how a run's snapshot is
stored there (``store_snapshot``); the rest is here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from socialrating.errors import SocialRatingError
from socialrating.ledger.store import Store
from socialrating.model import day_number
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.compiled import bind, with_sentinels
from socialrating.scoring.run import SNAPSHOT_COLUMNS

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

PLAN_TABLES: dict[str, tuple[str, ...]] = {
    "entries": ("entry_id",),
    "subjects": ("subject_id",),
    "institutions": ("institution_id",),
    "parameters": ("parameter_id",),
    "rulebook_parameters": ("rulebook_hash", "parameter_id"),
    "snapshot": ("run_id", "subject_id"),
    "list_members": (),
    "runs": ("run_id",),
}
"""The tables a scoring run reads, each with its key (a key of no columns: none)."""


class BackendError(SocialRatingError):
    """The engine could not be reached, or holds no copy of the ledger's tables."""


@dataclass
class EnginePlans:
    """The scoring plans, run on an engine holding a copy of the ledger's tables.

    Registry ids the plans name are looked up in the DuckDB ledger ``store``, which the
    copy is of. ``ibis`` is the engine's Ibis backend, set by the engine's module.
    """

    store: Store
    ibis: Any = field(init=False, repr=False)
    _sql: dict[tuple[str, str], str] = field(default_factory=dict, repr=False, init=False)
    _stages: list[str] = field(default_factory=list, repr=False, init=False)
    # The stages a plan marks, in order (name, expression), computed once it is built.
    _pending: list[tuple[str, ir.Table]] = field(default_factory=list, repr=False, init=False)
    # Each stage so far, by its expression: a part the plan reads in many places (the
    # voided records, the reports' states, the representatives) is staged once.
    _kept: dict[Any, ir.Table] = field(default_factory=dict, repr=False, init=False)

    # What each engine does its own way.

    def keep(self, name: str, sql: str) -> None:
        """Compute ``sql`` now and keep its rows as table ``name`` for later stages."""
        raise NotImplementedError

    def forget(self, name: str) -> None:
        """Drop a stage kept by ``keep``."""
        raise NotImplementedError

    def query(self, sql: str) -> pa.Table:
        """The rows of ``sql`` as an Arrow table."""
        raise NotImplementedError

    def store_snapshot(self, run_id: int, sql: str) -> None:
        """Store the rows of ``sql`` (``SNAPSHOT_COLUMNS``) as run ``run_id``'s snapshot,
        replacing any of that run, where the lists plan reads the snapshot."""
        raise NotImplementedError

    def close(self) -> None:
        """Let go of the engine."""

    def __enter__(self) -> EnginePlans:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The same on every engine.

    def sql(
        self,
        rb: RulebookHeader,
        name: str,
        as_of: dt.date,
        subject_id: int | None = None,
        run_id: int | None = None,
    ) -> str:
        """Plan ``name`` of ``rb`` in the engine's SQL, for a day (a subject, a run), as
        one query: compiled once (seconds), with sentinels for the values, each shared
        part selecting only the columns read of it (``columns.narrowed``)."""
        key = (rb.plan_key, name)
        if key not in self._sql:
            import ibis

            from socialrating.backends.columns import narrowed
            from socialrating.scoring.plans import PLANS, plan_inputs

            inputs = plan_inputs(self.store, rb, self.ibis)
            params = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")
            sql = with_sentinels(self.ibis, PLANS[name](inputs, *params), params, f"plan {name!r}")
            # Each shared part with only the columns read of it (about a second, once).
            tables = {t: list(self.ibis.table(t).columns) for t in PLAN_TABLES}
            self._sql[key] = narrowed(sql, self.ibis.compiler.dialect, tables)
        return bind(self._sql[key], day_number(as_of), subject_id or 0, run_id or 0)

    def staged_sql(
        self,
        rb: RulebookHeader,
        name: str,
        as_of: dt.date,
        subject_id: int | None = None,
        run_id: int | None = None,
    ) -> str:
        """Plan ``name`` run stage by stage: the stages the plan marks (``plan.staged``:
        each mechanic, the records, the scores, each contagion round) are computed now,
        each kept as a table of its own, so the engine plans each later stage on what
        earlier ones computed instead of copying their expressions into every place that
        reads them; returns the SQL of the rest. ``drop_stages`` lets them go.

        The plan is built first, each stage standing for a table of its name; then, from
        the last query back to the first stage, each stage keeps only the columns the
        queries after it read (``columns.columns_read``), and one that nothing reads is
        not computed; then the stages are computed in order.
        """
        import ibis

        from socialrating.scoring.plans import PLANS, plan_inputs

        inputs = dataclasses.replace(plan_inputs(self.store, rb, self.ibis), stage=self._stage)
        expr = PLANS[name](
            inputs,
            ibis.literal(day_number(as_of), "int32"),
            ibis.literal(subject_id or 0, "int64"),
            ibis.literal(run_id or 0, "int32"),
        )
        final = str(self.ibis.compile(expr))
        self._compute(final)
        return final

    def _stage(self, table: ir.Table, label: str) -> ir.Table:
        import ibis

        found = self._kept.get(table.op())
        if found is not None:  # the same expression, staged already
            return found
        name = f"stage_{len(self._pending) + 1}_{label}"
        self._pending.append((name, table))
        # The table it will be, with the expression's types (not those the engine gives
        # its columns, such as PostgreSQL's smallint for a byte: its SQL is the same).
        stands = ibis.table(table.schema(), name=name)
        self._kept[table.op()] = stands
        return stands

    def _compute(self, final: str) -> None:
        """Compute the stages the plan marked, each with the columns read after it."""
        from socialrating.backends.columns import columns_read

        pending, self._pending = self._pending, []
        tables = {name: list(table.columns) for name, table in pending}
        dialect = self.ibis.compiler.dialect
        needed = columns_read(final, dialect, tables)
        queries: dict[str, str] = {}
        for name, table in reversed(pending):
            if name not in needed:
                continue  # read by no later query
            read = [c for c in table.columns if c in needed[name]]
            queries[name] = sql = str(self.ibis.compile(table.select(*read)))
            for earlier, columns in columns_read(sql, dialect, tables).items():
                needed.setdefault(earlier, set()).update(columns)
        for name, _ in pending:
            if name in queries:
                self.keep(name, queries[name])
                self._stages.append(name)

    def drop_stages(self) -> None:
        """Drop the tables of the stages computed so far."""
        for name in self._stages:
            self.forget(name)
        self._stages.clear()
        self._pending.clear()
        self._kept.clear()

    def arrow(
        self,
        rb: RulebookHeader,
        name: str,
        as_of: dt.date,
        subject_id: int | None = None,
        run_id: int | None = None,
        *,
        staged: bool = False,
    ) -> pa.Table:
        """Plan ``name`` run on the engine; its rows as an Arrow table."""
        if not staged:
            return self.query(self.sql(rb, name, as_of, subject_id, run_id))
        try:
            return self.query(self.staged_sql(rb, name, as_of, subject_id, run_id))
        finally:
            self.drop_stages()


@dataclass(frozen=True)
class EngineRun:
    """A whole run computed by an engine: its snapshot and list members, undated (a
    grade membership's start is dated by the runs before it, which the embedded engine's
    ``score_run`` does), and the seconds each part took there."""

    snapshot: pa.Table
    lists: pa.Table
    seconds: dict[str, float]


def score(
    plans: EnginePlans,
    rb: RulebookHeader,
    as_of: dt.date,
    run_id: int,
    *,
    staged: bool = False,
) -> EngineRun:
    """Score every subject as of ``as_of`` on the engine: the snapshot is stored there as
    run ``run_id`` (replacing one of that id), then the lists are computed from it.

    With ``staged``, the plan runs stage by stage (``EnginePlans.staged_sql``).
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    try:
        sql = plans.staged_sql(rb, "scores", as_of) if staged else plans.sql(rb, "scores", as_of)
        plans.store_snapshot(run_id, sql)
    finally:
        plans.drop_stages()
    seconds["scores"] = time.perf_counter() - started
    snapshot = plans.query(
        f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE run_id = {int(run_id)} ORDER BY subject_id"
    )
    started = time.perf_counter()
    if rb.spec.lists:
        lists = plans.arrow(rb, "run_lists", as_of, None, run_id, staged=staged)
    else:
        import pyarrow as pa

        lists = pa.table({})
    seconds["lists"] = time.perf_counter() - started
    return EngineRun(snapshot, lists, seconds)
