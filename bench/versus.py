"""Benchmark: a full scoring run of this code against the code of an earlier commit.

Issue 14 asks that new rulebook mechanisms cost only where a rulebook uses them: the
whole-nation run on the plain seed (``bench/score.py``'s comparison rulebook) stays within
10 % of its speed before. This times ``score_run(full=True)`` on the same 20-million-record
ledger with both versions of the code, alternately, each in its own process (so neither
inherits the other's caches), and prints each round's times and the ratio of the medians.

The earlier code is checked out into a temporary git worktree; the ledger is copied once
for each side, so that neither writes to the shared bench file nor opens a file the other
upgraded to a newer format. Usage:

    python bench/versus.py REV [--rounds 3] [--repeat 2] [--seed plain|full]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import DATA, ROOT, bench_store, log

# Run in a fresh process for one side: install that side's rulebook (plain or full seed)
# into the copied ledger, warm the plan, then time full runs and print the best.
TIMER = """
import sys, time
sys.path.insert(0, {bench!r})
from common import plain_rulebook, AS_OF
from socialrating.ledger import install_rulebook, open_store
from socialrating.rulebook import load_rulebook
from socialrating.scoring import score_run
seed = load_rulebook({seed!r})
rb = plain_rulebook(seed) if {plain!r} else seed
store = open_store({db!r})
install_rulebook(store, rb)
score_run(store, AS_OF, rb, full=True)
times = []
for _ in range({repeat}):
    start = time.perf_counter()
    score_run(store, AS_OF, rb, full=True)
    times.append(time.perf_counter() - start)
store.close()
print(min(times))
"""


def timed(side: Path, db: Path, plain: bool, repeat: int) -> float:
    code = TIMER.format(
        bench=str(side / "bench"),
        seed=str(side / "rulebooks" / "seed.yaml"),
        plain=plain,
        db=str(db),
        repeat=repeat,
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(side / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"run in {side} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


# Formats that only added tables to the one before: how a copy goes back to it, for an
# earlier commit's code to read (the bench ledger is opened, so upgraded, by this code).
DOWNGRADES = {"10": ("9", ("DROP TABLE IF EXISTS run_factors",))}


def older(db: Path, side: Path) -> None:
    """Bring the copy ``db`` back to the ledger format the code in ``side`` reads."""
    import duckdb

    wanted = subprocess.run(
        [
            sys.executable,
            "-c",
            "from socialrating.ledger.store import SCHEMA_VERSION as v; print(v)",
        ],
        env={"PYTHONPATH": str(side / "src"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    con = duckdb.connect(str(db))
    try:
        (found,) = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() or ("",)
        while found != wanted and found in DOWNGRADES:
            found, statements = DOWNGRADES[found]
            for statement in statements:
                con.execute(statement)
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema'", [found])
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("rev", help="the earlier commit (for example the one before the issue)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", choices=("plain", "full"), default="plain")
    ap.add_argument("--records", type=int, default=20_000_000)
    ap.add_argument("--subjects", type=int, default=2_000_000)
    args = ap.parse_args()

    store, _ = bench_store(args.records, args.subjects)
    source = Path(store.path)
    store.close()
    with tempfile.TemporaryDirectory(prefix="versus-", dir=DATA) as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before), args.rev],
            check=True,
            capture_output=True,
        )
        try:
            # A copy each: a newer ledger format, once opened, is not for the older code.
            dbs = {name: work / f"ledger-{name}.duckdb" for name in ("before", "now")}
            for db in dbs.values():
                log(f"copying {source.name} to {db.name} (once)")
                shutil.copyfile(source, db)
            older(dbs["before"], before)
            plain = args.seed == "plain"
            times: dict[str, list[float]] = {"before": [], "now": []}
            for n in range(1, args.rounds + 1):
                for name, side in (("before", before), ("now", ROOT)):
                    t = timed(side, dbs[name], plain, args.repeat)
                    times[name].append(t)
                    log(
                        f"round {n}, {name} ({args.rev if name == 'before' else 'HEAD'}): {t:.2f} s"
                    )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)],
                check=False,
                capture_output=True,
            )
    b, a = statistics.median(times["before"]), statistics.median(times["now"])
    print()
    print(f"Full run, {args.seed} seed, {args.records:,} records, medians of {args.rounds} rounds")
    print(f"  before ({args.rev}): {b:.2f} s   {args.records / b / 1e6:.2f} M records/s")
    print(f"  now (HEAD):          {a:.2f} s   {args.records / a / 1e6:.2f} M records/s")
    print(f"  now / before: {a / b:.3f} (target: at most 1.10)")


if __name__ == "__main__":
    main()
