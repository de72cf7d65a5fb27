"""The command line: a thin shell over the library. Every command that prints data takes --json."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from socialrating import settings
from socialrating.errors import ProblemsError, SocialRatingError

app = typer.Typer(
    help="socialrating: a national social rating system that explains every point.",
    no_args_is_help=True,
    add_completion=False,
)
rulebook_app = typer.Typer(help="Check rulebooks and print their schema.", no_args_is_help=True)
subjects_app = typer.Typer(help="The registry of rated subjects.", no_args_is_help=True)
app.add_typer(rulebook_app, name="rulebook")
app.add_typer(subjects_app, name="subjects")

# Tables are wide; outside a terminal (a pipe, a file) they would wrap at 80 columns.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False)

Db = Annotated[
    str,
    typer.Option("--db", envvar=settings.DB.env, help=settings.DB.help, show_default=True),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="Score as of this date (YYYY-MM-DD); default today (UTC)."),
]

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(fn: F) -> F:
    """Turn library errors into a clear message (JSON with --json) and exit status 1."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SocialRatingError as exc:
            if kwargs.get("as_json"):
                doc: dict[str, Any] = {
                    "error": type(exc).__name__,
                    "message": str(exc).split("\n")[0],
                }
                if isinstance(exc, ProblemsError):
                    doc["problems"] = [p.as_dict() for p in exc.problems]
                print(json.dumps(doc, indent=2))
            else:
                err.print(f"[bold red]error:[/] {exc}", markup=True, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def emit(doc: object) -> None:
    print(json.dumps(doc, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    # DuckDB returns sums as Decimal: they are numbers in JSON, not strings.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"not a date (YYYY-MM-DD): {text!r}", param_hint="--as-of"
        ) from None


@contextmanager
def working(message: str, as_json: bool) -> Iterator[None]:
    """A spinner on stderr while a step runs (none with --json, whose output is parsed)."""
    if as_json:
        yield
        return
    with err.status(message, spinner="dots"):
        yield


@contextmanager
def opened(db: str, *, create: bool = False) -> Iterator[Any]:
    from socialrating.ledger import open_store

    store = open_store(db, create=create)
    try:
        yield store
    finally:
        store.close()


# --- rulebook -------------------------------------------------------------------------


@rulebook_app.command("check")
@handles_errors
def rulebook_check(
    file: Annotated[Path, typer.Argument(help="The rulebook YAML file.")],
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
    out.print(f"[green]ok[/] {file}: rulebook {rb.spec.name} {rb.spec.version} ({rb.short_hash})")
    out.print(
        f"   effective {summary['effective']}, {summary['institutions']} institutions, "
        f"{summary['categories']} categories, {summary['parameters']:,} parameters"
    )


@rulebook_app.command("schema")
def rulebook_schema() -> None:
    """Print the rulebook's JSON Schema."""
    from socialrating.rulebook import RulebookSpec

    emit(RulebookSpec.model_json_schema(by_alias=True))


# --- set-up and input -----------------------------------------------------------------


@app.command()
@handles_errors
def init(
    db: Db = settings.DB.default,
    rulebook: Annotated[
        Path | None,
        typer.Option(help=f"Rulebook to activate [default: ${settings.RULEBOOK.env} or the seed]"),
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
        out.print(f"{db}: rulebook {rb.spec.name} {rb.spec.version} ({rb.short_hash}) {what}")


@subjects_app.command("import")
@handles_errors
def subjects_import(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet: code, kind, born, sex, region.")],
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """Register subjects (citizens and organisations); known codes are skipped."""
    from socialrating.ledger import register_subjects
    from socialrating.ledger.subjects import read_subjects_file

    with opened(db) as store:
        n = register_subjects(store, read_subjects_file(file), str(file))
    if as_json:
        emit({"file": str(file), "registered": n})
    else:
        out.print(f"{file}: {n:,} new subject(s) registered")


@app.command()
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
    table = Table("id", "code", "class", "name")
    for r in rows:
        table.add_row(str(r[0]), r[1], r[2], r[3] or "")
    out.print(table)


@app.command()
@handles_errors
def ingest(
    file: Annotated[Path, typer.Argument(help="A batch: .csv, .parquet or .ndjson.")],
    institution: Annotated[str, typer.Option(help="Code of the institution sending the batch.")],
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
    out.print(
        f"{file}: {result.stored:,} stored, {result.duplicates:,} already in the ledger "
        f"(of {result.rows:,} rows)"
        + (
            f"; batch {result.batch.batch_id}, entries {result.batch.first_entry} to "
            f"{result.batch.last_entry}"
            if result.batch
            else ""
        )
    )


@app.command()
@handles_errors
def verify(
    db: Db = settings.DB.default,
    head: Annotated[
        str | None,
        typer.Option(help="A head digest printed by an earlier verify; it must still be there."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Check the hash chain; name the first edited, inserted or deleted entry. Exit 1 if broken."""
    from socialrating.ledger.verify import verify_ledger

    with opened(db) as store, working("verifying every entry…", as_json):
        report = verify_ledger(store, head)
    if as_json:
        emit(report.as_dict())
    elif report.ok:
        out.print(
            f"[green]ok[/]: {report.entries:,} entries in {report.batches:,} batches; "
            f"head {report.head[:16]}"
        )
    else:
        out.print(
            f"[bold red]broken[/]: first broken entry {report.first.entry_id if report.first else '?'}"
        )
        for finding in report.findings[:20]:
            out.print(f"  {finding}")
        if len(report.findings) > 20:
            out.print(f"  … and {len(report.findings) - 20} more")
    if not report.ok:
        raise typer.Exit(1)


# --- scoring --------------------------------------------------------------------------


def grades_table(grades: dict[str, dict[str, int]]) -> Table:
    table = Table("kind", "grade", "subjects", "share")
    for kind, dist in grades.items():
        total = max(1, sum(dist.values()))
        for grade, n in dist.items():
            table.add_row(kind, grade, f"{n:,}", f"{100 * n / total:.2f} %")
    return table


@app.command()
@handles_errors
def score(db: Db = settings.DB.default, as_of: AsOf = None, as_json: Json = False) -> None:
    """Score every subject and store a snapshot tagged with the rulebook hash and date."""
    from socialrating.scoring import score_run

    with opened(db) as store, working("scoring…", as_json):
        result = score_run(store, parse_date(as_of))
    if as_json:
        emit(result.as_dict())
        return
    print_run(result)


def print_run(result: Any) -> None:
    out.print(
        f"run {result.run_id}: as of {result.as_of}, rulebook {result.rulebook_hash[:12]}, "
        f"{result.subjects:,} subjects, {result.records:,} records in {result.seconds:.2f} s"
    )
    out.print(grades_table(result.grades))
    if result.lists:
        out.print("lists: " + ", ".join(f"{k} {v:,}" for k, v in result.lists.items()))
    if result.contagion:
        c = result.contagion
        out.print(
            f"contagion: {c['lowered']:,} citizens lowered by contacts, "
            f"{c['fell_to_from_grades']:,} of them into the grades it spreads from"
        )


@app.command()
@handles_errors
def show(
    subject: Annotated[str, typer.Argument(help="The subject's code.")],
    db: Db = settings.DB.default,
    as_of: AsOf = None,
    as_json: Json = False,
) -> None:
    """A subject's statement: every record, its rule, points, date and expiry, summing to the score."""
    from socialrating.scoring import statement

    with opened(db) as store:
        st = statement(store, subject, parse_date(as_of))
    if as_json:
        emit(st.as_dict())
        return
    stage = f", stage [bold]{st.stage}[/]" if st.stage else ""
    out.print(
        f"[bold]{st.subject.code}[/] ({st.subject.kind.value}) as of {st.as_of}: "
        f"score [bold]{st.score}[/], grade [bold]{st.grade}[/]{stage} — rulebook {st.rulebook_hash[:12]}"
    )
    if st.direct:
        until = st.direct.until.isoformat() if st.direct.until else "repaired"
        out.print(
            f"Direct grade [bold]{st.direct.grade}[/] since {st.direct.since} until {until}, "
            f"set by entry {st.direct.entry_id} ({st.direct.parameter}); additions are frozen."
        )
    table = Table("date", "entry", "parameter", "from", "points", "counts", "expires", "note")
    table.add_row("", "", "base score", "", "", str(st.base), "", "")
    for line in st.lines:
        table.add_row(
            line.date.isoformat(),
            str(line.entry_id),
            line.parameter,
            line.institution,
            f"{line.points:+d}",
            f"{line.counted:+d}",
            line.expires.isoformat() if line.expires else "never",
            "" if line.reason == "counts" else line.reason,
        )
    if st.contagion:
        table.add_row("", "", "points score", "", "", str(st.points_total), "", "")
        names = ", ".join(
            f"{c.subject} ({c.grade}, {c.last_date} #{c.entry_id})" for c in st.contacts
        )
        table.add_row(
            "",
            "",
            "contagion",
            "",
            "",
            f"{st.contagion:+d}",
            "",
            f"{len(st.contacts)} of {st.contacts_in_window} contacts low-graded: {names}",
        )
    if st.direct:
        table.add_row("", "", "points score", "", "", str(st.points_total), "", "")
        table.add_row(
            "",
            "",
            f"direct grade {st.direct.grade}",
            "",
            "",
            f"{st.adjustment:+d}",
            "",
            f"score set by entry {st.direct.entry_id}",
        )
    table.add_row("", "", "[bold]score[/]", "", "", f"[bold]{st.total}[/]", "", "")
    out.print(table)
    from socialrating.decisions.decider import membership_text

    for m in st.lists:
        out.print(f"On list {membership_text(m)}")
    for d in st.decisions:
        out.print(decision_line(d))


def decision_line(d: Any) -> str:
    terms = ", ".join(f"{k} {v}" for k, v in d.terms.items())
    because = "; ".join(r.text for r in d.reasons)
    return f"{d.service}: [bold]{d.decision}[/]{' (' + terms + ')' if terms else ''} — {because}"


# --- decisions and lists ------------------------------------------------------------------


@app.command()
@handles_errors
def check(
    subject: Annotated[str, typer.Argument(help="The subject's code.")],
    service: Annotated[str, typer.Argument(help="The service's code, e.g. flight.")],
    db: Db = settings.DB.default,
    run: Annotated[int | None, typer.Option(help="The scoring run [default: the latest].")] = None,
    as_json: Json = False,
) -> None:
    """May SUBJECT use SERVICE? Allowed, refused or terms, with reason codes (latest run)."""
    from socialrating.decisions.decider import load_decider

    with opened(db) as store:
        decision = load_decider(store, run).decide(subject, service)
    if as_json:
        emit(decision.as_dict())
        return
    out.print(f"{subject} — {decision_line(decision)}")
    for r in decision.reasons:
        out.print(f"  {r.code}: {r.text}")


@app.command("check-batch")
@handles_errors
def check_batch(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet with a column 'subject'.")],
    service: Annotated[str, typer.Argument(help="The service's code, e.g. flight.")],
    db: Db = settings.DB.default,
    run: Annotated[int | None, typer.Option(help="The scoring run [default: the latest].")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write all decisions to this CSV.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Decide SERVICE for every subject in FILE (a passenger list), from the latest run."""
    from socialrating.decisions.batch import read_subjects_column, summary
    from socialrating.decisions.decider import load_decider

    codes = read_subjects_column(file)
    with opened(db) as store, working("deciding…", as_json):
        decider = load_decider(store, run)
        table = decider.decide_many(codes, service)
    if output is not None:
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, output)
    doc = summary(table, decider.run_id, service)
    if as_json:
        emit(doc)
        return
    counts = ", ".join(f"{k} {v:,}" for k, v in doc["decisions"].items())
    out.print(f"{doc['subjects']:,} subjects, run {doc['run_id']}: {counts}")
    shown = Table("subject", "decision", "reasons")
    for row in doc["not_allowed"][:20]:
        shown.add_row(row["subject"], row["decision"], row["reasons"])
    if doc["not_allowed"]:
        out.print(shown)
    if output is not None:
        out.print(f"all decisions written to {output}")


@app.command("lists")
@handles_errors
def lists_cmd(
    name: Annotated[str | None, typer.Argument(help="A list's code: show its members.")] = None,
    db: Db = settings.DB.default,
    run: Annotated[int | None, typer.Option(help="The scoring run [default: the latest].")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Members to show.")] = 50,
    as_json: Json = False,
) -> None:
    """The lists (sizes, per cause), or one list's members with the cause of each."""
    from socialrating.decisions.batch import list_members, list_sizes

    with opened(db) as store:
        doc = list_sizes(store, run) if name is None else list_members(store, name, run, limit)
    if as_json:
        emit(doc)
        return
    if name is None:
        table = Table("list", "name", "members", "by record", "by grade", "joint")
        for row in doc["lists"]:
            table.add_row(
                row["list"],
                row["name"],
                f"{row['members']:,}",
                f"{row['by_record']:,}",
                f"{row['by_grade']:,}",
                f"{row['by_joint']:,}",
            )
        out.print(f"run {doc['run_id']} as of {doc['as_of']}")
        out.print(table)
        return
    table = Table("subject", "cause", "entry", "grade", "via", "since", "until")
    for m in doc["members"]:
        table.add_row(
            m["subject"],
            m["cause"],
            str(m["entry_id"] or ""),
            m["grade"] or "",
            m["via"] or "",
            m["since"] or "",
            m["until"] or "",
        )
    out.print(f"{name}: {doc['size']:,} members (run {doc['run_id']} as of {doc['as_of']})")
    out.print(table)


# --- demo -----------------------------------------------------------------------------


@app.command()
@handles_errors
def demo(
    db: Db = settings.DB.default,
    citizens: Annotated[
        int, typer.Option(min=1, help="Citizens in the synthetic nation.")
    ] = 100_000,
    organisations: Annotated[int, typer.Option(min=0, help="Organisations.")] = 10_000,
    days: Annotated[
        int, typer.Option(min=1, max=3650, help="Days of records from the effective date.")
    ] = 365,
    seed: Annotated[int, typer.Option(help="Seed of the random generator.")] = 2021,
    rulebook: Annotated[Path | None, typer.Option(help="Rulebook [default: the seed].")] = None,
    as_json: Json = False,
) -> None:
    """Generate a synthetic nation, ingest a year of its records, score it and show its grades."""
    from socialrating.simulate.demo import DemoConfig, run_demo

    config = DemoConfig(
        db=db,
        citizens=citizens,
        organisations=organisations,
        days=days,
        seed=seed,
        rulebook=rulebook or Path(settings.RULEBOOK.value()),
    )
    result = run_demo(config, console=None if as_json else err)
    if as_json:
        emit(result.as_dict())
        return
    out.print(
        f"demo: {result.subjects:,} subjects, {result.stored:,} new entries "
        f"({result.duplicates:,} already in the ledger) in {db}"
    )
    print_run(result.run)
    if result.examples:
        out.print(
            "Try: "
            + "; ".join(
                f"socialrating show {c} --as-of {result.run.as_of}" for c in result.examples
            )
        )


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
