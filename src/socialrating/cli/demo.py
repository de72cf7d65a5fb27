"""`socialrating demo`: a synthetic nation, rated end to end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import Db, Json, emit, err, handles_errors, out
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


def organisations_for(citizens: int, organisations: int | None) -> int:
    """The organisations of a nation of ``citizens``: as told, else one for every 10."""
    return citizens // ORGANISATIONS_PER if organisations is None else organisations


@app.command(cls=Command)
@handles_errors
def demo(
    db: Db = settings.DB.default,
    citizens: Annotated[
        int, typer.Option(min=1, metavar="N", help="Citizens in the synthetic nation.")
    ] = 100_000,
    organisations: Organisations = None,
    days: Annotated[
        int,
        typer.Option(min=1, max=3650, metavar="N", help="Days of records from the effective date."),
    ] = 365,
    seed: Seed = 2021,
    rulebook: NationRulebook = None,
    as_json: Json = False,
) -> None:
    """Generate a synthetic nation, ingest a year of its records, score it and show its grades."""
    from socialrating.cli.scoring import print_run
    from socialrating.simulate.demo import DemoConfig, run_demo

    config = DemoConfig(
        db=db,
        citizens=citizens,
        organisations=organisations_for(citizens, organisations),
        days=days,
        seed=seed,
        rulebook=rulebook or Path(settings.RULEBOOK.value()),
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
    if result.examples:
        where = "" if db == settings.DB.default else f" --db {db}"
        out().print(
            "Try: "
            + "; ".join(
                f"socialrating show {c}{where} --as-of {result.run.as_of}" for c in result.examples
            )
        )
