"""Validate a batch from an institution and append it: all of it, or nothing.

Validation runs in DuckDB over the whole batch at once. Each check is a row of CHECKS: the
field it is about, the condition that makes a row bad, and the message (a SQL expression
that names the bad value). Every bad row is reported, with its line, before anything is
stored. Rows whose idempotency key was already stored with the same content, or that
repeat an earlier line of the same batch, are skipped: re-sending a batch stores nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from socialrating.errors import BatchRejected, LedgerError, Problem
from socialrating.ledger.append import Batch, append_rows, utc_now
from socialrating.ledger.digests import payload_digest_sql
from socialrating.ledger.readers import read_batch
from socialrating.ledger.rulebooks import active_hash
from socialrating.ledger.store import Store
from socialrating.model import InstitutionClass, day_number


@dataclass(frozen=True)
class IngestResult:
    """What an ingest did: the batch stored (None when nothing was new) and what it skipped."""

    source: str
    institution: str
    rows: int
    stored: int
    duplicates: int
    batch: Batch | None

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "institution": self.institution,
            "rows": self.rows,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "batch_id": self.batch.batch_id if self.batch else None,
            "first_entry": self.batch.first_entry if self.batch else None,
            "last_entry": self.batch.last_entry if self.batch else None,
        }


def q(expr: str) -> str:
    """SQL for ``'<value of expr>'`` in a message."""
    return f"'''' || {expr} || ''''"


# Quantities are counts, hours, days or amounts; past this they are a mistake, and
# per-unit points (up to 100,000 a unit) would overflow a 64-bit score.
MAX_QUANTITY = 1_000_000_000

# Rows of the typed batch are in ``b``; each check: (field, bad-row condition, message SQL).
CHECKS: tuple[tuple[str, str, str], ...] = (
    (
        "kind",
        "kind IS NULL",
        f"'unknown kind ' || {q('kind_text')} || ' (use record or verification)'",
    ),
    ("key", "idem_key IS NULL", "'missing: every row needs an idempotency key'"),
    ("subject", "kind = 1 AND subject_code IS NULL", "'missing'"),
    (
        "subject",
        "subject_code IS NOT NULL AND given_subject_id IS NULL",
        f"'unknown subject ' || {q('subject_code')}",
    ),
    ("parameter", "kind = 1 AND parameter_code IS NULL", "'missing'"),
    (
        "parameter",
        "parameter_code IS NOT NULL AND rp_parameter_id IS NULL",
        f"'unknown parameter ' || {q('parameter_code')} || ' (not in the active rulebook)'",
    ),
    (
        "parameter",
        "kind = 1 AND rp_parameter_id IS NOT NULL AND NOT permitted",
        f"'institution ' || {q('$institution')} || ' may not report ' || {q('parameter_code')}",
    ),
    (
        "subject",
        "kind = 1 AND rp_subjects <> 'any' AND subject_kind <> rp_subjects",
        f"{q('parameter_code')} || ' applies to ' || rp_subjects || 's, not to ' || subject_kind || ' ' "
        f"|| {q('subject_code')}",
    ),
    ("date", "date_text IS NULL", "'missing (YYYY-MM-DD)'"),
    (
        "date",
        "date_text IS NOT NULL AND day IS NULL",
        f"'not a date (YYYY-MM-DD): ' || {q('date_text')}",
    ),
    ("date", "day > $today", "'is in the future: ' || date_text"),
    (
        "quantity",
        "quantity_text IS NOT NULL AND (quantity IS NULL OR NOT isfinite(quantity))",
        f"'not a number: ' || {q('quantity_text')}",
    ),
    ("quantity", "quantity < 0", "'must not be negative: ' || quantity_text"),
    (
        "quantity",
        f"isfinite(quantity) AND quantity > {MAX_QUANTITY}",
        f"'must be at most {MAX_QUANTITY:,}: ' || quantity_text",
    ),
    (
        "quantity",
        "kind = 1 AND (rp_per_unit OR rp_bands_id IS NOT NULL) AND quantity_text IS NULL",
        f"'required: ' || {q('parameter_code')} || ' counts points by quantity'",
    ),
    (
        "severity",
        "severity_text IS NOT NULL AND NOT regexp_full_match(severity_text, '[+-]?[0-9]+')",
        f"'not a whole number: ' || {q('severity_text')}",
    ),
    (
        "severity",
        "regexp_full_match(severity_text, '[+-]?[0-9]+') AND severity IS NULL",
        f"'out of range (-32768 to 32767): ' || {q('severity_text')}",
    ),
    (
        "confidence",
        "confidence_text IS NOT NULL AND (confidence IS NULL OR NOT (confidence BETWEEN 0 AND 1))",
        f"'must be a number from 0 to 1: ' || {q('confidence_text')}",
    ),
    (
        "confidence",
        "kind = 1 AND confidence_text IS NULL AND '$class' = 'camera'",
        "'required: camera records carry an identification confidence'",
    ),
    (
        "counterpart",
        "counterpart_code IS NOT NULL AND counterpart_id IS NULL",
        f"'unknown subject ' || {q('counterpart_code')}",
    ),
    (
        "refers_to",
        "kind = 2 AND refers_text IS NULL",
        "'required: the entry id of the report verified'",
    ),
    (
        "refers_to",
        "refers_text IS NOT NULL AND refers_to IS NULL",
        f"'not an entry id: ' || {q('refers_text')}",
    ),
    (
        "refers_to",
        "refers_to IS NOT NULL AND ref_kind IS NULL",
        "'no entry ' || refers_text || ' in the ledger'",
    ),
    (
        "refers_to",
        "kind = 2 AND ref_kind IS NOT NULL AND (ref_kind <> 1 OR ref_class <> 'citizen')",
        "'entry ' || refers_text || ' is not a citizen report'",
    ),
    (
        "kind",
        "kind = 2 AND '$class' <> 'state'",
        f"'only state authorities verify reports; ' || {q('$institution')} || ' is $class'",
    ),
    (
        "subject",
        "kind = 2 AND given_subject_id IS NOT NULL AND ref_subject_id IS NOT NULL "
        "AND given_subject_id <> ref_subject_id",
        "'does not match the subject of entry ' || refers_text",
    ),
    (
        "parameter",
        "kind = 2 AND given_parameter_id IS NOT NULL AND ref_parameter_id IS NOT NULL "
        "AND given_parameter_id <> ref_parameter_id",
        "'does not match the parameter of entry ' || refers_text",
    ),
    (
        "act",
        "act IS NOT NULL AND NOT regexp_full_match(act, '[A-Za-z0-9_.:/\\-]{1,120}')",
        f"'not an act id (up to 120 letters, digits, _ . : / -): ' || {q('act')}",
    ),
    (
        "level",
        "level IS NOT NULL AND NOT regexp_full_match(level, '[A-Za-z0-9_.:\\-]{1,40}')",
        f"'not a level code (up to 40 letters, digits, _ . : -): ' || {q('level')}",
    ),
    ("act", "kind = 2 AND act IS NOT NULL", "'a verification carries no act id'"),
    (
        "key",
        "idem_key IS NOT NULL AND first_payload <> payload_digest",
        f"'key ' || {q('idem_key')} || ' repeats line ' || first_line || ' with different content'",
    ),
    (
        "key",
        "stored_payload IS NOT NULL AND stored_payload <> payload_digest",
        f"'key ' || {q('idem_key')} || ' was already used for entry ' || stored_entry "
        "|| ' with different content'",
    ),
)

_TYPED = """
CREATE OR REPLACE TEMP TABLE batch_text AS
SELECT line,
       nullif(trim(key), '') AS idem_key,
       nullif(trim(subject), '') AS subject_code,
       nullif(trim(parameter), '') AS parameter_code,
       nullif(trim(date), '') AS date_text,
       nullif(trim(quantity), '') AS quantity_text,
       nullif(trim(severity), '') AS severity_text,
       nullif(trim(confidence), '') AS confidence_text,
       nullif(trim(counterpart), '') AS counterpart_code,
       nullif(trim(evidence), '') AS evidence,
       lower(coalesce(nullif(trim(kind), ''), 'record')) AS kind_text,
       nullif(trim(refers_to), '') AS refers_text,
       nullif(trim(act), '') AS act,
       nullif(trim(level), '') AS level
