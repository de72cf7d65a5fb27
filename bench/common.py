"""Shared set-up for benchmarks: a ledger of synthetic records on the seed rulebook.

The database is built once per size and kept under bench/.data/ (it takes a minute or
two: every row gets its real digests and hash chain); later runs reuse it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from socialrating.errors import LedgerError, LedgerFormatError
from socialrating.ledger import Store, activate_rulebook, open_store
from socialrating.ledger.append import append_rows
from socialrating.model import InstitutionClass
from socialrating.rulebook import Rulebook, RulebookHeader, load_rulebook
from socialrating.simulate.life import param_weights

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / ".data"
SEED = ROOT / "rulebooks" / "seed.yaml"
AS_OF = dt.date(2021, 12, 31)
CHUNK = 2_000_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def bench_store(records: int, subjects: int, seed: int = 7) -> tuple[Store, Rulebook]:
    """A store with ``subjects`` subjects and ``records`` records on the seed rulebook.

    No citizen reports are generated (the peers below do not implement corroboration);
    camera records carry a confidence, per-unit parameters a quantity.
    """
    DATA.mkdir(parents=True, exist_ok=True)
    # v2: contact records name a counterpart (the seed's contagion reads them).
    path = DATA / f"ledger-v2-{records}-{subjects}-{seed}.duckdb"
    rb = load_rulebook(SEED)
    if path.exists():
        try:
            store = open_store(path)
        except LedgerFormatError as exc:  # written by an older ledger format: build it again
            log(f"rebuilding: {exc}")
        except LedgerError as exc:
            # Held by another process, say: never delete what could not be opened.
            raise SystemExit(f"cannot use the bench ledger {path}: {exc}") from None
        else:
            if store.scalar("SELECT count(*) FROM entries WHERE kind = 1") == records:
                # The seed may have changed since the build: the new version replaces it
                # from its own date (a bench ledger, so backdating is what is meant).
                activate_rulebook(store, rb, backdate="the seed changed since the bench build")
                return store, rb
            store.close()
        path.unlink()
    log(f"building {path.name}: {subjects:,} subjects, {records:,} records (once)")
    store = open_store(path, create=True)
    activate_rulebook(store, rb)
    organisations = subjects // 10
    store.run(
        f"""INSERT INTO subjects
        SELECT range + 1,
               CASE WHEN range < {subjects - organisations} THEN 'C' ELSE 'O' END || lpad(CAST(range + 1 AS VARCHAR), 9, '0'),
               CASE WHEN range < {subjects - organisations} THEN 'citizen' ELSE 'organisation' END,
               NULL, NULL, NULL
        FROM range({subjects})"""
    )
    ids = dict(store.rows("SELECT code, parameter_id FROM parameters"))
    inst_ids = dict(store.rows("SELECT code, institution_id FROM institutions"))
    params = rb.parameters
    classes = rb.institution_classes
    first_inst = [
        next((c for c in s.split(";") if classes[c] is not InstitutionClass.CITIZEN), None)
        for s in params.column("institutions").to_pylist()
    ]
    usable = np.array([f is not None for f in first_inst])
    pid = np.array([ids[c] for c in params.column("code").to_pylist()], dtype=np.int32)
    iid = np.array([inst_ids[f] if f else 0 for f in first_inst], dtype=np.int32)
    camera = np.array([f is not None and classes[f] is InstitutionClass.CAMERA for f in first_inst])
    per_unit = params.column("per_unit").to_numpy(zero_copy_only=False)
    kinds = np.array(params.column("subjects").to_pylist())
    points = params.column("points").to_numpy()
    explicit = np.zeros(params.num_rows, dtype=bool)
    explicit[: len(rb.spec.parameters)] = True
    codes = params.column("code").to_pylist()
    contact = codes.index(rb.spec.contagion.parameter) if rb.spec.contagion else -1
    rng = np.random.default_rng(seed)
    pools = {}
    for kind in ("citizen", "organisation"):
        pool = np.flatnonzero(usable & ((kinds == kind) | (kinds == "any")))
        # The demo's weights: heavier points are rarer; the catalogue's tail is 15 %.
        pools[kind] = (pool, param_weights(points[pool], explicit[pool]))
    day0 = rb.effective_day
    done = 0
    while done < records:
        n = min(CHUNK, records - done)
        subject = rng.integers(1, subjects + 1, n)
        is_org = subject > subjects - organisations
        param = np.empty(n, dtype=np.int64)
        for kind, mask in (("citizen", ~is_org), ("organisation", is_org)):
            pool, w = pools[kind]
            param[mask] = pool[rng.choice(len(pool), size=int(mask.sum()), p=w)]
        quantity = np.where(per_unit[param], rng.integers(1, 20, n).astype(np.float64), np.nan)
        confidence = np.where(camera[param], np.round(0.8 + 0.2 * rng.random(n), 3), np.nan)
        # A contact's counterpart: another citizen, mostly one of nearby ids (a circle).
        near = (subject + rng.integers(-40, 41, n) - 1) % (subjects - organisations) + 1
        counterpart = np.where(param == contact, near, 0)
        chunk = pa.table(
            {
                "line": pa.array(np.arange(n), pa.int64()),
                "kind": pa.array(np.ones(n, dtype=np.int8)),
                "parameter_id": pa.array(pid[param]),
                "subject_id": pa.array(subject.astype(np.int64)),
                "day": pa.array((day0 + rng.integers(0, 365, n)).astype(np.int32)),
                "quantity": pa.array(quantity, mask=np.isnan(quantity)),
                "severity": pa.nulls(n, pa.int16()),
                "confidence": pa.array(confidence, mask=np.isnan(confidence)),
                "counterpart_id": pa.array(counterpart.astype(np.int64), mask=counterpart == 0),
                "evidence": pa.nulls(n, pa.string()),
                "refers_to": pa.nulls(n, pa.int64()),
                "act": pa.nulls(n, pa.string()),
                "level": pa.nulls(n, pa.string()),
                "idem_key": pa.array([f"b{done + i}" for i in range(n)], pa.string()),
                "institution": pa.array(iid[param]),
            }
        )
        # One batch per institution, as institutions send them; digests and chain are real.
        store.con.register("bench_chunk", chunk)
        for inst in np.unique(iid[param]):
            store.run(
                f"CREATE OR REPLACE TEMP VIEW bench_batch AS SELECT * FROM bench_chunk WHERE institution = {int(inst)}"
            )
            with store.transaction():
                append_rows(store, "bench_batch", int(inst), "bench")
        store.con.unregister("bench_chunk")
        done += n
        log(f"  {done:,} records")
    store.run("CHECKPOINT")
    return store, rb


# The fields of the pilot mechanics, which pandas and pure Python do not implement.
MECHANICS = (
    "direct_grade",
    "repairs",
    "points_organisation",
    "points_representative",
    "bands",
    "validity",
    "reduction",
)


def plain_rulebook(rb: Rulebook) -> Rulebook:
    """The seed without its pilot mechanics: the rules the peers implement.

    Parameters lose direct grades, repairs, organisation values, bands, validity rules and
    reductions; categories lose repeats; calendar-year caps become 365-day periods; lists,
    services and contagion go. Codes (and so the ledger's parameter ids) stay the same.
    """
    import yaml

    data = yaml.safe_load(rb.yaml_text)
    for p in data["parameters"]:
        if p.get("bands") is not None:
            p.setdefault("points", 0)  # its bands gave its points; the peers have none
        for key in MECHANICS:
            p.pop(key, None)
    for c in data["categories"]:
        c.pop("repeat", None)
        cap = c.get("cap")
        if cap and cap.pop("calendar_year", False):
            cap["period_days"] = 365
    data.pop("lists", None)  # the peers compute no lists (nor decisions)
    data.pop("services", None)
    data.pop("contagion", None)
    data["name"] = f"{data['name']}-plain"
    data["catalogue"] = str((SEED.parent / data["catalogue"]).resolve())
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "seed-plain.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_rulebook(path)


def reference_sql(rb: RulebookHeader, as_of: int) -> str:
    """The baseline workload (docs/architecture.md) as plain SQL, on the ledger's tables:
    join records to the rulebook's parameters, drop expired ones, sum points per subject
    and category, cap each category's deductions, add the base, grade; one row: the
    subjects graded, the grades met and the scores' sum. Less than the plan does (no
    periods, per-unit points, confidence, reports, record counts, snapshot), so it shows
    what this data, machine and engine allow. Written once for every engine: DuckDB's,
    PostgreSQL's and Spark's SQL all read it the same way (literals, no parameters).
    """
    bands = rb.bands("citizen")
    grade = " ".join(f"WHEN score >= {b.min} THEN '{b.grade}'" for b in bands if b.min is not None)
    return f"""SELECT count(*) AS subjects, count(DISTINCT grade) AS grades, sum(score) AS total
        FROM (SELECT subject_id, score, CASE {grade} ELSE '{bands[-1].grade}' END AS grade
              FROM (SELECT subject_id,
                           {rb.spec.base_score} + sum(greatest(s, -coalesce(cap, 1000000000000))) AS score
                    FROM (SELECT e.subject_id, p.category_id, max(p.cap_max_deduction) AS cap,
                                 sum(p.points) AS s
                          FROM entries e JOIN rulebook_parameters p
                            ON p.parameter_id = e.parameter_id AND p.rulebook_hash = '{rb.hash}'
                          WHERE e.kind = 1
                            AND (p.expiry_days IS NULL OR {int(as_of)} < e.day + p.expiry_days)
                          GROUP BY e.subject_id, p.category_id) AS per_category
                    GROUP BY subject_id) AS per_subject) AS graded"""
