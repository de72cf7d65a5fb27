"""Benchmark: many small batches, one by one (``ingest_table``) and as groups (``ingest_tables``).

A simulated week of a nation, and a service's day, bring many small batches: about 145 a
week, one per institution, of a few hundred rows each. Such a batch's cost is DuckDB
planning some twenty statements whatever its rows; a group of batches from distinct
institutions pays it once. On copies of the ingest bench's ledger (the seed rulebook,
``--subjects`` subjects; ``bench/ingest.py`` builds it once), each round sends the same
``--weeks`` weeks of ``--rows``-row batches from every institution of the seed that
reports records about citizens (state, non-state and camera classes), first one by one
into one copy, then as groups (at most 200,000 rows, as the simulation sends them) into
another, alternately, ``--repeat`` rounds; it checks that both copies store the same
entries (numbers, batches, payload digests) and prints rows per second and the ratio.

    python bench/small_batches.py [--subjects 1000000] [--rows 620] [--weeks 4] [--repeat 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

from ingest import SEED, ledger, log  # bench/ingest.py
from socialrating.ledger import Store, open_store
from socialrating.ledger.ingest import groups, ingest_table, ingest_tables
from socialrating.ledger.readers import staged_table
from socialrating.rulebook import load_rulebook

GROUP_ROWS = 200_000  # as the simulation (``living.CHUNK``)


def week_batches(
    subjects: int, rows: int, week: int, seed: int = 5
) -> list[tuple[str, pa.Table, str]]:
    """One batch of ``rows`` records about citizens from each institution that may report
    some, for week ``week`` of 2021."""
    rb = load_rulebook(SEED)
    params = rb.parameters
    classes = {i.code: i.class_.value for i in rb.spec.institutions}
    codes = params.column("code").to_pylist()
    kinds = params.column("subjects").to_pylist()
    units = params.column("per_unit").to_pylist()
    bands = params.column("bands_id").is_valid().to_pylist()
    allowed: dict[str, list[int]] = {}
    for k, names in enumerate(params.column("institutions").to_pylist()):
        if kinds[k] in ("citizen", "any"):
            for name in names.split(";"):
                if classes.get(name) in ("state", "nonstate", "camera"):
                    allowed.setdefault(name, []).append(k)
    rng = np.random.default_rng([seed, week])
    citizens = subjects - subjects // 10
    out = []
    for name in sorted(allowed):
        param = rng.choice(allowed[name], rows)
        cols: dict[str, list[str | None]] = {
            "key": [f"w{week}-{name}-{i}" for i in range(rows)],
            "subject": [f"C{int(s):09d}" for s in rng.integers(1, citizens + 1, rows)],
            "parameter": [codes[p] for p in param],
            "date": [str(np.datetime64("2021-01-01") + 7 * week + int(d)) for d in rng.integers(0, 7, rows)],
            "quantity": [str(int(q)) if units[p] or bands[p] else None for p, q in zip(param, rng.integers(1, 9, rows), strict=True)],
            "confidence": ["0.99"] * rows,
        }  # fmt: skip
        out.append((name, staged_table(cols, list(range(2, rows + 2))), f"week-{week}:{name}"))
    return out


def stored(store: Store) -> list[tuple[object, ...]]:
    return store.rows(
        "SELECT entry_id, batch_id, institution_id, idem_key, payload_digest FROM entries "
        "WHERE institution_id IS NOT NULL ORDER BY entry_id"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=620)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    template = ledger(args.subjects)
    weeks = [week_batches(args.subjects, args.rows, w) for w in range(args.weeks)]
    total = sum(t.num_rows for week in weeks for _, t, _ in week)
    log(f"{args.weeks} weeks of {len(weeks[0])} batches of {args.rows} rows: {total:,} rows")
    times: dict[str, list[float]] = {"one by one": [], "as groups": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):
            results = {}
            for way in times:
                path = Path(tmp) / f"{way.replace(' ', '-')}-{r}.duckdb"
                shutil.copy(template, path)
                with open_store(path) as store:
                    start = time.perf_counter()
                    for week in weeks:
                        if way == "one by one":
                            for code, table, source in week:
                                ingest_table(store, table, code, source)
                        else:
                            for group in groups(week, GROUP_ROWS):
                                found = ingest_tables(store, [week[k] for k in group])
                                assert not [f for f in found if isinstance(f, Exception)], found
                    times[way].append(time.perf_counter() - start)
                    results[way] = stored(store)
                path.unlink()
                log(f"round {r + 1}, {way}: {times[way][-1]:.2f} s")
            assert results["one by one"] == results["as groups"], "the two ways stored differently"
            assert len(results["as groups"]) == total
    best = {way: min(t) for way, t in times.items()}
    print()
    print(f"{len(weeks[0])} institutions x {args.weeks} weeks x {args.rows} rows ({total:,} rows),")
    print(
        f"on a ledger of {args.subjects:,} subjects; best of {args.repeat} (the same entries stored)"
    )
    print(f"{'way':12s} {'seconds':>8s} {'rows/s':>10s} {'ms a batch':>11s}  medians")
    batches = len(weeks[0]) * args.weeks
    for way, seconds in best.items():
        print(
            f"{way:12s} {seconds:8.2f} {total / seconds:10,.0f} {1000 * seconds / batches:11.1f}"
            f"  {statistics.median(times[way]):.2f} s"
        )
    print(f"as groups is {best['one by one'] / best['as groups']:.2f}x faster")


if __name__ == "__main__":
    main()