FROM staged_batch;

CREATE OR REPLACE TEMP TABLE batch_typed AS
SELECT t.*,
       CASE t.kind_text WHEN 'record' THEN 1 WHEN 'verification' THEN 2 END::TINYINT AS kind,
       CASE WHEN regexp_full_match(t.date_text, '[0-9]{4}-[0-9]{2}-[0-9]{2}')
            THEN CAST(try_cast(t.date_text AS DATE) - DATE '1970-01-01' AS INTEGER) END AS day,
       try_cast(t.quantity_text AS DOUBLE) AS quantity,
       CASE WHEN regexp_full_match(t.severity_text, '[+-]?[0-9]{1,9}')
            THEN try_cast(t.severity_text AS SMALLINT) END AS severity,
       try_cast(t.confidence_text AS DOUBLE) AS confidence,
       CASE WHEN regexp_full_match(t.refers_text, '[0-9]{1,18}')
            THEN try_cast(t.refers_text AS BIGINT) END AS refers_to,
       subj.subject_id AS given_subject_id, subj.kind AS subject_kind_given,
       par.parameter_id AS given_parameter_id,
       cp.subject_id AS counterpart_id,
       ref.kind AS ref_kind, ref.subject_id AS ref_subject_id,
       ref.parameter_id AS ref_parameter_id, ref_inst.class AS ref_class
