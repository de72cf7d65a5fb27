"""`socialrating rulebook check | schema`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialrating.cli.app import rulebook_app
from socialrating.cli.common import Json, emit, handles_errors, out, styled, working
from socialrating.cli.help import Command


@rulebook_app.command("check", cls=Command)
@handles_errors
def rulebook_check(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The rulebook YAML file.")],
    as_json: Json = False,
) -> None:
    """Validate a rulebook; list every problem with its file, line and field."""
    from socialrating.rulebook import load_rulebook

    with working(f"checking {file}…", as_json):
        rb = load_rulebook(file)
    summary = {
        "file": str(file),
        "name": rb.spec.name,
        "version": rb.spec.version,
        "hash": rb.hash,
        "effective": rb.spec.effective.isoformat(),
        "institutions": len(rb.spec.institutions),
        "categories": len(rb.spec.categories),
        "parameters": rb.parameters.num_rows,
    }
    if as_json:
        emit({"ok": True, **summary})
        return
    out().print(
        styled(
            ("ok", "green"),
            f" {file}: rulebook {rb.spec.name} {rb.spec.version} ({rb.short_hash})",
        )
    )
    out().print(
        f"   effective {summary['effective']}, {summary['institutions']} institutions, "
        f"{summary['categories']} categories, {summary['parameters']:,} parameters"
    )


@rulebook_app.command("schema", cls=Command)
@handles_errors
def rulebook_schema() -> None:
    """Print the rulebook's JSON Schema."""
    from socialrating.rulebook import RulebookSpec

    emit(RulebookSpec.model_json_schema(by_alias=True))
