"""The DuckDB file: its tables, and the registries of subjects, institutions and parameters.

Tables (every id is an integer; codes live only in the registries):

- ``entries``: the ledger. Append-only; each row carries a digest of its content.
- ``batches``: one row per appended batch, hash-chained to the batch before it.
- ``subjects``, ``institutions``, ``parameters``: registries of ids and codes.
- ``rulebooks``, ``rulebook_parameters``, ``rulebook_institutions``,
  ``rulebook_permissions``: every rulebook ever installed, by content hash, with its
  compiled parameter table and the class each institution has under it.
- ``runs`` and ``snapshot``: one row per scoring run, and its per-subject results.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from socialrating.errors import LedgerError, LedgerFormatError, NotInitialised
from socialrating.ledger.digests import stored
from socialrating.settings import CHECKPOINT_MB

if TYPE_CHECKING:
    import pyarrow as pa

# 2: digests encode each field with its length; snapshots hold score and grade only.
# 3: records carry an act id and a level; snapshots hold the direct grade and the stage.
# 4: rulebook parameters name the lists they enter and leave; runs store list members.
# 5: list members carried by joint punishment name the subject they came through.
# 6: rulebook parameters carry points for legal representatives.
# 7: snapshots hold the points contagion cost and the contacts that cost them.
# 8: rulebook parameters keep their names (statements show them).
# 9: the ledger records digests of the registries, of each rulebook's compiled tables, of
#    each cached plan and of each run's stored results (batches of no entries).
# 10: runs store the key factors of the subjects a service refuses by grade.
# 11: entries store their digests as bytes (the same digests).
# 12: digests of tables recorded in the ledger name their method (a SHA-256 of columns).
SCHEMA_VERSION = "12"

ENTRIES_DDL = """{table} (
    entry_id BIGINT NOT NULL, batch_id INTEGER NOT NULL, kind TINYINT NOT NULL,
    institution_id INTEGER, parameter_id INTEGER, subject_id BIGINT, day INTEGER,
    arrived_at TIMESTAMP NOT NULL, quantity DOUBLE, severity SMALLINT, confidence DOUBLE,
    counterpart_id BIGINT, evidence VARCHAR, refers_to BIGINT, act VARCHAR, level VARCHAR,
    idem_key VARCHAR,
    payload_digest BLOB USING COMPRESSION uncompressed NOT NULL,
    row_digest BLOB USING COMPRESSION uncompressed NOT NULL)"""
"""The ledger's records (``{table}``: its name). The two SHA-256 digests of a row are
stored as their 32 bytes, uncompressed: as hex text (64 characters each) DuckDB
compressed them to about that size, at about 0.4 s of a core per million rows appended,
a third of the insert."""

RUN_FACTORS_DDL = """CREATE TABLE IF NOT EXISTS run_factors (
    run_id INTEGER NOT NULL, subject_id BIGINT NOT NULL, rank SMALLINT NOT NULL,
    code VARCHAR NOT NULL, name VARCHAR, effect BIGINT NOT NULL, made_good BIGINT NOT NULL,
    entries BIGINT[] NOT NULL, grade VARCHAR)"""
"""Per run, the key factors of each subject a service of its rulebook may refuse by grade
(``scoring/run_factors``), ranked: a grade limit and a direct grade first (ranks below 1),
then parameters and contagion (1 to 4). Only what the text is made of is stored."""

PLAN_CACHE_DDL = "CREATE TABLE IF NOT EXISTS plan_cache (key VARCHAR NOT NULL, sql VARCHAR)"
"""Compiled plans and validated rulebook specs, kept by key (``scoring.compiled``,
``ledger.rulebooks``), each with a digest the ledger records."""

# Formats that the next one only extends, leaving entries and digests as they are (or, from
# 10, stored otherwise, each digest the same): the
# statements that bring a database from each up to the next (run when it is opened for
# writing). Snapshots of earlier runs keep what they were computed with.
UPGRADES: dict[str, tuple[str, tuple[str, ...]]] = {
    # Digests recorded from now on name their method (``table_digest.COLUMNS``); those
    # recorded before are checked by theirs (``ROWS``).
    "11": ("12", ()),
    # The same digests, stored as bytes (``_digests_as_bytes``).
    "10": ("11", ()),
    # Runs stored before keep no factors: their decisions take them from statements.
    "9": ("10", (RUN_FACTORS_DDL,)),
    # Plans cached before are covered by no digest: they are compiled again when used.
    "8": (
        "9",
        (
            PLAN_CACHE_DDL,
            "DELETE FROM plan_cache",
        ),
    ),
    # Rulebooks installed before keep no names: their statements show codes.
    "7": ("8", ("ALTER TABLE rulebook_parameters ADD COLUMN IF NOT EXISTS name VARCHAR",)),
    "6": (
        "7",
        (
            "ALTER TABLE snapshot ADD COLUMN contagion BIGINT DEFAULT 0",
            "ALTER TABLE snapshot ADD COLUMN contagion_contacts BIGINT DEFAULT 0",
            "ALTER TABLE snapshot ALTER COLUMN contagion SET NOT NULL",
            "ALTER TABLE snapshot ALTER COLUMN contagion_contacts SET NOT NULL",
        ),
    ),
}


def _record_everything(store: Store) -> None:
    from socialrating.ledger.integrity import record_everything

    record_everything(store)


def _as_bytes(column: str) -> str:
    """A format-10 digest (hex text) as bytes; one that is not a digest (the ledger was
    edited) as its text's bytes, which no digest equals: ``verify`` still names it."""
    return (
        f"CASE WHEN regexp_full_match({column}, '[0-9a-f]{{64}}') THEN {stored(column)} "
        f"ELSE encode({column}) END"
    )


