"""Benchmark: the HTTP service (`socialrating serve`) under load from other processes.

The database is the demo's (``socialrating demo``: 100,000 citizens, 10,000
organisations, a year of records, scored), built once into bench/.data/ and copied for
each run (the ingest phase adds to it). The server runs as a user runs it, in a process
of its own on loopback; the load comes from ``--clients`` other processes, each with
``--connections`` keep-alive HTTP/1.1 connections (``http.client``), each phase for
``--seconds``. In the same run:

- single decisions: ``GET /v1/decisions/flight/{subject}`` with a provider's key, a
  random subject each time: decisions per second, p50 and p99 latency;
- batch decisions: ``POST /v1/decisions/flight`` with ``--batch`` subjects per body:
  decisions per second, as JSON (every decision in full) and as CSV (``Accept:
  text/csv``: decided together, the columns ``check-batch`` writes);
- ingest: ``POST /v1/institutions/{institution}/records`` with ``--records`` records per
  body (each with a key of its own in the run, the content of the demo's own records of
  that institution): records stored per second (as the answers count them); then the
  same with ``--large-records`` per body (an institution's daily file rather than a
  stream of small ones). A client serialises a body once and puts each request's keys
  into it, so that the load processes, on the same two cores as the server, spend about
  a millisecond a body rather than 15;
- single decisions while batches come in: one client process of each at once, the
  batches from the institution that sent the most records naming no counterpart (a
  batch makes the subjects it touches wait for their rescoring; contacts, which
  contagion carries further, touch more): decisions per second, p50 and p99, and the
  records ingested meanwhile;
- how many subjects one body of records makes wait, of each of the two institutions
  (on a copy of the database: ``incremental.touched``);
- the peers: ``GET /v1/health`` (no key, two small queries: about the least a request
  costs here), and, in-process without HTTP, the same single decision from
  ``decide_one`` (one subject's rows) and from a loaded ``Decider`` (the run in memory,
  what the service answers from).

Targets (issue 11): at least 3,000 single decisions/s with p99 under 10 ms; at least
500,000 decisions/s in batches; at least 100,000 records/s ingested. Usage:

    .venv/bin/python bench/serve.py [--citizens 100000] [--seconds 10] [--clients 2]
        [--connections 4] [--batch 10000] [--records 10000]
        [--large-records 50000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

SR = str(Path(sys.executable).with_name("socialrating"))
SERVICE = "flight"
TARGET_SINGLE = 3_000  # decisions per second
TARGET_P99_MS = 10.0
TARGET_BATCH = 500_000  # decisions per second
TARGET_INGEST = 100_000  # records per second


# --- the load, in client processes -------------------------------------------------------


def _worker(
    job: dict[str, Any], start_at: float, seconds: float, seed: int
) -> tuple[int, int, list[float], list[int]]:
    """One client process: ``connections`` threads, each on its own keep-alive connection,
    sending ``job``'s requests from ``start_at`` for ``seconds``. Returns the requests
    answered, the items they carried (decisions or records), each latency (seconds) and
    the statuses that were not 200."""
    results: list[tuple[int, int, list[float], list[int]]] = []
    lock = threading.Lock()

    def connection(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", job["port"], timeout=120)
        headers = {"Authorization": f"Bearer {job['secret']}"}
        if job.get("accept"):
            headers["Accept"] = job["accept"]
        done = items = 0
        latencies: list[float] = []
        bad: list[int] = []
        n = 0
        template = _records_template(job) if job["phase"] == "ingest" else b""
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            n += 1
            tag = f"{job.get('round', 0)}{seed:02d}{index:02d}{n:07d}"  # unique in the run
            method, path, body, count = _request(job, rng, tag)
            if job["phase"] == "ingest":  # the same records, keys of their own
                payload: bytes | None = template.replace(_TAG, tag.encode())
            else:
                payload = None if body is None else json.dumps(body).encode()
            h = headers if payload is None else {**headers, "Content-Type": "application/json"}
            t = time.perf_counter()
            conn.request(method, path, body=payload, headers=h)
            response = conn.getresponse()
            answer = response.read()
            latencies.append(time.perf_counter() - t)
            if response.status == 200:
                done += 1
                # Records count as ingested when stored (a repeated key is not).
                items += json.loads(answer)["stored"] if job["phase"] == "ingest" else count
            else:
                bad.append(response.status)
        conn.close()
        with lock:
            results.append((done, items, latencies, bad))

    threads = [threading.Thread(target=connection, args=(i,)) for i in range(job["connections"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (
        sum(r[0] for r in results),
        sum(r[1] for r in results),
        [x for r in results for x in r[2]],
        [x for r in results for x in r[3]],
    )


def _request(job: dict[str, Any], rng: random.Random, tag: str) -> tuple[str, str, Any, int]:
    """The next request of a phase: method, path, JSON body, and the items it carries."""
    codes = job["codes"]
    if job["phase"] == "health":
        return "GET", "/v1/health", None, 1
    if job["phase"] == "single":
        return "GET", f"/v1/decisions/{SERVICE}/{rng.choice(codes)}", None, 1
    if job["phase"] in ("batch", "batch_csv"):
        k = job["batch"]
        start = rng.randrange(len(codes))
        subjects = (codes[start:] + codes[:start])[:k] if k <= len(codes) else codes
        return "POST", f"/v1/decisions/{SERVICE}", {"subjects": subjects}, len(subjects)
    return (
        "POST",
        f"/v1/institutions/{job['institution']}/records",
        None,  # the body: ``_records_template`` with the request's tag
        len(job["records"]),
    )


_TAG = b"@" * 12
"""Where a request's tag (12 characters) goes in each key of an ingest body."""


