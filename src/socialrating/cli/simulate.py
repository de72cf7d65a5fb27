"""`socialrating simulate`: a synthetic nation lived week by week, written as a time series."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import Json, emit, err, handles_errors, out, table
from socialrating.cli.demo import (
    NationRulebook,
    Organisations,
    ScenarioFile,
    Seed,
    organisations_for,
)
from socialrating.cli.help import Command


@app.command(cls=Command)
@handles_errors
def simulate(
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", metavar="DIR", help="Folder for the series (and the ledger, unless --db)."
        ),
    ],
    citizens: Annotated[
        int, typer.Option(min=3, metavar="N", help="Citizens in the synthetic nation.")
    ] = 10_000,
    organisations: Organisations = None,
    days: Annotated[
        int,
        typer.Option(min=1, max=3650, metavar="N", help="Days to live, from the effective date."),
    ] = 365,
    seed: Seed = 2021,
    rulebook: NationRulebook = None,
    scenario: ScenarioFile = None,
    responses: Annotated[
        bool | None,
        typer.Option(
            "--responses/--no-responses",
            help="Whether people respond to the system [default: as the scenario says]; "
            "run both to compare.",
        ),
    ] = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Also live the same nation with its responses the other way (a second "
            "ledger in DIR), and set the two side by side in the report.",
        ),
    ] = False,
    step_days: Annotated[
        int, typer.Option(min=1, max=3650, metavar="N", help="Days between scoring runs.")
    ] = 7,
    db: Annotated[
        str | None, typer.Option(metavar="FILE", help="Ledger [default: DIR/ledger.duckdb].")
    ] = None,
    check_runs: Annotated[
        bool,
        typer.Option(
            "--check-runs",
            help="Score each run that started from an earlier one (incremental, or in "
            "full carrying key factors) again in full and stop at the first that differs "
            "(slower: a test of incremental runs on a whole nation).",
        ),
    ] = False,
    memory: Annotated[
        float | None,
        typer.Option(
            "--memory",
            min=1,
            metavar="GB",
            help="Memory the whole process should stay near, in gigabytes (DuckDB spills "
            "the rest to disk) [default: 80% of the machine's].",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Live a synthetic nation week by week: each week's records go through the ledger's
    ingest and a scoring run; the grades, list sizes, refusals per service and contagion
    of every week are written to DIR/series.parquet, and shown in DIR/report.html. The
    same seed gives the same series."""
    from socialrating.simulate.series import SimulationConfig
    from socialrating.simulate.series import simulate as live

    config = SimulationConfig(
        out=out_dir,
        rulebook=rulebook or Path(settings.RULEBOOK.value()),
        citizens=citizens,
        organisations=organisations_for(citizens, organisations),
        days=days,
        seed=seed,
        db=db,
        scenario=scenario,
        step_days=step_days,
        responses=responses,
        compare=compare,
        check_runs=check_runs,
        memory_gb=memory,
    )
    result = live(config, console=None if as_json else err())
    if as_json:
        emit(result.as_dict())
        return
    run = result.run
    out().print(
        f"simulate: {result.subjects:,} subjects, {result.weeks} weeks to {run.as_of}, "
        f"{result.stored:,} new entries ({result.duplicates:,} already in {config.ledger})"
    )
    shown = table("week's end", "records", *(run.lists or {}))
    import pyarrow.parquet as pq

    series = pq.read_table(result.series).to_pylist()
    series = [r for r in series if r["responses"] == series[0]["responses"]]  # the first run
    for week in sorted({r["week"] for r in series})[-4:]:  # the last four weeks
        mine = [r for r in series if r["week"] == week]
        arrived = sum(r["value"] for r in mine if r["series"] == "records")
        sizes = {r["key"]: r["value"] for r in mine if r["series"] == "list"}
        shown.add_row(
            str(mine[0]["week_end"]), f"{arrived:,}", *(f"{sizes[k]:,}" for k in run.lists)
        )
    out().print(shown)
    if check_runs:
        out().print("--check-runs: each run from an earlier one stored what a full run stores")
    out().print(f"series: {result.series} (one row per week and figure, Parquet)")
    out().print(f"report: {result.report} (charts and tables; open it in a browser)")
    out().print(
        f"population: {result.population} (the citizens: household, age, occupation, "
        f"income, employer); breakdown: {result.breakdown} (whom the last run lands on)"
    )
