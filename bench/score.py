"""Benchmark: score 20 million records for 2 million subjects on the 160,000-parameter seed.

Runs, on the same ledger and in the same process:

- socialrating: ``score_run(full=True)`` (the Ibis plan on DuckDB scoring every subject,
  materialising the snapshot; an incremental run after it would rescore nobody);
- pandas: the same rules with merge and group-by;
- pure Python: the same rules in a dict loop (on the first ``--python-records`` records,
  since it is slow; its rate is records per second, comparable as the work is linear).

It checks that pandas and Python compute the same scores as the plan, then prints each
approach's records per second and the plan's ratio to each. Usage:

    python bench/score.py [--records 20000000] [--subjects 2000000] [--python-records 2000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from common import AS_OF, bench_store, log, plain_rulebook, reference_sql
from socialrating.ledger import Store, activate_rulebook, install_rulebook, open_store
from socialrating.ledger.append import append_rows
from socialrating.model import day_number
from socialrating.rulebook import Rulebook
from socialrating.scoring import incremental, score_run
from socialrating.scoring.compiled import compiled

# The baselines of docs/architecture.md ("Pinned dependencies and baselines"), medians
# of other runs on this ledger, in records per second, for reference only.
BASELINES = {
    "pure Python dict loop": 0.45e6,
    "pandas merge + group-by": 2.2e6,
    "hand-written DuckDB SQL (reference)": 8.5e6,
    "socialrating's plan, plain seed": 5.0e6,
    "socialrating's plan, full seed": 1.8e6,
}
TARGET_RATE = 10e6
TARGET_VS_PANDAS = 3.0
TARGET_INCREMENTAL = 10.0  # one day of records, against a full run (issue 10)
# Issue 10: the plain seed at least as fast as the reference query, the full seed at
# least this fraction of the plain seed's rate.
TARGET_FULL_VS_PLAIN = 0.6


def load_frames(store: Store, rb: Rulebook) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    records = store.arrow(
        "SELECT subject_id, parameter_id, day, quantity, confidence FROM entries WHERE kind = 1 "
        "ORDER BY entry_id"
    ).to_pandas()
    params = store.arrow(
        """SELECT parameter_id, category_id, points, per_unit, expiry_days, min_confidence,
                  cap_period_days, cap_max_deduction, cap_max_addition
           FROM rulebook_parameters WHERE rulebook_hash = ?""",
        [rb.hash],
    ).to_pandas()
    subjects = store.arrow("SELECT subject_id, kind FROM subjects ORDER BY subject_id").to_pandas()
    return records, params, subjects


def grades(rb: Rulebook, score: np.ndarray, kind: np.ndarray) -> np.ndarray:
    out = np.empty(len(score), dtype=object)
    for k in ("citizen", "organisation"):
        mask = kind == k
        bands = rb.bands(k)
        conditions = [score[mask] >= (b.min if b.min is not None else -(2**62)) for b in bands]
        out[mask] = np.select(conditions, [b.grade for b in bands], default=None)
    return out


def score_pandas(
    rb: Rulebook, records: pd.DataFrame, params: pd.DataFrame, subjects: pd.DataFrame, as_of: int
) -> pd.DataFrame:
    """The rules of the plan (reports aside: the benchmark ledger has none) in pandas."""
    eff = rb.effective_day
    m = records[records.day <= as_of].merge(params, on="parameter_id", how="left")
    qty = m.quantity.fillna(1.0).to_numpy()
    base = m.points.to_numpy(dtype=np.float64, na_value=0.0)
    scaled = base * qty
    per_unit = np.sign(scaled) * np.floor(np.abs(scaled) + 1e-9)
    points = np.where(m.per_unit.fillna(False).to_numpy(dtype=bool), per_unit, base).astype(
        np.int64
    )
    day = m.day.to_numpy()
    expiry = m.expiry_days.to_numpy(dtype=np.float64, na_value=np.nan)
    conf = m.confidence.to_numpy(dtype=np.float64, na_value=np.nan)
    min_conf = m.min_confidence.to_numpy(dtype=np.float64, na_value=np.nan)
    counted = (
        m.category_id.notna().to_numpy()
        & (day >= eff)
        & ~(~np.isnan(expiry) & (as_of >= day + expiry))
        & ~(~np.isnan(conf) & (conf < min_conf))
    )
    period_days = m.cap_period_days.to_numpy(dtype=np.float64, na_value=np.nan)
    capped = counted & ~np.isnan(period_days)
    points = np.where(counted, points, 0)
    subject = m.subject_id.to_numpy()
    uncapped = pd.Series(np.where(capped, 0, points)).groupby(subject).sum()
    c = pd.DataFrame(
        {
            "subject": subject[capped],
            "category": m.category_id.to_numpy()[capped],
            "period": (day - (day - eff) % np.nan_to_num(period_days, nan=1).astype(np.int64))[
                capped
            ],
            "deduction": np.minimum(points[capped], 0),
            "addition": np.maximum(points[capped], 0),
        }
    )
    g = c.groupby(["subject", "category", "period"], sort=False).sum().reset_index()
    caps = params.groupby("category_id")[["cap_max_deduction", "cap_max_addition"]].max()
    g = g.join(caps, on="category")
    clamped = np.maximum(g.deduction, -g.cap_max_deduction.fillna(2**62)) + np.minimum(
        g.addition, g.cap_max_addition.fillna(2**62)
    )
    capped_sum = clamped.groupby(g.subject.to_numpy()).sum()
    total = uncapped.add(capped_sum, fill_value=0)
    score = rb.spec.base_score + total.reindex(subjects.subject_id, fill_value=0).to_numpy().astype(
        np.int64
    )
    return pd.DataFrame(
        {
            "subject_id": subjects.subject_id.to_numpy(),
            "score": score,
            "grade": grades(rb, score, subjects.kind.to_numpy()),
        }
    )


def score_python(
    rb: Rulebook, rows: list[tuple], params: dict[int, tuple], as_of: int
) -> dict[int, int]:
    """The same rules in a plain dict loop; returns scores of the subjects it saw."""
    eff = rb.effective_day
    uncapped: dict[int, int] = {}
    groups: dict[tuple[int, int, int], list[int]] = {}
    for subject, parameter, day, quantity, confidence in rows:
        if day > as_of:
            continue
        p = params.get(parameter)
        if p is None or day < eff:
            continue
        category, points, per_unit, expiry, min_conf, period_days, _, _ = p
        if expiry is not None and as_of >= day + expiry:
            continue
        if confidence is not None and confidence < min_conf:
            continue
        if per_unit:
            scaled = points * (1.0 if quantity is None else quantity)
            points = int(np.sign(scaled)) * int(abs(scaled) + 1e-9)
        if period_days is None:
            uncapped[subject] = uncapped.get(subject, 0) + points
        else:
            key = (subject, category, day - (day - eff) % period_days)
            acc = groups.get(key)
            if acc is None:
                groups[key] = acc = [0, 0]
            if points < 0:
                acc[0] += points
            else:
                acc[1] += points
    caps = {p[0]: (p[6], p[7]) for p in params.values()}
    totals = dict(uncapped)
    for (subject, category, _), (ded, add) in groups.items():
        max_ded, max_add = caps[category]
        ded = ded if max_ded is None else max(ded, -max_ded)
        add = add if max_add is None else min(add, max_add)
        totals[subject] = totals.get(subject, 0) + ded + add
    return {s: rb.spec.base_score + t for s, t in totals.items()}


def reference_query(store: Store, rb: Rulebook, as_of: int) -> int:
    """The baseline workload (``common.reference_sql``) on the same ledger: the subjects
    it grades."""
    return int(store.rows(reference_sql(rb, as_of))[0][0])


def timed(fn, repeat: int):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return result, min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=20_000_000)
    ap.add_argument("--subjects", type=int, default=2_000_000)
    ap.add_argument("--python-records", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--no-incremental", action="store_true", help="skip the incremental runs (minutes)"
    )
    ap.add_argument(
        "--only-incremental", action="store_true", help="only the incremental runs and theirs"
    )
    args = ap.parse_args()

    store, seed = bench_store(args.records, args.subjects)
    as_of = day_number(AS_OF)
    n = args.records
    if args.only_incremental:
        path = store.path
        store.close()
        incremental_rows(path, seed, n)
        return

    log("socialrating: score_run on the seed with its pilot mechanics")
    score_run(store, AS_OF, seed, full=True)  # warm: compiles the plan once, as a service would
    _, m_best, m_median = timed(lambda: score_run(store, AS_OF, seed, full=True), args.repeat)
    log(f"  best {m_best:.2f} s, median {m_median:.2f} s: {n / m_best / 1e6:.2f} M records/s")

    # The peers implement points, per-unit points, expiry, confidence, caps and grades,
    # not the pilot mechanics: the comparison runs the seed without them.
    rb = plain_rulebook(seed)
    install_rulebook(store, rb)
    log("socialrating: score_run on the seed without pilot mechanics (the peers' rules)")
    score_run(store, AS_OF, rb, full=True)
    run, best, median = timed(lambda: score_run(store, AS_OF, rb, full=True), args.repeat)
    ours = n / best
    snapshot = store.arrow(
        "SELECT subject_id, score, grade FROM snapshot WHERE run_id = ? ORDER BY subject_id",
        [run.run_id],
    ).to_pandas()
    log(f"  best {best:.2f} s, median {median:.2f} s: {ours / 1e6:.2f} M records/s")

    log("reference: the baseline workload (docs/architecture.md) as plain DuckDB SQL")
    _, r_best, _ = timed(lambda: reference_query(store, rb, as_of), args.repeat)
    log(f"  best {r_best:.2f} s: {n / r_best / 1e6:.2f} M records/s")

    log("pandas: loading the same records (not timed)")
    records, params, subjects = load_frames(store, rb)
    log("pandas: merge + group-by")
    result, p_best, _ = timed(
        lambda: score_pandas(rb, records, params, subjects, as_of), max(1, args.repeat - 1)
    )
    same = (result.score.to_numpy() == snapshot.score.to_numpy()).all() and (
        result.grade.to_numpy() == snapshot.grade.to_numpy()
    ).all()
    log(
        f"  best {p_best:.2f} s: {n / p_best / 1e6:.2f} M records/s; same scores and grades: {same}"
    )

    k = min(args.python_records, n)
    log(f"pure Python: dict loop over the first {k:,} records")
    head = records.head(k)
    rows = list(
        zip(
            head.subject_id.tolist(),
            head.parameter_id.tolist(),
            head.day.tolist(),
            [None if q != q else q for q in head.quantity.tolist()],
            [None if c != c else c for c in head.confidence.tolist()],
            strict=True,
        )
    )
    pdict = {
        int(r.parameter_id): (
            int(r.category_id),
            int(r.points),
            bool(r.per_unit),
            None if pd.isna(r.expiry_days) else int(r.expiry_days),
            float(r.min_confidence),
            None if pd.isna(r.cap_period_days) else int(r.cap_period_days),
            None if pd.isna(r.cap_max_deduction) else int(r.cap_max_deduction),
            None if pd.isna(r.cap_max_addition) else int(r.cap_max_addition),
        )
        for r in params.itertuples()
    }
    py_scores, py_best, _ = timed(lambda: score_python(rb, rows, pdict, as_of), 1)
    check = score_pandas(rb, head, params, subjects, as_of).set_index("subject_id").score
    py_same = all(check[s] == v for s, v in py_scores.items())
    log(f"  {py_best:.2f} s: {k / py_best / 1e6:.2f} M records/s; same scores as pandas: {py_same}")

    rates = {
        "socialrating (Ibis plan on DuckDB)": ours,
        "socialrating, seed with pilot mechanics": n / m_best,
        "reference workload, plain DuckDB SQL": n / r_best,
        "pandas (merge + group-by)": n / p_best,
        "pure Python (dict loop)": k / py_best,
    }
    print()
    print(
        f"Scoring {n:,} records for {args.subjects:,} subjects, 160,000 parameters, as of {AS_OF}"
    )
    print(f"{'approach':38s} {'records/s':>14s} {'socialrating is':>16s}")
    for name, rate in rates.items():
        print(f"{name:38s} {rate:>14,.0f} {ours / rate:>15.2f}x")
    print()
    print("Baselines of docs/architecture.md (medians of other runs, for reference):")
    for name, rate in BASELINES.items():
        print(f"  {name:36s} {rate:>14,.0f}")
    vs_pandas = ours / rates["pandas (merge + group-by)"]
    print()
    print(
        f"target >= {TARGET_RATE / 1e6:.0f} M records/s: {'met' if ours >= TARGET_RATE else 'NOT met'} ({ours / 1e6:.2f} M)"
    )
    print(
        f"target >= {TARGET_VS_PANDAS:.0f}x pandas:        {'met' if vs_pandas >= TARGET_VS_PANDAS else 'NOT met'} ({vs_pandas:.2f}x)"
    )
    vs_reference = ours / rates["reference workload, plain DuckDB SQL"]
    full_vs_plain = rates["socialrating, seed with pilot mechanics"] / ours
    print(
        f"target plain >= 1x reference: {'met' if vs_reference >= 1 else 'NOT met'} ({vs_reference:.2f}x)"
    )
    print(
        f"target full >= {TARGET_FULL_VS_PLAIN}x plain:  {'met' if full_vs_plain >= TARGET_FULL_VS_PLAIN else 'NOT met'} ({full_vs_plain:.2f}x)"
    )
    print(
        f"parity: pandas {'same' if same else 'DIFFERENT'}, Python {'same' if py_same else 'DIFFERENT'}"
    )
    if not args.no_incremental:
        path = store.path
        store.close()
        incremental_rows(path, seed, n)
    if not (same and py_same):
        sys.exit(1)


def add_days(store: Store, first: int, days: int, per_day: int, tag: str) -> None:
    """``days`` days of new records from day ``first`` on, ``per_day`` a day, drawn from the
    ledger's own records (same subjects, parameters and institutions), through the ledger's
    append (digests and chain)."""
    for d in range(days):
        store.run(
            f"""CREATE OR REPLACE TEMP TABLE new_records AS
                SELECT row_number() OVER () AS line, kind, parameter_id, subject_id,
                       {first + d} AS day, quantity, severity, confidence, counterpart_id,
                       evidence, refers_to, act, level,
                       '{tag}-{d}-' || entry_id AS idem_key, institution_id
                FROM (SELECT * FROM entries WHERE kind = 1) USING SAMPLE {per_day} ROWS
                (reservoir, {7 + d})"""
        )
        for (inst,) in store.rows("SELECT DISTINCT institution_id FROM new_records ORDER BY 1"):
            store.run(
                "CREATE OR REPLACE TEMP VIEW new_batch AS SELECT * EXCLUDE (institution_id) "
                f"FROM new_records WHERE institution_id = {int(inst)}"
            )
            with store.transaction():
                append_rows(store, "new_batch", int(inst), tag)


def forget_run(store: Store, run_id: int) -> None:
    """Delete a run's rows (so that the next run starts from the run before it; its id is
    given again to the next run, so none of its rows may stay)."""
    for table in ("snapshot", "list_members", "run_factors", "runs"):
        store.run(f"DELETE FROM {table} WHERE run_id = {int(run_id)}")


def incremental_rows(path: str, seed: Rulebook, n: int) -> None:
    """Incremental runs after one day and after seven days of new records (a day: the
    ledger's records over 365), each against a full run as of the same day, on a copy of
    the bench ledger; both must store the same snapshot."""
    import shutil

    work = str(Path(path).with_name("incremental-work.duckdb"))
    shutil.copyfile(path, work)
    store = open_store(work)
    try:
        activate_rulebook(store, seed)
        per_day = n // 365
        day0 = day_number(AS_OF)
        log("incremental: a full run of the full seed as of the last day (the base)")
        score_run(store, AS_OF, seed, full=True)
        # The incremental plans compiled once (seconds), as the first incremental run of a
        # database does, and cached in it: neither a server nor a later process compiles
        # them again.
        for plan in incremental.plans(seed):
            compiled(store, seed, plan)
        rows = []
        for label, days in (("one day", 1), ("seven days", 7)):
            add_days(store, day0 + 1, days, per_day, f"incr-{days}")
            as_of = AS_OF + dt.timedelta(days=days)
            # As a server runs it, holding the file since it stored the base run: no check
            # of the base (``store.vouched``), the file warm. Then as `socialrating score`
            # does, in a process that opens the file: it checks the base run's digests
            # first, and reads the file cold. Each against a full run in the same state,
            # each pair compared before anything is deleted; the cold full run stays, as
            # the base of the next night.
            for how in ("held", "opened"):
                if how == "opened":
                    store.close()
                    store = open_store(work)
                start = time.perf_counter()
                inc = score_run(store, as_of, seed)
                inc_s = time.perf_counter() - start
                if how == "opened":
                    store.close()
                    store = open_store(work)
                start = time.perf_counter()
                full = score_run(store, as_of, seed, full=True)
                full_s = time.perf_counter() - start
                differ = store.scalar(
                    f"""SELECT count(*) FROM (
                        (SELECT * EXCLUDE (run_id) FROM snapshot WHERE run_id = {inc.run_id}
                         EXCEPT ALL
                         SELECT * EXCLUDE (run_id) FROM snapshot WHERE run_id = {full.run_id})
                        UNION ALL
                        (SELECT * EXCLUDE (run_id) FROM snapshot WHERE run_id = {full.run_id}
                         EXCEPT ALL
                         SELECT * EXCLUDE (run_id) FROM snapshot WHERE run_id = {inc.run_id}))"""
                )
                rows.append((f"{label}, file {how}", days * per_day, inc, inc_s, full_s, differ))
                log(f"  {label} ({how}): incremental {inc_s:.2f} s, full {full_s:.2f} s")
                forget_run(store, inc.run_id)
                if how == "held":
                    forget_run(store, full.run_id)
            day0 += days
    finally:
        store.close()
        Path(work).unlink(missing_ok=True)
        Path(work + ".wal").unlink(missing_ok=True)
    print()
    print(f"{'run (full seed)':44s} {'seconds':>10s} {'full run':>10s} {'faster':>8s}  rescored")
    for label, added, inc, inc_s, full_s, differ in rows:
        same = "same snapshot" if differ == 0 else f"{differ} ROWS DIFFER"
        print(
            f"{'incremental, ' + label:44s} {inc_s:>10.2f} {full_s:>10.2f} {full_s / inc_s:>7.2f}x"
            f"  {inc.incremental.get('scores', inc.subjects):,} of {inc.subjects:,} subjects"
            f"{' (in full: past FULL_SHARE)' if inc.incremental.get('full') else ''} after "
            f"{added:,} new records; {same}"
        )
    for one in rows[:2]:
        ratio = one[4] / one[3]
        print(
            f"target incremental one day >= {TARGET_INCREMENTAL}x faster than full "
            f"({one[0].split(', ')[1]}): "
            f"{'met' if ratio >= TARGET_INCREMENTAL else 'NOT met'} ({ratio:.2f}x)"
        )
    if any(r[5] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