def _digests_as_bytes(store: Store) -> None:
    """Store the entries' digests as bytes, each the same digest: the entries copied in
    their order into a table of the new columns (DuckDB alters no column of a table with
    an index), a digest edited into something else kept as its text (``_as_bytes``). A
    ledger whose digests are bytes already is left as it is."""
    kind = store.scalar(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'entries' AND column_name = 'row_digest'"
    )
    if kind != "VARCHAR":
        return
    for statement in (
        "DROP INDEX IF EXISTS entries_subject",
        "CREATE TABLE " + ENTRIES_DDL.format(table="entries_v11"),
        "INSERT INTO entries_v11 SELECT * EXCLUDE (payload_digest, row_digest), "
        f"{_as_bytes('payload_digest')}, {_as_bytes('row_digest')} FROM entries",
        "DROP TABLE entries",
        "ALTER TABLE entries_v11 RENAME TO entries",
        "CREATE INDEX entries_subject ON entries (subject_id)",
    ):
        store.run(statement)


# What an upgrade from a format does after its statements, in the same transaction.
UPGRADE_STEPS: dict[str, Callable[[Store], None]] = {
    "10": _digests_as_bytes,
    # The registries, compiled tables and runs as they are become covered by the ledger.
    "8": _record_everything,
}

DDL = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS subjects (
    subject_id BIGINT NOT NULL, code VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    born DATE, sex VARCHAR, region VARCHAR);
CREATE TABLE IF NOT EXISTS institutions (
    institution_id INTEGER NOT NULL, code VARCHAR NOT NULL, name VARCHAR, class VARCHAR);
