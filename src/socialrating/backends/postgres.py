"""PostgreSQL: the ledger's tables on a server, and the scoring plans run there.

A province's information centre runs on a PostgreSQL server. This module holds what is
particular to it:

- ``copy_tables``: the tables a scoring plan reads, copied from a DuckDB ledger into a
  schema of the server, typed as in the ledger, loaded with ``COPY`` (DuckDB writes them
  as CSV a table at a time; the server reads the file as a stream), then given their keys
  and ``ANALYZE``\\ d;
- ``PostgresPlans``: the same Ibis plans as the embedded engine's (``scoring.plans``),
  compiled for PostgreSQL and run on the server, with the session settings they need:
  ``jit = off``, since PostgreSQL's cost estimates for a plan of this size reach 10^15
  and its JIT would then compile about 600 functions for minutes;
- ``score``: a whole run (scores, then the lists from them) computed by the server.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialrating.errors import SocialRatingError
from socialrating.ledger.store import Store
from socialrating.model import day_number
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.compiled import bind

if TYPE_CHECKING:
    import psycopg
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

INDEXES: dict[str, tuple[str, ...]] = {
    "entries": ("subject_id", "counterpart_id", "refers_to"),
    "list_members": ("run_id",),
}
"""Indexes besides the keys: a statement reads one subject's records, and a contact's."""

SESSION = {
    # The plan's estimated cost reaches 10^15: with the JIT on, PostgreSQL compiles about
    # 600 functions for every query and a run of a small ledger takes minutes, not seconds.
    "jit": "off",
    # Each of the plan's hash joins and group-bys may take this much before spilling.
    "work_mem": "'256MB'",
    "enable_nestloop": "off",
}

TYPES = {
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "VARCHAR": "text",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "BLOB": "bytea",
}
"""DuckDB's column types of the ledger's tables, and PostgreSQL's for each."""


