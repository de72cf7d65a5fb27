"""Benchmark: ingesting batch files of 1 million records (CSV, Parquet, NDJSON).

Builds once, into bench/.data/: a ledger with the seed rulebook active and 1,000,000
subjects registered (10 % organisations), and three batch files holding the same
1,000,000 valid records from ``tax.national`` (the institution with the most parameters
in the seed): a key, a subject of the kind the parameter applies to, one of the
parameters the institution may report, a day of 2021, a quantity where the parameter
counts by quantity and, on one row in ten, an evidence text with a comma (quoted in CSV).
The Parquet file is typed (dates as dates, quantities as doubles, row groups of 122,880
rows), as a database export would be; the CSV and NDJSON files are text.

Then, in the same run and for each format, on a fresh copy of the ledger:

- socialrating: ``ingest_file`` (read, validate, digests, hash chain, stored);
- the peer: DuckDB reading the same file into a table (``read_csv`` with every column as
  text, ``read_parquet``, ``read_json``) plus a SHA-256 per row, in the same database.

Each runs in a new process (through a small runner process, whose
``getrusage(RUSAGE_CHILDREN)`` is the peak resident memory of that one process, imports
included). Times are of the call only, the best of ``--repeat`` runs; "cores" is the CPU
time of the call over its wall time. Usage:

    python bench/ingest.py [--rows 1000000] [--subjects 1000000] [--repeat 2]
                           [--formats csv,parquet,ndjson]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
SEED = ROOT / "rulebooks" / "seed.yaml"
INSTITUTION = "tax.national"
TARGET_RATE = 300_000  # rows per second, CSV and Parquet
TARGET_PEER = 0.5  # at least half the peer's rate, CSV and Parquet
TARGET_RSS_MB = 500  # peak resident memory, every format
FORMATS = ("csv", "parquet", "ndjson")
# The peer reads the file with DuckDB into a table and hashes each row.
READERS = {
    "csv": "read_csv(?, all_varchar = true, header = true)",
    "parquet": "read_parquet(?)",
    "ndjson": "read_json(?, format = 'newline_delimited')",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the data, built once --------------------------------------------------------------------


def ledger(subjects: int) -> Path:
    """The template ledger: the seed active and ``subjects`` subjects (built once)."""
    from socialrating.errors import LedgerFormatError
    from socialrating.ledger import activate_rulebook, open_store
    from socialrating.rulebook import load_rulebook

    path = DATA / f"ingest-ledger-{subjects}.duckdb"
    if path.exists():
        try:
            open_store(path).close()  # brings an earlier format up to date, where it can
            return path
        except LedgerFormatError as exc:
            log(f"rebuilding: {exc}")
            path.unlink()
    DATA.mkdir(parents=True, exist_ok=True)
    log(f"building {path.name}: the seed and {subjects:,} subjects (once)")
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    with open_store(tmp, create=True) as store:
        activate_rulebook(store, load_rulebook(SEED))
        orgs = subjects // 10
        store.run(
            f"""INSERT INTO subjects SELECT range + 1,
                   CASE WHEN range < {subjects - orgs} THEN 'C' ELSE 'O' END
                     || lpad(CAST(range + 1 AS VARCHAR), 9, '0'),
                   CASE WHEN range < {subjects - orgs} THEN 'citizen' ELSE 'organisation' END,
                   NULL, NULL, NULL
                FROM range({subjects})"""
        )
        store.run("CHECKPOINT")
    tmp.rename(path)
    return path


def batch_files(rows: int, subjects: int, seed: int = 11) -> dict[str, Path]:
    """The same ``rows`` valid records from INSTITUTION as CSV, Parquet and NDJSON (built once)."""
    paths = {fmt: DATA / f"ingest-{rows}-{subjects}-{seed}.{fmt}" for fmt in FORMATS}
    if all(p.exists() for p in paths.values()):
        return paths
    import duckdb
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from socialrating.rulebook import load_rulebook

    log(f"writing {rows:,}-row batches (once)")
    params = load_rulebook(SEED).parameters
    allowed = np.array(
        [INSTITUTION in s.split(";") for s in params.column("institutions").to_pylist()]
    )
    codes = np.array(params.column("code").to_pylist(), dtype=object)[allowed]
    kinds = np.array(params.column("subjects").to_pylist(), dtype=object)[allowed]
    by_quantity = (
        params.column("per_unit").to_numpy(zero_copy_only=False)
        | params.column("bands_id").is_valid().to_numpy(zero_copy_only=False)
    )[allowed]
    rng = np.random.default_rng(seed)
    param = rng.integers(0, len(codes), rows)
    orgs = subjects // 10
    citizen = rng.integers(1, subjects - orgs + 1, rows)
    organisation = rng.integers(subjects - orgs + 1, subjects + 1, rows)
    kind = kinds[param]
    to_org = (kind == "organisation") | ((kind == "any") & (rng.random(rows) < 0.1))
    subject = np.where(to_org, organisation, citizen)
    prefix = np.where(to_org, "O", "C")
    quantity = np.where(by_quantity[param], rng.integers(1, 40, rows).astype(np.float64), np.nan)
    evidence = rng.random(rows) < 0.1
    table = pa.table(
        {
            "key": pa.array(np.char.add("tax-2021-", np.arange(rows).astype(str))),
            "subject": pa.array(np.char.add(prefix, np.char.zfill(subject.astype(str), 9))),
            "parameter": pa.array(codes[param], pa.string()),
            "date": pa.array((18628 + rng.integers(0, 365, rows)).astype(np.int32), pa.date32()),
            "quantity": pa.array(quantity, mask=np.isnan(quantity)),
            "evidence": pa.array(
                np.char.add(
                    np.char.add("file ", rng.integers(1, 9999, rows).astype(str)),
                    np.char.add(", desk ", rng.integers(1, 40, rows).astype(str)),
                ),
                mask=~evidence,
            ),
        }
    )
    pq.write_table(table, paths["parquet"], row_group_size=122_880)
    con = duckdb.connect()
    con.register("batch", table)
    text = (
        "SELECT key, subject, parameter, strftime(date, '%Y-%m-%d') AS date, quantity, evidence "
        "FROM batch"
    )
    con.execute(f"COPY ({text}) TO '{paths['csv']}' (HEADER, DELIMITER ',')")
    con.execute(f"COPY ({text}) TO '{paths['ndjson']}' (FORMAT json)")
    con.close()
    return paths


# --- the measured processes ---------------------------------------------------------------


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def work_ingest(db: str, file: str) -> dict[str, Any]:
    from socialrating.ledger import ingest_file, open_store

    with open_store(db) as store:
        cpu, start = _cpu(), time.perf_counter()
        result = ingest_file(store, file, INSTITUTION)
        seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    return {"seconds": seconds, "cpu": cpu, "stored": result.stored}


def work_peer(db: str, file: str) -> dict[str, Any]:
    import duckdb

    reader = READERS[Path(file).suffix[1:]]
    con = duckdb.connect(db)
    cpu, start = _cpu(), time.perf_counter()
    names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {reader}", [file]).fetchall()]
    text = ", ".join(f'CAST("{n}" AS VARCHAR)' for n in names)
    con.execute(
        f"CREATE TABLE peer AS SELECT *, sha256(concat_ws('|', {text})) AS digest FROM {reader}",
        [file],
    )
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    stored = con.execute("SELECT count(*) FROM peer").fetchall()[0][0]
    con.close()
    return {"seconds": seconds, "cpu": cpu, "stored": stored}


WORKERS = {"ingest": work_ingest, "peer": work_peer}


def measured(worker: str, db: Path, file: Path) -> dict[str, Any]:
    """Run ``worker`` in a new process (through a runner): its figures and its peak RSS."""
    out = subprocess.run(
        [sys.executable, __file__, "--runner", worker, str(db), str(file)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def runner(worker: str, db: str, file: str) -> None:
    """Run the worker as this process's only child and add its peak RSS to its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", worker, db, file],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    # Linux gives ru_maxrss in kilobytes: the largest of this process's (one) children.
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps(figures))


