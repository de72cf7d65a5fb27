"""Golden cases: a small rulebook, a ledger and the hand-computed statements, on DuckDB.

Each directory under ``tests/cases/`` holds:

- the rulebook: ``rulebook.yaml``, or the file ``case.yaml`` names as ``rulebook``
  (relative to the case, so cases can share ``tests/cases/pilot.yaml``);
- ``ledger.csv``: the records in the order they arrive, with an ``institution`` column
  (consecutive rows of one institution form one batch, which ends before a row that
  names one of its rows); ``refers_to`` names a row's key;
- ``case.yaml``: ``subjects`` (code → kind, or → ``{kind, born}``) and ``checks``, each an
  ``as_of`` date and,
  per subject, the expected ``score``, ``grade`` and optionally ``points_score``,
  ``stage``, ``bounded`` and ``bound`` (what a floor or ceiling did), ``adjustment``,
  ``deleted`` (expired records past the retention, left out of the statement),
  ``direct`` (grade, key, until) and ``lines``: every statement line in order,
  each a mapping of the fields to compare (``key`` for the entry, ``related`` as a key);
  ``lists``: every list the subject is on, with ``since``, ``until``, ``key`` or
  ``cause`` (and ``grade``: for an alert, the measure) where given; ``decisions``:
  service → decision (or → ``{decision, key_factors}``, the factors' codes);
  ``key_factors``: [code, effect] pairs in order; ``measures``: every measure the
  statement has, each a mapping of the fields to compare (numbers to 1e-3; ``acts``: each
  act's ``act``, ``date``, ``capped``, ``time_weight`` and ``adds``).

Every check also runs the batch plan and compares the snapshot with the statement.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml

from socialrating.ledger import (
    Store,
    activate_rulebook,
    ingest_table,
    open_store,
    register_subjects,
)
from socialrating.ledger.readers import staged_table
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.scoring import score_run, statement

CASES = Path(__file__).resolve().parents[1] / "cases"
NAMES = sorted(p.name for p in CASES.iterdir() if (p / "case.yaml").exists())


def case_rulebook(case: Path) -> Path:
    """The rulebook file of the case in directory ``case``."""
    spec = yaml.safe_load((case / "case.yaml").read_text())
    return case / spec.get("rulebook", "rulebook.yaml")


def _load(
    tmp_path: Path, case: Path, rulebook: Rulebook | None = None
) -> tuple[Store, dict[str, Any], dict[str, int]]:
    """The case's store, spec and keys (entry ids by key), on its rulebook or ``rulebook``."""
    spec = yaml.safe_load((case / "case.yaml").read_text())
    store = open_store(tmp_path / "golden.duckdb", create=True)
    activate_rulebook(store, rulebook or load_rulebook(case_rulebook(case)))
    # A subject is ``code: kind``, or ``code: {kind: …, born: …}``.
    subjects = {c: v if isinstance(v, dict) else {"kind": v} for c, v in spec["subjects"].items()}
    register_subjects(
        store,
        pa.table(
            {
                "code": list(subjects),
                "kind": [subjects[c]["kind"] for c in subjects],
                "born": [str(subjects[c].get("born") or "") for c in subjects],
            }
        ),
    )
    with (case / "ledger.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    keys: dict[str, int] = {}
    batch: list[dict[str, str]] = []
    for i, row in enumerate(rows):
        if row.get("refers_to") in {r["key"] for r in batch}:  # stored before it is named
            _ingest(store, batch, keys)
            batch = []
        batch.append(row)
        if i + 1 == len(rows) or rows[i + 1]["institution"] != row["institution"]:
            _ingest(store, batch, keys)
            batch = []
    return store, spec, keys


def _ingest(store: Store, rows: list[dict[str, str]], keys: dict[str, int]) -> None:
    cols: dict[str, list[str | None]] = {}
    for name in rows[0]:
        if name == "institution":
            continue
        values = [r[name] or None for r in rows]
        if name == "refers_to":
            values = [None if v is None else str(keys[v]) for v in values]
        cols[name] = values
    result = ingest_table(
        store, staged_table(cols, list(range(2, len(rows) + 2))), rows[0]["institution"], "case"
    )
    assert result.batch is not None
    for n, row in enumerate(rows):
        keys[row["key"]] = result.batch.first_entry + n


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_golden_case(tmp_path: Path, name: str) -> None:
    store, spec, keys = _load(tmp_path, CASES / name)
    by_id = {v: k for k, v in keys.items()}
    try:
        for check in spec["checks"]:
            as_of = dt.date.fromisoformat(str(check["as_of"]))
            run = score_run(store, as_of)
            snapshot = {
                code: (score, grade, stage)
                for code, score, grade, stage in store.rows(
                    """SELECT s.code, n.score, n.grade, n.stage FROM snapshot n
                       JOIN subjects s USING (subject_id) WHERE run_id = ?""",
                    [run.run_id],
                )
            }
            for code, want in check["subjects"].items():
                where = f"{name} as of {as_of}, {code}"
                st = statement(store, code, as_of)
                got = st.as_dict()
                assert (st.score, st.grade) == (want["score"], want["grade"]), where
                assert snapshot[code] == (st.score, st.grade, st.stage), where
                for field in ("points_score", "stage", "bounded", "bound", "adjustment", "deleted"):
                    if field in want:
                        assert got[field] == want[field], f"{where}: {field}"
                if "direct" in want:
                    _check_direct(st.as_dict()["direct_grade"], want["direct"], keys, where)
                if "lines" in want:
                    _check_lines(got["lines"], want["lines"], by_id, keys, where)
                if "lists" in want:
                    _check_lists(got["lists"], want["lists"], keys, where)
                    # The run stores what the statement shows.
                    stored = store.rows(
                        """SELECT m.list, strftime(DATE '1970-01-01' + m.start_day, '%Y-%m-%d')
                           FROM list_members m JOIN subjects s USING (subject_id)
                           WHERE m.run_id = ? AND s.code = ? ORDER BY ALL""",
                        [run.run_id, code],
                    )
                    shown = sorted((m["list"], m["since"]) for m in got["lists"])
                    assert stored == shown, f"{where}: the run's list members"
                if "measures" in want:
                    _check_measures(got["measures"], want["measures"], where)
                if "key_factors" in want:
                    factors = [(f["code"], f["effect"]) for f in got["key_factors"]]
                    assert factors == [tuple(f) for f in want["key_factors"]], where
                for service, decision in want.get("decisions", {}).items():
                    found = [d for d in got["decisions"] if d["service"] == service]
                    if isinstance(decision, dict):  # with its key factors' codes
                        codes = [[f["code"] for f in d["key_factors"]] for d in found]
                        assert codes == [decision["key_factors"]], f"{where}: {service}"
                        decision = decision["decision"]
                    assert [d["decision"] for d in found] == [decision], f"{where}: {service}"
    finally:
        store.close()


def _check_lists(
    got: list[dict[str, Any]], want: dict[str, Any], keys: dict[str, int], where: str
) -> None:
    """``want``: per list the subject is on, ``since``, ``until`` and ``key`` (its cause's
    entry) where given; the subject is on no other list."""
    assert sorted(m["list"] for m in got) == sorted(want), f"{where}: lists"
    for m in got:
        w = want[m["list"]] or {}
        for field in ("since", "until"):
            if field in w:
                value = None if w[field] is None else str(w[field])
                assert m[field] == value, f"{where}: {m['list']}.{field} is {m[field]!r}"
        if "key" in w:
            assert m["entry_id"] == keys[w["key"]], f"{where}: {m['list']}.key"
        for field in ("cause", "grade"):
            if field in w:
                assert m[field] == w[field], f"{where}: {m['list']}.{field} is {m[field]!r}"


def _check_measures(got: list[dict[str, Any]], want: dict[str, Any], where: str) -> None:
    """``want``: per measure the statement has, the fields to compare; no other measure."""
    assert [m["code"] for m in got] == list(want), f"{where}: measures"
    for m in got:
        for field, value in want[m["code"]].items():
            at = f"{where}: {m['code']}.{field}"
            if field == "acts":
                acts = [
                    {k: a[k] for k in ("act", "date", "capped", "time_weight", "adds")}
                    for a in m["acts"]
                ]
                assert acts == [{**w, "date": str(w["date"])} for w in value], at
            elif isinstance(value, float) and m[field] is not None:
                assert abs(m[field] - value) < 1e-3, f"{at} is {m[field]!r}"
            else:
                assert m[field] == value, f"{at} is {m[field]!r}"


def _check_direct(got: Any, want: Any, keys: dict[str, int], where: str) -> None:
    if want is None:
        assert got is None, where
        return
    assert got is not None, f"{where}: no direct grade"
    assert got["grade"] == want["grade"], where
    assert got["entry_id"] == keys[want["key"]], where
    until = want.get("until")
    assert got["until"] == (None if until is None else str(until)), where


def _check_lines(
    got: list[dict[str, Any]],
    want: list[dict[str, Any]],
    by_id: dict[int, str],
    keys: dict[str, int],
    where: str,
) -> None:
    assert [by_id[g["entry_id"]] for g in got] == [w["key"] for w in want], f"{where}: lines"
    for g, w in zip(got, want, strict=True):
        for field, value in w.items():
            if field == "key":
                continue
            if field == "related":
                assert g["related_entry"] == keys[value], f"{where}: {w['key']}.related"
            elif field == "reason":
                assert value in g["reason"], f"{where}: {w['key']}.reason {g['reason']!r}"
            else:
                expected = str(value) if field == "expires" and value is not None else value
                assert g[field] == expected, f"{where}: {w['key']}.{field} is {g[field]!r}"
