"""`socialrating score | runs | show`: scoring runs and statements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import (
    AsOf,
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
    working,
)
from socialrating.cli.help import Command

SHOWN_LINES = 40  # statement lines a terminal shows unless --limit says otherwise


def grades_table(grades: dict[str, dict[str, int]]) -> Any:
    shown = table("kind", "grade", "subjects", "share")
    for kind, dist in grades.items():
        total = max(1, sum(dist.values()))
        for grade, n in dist.items():
            shown.add_row(kind, grade, f"{n:,}", f"{100 * n / total:.2f} %")
    return shown


@app.command(cls=Command)
@handles_errors
def score(
    db: Db = settings.DB.default,
    as_of: AsOf = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Score everyone again, even after an earlier run of the same rulebook.",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """Score every subject and store a snapshot tagged with the rulebook hash and date.

    After an earlier run of the same rulebook, only the subjects whose result can have
    changed since are scored again, and the others carried over (the same snapshot).
    """
    from socialrating.scoring import score_run

    day = parse_date(as_of)
    with opened(db) as store, working("scoring…", as_json):
        result = score_run(store, day, full=full)
    if as_json:
        emit(result.as_dict())
        return
    print_run(result)


def print_run(result: Any) -> None:
    out().print(
        f"run {result.run_id}: as of {result.as_of}, rulebook {result.rulebook_hash[:12]}, "
        f"{result.subjects:,} subjects, {result.records:,} records in {result.seconds:.2f} s"
    )
    from socialrating.scoring.incremental import FULL_SHARE

    inc = result.incremental
    if inc.get("full"):
        out().print(
            f"in full: since run {inc['base_run']}, new entries, expiries and contacts touch "
            f"at least {FULL_SHARE * 100:.0f} % of the subjects, and scoring everyone is then cheaper"
        )
    elif inc:
        out().print(
            f"incremental, from run {inc['base_run']}: {inc['scores']:,} subjects scored again"
            f" (lists of {inc['lists']:,}); the others carried over (--full scores everyone)"
        )
    out().print(grades_table(result.grades))
    if result.lists:
        out().print("lists: " + ", ".join(f"{k} {v:,}" for k, v in result.lists.items()))
    if result.contagion:
        c = result.contagion
        out().print(
            f"contagion: {c['lowered']:,} citizens lowered by contacts, "
            f"{c['fell_to_from_grades']:,} of them into the grades it spreads from"
        )


@app.command(cls=Command)
@handles_errors
def runs(
    db: Db = settings.DB.default,
    limit: Annotated[int, typer.Option(min=0, metavar="N", help="Runs to show; 0 shows all.")] = 20,
    as_json: Json = False,
) -> None:
    """The scoring runs, latest first: as-of date, rulebook, subjects, records, lists."""
    from socialrating.scoring.run import list_runs

    with opened(db) as store:
        found = list_runs(store, limit)
    if as_json:
        emit(found)
        return
    if not found:
        out().print("no scoring run yet: run `socialrating score`")
        return
    shown = table("run", "as of", "rulebook", "hash", "started (UTC)", "seconds", "subjects",
                  "records", "lists")  # fmt: skip
    for r in found:
        lists = ", ".join(f"{k} {v:,}" for k, v in r["lists"].items())
        shown.add_row(
            str(r["run_id"]),
            r["as_of"],
            r["rulebook"],
            r["rulebook_hash"][:12],
            r["started_at"][:19].replace("T", " "),
            f"{r['seconds']:.2f}",
            f"{r['subjects']:,}",
            f"{r['records']:,}",
            lists,
        )
    out().print(shown)


@app.command("export", cls=Command)
@handles_errors
def export(
    code: Annotated[
        str, typer.Argument(metavar="EXPORT", help="The export's code in the rulebook.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="Write the batch to FILE (.csv, .ndjson, .parquet).",
        ),
    ],
    db: Db = settings.DB.default,
    as_of: AsOf = None,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            metavar="RULEBOOK",
            help="The other rulebook's YAML: check that it takes these records before writing.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Turn grades into records of another rulebook (its `exports`): a batch for its ledger.

    Each subject graded one of the export's grades as of the date (scored now; no run is
    stored) becomes a record of the mapped parameter, dated that day. Send the file with
    `socialrating ingest FILE --institution CODE` to the other rulebook's database;
    exporting the same day again gives the same keys, counted once there.
    """
    from socialrating.errors import Problem, ProblemsError
    from socialrating.rulebook import load_rulebook
    from socialrating.scoring.exports import (
        check_suffix,
        check_target,
        export_records,
        find_export,
        write_batch,
    )

    day = parse_date(as_of) or _today()
    check_suffix(output)
    target = load_rulebook(into) if into is not None else None
    with opened(db) as store:
        _, spec = find_export(store, code, day)  # before any scoring: nothing else to check
        if target is not None:
            problems = check_target(spec, target)
            if problems:
                raise ProblemsError(
                    f"{into} would refuse export {code!r}",
                    [Problem(str(into), None, "", p) for p in problems],
                )
        with working("exporting…", as_json):
            exported = export_records(store, code, day)
    write_batch(exported, output)
    doc = {
        "export": code,
        "rulebook": exported.rulebook,
        "as_of": exported.as_of.isoformat(),
        "institution": exported.export.institution,
        "records": exported.rows.num_rows,
        "by_parameter": exported.counts(),
        "output": str(output),
    }
    if as_json:
        emit(doc)
        return
    counts = ", ".join(f"{p} {n:,}" for p, n in doc["by_parameter"].items()) or "none"
    n = doc["records"]
    out().print(
        f"{n:,} record{'' if n == 1 else 's'} of {doc['rulebook']}'s grades as of "
        f"{doc['as_of']} ({counts}) written to {output}"
    )
    out().print(
        f"send them: socialrating ingest {output} --institution {exported.export.institution} "
        "--db OTHER.duckdb"
    )


