"""Benchmark: decisions over a snapshot of 10 million subjects.

Builds (once, into bench/.data/) a database with the seed rulebook, 10 million subjects
and a scoring run's snapshot and list members drawn with the demo's shares (grades, 1.5 %
on the flight ban list, …); scoring 100 million records first would add nothing to
what this measures. Then, in the same run:

- batch: ``Decider.decide_many`` over a passenger list of 1 million subject codes, for
  the flight service; against the same decisions as one DuckDB SQL query (a join of the
  list with the snapshot and the list members), the peer a service could use instead;
- single: ``Decider.decide`` for one subject (median latency over many calls); against
  one DuckDB point query per decision.

It checks that the batch and the single decisions agree with the SQL peer. Usage:

    python bench/decide.py [--subjects 10000000] [--batch 1000000] [--singles 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

from common import DATA, SEED, log
from socialrating.decisions.decider import load_decider
from socialrating.errors import LedgerError
from socialrating.ledger import Store, activate_rulebook, open_store
from socialrating.rulebook import load_rulebook

TARGET_BATCH = 1_000_000  # decisions per second
TARGET_SINGLE_US = 50.0
GRADES = {"AAA": 0.02, "AA": 0.04, "A": 0.65, "B": 0.22, "C": 0.05, "D": 0.02}


def build(subjects: int) -> Store:
    path = DATA / f"snapshot-{subjects}.duckdb"
    if path.exists():
        try:
            store = open_store(path)
        except LedgerError as exc:  # an older ledger format: build it again
            log(f"rebuilding: {exc}")
        else:
            if store.scalar("SELECT count(*) FROM snapshot") == subjects:
                return store
            store.close()
        path.unlink()
    DATA.mkdir(parents=True, exist_ok=True)
    log(f"building {path.name}: {subjects:,} subjects with a snapshot (once)")
    store = open_store(path, create=True)
    rb = load_rulebook(SEED)
    activate_rulebook(store, rb)
    orgs = subjects // 10
    store.run(
        f"""INSERT INTO subjects SELECT range + 1,
               CASE WHEN range < {subjects - orgs} THEN 'C' ELSE 'O' END
                 || lpad(CAST(range + 1 AS VARCHAR), 9, '0'),
               CASE WHEN range < {subjects - orgs} THEN 'citizen' ELSE 'organisation' END,
               DATE '1960-01-01' + CAST(range % 20000 AS INTEGER), NULL, NULL
            FROM range({subjects})"""
    )
    store.run(
        "INSERT INTO runs VALUES (1, ?, DATE '2021-12-31', now(), now(), 0, ?, '{}')",
        [rb.hash, subjects],
    )
    rng = np.random.default_rng(7)
    grade = rng.choice(list(GRADES), size=subjects, p=list(GRADES.values()))
    is_org = np.arange(subjects) >= subjects - orgs
    grade = np.where(is_org & np.isin(grade, ["AAA", "AA"]), "A", grade)
    score = np.where(grade == "D", 550, 1000)
    snap = pa.table(
        {
            "run_id": pa.array(np.ones(subjects, dtype=np.int32)),
            "subject_id": pa.array(np.arange(1, subjects + 1, dtype=np.int64)),
            "score": pa.array(score.astype(np.int64)),
            "grade": pa.array(grade),
            "points_score": pa.array(score.astype(np.int64)),
            "direct_grade": pa.nulls(subjects, pa.string()),
            "stage": pa.nulls(subjects, pa.string()),
            "contagion": pa.array(np.zeros(subjects, dtype=np.int64)),
            "contagion_contacts": pa.array(np.zeros(subjects, dtype=np.int64)),
        }
    )
    store.con.register("snap_new", snap)
    store.run("INSERT INTO snapshot SELECT * FROM snap_new")
    store.con.unregister("snap_new")
    for lst, share, kind in (
        ("flight_ban", 0.0125, "citizen"),
        ("rail_ban", 0.0039, "citizen"),
        ("dishonest_debtors", 0.005, "any"),
        ("senior_position_ban", 0.0002, "citizen"),
    ):
        store.run(
            f"""INSERT INTO list_members
                SELECT 1, '{lst}', subject_id, 'record', subject_id, NULL, 18700, 19430, NULL
                FROM subjects WHERE hash(subject_id || '{lst}') % 100000 < {int(share * 100000)}
                  AND ('{kind}' = 'any' OR kind = '{kind}')"""
        )
    store.run(
        """INSERT INTO list_members SELECT 1, 'organisation_blacklist', n.subject_id, 'grade',
               NULL, n.grade, NULL, NULL, NULL
           FROM snapshot n JOIN subjects s USING (subject_id)
           WHERE s.kind = 'organisation' AND n.grade = 'D'"""
    )
    store.run("CHECKPOINT")
    return store


SQL_PEER = """
SELECT p.i, p.subject,
       CASE WHEN s.code IS NULL THEN 'unknown'
            WHEN s.kind <> 'citizen' THEN 'refused'
            WHEN m.subject_id IS NOT NULL THEN 'refused'
            WHEN n.grade = 'D' THEN 'refused'
            ELSE 'allowed' END AS decision