CREATE TABLE IF NOT EXISTS parameters (parameter_id INTEGER NOT NULL, code VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS rulebooks (
    hash VARCHAR NOT NULL, name VARCHAR, version VARCHAR, effective DATE,
    yaml_text VARCHAR, catalogue_name VARCHAR, catalogue_bytes BLOB, installed_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS rulebook_parameters (
    rulebook_hash VARCHAR NOT NULL, parameter_id INTEGER NOT NULL, category_id INTEGER NOT NULL,
    category VARCHAR, points BIGINT, per_unit BOOLEAN, expiry_days INTEGER,
    min_confidence DOUBLE, verify_by_authority BOOLEAN, verify_reporters INTEGER,
    verify_window_days INTEGER, subjects VARCHAR, cap_period_days INTEGER,
    cap_max_deduction BIGINT, cap_max_addition BIGINT, cap_calendar_year BOOLEAN,
    repeat_factor DOUBLE, repeat_compound BOOLEAN, points_organisation BIGINT,
    points_representative BIGINT,
    bands_id INTEGER, validity_id INTEGER, direct_grade VARCHAR, direct_bit BIGINT,
    repairs_mask BIGINT, reduction BOOLEAN, reduction_from BIGINT, reduction_to BIGINT,
    reduction_once_days INTEGER, list_enter_mask BIGINT, list_leave_mask BIGINT, name VARCHAR);
CREATE TABLE IF NOT EXISTS rulebook_institutions (
    rulebook_hash VARCHAR NOT NULL, institution_id INTEGER NOT NULL, class VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS rulebook_permissions (
    rulebook_hash VARCHAR NOT NULL, parameter_id INTEGER NOT NULL, institution_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS {ENTRIES};
CREATE TABLE IF NOT EXISTS batches (
    batch_id INTEGER NOT NULL, institution_id INTEGER, source VARCHAR, rows BIGINT,
    first_entry BIGINT, last_entry BIGINT, arrived_at TIMESTAMP, rows_digest VARCHAR,
    prev_digest VARCHAR, digest VARCHAR);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER NOT NULL, rulebook_hash VARCHAR, as_of DATE, started_at TIMESTAMP,
    finished_at TIMESTAMP, last_entry BIGINT, subjects BIGINT, stats VARCHAR);
CREATE TABLE IF NOT EXISTS list_members (
    run_id INTEGER NOT NULL, list VARCHAR NOT NULL, subject_id BIGINT NOT NULL,
    cause VARCHAR NOT NULL, entry_id BIGINT, grade VARCHAR, start_day INTEGER, end_day INTEGER,
    via_subject BIGINT);
CREATE UNIQUE INDEX IF NOT EXISTS subjects_code ON subjects (code);
CREATE INDEX IF NOT EXISTS entries_subject ON entries (subject_id);
CREATE TABLE IF NOT EXISTS snapshot (
    run_id INTEGER NOT NULL, subject_id BIGINT NOT NULL, score BIGINT NOT NULL,
    grade VARCHAR NOT NULL, points_score BIGINT NOT NULL, direct_grade VARCHAR, stage VARCHAR,
    contagion BIGINT NOT NULL DEFAULT 0, contagion_contacts BIGINT NOT NULL DEFAULT 0);
"""
DDL = DDL.replace("{ENTRIES}", ENTRIES_DDL.format(table="entries"))
DDL += RUN_FACTORS_DDL + ";\n"


_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_LOCK = threading.Lock()


class _OrderGate:
    """Between statements that rely on DuckDB storing rows in the order it reads them and
    the inserts that turn that order off.

    A staged file's rows are numbered by where DuckDB stored them (``rowid``), and so are
    its entries; a large batch is inserted in any order (``append``), which DuckDB's
    setting allows for the whole database, every cursor of it. Stagings go through
    together (``kept``); such an insert waits for them and holds the gate alone (``off``).
    One for the process."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._keeping = 0
        self._off = False

    @contextmanager
    def kept(self) -> Iterator[None]:
        """Rows are stored in the order they are read while this is held."""
        with self._changed:
            self._changed.wait_for(lambda: not self._off)
            self._keeping += 1
        try:
            yield
        finally:
            with self._changed:
                self._keeping -= 1
                self._changed.notify_all()

    @contextmanager
    def off(self) -> Iterator[None]:
        """Nothing relies on insertion order while this is held."""
        with self._changed:
            self._changed.wait_for(lambda: not self._off and self._keeping == 0)
            self._off = True
        try:
            yield
        finally:
            with self._changed:
                self._off = False
                self._changed.notify_all()


ORDER_GATE = _OrderGate()


_VOUCHED: dict[str, set[tuple[str, Any]]] = {}


def vouched(store: Store) -> set[tuple[str, Any]]:
    """What this process has checked or written itself in the database since it opened it
    for writing (for example ``("run", 7)``: run 7's stored results match the digests the
    ledger recorded of them), as long as it holds it that way: no other process can write
    it meanwhile, so it need not check them again. Empty for a store opened read-only;
    forgotten each time the file is opened for writing."""
    return set() if store.read_only else _VOUCHED.setdefault(store.path, set())


_OPENINGS: dict[str, int] = {}


def openings(path: str) -> int:
    """How many times this process has opened the database at ``path`` for writing."""
    return _OPENINGS.get(path, 0)


def keep_per_opening(cache: dict[Any, Any], key: tuple[Any, ...], value: Any) -> None:
    """Keep ``value`` in ``cache`` under ``key``, whose first two items are a database's
    path and ``openings`` of it, forgetting what an earlier opening of that database kept
    (never asked again); nothing is kept for an in-memory database (another one may have
    the same path)."""
    if key[0] == ":memory:":
        return
    for old in [k for k in cache if k[0] == key[0] and k[1] != key[1]]:
        del cache[old]
    cache[key] = value


_COMMITTED: dict[str, int] = {}
"""Per database path, how many transactions this process has committed on it."""


def commits(path: str) -> int:
    """How many transactions this process has committed on the database at ``path`` (and
    how many times it opened it for writing).

    Every change that scores or decisions depend on (entries, runs, registries) is made in
    a transaction (``Store.transaction``); while this count stands still, a process that
    holds the database for writing (no other process can write it meanwhile) knows that
    nothing they depend on has changed, without reading a table.
    """
    return _COMMITTED.get(path, 0)


def remembered(store: Store, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """``make()``, remembered on this open store under ``key`` while nothing is committed
    on the database (the latest run, a run's grades with stored factors, a plan's
    registry ids).

    While a process holds a DuckDB file open, no other process can write it; the runs
    change only by this process's transactions, which ``commits`` counts.
    """
    seen = commits(store.path)
    known = store.cache.get("runs")
    if not isinstance(known, dict) or known.get("commits") != seen:
        known = store.cache["runs"] = {"commits": seen}
    if key not in known:
        known[key] = make()
    return known[key]


_UNITS = {"": 1, "b": 1, "bytes": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {f"{p}ib": 1024 ** (i + 1) for i, p in enumerate("kmgtpe")}


def setting_bytes(text: str) -> float:
    """Bytes in a DuckDB memory setting (``244.1 MiB``, ``256MB``); unknown means unbounded."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*([A-Za-z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        return float("inf")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def sql_string(text: str) -> str:
    """``text`` as an SQL string literal (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


KEPT_SETTINGS = ("threads", "temp_directory", "max_temp_directory_size")
"""DuckDB's settings that ``Store.reopen`` makes again on the database it opens (not its
memory limit: DuckDB shows it to three figures, so it cannot be put back exactly)."""


@dataclass
class Store:
    """An open socialrating database: its DuckDB connection, and an Ibis backend on the
    same connection when a scoring plan needs one (importing Ibis takes a fair part of a
    second, which a look-up or an ingest need not pay)."""

    path: str
    con: duckdb.DuckDBPyConnection
    read_only: bool = False
    _ibis: Any = field(default=None, repr=False)
    cache: dict[str, Any] = field(default_factory=dict, repr=False)
    """Things made once per open store (a look-up cursor); each closed with the store."""
    _depth: int = field(default=0, repr=False)
    _root: Store | None = field(default=None, repr=False)

    @property
    def root(self) -> Store:
        """The store this one is a cursor of (itself, if it is not a cursor): things kept
        across its cursors (a server's requests), such as planned look-ups, live there."""
        return self._root or self

    @property
    def ibis(self) -> Any:
        """The Ibis DuckDB backend on this store's connection (made on first use)."""
        if self._ibis is None:
            import ibis

            self._ibis = ibis.duckdb.from_connection(self.con)
        return self._ibis

    def run(self, query: str, params: list[Any] | None = None) -> None:
        """Execute a statement and finish its result."""
        self.con.execute(query, params or []).fetchall()

    def rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.con.execute(query, params or []).fetchall()

    def one(self, query: str, params: list[Any] | None = None) -> tuple[Any, ...] | None:
        rows = self.rows(query, params)
        return rows[0] if rows else None

    def scalar(self, query: str, params: list[Any] | None = None) -> Any:
        row = self.one(query, params)
        return None if row is None else row[0]

    def memory_limit(self) -> str:
        """DuckDB's memory limit for the database now, as DuckDB words it ("9.3 GiB")."""
        return str(self.scalar("SELECT current_setting('memory_limit')"))

    def arrow(self, query: str, params: list[Any] | None = None) -> pa.Table:
        return self.con.sql(query, params=params or None).to_arrow_table()

    def cursor(self) -> Store:
        """A connection of its own to the same database (a request's, a thread's): its
        own transactions and temporary tables."""
        return Store(self.path, self.con.cursor(), self.read_only, _root=self.root)

    @property
    def main(self) -> str:
        """The database's own schema, qualified: a table named through it is the stored
        one, even where a temporary table of the same name shadows it (the schema of
        temporary tables is called ``main`` too)."""
        return f'"{self.scalar("SELECT current_database()")}".main'

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer at a time, in this process, on this database (threads of a server,
        each on a cursor of its own).

        Entry and batch numbers are the next after the last committed, and an idempotency
        key counts once only if no other batch stores it meanwhile: DuckDB would let two
        transactions append the same numbers, so writers take turns. Reentrant; readers and
        the access log never take it.
        """
        with _WRITE_LOCKS_LOCK:
            lock = _WRITE_LOCKS.setdefault(self.path, threading.RLock())
        with lock:
            yield

    def has_table(self, table: str) -> bool:
        """Whether the database itself (not the temporary schema) has table ``table``."""
        return bool(
            self.scalar(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ? "
                "AND table_schema = 'main' AND table_catalog = current_database()",
                [table],
            )
        )

    @property
    def in_transaction(self) -> bool:
        """Whether a ``transaction`` block of this store is under way."""
        return self._depth > 0

    @contextmanager
    def transaction(self, counted: bool = True) -> Iterator[None]:
        """All or nothing: commit when the block ends, roll back if it raises.

        A transaction that changes what scores or decisions depend on is ``counted``
        (``commits``) and waits for its turn (``writing``); one that does not (the access
        log) neither.

        Inside another transaction of this store, the block is part of that one, which
        commits or rolls back the whole (a digest recorded after a change goes with it).
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        with self.writing() if counted else nullcontext():
            self.run("BEGIN TRANSACTION")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._depth = 0
                self.run("ROLLBACK")
                raise
            self._depth = 0
            self.run("COMMIT")
            if counted:
                _COMMITTED[self.path] = _COMMITTED.get(self.path, 0) + 1

    def close(self) -> None:
        for thing in self.cache.values():
            if hasattr(thing, "close"):
                thing.close()
        self.cache.clear()
        self.con.close()

    def reopen(self) -> None:
        """Close the database and open it again, as this same store: a DuckDB instance of
        its own again, holding nothing it held (DuckDB keeps an index it changed in memory
        and cannot spill it: a simulation opens its ledger again before a run when that
        index crowds DuckDB's memory, ``living.INDEX_SHARE``). What the process knew of
        the database (checked runs, kept plans) is forgotten, as at any opening; the
        settings someone may have made (``KEPT_SETTINGS``) are made again, but for the
        memory limit. A file only: an in-memory database would be lost."""
        if self._root is not None or self._depth or self.path == ":memory:":
            raise ValueError(
                "only a store of a file, outside a transaction and not a cursor, can reopen"
            )
        kept = {name: self.scalar(f"SELECT current_setting('{name}')") for name in KEPT_SETTINGS}
        self.close()
        fresh = open_store(self.path, read_only=self.read_only)
        for name, value in kept.items():
            if fresh.scalar(f"SELECT current_setting('{name}')") != value:
                fresh.run(f"SET {name} = {sql_string(str(value))}")
        self.con, self._ibis, self.cache = fresh.con, None, fresh.cache

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def initialised(self) -> bool:
        return (
            bool(
                self.scalar(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
                )
            )
            and self.scalar("SELECT value FROM meta WHERE key = 'schema'") is not None
        )

    def require_initialised(self) -> None:
        if not self.initialised:
            raise NotInitialised(
                f"{self.path} holds no ledger yet: run `socialrating init` (or `--db` to "
                "choose another file)"
            )
        self.require_current()

    def upgrade(self) -> None:
        """Bring a database of an earlier format up to this one, where that is an extension
        (``UPGRADES``); each step is one transaction."""
        found = self.scalar("SELECT value FROM meta WHERE key = 'schema'")
        while found in UPGRADES:
            target, statements = UPGRADES[found]
            with self.transaction():
                for statement in statements:
                    self.run(statement)
                if found in UPGRADE_STEPS:
                    UPGRADE_STEPS[found](self)
                self.run("UPDATE meta SET value = ? WHERE key = 'schema'", [target])
            found = target

    def require_current(self) -> None:
        """Refuse a database written by another version of the ledger format."""
        found = self.scalar("SELECT value FROM meta WHERE key = 'schema'")
        if found is not None and found != SCHEMA_VERSION:
            raise LedgerFormatError(
                f"{self.path} was written in ledger format {found}; this version reads format "
                f"{SCHEMA_VERSION}: open it for writing to upgrade it in place where that is an "
                "extension; otherwise (its digests differ) start a new database, for example "
                "with `socialrating demo --db NEW.duckdb`"
            )

    def create_schema(self) -> None:
        for statement in DDL.split(";"):
            if statement.strip():
                self.run(statement)
        self.run(
            "INSERT INTO meta SELECT 'schema', ? WHERE NOT EXISTS "
            "(SELECT 1 FROM meta WHERE key = 'schema')",
            [SCHEMA_VERSION],
        )

    def next_id(self, table: str, column: str) -> int:
        return int(self.scalar(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}"))


def open_store(path: str | Path, *, create: bool = False, read_only: bool = False) -> Store:
    """Open (and with ``create``, set up) the database at ``path``.

    Raises:
        NotInitialised: the file has no ledger and ``create`` is false.
        LedgerError: the file cannot be opened (for example, another process holds it).
    """
    path = str(path)
    # A malformed setting is refused before the file is opened (only a writer uses it).
    checkpoint_mb = None if read_only else CHECKPOINT_MB.count()
    if not create and path != ":memory:" and not Path(path).exists():
        raise NotInitialised(
            f"no database at {path}: run `socialrating init` first (or `--db` to choose a file)"
        )
    try:
        con = duckdb.connect(path, read_only=read_only)
    except duckdb.Error as exc:
        held = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(exc))
        if "Could not set lock" in str(exc):
            by = f" ({held.group(1)}, PID {held.group(2)})" if held else ""
            raise LedgerError(
                f"{path} is in use by another process{by}: a database open for writing (a "
                "score, an ingest, a demo) cannot be opened by another process until it is "
                "done; try again when it has finished"
            ) from None
        raise LedgerError(f"cannot open {path}: {exc}") from exc
    # One name for one file, whatever the spelling (``a.duckdb``, ``./a.duckdb``, its
    # absolute path, a link to it): what this process knows of a database (its write lock,
    # its openings, the caches keyed by them) is known by its path.
    path = path if path == ":memory:" else os.path.realpath(path)
    store = Store(path, con, read_only)
    if not read_only:
        # Another process may have changed it while this one did not hold it: what this
        # one knew of it is forgotten, and the counts of its commits and openings move.
        _VOUCHED.pop(path, None)
        _COMMITTED[path] = _COMMITTED.get(path, 0) + 1
        _OPENINGS[path] = _OPENINGS.get(path, 0) + 1
    # As Ibis sets up its own connections: times in UTC, and no Python variables read as
    # tables by name (every table a query reads is registered on purpose).
    store.run("SET TimeZone = 'UTC'")
    store.run("SET python_enable_replacements = false")
    # DuckDB draws its own progress bar on long queries; the CLI draws ours.
    store.run("SET enable_progress_bar = false")
    if checkpoint_mb is not None:
        # A checkpoint rewrites the table's newest row groups (merging small ones), and a
        # commit that reaches the threshold makes it, inside a batch's turn: at DuckDB's
        # 16 MB, every sixth batch of 10,000 records did (settings.CHECKPOINT_MB).
        store.run(f"SET checkpoint_threshold = '{checkpoint_mb}MB'")
    try:
        if create:
            if not read_only and store.initialised:
                store.upgrade()
            store.create_schema()
            store.require_current()
        else:
            if not read_only and store.initialised:
                store.upgrade()
            store.require_initialised()
            if not read_only:
                store.create_schema()  # adds tables that a newer version introduced
    except BaseException:
        store.close()
        raise
    return store
