"""The registry of subjects: citizens and organisations, by code, with integer ids."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import pyarrow as pa

from socialrating.csvrows import read_csv_columns
from socialrating.errors import BatchRejected, Problem, UnknownSubject
from socialrating.ledger.store import Store
from socialrating.model import Subject, SubjectKind

SUBJECT_COLUMNS = ("code", "kind", "born", "sex", "region")
REQUIRED_COLUMNS = ("code", "kind")


def register_subjects(store: Store, table: pa.Table, source: str = "subjects") -> int:
    """Register the subjects of ``table`` (columns of SUBJECT_COLUMNS, text or typed).

    Codes already registered are skipped when the rest matches, and rejected when it
    does not. All or nothing: a table with any bad row registers none.

    Args:
        store: the ledger.
        table: the subjects; an optional integer ``line`` column says where each row came
            from (``read_subjects_file`` gives a CSV's file lines), and problems name it.
            Without it, rows are numbered from 1 (as for Parquet and in-memory tables).
        source: the file (or other input) that problems name.

    Returns:
        How many new subjects were registered.

    Raises:
        BatchRejected: with every bad row (its line or row number, field, reason).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise BatchRejected(
            f"{source}: missing column(s)",
            [Problem(source, None, c, "required column is missing") for c in missing],
        )
    n = table.num_rows
    by_line = "line" in table.column_names
    data = {
        "pos": pa.array(range(1, n + 1), pa.int64()),
        "line": table.column("line").cast(pa.int64()) if by_line else pa.array(range(1, n + 1)),
    }
    for col in SUBJECT_COLUMNS:
        data[col] = (
            table.column(col).cast(pa.string())
            if col in table.column_names
            else pa.nulls(n, pa.string())
        )
    store.con.register("new_subjects", pa.table(data))
    try:
        typed = """
            SELECT pos, line, nullif(trim(code), '') AS code, lower(trim(kind)) AS kind,
                   nullif(trim(born), '') AS born_text, try_cast(nullif(trim(born), '') AS DATE) AS born,
                   nullif(trim(sex), '') AS sex, nullif(trim(region), '') AS region
            FROM new_subjects"""
        checks = [
            ("code", "code IS NULL", "'missing'"),
            (
                "kind",
                "kind IS NULL OR kind NOT IN ('citizen', 'organisation')",
                "'must be citizen or organisation, not ''' || coalesce(kind, '') || ''''",
            ),
            (
                "born",
                "born_text IS NOT NULL AND born IS NULL",
                "'not a date (YYYY-MM-DD): ''' || born_text || ''''",
            ),
            (
                "born",
                "born > current_date",
                "'in the future: ' || born_text",
            ),
            (
                "code",
                "count(*) OVER (PARTITION BY code) > 1 AND code IS NOT NULL",
                "'code ''' || code || ''' appears more than once'",
            ),
        ]
        union = " UNION ALL ".join(
            f"SELECT pos, line, '{field}', {reason} FROM (SELECT *, {cond} AS bad FROM ({typed})) WHERE bad"
            for field, cond, reason in checks
        )
        union += f""" UNION ALL SELECT t.pos, t.line, 'code', 'already registered as a different subject: '
                 || s.kind || coalesce(' born ' || CAST(s.born AS VARCHAR), '')
            FROM ({typed}) t JOIN subjects s ON s.code = t.code
            WHERE s.kind IS DISTINCT FROM t.kind OR s.born IS DISTINCT FROM t.born
               OR s.sex IS DISTINCT FROM t.sex OR s.region IS DISTINCT FROM t.region"""
        bad = store.rows(
            f"SELECT line, field, reason FROM ({union}) AS b(pos, line, field, reason) ORDER BY pos, field"
        )
        if bad:
            problems = [Problem(source, line, field, reason) for line, field, reason in bad]
            numbered = "by file line" if by_line else "by row number from 1"
            raise BatchRejected(
                f"{source}: {len(problems)} bad row(s), {numbered}; no subject was registered",
                problems,
            )
        with store.transaction():
            before = int(store.scalar("SELECT count(*) FROM subjects"))
            store.run(
                f"""INSERT INTO subjects
                SELECT (SELECT coalesce(max(subject_id), 0) FROM subjects) + row_number() OVER (ORDER BY pos),
                       t.code, t.kind, t.born, t.sex, t.region
                FROM ({typed}) t ANTI JOIN subjects s ON s.code = t.code"""
            )
            added = int(store.scalar("SELECT count(*) FROM subjects")) - before
            if added:
                from socialrating.ledger.integrity import record_registries

                record_registries(store, ("subjects",))
            return added
    finally:
        store.con.unregister("new_subjects")


def read_subjects_file(
    path: str | Path,
    columns: Sequence[str] = SUBJECT_COLUMNS,
    required: Sequence[str] = REQUIRED_COLUMNS,
) -> pa.Table:
    """A CSV (``.csv``, ``.csv.gz``) or Parquet file of subjects, read as text columns.

    A CSV's rows carry ``line``, the file line each starts on (the line an editor shows:
    blank lines and quoted fields spanning lines never shift it), so that
    ``register_subjects`` names it. Parquet rows have no lines: problems name them by row
    number, from 1, as for batch files.

    Args:
        path: the file.
        columns: the columns to read (others are ignored); absent ones are left out.
        required: the columns the file must have.

    Raises:
        BatchRejected: the file is missing or unreadable, has another format, lacks a
            required column, or has malformed lines (every one of them listed).
    """
    path = Path(path)
    src = str(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _read_parquet(path, columns, required)
    if not name.endswith((".csv", ".csv.gz")):
        problem = Problem(
            src,
            None,
            "",
            f"unknown format {path.suffix!r}: use a .csv or .parquet file (or .csv.gz)",
        )
        raise BatchRejected(f"{src}: cannot read", [problem])
    try:
        with _open_text(path) as f:
            read, problems = read_csv_columns(f, src)
    except UnicodeDecodeError as exc:
        problem = Problem(src, None, "", f"not UTF-8 text, so not CSV ({exc.reason})")
        raise BatchRejected(f"{src}: cannot read", [problem]) from None
    except OSError as exc:
        # Without this, a missing or malformed file ends the CLI with a traceback.
        raise BatchRejected(f"{src}: cannot read", [Problem(src, None, "", str(exc))]) from None
    if read is None:
        raise BatchRejected(f"{src}: cannot read", problems)
    problems = _missing(src, 1, read.header, required) + problems
    if problems:
        raise BatchRejected(
            f"{src}: {len(problems)} problem(s) in the file's layout; nothing was read", problems
        )
    data = {"line": pa.array(read.lines, pa.int64())}
    for col in columns:
        if col in read.columns:
            data[col] = pa.array(read.columns[col], pa.string())
    return pa.table(data)


def _open_text(path: Path) -> TextIO:
    # utf-8-sig: a BOM (spreadsheets write one) is not part of the first column's name;
    # newline="": the csv module finds line ends itself, inside quoted fields too.
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def _read_parquet(path: Path, columns: Sequence[str], required: Sequence[str]) -> pa.Table:
    import pyarrow.parquet as pq

    src = str(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        problem = Problem(src, None, "", f"not a readable Parquet file: {exc}")
        raise BatchRejected(f"{src}: cannot read", [problem]) from None
    problems = _missing(src, None, table.column_names, required)
    if problems:
        raise BatchRejected(f"{src}: missing column(s)", problems)
    return table.select([c for c in columns if c in table.column_names])


def _missing(
    src: str, line: int | None, found: list[str], required: Sequence[str]
) -> list[Problem]:
    names = ", ".join(found) or "none"
    return [
        Problem(src, line, col, f"no column {col!r} (columns: {names})")
        for col in required
        if col not in found
    ]


def find_subject(store: Store, code: str) -> Subject:
    """The registered subject with ``code``.

    Raises:
        UnknownSubject: no subject has that code.
    """
    row = store.one(
        "SELECT subject_id, code, kind, born, sex, region FROM subjects WHERE code = ?", [code]
    )
    if row is None:
        raise UnknownSubject(f"no subject with code {code!r} is registered")
    return Subject(row[0], row[1], SubjectKind(row[2]), row[3], row[4], row[5])
