"""How long the command line takes to start, against the interpreter itself.

Each command runs as a user runs it (a new process of the venv's ``socialrating``), a
few times; the figure is the median wall time, and the ratio is against a bare
``python -c pass`` timed in the same run (the machine is shared: ratios hold better
than seconds). Run: ``.venv/bin/python bench/startup.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEED = ROOT / "rulebooks" / "seed.yaml"
TARGET_HELP = 0.3  # seconds: issue 9's target for `socialrating --help`


def timed(args: list[str], repeat: int, before: list[str] | None = None) -> float:
    """The median wall time of ``args`` over ``repeat`` runs (``before`` runs untimed
    ahead of each, e.g. to remove a database)."""
    times = []
    for _ in range(repeat):
        if before:
            subprocess.run(before, check=True)
        start = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    n = parser.parse_args().repeat
    sr = str(BIN / "socialrating")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "startup.duckdb")
        rows = [
            ("python -c pass (the peer)", timed([sys.executable, "-c", "pass"], n)),
            ("socialrating --help", timed([sr, "--help"], n)),
            ("socialrating --version", timed([sr, "--version"], n)),
            ("socialrating show --help", timed([sr, "show", "--help"], n)),
            ("socialrating rulebook check (seed)", timed([sr, "rulebook", "check", str(SEED)], n)),
            (
                "socialrating init (seed, new file)",
                timed([sr, "init", "--db", db], n, before=["rm", "-f", db, db + ".wal"]),
            ),
            ("socialrating init (already active)", timed([sr, "init", "--db", db], n)),
        ]
    peer = rows[0][1]
    print(f"{'command':<40} {'median':>9} {'x python':>9}")
    for name, seconds in rows:
        print(f"{name:<40} {seconds:>8.3f}s {seconds / peer:>8.1f}x")
    help_time = rows[1][1]
    verdict = "meets" if help_time < TARGET_HELP else "MISSES"
    print(f"--help {verdict} the {TARGET_HELP} s target ({help_time:.3f} s)")


if __name__ == "__main__":
    main()
