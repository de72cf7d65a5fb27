"""PostgreSQL: the ledger's tables on a server, and the scoring plans run there.

A province's information centre runs on a PostgreSQL server. This module holds what is
particular to it:

- ``copy_tables``: the tables a scoring plan reads, copied from a DuckDB ledger into a
  schema of the server, typed as in the ledger, loaded with ``COPY`` (DuckDB writes them
  as CSV a table at a time; the server reads the file as a stream), then given their keys
  and ``ANALYZE``\\ d;
- ``PostgresPlans``: the same Ibis plans as the embedded engine's (``scoring.plans``),
  compiled for PostgreSQL and run on the server (``engine.score`` for a whole run), with
  the session settings they need (``SESSION``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialrating.backends.engine import (
    PLAN_TABLES,
    SNAPSHOT_COLUMNS,
    BackendError,
    EnginePlans,
)
from socialrating.ledger.store import Store

if TYPE_CHECKING:
    import psycopg
    import pyarrow as pa

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
class PostgresPlans(EnginePlans):
    """The scoring plans run on a PostgreSQL server holding a copy of the ledger's tables
    (``copy_tables``) in ``schema``. A stage is kept as an unlogged table (a run's
    scratch), analysed before the next stage is planned."""

    url: str = ""
    schema: str = "public"
    con: psycopg.Connection[Any] = field(init=False, repr=False)

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

    def keep(self, name: str, sql: str) -> None:
        self.con.execute(f'DROP TABLE IF EXISTS "{name}"')
        self.con.execute(f'CREATE UNLOGGED TABLE "{name}" AS {sql}'.encode())
        self.con.execute(f'ANALYZE "{name}"')

    def forget(self, name: str) -> None:
        self.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def query(self, sql: str) -> pa.Table:
        import pyarrow as pa

        with self.con.cursor() as cur:
            cur.execute(sql.encode())
            names = [c.name for c in cur.description or []]
            rows = cur.fetchall()
        return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})

    def store_snapshot(self, run_id: int, sql: str) -> None:
        with self.con.transaction():
            self.con.execute("DELETE FROM snapshot WHERE run_id = %s", (run_id,))
            self.con.execute(
                f"INSERT INTO snapshot SELECT {int(run_id)}, {SNAPSHOT_COLUMNS} "
                f"FROM ({sql}) AS s".encode()
            )
        self.con.execute("ANALYZE snapshot")
