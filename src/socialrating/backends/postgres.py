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

import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from socialrating.backends.engine import (
    PLAN_TABLES,
    BackendError,
    EnginePlans,
)
from socialrating.ledger.store import Store, sql_string
from socialrating.scoring.run import SNAPSHOT_COLUMNS

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
    try:
        import psycopg
    except ImportError as e:
        raise BackendError(
            "PostgreSQL needs its client: pip install 'socialrating[postgres]'"
        ) from e
    try:
        con = psycopg.connect(url, autocommit=True)
    except psycopg.OperationalError as e:
        raise BackendError(f"cannot reach PostgreSQL at {_safe(url)}: {e}".strip()) from e
    try:
        for name, value in SESSION.items():
            con.execute(f"SET {name} = {value}")
    except psycopg.Error:
        con.close()
        raise
    return con


def _safe(url: str) -> str:
    """Where ``url`` points (user, host, port, database), without its password."""
    from psycopg import conninfo

    try:
        parts = conninfo.conninfo_to_dict(url)
    except Exception:  # not even a URL: say nothing of it
        return "the URL given"
    where = f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}"
    return f"{parts.get('user', '')}@{where}/{parts.get('dbname', '')}".lstrip("@")


def identifier(name: str, what: str) -> str:
    """``name`` quoted as an SQL identifier, once it is a plain one (letters, digits and
    underscores, not starting with a digit).

    Raises:
        BackendError: it is not, saying which ``what`` it names.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name):
        raise BackendError(f"{what} {name!r} is not a plain name (letters, digits and underscores)")
    return f'"{name}"'


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
    from a CSV file DuckDB writes, then keyed, indexed and analysed, in one transaction a
    table: a reader waits while a table is replaced and then reads the new copy whole.
    Tables are replaced one after another, so a run should not read the schema while it
    is copied. The copy replaces the schema's snapshot (and its runs) with the ledger's.
    """
    counts: dict[str, int] = {}
    quoted = identifier(schema, "schema")
    with connect(url) as con, tempfile.TemporaryDirectory(prefix="socialrating-pg-") as tmp:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted}")
        for table in tables:
            started = time.perf_counter()
            target = f"{quoted}.{identifier(table, 'table')}"
            columns = store.rows(f"DESCRIBE {table}")
            ddl = ", ".join(
                f"{identifier(str(name), 'column')} {_column_type(str(kind), table, str(name))}"
                for name, kind, *_ in columns
            )
            path = Path(tmp) / f"{table}.csv"
            # Bytes (the entries' digests) as PostgreSQL reads a bytea: '\x' and hex.
            values = ", ".join(
                f"'\\x' || hex({_quoted(str(name))})" if kind == "BLOB" else _quoted(str(name))
                for name, kind, *_ in columns
            )
            store.run(
                f"COPY (SELECT {values} FROM {table}) TO {sql_string(str(path))} "
                "(FORMAT csv, HEADER false)"
            )
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
                con.execute(f"ANALYZE {target}")  # a new copy is planned with its statistics
            path.unlink()
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
    (``copy_tables``) in ``schema``. A stage is kept as a temporary table (the session's
    own, so two runs on one schema never meet, and gone with the session whatever
    happens), analysed before the next stage is planned."""

    url: str
    schema: str = "public"
    con: psycopg.Connection[Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import ibis

        quoted = identifier(self.schema, "schema")
        self.con = connect(self.url)
        try:
            self.con.execute(f"SET search_path = {quoted}")
            self.ibis = ibis.postgres.from_connection(self.con)
        except Exception:
            self.con.close()
            raise
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
        self.con.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')
        self.con.execute(f'CREATE TEMP TABLE "{name}" AS {sql}'.encode())
        self.con.execute(f'ANALYZE pg_temp."{name}"')

    def forget(self, name: str) -> None:
        self.con.execute(f'DROP TABLE IF EXISTS pg_temp."{name}"')

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
                f"INSERT INTO snapshot (run_id, {SNAPSHOT_COLUMNS}) "
                f"SELECT {int(run_id)}, {SNAPSHOT_COLUMNS} "
                f"FROM ({sql}) AS s".encode()
            )
        self.con.execute("ANALYZE snapshot")