FROM passengers p
LEFT JOIN subjects s ON s.code = p.subject
LEFT JOIN snapshot n ON n.subject_id = s.subject_id AND n.run_id = 1
LEFT JOIN (SELECT DISTINCT subject_id FROM list_members WHERE run_id = 1 AND list = 'flight_ban') m
       ON m.subject_id = s.subject_id
ORDER BY p.i
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--subjects", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--singles", type=int, default=20_000)
    args = ap.parse_args()
    store = build(args.subjects)

    log("loading the decider from the snapshot (once per run, not per decision)")
    start = time.perf_counter()
    decider = load_decider(store)
    load_s = time.perf_counter() - start
    log(f"  {load_s:.2f} s for {args.subjects:,} subjects")

    rng = np.random.default_rng(1)
    ids = rng.integers(1, args.subjects + 1, args.batch)
    codes = [f"{'O' if i > args.subjects - args.subjects // 10 else 'C'}{i:09d}" for i in ids]
    passengers = pa.array(codes)

    log(f"batch: decide_many over {args.batch:,} passengers (flight)")
    times = []
    for _ in range(3):
        t = time.perf_counter()
        table = decider.decide_many(passengers, "flight")
        times.append(time.perf_counter() - t)
    batch_rate = args.batch / min(times)
    log(f"  best {min(times):.3f} s: {batch_rate:,.0f} decisions/s")

    log("peer: the same decisions as one DuckDB SQL query")
    store.con.register(
        "passengers", pa.table({"i": pa.array(np.arange(args.batch)), "subject": passengers})
    )
    times = []
    for _ in range(3):
        t = time.perf_counter()
        peer = store.arrow(SQL_PEER)
        times.append(time.perf_counter() - t)
    sql_rate = args.batch / min(times)
    log(f"  best {min(times):.3f} s: {sql_rate:,.0f} decisions/s")
    same = table.column("decision").to_pylist() == peer.column("decision").to_pylist()

    k = args.singles
    log(f"single: decide() for {k:,} subjects, one at a time")
    lat = []
    for code in codes[:k]:
        t = time.perf_counter_ns()
        d = decider.decide(code, "flight")
        lat.append(time.perf_counter_ns() - t)
    single_us = statistics.median(lat) / 1000
    p99_us = float(np.percentile(lat, 99)) / 1000
    single_same = all(
        decider.decide(c, "flight").decision == r
        for c, r in zip(codes[:1000], peer.column("decision").to_pylist()[:1000], strict=True)
    )
    log(f"  median {single_us:.1f} µs, p99 {p99_us:.1f} µs; last: {d.decision}")

    log("peer: one DuckDB point query per decision (200 of them)")
    lat_sql = []
    for code in codes[:200]:
        t = time.perf_counter_ns()
        store.rows(
            """SELECT n.grade, m.subject_id IS NOT NULL FROM subjects s
               JOIN snapshot n ON n.subject_id = s.subject_id AND n.run_id = 1
               LEFT JOIN list_members m ON m.subject_id = s.subject_id AND m.run_id = 1
                    AND m.list = 'flight_ban'
               WHERE s.code = ?""",
            [code],
        )
        lat_sql.append(time.perf_counter_ns() - t)
    sql_us = statistics.median(lat_sql) / 1000

    print()
    print(f"Decisions over a snapshot of {args.subjects:,} subjects (service: flight)")
    print(f"{'approach':44s} {'figure':>22s} {'socialrating is':>16s}")
    print(f"{'batch: Decider.decide_many':44s} {batch_rate:>14,.0f} dec/s {'':>16s}")
    print(
        f"{'batch peer: one DuckDB SQL join':44s} {sql_rate:>14,.0f} dec/s {batch_rate / sql_rate:>15.1f}x"
    )
    print(f"{'single: Decider.decide (median)':44s} {single_us:>17.1f} µs {'':>16s}")
    print(
        f"{'single peer: DuckDB point query (median)':44s} {sql_us:>17.1f} µs {sql_us / single_us:>15.1f}x"
    )
    print(f"{'loading the decider (once per run)':44s} {load_s:>18.2f} s")
    print()
    print(
        f"target >= {TARGET_BATCH:,} decisions/s in a batch: {'met' if batch_rate >= TARGET_BATCH else 'NOT met'}"
    )
    print(
        f"target < {TARGET_SINGLE_US:.0f} µs for one decision: {'met' if single_us < TARGET_SINGLE_US else 'NOT met'} (p99 {p99_us:.1f} µs)"
    )
    print(
        f"parity with the SQL peer: batch {'same' if same else 'DIFFERENT'}, single {'same' if single_same else 'DIFFERENT'}"
    )
    if not (same and single_same):
        sys.exit(1)


if __name__ == "__main__":
    main()
