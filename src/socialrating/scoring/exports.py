"""Linked rulebooks: grades of one rulebook become records of another (``exports``).

A rulebook's export maps some of its grades to parameters of another rulebook, kept in
another ledger: the village's stars become the district's points at the year's end, a
district's downgrade a deduction in the village. ``export_records`` scores every subject
as of a day under the rulebook in force then (the whole-run plan, without storing a run:
an export as of a past day must not become the latest run that decisions are answered
from), and makes one record per subject graded one of the mapped grades: the parameter,
dated that day, with an idempotency key of the rulebook, the export, the day and the
subject, and evidence naming the rulebook, the day and the grade. Exporting the same day
again gives the same rows while no grade of that day changed, which the other ledger
counts once. The other ledger ingests them as a batch of the export's ``institution``, as
any institution's records: its own rulebook says what they are worth. ``check_target``
checks them against that rulebook first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from socialrating.errors import Problem, ProblemsError, SocialRatingError
from socialrating.ledger.integrity import trusted_compiled
from socialrating.ledger.rulebooks import in_force
from socialrating.ledger.store import Store
from socialrating.model import day_number
from socialrating.rulebook import Rulebook, RulebookHeader
from socialrating.rulebook.schema import Export

COLUMNS = ("key", "subject", "parameter", "date", "evidence")
"""The columns of an exported batch: those `socialrating ingest` reads."""


class UnknownExport(SocialRatingError):
    """The rulebook in force has no export of that code, or cannot export on that day."""


@dataclass(frozen=True)
class Exported:
    """The records an export makes of the grades of one day."""

    export: Export
    rulebook: str
    as_of: dt.date
    rows: pa.Table
    """One row per record, the columns of ``COLUMNS``, by subject code."""

    def counts(self) -> dict[str, int]:
        """Records per parameter, in the export's order."""
        made = self.rows.column("parameter").to_pylist()
        return {p: made.count(p) for p in dict.fromkeys(self.export.grades.values()) if p in made}


def find_export(store: Store, code: str, as_of: dt.date) -> tuple[RulebookHeader, Export]:
    """The rulebook in force on ``as_of`` and its export ``code``.

    Raises:
        UnknownExport: no such export, or a year-end export on another day.
    """
    rb = in_force(store, day_number(as_of))
    export = next((e for e in rb.spec.exports if e.code == code), None)
    if export is None:
        known = ", ".join(e.code for e in rb.spec.exports) or "none"
        raise UnknownExport(
            f"rulebook {rb.spec.name} {rb.spec.version} has no export {code!r} (its exports: {known})"
        )
    if export.year_end and (as_of.month, as_of.day) != (12, 31):
        raise UnknownExport(
            f"export {code!r} is made at the year's end (year_end): give --as-of "
            f"{as_of.year - 1}-12-31 or {as_of.year}-12-31, not {as_of.isoformat()}"
        )
    return rb, export


def export_records(store: Store, code: str, as_of: dt.date) -> Exported:
    """The records export ``code`` of the rulebook in force on ``as_of`` makes of every
    subject's grade that day (scored now; no run is stored).

    Raises:
        UnknownExport: no such export, or a year-end export on another day.
    """
    from socialrating.scoring.compiled import run_plan

    rb, export = find_export(store, code, as_of)
    for version in rb.versions:  # nothing it reads may differ from what the ledger recorded
        trusted_compiled(store, version.hash)
    scored = run_plan(store, rb, "scores", day_number(as_of))
    grade = "direct_grade" if export.direct_only else "grade"
    kinds = ["citizen", "organisation"] if export.subjects == "any" else [export.subjects]
    store.con.register("export_scored", scored.select(["subject_id", grade]))
    try:
        found = store.rows(
            f"""SELECT s.code, n.{grade} FROM export_scored n JOIN subjects s USING (subject_id)
                WHERE list_contains(?, s.kind) AND list_contains(?, n.{grade})
                ORDER BY s.code""",
            [kinds, list(export.grades)],
        )
    finally:
        store.con.unregister("export_scored")
    name = f"{rb.spec.name} {rb.spec.version}"
    day = as_of.isoformat()
    how = "directly graded" if export.direct_only else "graded"
    rows = {
        "key": [f"{rb.spec.name}:{export.code}:{day}:{subject}" for subject, _ in found],
        "subject": [str(subject) for subject, _ in found],
        "parameter": [export.grades[g] for _, g in found],
        "date": [day] * len(found),
        "evidence": [f"{name} as of {day}: {how} {g}" for _, g in found],
    }
    table = pa.table({c: pa.array(rows[c], pa.string()) for c in COLUMNS})
    return Exported(export, name, as_of, table)


def check_target(export: Export, target: Rulebook) -> list[str]:
    """What the other rulebook would refuse of the export's records: an institution it
    does not have, parameters it does not have (in its YAML or catalogue), the
    institution may not send, or that are not about the export's subjects. Empty: it
    takes them."""
    problems = []
    spec = target.spec
    if export.institution not in {i.code for i in spec.institutions}:
        problems.append(f"{spec.name} has no institution {export.institution!r}")
    wanted = set(export.grades.values())
    table = target.parameters
    rows = table.filter(pc.is_in(table.column("code"), pa.array(sorted(wanted)))).to_pylist()
    parameters = {r["code"]: r for r in rows}
    kinds = {"citizen", "organisation"} if export.subjects == "any" else {export.subjects}
    for grade, code in export.grades.items():
        p = parameters.get(code)
        if p is None:
            problems.append(f"grade {grade}: {spec.name} has no parameter {code!r}")
            continue
        if export.institution not in (p["institutions"] or []):
            problems.append(f"grade {grade}: {export.institution!r} may not send {code!r}")
        allowed = {"citizen", "organisation"} if p["subjects"] == "any" else {p["subjects"]}
        if not kinds <= allowed:
            problems.append(f"grade {grade}: {code!r} is about {p['subjects']}s only")
    return problems


def check_suffix(path: Path) -> None:
    """Raises ProblemsError unless ``write_batch`` can write ``path``'s format."""
    if path.suffix.lower() not in (".csv", ".parquet", ".ndjson", ".jsonl"):
        raise ProblemsError(
            f"cannot write {path}",
            [Problem(str(path), None, "", "use a .csv, .ndjson or .parquet file")],
        )


def write_batch(exported: Exported, path: Path) -> None:
    """Write the records as a batch `socialrating ingest` reads: ``.csv``, ``.ndjson`` or
    ``.parquet``.

    Raises:
        ProblemsError: another suffix, or the file cannot be written.
    """
    check_suffix(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(exported.rows, path)
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(exported.rows, path)
        else:
            import json

            with path.open("w", encoding="utf-8") as f:
                for row in exported.rows.to_pylist():
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise ProblemsError(
            f"cannot write {path}", [Problem(str(path), None, "", exc.strerror or str(exc))]
        ) from exc