FROM batch_text t
LEFT JOIN subjects subj ON subj.code = t.subject_code
LEFT JOIN parameters par ON par.code = t.parameter_code
LEFT JOIN subjects cp ON cp.code = t.counterpart_code
LEFT JOIN entries ref ON ref.entry_id = CASE WHEN regexp_full_match(t.refers_text, '[0-9]{1,18}')
                                           THEN try_cast(t.refers_text AS BIGINT) END
LEFT JOIN (SELECT * FROM rulebook_institutions WHERE rulebook_hash = '$hash') ref_inst
       ON ref_inst.institution_id = ref.institution_id;

CREATE OR REPLACE TEMP TABLE batch_rows AS
SELECT *,
       first_value(payload_digest) OVER w AS first_payload,
       first_value(line) OVER w AS first_line,
       row_number() OVER w > 1 AS repeated
FROM (
    SELECT b.*, {payload} AS payload_digest
    FROM (
        SELECT t.*,
               coalesce(t.given_subject_id, t.ref_subject_id) AS subject_id,
               coalesce(t.given_parameter_id, t.ref_parameter_id) AS parameter_id,
               CAST($institution_id AS INTEGER) AS institution_id,
               s2.kind AS subject_kind,
               rp.parameter_id AS rp_parameter_id, rp.subjects AS rp_subjects,
               rp.per_unit AS rp_per_unit, rp.bands_id AS rp_bands_id,
               perm.parameter_id IS NOT NULL AS permitted
        FROM batch_typed t
        LEFT JOIN subjects s2 ON s2.subject_id = coalesce(t.given_subject_id, t.ref_subject_id)
        LEFT JOIN (SELECT * FROM rulebook_parameters WHERE rulebook_hash = '$hash') rp
               ON rp.parameter_id = coalesce(t.given_parameter_id, t.ref_parameter_id)
        LEFT JOIN (SELECT * FROM rulebook_permissions
                   WHERE rulebook_hash = '$hash' AND institution_id = $institution_id) perm
               ON perm.parameter_id = rp.parameter_id
    ) b
) WINDOW w AS (PARTITION BY idem_key ORDER BY line);

