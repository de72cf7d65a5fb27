"""Helpers for the edge-case tests of the pilot mechanics (found in review): a store with a rulebook written in the test, and feeding."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa

from socialrating.ledger import activate_rulebook, ingest_table, open_store, register_subjects
from socialrating.ledger.readers import staged_table
from socialrating.rulebook import load_rulebook

PILOT = (Path(__file__).resolve().parents[2] / "cases" / "pilot.yaml").read_text()
_keys = itertools.count(1)


def make_store(tmp_path: Path, rulebook_text: str, subjects: dict[str, str], name="rb.yaml"):
    path = tmp_path / name
    path.write_text(rulebook_text)
    rb = load_rulebook(path)
    store = open_store(tmp_path / "t.duckdb", create=True)
    activate_rulebook(store, rb)
    register_subjects(
        store, pa.table({"code": list(subjects), "kind": [subjects[c] for c in subjects]})
    )
    return store, rb


def feed(store, institution: str, rows: list[dict[str, Any]]) -> list[int]:
    """Ingest rows; returns their entry ids in order."""
    names = sorted({k for r in rows for k in r} | {"key"})
    cols = {n: [None if r.get(n) is None else str(r[n]) for r in rows] for n in names if n != "key"}
    cols["key"] = [str(r.get("key", f"k{next(_keys)}")) for r in rows]
    res = ingest_table(store, staged_table(cols, list(range(2, len(rows) + 2))), institution, "t")
    assert res.batch is not None
    return [res.batch.first_entry + i for i in range(len(rows))]


def rec(subject, parameter, date, **extra):
    return {"subject": subject, "parameter": parameter, "date": date, **extra}


def snapshot(store, run_id):
    return {
        code: (score, grade, points_score, direct, stage)
        for code, score, grade, points_score, direct, stage in store.rows(
            """SELECT s.code, n.score, n.grade, n.points_score, n.direct_grade, n.stage
               FROM snapshot n JOIN subjects s USING (subject_id) WHERE run_id = ?""",
            [run_id],
        )
    }


def d(text):
    return dt.date.fromisoformat(text)