def _today() -> Any:
    from socialrating.model import utc_now

    return utc_now().date()


@app.command(cls=Command)
@handles_errors
def show(
    subject: Annotated[str, typer.Argument(metavar="SUBJECT", help="The subject's code.")],
    db: Db = settings.DB.default,
    as_of: AsOf = None,
    category: Annotated[
        str | None,
        typer.Option(metavar="CODE", help="List only the lines of this category."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=0,
            metavar="N",
            help=f"List the latest N lines; 0 lists all [default: {SHOWN_LINES}; with --json all].",
            show_default=False,
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """A subject's statement: a summary, then every record with its rule, points and expiry,
    summing to the score."""
    from socialrating.ledger.rulebooks import in_force
    from socialrating.scoring import statement
    from socialrating.scoring.summary import statement_document

    day = parse_date(as_of) or _today()
    with opened(db) as store:
        rb = in_force(store, day)
        categories = [c.code for c in rb.spec.categories]
        if category is not None and category not in categories:
            raise typer.BadParameter(
                f"no category {category!r} in the rulebook (its categories: "
                f"{', '.join(categories)})",
                param_hint="--category",
            )
        st = statement(store, subject, day, rb)
    if limit is None:
        limit = 0 if as_json else SHOWN_LINES
    doc = statement_document(st, category, limit)
    if as_json:
        emit(doc)
        return
    print_statement(st, doc)


def print_statement(st: Any, doc: dict[str, Any]) -> None:
    """The statement as a terminal shows it: header, summary, lines, lists, decisions."""
    from socialrating.cli.appeals import appeal_line
    from socialrating.cli.decisions import decision_line
    from socialrating.decisions.rules import membership_text

    stage = ["", ", stage ", bold(st.stage)] if st.stage else [""]
    out().print(
        styled(
            bold(st.subject.code),
            f" ({st.subject.kind.value}) as of {st.as_of}: score ",
            bold(st.score),
            ", grade ",
            bold(st.grade),
            *stage,
            f" — rulebook {st.rules}",
        )
    )
    summary = doc["summary"]
    if st.key_factors:
        out().print(styled(bold("Key factors"), " (what worsened the score most, ranked)"))
        for n, f in enumerate(st.key_factors, start=1):
            out().print(f"  {n}. {f.text}")
    totals = table("category", "points", "records counted", "not counted", "cut by cap")
    totals.add_row("base score", str(st.base), "", "", "")
    for t in summary["categories"]:
        totals.add_row(
            t["category"] or "(none)",
            f"{t['points']:+d}",
            f"{t['counted']:,}",
            f"{t['not_counted']:,}",
            f"{t['cut']:+d}" if t["cut"] else "",
        )
    if st.contagion:
        totals.add_row("contagion", f"{st.contagion:+d}", "", "", "")
    if st.bounded:
        totals.add_row(f"score {st.bound}", f"{st.bounded:+d}", "", "", "")
    if st.direct:
        totals.add_row(f"direct grade {st.direct.grade}", f"{st.adjustment:+d}", "", "", "")
    totals.add_row("score", str(st.score), "", "", "")
    out().print(totals)
    if st.direct:
        until = st.direct.until.isoformat() if st.direct.until else "repaired"
        out().print(
            f"Direct grade {st.direct.grade} since {st.direct.since} until {until}, "
            f"set by entry {st.direct.entry_id} ({st.direct.parameter}); additions are frozen."
        )
    if st.limit:
        g = st.limit
        out().print(
            f"Grade {g.at_best} at best, {g.by_score} by score: {g.name or g.code} "
            f"(grade limit {g.code})."
        )
    _lines_table(st, doc)
    if st.deleted:
        n = st.deleted
        out().print(
            f"{n:,} expired record{'' if n == 1 else 's'} past the retention period "
            f"{'is' if n == 1 else 'are'} deleted from this statement (the ledger keeps "
            f"{'it' if n == 1 else 'them'})."
        )
    if st.measures:
        out().print(styled(bold("Measures"), " (not sums of points: weighted, ranked among peers)"))
        for m in st.measures:
            out().print(f"  {m.text}")
            for a in m.acts:
                act = a.act or "a record without an act"
                cut = f", capped from {a.weight:g}" if a.capped < a.weight else ""
                out().print(
                    f"    {a.date} {act}: severity {a.capped:g}{cut} x time weight "
                    f"{a.time_weight:g} = {a.adds:g}"
                )
    for m in st.lists:
        out().print(f"On list {membership_text(m)}")
    for d in st.decisions:
        out().print(decision_line(d))
    for a in st.appeals:
        out().print(appeal_line(a))


def _lines_table(st: Any, doc: dict[str, Any]) -> None:
    lines = doc["lines"]
    shown = table("date", "entry", "parameter", "from", "points", "counts", "expires", "note")
    shown.add_row("", "", "base score", "", "", str(st.base), "", "")
    if doc["lines_other_categories"]:
        n, points = doc["lines_other_categories"], doc["points_other_categories"]
        shown.add_row("", "", f"… {n:,} lines of other categories", "", "", f"{points:+d}", "", "")
    if doc["lines_left_out"]:
        what = f" of {doc['category']}" if doc["category"] else ""
        n, points = doc["lines_left_out"], doc["points_left_out"]
        shown.add_row("", "", f"… {n:,} earlier lines{what}", "", "", f"{points:+d}", "", "")
    for line in lines:
        notes = [] if line["reason"] == "counts" else [line["reason"]]
        if line["rules"] != st.rules:  # valued by an earlier version
            notes.append(f"valued by {line['rules']}")
        shown.add_row(
            line["date"],
            str(line["entry_id"]),
            line["parameter"],
            line["institution"],
            f"{line['points']:+d}",
            f"{line['counted']:+d}",
            line["expires"] or "never",
            "; ".join(notes),
        )
    if st.contagion:
        shown.add_row("", "", "points score", "", "", str(st.points_total), "", "")
        names = ", ".join(
            f"{c.subject} ({c.grade}, {c.last_date} #{c.entry_id})" for c in st.contacts
        )
        note = f"{len(st.contacts)} of {st.contacts_in_window} contacts low-graded: {names}"
        shown.add_row("", "", "contagion", "", "", f"{st.contagion:+d}", "", note)
    if st.bounded:
        shown.add_row(
            "", "", f"score {st.bound}", "", "", f"{st.bounded:+d}", "", "set by the rulebook"
        )
    if st.direct:
        shown.add_row("", "", "points score", "", "", str(st.points_total), "", "")
        shown.add_row(
            "",
            "",
            f"direct grade {st.direct.grade}",
            "",
            "",
            f"{st.adjustment:+d}",
            "",
            f"score set by entry {st.direct.entry_id}",
        )
    shown.add_row("", "", "score", "", "", str(st.total), "", "")
    out().print(shown)
    if doc["lines_left_out"] or doc["lines_other_categories"]:
        what = f" of {doc['category']}" if doc["category"] else ""
        out().print(
            f"{len(lines):,} of {doc['lines_matching']:,} lines{what} listed "
            f"({doc['lines_total']:,} in all); --limit 0 lists all, --category one category"
        )
