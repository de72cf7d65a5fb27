"""`socialrating init | ingest | verify`: set up the ledger, append to it, check it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import (
    Backdate,
    Db,
    Json,
    emit,
    handles_errors,
    opened,
    out,
    styled,
    working,
)
from socialrating.cli.help import Command
from socialrating.errors import LedgerError, Problem, ProblemsError

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
    backdate: Backdate = None,
    as_json: Json = False,
) -> None:
    """Create the database (if needed) and activate a rulebook.

    On a database that has one, this installs a new version like `rulebook install`."""
    from socialrating.ledger import activate_rulebook
    from socialrating.rulebook import load_rulebook

    path = rulebook or Path(settings.RULEBOOK.value())
    with working(f"loading {path}…", as_json):
        rb = load_rulebook(path)
    with opened(db, create=True) as store, working("activating…", as_json):
        changed = activate_rulebook(store, rb, backdate=backdate)
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
    rescore: Annotated[
        int | None,
        typer.Option(
            metavar="RUN",
            min=1,
            help="Also compute run RUN again, in full, from the entries it saw, and compare "
            "with what it stored.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check the hash chain, naming the first edited, inserted or deleted entry, and that
    every rulebook, registry, cached plan and run matches what the ledger recorded of it.
    Opens the file read-only. Exit 1 if anything is broken."""
    import duckdb

    from socialrating.ledger.integrity import rescore as rescore_run
    from socialrating.ledger.integrity import verify_integrity
    from socialrating.ledger.verify import verify_ledger

    expected = _head(head)
    again = None
    with opened(db, read_only=True) as store, working("verifying every entry…", as_json):
        try:
            report = verify_ledger(store, expected)
            integrity = verify_integrity(store)
            if rescore is not None:
                again = rescore_run(store, rescore)
        except duckdb.Error as exc:  # a damaged file: say so, in one line
            raise LedgerError(f"{db} cannot be read as a ledger: {exc}".split("\n")[0]) from None
    ok = report.ok and integrity.ok and (again is None or again.ok)
    if save_head is not None and ok:
        try:
            save_head.write_text(report.head + "\n", encoding="utf-8")
        except OSError as exc:
            problem = Problem(str(save_head), None, "", str(exc))
            raise ProblemsError(f"cannot write the head digest to {save_head}", [problem]) from None
    if as_json:
        doc = report.as_dict()
        doc["ok"] = ok
        doc["integrity"] = integrity.as_dict()
        doc["rescore"] = None if again is None else again.as_dict()
        emit(doc)
        if not ok:
            raise typer.Exit(1)
        return
    if report.ok:
        found = f"; it holds head {expected}" if expected else ""
        saved = f"; saved to {save_head}" if save_head is not None and ok else ""
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
    _print_integrity(integrity)
    if again is not None:
        _print_rescore(again)
    if not ok:
        raise typer.Exit(1)


def _print_integrity(report: Any) -> None:
    checked = (
        f"{report.rulebooks:,} rulebook(s), {report.registries:,} registries, "
        f"{report.plans:,} cached plan(s) and {report.runs:,} run(s)"
    )
    if report.ok:
        out().print(styled(("ok", "green"), f": {checked} match what the ledger recorded"))
        return
    out().print(styled(("broken", "bold red"), f": {len(report.problems)} problem(s) in {checked}"))
    for problem in report.problems[:20]:
        out().print(f"  {problem}")
    if len(report.problems) > 20:
        out().print(f"  … and {len(report.problems) - 20} more")


def _print_rescore(r: Any) -> None:
    what = f"run {r.run_id} (as of {r.as_of}, {r.subjects:,} subjects"
    what += f", {r.members:,} list members" if r.members else ""
    what += f", {r.factors:,} key factors)" if r.factors else ")"
    if r.ok:
        out().print(styled(("ok", "green"), f": {what} computed again: the same"))
        return
    out().print(
        styled(
            ("broken", "bold red"),
            f": {what} computed again: {r.differing:,} subject(s) and "
            f"{r.members_differing:,} list member row(s) and {r.factors_differing:,} key "
            "factor row(s) differ" + (f", e.g. {', '.join(r.examples)}" if r.examples else ""),
        )
    )
