"""Batch decisions and list reports: the subjects file, summaries, list sizes and members."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from socialrating.errors import (
    Problem,
    ProblemsError,
    UnknownList,
    UnknownSubject,
)
from socialrating.ledger.rulebooks import stored_rulebook
from socialrating.ledger.store import Store
from socialrating.model import day_date

if TYPE_CHECKING:
    import numpy as np

    from socialrating.decisions.decider import Decider


def read_subjects_column(path: Path) -> pa.Array:
    """The ``subject`` column of a CSV (``.csv``, ``.csv.gz``) or Parquet file, as strings.

    Problems name a CSV's file lines (the line an editor shows, whatever blank lines or
    quoted fields spanning lines come before) and a Parquet file's rows, numbered from 1.

    Raises:
        ProblemsError: the file cannot be read, has no ``subject`` column, or has empty cells.
    """
    # Read as `subjects import` reads its file, so that both name the same lines.
    from socialrating.errors import BatchRejected
    from socialrating.ledger.subjects import read_subjects_file

    src = str(path)
    try:
        table = read_subjects_file(path, columns=("subject",), required=("subject",))
    except BatchRejected as exc:
        raise ProblemsError(exc.summary, exc.problems) from None
    col = table.column("subject").combine_chunks().cast(pa.string())
    # or_kleene: a null cell is empty (plain or_ would make it null, and skip it).
    empty = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))
    bad = pc.indices_nonzero(empty)
    if len(bad):
        if "line" in table.column_names:
            where, numbered = table.column("line").take(bad[:20]).to_pylist(), "by file line"
        else:
            where, numbered = [i + 1 for i in bad[:20].to_pylist()], "by row number from 1"
        problems = [Problem(src, line, "subject", "empty") for line in where]
        raise ProblemsError(f"{src}: {len(bad)} row(s) without a subject, {numbered}", problems)
    return pc.utf8_trim_whitespace(col)


CSV_COLUMNS = {
    "subject": "the subject's code, as given",
    "decision": "allowed, refused, terms, or unknown (not in the run)",
    "reasons": "the reason codes, separated by ';' (RULE:, GRADE:, LIST:, CONTAGION, SUBJECTS:)",
    "terms": 'the terms as a JSON object ({} when none), e.g. {"deposit": 0}',
    "key_factors": "for a refusal: its key factors' codes, ranked, separated by ';' "
    "(LIST:, LIMIT:, DIRECT:, PARAMETER:, CONTAGION)",
}
"""The columns of a batch's CSV output: the decision's shape, flattened."""


def with_key_factors(
    table: pa.Table,
    decider: Decider,
    service: str,
    located: tuple[np.ndarray, np.ndarray] | None = None,
) -> pa.Table:
    """A batch's decisions (``Decider.decide_many``) with the key factors' codes of each
    refusal (``key_factors``; empty for other decisions): those of its lists, and for a
    refusal by grade the ones the run stored (``scoring/run_factors``), as one by one
    decisions give them (``Decider.refusal_codes``). ``located`` is what
    ``Decider.positions`` gives for the table's subjects, when the caller has it."""
    if located is None:
        located = decider.positions(table.column("subject").combine_chunks().cast(pa.string()))
    codes = decider.refusal_codes(service, located)
    return table.append_column("key_factors", pa.array(codes, pa.string()))


def decision_dict(decider: Decider, subject: str, service: str) -> dict[str, Any]:
    """One decision in the shape ``check --json`` prints, for a subject of a batch: a
    subject not in the run is decided ``unknown``, with reason code ``SUBJECT:unknown``."""
    try:
        return decider.decide(subject, service).as_dict()
    except UnknownSubject:
        text = f"not a subject of run {decider.run_id}"
        return {
            "subject": subject,
            "service": service,
            "decision": "unknown",
            "terms": {},
            "reasons": [{"code": "SUBJECT:unknown", "text": text, "entry_id": None}],
            "as_of": decider.as_of,
            "run_id": decider.run_id,
            "key_factors": [],
        }


def summary(table: pa.Table, decider: Decider, service: str) -> dict[str, Any]:
    """Counts per decision, and every decision other than ``allowed`` in full (the shape
    of ``check --json``: reasons as objects with code, text and entry, terms as an object)."""
    counts = pc.value_counts(table.column("decision")).to_pylist()
    others = table.filter(pc.not_equal(table.column("decision"), "allowed"))
    return {
        "run_id": decider.run_id,
        "service": service,
        "subjects": table.num_rows,
        "decisions": {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])},
        "not_allowed": [
            decision_dict(decider, s, service) for s in others.column("subject").to_pylist()
        ],
    }


