"""Linked rulebooks: grades of one rulebook become records of another (``exports``).

A rulebook's export maps some of its grades to parameters of another rulebook, kept in
another ledger: the village's stars become the district's points at the year's end, a
district's downgrade a deduction in the village. ``export_records`` takes the run of the
rulebook in force as of a day (the stored one if nothing changed since, else a new
run), and makes one record per subject graded one of the mapped grades: the parameter,
dated that day, with an idempotency key of the rulebook, the export, the day and the
subject (exporting the same day again gives the same rows, which the other ledger counts
once), and evidence naming the run and the grade. The other ledger ingests them as a
batch of the export's ``institution``, as any institution's records: its own rulebook
says what they are worth. ``check_target`` checks them against that rulebook first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from socialrating.errors import Problem, ProblemsError, SocialRatingError
from socialrating.ledger.rulebooks import in_force
from socialrating.ledger.store import Store
from socialrating.model import day_number
from socialrating.rulebook import Rulebook
from socialrating.rulebook.schema import Export

COLUMNS = ("key", "subject", "parameter", "date", "evidence")
"""The columns of an exported batch: those `socialrating ingest` reads."""


class UnknownExport(SocialRatingError):
    """The rulebook in force has no export of that code, or cannot export on that day."""


@dataclass(frozen=True)
class Exported:
    """The records an export makes of one run."""

    export: Export
    rulebook: str
    run_id: int
    as_of: dt.date
    rows: pa.Table
    """One row per record, the columns of ``COLUMNS``, by subject code."""

    def counts(self) -> dict[str, int]:
        """Records per parameter, in the export's order."""
        made = self.rows.column("parameter").to_pylist()
        return {p: made.count(p) for p in dict.fromkeys(self.export.grades.values()) if p in made}


def export_records(store: Store, code: str, as_of: dt.date) -> Exported:
    """The records export ``code`` of the rulebook in force on ``as_of`` makes of the run
    as of that day (scored now unless a stored run saw the ledger as it is).

    Raises:
        UnknownExport: no such export, or a year-end export on another day.
    """
    from socialrating.scoring.run import score_run, unchanged_run

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
    run = unchanged_run(store, rb.hash, as_of) or score_run(store, as_of)
    grade = "n.direct_grade" if export.direct_only else "n.grade"
    kinds = ["citizen", "organisation"] if export.subjects == "any" else [export.subjects]
    found = store.rows(
        f"""SELECT s.code, {grade} FROM snapshot n JOIN subjects s USING (subject_id)
            WHERE n.run_id = ? AND list_contains(?, s.kind) AND list_contains(?, {grade})
            ORDER BY s.code""",
        [run.run_id, kinds, list(export.grades)],
    )
    name = f"{rb.spec.name} {rb.spec.version}"
    day = as_of.isoformat()
    rows = {
        "key": [f"{rb.spec.name}:{export.code}:{day}:{subject}" for subject, _ in found],
        "subject": [str(subject) for subject, _ in found],
        "parameter": [export.grades[g] for _, g in found],
        "date": [day] * len(found),
        "evidence": [
            f"{name}, run {run.run_id} as of {day}: {'directly ' if export.direct_only else ''}"
            f"graded {g}"
            for _, g in found
        ],
    }
    table = pa.table({c: pa.array(rows[c], pa.string()) for c in COLUMNS})
    return Exported(export, name, run.run_id, as_of, table)


def check_target(export: Export, target: Rulebook) -> list[str]:
    """What the other rulebook would refuse of the export's records: an institution it
    does not have, parameters it does not have, the institution may not send, or that are
    not about the export's subjects. Empty: it takes them."""
    problems = []
    spec = target.spec
    if export.institution not in {i.code for i in spec.institutions}:
        problems.append(f"{spec.name} has no institution {export.institution!r}")
    parameters = {p.code: p for p in spec.parameters}
    kinds = {"citizen", "organisation"} if export.subjects == "any" else {export.subjects}
    for grade, code in export.grades.items():
        p = parameters.get(code)
        if p is None:
            problems.append(f"grade {grade}: {spec.name} has no parameter {code!r}")
            continue
        if export.institution not in p.institutions:
            problems.append(f"grade {grade}: {export.institution!r} may not send {code!r}")
        allowed = {"citizen", "organisation"} if p.subjects == "any" else {p.subjects}
        if not kinds <= allowed:
            problems.append(f"grade {grade}: {code!r} is about {p.subjects}s only")
    return problems


def write_batch(exported: Exported, path: Path) -> None:
    """Write the records as a batch `socialrating ingest` reads: ``.csv``, ``.ndjson`` or
    ``.parquet``.

    Raises:
        ProblemsError: another suffix, or the file cannot be written.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(exported.rows, path)
        elif suffix == ".parquet":
            import pyarrow.parquet as pq

            pq.write_table(exported.rows, path)
        elif suffix in (".ndjson", ".jsonl"):
            import json

            with path.open("w", encoding="utf-8") as f:
                for row in exported.rows.to_pylist():
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            raise ProblemsError(
                f"cannot write {path}",
                [Problem(str(path), None, "", "use a .csv, .ndjson or .parquet file")],
            )
    except OSError as exc:
        raise ProblemsError(
            f"cannot write {path}", [Problem(str(path), None, "", exc.strerror or str(exc))]
        ) from exc