def _records_template(job: dict[str, Any]) -> bytes:
    """An ingest body, serialised once per connection: each request replaces ``_TAG`` in
    every key with its own tag (a copy of the bytes, about a millisecond), so that the
    client processes, on the same cores as the server, do not spend 15 ms of CPU a body
    building and serialising 10,000 records again."""
    tag = _TAG.decode()
    records = [{**r, "key": f"bench-{tag}-{i}"} for i, r in enumerate(job["records"])]
    return json.dumps({"records": records}).encode()


def load(job: dict[str, Any], clients: int, seconds: float) -> dict[str, Any]:
    """Run one phase from ``clients`` processes; its figures."""
    ctx = multiprocessing.get_context("spawn")
    start_at = time.time() + 3.0  # the processes start first; the clock runs from here
    with ctx.Pool(clients) as pool:
        parts = pool.starmap(_worker, [(job, start_at, seconds, c + 1) for c in range(clients)])
    done = sum(p[0] for p in parts)
    items = sum(p[1] for p in parts)
    latencies = sorted(x for p in parts for x in p[2])
    bad = [x for p in parts for x in p[3]]
    return {
        "requests": done,
        "items": items,
        "per_second": items / seconds,
        "requests_per_second": done / seconds,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
        "errors": bad,
    }


