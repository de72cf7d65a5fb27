"""The registry of subjects: citizens and organisations, by code, with integer ids."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from socialrating.errors import BatchRejected, Problem, UnknownSubject
from socialrating.ledger.limits import (
    CONTROL_RE2,
    EARLIEST_DATE,
    EARLY_DATE_RE2,
    SHOWN_CHARS,
    TEXT_CONTROL_RE2,
    printable,
    shown_sql,
    too_long_message_sql,
    too_long_sql,
)
from socialrating.ledger.store import Store
from socialrating.model import Subject, SubjectKind

if TYPE_CHECKING:  # Arrow is imported by what reads or registers, not to find a subject
    import pyarrow as pa

SUBJECT_COLUMNS = ("code", "kind", "born", "sex", "region")
REQUIRED_COLUMNS = ("code", "kind")
TEXTS = ("code", "kind", "born_text", "sex", "region")  # each column's text in the checks


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
    import pyarrow as pa

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
    problems: list[Problem] = []
    for col in SUBJECT_COLUMNS:
        if col in table.column_names:
            data[col] = _text_column(store, source, col, table.column(col), problems)
        else:
            data[col] = pa.nulls(n, pa.string())
    if problems:
        raise BatchRejected(
            f"{source}: {len(problems)} bad column(s); no subject was registered", problems
        )
    store.con.register("new_subjects", pa.table(data))
    try:
        typed = """
            SELECT pos, line, nullif(trim(code), '') AS code, lower(trim(kind)) AS kind,
                   nullif(trim(born), '') AS born_text, try_cast(nullif(trim(born), '') AS DATE) AS born,
                   nullif(trim(sex), '') AS sex, nullif(trim(region), '') AS region
            FROM new_subjects"""
        # Typed once (every check below reads it), with how often each code appears.
        store.run(
            "CREATE OR REPLACE TEMP TABLE typed_subjects AS "
            f"SELECT *, count(*) OVER (PARTITION BY code) AS code_count FROM ({typed})"
        )
        typed = "SELECT * FROM typed_subjects"
        checks = [
            ("code", "code IS NULL", "'missing'"),
            (
                "kind",
                "kind IS NULL OR kind NOT IN ('citizen', 'organisation')",
                "'must be citizen or organisation, not ''' || "
                + shown_sql("coalesce(kind, '')")
                + " || ''''",
            ),
            (
                "born",
                "born_text IS NOT NULL AND born IS NULL "
                f"AND NOT regexp_full_match(born_text, '{EARLY_DATE_RE2}')",
                f"'not a date (YYYY-MM-DD): ''' || {shown_sql('born_text')} || ''''",
            ),
            (
                "born",
                f"born < DATE '{EARLIEST_DATE}' OR regexp_full_match(born_text, '{EARLY_DATE_RE2}')",
                f"'before {EARLIEST_DATE}: ' || {shown_sql('born_text')}",
            ),
            (
                "born",
                "born > current_date",
                "'in the future: ' || born_text",
            ),
            (
                "code",
                "code_count > 1 AND code IS NOT NULL",
                f"'code ''' || {shown_sql('code')} || ''' appears more than once'",
            ),
            # A code holds no control character; sex and region none but tab and line
            # breaks (as a batch's evidence).
            *(
                (
                    col,
                    f"regexp_matches({col}, '{pattern}')",
                    f"'must not contain control characters{but}: ''' || {shown_sql(col)} || ''''",
                )
                for col, pattern, but in (
                    ("code", CONTROL_RE2, ""),
                    ("sex", TEXT_CONTROL_RE2, " other than tab and line breaks"),
                    ("region", TEXT_CONTROL_RE2, " other than tab and line breaks"),
                )
            ),
            # Every field holds at most MAX_FIELD_CHARS characters, as in a batch.
            *(
                (col, too_long_sql(text), too_long_message_sql(text))
                for col, text in zip(SUBJECT_COLUMNS, TEXTS, strict=True)
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
        # One pass says whether any row is bad; only then is each problem worded.
        flags = " OR ".join(f"coalesce(({cond}), false)" for _, cond, _ in checks)
        bad = store.rows(f"SELECT 1 FROM typed_subjects WHERE {flags} LIMIT 1") or store.rows(
            "SELECT 1 FROM typed_subjects t JOIN subjects s ON s.code = t.code LIMIT 1"
        )
        if bad:
            bad = store.rows(
                f"SELECT line, field, reason FROM ({union}) AS b(pos, line, field, reason) "
                "ORDER BY pos, field"
            )
        if bad:
            problems = [
                Problem(source, line, field, printable(reason, 1000)) for line, field, reason in bad
            ]
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
        store.run("DROP TABLE IF EXISTS typed_subjects")
        store.con.unregister("new_subjects")


def _text_column(
    store: Store, source: str, name: str, column: pa.ChunkedArray, problems: list[Problem]
) -> pa.Array:
    """A column of subjects as text: dates as DuckDB writes them (a day out of range too, so
    that the checks can say so); a list, struct or map column is a problem (and null)."""
    import pyarrow as pa

    from socialrating.ledger.readers import date_text

    typ = column.type
    if pa.types.is_nested(typ):
        reason = f"must hold single values (text or dates), not {typ}"
        problems.append(Problem(source, None, name, reason))
        return pa.nulls(len(column), pa.string())
    if pa.types.is_date(typ) or pa.types.is_timestamp(typ):
        return date_text(store.con, column)
    try:
        return column.cast(pa.string())
    except pa.ArrowException as exc:
        problems.append(Problem(source, None, name, f"cannot be read as text ({typ}): {exc}"))
        return pa.nulls(len(column), pa.string())


def read_subjects_file(
    path: str | Path,
    columns: Sequence[str] = SUBJECT_COLUMNS,
    required: Sequence[str] = REQUIRED_COLUMNS,
    *,
    refuse_others: bool = False,
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
        refuse_others: a column not in ``columns`` is a problem, named, instead of being
            ignored (``subjects import``: a misspelt column is not dropped unseen).

    Raises:
        BatchRejected: the file is missing or unreadable, has another format, lacks a
            required column, or has malformed lines (every one of them listed).
    """
    import pyarrow as pa

    from socialrating.csvrows import read_csv_columns

    path = Path(path)
    src = str(path)
    name = path.name.lower()
    if path.is_dir():
        problem = Problem(src, None, "", "is a directory, not a file of subjects")
        raise BatchRejected(f"{src}: cannot read", [problem])
    if name.endswith(".parquet"):
        return _read_parquet(path, columns, required, refuse_others)
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
    if refuse_others:
        problems = _others(src, 1, read.header, columns) + problems
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


def _read_parquet(
    path: Path, columns: Sequence[str], required: Sequence[str], refuse_others: bool = False
) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = str(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        problem = Problem(src, None, "", f"not a readable Parquet file: {exc}")
        raise BatchRejected(f"{src}: cannot read", [problem]) from None
    problems = _missing(src, None, table.column_names, required)
    if refuse_others:
        problems = _others(src, None, table.column_names, columns) + problems
    if problems:
        raise BatchRejected(f"{src}: {len(problems)} problem(s) in the file's columns", problems)
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


def _others(src: str, line: int | None, found: list[str], columns: Sequence[str]) -> list[Problem]:
    known = ", ".join(columns)
    return [
        Problem(
            src,
            line,
            printable(col, SHOWN_CHARS),
            f"unknown column '{printable(col, SHOWN_CHARS)}' (known: {known})",
        )
        for col in found
        if col not in columns
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
