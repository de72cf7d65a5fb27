"""Parity: the scoring plans run on a real PostgreSQL server give what they give on DuckDB.

For each rulebook of the incremental property test (every mechanic: caps, expiry,
reports and verifications, camera confidence, list terms, bars and extensions, joint
punishment two links deep, contagion in two rounds, the pilot mechanics, measures and
their alerts, records passed across links, grade limits, calendar validity, staged
measures; half of them with a second version in force from a later day, valuing older
records by the first), a ledger is drawn with a fixed seed, some of its records appealed,
and scored in full on DuckDB. Its tables are copied to the server, and the server computes
the whole run (the snapshot, then the lists from it) and the statement of some subjects:
the same rows, value for value; and the same run again stage by stage.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from tests.pgserver import postgres_server
from tests.scoring.test_incremental import (
    BACKGROUND,
    SCENARIOS,
    amend,
    appeal_records,
    feed_all,
    rows_of,
)

from socialrating.backends.engine import BackendError, score
from socialrating.backends.postgres import PostgresPlans, copy_tables
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.ledger.rulebooks import in_force
from socialrating.model import day_number
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run
from socialrating.scoring.compiled import run_plan
from socialrating.scoring.run import SNAPSHOT_COLUMNS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SCORED_AFTER = {"court-terms": 150}
"""Days after the scenario's start to score its drawn ledger (default 420): a day when
somebody is on one of its lists, so that the lists are compared on something."""


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def drawn_ledger(name: str, path: Path, tmp: Path) -> tuple[Store, dt.date]:
    """The scenario's ledger, drawn with a seed of its name; and the day to score it."""
    rulebook, (subjects, _), start = SCENARIOS[name]
    rng = random.Random(zlib.crc32(name.encode()))
    store = open_store(path, create=True)
    activate_rulebook(store, load_rulebook(rulebook))
    if sorted(SCENARIOS).index(name) % 2:  # a second version, from 300 days on
        amend(store, rulebook, 300, tmp)
    codes, kinds, born = zip(*subjects, strict=True)
    register_subjects(store, pa.table({"code": codes, "kind": kinds, "born": born}))
    feed_all(store, BACKGROUND.get(name, []))
    draws = [
        (rng.randint(0, 50), rng.randint(0, 50), rng.randint(-20, 500), rng.randint(0, 50))
        for _ in range(60)
    ]
    feed_all(store, rows_of(name, draws))
    appeal_records(store, [(rng.randint(0, 80), rng.random() < 0.5) for _ in range(3)])
    return store, start + dt.timedelta(days=SCORED_AFTER.get(name, 420))


def _rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows in a stable order (None first in each column)."""
    rows = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows, key=lambda r: tuple((v is not None, str(v)) for v in r))


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_run_on_postgresql_equals_the_run_on_duckdb(
    pg_url: str, tmp_path: Path, name: str
) -> None:
    store, as_of = drawn_ledger(name, tmp_path / "ledger.duckdb", tmp_path)
    try:
        result = score_run(store, as_of, full=True)
        rb = in_force(store, day_number(as_of))
        schema = name.replace("-", "_")
        copied = copy_tables(store, pg_url, schema=schema)
        assert copied["entries"] == store.scalar("SELECT count(*) FROM entries") > 0
        with PostgresPlans(store, pg_url, schema=schema) as plans:
            on_server = score(plans, rb, as_of, result.run_id)
            snapshot = store.arrow(
                f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE run_id = ? ORDER BY subject_id",
                [result.run_id],
            )
            assert snapshot.num_rows == len(SCENARIOS[name][1][0])
            # Stage by stage too: each mechanic, the records, the scores and each
            # contagion round computed into a table of its own first.
            staged = score(plans, rb, as_of, result.run_id, staged=True)
            for run in (on_server, staged):
                assert run.snapshot.to_pylist() == snapshot.to_pylist()
            if rb.spec.lists:
                lists = run_plan(store, rb, "run_lists", day_number(as_of), None, result.run_id)
                assert lists.num_rows > 0
                for run in (on_server, staged):
                    assert _rows(run.lists) == _rows(lists)
            left = plans.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE 'stage_%'"
            ).fetchone()
            assert left == (0,)  # the stages' tables are dropped after the run
            # A statement's lines, for a few subjects (those with the most records).
            busiest = store.rows(
                """SELECT subject_id FROM entries WHERE kind = 1 GROUP BY 1
                   ORDER BY count(*) DESC, 1 LIMIT 2"""
            )
            for (subject_id,) in busiest:
                lines = run_plan(store, rb, "statement", day_number(as_of), subject_id)
                assert lines.num_rows > 0
                served = plans.arrow(rb, "statement", as_of, subject_id)
                assert _rows(served) == _rows(lines)
    finally:
        store.close()


def test_the_copy_is_typed_keyed_and_replaced_whole(pg_url: str, tmp_path: Path) -> None:
    store, _ = drawn_ledger("tiny", tmp_path / "ledger.duckdb", tmp_path)
    try:
        store.run("UPDATE subjects SET region = '' WHERE code = 'C1'")  # empty, not null
        copy_tables(store, pg_url, schema="typed")
        copy_tables(store, pg_url, schema="typed")  # again: replaced, not appended
        import psycopg

        with psycopg.connect(pg_url) as con:
            types = dict(
                con.execute(
                    """SELECT column_name, data_type FROM information_schema.columns
                       WHERE table_schema = 'typed' AND table_name = 'entries'"""
                ).fetchall()
            )
            assert types["entry_id"] == "bigint"
            assert types["day"] == "integer"
            assert types["quantity"] == "double precision"
            assert types["arrived_at"] == "timestamp without time zone"
            count = con.execute("SELECT count(*) FROM typed.entries").fetchone()
            assert count == (store.scalar("SELECT count(*) FROM entries"),)
            regions = con.execute(
                "SELECT code, region FROM typed.subjects WHERE code IN ('C1', 'C2') ORDER BY 1"
            ).fetchall()
            assert regions == [("C1", ""), ("C2", None)]
            keys = con.execute(
                """SELECT count(*) FROM information_schema.table_constraints
                   WHERE table_schema = 'typed' AND constraint_type = 'PRIMARY KEY'"""
            ).fetchone()
            assert keys == (7,)  # every plan table but list_members
    finally:
        store.close()


def test_plans_on_a_schema_without_the_tables_say_so(pg_url: str, tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.duckdb", create=True)
    try:
        with pytest.raises(BackendError, match="copy the ledger's tables there first"):
            PostgresPlans(store, pg_url, schema="nothing_here")
    finally:
        store.close()


def test_an_unreachable_server_is_one_clear_error(tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.duckdb", create=True)
    try:
        url = "postgresql://someone:secret@127.0.0.1:1/none"
        with pytest.raises(BackendError, match="cannot reach PostgreSQL at") as caught:
            copy_tables(store, url)
        assert "secret" not in str(caught.value)  # the password is not repeated
    finally:
        store.close()