# --- the run --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--worker", nargs=3, metavar=("WHAT", "DB", "FILE"))
    parser.add_argument("--runner", nargs=3, metavar=("WHAT", "DB", "FILE"))
    args = parser.parse_args()
    if args.worker:
        what, db, file = args.worker
        print(json.dumps(WORKERS[what](db, file)))
        return
    if args.runner:
        runner(*args.runner)
        return
    template = ledger(args.subjects)
    files = batch_files(args.rows, args.subjects)
    work = DATA / "ingest-work.duckdb"
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    formats = [f for f in FORMATS if f in args.formats.split(",")]
    for _ in range(args.repeat):
        for fmt in formats:
            for what in ("peer", "ingest"):  # alternately, so that both see the same machine
                for stale in (work, Path(f"{work}.wal"), Path(f"{work}.tmp")):
                    if stale.is_dir():
                        shutil.rmtree(stale)
                    else:
                        stale.unlink(missing_ok=True)
                shutil.copyfile(template, work)
                figures = measured(what, work, files[fmt])
                if figures["stored"] != args.rows:
                    raise SystemExit(f"{what} {fmt}: stored {figures['stored']} of {args.rows}")
                log(
                    f"{what} {fmt}: {figures['seconds']:.2f} s, {figures['cpu']:.2f} s of CPU, "
                    f"{figures['rss_mb']:.0f} MB"
                )
                results.setdefault((fmt, what), []).append(figures)
    work.unlink(missing_ok=True)
    report(results, args.rows, formats)


