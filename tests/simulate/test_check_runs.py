"""`simulate --check-runs`: every incremental run of a nation lived week by week is scored
again in full, and the simulation stops at one that differs. A lived nation (contacts,
direct grades lifted, lists left) reaches cases no hand-made ledger did: a subject no
longer able to be low kept costing its contacts points (fixed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import DATA

import socialrating.scoring.run as scoring_run
from socialrating.errors import ScoringError
from socialrating.ledger import Store, activate_rulebook, open_store
from socialrating.rulebook import load_rulebook
from socialrating.scoring import incremental
from socialrating.simulate.living import Lived, live
from socialrating.simulate.scenario import DEFAULT_SCENARIO, load_scenario

SEED = Path(__file__).parents[2] / "rulebooks" / "seed.yaml"


@contextmanager
def lived_nation(tmp_path: Path, days: int) -> Iterator[tuple[Store, Lived]]:
    """The seed (pilot mechanics, contagion in two rounds, five lists) lived by 3,000
    citizens and 300 organisations for ``days``, a week a step, each run checked."""
    rb, scenario = load_rulebook(SEED), load_scenario(DEFAULT_SCENARIO)
    with open_store(tmp_path / "n.duckdb", create=True) as store:
        activate_rulebook(store, rb)
        yield store, live(
            store, rb, scenario, citizens=3_000, organisations=300, days=days, step_days=7,
            seed=7, check_runs=True,
        )  # fmt: skip


@pytest.mark.slow
def test_every_weekly_run_of_a_lived_nation_equals_a_full_run(tmp_path: Path) -> None:
    """The seed (pilot mechanics, contagion in two rounds, five lists) on 3,000 citizens
    for twelve weeks: each incremental run stores what a full run stores (before the fix,
    the run of week 7 differed)."""
    with lived_nation(tmp_path, days=84) as (_, lived):
        incremental_runs = [s for s in lived.steps if s.run.incremental]
        assert len(incremental_runs) == len(lived.steps) - 1  # all but the first


@pytest.mark.slow
def test_weekly_runs_in_full_carry_the_factors_a_full_run_computes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run after the first gives up choosing (``FULL_SHARE``) and scores everyone,
    carrying the key factors of the subjects it did not choose: each stores what a full
    run stores, factors included; the factors of every subject in a refused grade are
    computed or carried, and some are carried."""
    import json

    monkeypatch.setattr(incremental, "FULL_FROM_SUBJECTS", 0)
    monkeypatch.setattr(incremental, "FULL_SHARE", 1e-9)
    with lived_nation(tmp_path, days=42) as (store, lived):
        assert all(s.run.incremental.get("full") for s in lived.steps[1:])
        for run_id, stats in store.rows("SELECT run_id, stats FROM runs WHERE run_id > 1"):
            factors = json.loads(str(stats))["factors"]
            refusable = store.scalar(
                """SELECT count(*) FROM snapshot JOIN subjects s USING (subject_id)
                   WHERE run_id = ? AND s.kind = 'citizen' AND grade IN ('C', 'D')""",
                [run_id],
            )
            assert factors["computed"] + factors["carried"] == refusable, (run_id, factors)
        carried = [json.loads(str(s))["factors"]["carried"] for (s,) in store.rows(
            "SELECT stats FROM runs WHERE run_id > 1")]  # fmt: skip
        assert sum(carried) > 0, carried


def test_a_run_that_scores_too_few_subjects_stops_the_simulation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An incremental run that (wrongly) carries every row over is caught at its step."""

    def nobody(*args: Any, **kwargs: Any) -> tuple[int, int] | None:
        chosen = incremental.choose(*args, **kwargs)
        store = args[0]
        for table in (incremental.SCORES, incremental.LISTS):
            store.run(f"DELETE FROM {table}")
        return None if chosen is None else (0, 0)

    monkeypatch.setattr(scoring_run, "choose", nobody)
    rb = load_rulebook(DATA / "consequences.yaml")
    scenario = load_scenario(DATA / "consequences-scenario.yaml")
    with open_store(tmp_path / "w.duckdb", create=True) as store:
        activate_rulebook(store, rb)
        with pytest.raises(ScoringError, match=r"step 2: run 2 .* differs from a full"):
            live(
                store, rb, scenario, citizens=300, organisations=30, days=21, step_days=7,
                seed=5, check_runs=True,
            )  # fmt: skip
