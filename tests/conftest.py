"""Shared fixtures: a real DuckDB store with the tiny rulebook, and helpers to feed it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from socialrating.ledger import (
    Store,
    activate_rulebook,
    ingest_table,
    open_store,
    register_subjects,
)
from socialrating.ledger.ingest import IngestResult
from socialrating.ledger.readers import staged_table
from socialrating.rulebook import Rulebook, load_rulebook

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny.yaml"
ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "rulebooks" / "seed.yaml"


HEAVY = ("slow", "spark", "browser", "postgres")
LONGEST = "tests/test_readme_tour.py"  # about five minutes on CI: it starts first


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (the README tour before all), so that the workers of
    ``pytest -n`` share them from the start instead of one finishing the last alone.
    With ``--maxschedchunk=1`` (``make test``), as each worker frees up it takes the
    next test (longest first); without it xdist hands each worker a quarter of its share
    at once, and one worker would take every slow test."""

    def heavy(item: pytest.Item) -> int:
        if item.nodeid.startswith(LONGEST) and item.get_closest_marker("slow"):
            return 0
        return 1 if any(item.get_closest_marker(m) for m in HEAVY) else 2

    items.sort(key=heavy)  # stable: the order within each group is kept


@pytest.fixture(scope="session")
def tiny() -> Rulebook:
    return load_rulebook(TINY)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "test.duckdb"


@pytest.fixture
def store(db_path: Path, tiny: Rulebook) -> Iterator[Store]:
    """A fresh DuckDB file with the tiny rulebook active and subjects C1..C9, O1, O2."""
    s = open_store(db_path, create=True)
    activate_rulebook(s, tiny)
    register_subjects(
        s,
        pa.table(
            {
                "code": [f"C{i}" for i in range(1, 10)] + ["O1", "O2"],
                "kind": ["citizen"] * 9 + ["organisation"] * 2,
            }
        ),
    )
    yield s
    s.close()


_counter = iter(range(1, 10**9))


def feed(store: Store, institution: str, rows: list[dict[str, Any]]) -> IngestResult:
    """Ingest rows (dicts of column → value) from ``institution``; keys are made up if absent."""
    cols: dict[str, list[str | None]] = {}
    names = sorted({k for r in rows for k in r} | {"key"})
    for name in names:
        cols[name] = [
            None if r.get(name) is None else str(r[name]) if name != "key" or "key" in r else None
            for r in rows
        ]
    cols["key"] = [str(r.get("key", f"auto-{next(_counter)}")) for r in rows]
    table = staged_table(cols, list(range(2, len(rows) + 2)))
    return ingest_table(store, table, institution, f"test:{institution}")


def rec(subject: str, parameter: str, date: str, **extra: Any) -> dict[str, Any]:
    return {"subject": subject, "parameter": parameter, "date": date, **extra}


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