def report(
    results: dict[tuple[str, str], list[dict[str, Any]]], rows: int, formats: list[str]
) -> None:
    print(
        f"\n{'format':<8} {'approach':<13} {'rows/s':>10} {'time':>7} {'cores':>6} "
        f"{'peak RSS':>9} {'x peer':>7}"
    )
    verdicts = []
    for fmt in formats:
        best = {w: min(results[(fmt, w)], key=lambda r: r["seconds"]) for w in ("ingest", "peer")}
        rss = {w: max(r["rss_mb"] for r in results[(fmt, w)]) for w in ("ingest", "peer")}
        rate = {w: rows / best[w]["seconds"] for w in best}
        for what, name in (("ingest", "socialrating"), ("peer", "DuckDB peer")):
            r = best[what]
            print(
                f"{fmt:<8} {name:<13} {rate[what]:>10,.0f} {r['seconds']:>6.2f}s "
                f"{r['cpu'] / r['seconds']:>6.2f} {rss[what]:>6.0f} MB "
                f"{rate[what] / rate['peer']:>6.2f}x"
            )
        ratio = rate["ingest"] / rate["peer"]
        if fmt != "ndjson":
            verdicts.append(
                (
                    f"{fmt}: at least {TARGET_RATE:,} rows/s",
                    rate["ingest"] >= TARGET_RATE,
                    f"{rate['ingest']:,.0f}",
                )
            )
            verdicts.append(
                (f"{fmt}: at least {TARGET_PEER}x the peer", ratio >= TARGET_PEER, f"{ratio:.2f}x")
            )
        verdicts.append(
            (
                f"{fmt}: peak RSS at most {TARGET_RSS_MB} MB",
                rss["ingest"] <= TARGET_RSS_MB,
                f"{rss['ingest']:.0f} MB",
            )
        )
    print()
    for target, met, figure in verdicts:
        print(f"{'met' if met else 'NOT MET':<8} {target} ({figure})")


if __name__ == "__main__":
    main()
