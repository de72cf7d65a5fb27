"""Spark: the ledger's tables as Parquet in a warehouse, and the scoring plans run by a
Spark session (a cluster's master, ``spark://host:7077``, or ``local[N]`` on this machine).

A nation's information centre runs on a cluster. This module holds what is particular
to Spark:

- ``copy_tables``: the tables a scoring plan reads, written from a DuckDB ledger as
  Parquet into the warehouse directory, one directory a table; the entries partitioned
  by day (``day=N/``: a day's records are added as a directory of their own, and a run
  as of a day reads no later one), the snapshot by run (``run_id=N/``: a run writes its
  own);
- ``SparkPlans``: the same Ibis plans as the embedded engine's, compiled for Spark SQL
  and run stage by stage (``engine.score(..., staged=True)``). Spark's optimiser copies
  every shared sub-expression into each place that reads it, so the plan in one query
  (17 scans as written) becomes tens of thousands of scans and runs out of memory; each
  stage is computed once instead, and kept with ``localCheckpoint``, which also cuts its
  lineage.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from socialrating.backends.engine import (
    PLAN_TABLES,
    BackendError,
    EnginePlans,
)
from socialrating.ledger.store import Store, sql_string

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

PARTITIONS = {"entries": "day", "snapshot": "run_id"}
"""The column each table's directory is partitioned by (the others: one directory)."""

SETTINGS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # A stage's shuffles: a few partitions per core (the default 200 makes a small run
    # spend its time scheduling empty tasks).
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
}


def session(master: str = "local[2]", memory: str = "2g") -> SparkSession:
    """The process's Spark session on ``master`` (made on first use; the driver's
    ``memory`` applies only then).

    Raises:
        BackendError: Spark cannot start (no Java runtime, a master that cannot be
            reached), with its own words.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise BackendError(
            "Spark needs PySpark: pip install 'socialrating[spark]' (and a Java runtime)"
        ) from e

    builder = SparkSession.builder.master(master).appName("socialrating")
    builder = builder.config("spark.driver.memory", memory)
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    if master.startswith("local"):  # all on this machine: listen on loopback only
        builder = builder.config("spark.driver.host", "127.0.0.1")
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1")
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # a JVM that cannot start raises plain exceptions
        raise BackendError(f"cannot start Spark on {master}: {e}") from e
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def copy_tables(
    store: Store,
    warehouse: str | Path,
    *,
    tables: Iterable[str] = PLAN_TABLES,
    progress: Callable[[str, int, float], None] | None = None,
) -> dict[str, int]:
    """Write ``tables`` of the DuckDB ledger ``store`` as Parquet into ``warehouse``
    (one directory a table, replaced whole); returns the rows written, by table.

    Each table is written into a new directory beside the old one, which then takes its
    place by two renames: between them, for an instant, the table is missing, and a
    session that read the old files must register the table again (``SparkPlans`` does
    at its start). The copy replaces the warehouse's snapshots with the ledger's.

    Raises:
        BackendError: the warehouse holds something that is not a table's directory
            where a table goes.
    """
    root = Path(warehouse)
    root.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for table in tables:
        started = time.perf_counter()
        target = root / table
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise BackendError(f"{target} is not a table's directory: move it away first")
        fresh = root / f".{table}-{uuid.uuid4().hex[:8]}"
        by = PARTITIONS.get(table)
        try:
            if by is None:
                fresh.mkdir()
                written = sql_string(str(fresh / "part-0.parquet"))
                store.run(f"COPY {table} TO {written} (FORMAT parquet)")
            else:
                written = sql_string(str(fresh))
                store.run(f"COPY {table} TO {written} (FORMAT parquet, PARTITION_BY ({by}))")
                fresh.mkdir(exist_ok=True)  # an empty table writes no directory
            # Counted from the files written, not from the ledger.
            files = sql_string(str(fresh / "**" / "*.parquet"))
            counts[table] = (
                int(store.scalar(f"SELECT count(*) FROM read_parquet({files})"))
                if any(fresh.rglob("*.parquet"))
                else 0
            )
        except BaseException:
            shutil.rmtree(fresh, ignore_errors=True)
            raise
        old = root / f".{table}-old-{uuid.uuid4().hex[:8]}"
        if target.exists():
            target.rename(old)
        fresh.rename(target)
        if old.exists():
            shutil.rmtree(old)
        if progress is not None:
            progress(table, counts[table], time.perf_counter() - started)
    return counts


SNAPSHOT_TYPES = {
    "subject_id": "BIGINT",
    "score": "BIGINT",
    "grade": "STRING",
    "points_score": "BIGINT",
    "direct_grade": "STRING",
    "stage": "STRING",
    "contagion": "BIGINT",
    "contagion_contacts": "BIGINT",
}
"""The snapshot's columns in the ledger's types (every run's files must agree)."""


@dataclass
class SparkPlans(EnginePlans):
    """The scoring plans run by a Spark session on the warehouse's copy of the ledger's
    tables (``copy_tables``). Run them stage by stage (``staged=True``).

    Each plan has a session of its own on the process's Spark context (its own views and
    stages: two plans in one process never meet). A path on this machine's file system
    names the warehouse, so a cluster needs it mounted at the same path on every node.
    """

    warehouse: str | Path
    master: str = "local[2]"
    memory: str = "2g"
    spark: SparkSession = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import ibis

        root = Path(self.warehouse)
        missing = [t for t in PLAN_TABLES if not (root / t).is_dir()]
        if missing:
            raise BackendError(
                f"the warehouse {root} has no table {', '.join(missing)}: copy the "
                "ledger's tables there first"
            )
        self.spark = session(self.master, self.memory).newSession()
        for table in PLAN_TABLES:
            self._register(table)
        self.ibis = ibis.pyspark.connect(self.spark)

    def _register(self, table: str) -> None:
        path = Path(self.warehouse) / table
        reader = self.spark.read.option("basePath", str(path))
        frame = reader.parquet(str(path)) if any(path.rglob("*.parquet")) else None
        if frame is None:  # an empty table: its columns from the ledger
            from pyspark.sql.pandas.types import from_arrow_schema

            columns = self.store.arrow(f"SELECT * FROM {table} LIMIT 0")
            frame = self.spark.createDataFrame([], schema=from_arrow_schema(columns.schema))
        frame.createOrReplaceTempView(table)

    def close(self) -> None:
        """Drop this plan's views; the Spark context stays for the process (it takes
        seconds to start)."""
        for table in PLAN_TABLES:
            self.spark.catalog.dropTempView(table)

    def keep(self, name: str, sql: str) -> None:
        self.spark.sql(sql).localCheckpoint(eager=True).createOrReplaceTempView(name)

    def forget(self, name: str) -> None:
        self.spark.catalog.dropTempView(name)

    def query(self, sql: str) -> pa.Table:
        return self.spark.sql(sql).toArrow()

    def store_snapshot(self, run_id: int, sql: str) -> None:
        path = Path(self.warehouse) / "snapshot" / f"run_id={int(run_id)}"
        typed = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in SNAPSHOT_TYPES.items())
        rows = self.spark.sql(f"SELECT {typed} FROM ({sql}) AS s")
        rows.write.mode("overwrite").parquet(str(path))
        self._register("snapshot")
