"""Benchmark: `socialrating rulebook preview` of a one-parameter change on the demo ledger,
against a plain full scoring run of the same ledger, in one run.

The database is the demo's (the one `bench/serve.py` builds: 110,000 subjects, a year
of records, scored as of 2021-12-31), copied. The candidate is the seed with one
parameter's points doubled (``traffic.speeding_minor``, -10 to -20). Timed, each
``--repeat`` times, best kept: a full run of the rulebook in force (``score_run(full=True)``,
its plan compiled and cached already, as in a database that has been scored), and the
preview as of the latest run's date (its results stand for the rulebook in force, so only
the candidate is scored). The first preview in a process also compiles the candidate's
plans (seconds, which a candidate never has cached); it is reported apart.

Then the same change as an amendment in force from 2021-07-01 (versions in time): its
preview (records before that day keep the seed's value), and, once installed, a full
run as of the same date, which values each record by the version of its day.

Target (issue 12): the preview at most 2x a scoring run. Usage:

    .venv/bin/python bench/preview.py [--citizens 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

TARGET = 2.0
AMENDED = "2021-07-01"
CHANGED = ("    points: -10\n    expires_after_days: 365\n    institutions: *traffic_detectors\n"
           "    min_confidence: 0.95")  # fmt: skip


def main() -> None:
    from common import AS_OF, ROOT, log
    from serve import demo_db
    from socialrating.ledger import activate_rulebook, open_store
    from socialrating.rulebook import load_rulebook
    from socialrating.scoring import score_run
    from socialrating.scoring.preview import preview

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--citizens", type=int, default=100_000)
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    source = demo_db(args.citizens, args.organisations, args.days)
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        db = Path(tmp) / "preview.duckdb"
        shutil.copyfile(source, db)
        seed = ROOT / "rulebooks" / "seed.yaml"
        text = seed.read_text(encoding="utf-8")
        at = text.index("  - code: traffic.speeding_minor\n")
        assert text[at:].find(CHANGED) < 200, "the seed's traffic.speeding_minor moved"
        cut = at + text[at:].index(CHANGED)
        text = text[:cut] + CHANGED.replace("-10", "-20", 1) + text[cut + len(CHANGED) :]
        shutil.copy(seed.with_name("seed-catalogue.csv.gz"), Path(tmp) / "seed-catalogue.csv.gz")
        (Path(tmp) / "candidate.yaml").write_text(text, encoding="utf-8")
        candidate = load_rulebook(Path(tmp) / "candidate.yaml")
        dated_text = text.replace("effective: 2021-01-01", f"effective: {AMENDED}", 1)
        assert dated_text != text, "the seed's effective date moved"
        (Path(tmp) / "amendment.yaml").write_text(dated_text, encoding="utf-8")
        amendment = load_rulebook(Path(tmp) / "amendment.yaml")
        with open_store(db) as store:
            as_of = store.scalar("SELECT max(as_of) FROM runs") or AS_OF
            log(f"full runs as of {as_of}, {args.repeat} times")
            runs = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = score_run(store, as_of, full=True)
                runs.append(time.perf_counter() - start)
            log(f"  best {min(runs):.2f} s ({result.subjects:,} subjects)")
        # The preview reads the latest run: a process that opens the file, as the command.
        with open_store(db, read_only=True) as store:
            log("preview, first in the process (compiles the candidate's plans)")
            start = time.perf_counter()
            found = preview(store, candidate, as_of)
            first = time.perf_counter() - start
            log(f"  {first:.2f} s, {found['grade_changed']:,} subjects change grade")
            again = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                found = preview(store, candidate, as_of)
                again.append(time.perf_counter() - start)
            log(f"  then best {min(again):.2f} s")
            log(f"preview of the amendment from {AMENDED}")
            start = time.perf_counter()
            preview(store, amendment, as_of)
            dated_first = time.perf_counter() - start
            dated = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                dated_found = preview(store, amendment, as_of)
                dated.append(time.perf_counter() - start)
            log(f"  first {dated_first:.2f} s, then best {min(dated):.2f} s")
        with open_store(db) as store:
            activate_rulebook(store, amendment, backdate="benchmark")
            log(f"full runs with the amendment installed from {AMENDED}")
            score_run(store, as_of, full=True)  # compiles and caches its plans
            versions = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                two = score_run(store, as_of, full=True)
                versions.append(time.perf_counter() - start)
            assert two.rulebook_hash == amendment.hash
            log(f"  best {min(versions):.2f} s")
    full, best = min(runs), min(again)
    print()
    print(f"{'what':58s} {'seconds':>8s} {'vs run':>7s}")
    print(f"{'full scoring run, rulebook in force (best)':58s} {full:>8.2f} {1:>6.2f}x")
    print(
        f"{'preview, plans compiled in the process (best)':58s} {best:>8.2f} {best / full:>6.2f}x"
    )
    print(f"{'preview, first in a process (compiles the candidate)':58s} {first:>8.2f} "
          f"{first / full:>6.2f}x")  # fmt: skip
    for what, seconds in (
        (f"preview of the amendment from {AMENDED} (best)", min(dated)),
        ("preview of the amendment, first in the process", dated_first),
        ("full scoring run, two versions in force (best)", min(versions)),
    ):
        print(f"{what:58s} {seconds:>8.2f} {seconds / full:>6.2f}x")
    print(
        f"amendment: {dated_found['grade_changed']:,} subjects change grade "
        "(records before it keep the seed's value)"
    )
    print(
        f"{found['grade_changed']:,} of {found['subjects']:,} subjects change grade; "
        f"reused run {found['reused_run']}"
    )
    print(
        f"target preview <= {TARGET:g}x a scoring run: "
        f"{'met' if best / full <= TARGET else 'NOT met'} ({best / full:.2f}x); "
        f"first in a process: {'met' if first / full <= TARGET else 'NOT met'} "
        f"({first / full:.2f}x)"
    )


if __name__ == "__main__":
    main()
