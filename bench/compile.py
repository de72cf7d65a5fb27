"""Building and compiling the seed's plans: with the speedups of ``scoring/ibis_speedups``
against Ibis's own steps, in the same run.

A plan is an Ibis expression built from the rulebook (``scoring/plans.py``), then
compiled to DuckDB SQL once per rulebook and kept in the database. A process that meets
a rulebook first (a new database, an amendment, a preview, a server's start, every
generated rulebook of the property tests) pays both. Each plan is built and compiled in
a process of its own, alternately with the speedups installed and with Ibis's own steps
(``ibis_speedups.uninstall()``), ``--rounds`` times; the figures are the medians, and the
SQL of both must be the same, character for character (the benchmark fails otherwise).

The database: a new DuckDB file with the seed rulebook active (its 160,000 parameters,
its institutions); no records are needed to build a plan.
Run: ``.venv/bin/python bench/compile.py [--rounds 3] [--plans statement_all,scores]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "rulebooks" / "seed.yaml"

ONE = """
import hashlib, json, sys, time
import ibis
from socialrating.ledger import active_rulebook, open_store
from socialrating.scoring import ibis_speedups
from socialrating.scoring.compiled import with_sentinels
from socialrating.scoring.plans import PLANS, plan_inputs

path, name, mode = sys.argv[1:4]
if mode == "ibis":
    ibis_speedups.uninstall()
store = open_store(path, read_only=True)
inputs = plan_inputs(store, active_rulebook(store))
params = ibis.param("int32"), ibis.param("int64"), ibis.param("int32")
start = time.perf_counter()
expr = PLANS[name](inputs, *params)
built = time.perf_counter()
sql = with_sentinels(store.ibis, expr, params, name)
done = time.perf_counter()
print(json.dumps({"build": built - start, "compile": done - built,
                  "sql": hashlib.sha256(sql.encode()).hexdigest(), "chars": len(sql)}))
"""


def measure(path: str, name: str, mode: str) -> dict[str, float | str]:
    done = subprocess.run(
        [sys.executable, "-c", ONE, path, name, mode], check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plans", default="statement_all,scores,run_lists")
    args = parser.parse_args()
    from socialrating.ledger import activate_rulebook, open_store
    from socialrating.rulebook import load_rulebook

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "compile.duckdb")
        with open_store(path, create=True) as store:
            activate_rulebook(store, load_rulebook(SEED))
        print(f"{'plan':<16} {'steps':<8} {'build':>8} {'compile':>8} {'total':>8} {'x':>6}")
        for name in args.plans.split(","):
            runs: dict[str, list[dict[str, float | str]]] = {"ibis": [], "speedups": []}
            for _ in range(args.rounds):
                for mode in runs:
                    runs[mode].append(measure(path, name, mode))
            digests = {str(r["sql"]) for rs in runs.values() for r in rs}
            if len(digests) != 1:
                raise SystemExit(f"{name}: the SQL differs with and without the speedups")
            totals = {}
            for mode, rs in runs.items():
                build = statistics.median(float(r["build"]) for r in rs)
                compile_ = statistics.median(float(r["compile"]) for r in rs)
                totals[mode] = statistics.median(
                    float(r["build"]) + float(r["compile"]) for r in rs
                )
                ratio = totals["ibis"] / totals[mode]
                print(
                    f"{name:<16} {mode:<8} {build:>7.2f}s {compile_:>7.2f}s "
                    f"{totals[mode]:>7.2f}s {ratio:>5.2f}x"
                )
            chars = int(runs["speedups"][0]["chars"])
            digest = next(iter(digests))[:12]
            print(f"{'':<16} the same SQL both ways ({chars:,} characters, sha256 {digest}…)")


if __name__ == "__main__":
    main()
