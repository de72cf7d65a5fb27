"""What the engines' parity tests share: a drawn ledger per scenario rulebook, scored on
DuckDB, and the comparison of an engine's run and statements with DuckDB's.

The scenarios are those of the incremental property test (every mechanic: caps, expiry,
reports and verifications, camera confidence, list terms, bars and extensions, joint
punishment two links deep, contagion in two rounds, the pilot mechanics, measures and
their alerts, records passed across links, grade limits, calendar validity, staged
measures). Each ledger is drawn with a seed of its name, some of its records appealed;
half of them have a second version of the rulebook in force from a later day, valuing
older records by the first.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from tests.scoring.test_incremental import (
    BACKGROUND,
    SCENARIOS,
    amend,
    appeal_records,
    feed_all,
    rows_of,
)

from socialrating.backends.engine import SNAPSHOT_COLUMNS, EnginePlans, EngineRun
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.model import day_number
from socialrating.rulebook import RulebookHeader, load_rulebook
from socialrating.scoring.compiled import run_plan

SCORED_AFTER = {"court-terms": 150}
"""Days after the scenario's start to score its drawn ledger (default 420): a day when
somebody is on one of its lists, so that the lists are compared on something."""


def drawn_ledger(name: str, path: Path, tmp: Path) -> tuple[Store, dt.date]:
    """The scenario's ledger, drawn with a seed of its name; and the day to score it."""
    rulebook, (subjects, _), start = SCENARIOS[name]
    rng = random.Random(zlib.crc32(name.encode()))
    store = open_store(path, create=True)
    activate_rulebook(store, load_rulebook(rulebook))
    if sorted(SCENARIOS).index(name) % 2:  # a second version, from 300 days on
        amend(store, rulebook, 300, tmp)
    codes, kinds, born = zip(*subjects, strict=True)
    register_subjects(store, pa.table({"code": codes, "kind": kinds, "born": born}))
    feed_all(store, BACKGROUND.get(name, []))
    draws = [
        (rng.randint(0, 50), rng.randint(0, 50), rng.randint(-20, 500), rng.randint(0, 50))
        for _ in range(60)
    ]
    feed_all(store, rows_of(name, draws))
    appeal_records(store, [(rng.randint(0, 80), rng.random() < 0.5) for _ in range(3)])
    return store, start + dt.timedelta(days=SCORED_AFTER.get(name, 420))


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows in a stable order (None first in each column)."""
    found = [tuple(r.values()) for r in table.to_pylist()]
    return sorted(found, key=lambda r: tuple((v is not None, str(v)) for v in r))


ENGINE_RUN = 1000
"""Added to DuckDB's run id for the engine's run of the same day: the copy holds DuckDB's
snapshot under its id, so the engine must store and read back its own."""


def after_each_stage(plans: EnginePlans, seen: Callable[[str], None]) -> None:
    """Call ``seen`` with the name of each stage ``plans`` keeps from now on, once kept
    (it still keeps them)."""
    keep = plans.keep

    def kept(name: str, sql: str) -> None:
        keep(name, sql)
        seen(name)

    plans.keep = kept  # type: ignore[method-assign]


def counting_stages(plans: EnginePlans) -> list[str]:
    """The names of the stages ``plans`` keeps from now on (it still keeps them)."""
    kept: list[str] = []
    after_each_stage(plans, kept.append)
    return kept


def assert_same_run(
    store: Store, rb: RulebookHeader, as_of: dt.date, run_id: int, run: EngineRun
) -> None:
    """``run`` (an engine's) has DuckDB's run ``run_id``'s snapshot and list members."""
    snapshot = store.arrow(
        f"SELECT {SNAPSHOT_COLUMNS} FROM snapshot WHERE run_id = ? ORDER BY subject_id",
        [run_id],
    )
    assert snapshot.num_rows > 0
    assert run.snapshot.to_pylist() == snapshot.to_pylist()
    if rb.spec.lists:
        lists = run_plan(store, rb, "run_lists", day_number(as_of), None, run_id)
        assert lists.num_rows > 0
        assert rows(run.lists) == rows(lists)


def assert_same_statements(
    store: Store,
    rb: RulebookHeader,
    as_of: dt.date,
    plans: EnginePlans,
    *,
    staged: bool,
    subjects: int = 2,
) -> None:
    """The statement lines of the ``subjects`` with the most records are DuckDB's."""
    busiest = store.rows(
        """SELECT subject_id FROM entries WHERE kind = 1 GROUP BY 1
           ORDER BY count(*) DESC, 1 LIMIT ?""",
        [subjects],
    )
    for (subject_id,) in busiest:
        lines = run_plan(store, rb, "statement", day_number(as_of), subject_id)
        assert lines.num_rows > 0
        served = plans.arrow(rb, "statement", as_of, subject_id, staged=staged)
        assert rows(served) == rows(lines)
