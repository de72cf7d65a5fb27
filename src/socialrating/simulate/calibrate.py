"""Calibration: fit a scenario's rates so that the simulated list shares match targets.

Each target (a list and its share of citizens, in the scenario's ``calibration``) has
knobs: rates that are scaled together by one factor. A round lives the whole nation
through a fresh ledger and measures each list's share of citizens on the last day; the
next round moves each factor towards its target, by proportion after the first round and
along the secant of the last two rounds after that (lists share causes, so the secant
corrects for what other knobs add). It stops when every share is within the tolerance,
or after the rounds allowed, and keeps the best round.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from socialrating.ledger import activate_rulebook, open_store
from socialrating.ledger.store import Store
from socialrating.rulebook import Rulebook
from socialrating.simulate.living import live
from socialrating.simulate.scenario import Scenario

MAX_STEP = 4.0
"""A factor moves at most this many times up or down in one round."""


@dataclass(frozen=True)
class Round:
    """One round: the factor of each target's knobs, the share it gave, and its time."""

    number: int
    factors: dict[str, float]
    shares: dict[str, float]
    seconds: float

    def error(self, targets: dict[str, float]) -> float:
        """The largest relative distance of a share from its target."""
        return max(abs(self.shares[t] / share - 1) for t, share in targets.items())


@dataclass(frozen=True)
class Fit:
    """A calibration: its rounds, the best, and the scenario with the best round's rates."""

    targets: dict[str, float]
    tolerance: float
    rounds: list[Round] = field(default_factory=list)

    @property
    def best(self) -> Round:
        return min(self.rounds, key=lambda r: r.error(self.targets))

    @property
    def converged(self) -> bool:
        return self.best.error(self.targets) <= self.tolerance

    def fitted(self, scenario: Scenario) -> Scenario:
        return scenario.scaled(knob_factors(scenario, self.best.factors))

    def as_dict(self) -> dict[str, object]:
        return {
            "targets": self.targets,
            "tolerance": self.tolerance,
            "converged": self.converged,
            "best_round": self.best.number,
            "rounds": [
                {
                    "round": r.number,
                    "factors": r.factors,
                    "shares": r.shares,
                    "error": r.error(self.targets),
                    "seconds": round(r.seconds, 2),
                }
                for r in self.rounds
            ],
        }


def knob_factors(scenario: Scenario, factors: dict[str, float]) -> dict[str, float]:
    """Per knob, the factor of its target (a knob of two targets takes their product)."""
    out: dict[str, float] = {}
    for code, target in scenario.calibration.targets.items():
        for knob in target.knobs:
            out[knob] = out.get(knob, 1.0) * factors.get(code, 1.0)
    return out


def list_shares(store: Store, run_id: int, citizens: int, lists: list[str]) -> dict[str, float]:
    """Each list's members among citizens in the run, as a share of ``citizens``."""
    counts = dict(
        store.rows(
            """SELECT m.list, count(DISTINCT m.subject_id) FROM list_members m
               JOIN subjects s USING (subject_id)
               WHERE m.run_id = ? AND s.kind = 'citizen' GROUP BY 1""",
            [run_id],
        )
    )
    return {code: int(counts.get(code, 0)) / citizens for code in lists}


def next_factors(history: list[Round], targets: dict[str, float]) -> dict[str, float]:
    """The factors of the next round (see the module)."""
    last = history[-1]
    out = {}
    for code, target in targets.items():
        s2, o2 = last.factors[code], last.shares[code]
        proposal = s2 * (target / o2) if o2 > 0 else s2 * MAX_STEP
        if len(history) >= 2:
            s1, o1 = history[-2].factors[code], history[-2].shares[code]
            if s1 != s2 and (o2 - o1) / (s2 - s1) > 0:
                proposal = s2 + (target - o2) * (s2 - s1) / (o2 - o1)
        out[code] = min(max(proposal, s2 / MAX_STEP), s2 * MAX_STEP)
    return out


def calibrate(
    rb: Rulebook,
    scenario: Scenario,
    *,
    citizens: int,
    organisations: int,
    days: int,
    step_days: int,
    seed: int,
    rounds: int,
    workdir: Path | None = None,
    on_round: Callable[[Round], None] | None = None,
) -> Fit:
    """Fit the scenario's calibration targets (see the module); each round's ledger is
    made in ``workdir`` (a temporary folder by default) and removed after it."""
    targets = {code: t.share for code, t in scenario.calibration.targets.items()}
    fit = Fit(targets, scenario.calibration.tolerance)
    factors = dict.fromkeys(targets, 1.0)
    folder = Path(tempfile.mkdtemp(prefix="calibrate-", dir=workdir))
    try:
        for number in range(1, rounds + 1):
            started = time.perf_counter()
            db = folder / f"round-{number}.duckdb"
            trial = scenario.scaled(knob_factors(scenario, factors))
            with open_store(str(db), create=True) as store:
                activate_rulebook(store, rb)
                lived = live(
                    store,
                    rb,
                    trial,
                    citizens=citizens,
                    organisations=organisations,
                    days=days,
                    step_days=step_days,
                    seed=seed,
                )
                shares = list_shares(store, lived.run.run_id, citizens, list(targets))
            for leftover in folder.glob(f"{db.name}*"):
                leftover.unlink()
            done = Round(number, dict(factors), shares, time.perf_counter() - started)
            fit.rounds.append(done)
            if on_round is not None:
                on_round(done)
            if done.error(targets) <= fit.tolerance:
                break
            factors = next_factors(fit.rounds, targets)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return fit
