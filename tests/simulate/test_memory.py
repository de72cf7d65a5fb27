"""A simulation bounds DuckDB's memory so that the whole process stays within a budget."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import socialrating.ledger.ingest as ingest
from socialrating.errors import ScoringError
from socialrating.ledger import activate_rulebook, open_store
from socialrating.ledger.ingest import MIN_PROCESS_MEMORY, machine_memory
from socialrating.ledger.store import Store, openings, setting_bytes
from socialrating.rulebook import Rulebook
from socialrating.simulate import living
from socialrating.simulate.living import Step, live
from socialrating.simulate.scenario import Scenario


def limit_of(store: Store) -> float:
    return setting_bytes(str(store.scalar("SELECT current_setting('memory_limit')")))


def lived_limits(store: Store, rb: Rulebook, scenario: Scenario, **kwargs: int) -> list[float]:
    """DuckDB's memory limit at the end of each step of a small nation's three weeks."""
    seen: list[float] = []

    def on_step(step: Step) -> None:
        seen.append(limit_of(store))

    live(
        store, rb, scenario, citizens=300, organisations=30, days=21, step_days=7, seed=3,
        on_step=on_step, **kwargs,
    )  # fmt: skip
    return seen


def test_a_simulation_keeps_duckdb_within_the_process_budget(
    tmp_path: Path, seed: Rulebook, scenario: Scenario
) -> None:
    """With a budget of 2 GB, DuckDB's limit is the budget less what the process holds
    besides, with headroom (at least 1 GB); by default, most of the machine's memory;
    DuckDB's default is put back afterwards."""
    with open_store(tmp_path / "n.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        default = limit_of(store)
        bounded = lived_limits(store, seed, scenario, memory=2 * 10**9)
        assert len(bounded) == 3
        assert all(setting_bytes(MIN_PROCESS_MEMORY) * 0.99 <= x < 2 * 10**9 for x in bounded), (
            bounded
        )
        assert limit_of(store) == default
    with open_store(tmp_path / "m.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        whole = lived_limits(store, seed, scenario)
        assert all(x <= machine_memory() * 0.8 for x in whole), whole
        assert all(x > 2 * 10**9 for x in whole), whole


def test_a_limit_someone_set_stands(tmp_path: Path, seed: Rulebook, scenario: Scenario) -> None:
    with open_store(tmp_path / "n.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        store.run("SET memory_limit = '3GB'")
        set_by_them = limit_of(store)
        assert lived_limits(store, seed, scenario, memory=2 * 10**9) == [set_by_them] * 3
        assert limit_of(store) == set_by_them


def test_a_run_out_of_memory_says_what_is_stored_and_what_to_do(
    tmp_path: Path, seed: Rulebook, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget that leaves DuckDB too little for a step (here a floor of 16 MB instead of
    1 GB): a clear error naming the step, the limit and the budget, not DuckDB's; what
    was stored stays, and living the nation again with room stores nothing twice."""
    monkeypatch.setattr(ingest, "MIN_PROCESS_MEMORY", "16MB")
    with open_store(tmp_path / "n.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        with pytest.raises(ScoringError, match=r"step 1 \(to .*--memory") as caught:
            lived_limits(store, seed, scenario, memory=1)
        assert isinstance(caught.value.__cause__, duckdb.OutOfMemoryException)
        assert "a budget of 0.0 GB" in str(caught.value)
        assert store.scalar("SELECT count(*) FROM runs") == 0
        monkeypatch.setattr(ingest, "MIN_PROCESS_MEMORY", "1GB")
        assert len(lived_limits(store, seed, scenario, memory=2 * 10**9)) == 3
        assert store.scalar("SELECT count(*) FROM runs") == 3
        stored, keys = store.one(
            "SELECT count(*), count(DISTINCT idem_key) FROM entries WHERE idem_key LIKE 'sim-%'"
        ) or (0, 0)
        assert stored == keys > 100  # whatever the failed step stored, nothing twice


def lived_rows(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """The ledger's records, in order, and the last run's rows."""
    entries = store.rows(
        "SELECT kind, subject_id, parameter_id, day, quantity, confidence, counterpart_id, "
        "idem_key FROM entries WHERE idem_key LIKE 'sim-%' ORDER BY entry_id"
    )
    last = store.scalar("SELECT max(run_id) FROM runs")
    snapshot = store.rows(
        f"SELECT subject_id, score, grade, contagion FROM snapshot WHERE run_id = {last} "
        "ORDER BY subject_id"
    )
    return entries, snapshot


def test_a_simulation_opens_its_ledger_again_when_the_index_crowds_duckdb(
    tmp_path: Path, seed: Rulebook, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB holds the index of entries it changed in memory and cannot spill it; past
    ``INDEX_SHARE`` of the limit, the ledger is opened again before the step's run: the
    same records and runs as without, DuckDB still bounded after it, the caller's store
    still usable, and not reopened while the index is small."""
    with open_store(tmp_path / "once.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        opened = openings(store.path)
        lived_limits(store, seed, scenario, memory=2 * 10**9)
        assert openings(store.path) == opened  # a small nation's index: a sliver of 1 GB
        once = lived_rows(store)
    monkeypatch.setattr(living, "INDEX_SHARE", 0.0)
    with open_store(tmp_path / "again.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        opened = openings(store.path)
        bounded = lived_limits(store, seed, scenario, memory=2 * 10**9)
        assert openings(store.path) == opened + 3  # before each step's run
        assert all(setting_bytes(MIN_PROCESS_MEMORY) * 0.99 <= x < 2 * 10**9 for x in bounded), (
            bounded
        )
        assert lived_rows(store) == once
        assert len(once[0]) > 100 and len(once[1]) == 330


def test_a_limit_someone_set_is_not_lost_to_an_opening(
    tmp_path: Path, seed: Rulebook, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB shows a limit to three figures, so opening the file again could not put it
    back exactly: a simulation under someone's limit does not reopen."""
    monkeypatch.setattr(living, "INDEX_SHARE", 0.0)
    with open_store(tmp_path / "n.duckdb", create=True) as store:
        activate_rulebook(store, seed)
        store.run("SET memory_limit = '3GB'")
        set_by_them, opened = limit_of(store), openings(store.path)
        assert lived_limits(store, seed, scenario, memory=2 * 10**9) == [set_by_them] * 3
        assert openings(store.path) == opened
