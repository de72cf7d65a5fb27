"""Benchmark: a synthetic nation lived through the ledger, step by step (issue 15's scale).

Lives ``--citizens`` (10 % as many organisations) for ``--days`` days in steps of
``--step-days`` under the default scenario, into a fresh ledger in bench/.data/: each
step's records drawn, ingested institution by institution in batches of at most 200,000
rows, an authority's verifications, a scoring run (incremental after the first) and the
responses read back (``socialrating.simulate.living.live``). Prints the wall time by
stage, records per second, the peak resident memory of the process, and the list shares.

The peer, in the same run: DuckDB inserting the same number of rows (the first step's
records, repeated) into a table with a SHA-256 per row: the ingest peer of
ARCHITECTURE.md's baselines, so the ratio says how far the simulation's whole loop is
from bare storage. Usage:

    python bench/simulate.py [--citizens 1000000] [--days 365] [--step-days 7] [--seed 2021]
                             [--memory-gb GB]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from socialrating.ledger import activate_rulebook, open_store
from socialrating.rulebook import load_rulebook
from socialrating.simulate.calibrate import list_shares
from socialrating.simulate.life import Life, batches
from socialrating.simulate.living import live
from socialrating.simulate.nation import make_nation
from socialrating.simulate.scenario import DEFAULT_SCENARIO, load_scenario

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
SEED = ROOT / "rulebooks" / "seed.yaml"
TARGET_SECONDS = 600  # 1 million citizens, 365 days


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def peer(rows: int, sample: pa.Table) -> float:
    """Rows per second of DuckDB inserting ``rows`` rows like ``sample`` with a SHA-256 each."""
    con = duckdb.connect(str(DATA / "simulate-peer.duckdb"))
    try:
        con.execute("DROP TABLE IF EXISTS t")
        con.register("sample", sample)
        con.execute(
            "CREATE TABLE t AS SELECT *, sha256(s::VARCHAR) AS digest FROM sample s LIMIT 0"
        )
        started = time.perf_counter()
        done = 0
        while done < rows:
            con.execute("INSERT INTO t SELECT *, sha256(s::VARCHAR) FROM sample s")
            done += sample.num_rows
        return done / (time.perf_counter() - started)
    finally:
        con.close()
        (DATA / "simulate-peer.duckdb").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--citizens", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--step-days", type=int, default=7)
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument(
        "--check-runs",
        action="store_true",
        help="score each incremental run again in full and stop at one that differs",
    )
    parser.add_argument(
        "--memory-gb",
        type=float,
        help="gigabytes the whole process may take (default: 80%% of the machine's)",
    )
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    db = DATA / f"simulate-{args.citizens}-{args.days}-{args.step_days}.duckdb"
    for old in DATA.glob(f"{db.name}*"):
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    rb, scenario = load_rulebook(SEED), load_scenario(DEFAULT_SCENARIO)
    organisations = round(args.citizens * scenario.organisations_per_citizen)
    log(
        f"living {args.citizens:,} citizens and {organisations:,} organisations for "
        f"{args.days} days in steps of {args.step_days}"
    )
    started = time.perf_counter()
    with open_store(str(db), create=True) as store:
        activate_rulebook(store, rb)
        lived = live(
            store,
            rb,
            scenario,
            citizens=args.citizens,
            organisations=organisations,
            days=args.days,
            step_days=args.step_days,
            seed=args.seed,
            check_runs=args.check_runs,
            memory=None if args.memory_gb is None else int(args.memory_gb * 10**9),
            on_step=lambda s: log(
                f"step {s.number}: {s.arrived:,} records, run {s.run.seconds:.1f} s"
            ),
        )
        targets = list(scenario.calibration.targets)
        shares = list_shares(store, lived.run.run_id, args.citizens, targets)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    records = sum(s.arrived for s in lived.steps)
    # The peer inserts as many rows as the simulation stored, shaped like one step's batch.
    small = make_nation(np.random.default_rng(1), 10_000, 1_000, rb.spec.effective)
    life = Life(1, small, rb, scenario)
    sample = pa.concat_tables(
        t for _, t in batches(life.step(0, 91), small, rb, life.inst_codes, 0, "p")
    )
    peer_rate = peer(records, sample)
    rate = records / wall
    print()
    print(f"citizens {args.citizens:,}, days {args.days}, steps {len(lived.steps)}")
    print(f"records {records:,}, stored entries {lived.stored:,}")
    print(f"wall {wall:.1f} s (target {TARGET_SECONDS} s for 1 M citizens, 365 days)")
    for stage, seconds in lived.seconds.items():
        print(f"  {stage:<8} {seconds:8.1f} s  {seconds / wall:6.1%}")
    print(f"records per second: {rate:,.0f}; peer (DuckDB insert + sha256): {peer_rate:,.0f}")
    print(
        f"ratio to the peer: {rate / peer_rate:.4g} (the peer is {peer_rate / rate:,.0f}x faster)"
    )
    print(f"peak resident memory: {peak_mb:,.0f} MB")
    print("list shares of citizens: " + ", ".join(f"{k} {v:.4%}" for k, v in shares.items()))


if __name__ == "__main__":
    main()
