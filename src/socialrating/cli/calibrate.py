"""`socialrating calibrate`: fit a scenario's rates to the published list shares."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import Json, emit, err, handles_errors, out, table
from socialrating.cli.demo import NationRulebook, ScenarioFile
from socialrating.cli.help import Command

Optional = Annotated[int | None, typer.Option(min=1, metavar="N")]


@app.command(cls=Command)
@handles_errors
def calibrate(
    out_file: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="FILE",
            help="Where to write the fitted scenario [default: NAME.fitted.yaml here].",
        ),
    ] = None,
    scenario: ScenarioFile = None,
    rulebook: NationRulebook = None,
    citizens: Annotated[
        int | None,
        typer.Option(min=100, metavar="N", help="Citizens [default: the scenario's, 1,000,000]."),
    ] = None,
    days: Annotated[
        int | None, typer.Option(min=7, max=3650, metavar="N", help="Days [default: 365].")
    ] = None,
    step_days: Annotated[
        int | None,
        typer.Option(min=1, max=3650, metavar="N", help="Days between runs [default: 91]."),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(min=1, max=50, metavar="N", help="Rounds at most [default: 8]."),
    ] = None,
    seed: Annotated[int | None, typer.Option(metavar="N", help="Seed [default: 2021].")] = None,
    as_json: Json = False,
) -> None:
    """Fit the scenario's rates so that the simulated nation's list shares match its
    targets (the published figures): each round lives the whole nation through a fresh
    ledger, then moves the rates each target names; prints every round and writes the
    fitted scenario, its comments kept."""
    from socialrating.simulate.calibrate import Round
    from socialrating.simulate.calibrate import calibrate as fit_rates
    from socialrating.simulate.scenario import DEFAULT_SCENARIO, write_fitted
    from socialrating.simulate.series import load_for

    path = scenario or DEFAULT_SCENARIO
    rb, sc = load_for(rulebook or Path(settings.RULEBOOK.value()), path)
    c = sc.calibration
    if not c.targets:
        raise typer.BadParameter(f"{path} names no calibration targets", param_hint="--scenario")
    n = citizens or c.citizens
    organisations = round(n * sc.organisations_per_citizen)
    target = out_file or Path(f"{sc.name}.fitted.yaml")
    write_fitted(path, target, sc)  # before the rounds: every knob must be in the file
    console = None if as_json else err()

    def said(r: Round) -> None:
        if console is not None:
            shares = ", ".join(
                f"{code} {share:.4%} (x{r.factors[code]:.3g})" for code, share in r.shares.items()
            )
            console.print(f"round {r.number} in {r.seconds:.0f} s: {shares}")

    if console is not None:
        console.print(
            f"calibrate {path}: {n:,} citizens and {organisations:,} organisations, "
            f"{days or c.days} days in steps of {step_days or c.step_days}"
        )
    fit = fit_rates(
        rb,
        sc,
        citizens=n,
        organisations=organisations,
        days=days or c.days,
        step_days=step_days or c.step_days,
        seed=c.seed if seed is None else seed,
        rounds=rounds or c.rounds,
        on_round=said,
    )
    write_fitted(path, target, fit.fitted(sc))
    if as_json:
        emit({**fit.as_dict(), "scenario": str(target)})
        return
    best = fit.best
    shown = table("list", "target", "fitted share", "ratio", "rates x")
    for code, share in fit.targets.items():
        shown.add_row(
            code,
            f"{share:.4%}",
            f"{best.shares[code]:.4%}",
            f"{best.shares[code] / share:.3f}",
            f"{best.factors[code]:.4g}",
        )
    out().print(shown)
    verdict = "within" if fit.converged else "NOT within"
    out().print(
        f"round {best.number} of {len(fit.rounds)} is {verdict} {fit.tolerance:.0%} of every "
        f"target; fitted scenario: {target}"
    )
    if not fit.converged:
        raise typer.Exit(1)
