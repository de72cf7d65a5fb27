"""The demo: a synthetic nation lived through the ledger in quarters, under the default
(calibrated) scenario, and rated end to end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from socialrating.ledger import activate_rulebook, open_store
from socialrating.ledger.store import Store
from socialrating.scoring import RunResult
from socialrating.simulate.living import NationSize, live, refuse_another_nation


@dataclass(frozen=True)
class DemoConfig:
    """What to simulate, and where to store it."""

    db: str
    rulebook: Path
    scenario: Path | None = None
    """The scenario (default: see ``scenario.scenario_for``)."""
    citizens: int = 100_000
    organisations: int = 10_000
    days: int = 365
    seed: int = 2021
    step_days: int = 91
    """The demo lives its year in quarters: a run at the end of each, which the next
    quarter's conduct responds to."""


@dataclass(frozen=True)
class DemoResult:
    """What the demo stored and the scoring run it ended with."""

    subjects: int
    stored: int
    duplicates: int
    run: RunResult
    examples: list[str] = field(default_factory=list)
    reused: bool = False
    """Whether the ledger already held this nation (``run`` is its last run)."""
    citizens: int = 0
    targets: dict[str, float] = field(default_factory=dict)
    """The scenario's list targets (the published shares of citizens), if it has any."""

    def as_dict(self) -> dict[str, object]:
        return {
            "subjects": self.subjects,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "run": self.run.as_dict(),
            "examples": self.examples,
            "reused_run": self.reused,
        }


def _progress(console: Console | None) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console or Console(quiet=True),
        disable=console is None,
        transient=False,
    )


def run_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    """Live the scenario's nation through the ledger in steps; idempotent for the same
    seed, sizes and scenario."""
    from socialrating.simulate.series import load_for

    rb, scenario = load_for(config.rulebook, config.scenario)
    with open_store(config.db, create=True) as store, _progress(console) as progress:
        # The rulebook becomes the active one (from its own date, the ledger saying why);
        # a ledger of another nation (an earlier seed's) is refused by `live`.
        nation = NationSize(
            citizens=config.citizens,
            organisations=config.organisations,
            days=config.days,
            step_days=config.step_days,
            seed=config.seed,
        )
        refuse_another_nation(store, rb, scenario, **nation)
        activate_rulebook(store, rb, backdate="socialrating demo: the demo's rulebook changed")
        lived = live(store, rb, scenario, progress=progress, **nation)
        examples = _examples(store, lived.run.run_id)
    return DemoResult(
        lived.nation.subjects.num_rows,
        lived.stored,
        lived.duplicates,
        lived.run,
        examples,
        lived.stored == 0,
        config.citizens,
        {code: t.share for code, t in scenario.calibration.targets.items()},
    )


def _examples(store: Store, run_id: int) -> list[str]:
    """A subject of the best and of the worst grade, and one that contagion lowered the
    most, to try `show` on."""
    rows = store.rows(
        """SELECT (SELECT code FROM subjects s JOIN snapshot n USING (subject_id)
                   WHERE n.run_id = ? AND s.kind = 'citizen' ORDER BY n.score DESC, s.code LIMIT 1),
                  (SELECT code FROM subjects s JOIN snapshot n USING (subject_id)
                   WHERE n.run_id = ? AND s.kind = 'citizen' ORDER BY n.score, s.code LIMIT 1),
                  (SELECT code FROM subjects s JOIN snapshot n USING (subject_id)
                   WHERE n.run_id = ? AND n.contagion < 0 ORDER BY n.contagion, s.code LIMIT 1)""",
        [run_id, run_id, run_id],
    )
    return [c for c in rows[0] if c] if rows else []