def mixed(single: dict[str, Any], ingest: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Single decisions from one client process while another sends batches of records:
    the decisions' figures. Each batch makes the subjects it touches wait for their
    rescoring; decisions about anyone else are answered meanwhile from the run before."""
    sent: list[dict[str, Any]] = []
    sender = threading.Thread(target=lambda: sent.append(load(ingest, 1, seconds)))
    sender.start()
    try:
        decided = load(single, 1, seconds)
    finally:
        sender.join()
    return {**decided, "records_per_second": sent[0]["per_second"] if sent else float("nan")}


# --- the server and its database ---------------------------------------------------------


def demo_db(citizens: int, organisations: int, days: int) -> Path:
    """The demo's database, built once."""
    from common import DATA, log

    path = DATA / f"serve-demo-{citizens}-{organisations}-{days}.duckdb"
    if not path.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        log(f"building {path.name} with `socialrating demo` (once)")
        part = path.with_suffix(".part")
        for stale in (part, Path(f"{part}.wal")):
            stale.unlink(missing_ok=True)
        args = ["--citizens", str(citizens), "--organisations", str(organisations)]
        subprocess.run(
            [SR, "demo", "--db", str(part), *args, "--days", str(days), "--json"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        part.rename(path)
    return path


def prepare(db: Path, records: int, large: int = 0) -> dict[str, Any]:
    """Keys, subject codes and bodies of ``records`` and of ``large`` records to send, from
    the database at ``db``."""
    from socialrating.ledger import open_store
    from socialrating.service.keys import create_key
    from socialrating.service.policy import Role

    with open_store(db) as store:
        run = int(store.scalar("SELECT max(run_id) FROM runs"))
        codes = [
            str(c)
            for (c,) in store.rows(
                f"""SELECT s.code FROM snapshot n JOIN subjects s USING (subject_id)
                    WHERE n.run_id = {run} ORDER BY s.subject_id"""
            )
        ]
        # The institution that sent the most records, and a body of its own records'
        # content; and the one that sent the most naming no counterpart (no contacts,
        # which contagion carries further), for the mixed phase.
        institution = store.scalar(
            """SELECT i.code FROM entries e JOIN institutions i USING (institution_id)
               WHERE e.kind = 1 GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"""
        )
        plain = store.scalar(
            """SELECT i.code FROM entries e JOIN institutions i USING (institution_id)
               WHERE e.kind = 1 GROUP BY 1 HAVING count(e.counterpart_id) = 0
               ORDER BY count(*) DESC LIMIT 1"""
        )
        _, provider = create_key(store, Role.PROVIDER, (SERVICE,))
        facts: dict[str, Any] = {"codes": codes, "provider": provider}
        for name, code in (("", institution), ("plain_", plain or institution)):
            facts[f"{name}institution"] = str(code)
            facts[f"{name}records"] = _body(store, str(code), records)
            facts[f"{name}sender"] = create_key(store, Role.INSTITUTION, (str(code),))[1]
        facts["large_records"] = _body(store, str(institution), large)
    return facts


def _body(store: Any, institution: str, records: int) -> list[dict[str, Any]]:
    """The content of ``records`` of the institution's own records, as a batch's rows."""
    rows = store.rows(
        f"""SELECT s.code, p.code, strftime(DATE '1970-01-01' + e.day, '%Y-%m-%d'),
                   e.quantity, e.severity, e.confidence, c.code
            FROM entries e JOIN institutions i USING (institution_id)
            JOIN subjects s ON s.subject_id = e.subject_id
            JOIN parameters p ON p.parameter_id = e.parameter_id
            LEFT JOIN subjects c ON c.subject_id = e.counterpart_id
            WHERE e.kind = 1 AND i.code = ? ORDER BY e.entry_id LIMIT {int(records)}""",
        [institution],
    )
    names = ("subject", "parameter", "date", "quantity", "severity", "confidence", "counterpart")
    return [{k: v for k, v in zip(names, row, strict=True) if v is not None} for row in rows]


def touched_by(source: Path, tmp: Path, institution: str, records: int) -> dict[str, Any]:
    """On a copy of ``source``: one body of ``institution``'s records acknowledged, then the
    subjects whose decisions wait for its rescoring (``incremental.touched``, timed warm,
    its plans compiled by the first call) out of those the run holds."""
    from socialrating.ledger import open_store
    from socialrating.ledger.ingest import ingest_table
    from socialrating.ledger.readers import staged_table
    from socialrating.ledger.rulebooks import in_force
    from socialrating.model import day_number
    from socialrating.scoring.incremental import base_run, touched

    work = tmp / f"touched-{institution}.duckdb"
    shutil.copyfile(source, work)
    try:
        with open_store(work) as store:
            body = _body(store, institution, records)
            names = sorted({k for r in body for k in r})
            cols = {n: [None if r.get(n) is None else str(r[n]) for r in body] for n in names}
            cols["key"] = [f"touched-{i}" for i in range(len(body))]
            table = staged_table(cols, list(range(2, len(body) + 2)))
            ingest_table(store, table, institution, "bench:touched")
            as_of = store.scalar("SELECT as_of FROM runs ORDER BY run_id DESC LIMIT 1")
            rb = in_force(store, day_number(as_of))
            base = base_run(store, rb)
            assert base is not None, "the demo's latest run is the base of the next"
            touched(store, rb, base)
            start = time.perf_counter()
            ids = touched(store, rb, base)
            seconds = time.perf_counter() - start
            held = store.scalar("SELECT count(*) FROM snapshot WHERE run_id = ?", [base.run_id])
    finally:
        for path in (work, Path(f"{work}.wal")):
            path.unlink(missing_ok=True)
    return {"records": len(body), "touched": len(ids), "of": int(held), "seconds": seconds}


def in_process(db: Path, codes: list[str], seconds: float) -> dict[str, dict[str, float]]:
    """The same single decision without HTTP: ``decide_one`` and a loaded ``Decider``."""
    from socialrating.decisions.decider import load_decider
    from socialrating.decisions.lookup import decide_one
    from socialrating.ledger import open_store

    rng = random.Random(3)
    figures = {}
    with open_store(db) as store:
        decider = load_decider(store)
        ways: list[tuple[str, Callable[[str], object]]] = [
            ("decide_one", lambda code: decide_one(store, code, SERVICE)),
            ("Decider.decide", lambda code: decider.decide(code, SERVICE)),
        ]
        for name, decide in ways:
            for code in codes[:50]:
                decide(code)  # warm
            latencies = []
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                code = rng.choice(codes)
                t = time.perf_counter()
                decide(code)
                latencies.append(time.perf_counter() - t)
            latencies.sort()
            figures[name] = {
                "per_second": len(latencies) / seconds,
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
            }
    return figures


def warm(db: Path) -> None:
    """Compile the plans a server compiles in the background at start (``web.warm``), and
    those of an incremental run, which its first batch of records would compile, into the
    database's plan cache, once: each run's copy then starts with them, and no phase
    shares the cores with a compile of tens of seconds."""
    from socialrating.ledger import open_store
    from socialrating.ledger.append import utc_now
    from socialrating.ledger.rulebooks import in_force
    from socialrating.scoring import incremental
    from socialrating.scoring.compiled import compiled
    from socialrating.web.warm import PLANS

    with open_store(db) as store:
        rb = in_force(store, utc_now().date())
        for name in (*PLANS, *incremental.plans(rb)):
            compiled(store, rb, name)


def settled(port: int, secret: str, code: str) -> None:
    """Wait for one decision about ``code``: the latest run then reflects every record."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request(
        "GET", f"/v1/decisions/{SERVICE}/{code}", headers={"Authorization": f"Bearer {secret}"}
    )
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"a decision after the ingest phase answered {response.status}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [SR, "serve", "--db", str(db), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/v1/health")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"the server did not start: {server.stderr.read()!r}") from None  # type: ignore[union-attr]
        time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not answer in 60 s")


# --- the run -----------------------------------------------------------------------------


def main() -> None:
    from common import log  # not in the client processes: it imports NumPy and the library

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--citizens", type=int, default=100_000)
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--connections", type=int, default=4, help="per client process")
    parser.add_argument("--batch", type=int, default=10_000, help="subjects per batch body")
    parser.add_argument("--records", type=int, default=10_000, help="records per ingest body")
    parser.add_argument(
        "--large-records",
        type=int,
        default=50_000,
        help="records per body of the second ingest phase (an institution's daily file)",
    )
    args = parser.parse_args()

    source = demo_db(args.citizens, args.organisations, args.days)
    warm(source)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        db = Path(tmp) / "serve.duckdb"
        shutil.copyfile(source, db)
        facts = prepare(db, args.records, args.large_records)
        codes = facts["codes"]
        log(
            f"{len(codes):,} subjects in the run; ingest as {facts['institution']} "
            f"({len(facts['records']):,} records per body)"
        )
        log(f"in-process: decide_one and Decider.decide, {args.seconds:g} s each")
        local = in_process(db, codes, args.seconds)
        reach = {}
        for name in (facts["plain_institution"], facts["institution"]):
            log(f"subjects a body of {name}'s records makes wait (on a copy)")
            reach[name] = touched_by(source, Path(tmp), name, args.records)

        port = free_port()
        log(f"socialrating serve on 127.0.0.1:{port}")
        server = serve(db, port)
        try:
            common = {"port": port, "codes": codes, "connections": args.connections}
            single = {**common, "phase": "single", "secret": facts["provider"]}
            batch = {**common, "phase": "batch", "secret": facts["provider"], "batch": args.batch}
            batch_csv = {**batch, "phase": "batch_csv", "accept": "text/csv"}
            ingest = {
                **common,
                "phase": "ingest",
                "secret": facts["sender"],
                "institution": facts["institution"],
                "records": facts["records"],
            }
            log("warm-up")
            load(single, 1, 1.0)
            load({**batch, "connections": 1}, 1, 1.0)
            streams = args.clients * args.connections
            log(f"health (no key, two small queries): {streams} connections, {args.seconds:g} s")
            got_health = load(
                {**common, "phase": "health", "secret": ""}, args.clients, args.seconds
            )
            log(f"single decisions: {streams} connections, {args.seconds:g} s")
            got_single = load(single, args.clients, args.seconds)
            log(f"batch decisions: {streams} connections, {args.seconds:g} s")
            got_batch = load(batch, args.clients, args.seconds)
            log(f"batch decisions as CSV: {streams} connections, {args.seconds:g} s")
            got_csv = load(batch_csv, args.clients, args.seconds)
            # Last: records after the run make the next decision rescore first.
            log(f"ingest: {streams} connections, {args.seconds:g} s")
            got_ingest = load(ingest, args.clients, args.seconds)
            # Keys of their own: a key of the first phase would be a duplicate, not stored.
            large = {**ingest, "records": facts["large_records"], "round": 1}
            log(
                f"ingest, {len(large['records']):,} records per body: {streams} connections, "
                f"{args.seconds:g} s"
            )
            got_large = load(large, args.clients, args.seconds)
            # The mixed phase starts from a current run, not from the ingest phase's
            # records (contacts, touching nearly everyone): one decision scores them.
            log("scoring the ingest phase's records (one decision waits for them)")
            settled(port, facts["provider"], codes[0])
            log(
                f"single decisions while batches of {facts['plain_institution']} come in: "
                f"{args.connections} connections each, {args.seconds:g} s"
            )
            plain = {
                **ingest,
                "secret": facts["plain_sender"],
                "institution": facts["plain_institution"],
                "records": facts["plain_records"],
                "round": 2,
            }
            got_mixed = mixed(single, plain, args.seconds)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)

    report(
        args,
        facts,
        local,
        got_health,
        got_single,
        got_batch,
        got_csv,
        (got_ingest, got_large),
        got_mixed,
    )
    for name, t in reach.items():
        print(
            f"a body of {t['records']:,} records of {name} makes {t['touched']:,} of "
            f"{t['of']:,} subjects wait for its rescoring ({100 * t['touched'] / t['of']:.1f} %; "
            f"found in {t['seconds']:.2f} s)"
        )


def report(
    args: argparse.Namespace,
    facts: dict[str, Any],
    local: dict[str, dict[str, float]],
    health: dict[str, Any],
    single: dict[str, Any],
    batch: dict[str, Any],
    batch_csv: dict[str, Any],
    ingests: tuple[dict[str, Any], dict[str, Any]],
    mixed: dict[str, Any],
) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    print()
    print(
        f"The service on loopback: demo database ({len(facts['codes']):,} subjects), "
        f"{args.clients} client processes x {args.connections} keep-alive connections, "
        f"{args.seconds:g} s per phase, {os.cpu_count()} cores"
    )
    print(f"{'what':52s} {'figure':>18s} {'p50':>9s} {'p99':>9s}  target")
    rows = [
        (
            f"single: GET /v1/decisions/{SERVICE}/{{subject}}",
            f"{single['per_second']:,.0f} dec/s",
            single,
            f">= {TARGET_SINGLE:,}/s, p99 < {TARGET_P99_MS:g} ms: "
            + verdict(single["per_second"] >= TARGET_SINGLE and single["p99_ms"] < TARGET_P99_MS),
        ),
        (
            f"batch: POST /v1/decisions/{SERVICE} ({args.batch:,} per body)",
            f"{batch['per_second']:,.0f} dec/s",
            batch,
            f">= {TARGET_BATCH:,}/s: " + verdict(batch["per_second"] >= TARGET_BATCH),
        ),
        (
            "batch as CSV: the same, Accept: text/csv",
            f"{batch_csv['per_second']:,.0f} dec/s",
            batch_csv,
            f">= {TARGET_BATCH:,}/s: " + verdict(batch_csv["per_second"] >= TARGET_BATCH),
        ),
        *(
            (
                f"ingest: POST .../records ({len(body):,} per body)",
                f"{ingest['per_second']:,.0f} rec/s",
                ingest,
                f">= {TARGET_INGEST:,}/s: " + verdict(ingest["per_second"] >= TARGET_INGEST),
            )
            for body, ingest in zip(
                (facts["records"], facts["large_records"]), ingests, strict=True
            )
        ),
        (
            f"single, while {facts['plain_institution']} sends (a client each)",
            f"{mixed['per_second']:,.0f} dec/s",
            mixed,
            f"meanwhile {mixed['records_per_second']:,.0f} rec/s ingested",
        ),
        (
            "peer: GET /v1/health (no key, 2 small queries)",
            f"{health['per_second']:,.0f} req/s",
            health,
            "peer",
        ),
        (
            "in-process: decide_one (no HTTP)",
            f"{local['decide_one']['per_second']:,.0f} dec/s",
            local["decide_one"],
            "peer",
        ),
        (
            "in-process: loaded Decider.decide (no HTTP)",
            f"{local['Decider.decide']['per_second']:,.0f} dec/s",
            local["Decider.decide"],
            "peer",
        ),
    ]
    for name, figure, f, target in rows:
        print(f"{name:52s} {figure:>18s} {f['p50_ms']:>7.2f}ms {f['p99_ms']:>7.2f}ms  {target}")
    phases = (
        ("health", health), ("single", single), ("batch", batch), ("batch as CSV", batch_csv),
        ("ingest", ingests[0]), ("ingest, large bodies", ingests[1]),
        ("single while ingesting", mixed),
    )  # fmt: skip
    for name, f in phases:
        if f["errors"]:
            print(f"{name}: {len(f['errors'])} answers not 200: {sorted(set(f['errors']))}")


if __name__ == "__main__":
    main()
