"""A look-up's cursor (``scoring/lookup``): its plans are planned once per process and
run again on each subject's entries, and its settings stay its own."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import d, feed, rec

from socialrating.ledger import Store
from socialrating.model import day_number
from socialrating.scoring import statement
from socialrating.scoring.compiled import bind
from socialrating.scoring.lookup import lookup


def test_a_lookup_leaves_the_stores_optimizer_on(store: Store) -> None:
    feed(store, "police", [rec("C1", "speeding", "2021-02-01")])
    assert statement(store, "C1", d("2021-06-01")).score == 980
    assert lookup(store).cur.execute("SELECT current_setting('enable_optimizer')").fetchone() == (
        False,
    )
    assert store.scalar("SELECT current_setting('enable_optimizer')") is True
    assert store.cursor().scalar("SELECT current_setting('enable_optimizer')") is True


def test_a_lookup_plan_runs_again_without_being_planned_again(store: Store, tmp_path: Path) -> None:
    """The second subject's statement runs the plans the first one prepared, on its own
    entries (the statements equal those over the whole ledger), without binding them
    again: binding a plan of this size from its text takes milliseconds."""
    feed(
        store, "police", [rec("C1", "speeding", "2021-02-01"), rec("C2", "red_light", "2021-03-01")]
    )
    for code in ("C1", "C2", "C1"):
        narrow = statement(store, code, d("2021-06-01"))
        assert narrow.as_dict() == statement(store, code, d("2021-06-01"), narrow=False).as_dict()
    assert [statement(store, c, d("2021-06-01")).score for c in ("C1", "C2")] == [980, 990]
    session = lookup(store)
    cur = session.cur
    (sql, handle) = max(session.prepared.items(), key=lambda kv: len(kv[0]))
    profile = tmp_path / "profile.json"
    cur.execute("SET SESSION enable_profiling = 'json'")
    cur.execute("SET SESSION profiling_mode = 'detailed'")
    cur.execute(f"SET SESSION profiling_output = '{profile}'")

    def binding() -> float:
        return float(json.loads(profile.read_text())["planner"]["binding_time"])

    cur.execute(f"EXECUTE {handle}").fetchall()
    again = binding()
    cur.execute(bind(sql, day_number(d("2021-06-01")), 1)).fetchall()  # the same, unprepared
    assert again * 20 < binding(), (again, binding())
