"""`socialrating appeals file | list | show` and `socialrating review`: due process.

The operator acts on behalf of a subject (filing an appeal against one of its records)
and of a reviewer (upholding or voiding the record); each is a ledger entry.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import (
    Db,
    Json,
    bold,
    emit,
    handles_errors,
    opened,
    out,
    parse_date,
    styled,
    table,
)
from socialrating.cli.help import Command, Group

appeals_app = typer.Typer(
    help="Appeals against records: file one for a subject, list them, show one.",
    no_args_is_help=True,
    rich_markup_mode=None,
    cls=Group,
)
app.add_typer(appeals_app, name="appeals")

Reason = Annotated[str, typer.Option(metavar="TEXT", help="Why, in a sentence.")]
Filed = Annotated[
    str | None,
    typer.Option(
        "--date", metavar="DATE", help="The day it was filed (YYYY-MM-DD); default today (UTC)."
    ),
]
Reviewed = Annotated[
    str | None,
    typer.Option(
        "--date", metavar="DATE", help="The day of the review (YYYY-MM-DD); default today (UTC)."
    ),
]
Today = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="DATE",
        help="Judge deadlines as of this date (YYYY-MM-DD); default today (UTC).",
    ),
]


@appeals_app.command("file", cls=Command)
@handles_errors
def appeals_file(
    subject: Annotated[
        str, typer.Option(metavar="CODE", help="The subject appealing: the record is about it.")
    ],
    reason: Reason,
    entry: Annotated[
        int | None,
        typer.Argument(
            metavar="ENTRY",
            min=1,
            help="The record's entry id (the `entry` column of `socialrating show`).",
            show_default=False,
        ),
    ] = None,
    latest: Annotated[
        str | None,
        typer.Option(
            metavar="PARAMETER",
            help="Instead of ENTRY: the subject's latest record of this parameter.",
        ),
    ] = None,
    date: Filed = None,
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """File a subject's appeal against one of its records; a reviewer must answer it by the
    rulebook's deadline."""
    from socialrating.appeals import file_appeal, latest_record

    if (entry is None) == (latest is None):
        raise typer.BadParameter(
            "name the record: its ENTRY id or --latest PARAMETER (one of the two)",
            param_hint="ENTRY",
        )
    day = parse_date(date, "--date")
    with opened(db) as store:
        entry_id = entry if entry is not None else latest_record(store, subject, str(latest))
        found = file_appeal(store, subject, entry_id, reason, day)
    if as_json:
        emit(found.as_dict())
        return
    print_appeal(found)


@appeals_app.command("list", cls=Command)
@handles_errors
def appeals_list(
    subject: Annotated[
        str | None, typer.Option(metavar="CODE", help="Only this subject's.")
    ] = None,
    awaiting: Annotated[
        bool, typer.Option("--open", help="Only those awaiting review (overdue ones too).")
    ] = False,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only those awaiting review past their deadline.")
    ] = False,
    reviewed: Annotated[
        bool, typer.Option("--reviewed", help="Only those reviewed (upheld or voided).")
    ] = False,
    as_of: Today = None,
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """The appeals, in filing order: whose, against which record, deadline and status."""
    from socialrating.appeals import list_appeals

    chosen = [name for name, on in (("open", awaiting), ("overdue", overdue),
                                    ("reviewed", reviewed)) if on]  # fmt: skip
    if len(chosen) > 1:
        raise typer.BadParameter("choose one of --open, --overdue, --reviewed", param_hint="--open")
    status: Any = chosen[0] if chosen else None
    day = parse_date(as_of)
    with opened(db) as store:
        found = list_appeals(store, subject, status, day)
    if as_json:
        emit([a.as_dict() for a in found])
        return
    if not found:
        out().print("no appeal" + (f" of {subject}" if subject else "") + " matches")
        return
    shown = table("appeal", "subject", "entry", "parameter", "of", "filed", "due by", "status",
                  "reviewed")  # fmt: skip
    for a in found:
        shown.add_row(
            str(a.appeal_id),
            a.subject,
            str(a.entry_id),
            a.parameter,
            a.entry_date.isoformat(),
            a.filed.isoformat(),
            a.deadline.isoformat(),
            a.status + (" (late)" if a.late and not a.awaiting_review else ""),
            "" if a.reviewed is None else f"{a.reviewed} by {a.reviewer}",
        )
    out().print(shown)
    waiting = sum(a.awaiting_review for a in found)
    late = sum(a.status == "overdue" for a in found)
    out().print(f"{len(found):,} appeal(s): {waiting:,} awaiting review, {late:,} of them overdue")


