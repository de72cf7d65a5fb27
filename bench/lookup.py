"""Look-ups of one subject on the bench ledger: `show` and `check`, whole process and warm.

A provider's `check` and a citizen's `show` concern one subject; they must read that
subject's rows, not the nation's. Measured on the 20 M-record, 2 M-subject bench ledger
(``bench/common.py``), scored once as of 2021-12-31 if it has no run yet:

- whole process: the venv's ``socialrating check|show …`` as a user runs it (the median
  of ``--repeat`` runs after one to warm the file cache and compile the plans);
- warm: the same look-ups in one process (``decide_one``, a loaded ``Decider``,
  ``statement``), the median over a sample of subjects, each subject's first look-up
  (the pages it reads are not yet in DuckDB's memory);
- warm, pages in memory: the same over other subjects once the run's tables and the
  ledger have been read through (a server's steady state: DuckDB keeps the pages it
  read, and the bench ledger fits in its memory).

The peers, in the same run: a full scoring run of everyone (what a statement computed
for the whole nation would cost), and a decision from the run loaded whole in memory.
Run: ``.venv/bin/python bench/lookup.py [--db PATH] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import AS_OF, bench_store, log
from socialrating.decisions.decider import load_decider
from socialrating.decisions.lookup import decide_one
from socialrating.ledger import open_store
from socialrating.ledger.rulebooks import in_force
from socialrating.ledger.store import Store
from socialrating.ledger.table_digest import columns_of
from socialrating.scoring import score_run, statement

SOCIALRATING = str(Path(sys.executable).with_name("socialrating"))
TARGETS = {  # seconds: issue 10
    "show, whole process": 1.0,
    "show, warm": 0.050,
    "check, whole process": 0.5,
    "check, warm": 0.001,
    "show, warm, pages in memory": 0.050,
    "check, warm, pages in memory": 0.001,
}


def read_through(store: Store, run_id: int) -> float:
    """Read every column of the ledger's entries and registry and of run ``run_id``'s rows
    once, so that DuckDB holds their pages (as a server that has answered for a while
    does); the seconds it took."""
    start = time.perf_counter()
    for table, where in (
        ("entries", "TRUE"),
        ("subjects", "TRUE"),
        ("snapshot", f"run_id = {run_id}"),
        ("list_members", f"run_id = {run_id}"),
        ("run_factors", f"run_id = {run_id}"),
    ):
        # A hash of every value: a count of a column without nulls is answered from its
        # statistics, without reading it.
        hashes = ", ".join(f'bit_xor(hash("{c}"))' for c in columns_of(store, table))
        store.rows(f"SELECT {hashes} FROM {table} WHERE {where}")
    return time.perf_counter() - start


def whole_process(args: list[str], repeat: int) -> float:
    subprocess.run([SOCIALRATING, *args], check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([SOCIALRATING, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="an existing scored ledger (default: the bench ledger)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--subjects", type=int, default=20, help="subjects sampled warm")
    args = parser.parse_args()
    if args.db:
        path = args.db
    else:
        store, _ = bench_store(20_000_000, 2_000_000)
        path = store.path
        # The latest run is the one decided from: it must be the seed's as of AS_OF
        # (bench/score.py also stores runs of the seed without mechanics, which has no
        # services), else one is scored (from the seed's last run, if any).
        latest = store.one("SELECT rulebook_hash, as_of FROM runs ORDER BY run_id DESC LIMIT 1")
        if latest is None or (latest[0], latest[1]) != (in_force(store, AS_OF).hash, AS_OF):
            log("scoring the bench ledger by the seed (a run to decide from)")
            score_run(store, AS_OF)
        store.close()
    store = open_store(path)  # for writing: the index and plan cache are made once here
    run = store.one(
        "SELECT run_id, as_of, epoch(finished_at - started_at) FROM runs ORDER BY run_id DESC LIMIT 1"
    )
    assert run is not None, "the ledger has no scoring run"
    run_id, as_of, run_seconds = int(run[0]), run[1], float(run[2])
    total = int(store.scalar("SELECT count(*) FROM subjects"))
    step = max(1, total // args.subjects)
    codes, others = (
        [
            str(c)
            for (c,) in store.rows(
                f"SELECT code FROM subjects WHERE subject_id % {step} = {rest} "
                f"ORDER BY subject_id LIMIT {args.subjects}"
            )
        ]
        for rest in (1, 2)
    )
    statement(store, codes[0], as_of)  # compile and keep the plans
    store.close()
    store = open_store(path, read_only=True)
    log(f"{path}: run {run_id} as of {as_of}; {len(codes)} subjects sampled")

    warm_show = []
    for code in codes:
        start = time.perf_counter()
        statement(store, code, as_of)
        warm_show.append(time.perf_counter() - start)
    warm_check = []
    for code in codes:
        start = time.perf_counter()
        decide_one(store, code, "flight")
        warm_check.append(time.perf_counter() - start)
    read_seconds = read_through(store, run_id)
    steady_show, steady_check = [], []
    for code in others:
        start = time.perf_counter()
        statement(store, code, as_of)
        steady_show.append(time.perf_counter() - start)
    for code in others:
        start = time.perf_counter()
        decide_one(store, code, "flight")
        steady_check.append(time.perf_counter() - start)
    start = time.perf_counter()
    decider = load_decider(store)
    load_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for code in codes * 50:
        decider.decide(code, "flight")
    in_memory = (time.perf_counter() - start) / (len(codes) * 50)
    for code in codes:  # the look-up answers as the loaded run does
        assert decide_one(store, code, "flight") == decider.decide(code, "flight"), code
    store.close()

    day = as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of)
    rows = [
        (
            "show, whole process",
            whole_process(["show", codes[1], "--db", path, "--as-of", day], args.repeat),
        ),
        ("show, warm", statistics.median(warm_show)),
        (
            "check, whole process",
            whole_process(["check", codes[1], "flight", "--db", path], args.repeat),
        ),
        ("check, warm", statistics.median(warm_check)),
        ("show, warm, pages in memory", statistics.median(steady_show)),
        ("check, warm, pages in memory", statistics.median(steady_check)),
    ]
    print()
    print(f"Look-ups on {path} ({total:,} subjects), medians")
    print(f"{'look-up':28s} {'seconds':>10s} {'target':>8s}  met")
    for name, seconds in rows:
        target = TARGETS[name]
        print(f"{name:28s} {seconds:>10.4f} {target:>8.3f}  {'yes' if seconds <= target else 'NO'}")
    print()
    print("Peers in the same run:")
    print(f"  a full scoring run of everyone (run {run_id}, stored)    {run_seconds:10.2f} s")
    print(f"  the ledger and the run read through once            {read_seconds:10.2f} s")
    print(f"  the whole run loaded for decisions                  {load_seconds:10.2f} s")
    print(f"  a decision from the loaded run                      {in_memory * 1e6:10.1f} µs")
    warm = statistics.median(warm_show)
    print(f"  show warm is {run_seconds / warm:,.0f}x faster than a full run")


if __name__ == "__main__":
    main()
