"""`socialrating check | check-batch | lists`: decisions and lists, from a scoring run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from socialrating import settings
from socialrating.cli.app import app
from socialrating.cli.common import (
    Db,
    Json,
    Run,
    bold,
    emit,
    handles_errors,
    opened,
    out,
    styled,
    table,
    working,
)
from socialrating.cli.help import Command

Subject = Annotated[str, typer.Argument(metavar="SUBJECT", help="The subject's code.")]
Service = Annotated[str, typer.Argument(metavar="SERVICE", help="The service's code, e.g. flight.")]

BATCH_OUTPUT = """\b
The decisions file (-o) is CSV with the columns
  subject      the subject's code, as given
  decision     allowed, refused, terms, or unknown (not in the run)
  reasons      the reason codes, separated by ';'
  terms        the terms as a JSON object ({} when none)
  key_factors  for a refusal, its key factors' codes, ranked, separated by ';'
or, for -o FILE.ndjson, one decision per line in the shape of `check --json`."""


def decision_line(d: Any) -> Any:
    """A decision in one line: service, decision, terms, and why."""
    terms = ", ".join(f"{k} {v}" for k, v in d.terms.items())
    because = "; ".join(r.text for r in d.reasons)
    factors = "; ".join(f"{n}. {f.text}" for n, f in enumerate(d.factors, start=1))
    return styled(
        f"{d.service}: ",
        bold(d.decision),
        f" ({terms})" if terms else "",
        f" — {because}",
        f" — key factors: {factors}" if factors else "",
    )


@app.command(cls=Command)
@handles_errors
def check(
    subject: Subject,
    service: Service,
    db: Db = settings.DB.default,
    run: Run = None,
    as_json: Json = False,
) -> None:
    """May SUBJECT use SERVICE? Allowed, refused or terms, with reason codes (latest run)."""
    from socialrating.decisions.lookup import decide_one

    with opened(db) as store:
        decision = decide_one(store, subject, service, run)
    if as_json:
        emit(decision.as_dict())
        return
    out().print(styled(f"{subject} — ", decision_line(decision)))
    out().print(f"  (run {decision.run_id}, grade and lists as of {decision.as_of})")
    for r in decision.reasons:
        out().print(f"  {r.code}: {r.text}")


@app.command("check-batch", epilog=BATCH_OUTPUT, cls=Command)
@handles_errors
def check_batch(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="CSV or Parquet with a column 'subject'.")
    ],
    service: Service,
    db: Db = settings.DB.default,
    run: Run = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write every decision to FILE (.csv or .ndjson)."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Decide SERVICE for every subject in FILE (a passenger list), from the latest run."""
    from socialrating.decisions.batch import read_subjects_column, summary, write_decisions
    from socialrating.decisions.decider import load_decider

    codes = read_subjects_column(file)
    with opened(db) as store, working("deciding…", as_json):
        decider = load_decider(store, run)
        decided = decider.decide_many(codes, service)
    if output is not None:
        write_decisions(decided, decider, service, output)
    doc = summary(decided, decider, service)
    if as_json:
        emit(doc)
        return
    counts = ", ".join(f"{k} {v:,}" for k, v in doc["decisions"].items()) or "nothing to decide"
    out().print(f"{doc['subjects']:,} subjects, run {doc['run_id']}: {counts}")
    shown = table("subject", "decision", "reasons")
    for row in doc["not_allowed"][:20]:
        shown.add_row(row["subject"], row["decision"], "; ".join(r["code"] for r in row["reasons"]))
    if doc["not_allowed"]:
        out().print(shown)
        if len(doc["not_allowed"]) > 20:
            out().print(f"… and {len(doc['not_allowed']) - 20:,} more (-o FILE writes all)")
        by_grade = [
            d
            for d in doc["not_allowed"]
            if any(r["code"].startswith("GRADE:") for r in d["reasons"])
        ]
        refused = sum(1 for d in by_grade if d["decision"] == "refused")
        if refused:
            out().print(
                f"{refused:,} refused by grade: each with its key factors (what worsened its "
                "score, ranked) in --json and in -o FILE"
            )
        if len(by_grade) > refused:
            out().print(
                f"{len(by_grade) - refused:,} terms by grade: the key factors of each, ranked, "
                f"on request: socialrating check SUBJECT {service}"
            )
    if output is not None:
        out().print(f"all decisions written to {output}")


@app.command("lists", cls=Command)
@handles_errors
def lists_cmd(
    name: Annotated[
        str | None,
        typer.Argument(metavar="LIST", help="A list's code: show its members."),
    ] = None,
    db: Db = settings.DB.default,
    run: Run = None,
    limit: Annotated[
        int, typer.Option(min=0, metavar="N", help="Members to show; 0 shows all.")
    ] = 50,
    as_json: Json = False,
) -> None:
    """The lists (sizes, per cause), or one list's members with why and since when."""
    from socialrating.decisions.batch import list_members, list_sizes

    with opened(db) as store:
        doc = list_sizes(store, run) if name is None else list_members(store, name, run, limit)
    if as_json:
        emit(doc)
        return
    if name is None:
        alerts = any(row["by_alert"] for row in doc["lists"])
        sizes = table(
            "list", "name", "members", "by record", "by grade", "joint", *(["by alert"] * alerts)
        )
        for row in doc["lists"]:
            sizes.add_row(
                row["list"],
                row["name"],
                f"{row['members']:,}",
                f"{row['by_record']:,}",
                f"{row['by_grade']:,}",
                f"{row['by_joint']:,}",
                *([f"{row['by_alert']:,}"] * alerts),
            )
        out().print(f"run {doc['run_id']} as of {doc['as_of']}")
        out().print(sizes)
        return
    members = table("subject", "cause", "why", "since", "until")
    for m in doc["members"]:
        members.add_row(m["subject"], m["cause"], m.get("why") or _why(m), m["since"] or "",
                        m["until"] or "")  # fmt: skip
    out().print(f"{name}: {doc['size']:,} members (run {doc['run_id']} as of {doc['as_of']})")
    out().print(members)
    if doc["size"] > len(doc["members"]):
        out().print(f"the first {len(doc['members']):,} are shown (--limit to see more)")


def _why(m: dict[str, Any]) -> str:
    if m["cause"] == "grade":
        return f"grade {m['grade']}"
    if m["cause"] == "alert":
        return f"alert of {m['grade']}"
    if m["cause"] == "joint":
        return f"with {m['via']} (entry {m['entry_id']})"
    return f"entry {m['entry_id']}"