@appeals_app.command("show", cls=Command)
@handles_errors
def appeals_show(
    appeal_id: Annotated[int, typer.Argument(metavar="APPEAL", min=1, help="The appeal's number.")],
    as_of: Today = None,
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """One appeal: the record, the subject's reason, the deadline, the review and its effect."""
    from socialrating.appeals import appeal

    with opened(db) as store:
        found = appeal(store, appeal_id, parse_date(as_of))
    if as_json:
        emit(found.as_dict())
        return
    print_appeal(found)


@app.command(cls=Command)
@handles_errors
def review(
    appeal_id: Annotated[int, typer.Argument(metavar="APPEAL", min=1, help="The appeal's number.")],
    reason: Reason,
    uphold: Annotated[bool, typer.Option("--uphold", help="The record stands.")] = False,
    void: Annotated[
        bool, typer.Option("--void", help="The record is voided: it stops counting at once.")
    ] = False,
    reviewer: Annotated[str, typer.Option(metavar="NAME", help="Who reviews.")] = "operator",
    date: Reviewed = None,
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """Review an appeal: uphold the record or void it (see `socialrating appeals list --open`)."""
    from socialrating.appeals import review_appeal

    if uphold == void:
        raise typer.BadParameter("choose --uphold or --void", param_hint="--uphold/--void")
    day = parse_date(date, "--date")
    with opened(db) as store:
        found = review_appeal(
            store, appeal_id, "voided" if void else "upheld", reason, reviewer, day
        )
    if as_json:
        emit(found.as_dict())
        return
    print_appeal(found)


def appeal_line(a: Any) -> str:
    """One line of a statement for an appeal: the record, when filed, and where it stands."""
    head = f"Appeal {a.appeal_id} against entry {a.entry_id} ({a.parameter}), filed {a.filed}: "
    if a.awaiting_review:
        due = "overdue since" if a.status == "overdue" else "review due by"
        return head + f"awaiting review, {due} {a.deadline}"
    late = " (after its deadline)" if a.late else ""
    return head + f"{a.status} on {a.reviewed}{late}: {a.review_reason}"


def print_appeal(a: Any) -> None:
    """An appeal as a terminal shows it: the record, the reason, the deadline, the review."""
    source = f", from {a.institution}" if a.institution else ""
    out().print(
        styled(
            bold(f"appeal {a.appeal_id}"),
            f": {a.subject} disputes entry {a.entry_id} ({a.parameter}, {a.entry_date}{source})",
        )
    )
    out().print(f"  filed {a.filed} (entry {a.appeal_entry}): {a.reason}")
    if a.awaiting_review:
        state = "overdue" if a.status == "overdue" else "open"
        out().print(styled("  review due by ", bold(a.deadline), f": {state}"))
        return
    late = ", after its deadline" if a.late else ""
    out().print(
        styled(
            "  ",
            bold(a.status),
            f" on {a.reviewed} by {a.reviewer} (entry {a.review_entry}; due by {a.deadline}"
            f"{late}): {a.review_reason}",
        )
    )
    if a.status == "voided":
        out().print(
            f"  the record no longer counts, as of any date (void entry {a.void_entry}); "
            "the next `socialrating score` leaves it out"
        )
    else:
        out().print("  the record stands")
