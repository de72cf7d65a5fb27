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

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Console

from socialrating.ledger import activate_rulebook, ingest_table, open_store, register_subjects
from socialrating.ledger.store import Store
from socialrating.model import day_date
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.scoring import RunResult, score_run
from socialrating.simulate.demo import _progress
from socialrating.simulate.life import batches, draw_records
from socialrating.simulate.nation import make_nation
from socialrating.simulate.report import REPORT, write_report

SERIES = "series.parquet"
SERIES_SCHEMA = pa.schema(
    [
        ("week", pa.int32()),
        ("week_end", pa.date32()),
        ("series", pa.string()),
        ("kind", pa.string()),
        ("key", pa.string()),
        ("value", pa.int64()),
    ]
)
"""The columns of the series: the week (from 1) and its last day; what is counted
(``grade``, ``list``, ``refused``, ``contagion``, ``records``), for which kind of subject
(``citizen``, ``organisation``; empty when not by kind), of what (the grade, list, service
or figure), and how many."""


@dataclass(frozen=True)
class SimulationConfig:
    """What to simulate, and where to write it."""

    out: Path
    rulebook: Path
    citizens: int = 10_000
    organisations: int = 1_000
    days: int = 365
    seed: int = 2021
    db: str | None = None
    """The ledger to write through (default: ``ledger.duckdb`` in ``out``)."""
    step_days: int = 7

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

    def as_dict(self) -> dict[str, object]:
        return {
            "subjects": self.subjects,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "weeks": self.weeks,
            "run": self.run.as_dict(),
            "series": str(self.series),
            "report": str(self.report),
        }


def simulate(config: SimulationConfig, console: Console | None = None) -> SimulationResult:
    """Draw the nation and its records, then live them week by week (see the module)."""
    rng = np.random.default_rng(config.seed)
    rb = load_rulebook(config.rulebook)
    first_day = rb.effective_day
    config.out.mkdir(parents=True, exist_ok=True)
    nation = make_nation(rng, config.citizens, config.organisations, rb.spec.effective)
    draws, inst_codes = draw_records(rng, nation, rb, config.days)
    per_institution = batches(draws, nation, rb, inst_codes, first_day, config.seed)
    ends = list(range(first_day + config.step_days - 1, first_day + config.days, config.step_days))
    if not ends or ends[-1] != first_day + config.days - 1:
        ends.append(first_day + config.days - 1)
    rows: list[dict[str, Any]] = []
    stored = duplicates = 0
    with open_store(config.ledger, create=True) as store, _progress(console) as progress:
        activate_rulebook(store, rb, backdate="socialrating simulate: the rulebook changed")
        register_subjects(store, nation.subjects, "simulated nation")
        task = progress.add_task("living the weeks", total=len(ends))
        start = first_day
        run = None
        for week, end in enumerate(ends, start=1):
            week_rows = 0
            for code, table in per_institution:
                dates = table.column("date")
                lo, hi = day_date(start).isoformat(), day_date(end).isoformat()
                mask = pc.and_(pc.greater_equal(dates, lo), pc.less_equal(dates, hi))
                part = table.filter(mask)
                if part.num_rows == 0:
                    continue
                part = part.set_column(0, "line", pa.array(np.arange(1, part.num_rows + 1)))
                result = ingest_table(store, part, code, f"simulate:{code}:week-{week}")
                stored, duplicates = stored + result.stored, duplicates + result.duplicates
                week_rows += part.num_rows
            run = score_run(store, day_date(end))
            rows += _figures(store, rb, run, week, day_date(end), week_rows)
            start = end + 1
            progress.advance(task)
        assert run is not None
    path = config.out / SERIES
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=SERIES_SCHEMA), path)
    title = (
        f"{rb.spec.name} {rb.spec.version}: {config.citizens:,} citizens and "
        f"{config.organisations:,} organisations, {len(ends)} weeks (seed {config.seed})"
    )
    report = write_report(rows, config.out / REPORT, title)
    return SimulationResult(
        nation.subjects.num_rows, stored, duplicates, len(ends), run, path, report
    )


def _figures(
    store: Store, rb: Rulebook, run: RunResult, week: int, end: dt.date, records: int
) -> list[dict[str, Any]]:
    """The week's rows of the series, from its run."""
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

    found = [row("records", "", "arrived", records)]
    for kind, grades in run.grades.items():
        found += [row("grade", kind, g, n) for g, n in grades.items()]
    found += [row("list", "", code, n) for code, n in run.lists.items()]
    found += [row("contagion", "", what, n) for what, n in run.contagion.items()]
    decider = load_decider(store, run.run_id)
    for service in rb.spec.services:
        # Those the service is for: the others are refused for their kind alone.
        mine = decider.codes
        if service.subjects != "any":
            mine = mine.filter(pa.array(decider.kinds == service.subjects))
        decided = decider.decide_many(mine, service.code).column("decision")
        refused = int(pc.sum(pc.equal(decided, "refused")).as_py() or 0)
        kind = "" if service.subjects == "any" else service.subjects
        found.append(row("refused", kind, service.code, refused))
    return found
