"""`socialrating rulebook check | schema | install | list | diff | preview | audit`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from socialrating import settings
from socialrating.cli.app import rulebook_app
from socialrating.cli.common import (
    Backdate,
    Db,
    Json,
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

if TYPE_CHECKING:
    from socialrating.rulebook.rulebook import Rulebook


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


@rulebook_app.command("install", cls=Command)
@handles_errors
def rulebook_install(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The rulebook YAML file.")],
    db: Db = settings.DB.default,
    backdate: Backdate = None,
    as_json: Json = False,
) -> None:
    """Install a new version of the rulebook, in force from its effective date.

    Versions coexist: a run as of a day uses the version in force that day, and values
    each record by the version in force on the day of its fact (unless the new version
    lists the parameter under `retroactive`). An effective date before today is refused
    without --backdate REASON. `rulebook preview FILE` shows what it would change first.
    """
    from socialrating.ledger.rulebooks import activate_rulebook
    from socialrating.rulebook import load_rulebook

    with working(f"loading {file}…", as_json):
        rb = load_rulebook(file)
    with opened(db) as store, working("installing…", as_json):
        changed = activate_rulebook(store, rb, backdate=backdate)
    doc = {
        "db": db,
        "rulebook": str(file),
        "hash": rb.hash,
        "effective": rb.spec.effective.isoformat(),
        "installed": changed,
        "backdated": backdate.strip() if changed and backdate else None,
    }
    if as_json:
        emit(doc)
        return
    what = f"in force from {rb.spec.effective}" if changed else "already installed"
    out().print(f"{db}: rulebook {rb.spec.name} {rb.spec.version} ({rb.short_hash}) {what}")


@rulebook_app.command("list", cls=Command)
@handles_errors
def rulebook_list(db: Db = settings.DB.default, as_json: Json = False) -> None:
    """The rulebooks stored in the database, latest installed first: when each is in
    force, and the one in force today."""
    from socialrating.ledger.rulebooks import list_rulebooks

    with opened(db, read_only=True) as store:
        found = list_rulebooks(store)
    if as_json:
        emit({"rulebooks": found})
        return
    shown = table("hash", "rulebook", "effective", "in force", "installed (UTC)", "runs", "")
    for rb in found:
        start, end = rb["in_force_from"], rb["in_force_until"]
        period = "never" if start is None else f"{start} to {end}" if end else f"from {start}"
        shown.add_row(
            rb["hash"][:12],
            f"{rb['name']} {rb['version']}",
            rb["effective"] or "",
            period,
            rb["installed_at"] or "",
            f"{rb['runs']:,}",
            "in force today" if rb["active"] else "",
        )
    out().print(shown)


Html = Annotated[
    Path | None,
    typer.Option("--html", metavar="FILE", help="Also write a self-contained HTML report."),
]

REFERENCE = (
    "A rulebook YAML file, or a rulebook stored in the database: the start of its hash "
    "(`rulebook list`) or `active`."
)


@rulebook_app.command("diff", cls=Command)
@handles_errors
def rulebook_diff(
    before: Annotated[str, typer.Argument(metavar="A", help=REFERENCE)],
    after: Annotated[str, typer.Argument(metavar="B", help=REFERENCE)],
    db: Db = settings.DB.default,
    limit: Annotated[
        int, typer.Option(min=1, metavar="N", help="Show at most N changes (--json: all).")
    ] = 100,
    as_json: Json = False,
) -> None:
    """What changed from rulebook A to rulebook B, in words: the header, grade bands,
    institutions, categories, parameters, stages, contagion, lists, services, appeals."""
    from socialrating.rulebook.diff import NOUNS, diff_rulebooks

    with working("comparing…", as_json):
        a, b = _rulebook(before, db), _rulebook(after, db)
        found = diff_rulebooks(a, b)
    if as_json:
        emit(found.as_dict())
        return
    x, y = found.before, found.after
    out().print(
        f"{x['name']} {x['version']} ({x['hash'][:12]}, effective {x['effective']}) → "
        f"{y['name']} {y['version']} ({y['hash'][:12]}, effective {y['effective']})"
    )
    if not found.changes:
        out().print("no change: the rulebooks say the same")
        return
    counts = found.counts()
    out().print(
        "; ".join(
            f"{NOUNS.get(part, part)}: " + ", ".join(f"{n:,} {kind}" for kind, n in kinds.items())
            for part, kinds in counts.items()
        )
    )
    for change in found.changes[:limit]:
        out().print(f"  {change.text}")
    if len(found.changes) > limit:
        more = len(found.changes) - limit
        out().print(f"… and {more:,} more (--limit N shows more; --json shows all)")


def _rulebook(reference: str, db: str) -> Rulebook:
    """A rulebook from a file, or stored in the database (see REFERENCE)."""
    from socialrating.rulebook import load_rulebook

    path = Path(reference)
    if path.exists() or path.suffix.lower() in (".yaml", ".yml"):
        return load_rulebook(path)
    from socialrating.ledger.rulebooks import rulebook_by_reference

    with opened(db, read_only=True) as store:
        return rulebook_by_reference(store, reference)


@rulebook_app.command("preview", cls=Command)
@handles_errors
def rulebook_preview(
    candidate: Annotated[
        Path, typer.Argument(metavar="CANDIDATE", help="The candidate rulebook YAML file.")
    ],
    db: Db = settings.DB.default,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="Score as of this date (YYYY-MM-DD); default: the latest run's, else today, "
            "or the candidate's effective date if later.",
        ),
    ] = None,
    html: Html = None,
    as_json: Json = False,
) -> None:
    """Score the real ledger under CANDIDATE beside the rulebook in force, storing nothing:
    grade transitions, list entries and exits, decisions that flip, the parameters that
    moved most, by region, age band and sex.

    CANDIDATE is scored as if installed: records from before its effective date keep the
    value of the version in force on their day, unless it lists them as retroactive."""
    from socialrating.model import utc_now
    from socialrating.rulebook import load_rulebook
    from socialrating.scoring.preview import preview

    day = parse_date(as_of)
    with working(f"scoring the ledger under {candidate}…", as_json):
        rb = load_rulebook(candidate)
        with opened(db, read_only=True) as store:
            latest = store.scalar("SELECT as_of FROM runs ORDER BY run_id DESC LIMIT 1")
            found = preview(store, rb, day or max(latest or utc_now().date(), rb.spec.effective))
    if html is not None:
        from socialrating.reports import preview_html

        _write_report(html, preview_html(found))
    if as_json:
        emit(found)
        return
    before, after = found["in_force"], found["candidate"]
    out().print(
        f"{after['name']} {after['version']} ({after['hash'][:12]}) against "
        f"{before['name']} {before['version']} ({before['hash'][:12]}, in force), as of "
        f"{found['as_of']}: {found['subjects']:,} subjects, "
        f"{found['grade_changed']:,} of them change grade"
    )
    moved = table("kind", "from", "to", "subjects")
    for g in found["grades"]:
        if g["from"] != g["to"]:
            moved.add_row(g["kind"], g["from"], g["to"], f"{g['subjects']:,}")
    if moved.row_count:
        out().print(moved)
    changes = [
        f"{code} {n['entered']:,} entered, {n['left']:,} left"
        for code, n in found["lists"].items()
        if n["entered"] or n["left"]
    ]
    out().print("lists: " + ("; ".join(changes) if changes else "no subject enters or leaves"))
    for service, flips in found["decisions"].items():
        if flips:
            said = ", ".join(f"{f['from']} → {f['to']} {f['subjects']:,}" for f in flips)
            out().print(f"decisions, {service}: {said}")
    if not any(found["decisions"].values()):
        out().print("decisions: none flips")
    for p in found["parameters"][:10]:
        out().print(
            f"parameter {p['parameter']}: {p['subjects_with_records']:,} subjects with "
            f"records, {p['grade_changed']:,} of them change grade"
        )
    for by, rows in found["by"].items():
        shown = table(by, "subjects", "grade changed", "fell", "rose", "newly refused",
                      "no longer refused")  # fmt: skip
        for r in rows:
            shown.add_row(
                r[by], *(f"{r[k]:,}" for k in ("subjects", "grade_changed", "score_fell",
                                               "score_rose", "newly_refused", "no_longer_refused"))
            )  # fmt: skip
        out().print(shown)


@rulebook_app.command("audit", cls=Command)
@handles_errors
def rulebook_audit(
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="FILE",
            help="A rulebook YAML file (default: the version in force on the --as-of date).",
        ),
    ] = None,
    db: Db = settings.DB.default,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            metavar="DATE",
            help="Read the latest run of the rulebook as of this date or before "
            "(YYYY-MM-DD) [default: its latest run].",
        ),
    ] = None,
    html: Html = None,
    as_json: Json = False,
) -> None:
    """Audit a rulebook for rights and fairness: what it scores by area of life (rights
    stand out), guilt by association, due-process gaps (retroactive parameters among
    them), proportionality, and, from its latest scoring run, who it reaches and its
    refusal rates by region, age band and sex (four-fifths rule)."""
    from socialrating.decisions.fairness import audit_run
    from socialrating.rulebook.audit import audit_rulebook

    day = parse_date(as_of)
    with working("auditing…", as_json):
        rb = _rulebook(str(file) if file is not None else _in_force_on(db, day), db)
        found = audit_rulebook(rb)
        found["ledger"] = None
        if Path(db).exists():
            with opened(db, read_only=True) as store:
                run = store.scalar(
                    "SELECT run_id FROM runs WHERE rulebook_hash = ? AND as_of <= ? "
                    "ORDER BY as_of DESC, run_id DESC LIMIT 1",
                    [rb.hash, day or dt.date.max],
                )
                if run is not None:
                    found["ledger"] = audit_run(store, rb, int(run))
    if html is not None:
        from socialrating.reports import audit_html

        _write_report(html, audit_html(found))
    if as_json:
        emit(found)
        return
    _print_audit(found)


def _in_force_on(db: str, day: dt.date | None) -> str:
    """The hash of the version in force on ``day`` (default: today), or ``active``."""
    if day is None:
        return "active"
    from socialrating.ledger.rulebooks import in_force

    with opened(db, read_only=True) as store:
        return in_force(store, day).hash


def _print_audit(found: dict[str, Any]) -> None:
    rb = found["rulebook"]
    out().print(f"audit of {rb['name']} {rb['version']} ({rb['hash'][:12]})")
    ledger = found["ledger"]
    reached = {a["area"]: a for a in (ledger or {}).get("areas", [])}
    areas = table("area", "rights", "parameters", "deductions", "largest", "subjects", "points")
    for a in found["areas"]:
        r = reached.get(a["area"])
        areas.add_row(
            a["area"], "RIGHTS" if a["rights"] else "", f"{a['parameters']:,}",
            f"{a['deductions']:,}", str(a["largest_deduction"]),
            f"{r['subjects']:,}" if r else "", f"{r['points']:,}" if r else "",
        )  # fmt: skip
    out().print(areas)
    assoc = found["association"]
    if assoc["contagion"]:
        c = assoc["contagion"]
        out().print(
            f"contagion: {c['points']} points for each contact graded "
            f"{', '.join(c['from_grades'])} (at most {c['max_deduction']}, {c['rounds']} rounds, "
            f"contacts of the last {c['window_days']} days)"
        )
    for j in assoc["joint_lists"]:
        out().print(
            f"joint punishment: {j['list']} follows {j['follows']} through the {j['through']}"
        )
    gaps = found["due_process"]
    for key, words in (
        ("lists_without_exit", "lists with no way off"),
        ("lists_without_term", "lists without a term"),
        ("unverified_citizen_parameters", "parameters a citizen report triggers unverified"),
        ("retroactive_parameters", "retroactive parameters (re-value records from before)"),
    ):
        if gaps[key]:
            out().print(f"{words}: {', '.join(gaps[key])}")
    for g in gaps["lists_without_own_record"]:
        out().print(
            f"list {g['list']} is entered {g['entered']}: no record of the subject's own to appeal"
        )
    for p in gaps["low_confidence_camera_parameters"]:
        out().print(f"camera parameter {p['parameter']} counts matches from {p['min_confidence']}")
    prop = found["proportionality"]
    top = prop["largest_deductions"][:3]
    out().print(
        f"median deduction {prop['median_deduction']:g} points; largest: "
        + ", ".join(f"{p['parameter']} {p['points']} ({p['times_median']}x)" for p in top)
    )
    if prop["deductions_that_never_expire"]:
        out().print(f"{prop['deductions_that_never_expire']:,} deductions never expire")
    if ledger is None:
        out().print("no scoring run of this rulebook: nothing to say of whom it reaches")
        return
    out().print(f"from run {ledger['run_id']} as of {ledger['as_of']}:")
    a = ledger["association"]
    out().print(f"  lowered by contagion: {a['lowered_by_contagion']:,} subjects")
    for lst in a["lists"]:
        if lst["jointly"]:
            out().print(
                f"  {lst['list']}: {lst['jointly']:,} on it jointly, {lst['own']:,} for what they did"
            )
    flagged = [
        (d["service"], d["by"], g)
        for d in ledger["disparate_impact"]
        for g in d["groups"]
        if g["flagged"]
    ]
    out().print(f"  four-fifths rule: {len(flagged):,} group(s) flagged")
    for service, by, g in flagged[:20]:
        out().print(
            f"    {service}, {by} {g[by]}: refused {g['refusal_rate']:.1%}, ratio {g['ratio']:.2f}"
        )


def _write_report(path: Path, text: str) -> None:
    """Write an HTML report, or say in one line why it cannot be written."""
    from socialrating.errors import Problem, ProblemsError

    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ProblemsError(
            f"cannot write {path}", [Problem(str(path), None, "", exc.strerror or str(exc))]
        ) from None