class BackendError(SocialRatingError):
    """The server could not be reached, or holds no copy of the ledger's tables."""


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection to the server at ``url``, with the plan's session settings.

    Raises:
        BackendError: the server cannot be reached, with the server's own words.
    """
    import psycopg

    try:
        con = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as e:
        raise BackendError(f"cannot reach PostgreSQL at {_safe(url)}: {e}".strip()) from e
    for name, value in SESSION.items():
        con.execute(f"SET {name} = {value}")
    return con


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    who, where = rest.rsplit("@", 1)
    return f"{scheme}://{who.split(':', 1)[0]}@{where}"


def _column_type(duckdb_type: str, table: str, column: str) -> str:
    found = TYPES.get(duckdb_type)
    if found is None:
        raise BackendError(
            f"column {table}.{column} has DuckDB type {duckdb_type}, which has no "
            "PostgreSQL type here"
        )
    return found


def copy_tables(
    store: Store,
    url: str,
    *,
    schema: str = "public",
    tables: Iterable[str] = PLAN_TABLES,
    progress: Callable[[str, int, float], None] | None = None,
) -> dict[str, int]:
    """Copy ``tables`` of the DuckDB ledger ``store`` into ``schema`` on the server at
    ``url``, replacing any there; returns the rows copied, by table.

    Each table is made with the ledger's columns (PostgreSQL types), loaded with ``COPY``
    from a CSV file DuckDB writes, then keyed, indexed and analysed. A table is replaced
    in one transaction, so a reader sees the old copy or the new one whole.
    """
    counts: dict[str, int] = {}
    with connect(url) as con, tempfile.TemporaryDirectory(prefix="socialrating-pg-") as tmp:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        for table in tables:
            started = time.perf_counter()
            columns = store.rows(f"DESCRIBE {table}")
            ddl = ", ".join(
                f'"{name}" {_column_type(str(kind), table, str(name))}'
                for name, kind, *_ in columns
            )
            path = Path(tmp) / f"{table}.csv"
            store.run(f"COPY {table} TO '{path}' (FORMAT csv, HEADER false)")
            target = f'"{schema}"."{table}"'
            with con.transaction():
                con.execute(f"DROP TABLE IF EXISTS {target}")
                con.execute(f"CREATE TABLE {target} ({ddl})")
                with (
                    con.cursor() as cur,
                    cur.copy(f"COPY {target} FROM STDIN (FORMAT csv)") as copy,
                    path.open("rb") as f,
                ):
                    while block := f.read(1 << 23):
                        copy.write(block)
                key = PLAN_TABLES.get(table, ())
                if key:
                    con.execute(
                        f"ALTER TABLE {target} ADD PRIMARY KEY ({', '.join(map(_quoted, key))})"
                    )
                for column in INDEXES.get(table, ()):
                    con.execute(f'CREATE INDEX ON {target} ("{column}")')
            path.unlink()
            con.execute(f"ANALYZE {target}")
            counts[table] = int(
                con.execute(f"SELECT count(*) FROM {target}").fetchone()[0]  # type: ignore[index]
            )
            if progress is not None:
                progress(table, counts[table], time.perf_counter() - started)
    return counts


def _quoted(name: str) -> str:
    return f'"{name}"'


@dataclass
class PostgresPlans:
    """The scoring plans of one rulebook, run on a PostgreSQL server holding a copy of the
    ledger's tables (``copy_tables``). Registry ids the plans name are looked up in the
    DuckDB ledger ``store``, which the copy is of."""

    store: Store
    url: str
    schema: str = "public"
    con: psycopg.Connection[Any] = field(init=False, repr=False)
    ibis: Any = field(init=False, repr=False)
    _sql: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    _stages: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        import ibis

        self.con = connect(self.url)
        self.con.execute(f'SET search_path = "{self.schema}"')
        self.ibis = ibis.postgres.from_connection(self.con)
        missing = [
            t
            for t in PLAN_TABLES
            if not self.con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name = %s",
                (self.schema, t),
            ).fetchone()
        ]
        if missing:
            self.con.close()
            raise BackendError(
                f"schema {self.schema!r} at {_safe(self.url)} has no table "
                f"{', '.join(missing)}: copy the ledger's tables there first"
            )

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> PostgresPlans:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sql(
        self,
        rb: RulebookHeader,
        name: str,
        as_of: dt.date,
        subject_id: int | None = None,
        run_id: int | None = None,
    ) -> str:
        """Plan ``name`` of ``rb`` as PostgreSQL's SQL, for a day (a subject, a run)."""
        key = (rb.plan_key, name)
        if key not in self._sql:  # compiled once (seconds), with sentinels for the values
            import ibis

            from socialrating.scoring.compiled import (
                AS_OF_SENTINEL,
                RUN_SENTINEL,
                SUBJECT_SENTINEL,
            )
            from socialrating.scoring.plans import PLANS, plan_inputs

            inputs = plan_inputs(self.store, rb, self.ibis)
            params = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")
            values = dict(
                zip(params, (AS_OF_SENTINEL, SUBJECT_SENTINEL, RUN_SENTINEL), strict=True)
            )
            expr = PLANS[name](inputs, *params)
            self._sql[key] = str(self.ibis.compile(expr, params=values))
        return bind(self._sql[key], day_number(as_of), subject_id or 0, run_id or 0)

    def staged_sql(
        self,
        rb: RulebookHeader,
        name: str,
        as_of: dt.date,
        subject_id: int | None = None,
        run_id: int | None = None,
    ) -> str:
        """Plan ``name`` run stage by stage: the stages the plan marks (``plan.staged``)
        are computed now, each into a table of its own (unlogged: a run's scratch), and
        analysed, so the server plans each later stage knowing the sizes of what it reads;
        returns the SQL of the rest, which reads them. ``drop_stages`` removes them."""
        import dataclasses

        import ibis

        from socialrating.scoring.plans import PLANS, plan_inputs

        inputs = dataclasses.replace(plan_inputs(self.store, rb, self.ibis), stage=self._stage)
        expr = PLANS[name](
            inputs,
            ibis.literal(day_number(as_of), "int32"),
            ibis.literal(subject_id or 0, "int64"),
            ibis.literal(run_id or 0, "int32"),
        )
        return str(self.ibis.compile(expr))

    def _stage(self, table: Any, label: str) -> Any:
        name = f"stage_{len(self._stages) + 1}_{label}"
        self.con.execute(f'DROP TABLE IF EXISTS "{name}"')
        self.con.execute(f'CREATE UNLOGGED TABLE "{name}" AS {self.ibis.compile(table)}'.encode())
        self.con.execute(f'ANALYZE "{name}"')
        self._stages.append(name)
        back = self.ibis.table(name, database=self.schema)
        # Read back with the stage's own types (the server's smallint is Ibis's int16).
        return back.select(*[back[c].cast(t).name(c) for c, t in table.schema().items()])

    def drop_stages(self) -> None:
        """Drop the tables of the stages computed so far."""
        for name in self._stages:
            self.con.execute(f'DROP TABLE IF EXISTS "{name}"')
        self._stages.clear()

    def arrow(
        self,
        rb: RulebookHeader,
        name: str,
        as_of: dt.date,
        subject_id: int | None = None,
        run_id: int | None = None,
    ) -> pa.Table:
        """Plan ``name`` run on the server; its rows as an Arrow table."""
        return self.query(self.sql(rb, name, as_of, subject_id, run_id))

    def query(self, sql: str) -> pa.Table:
        import pyarrow as pa

        with self.con.cursor() as cur:
            cur.execute(sql.encode())
            names = [c.name for c in cur.description or []]
            rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})


