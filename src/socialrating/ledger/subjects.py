"""The registry of subjects: citizens and organisations, by code, with integer ids."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

from socialrating.errors import BatchRejected, Problem, UnknownSubject
from socialrating.ledger.store import Store
from socialrating.model import Subject, SubjectKind

SUBJECT_COLUMNS = ("code", "kind", "born", "sex", "region")


def register_subjects(store: Store, table: pa.Table, source: str = "subjects") -> int:
    """Register the subjects of ``table`` (columns of SUBJECT_COLUMNS, text or typed).

    Codes already registered are skipped when the rest matches, and rejected when it
    does not. All or nothing: a table with any bad row registers none.

    Returns:
        How many new subjects were registered.

    Raises:
        BatchRejected: with every bad row (1-based row number, field, reason).
    """
    missing = [c for c in ("code", "kind") if c not in table.column_names]
    if missing:
        raise BatchRejected(
            f"{source}: missing column(s)",
            [Problem(source, 1, c, "required column is missing") for c in missing],
        )
    data = {"row": pa.array(range(1, table.num_rows + 1), pa.int64())}
    for col in SUBJECT_COLUMNS:
        data[col] = (
            table.column(col).cast(pa.string())
            if col in table.column_names
            else pa.nulls(table.num_rows, pa.string())
        )
    store.con.register("new_subjects", pa.table(data))
    try:
        typed = """
            SELECT row, nullif(trim(code), '') AS code, lower(trim(kind)) AS kind,
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
                "code",
                "count(*) OVER (PARTITION BY code) > 1 AND code IS NOT NULL",
                "'code ''' || code || ''' appears more than once'",
            ),
        ]
        union = " UNION ALL ".join(
            f"SELECT row, '{field}', {reason} FROM (SELECT *, {cond} AS bad FROM ({typed})) WHERE bad"
            for field, cond, reason in checks
        )
        union += f""" UNION ALL SELECT t.row, 'code', 'already registered as a different subject: '
                 || s.kind || coalesce(' born ' || CAST(s.born AS VARCHAR), '')
            FROM ({typed}) t JOIN subjects s ON s.code = t.code
            WHERE s.kind IS DISTINCT FROM t.kind OR s.born IS DISTINCT FROM t.born
               OR s.sex IS DISTINCT FROM t.sex OR s.region IS DISTINCT FROM t.region"""
        bad = store.rows(f"SELECT * FROM ({union}) ORDER BY 1, 2")
        if bad:
            problems = [Problem(source, row, field, reason) for row, field, reason in bad]
            raise BatchRejected(
                f"{source}: {len(problems)} bad row(s); no subject was registered", problems
            )
        with store.transaction():
            before = int(store.scalar("SELECT count(*) FROM subjects"))
            store.run(
                f"""INSERT INTO subjects
                SELECT (SELECT coalesce(max(subject_id), 0) FROM subjects) + row_number() OVER (ORDER BY row),
                       t.code, t.kind, t.born, t.sex, t.region
                FROM ({typed}) t ANTI JOIN subjects s ON s.code = t.code"""
            )
            return int(store.scalar("SELECT count(*) FROM subjects")) - before
    finally:
        store.con.unregister("new_subjects")


def read_subjects_file(path: str | Path) -> pa.Table:
    """A CSV or Parquet file of subjects, read as text columns.

    Raises:
        BatchRejected: the file is missing or cannot be parsed.
    """
    path = Path(path)
    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        text = {c: pa.string() for c in SUBJECT_COLUMNS}
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=text))
    except (OSError, pa.ArrowException) as exc:
        # Without this, a missing or malformed file ends the CLI with a traceback.
        problem = Problem(str(path), None, "", str(exc))
        raise BatchRejected(f"{path}: cannot read", [problem]) from exc


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
