"""Benchmark: the same ledger scored on each engine, DuckDB (the reference) and PostgreSQL.

The ledger is the bench's (``common.bench_store``: the seed with its pilot mechanics,
five lists with joint punishment, contagion; 2 million records by default). On each
engine the same work is timed, best of ``--repeat``: the whole run's scores written into
a table on the engine, then the lists computed from them. DuckDB runs its compiled plan
in the ledger's own file; PostgreSQL runs the same Ibis plan, compiled for it, on a copy
of the ledger's tables (``socialrating.backends.postgres.copy_tables``; its time is
printed too). The snapshots and list members must be identical.

The server is a throwaway one (tests/pgserver.py) unless ``--postgres URL`` names one.
Usage:

    python bench/backends.py [--records 2000000] [--subjects 200000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import AS_OF, bench_store, log
from socialrating.backends.engine import score
from socialrating.backends.postgres import PostgresPlans, copy_tables
from socialrating.ledger import Store
from socialrating.ledger.rulebooks import in_force
from socialrating.model import day_number
from socialrating.rulebook import RulebookHeader
from socialrating.scoring import score_run
from socialrating.scoring.compiled import bind, compiled
from socialrating.scoring.run import LIST_COLUMNS, SNAPSHOT_COLUMNS

TARGET = 3.0
"""Issue 16: PostgreSQL within 3x of DuckDB on this ledger."""


def best_of(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def on_duckdb(store: Store, rb: RulebookHeader, run_id: int) -> dict[str, float]:
    """The scores into a table, then the lists of run ``run_id`` (the same scores)."""
    day = day_number(AS_OF)
    seconds = {}
    started = time.perf_counter()
    store.run(
        f"CREATE OR REPLACE TEMP TABLE bench_scores AS SELECT {SNAPSHOT_COLUMNS} "
        f"FROM ({bind(compiled(store, rb, 'scores'), day)})"
    )
    seconds["scores"] = time.perf_counter() - started
    started = time.perf_counter()
    store.arrow(bind(compiled(store, rb, "run_lists"), day, None, run_id))
    seconds["lists"] = time.perf_counter() - started
    return seconds


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    if url is not None:
        yield url
        return
    from tests.pgserver import postgres_server

    with postgres_server() as started:
        yield started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=2_000_000)
    ap.add_argument("--subjects", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--postgres", metavar="URL", help="a server to use [default: start one]")
    args = ap.parse_args()

    store, _ = bench_store(args.records, args.subjects)
    log("DuckDB: a full run (stored, compiles the plans), then the timed plans")
    run = score_run(store, AS_OF, full=True)
    rb = in_force(store, day_number(AS_OF))
    duck_best: dict[str, float] = {}
    for _ in range(args.repeat):
        for part, s in on_duckdb(store, rb, run.run_id).items():
            duck_best[part] = min(s, duck_best.get(part, s))
    duck = sum(duck_best.values())
    log(f"  scores {duck_best['scores']:.2f} s, lists {duck_best['lists']:.2f} s")

    with server(args.postgres) as url:
        log("PostgreSQL: copying the plan's tables (COPY, keys, ANALYZE)")
        started = time.perf_counter()
        copied = copy_tables(store, url)
        copy_seconds = time.perf_counter() - started
        log(f"  {sum(copied.values()):,} rows in {copy_seconds:.1f} s")
        with PostgresPlans(store, url) as plans:
            log("PostgreSQL: compiling the plans (not timed)")
            plans.sql(rb, "scores", AS_OF)
            plans.sql(rb, "run_lists", AS_OF, None, run.run_id)
            pg_best: dict[str, float] = {}
            staged_best: dict[str, float] = {}
            result = staged_result = None
            for _ in range(args.repeat):
                result = score(plans, rb, AS_OF, run.run_id)
                for part, s in result.seconds.items():
                    pg_best[part] = min(s, pg_best.get(part, s))
                staged_result = score(plans, rb, AS_OF, run.run_id, staged=True)
                for part, s in staged_result.seconds.items():
                    staged_best[part] = min(s, staged_best.get(part, s))
            assert result is not None and staged_result is not None
    pg, pg_staged = sum(pg_best.values()), sum(staged_best.values())
    log(f"  scores {pg_best['scores']:.2f} s, lists {pg_best['lists']:.2f} s")
    log(f"  staged: scores {staged_best['scores']:.2f} s, lists {staged_best['lists']:.2f} s")

    snapshot = store.arrow(
        f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE run_id = ? ORDER BY subject_id",
        [run.run_id],
    )
    lists = store.arrow(bind(compiled(store, rb, "run_lists"), day_number(AS_OF), None, run.run_id))

    def rows(table: Any) -> list[tuple[Any, ...]]:
        return sorted(
            (tuple(r.values()) for r in table.to_pylist()),
            key=lambda r: tuple((v is not None, str(v)) for v in r),
        )

    same = result.snapshot.to_pylist() == snapshot.to_pylist() and rows(result.lists) == rows(lists)
    n = args.records
    print()
    print(f"{n:,} records, {args.subjects:,} subjects, the seed; best of {args.repeat}")
    print()
    print("| engine | scores | lists | records per second | x DuckDB's time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| DuckDB (the ledger's file) | {duck_best['scores']:.2f} s | "
        f"{duck_best['lists']:.2f} s | {n / duck:,.0f} | 1.00x |"
    )
    print(
        f"| PostgreSQL (a copy: {copy_seconds:.1f} s) | {pg_best['scores']:.2f} s | "
        f"{pg_best['lists']:.2f} s | {n / pg:,.0f} | **{pg / duck:.2f}x** |"
    )
    print(
        f"| PostgreSQL, staged | {staged_best['scores']:.2f} s | "
        f"{staged_best['lists']:.2f} s | {n / pg_staged:,.0f} | **{pg_staged / duck:.2f}x** |"
    )
    print()
    met = "met" if min(pg, pg_staged) / duck <= TARGET else "not met"
    print(f"Target: PostgreSQL within {TARGET:.0f}x of DuckDB: {met}.")
    print(
        f"Same snapshot ({snapshot.num_rows:,} rows) and list members ({lists.num_rows:,}): {same}"
    )
    print(f"Columns compared: {SNAPSHOT_COLUMNS}; {LIST_COLUMNS} (undated)")
    store.close()
    if not same:
        raise SystemExit("the engines disagree")


if __name__ == "__main__":
    main()
