"""Batch decisions and list reports: the subjects file, summaries, list sizes and members."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from socialrating.errors import Problem, ProblemsError, SocialRatingError
from socialrating.ledger.rulebooks import stored_rulebook
from socialrating.ledger.store import Store
from socialrating.model import day_date


class UnknownList(SocialRatingError):
    """The rulebook has no such list."""


def read_subjects_column(path: Path) -> pa.Array:
    """The ``subject`` column of a CSV or Parquet file, as strings.

    Raises:
        ProblemsError: the file cannot be read, has no ``subject`` column, or has empty cells.
    """
    src = str(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        elif path.suffix.lower() == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(
                path, convert_options=pacsv.ConvertOptions(column_types={"subject": pa.string()})
            )
        else:
            raise ProblemsError(
                f"cannot read {src}", [Problem(src, None, "", "use a .csv or .parquet file")]
            )
    except (OSError, pa.ArrowException) as exc:
        raise ProblemsError(f"cannot read {src}", [Problem(src, None, "", str(exc))]) from None
    if "subject" not in table.column_names:
        found = ", ".join(table.column_names) or "none"
        raise ProblemsError(
            f"cannot read {src}",
            [Problem(src, 1, "subject", f"no column 'subject' (columns: {found})")],
        )
    col = table.column("subject").combine_chunks().cast(pa.string())
    empty = pc.or_(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))
    bad = pc.indices_nonzero(empty).to_pylist()
    if bad:
        first_line = 2 if path.suffix.lower() == ".csv" else 1
        problems = [Problem(src, i + first_line, "subject", "empty") for i in bad[:20]]
        raise ProblemsError(f"{src}: {len(bad)} row(s) without a subject", problems)
    return pc.utf8_trim_whitespace(col)


def summary(table: pa.Table, run_id: int, service: str) -> dict[str, Any]:
    """Counts per decision, and every decision other than ``allowed``, with reasons."""
    counts = pc.value_counts(table.column("decision")).to_pylist()
    others = table.filter(pc.not_equal(table.column("decision"), "allowed"))
    return {
        "run_id": run_id,
        "service": service,
        "subjects": table.num_rows,
        "decisions": {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])},
        "not_allowed": others.to_pylist(),
    }


def _run(store: Store, run_id: int | None) -> tuple[int, str, str]:
    from socialrating.decisions.decider import NoSnapshot

    if run_id is None:
        run_id = store.scalar("SELECT max(run_id) FROM runs")
    row = (
        None
        if run_id is None
        else store.one("SELECT run_id, rulebook_hash, as_of FROM runs WHERE run_id = ?", [run_id])
    )
    if row is None:
        raise NoSnapshot("no scoring run yet: run `socialrating score` first")
    return int(row[0]), str(row[1]), str(row[2])


def list_sizes(store: Store, run_id: int | None = None) -> dict[str, Any]:
    """Every list of the run's rulebook with its size, by cause."""
    run_id, rb_hash, as_of = _run(store, run_id)
    rb = stored_rulebook(store, rb_hash)
    counts = {
        (lst, cause): int(n)
        for lst, cause, n in store.rows(
            "SELECT list, cause, count(*) FROM list_members WHERE run_id = ? GROUP BY ALL",
            [run_id],
        )
    }
    rows = []
    for lst in rb.spec.lists:
        by = {cause: counts.get((lst.code, cause), 0) for cause in ("record", "grade", "joint")}
        rows.append(
            {
                "list": lst.code,
                "name": lst.name,
                "members": sum(by.values()),
                "by_record": by["record"],
                "by_grade": by["grade"],
                "by_joint": by["joint"],
            }
        )
    return {"run_id": run_id, "as_of": as_of, "lists": rows}


def list_members(
    store: Store, name: str, run_id: int | None = None, limit: int = 50
) -> dict[str, Any]:
    """The members of list ``name`` (at most ``limit``), each with its cause."""
    run_id, rb_hash, as_of = _run(store, run_id)
    rb = stored_rulebook(store, rb_hash)
    if name not in {lst.code for lst in rb.spec.lists}:
        known = ", ".join(lst.code for lst in rb.spec.lists) or "none"
        raise UnknownList(f"unknown list {name!r} (the rulebook's lists: {known})")
    size = int(
        store.scalar(
            "SELECT count(*) FROM list_members WHERE run_id = ? AND list = ?", [run_id, name]
        )
    )
    rows = store.rows(
        """SELECT s.code, m.cause, m.entry_id, m.grade, m.start_day, m.end_day, v.code
           FROM list_members m JOIN subjects s USING (subject_id)
           LEFT JOIN subjects v ON v.subject_id = m.via_subject
           WHERE m.run_id = ? AND m.list = ? ORDER BY s.code, m.cause LIMIT ?""",
        [run_id, name, limit],
    )
    members = [
        {
            "subject": code,
            "cause": cause,
            "entry_id": entry,
            "grade": grade,
            "since": None if start is None else day_date(int(start)).isoformat(),
            "until": None if end is None else day_date(int(end)).isoformat(),
            "via": via,
        }
        for code, cause, entry, grade, start, end, via in rows
    ]
    return {"run_id": run_id, "as_of": as_of, "list": name, "size": size, "members": members}