CREATE OR REPLACE TEMP TABLE batch_checked AS
SELECT r.*, e.entry_id AS stored_entry, e.payload_digest AS stored_payload
FROM batch_rows r
LEFT JOIN (SELECT entry_id, idem_key, payload_digest FROM entries
           WHERE institution_id = $institution_id) e ON e.idem_key = r.idem_key;
"""


def ingest_file(store: Store, path: str | Path, institution: str) -> IngestResult:
    """Read, validate and append the batch file at ``path`` from ``institution``.

    Raises:
        BatchRejected: the file or any row is bad; every problem is listed; nothing is stored.
        LedgerError: the institution is unknown or no rulebook is active.
    """
    table, problems = read_batch(path)
    return ingest_table(store, table, institution, str(path), problems)


def ingest_table(
    store: Store,
    table: pa.Table,
    institution: str,
    source: str,
    problems: list[Problem] | None = None,
) -> IngestResult:
    """Validate and append a staged batch (see ``readers.staged_table``) from ``institution``."""
    rulebook_hash = active_hash(store)
    if rulebook_hash is None:
        raise LedgerError("no rulebook is active: run `socialrating init --rulebook FILE` first")
    # The class an institution has under the active rulebook (a new rulebook may change it).
    row = store.one(
        """SELECT i.institution_id, r.class FROM institutions i
           JOIN rulebook_institutions r USING (institution_id)
           WHERE i.code = ? AND r.rulebook_hash = ?""",
        [institution, rulebook_hash],
    )
    if row is None:
        known = [
            r[0]
            for r in store.rows(
                """SELECT i.code FROM institutions i JOIN rulebook_institutions r
                   USING (institution_id) WHERE r.rulebook_hash = ? ORDER BY 1 LIMIT 8""",
                [rulebook_hash],
            )
        ]
        raise LedgerError(
            f"unknown institution {institution!r}: not in the active rulebook (for example: "
            f"{', '.join(known)}; `socialrating institutions` lists them all)"
        )
    institution_id, cls = int(row[0]), InstitutionClass(row[1])
    problems = list(problems or [])
    con = store.con
    con.register("staged_batch", table)
    try:
        store.run(
            _TYPED.replace("{payload}", payload_digest_sql("b"))
            .replace("$institution_id", str(institution_id))
            .replace("$hash", rulebook_hash)
        )
        subst = {
            "$institution": "'" + institution.replace("'", "''") + "'",  # a SQL literal
            "$class": cls.value,
            "$today": str(day_number(utc_now().date())),
        }
        selects = []
        for field, condition, message in CHECKS:
            for key, value in subst.items():
                condition, message = condition.replace(key, value), message.replace(key, value)
            selects.append(
                f"SELECT line, '{field}' AS field, {message} AS reason FROM batch_checked WHERE {condition}"
            )
        bad = store.rows(f"SELECT * FROM ({' UNION ALL '.join(selects)}) ORDER BY line, field")
        problems += [Problem(source, line, field, reason) for line, field, reason in bad]
        if problems:
            problems.sort(key=lambda p: (p.line or 0, p.field))
            raise BatchRejected(
                f"{source}: {len(problems)} problem(s); nothing from this batch was stored",
                problems,
            )
        n = table.num_rows
        store.run(
            "CREATE OR REPLACE TEMP VIEW batch_new AS SELECT * FROM batch_checked "
            "WHERE NOT repeated AND stored_payload IS NULL"
        )
        with store.transaction():
            batch = append_rows(store, "batch_new", institution_id, source)
        stored = batch.rows if batch else 0
        return IngestResult(source, institution, n, stored, n - stored, batch)
    finally:
        con.unregister("staged_batch")
        for name in ("batch_text", "batch_typed", "batch_rows", "batch_checked"):
            store.run(f"DROP TABLE IF EXISTS {name}")
        store.run("DROP VIEW IF EXISTS batch_new")
