"""Parity: the scoring plans run by a real Spark session (local, two cores) give what
they give on DuckDB.

For a few scenario rulebooks (``parity``: the pilot mechanics, joint punishment,
contagion, measures and their percentiles), the drawn ledger is scored in full on DuckDB;
its tables are written to a warehouse as Parquet, and Spark computes the whole run stage
by stage (the snapshot, written to the warehouse as the run's partition, then the lists
from it), and for the pilot mechanics the statement of the busiest subject: the same
rows, value for value.
Spark takes seconds a query even on a handful of rows, so only these few scenarios run
here; the PostgreSQL parity covers them all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.backends.parity import (
    ENGINE_RUN,
    assert_same_run,
    assert_same_statements,
    counting_stages,
    drawn_ledger,
)

from socialrating.backends.engine import BackendError, score
from socialrating.backends.spark import SNAPSHOT_TYPES, SparkPlans, copy_tables
from socialrating.ledger import open_store
from socialrating.ledger.rulebooks import in_force
from socialrating.model import day_number
from socialrating.scoring import score_run
from socialrating.scoring.run import SNAPSHOT_COLUMNS

pytestmark = [
    pytest.mark.spark,
    pytest.mark.slow,
    # py4j leaves the sockets to Spark's JVM for the process's end.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.mark.parametrize("name", ["pilot", "consequences", "contagion", "measures"])
def test_a_run_on_spark_equals_the_run_on_duckdb(tmp_path: Path, name: str) -> None:
    store, as_of = drawn_ledger(name, tmp_path / "ledger.duckdb", tmp_path)
    try:
        result = score_run(store, as_of, full=True)
        rb = in_force(store, day_number(as_of))
        warehouse = tmp_path / "warehouse"
        copied = copy_tables(store, warehouse)
        assert copied["entries"] == store.scalar("SELECT count(*) FROM entries") > 0
        # The entries as a directory per day, the snapshot one per run.
        days = store.scalar("SELECT count(DISTINCT day) FROM entries")
        assert len(list((warehouse / "entries").glob("day=*"))) == days
        with SparkPlans(store, warehouse) as plans:
            kept = counting_stages(plans)
            run = score(plans, rb, as_of, result.run_id + ENGINE_RUN, staged=True)
            assert_same_run(store, rb, as_of, result.run_id, run)
            assert {k.split("_", 2)[2] for k in kept} >= {"records", "scores"}
            assert (warehouse / "snapshot" / f"run_id={result.run_id + ENGINE_RUN}").is_dir()
            assert not [t for t in plans.spark.catalog.listTables() if "stage_" in t.name]
            if name == "pilot":  # the mechanics explained line by line
                assert_same_statements(store, rb, as_of, plans, staged=True, subjects=1)
    finally:
        store.close()


def test_a_warehouse_without_the_tables_says_so(tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.duckdb", create=True)
    try:
        with pytest.raises(BackendError, match="copy the ledger's tables there first"):
            SparkPlans(store, tmp_path / "empty")
    finally:
        store.close()


def test_the_copy_replaces_a_table_whole(tmp_path: Path) -> None:
    store, _ = drawn_ledger("tiny", tmp_path / "ledger.duckdb", tmp_path)
    try:
        warehouse = tmp_path / "warehouse"
        first = copy_tables(store, warehouse, tables=["subjects"])
        store.run("DELETE FROM subjects WHERE code = 'C3'")
        second = copy_tables(store, warehouse, tables=["subjects"])
        assert second["subjects"] == first["subjects"] - 1
        import pyarrow.parquet as pq

        assert pq.read_table(warehouse / "subjects").num_rows == second["subjects"]
        assert sorted(p.name for p in warehouse.iterdir()) == ["subjects"]  # no leftovers
    finally:
        store.close()


def test_a_ledger_never_scored_is_scored_on_spark(tmp_path: Path) -> None:
    """No snapshot yet: the empty tables are registered with the ledger's columns."""
    store, as_of = drawn_ledger("tiny", tmp_path / "ledger.duckdb", tmp_path)
    try:
        rb = in_force(store, day_number(as_of))
        warehouse = tmp_path / "warehouse"
        assert copy_tables(store, warehouse)["snapshot"] == 0
        with SparkPlans(store, warehouse) as plans:
            run = score(plans, rb, as_of, 1, staged=True)
        duck = score_run(store, as_of, full=True)
        assert_same_run(store, rb, as_of, duck.run_id, run)
    finally:
        store.close()


def test_a_file_where_a_table_goes_is_left_alone(tmp_path: Path) -> None:
    store = open_store(tmp_path / "x.duckdb", create=True)
    try:
        warehouse = tmp_path / "warehouse"
        warehouse.mkdir()
        (warehouse / "subjects").write_text("notes", encoding="utf-8")
        with pytest.raises(BackendError, match="is not a table's directory"):
            copy_tables(store, warehouse, tables=["subjects"])
        assert (warehouse / "subjects").read_text(encoding="utf-8") == "notes"
        assert [p.name for p in warehouse.iterdir()] == ["subjects"]
    finally:
        store.close()


def test_the_snapshot_is_written_in_the_ledgers_columns() -> None:
    assert list(SNAPSHOT_TYPES) == SNAPSHOT_COLUMNS.split(", ")
