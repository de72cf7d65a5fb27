"""Parity: the scoring plans run on a real PostgreSQL server give what they give on DuckDB.

For each scenario rulebook (``parity``: every mechanic), the drawn ledger is scored in
full on DuckDB; its tables are copied to the server, and the server computes the whole
run (the snapshot, stored there under a run id of its own, then the lists from it) and
the statements of the busiest subjects, in one query and stage by stage: the same rows,
value for value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.backends.parity import (
    ENGINE_RUN,
    after_each_stage,
    assert_same_run,
    assert_same_statements,
    counting_stages,
    drawn_ledger,
)
from tests.pgserver import postgres_server
from tests.scoring.test_incremental import SCENARIOS

from socialrating.backends.engine import BackendError, score
from socialrating.backends.postgres import PostgresPlans, copy_tables
from socialrating.ledger import open_store
from socialrating.ledger.rulebooks import in_force
from socialrating.model import day_number
from socialrating.scoring import score_run
from socialrating.scoring.mechanics import stages
from socialrating.scoring.plans import plan_inputs

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def stage_widths(plans: PostgresPlans) -> dict[str, int]:
    """The number of columns of each stage ``plans`` keeps from now on."""
    widths: dict[str, int] = {}

    def measured(name: str) -> None:
        found = plans.con.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = %s", (name,)
        ).fetchone()
        assert found is not None
        widths[name] = int(found[0])

    after_each_stage(plans, measured)
    return widths


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


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
            kept = counting_stages(plans)
            widths = stage_widths(plans)
            # Each shared part of the query selects only the columns read of it: no
            # part of the scores reads a record's evidence or digests.
            one_query = plans.sql(rb, "scores", as_of)
            assert "evidence" not in one_query and "payload_digest" not in one_query
            # In one query, and stage by stage: each mechanic, the records, the scores
            # and each contagion round computed into a table of its own first.
            for staged in (False, True):
                run = score(plans, rb, as_of, result.run_id + ENGINE_RUN, staged=staged)
                assert_same_run(store, rb, as_of, result.run_id, run)
                assert bool(kept) == staged  # records and scores at least, when staged
            assert {k.split("_", 2)[2] for k in kept} >= {"records", "scores"}
            # What every evaluation reads (the voided records, the reports' states, the
            # representatives) is staged once a plan: its stages are numbered from 1.
            plans_staged: list[list[str]] = []
            for k in kept:
                if k.startswith("stage_1_"):
                    plans_staged.append([])
                plans_staged[-1].append(k.split("_", 2)[2])
            assert plans_staged[0].count("voids") == 1  # the scores (then the lists)
            for labels in plans_staged:
                for shared in ("voids", "reports", "representatives"):
                    assert labels.count(shared) <= 1, labels
                # The records with an act id, and which of them an act absorbs, read by the
                # plain stream, the special records and the reductions: staged once for
                # each set of records evaluated (a limit evaluates those of linked ones).
                records = labels.count("records")
                assert labels.count("acts") == labels.count("absorbed") == records, labels
                # The reductions read the balances three times, the lists the records of
                # list parameters once or twice a list: each computed once.
                assert labels.count("balances") == labels.count("reductions"), labels
                assert labels.count("listed") <= 1, labels
            if any(p.reduction is not None for p in rb.spec.parameters):
                assert "balances" in plans_staged[0]
            if any(lst.enter_by for lst in rb.spec.lists):
                assert any("listed" in labels for labels in plans_staged)
            if rb.spec.contagion is not None:
                assert sum(k.endswith("_contagion") for k in kept) >= rb.spec.contagion.rounds
            # A stage holds the columns read after it: of the evaluated records, the few
            # the scores read (their explanations are for statements).
            records = len(stages(plan_inputs(store, rb), 0).records.columns)
            narrowest = min(w for k, w in widths.items() if k.endswith("_records"))
            assert 0 < narrowest < records / 3, (widths, records)
            left = plans.con.execute(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'stage_%'"
            ).fetchone()
            assert left == (0,)  # the stages' tables are dropped after the run
            stored = plans.con.execute(
                "SELECT count(*) FROM snapshot WHERE run_id = %s", (result.run_id + ENGINE_RUN,)
            ).fetchone()
            assert stored == (run.snapshot.num_rows,)
            for staged in (False, True):
                assert_same_statements(store, rb, as_of, plans, staged=staged)
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


def test_a_column_without_a_postgresql_type_is_named(pg_url: str, tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.duckdb", create=True)
    try:
        store.run("CREATE TABLE odd (id BIGINT, tags VARCHAR[])")
        with pytest.raises(BackendError, match=r"column odd\.tags has DuckDB type VARCHAR\[\]"):
            copy_tables(store, pg_url, schema="odd", tables=["odd"])
    finally:
        store.close()


def test_a_schema_that_is_not_a_plain_name_is_refused(pg_url: str, tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.duckdb", create=True)
    try:
        for bad in ('x"; DROP SCHEMA public; --', "9lives", ""):
            with pytest.raises(BackendError, match="is not a plain name"):
                copy_tables(store, pg_url, schema=bad)
            with pytest.raises(BackendError, match="is not a plain name"):
                PostgresPlans(store, pg_url, schema=bad)
    finally:
        store.close()
