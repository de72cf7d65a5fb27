"""A synthetic nation lived week by week: its records arrive a week at a time through the
ledger's own ingest, each week ends with a scoring run (incremental after the first), and
what the system did that week is written down as a time series.

The series (``series.parquet`` in the output folder) is long and tidy: one row per week,
``series`` and ``key`` (for example ``grade``/``D`` for citizens, ``list``/``flight_ban``,
``refused``/``flight``, ``contagion``/``lowered``), and the ``value`` that week. The same
seed gives the same series; the ledger is ``ledger.duckdb`` beside it unless told, and
``report.html`` shows the series in charts and tables (``report``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.console import Console

from socialrating.ledger import activate_rulebook, open_store
from socialrating.ledger.store import Store
from socialrating.model import day_date
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.scoring import RunResult
from socialrating.simulate.breakdown import breakdown, contact_graph
from socialrating.simulate.demo import _progress
from socialrating.simulate.living import (
    Lived,
    NationSize,
    Step,
    live,
    refuse_another_nation,
)
from socialrating.simulate.report import REPORT, write_report
from socialrating.simulate.scenario import Scenario, scenario_for

SERIES = "series.parquet"
SERIES_SCHEMA = pa.schema(
    [
        ("week", pa.int32()),
        ("week_end", pa.date32()),
        ("series", pa.string()),
        ("kind", pa.string()),
        ("key", pa.string()),
        ("value", pa.int64()),
        ("responses", pa.string()),
    ]
)
"""The columns of the series: the week (from 1) and its last day; what is counted
(``grade``, ``list``, ``refused``, ``contagion``, ``records``), for which kind of subject
(``citizen``, ``organisation``; empty when not by kind), of what (the grade, list, service
or figure), how many, and whether the nation responded to the system (``on``, ``off``:
both with ``--compare``)."""

POPULATION = "population.parquet"
"""The citizens with what the registry does not keep (``Nation.population``)."""
BREAKDOWN = "breakdown.parquet"
BREAKDOWN_SCHEMA = pa.schema(
    [
        ("by", pa.string()),
        ("group", pa.string()),
        ("citizens", pa.int64()),
        ("low", pa.float64()),
        ("listed", pa.float64()),
        ("lowered", pa.float64()),
        ("responses", pa.string()),
    ]
)
"""Whom the last run lands on (``breakdown.breakdown``): per group of citizens (``by``
age band, occupation or income fifth), how many, and the percentages graded low (the
two lowest grades), listed, and lowered by a contact's grade."""


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate, and where to write it."""

    out: Path
    rulebook: Path
    scenario: Path | None = None
    """The scenario (default: see ``scenario.scenario_for``)."""
    citizens: int = 10_000
    organisations: int = 1_000
    days: int = 365
    seed: int = 2021
    db: str | None = None
    """The ledger to write through (default: ``ledger.duckdb`` in ``out``)."""
    step_days: int = 7
    responses: bool | None = None
    """Whether subjects respond to the system (default: as the scenario says)."""
    compare: bool = False
    """Also live the nation with its responses the other way (``simulate``)."""
    check_runs: bool = False
    """Score each incremental run again in full and stop at one that differs (``live``)."""
    memory_gb: float | None = None
    """Gigabytes the whole process may take (default: ``ingest.PROCESS_SHARE`` of the
    machine's memory; ``live``)."""

    @property
    def ledger(self) -> str:
        return self.db or str(self.out / "ledger.duckdb")


@dataclass(frozen=True)
class SimulationResult:
    """What the simulation stored, its last run, and the series it wrote."""

    subjects: int
    stored: int
    duplicates: int
    weeks: int
    run: RunResult
    series: Path
    report: Path
    population: Path
    breakdown: Path

    def as_dict(self) -> dict[str, object]:
        return {
            "subjects": self.subjects,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "weeks": self.weeks,
            "run": self.run.as_dict(),
            "series": str(self.series),
            "report": str(self.report),
            "population": str(self.population),
            "breakdown": str(self.breakdown),
        }


def load_for(
    rulebook: Path, scenario_path: Path | None, responses: bool | None = None
) -> tuple[Rulebook, Scenario]:
    """The rulebook and the scenario (see ``scenario_for``), checked against each other;
    ``responses`` overrides the scenario's switch when given."""
    rb = load_rulebook(rulebook)
    scenario, _ = scenario_for(rb, scenario_path)
    if responses is not None:
        scenario = _with_responses(scenario, responses)
    return rb, scenario


def simulate(config: SimulationConfig, console: Console | None = None) -> SimulationResult:
    """Live the nation step by step through the ledger and write its series (see the module).

    With ``compare``, the same nation is lived a second time with its responses the other
    way, into a ledger of its own beside the series; its rows say ``responses`` off (or
    on), and the report sets the two side by side.
    """
    rb, scenario = load_for(config.rulebook, config.scenario, config.responses)
    config.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    lived, graph = _live_into(config.ledger, config, rb, scenario, rows, groups, console)
    if config.compare:
        other = _with_responses(scenario, not scenario.responses.enabled)
        ledger = config.out / f"ledger-responses-{_label(other)}.duckdb"
        _live_into(str(ledger), config, rb, other, rows, groups, console)
    path = config.out / SERIES
    pq.write_table(pa.Table.from_pylist(rows, schema=SERIES_SCHEMA), path)
    pq.write_table(lived.nation.population(), config.out / POPULATION)
    pq.write_table(pa.Table.from_pylist(groups, schema=BREAKDOWN_SCHEMA), config.out / BREAKDOWN)
    title = (
        f"{rb.spec.name} {rb.spec.version}, scenario {scenario.name}"
        f"{'' if scenario.responses.enabled else ' (responses off)'}: "
        f"{config.citizens:,} citizens and {config.organisations:,} organisations, "
        f"{len(lived.steps)} "
        f"{'weeks' if config.step_days == 7 else f'steps of {config.step_days} days'} "
        f"(seed {config.seed})"
    )
    report = write_report(
        rows, config.out / REPORT, title, primary=_label(scenario), groups=groups, graph=graph
    )
    return SimulationResult(
        lived.nation.subjects.num_rows,
        lived.stored,
        lived.duplicates,
        len(lived.steps),
        lived.run,
        path,
        report,
        config.out / POPULATION,
        config.out / BREAKDOWN,
    )


def _label(scenario: Scenario) -> str:
    return "on" if scenario.responses.enabled else "off"


def _with_responses(scenario: Scenario, enabled: bool) -> Scenario:
    data = scenario.model_dump()
    data["responses"]["enabled"] = enabled
    return Scenario.model_validate(data)


def _live_into(
    ledger: str,
    config: SimulationConfig,
    rb: Rulebook,
    scenario: Scenario,
    rows: list[dict[str, Any]],
    groups: list[dict[str, Any]],
    console: Console | None,
) -> tuple[Lived, dict[str, Any]]:
    """Live the configured nation under ``scenario`` into ``ledger``, adding its rows of
    the series and of the breakdown; returns what was lived and its contact graph's
    figures (``breakdown.contact_graph``)."""
    label = _label(scenario)
    nation = NationSize(
        citizens=config.citizens,
        organisations=config.organisations,
        days=config.days,
        step_days=config.step_days,
        seed=config.seed,
    )
    with open_store(ledger, create=True) as store, _progress(console) as progress:
        refuse_another_nation(store, rb, scenario, **nation)
        activate_rulebook(store, rb, backdate="socialrating simulate: the rulebook changed")
        lived = live(
            store,
            rb,
            scenario,
            progress=progress,
            **nation,
            check_runs=config.check_runs,
            memory=None if config.memory_gb is None else int(config.memory_gb * 10**9),
            on_step=lambda step: rows.extend(
                {**row, "responses": label} for row in _figures(store, rb, step)
            ),
        )
        found = breakdown(store, lived.run.run_id, lived.nation, rb, lived.places)
        groups.extend({**row, "responses": label} for row in found)
        return lived, contact_graph(store, rb, lived.nation.citizens)


def _figures(store: Store, rb: Rulebook, step: Step) -> list[dict[str, Any]]:
    """The step's rows of the series, from its run."""
    run, week, end = step.run, step.number, day_date(step.last)
    from socialrating.decisions.decider import load_decider

    def row(series: str, kind: str, key: str, value: int) -> dict[str, Any]:
        return {
            "week": week,
            "week_end": end,
            "series": series,
            "kind": kind,
            "key": key,
            "value": int(value),
        }

    found = [row("records", "", "arrived", step.arrived)]
    for kind, grades in run.grades.items():
        found += [row("grade", kind, g, n) for g, n in grades.items()]
    found += [row("list", "", code, n) for code, n in run.lists.items()]
    found += [row("contagion", "", what, n) for what, n in run.contagion.items()]
    # A cascade's reach: those contagion lowered that no record of their own moved.
    untouched = store.scalar(
        """SELECT count(*) FROM snapshot WHERE run_id = ? AND contagion < 0
           AND points_score = ? AND direct_grade IS NULL""",
        [run.run_id, rb.spec.base_score],
    )
    found.append(row("contagion", "", "lowered_without_records", int(untouched or 0)))
    decider = load_decider(store, run.run_id)
    for service in rb.spec.services:
        # Those the service is for: the others are refused for their kind alone.
        mine = decider.codes
        if service.subjects != "any":
            mine = mine.filter(pa.array(decider.of_kind(service.subjects)))
        decided = decider.decide_many(mine, service.code).column("decision")
        refused = int(pc.sum(pc.equal(decided, "refused")).as_py() or 0)
        kind = "" if service.subjects == "any" else service.subjects
        found.append(row("refused", kind, service.code, refused))
    return found