def write_decisions(table: pa.Table, decider: Decider, service: str, path: Path) -> None:
    """Write a batch's decisions: ``.csv`` (the columns of CSV_COLUMNS), or ``.ndjson`` /
    ``.jsonl`` (one decision per line, in the shape of ``check --json``).

    Raises:
        ProblemsError: another suffix, or the file cannot be written.
    """
    import json

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            pacsv.write_csv(
                with_key_factors(table, decider, service).select(list(CSV_COLUMNS)), path
            )
        elif suffix in (".ndjson", ".jsonl"):
            with path.open("w", encoding="utf-8") as f:
                for s in table.column("subject").to_pylist():
                    f.write(json.dumps(decision_dict(decider, s, service)) + "\n")
        else:
            raise ProblemsError(
                f"cannot write {path}",
                [Problem(str(path), None, "", "use a .csv, .ndjson or .jsonl file")],
            )
    except OSError as exc:
        raise ProblemsError(
            f"cannot write {path}", [Problem(str(path), None, "", str(exc))]
        ) from None


def _run(store: Store, run_id: int | None) -> tuple[int, str, str]:
    from socialrating.decisions.lookup import run_of

    return run_of(store, run_id)


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
        causes = ("record", "grade", "joint", "alert")
        by = {cause: counts.get((lst.code, cause), 0) for cause in causes}
        rows.append(
            {
                "list": lst.code,
                "name": lst.name,
                "members": sum(by.values()),
                "by_record": by["record"],
                "by_grade": by["grade"],
                "by_joint": by["joint"],
                "by_alert": by["alert"],
            }
        )
    return {"run_id": run_id, "as_of": as_of, "lists": rows}


def list_members(
    store: Store,
    name: str,
    run_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
    subject: str | None = None,
) -> dict[str, Any]:
    """The members of list ``name`` (at most ``limit``), each with why and since when;
    with ``subject``, that subject's memberships only (``size`` stays the list's).

    ``why`` says it in words; ``cause`` is ``record`` (``entry_id`` is the record that put
    the subject on the list, with its ``parameter``, ``date`` and ``institution``),
    ``grade`` (the ``grade`` and ``score``), or ``joint`` (carried from ``via`` on another
    list; ``entry_id`` is the record that links them). ``until`` is null while open-ended:
    a grade membership lasts while the grade does.
    """
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
    limited = (f"LIMIT {int(limit)}" if limit else "") + (
        f" OFFSET {int(offset)}" if offset else ""
    )
    # The members shown first, then what explains each: joins over a few rows only.
    rows = store.rows(
        f"""WITH m AS (
               SELECT s.code, m.* FROM list_members m JOIN subjects s USING (subject_id)
               WHERE m.run_id = ? AND m.list = ?{" AND s.code = ?" if subject is not None else ""}
               ORDER BY s.code, m.cause {limited})
           SELECT m.code, m.cause, m.entry_id, m.grade, m.start_day, m.end_day, v.code,
                  p.code, e.day, i.code, n.score
           FROM m LEFT JOIN subjects v ON v.subject_id = m.via_subject
           LEFT JOIN entries e ON e.entry_id = m.entry_id
           LEFT JOIN parameters p ON p.parameter_id = e.parameter_id
           LEFT JOIN institutions i ON i.institution_id = e.institution_id
           LEFT JOIN snapshot n ON n.run_id = m.run_id AND n.subject_id = m.subject_id
           ORDER BY m.code, m.cause""",
        [run_id, name] + ([subject] if subject is not None else []),
    )
    lst = next(lst for lst in rb.spec.lists if lst.code == name)
    sources = " or ".join(joint.list for joint in lst.enter_with)
    members = []
    for code, cause, entry, grade, start, end, via, param, day, inst, score in rows:
        record_day = None if day is None else day_date(int(day)).isoformat()
        if cause == "grade":
            why = f"grade {grade} (score {score})"
        elif cause == "alert":
            why = f"an alert of measure {grade}"
        elif cause == "joint":
            why = f"with {via} on {sources} (linked by entry {entry}, {param}, {record_day})"
        else:
            why = f"entry {entry}: {param}, {record_day}, {inst}"
        members.append(
            {
                "subject": code,
                "cause": cause,
                "why": why,
                "since": None if start is None else day_date(int(start)).isoformat(),
                "until": None if end is None else day_date(int(end)).isoformat(),
                "entry_id": entry,
                "parameter": param,
                "date": record_day,
                "institution": inst,
                "grade": grade,
                "score": None if score is None else int(score),
                "via": via,
            }
        )
    return {"run_id": run_id, "as_of": as_of, "list": name, "size": size, "members": members}