SNAPSHOT_COLUMNS = (
    "subject_id, score, grade, points_score, direct_grade, stage, contagion, contagion_contacts"
)


@dataclass(frozen=True)
class ServerRun:
    """A whole run computed by the server: its snapshot and list members, undated (a
    grade membership's start is dated by the runs before it, which the embedded engine's
    ``score_run`` does), and the seconds each part took there."""

    snapshot: pa.Table
    lists: pa.Table
    seconds: dict[str, float]


def score(
    plans: PostgresPlans,
    rb: RulebookHeader,
    as_of: dt.date,
    run_id: int,
    *,
    staged: bool = False,
) -> ServerRun:
    """Score every subject as of ``as_of`` on the server: the snapshot is stored there as
    run ``run_id`` (replacing one of that id), then the lists are computed from it.

    With ``staged``, the plan runs stage by stage (``PostgresPlans.staged_sql``): each of
    the mechanics, the records, the scores and each contagion round is computed into a
    table of its own and analysed before the next stage is planned.
    """
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with plans.con.transaction():
        plans.con.execute("DELETE FROM snapshot WHERE run_id = %s", (run_id,))
        sql = plans.staged_sql(rb, "scores", as_of) if staged else plans.sql(rb, "scores", as_of)
        plans.con.execute(
            f"INSERT INTO snapshot SELECT {int(run_id)}, {SNAPSHOT_COLUMNS} "
            f"FROM ({sql}) AS s".encode()
        )
    plans.con.execute("ANALYZE snapshot")
    plans.drop_stages()
    seconds["scores"] = time.perf_counter() - started
    snapshot = plans.query(
        f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE run_id = {int(run_id)} ORDER BY subject_id"
    )
    started = time.perf_counter()
    if rb.spec.lists:
        sql = (
            plans.staged_sql(rb, "run_lists", as_of, None, run_id)
            if staged
            else plans.sql(rb, "run_lists", as_of, None, run_id)
        )
        lists = plans.query(sql)
        plans.drop_stages()
    else:
        import pyarrow as pa

        lists = pa.table({})
    seconds["lists"] = time.perf_counter() - started
    return ServerRun(snapshot, lists, seconds)
