"""`socialrating subjects import | list`, `institutions`, `parameters`: the registries."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app, subjects_app
from socialrating.cli.common import Db, Json, emit, handles_errors, opened, out, table, working
from socialrating.cli.help import Command
from socialrating.model import SubjectKind

Limit = Annotated[int, typer.Option(min=0, metavar="N", help="Rows to show; 0 shows all.")]


@subjects_app.command("import", cls=Command)
@handles_errors
def subjects_import(
    file: Annotated[
        Path,
        typer.Argument(metavar="FILE", help="CSV or Parquet: code, kind, born, sex, region."),
    ],
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """Register subjects (citizens and organisations); known codes are skipped."""
    from socialrating.ledger import register_subjects
    from socialrating.ledger.subjects import read_subjects_file

    with opened(db) as store:
        n = register_subjects(store, read_subjects_file(file, refuse_others=True), str(file))
    if as_json:
        emit({"file": str(file), "registered": n})
    else:
        out().print(f"{file}: {n:,} new subject(s) registered")


@subjects_app.command("list", cls=Command)
@handles_errors
def subjects_list(
    db: Db = settings.DB.default,
    kind: Annotated[
        SubjectKind | None, typer.Option(metavar="KIND", help="citizen or organisation.")
    ] = None,
    search: Annotated[
        str | None, typer.Option(metavar="TEXT", help="Part of the code to look for.")
    ] = None,
    region: Annotated[str | None, typer.Option(metavar="REGION", help="Only this region.")] = None,
    limit: Limit = 50,
    as_json: Json = False,
) -> None:
    """The registered subjects, by code, with what the registry holds of each."""
    from socialrating.ledger.registry import list_subjects

    with opened(db) as store:
        doc = list_subjects(store, kind, search, region, limit)
    if as_json:
        emit(doc)
        return
    shown = table("code", "kind", "born", "sex", "region")
    for s in doc["subjects"]:
        shown.add_row(s["code"], s["kind"], s["born"] or "", s["sex"] or "", s["region"] or "")
    out().print(shown)
    out().print(_counted(len(doc["subjects"]), doc["matched"], doc["total"], "subjects"))


def _counted(shown: int, matched: int, total: int, what: str) -> str:
    line = f"{matched:,} of {total:,} {what} match"
    if shown < matched:
        line += f"; the first {shown:,} are shown (--limit to see more)"
    return line


@app.command(cls=Command)
@handles_errors
def institutions(db: Db = settings.DB.default, as_json: Json = False) -> None:
    """List the institutions that may send records under the active rulebook."""
    from socialrating.ledger import active_rulebook

    with opened(db) as store:
        rows = store.rows(
            """SELECT i.institution_id, i.code, r.class, i.name FROM institutions i
               JOIN rulebook_institutions r USING (institution_id)
               WHERE r.rulebook_hash = ? ORDER BY 1""",
            [active_rulebook(store).hash],
        )
    if as_json:
        emit([{"id": r[0], "code": r[1], "class": r[2], "name": r[3]} for r in rows])
        return
    shown = table("id", "code", "class", "name")
    for r in rows:
        shown.add_row(str(r[0]), r[1], r[2], r[3] or "")
    out().print(shown)


@app.command(cls=Command)
@handles_errors
def parameters(
    db: Db = settings.DB.default,
    institution: Annotated[
        str | None,
        typer.Option(metavar="CODE", help="Only the parameters this institution may report."),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help="Text in the code, name, category or tags."),
    ] = None,
    limit: Limit = 50,
    as_json: Json = False,
) -> None:
    """The active rulebook's parameters: what each is worth and who may report it."""
    from socialrating.ledger.registry import list_parameters

    with opened(db) as store, working("reading the rulebook…", as_json):
        doc = list_parameters(store, institution, search, limit)
    if as_json:
        emit(doc)
        return
    shown = table("code", "name", "category", "worth", "counts for", "reported by")
    for p in doc["parameters"]:
        who = p["institutions"]
        reporters = ", ".join(who[:3]) + (f" +{len(who) - 3} more" if len(who) > 3 else "")
        shown.add_row(
            p["code"], p["name"] or "", p["category"], p["worth"], p["counts_for"], reporters
        )
    out().print(shown)
    out().print(_counted(len(doc["parameters"]), doc["matched"], doc["total"], "parameters"))
