"""`socialrating init | ingest | verify`: set up the ledger, append to it, check it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import Db, Json, emit, handles_errors, opened, out, styled, working
from socialrating.cli.help import Command
from socialrating.errors import Problem, ProblemsError

BATCH_COLUMNS = """\b
A batch has a header line and one record per line (CSV), row (Parquet) or
object (NDJSON), with these columns:
  key          idempotency key (required); the same key and content count once
  subject      the subject's code (required for records)
  parameter    the rulebook parameter reported (required for records)
  date         when the fact arose, YYYY-MM-DD (required)
  quantity     for per-unit and banded parameters (hours, days, amounts)
  confidence   identification confidence (required from camera networks)
  counterpart  the other subject: reporter, contact, or legal representative
  act          optional act id: one subject's records of one act count once
  level        optional level (district, national) that validity may use
  severity     optional
  evidence     optional reference to the institution's evidence
  kind         "verification" to verify a citizen report (else a record)
  refers_to    the entry id of the citizen report a verification verifies
\b
`socialrating parameters --institution CODE` lists what CODE may report;
examples/batch.csv is a small batch from police.p01 for the seed rulebook."""


@app.command(cls=Command)
@handles_errors
def init(
    db: Db = settings.DB.default,
    rulebook: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help=f"Rulebook to activate [default: ${settings.RULEBOOK.env} or the seed].",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Create the database (if needed) and activate a rulebook."""
    from socialrating.ledger import activate_rulebook
    from socialrating.rulebook import load_rulebook

    path = rulebook or Path(settings.RULEBOOK.value())
    with working(f"loading {path}…", as_json):
        rb = load_rulebook(path)
    with opened(db, create=True) as store, working("activating…", as_json):
        changed = activate_rulebook(store, rb)
    doc = {"db": db, "rulebook": str(path), "hash": rb.hash, "activated": changed}
    if as_json:
        emit(doc)
    else:
        what = "activated" if changed else "already active"
        out().print(f"{db}: rulebook {rb.spec.name} {rb.spec.version} ({rb.short_hash}) {what}")


@app.command(epilog=BATCH_COLUMNS, cls=Command)
@handles_errors
def ingest(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="A batch: .csv, .parquet or .ndjson.")
    ],
    institution: Annotated[
        str,
        typer.Option(metavar="CODE", help="Code of the institution sending the batch."),
    ],
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """Append a batch of records from one institution: all rows, or none if any is bad."""
    from socialrating.ledger import ingest_file

    with opened(db) as store, working(f"checking and storing {file}…", as_json):
        result = ingest_file(store, file, institution)
    if as_json:
        emit(result.as_dict())
        return
    out().print(
        f"{file}: {result.stored:,} stored, {result.duplicates:,} already in the ledger "
        f"(of {result.rows:,} rows)"
        + (
            f"; batch {result.batch.batch_id}, entries {result.batch.first_entry} to "
            f"{result.batch.last_entry}"
            if result.batch
            else ""
        )
    )


HEX = re.compile(r"[0-9a-fA-F]{8,64}")


def _head(value: str | None) -> str | None:
    """A head digest given as hex (a prefix of 8 or more digits) or as a file holding one."""
    if value is None:
        return None
    text = value.strip()
    path = Path(value)
    if not HEX.fullmatch(text) and path.is_file():
        words = path.read_text(encoding="utf-8", errors="replace").split()
        text = words[0] if words else ""
        if not HEX.fullmatch(text):
            raise typer.BadParameter(
                f"{value} does not start with a head digest (8 to 64 hex digits)",
                param_hint="--head",
            )
    elif not HEX.fullmatch(text):
        raise typer.BadParameter(
            f"not a head digest (8 to 64 hex digits) nor a file holding one: {value!r}",
            param_hint="--head",
        )
    return text.lower()


@app.command(cls=Command)
@handles_errors
def verify(
    db: Db = settings.DB.default,
    head: Annotated[
        str | None,
        typer.Option(
            metavar="DIGEST|FILE",
            help="A head digest published earlier (or a file holding one, as --save-head "
            "writes): the ledger must still contain it.",
        ),
    ] = None,
    save_head: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Write the head digest to FILE (to publish it) when the ledger is intact.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check the hash chain; name the first edited, inserted or deleted entry. Exit 1 if broken."""
    from socialrating.ledger.verify import verify_ledger

    expected = _head(head)
    with opened(db) as store, working("verifying every entry…", as_json):
        report = verify_ledger(store, expected)
    if save_head is not None and report.ok:
        try:
            save_head.write_text(report.head + "\n", encoding="utf-8")
        except OSError as exc:
            problem = Problem(str(save_head), None, "", str(exc))
            raise ProblemsError(f"cannot write the head digest to {save_head}", [problem]) from None
    if as_json:
        emit(report.as_dict())
    elif report.ok:
        found = f"; it holds head {expected}" if expected else ""
        saved = f"; saved to {save_head}" if save_head is not None else ""
        out().print(
            styled(
                ("ok", "green"),
                f": {report.entries:,} entries in {report.batches:,} batches; "
                f"head {report.head[:16]}{found}{saved}",
            )
        )
    else:
        if report.first is not None:
            out().print(
                styled(("broken", "bold red"), f": first broken entry {report.first.entry_id}")
            )
        for finding in report.findings[:20]:
            out().print(f"  {finding}")
        if len(report.findings) > 20:
            out().print(f"  … and {len(report.findings) - 20} more")
        if report.head_problem:
            out().print(styled(("broken", "bold red"), f": {report.head_problem}"))
    if not report.ok:
        raise typer.Exit(1)
