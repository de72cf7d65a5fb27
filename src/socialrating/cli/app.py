"""The Typer application and its command groups; the commands register themselves on it."""

from __future__ import annotations

from typing import Annotated

import typer

from socialrating.cli.help import Group

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    cls=Group,
)
rulebook_app = typer.Typer(
    help="Check rulebooks, print their schema, list the stored ones and compare two.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=Group,
)
subjects_app = typer.Typer(
    help="The registry of rated subjects: import and list them.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=Group,
)
app.add_typer(rulebook_app, name="rulebook")
keys_app = typer.Typer(
    help="API keys: create one (shown once), list them, revoke one.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=Group,
)
app.add_typer(subjects_app, name="subjects")
app.add_typer(keys_app, name="keys")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        print(f"socialrating {version('socialrating')}")
        raise typer.Exit()


@app.callback()
def main(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """socialrating: a national social rating system that explains every point.

    Every command that prints data also takes --json and then prints one JSON document.
    The database is ./socialrating.duckdb unless --db or SOCIALRATING_DB says otherwise.
    """
