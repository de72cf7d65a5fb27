"""Calibration: the next round's factors, convergence on a small nation through the real
ledger and plan, and the command that prints the fit and writes the fitted scenario."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DATA
from tests.test_cli import cli, one_json

from socialrating.ledger import activate_rulebook, open_store
from socialrating.rulebook import load_rulebook
from socialrating.simulate.calibrate import (
    MAX_STEP,
    Round,
    calibrate,
    list_shares,
    next_factors,
)
from socialrating.simulate.living import live
from socialrating.simulate.scenario import load_scenario

RULEBOOK = DATA / "consequences.yaml"
SCENARIO = DATA / "consequences-scenario.yaml"


def r(number: int, factor: float, share: float) -> Round:
    return Round(number, {"x": factor}, {"x": share}, 0.0)


def test_the_first_step_is_proportional_then_along_the_secant_and_never_too_far() -> None:
    assert next_factors([r(1, 1.0, 0.02)], {"x": 0.01}) == {"x": 0.5}
    # The secant through (1, 0.02) and (0.5, 0.015): other causes give a floor of 0.01.
    history = [r(1, 1.0, 0.02), r(2, 0.5, 0.015)]
    assert next_factors(history, {"x": 0.012})["x"] == pytest.approx(0.2)
    assert next_factors(history, {"x": 0.014})["x"] == pytest.approx(0.4)
    assert next_factors(history, {"x": 0.01})["x"] == pytest.approx(0.5 / MAX_STEP)  # limit
    assert next_factors([r(1, 1.0, 0.0)], {"x": 0.01}) == {"x": MAX_STEP}  # nobody listed
    assert next_factors([r(1, 1.0, 1.0)], {"x": 0.01}) == {"x": 1 / MAX_STEP}
    # A secant that does not rise (noise) falls back to the proportional step.
    assert next_factors([r(1, 1.0, 0.02), r(2, 2.0, 0.018)], {"x": 0.036})["x"] == pytest.approx(
        4.0
    )


def test_calibration_converges_on_a_small_nation(tmp_path: Path) -> None:
    rb, scenario = load_rulebook(RULEBOOK), load_scenario(SCENARIO)
    c = scenario.calibration
    fit = calibrate(
        rb, scenario, citizens=c.citizens, organisations=300, days=c.days,
        step_days=c.step_days, seed=c.seed, rounds=c.rounds, workdir=tmp_path,
    )  # fmt: skip
    assert fit.converged, fit.as_dict()
    assert fit.rounds[0].error(fit.targets) > c.tolerance  # it had something to do
    assert list(tmp_path.iterdir()) == []  # the rounds' ledgers are gone
    # The fitted scenario, lived again, gives the fitted shares.
    fitted = fit.fitted(scenario)
    with open_store(str(tmp_path / "again.duckdb"), create=True) as store:
        activate_rulebook(store, rb)
        lived = live(
            store, rb, fitted, citizens=c.citizens, organisations=300, days=c.days,
            step_days=c.step_days, seed=c.seed,
        )  # fmt: skip
        shares = list_shares(store, lived.run.run_id, c.citizens, list(fit.targets))
    assert shares == fit.best.shares
    for code, target in fit.targets.items():
        assert abs(shares[code] / target - 1) <= c.tolerance


def test_the_command_prints_the_fit_and_writes_the_fitted_scenario(tmp_path: Path) -> None:
    out = tmp_path / "fitted.yaml"
    args = ["calibrate", "--scenario", str(SCENARIO), "--rulebook", str(RULEBOOK)]
    doc = one_json(*args, "--out", str(out), "--citizens", "1500", "--rounds", "4", "--json")
    assert doc["scenario"] == str(out) and len(doc["rounds"]) <= 4
    best = doc["rounds"][doc["best_round"] - 1]
    fitted = load_scenario(out)
    original = load_scenario(SCENARIO)
    assert fitted.parameters["unruly"]["citizen"] == pytest.approx(
        original.parameters["unruly"]["citizen"] * best["factors"]["flight_ban"], rel=1e-5
    )
    assert "# A scenario for tests/data/consequences.yaml" in out.read_text(encoding="utf-8")
    text = cli(*args, "--out", str(out), "--citizens", "1500", "--rounds", "1")
    assert "round 1 of 1 is NOT within 10% of every target" in text.output
    assert text.exit_code == 1
    bad = cli("calibrate", "--rulebook", str(RULEBOOK))  # the seed's scenario, another rulebook
    assert bad.exit_code == 1 and "not 'consequences'" in bad.output
