"""`socialrating demo`: a synthetic nation, rated end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import Db, Json, emit, err, handles_errors, out, table
from socialrating.cli.help import Command

ORGANISATIONS_PER = 10
"""Citizens per organisation in a synthetic nation, unless told otherwise (10,000 for
100,000)."""

# The options of a synthetic nation (`demo`, `simulate`).
Organisations = Annotated[
    int | None,
    typer.Option(min=0, metavar="N", help="Organisations [default: one for every 10 citizens]."),
]
Seed = Annotated[int, typer.Option(metavar="N", help="Seed of the random generator.")]
NationRulebook = Annotated[
    Path | None, typer.Option(metavar="FILE", help="Rulebook [default: the seed].")
]
ScenarioFile = Annotated[
    Path | None,
    typer.Option(
        "--scenario",
        metavar="FILE",
        help="Scenario: the nation's rates and responses [default: scenarios/nation.yaml, "
        "calibrated, for the seed; built-in rates for another rulebook].",
    ),
]


def organisations_for(citizens: int, organisations: int | None) -> int:
    """The organisations of a nation of ``citizens``: as told, else one for every 10."""
    return citizens // ORGANISATIONS_PER if organisations is None else organisations


@app.command(cls=Command)
@handles_errors
def demo(
    db: Db = settings.DB.default,
    citizens: Annotated[
        int, typer.Option(min=3, metavar="N", help="Citizens in the synthetic nation.")
    ] = 100_000,
    organisations: Organisations = None,
    days: Annotated[
        int,
        typer.Option(min=1, max=3650, metavar="N", help="Days of records from the effective date."),
    ] = 365,
    seed: Seed = 2021,
    rulebook: NationRulebook = None,
    scenario: ScenarioFile = None,
    as_json: Json = False,
) -> None:
    """Generate a synthetic nation, live a year of its records through the ledger in
    quarters (a scoring run at the end of each, which the next quarter's conduct responds
    to), and show its grades and lists beside the published list shares."""
    from socialrating.cli.scoring import print_run
    from socialrating.simulate.demo import DemoConfig, run_demo

    config = DemoConfig(
        db=db,
        citizens=citizens,
        organisations=organisations_for(citizens, organisations),
        days=days,
        seed=seed,
        rulebook=rulebook or Path(settings.RULEBOOK.value()),
        scenario=scenario,
    )
    result = run_demo(config, console=None if as_json else err())
    if as_json:
        emit(result.as_dict())
        return
    out().print(
        f"demo: {result.subjects:,} subjects, {result.stored:,} new entries "
        f"({result.duplicates:,} already in the ledger) in {db}"
    )
    if result.reused:
        out().print(
            f"nothing new: run {result.run.run_id} already scored this ledger as of "
            f"{result.run.as_of}; its figures:"
        )
    print_run(result.run)
    print_targets(result.targets, result.run.run_id, db, config.citizens)
    if result.examples:
        where = "" if db == settings.DB.default else f" --db {db}"
        out().print(
            "Try: "
            + "; ".join(
                f"socialrating show {c}{where} --as-of {result.run.as_of}" for c in result.examples
            )
        )


def print_targets(targets: dict[str, float], run_id: int, db: str, citizens: int) -> None:
    """The lists' shares of citizens beside the scenario's targets (the published ones)."""
    from socialrating.ledger import open_store
    from socialrating.simulate.calibrate import list_shares

    if not targets:
        return
    with open_store(db, read_only=True) as store:
        shares = list_shares(store, run_id, citizens, list(targets))
    shown = table("list", "share of citizens", "published", "ratio")
    for code, target in targets.items():
        shown.add_row(code, f"{shares[code]:.3%}", f"{target:.3%}", f"{shares[code] / target:.2f}")
    out().print(shown)
