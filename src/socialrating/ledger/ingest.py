"""Validate a batch from an institution and append it: all of it, or nothing.

The pipeline, all in DuckDB (set-based and parallel), with its memory bounded:

1. stage: the file, a chunk at a time, as text with lines (``readers.stage_file``);
2. type and check: one pass over the staged rows into ``batch_rows``
   types every value, joins the registries and evaluates every row check at once;
3. keys: keys repeated in the batch (found by a 64-bit hash of each key first) and keys
   already in the ledger;
4. report: only when something is wrong, every problem is worded, with its line;
5. append: the new rows, numbered in file order, in one transaction; each row's payload
   and row digest are computed once, as they are stored (``append.append_digested``).

Each check is a row of ROW_CHECKS or KEY_CHECKS: the field it is about, the condition that
makes a row bad, and the message (a SQL expression that names the bad value). Every bad
row is reported, with its line, before anything is stored. Rows whose idempotency key was
already stored with the same content, or that repeat an earlier line of the same batch,
are skipped: re-sending a batch stores nothing new.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialrating import arrays
from socialrating.errors import BatchRejected, LedgerError, Problem
from socialrating.ledger.append import LAST_ENTRY, Batch, Part, append_parts, in_any_order
from socialrating.ledger.digests import PAYLOAD_COLUMNS, as_hex, payload_digest_sql
from socialrating.ledger.limits import (
    CONTROL_RE2,
    EARLIEST_DATE,
    EARLIEST_DAY,
    EARLY_DATE_RE2,
    LATE_DATE_RE2,
    TEXT_CONTROL_RE2,
    printable,
    shown_sql,
    too_long_message_sql,
    too_long_sql,
)
from socialrating.ledger.readers import drop_staged, stage_file, stage_tables
from socialrating.ledger.rulebooks import active_hash, stored_rulebook
from socialrating.ledger.store import Store, keep_per_opening, openings, setting_bytes
from socialrating.ledger.subject_codes import known_subjects
from socialrating.model import InstitutionClass, day_number, utc_now


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
    """SQL for ``'<value of expr>'`` in a message (a long value cut short)."""
    return f"'''' || {shown_sql(expr)} || ''''"


# Quantities are counts, hours, days or amounts; past this they are a mistake, and
# per-unit points (up to 100,000 a unit) would overflow a 64-bit score.
MAX_QUANTITY = 1_000_000_000

# The checks of each row on its own: (field, bad-row condition, message SQL), over the
# columns of ``batch_wide``.
ROW_CHECKS: tuple[tuple[str, str, str], ...] = (
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
        f"'institution ' || {q('inst_code')} || ' may not report ' || {q('parameter_code')}",
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
    ("date", "day > $today", f"'is in the future: ' || {shown_sql('date_text')}"),
    ("date", f"day < {EARLIEST_DAY}", f"'is before {EARLIEST_DATE}: ' || {shown_sql('date_text')}"),
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
        "kind = 1 AND confidence_text IS NULL AND inst_class = 'camera'",
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
        "kind = 2 AND inst_class <> 'state'",
        f"'only state authorities verify reports; ' || {q('inst_code')} || ' is ' || inst_class",
    ),
    (
        "subject",
        "kind = 2 AND given_subject_id IS NOT NULL AND ref_subject_id IS NOT NULL "
        "AND given_subject_id <> ref_subject_id",
        "'does not match the subject of entry ' || refers_text",
    ),
    (
        "refers_to",
        "kind = 1 AND ref_kind IS NOT NULL AND ref_kind <> 1",
        "'entry ' || refers_text || ' is not a record: a record refers only to a record'",
    ),
    (
        "refers_to",
        "kind = 1 AND given_subject_id IS NOT NULL AND ref_subject_id IS NOT NULL "
        "AND given_subject_id <> ref_subject_id",
        "'entry ' || refers_text || ' is about another subject'",
    ),
    (
        "refers_to",
        "kind = 1 AND given_parameter_id IN $rectifiers AND refers_text IS NULL",
        "'required: the entry id of the record it rectifies'",
    ),
    (
        "refers_to",
        "kind = 1 AND given_parameter_id IN $rectifiers AND ref_kind = 1 "
        "AND given_parameter_id || ':' || ref_parameter_id NOT IN $rectify_pairs",
        "'entry ' || refers_text || ' is not of a parameter that ' || "
        f"{q('parameter_code')} || ' rectifies'",
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
        "counterpart",
        "kind = 1 AND inst_class = 'citizen' AND counterpart_id = given_subject_id",
        f"'the reporter ' || {q('counterpart_code')} || ' is the subject of the report: "
        "a citizen cannot report itself'",
    ),
    # Keys and codes hold no control characters; free text none but tab and line breaks.
    *(
        (
            field,
            f"has_control AND regexp_matches({column}, '{CONTROL_RE2}')",
            f"'must not contain control characters: ' || {q(column)}",
        )
        for field, column in (
            ("key", "idem_key"),
            ("subject", "subject_code"),
            ("parameter", "parameter_code"),
            ("counterpart", "counterpart_code"),
        )
    ),
    (
        "evidence",
        f"has_control AND regexp_matches(evidence, '{TEXT_CONTROL_RE2}')",
        f"'must not contain control characters other than tab and line breaks: ' || {q('evidence')}",
    ),
    # Every field, in every format, holds at most MAX_FIELD_CHARS characters.
    *(
        (field, too_long_sql(column), too_long_message_sql(column))
        for field, column in (
            ("key", "idem_key"),
            ("subject", "subject_code"),
            ("parameter", "parameter_code"),
            ("date", "date_text"),
            ("quantity", "quantity_text"),
            ("severity", "severity_text"),
            ("confidence", "confidence_text"),
            ("counterpart", "counterpart_code"),
            ("evidence", "evidence"),
            ("kind", "kind_text"),
            ("refers_to", "refers_text"),
            ("act", "act"),
            ("level", "level"),
        )
    ),
)

# The checks of a key against the rest of the batch and the ledger: over ``batch_checked``,
# which adds the first line and digest of a repeated key and the entry a stored key names.
KEY_CHECKS: tuple[tuple[str, str, str], ...] = (
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

CHECKS = ROW_CHECKS + KEY_CHECKS

_REFERS = "CASE WHEN regexp_full_match(refers_text, '[0-9]{1,18}') THEN try_cast(refers_text AS BIGINT) END"


def _clean(col: str) -> str:
    """SQL for ``nullif(trim(col), '')``, skipping the trim where nothing is to trim."""
    # Most values start with a printable character and end with no space: those stay.
    return (
        f"CASE WHEN ascii({col}) BETWEEN 33 AND 132 AND NOT ends_with({col}, ' ') THEN {col} "
        f"ELSE nullif(trim({col}), '') END"
    )


# The registries' rows a batch names, as small tables keyed as the batch names them: its
# parameters by code (with what the active rulebook says of each), the entries it refers
# to (with their subject's kind and parameter), its subjects and counterparts (one scan of
# the registry for both, or the codes held in memory: ``_subjects``).
_REFS_FILTER = "-- every entry referred to"

# A batch's parameters, with what the active rulebook says of each, are looked up by code
# once per process, rulebook and institution (``_parameters``): a rulebook's rows never
# change, and the statement cost about 10 ms a batch, most of it scanning the rulebook's
# rows. An institution's first look-up takes every parameter it may report as well, so
# that a later batch naming one it had not named before finds it known. The institutions
# of a group are looked up together: the codes each names (``asked``, institution and
# code) and those looked up for the first time (``first``).
_PARAMETERS = """
WITH asked AS (SELECT unnest(?::INTEGER[]) AS institution_id, unnest(?::VARCHAR[]) AS code),
first AS (SELECT unnest(?::INTEGER[]) AS institution_id),
perm AS (
    SELECT DISTINCT institution_id, parameter_id FROM rulebook_permissions
    WHERE rulebook_hash = '$hash'
      AND institution_id IN (SELECT institution_id FROM asked UNION SELECT institution_id FROM first)
),
codes AS (
    SELECT institution_id, code FROM asked
    UNION
    SELECT perm.institution_id, p.code FROM perm JOIN first USING (institution_id)
    JOIN parameters p USING (parameter_id)
)
SELECT c.institution_id, p.code, p.parameter_id, rp.parameter_id AS rp_parameter_id,
       rp.subjects AS rp_subjects, rp.per_unit AS rp_per_unit, rp.bands_id AS rp_bands_id,
       perm.parameter_id IS NOT NULL AS permitted
FROM codes c JOIN parameters p USING (code)
LEFT JOIN rulebook_parameters rp ON rp.parameter_id = p.parameter_id AND rp.rulebook_hash = '$hash'
LEFT JOIN perm ON perm.institution_id = c.institution_id AND perm.parameter_id = rp.parameter_id
"""

_REFS = f"""
CREATE OR REPLACE TEMP TABLE batch_refs AS
SELECT e.entry_id, x.for_institution, e.kind AS ref_kind, e.subject_id AS ref_subject_id,
       e.parameter_id AS ref_parameter_id, ri.class AS ref_class, s.kind AS ref_subject_kind,
       rp.parameter_id AS ref_rp_parameter_id, rp.subjects AS ref_rp_subjects,
       rp.per_unit AS ref_rp_per_unit, rp.bands_id AS ref_rp_bands_id,
       perm.parameter_id IS NOT NULL AS ref_permitted
FROM (SELECT DISTINCT b.inst_id AS for_institution, {_REFERS} AS entry_id
      FROM (SELECT batch, {_clean("refers_to")} AS refers_text FROM staged_batch
            WHERE refers_to IS NOT NULL) JOIN batch_institutions b USING (batch)) x
JOIN entries e ON e.entry_id = x.entry_id
LEFT JOIN rulebook_institutions ri
       ON ri.institution_id = e.institution_id AND ri.rulebook_hash = '$hash'
LEFT JOIN subjects s ON s.subject_id = e.subject_id
LEFT JOIN rulebook_parameters rp ON rp.parameter_id = e.parameter_id AND rp.rulebook_hash = '$hash'
LEFT JOIN (SELECT DISTINCT institution_id, parameter_id FROM rulebook_permissions
           WHERE rulebook_hash = '$hash') perm
       ON perm.institution_id = x.for_institution AND perm.parameter_id = rp.parameter_id
{_REFS_FILTER}
"""

_NAMED_SUBJECTS = f"""
SELECT {_clean("subject")} AS code FROM staged_batch WHERE subject IS NOT NULL
UNION ALL
SELECT {_clean("counterpart")} FROM staged_batch WHERE counterpart IS NOT NULL
"""
_SUBJECTS = f"""
CREATE OR REPLACE TEMP TABLE batch_subjects AS
SELECT code, subject_id, kind FROM subjects WHERE code IN ({_NAMED_SUBJECTS})
"""

# Every staged row, typed and joined to the registries: a query, which DuckDB runs once,
# in parallel, into ``batch_rows`` (and a view of it, ``batch_wide``, made only to word the
# problems of a bad batch: planning a statement this size costs milliseconds, which a
# service's many small batches would each pay). A verification names no subject or
# parameter of its own: they are those of the entry it refers to.
_WIDE_SELECT = f"""
WITH trimmed AS (
    SELECT pos, batch, line, b.inst_id, b.inst_code, b.inst_class, plain,
           {_clean("key")} AS idem_key,
           {_clean("subject")} AS subject_code,
           {_clean("parameter")} AS parameter_code,
           {_clean("date")} AS date_text,
           {_clean("quantity")} AS quantity_text,
           {_clean("severity")} AS severity_text,
           {_clean("confidence")} AS confidence_text,
           {_clean("counterpart")} AS counterpart_code,
           {_clean("evidence")} AS evidence,
           lower(coalesce({_clean("kind")}, 'record')) AS kind_text,
           {_clean("refers_to")} AS refers_text,
           {_clean("act")} AS act,
           {_clean("level")} AS level
    FROM staged_batch JOIN batch_institutions b USING (batch)
), typed AS (
    SELECT t.*,
           CASE t.kind_text WHEN 'record' THEN 1 WHEN 'verification' THEN 2 END::TINYINT AS kind,
           -- A day out of any calendar's range (a Parquet date or timestamp, as DuckDB
           -- writes it) is the latest or the earliest day: the date checks say which.
           CAST(CASE WHEN regexp_full_match(t.date_text, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')
                     THEN try_cast(t.date_text AS DATE) - DATE '1970-01-01'
                     WHEN regexp_full_match(t.date_text, '{LATE_DATE_RE2}') THEN 2147483647
                     WHEN regexp_full_match(t.date_text, '{EARLY_DATE_RE2}') THEN -2147483647
                END AS INTEGER) AS day,
           try_cast(t.quantity_text AS DOUBLE) AS quantity,
           CASE WHEN regexp_full_match(t.severity_text, '[+-]?[0-9]{{1,9}}')
                THEN try_cast(t.severity_text AS SMALLINT) END AS severity,
           try_cast(t.confidence_text AS DOUBLE) AS confidence,
           -- One search of the texts for a control character (none where the reader
           -- knows there is none); which holds it is asked only where one does.
           NOT t.plain AND regexp_matches(concat(t.idem_key, t.subject_code, t.parameter_code,
                                 t.counterpart_code, t.evidence), '{CONTROL_RE2}') AS has_control,
           {_REFERS} AS refers_to
    FROM trimmed t
), joined AS (
    SELECT t.*,
           subj.subject_id AS given_subject_id, subj.kind AS given_subject_kind,
           par.parameter_id AS given_parameter_id,
           par.rp_parameter_id AS given_rp_parameter_id, par.rp_subjects AS given_rp_subjects,
           par.rp_per_unit AS given_rp_per_unit, par.rp_bands_id AS given_rp_bands_id,
           par.permitted AS given_permitted,
           cp.subject_id AS counterpart_id,
           ref.*
    FROM typed t
    LEFT JOIN batch_subjects subj ON subj.code = t.subject_code
    LEFT JOIN batch_params par ON par.code = t.parameter_code AND par.institution_id = t.inst_id
    LEFT JOIN batch_subjects cp ON cp.code = t.counterpart_code
    LEFT JOIN batch_refs ref ON ref.entry_id = t.refers_to AND ref.for_institution = t.inst_id
)
SELECT j.*,
       coalesce(j.given_subject_id, j.ref_subject_id) AS subject_id,
       CASE WHEN j.given_subject_id IS NOT NULL THEN j.given_subject_kind
            ELSE j.ref_subject_kind END AS subject_kind,
       coalesce(j.given_parameter_id, j.ref_parameter_id) AS parameter_id,
       CAST(j.inst_id AS INTEGER) AS institution_id,
       CASE WHEN j.given_parameter_id IS NOT NULL THEN j.given_rp_parameter_id
            ELSE j.ref_rp_parameter_id END AS rp_parameter_id,
       CASE WHEN j.given_parameter_id IS NOT NULL THEN j.given_rp_subjects
            ELSE j.ref_rp_subjects END AS rp_subjects,
       CASE WHEN j.given_parameter_id IS NOT NULL THEN j.given_rp_per_unit
            ELSE j.ref_rp_per_unit END AS rp_per_unit,
       CASE WHEN j.given_parameter_id IS NOT NULL THEN j.given_rp_bands_id
            ELSE j.ref_rp_bands_id END AS rp_bands_id,
       CASE WHEN j.given_parameter_id IS NOT NULL THEN j.given_permitted
            ELSE coalesce(j.ref_permitted, false) END AS permitted
FROM joined j
"""
_WIDE = f"CREATE OR REPLACE TEMP VIEW batch_wide AS {_WIDE_SELECT}"

# What is stored of each row, and whether any row check failed: one pass, materialised in
# file order (the joins may scramble it), so that the entries of a small batch are stored
# in their order ({order}; a large one's are stored in any order: ``append``). The payload
# digest is computed once: here for a small batch (``_DIGESTED_ROWS``), when the rows are
# appended for a large one.
_ROWS = """
CREATE OR REPLACE TEMP TABLE batch_kept AS
SELECT pos, batch, line, {kept_columns}, coalesce({bad}, false) AS bad{digest}
FROM ({wide}) {order}
"""

_DIGESTED_ROWS = 50_000
"""A batch of at most this many rows has its payload digests computed with its checks,
before its turn (batches are checked in parallel, appended one at a time: in a server
taking many bodies at once, the turn is the bound). A larger batch's are computed as its
rows are appended: kept in the table of checked rows, they would take 80 bytes a row of
DuckDB's bounded memory."""

# The payload columns a batch may leave empty, their types and the staged column each
# comes from. A column no row of the batch fills is not kept in ``batch_kept`` (DuckDB
# holds a temporary table uncompressed: 16 bytes a row for a text column even when empty,
# and a batch of a million rows would spill past its memory bound) but put back, as
# nulls, by the view ``batch_rows`` over it.
_OFTEN_EMPTY = {
    "severity": ("SMALLINT", "severity"),
    "confidence": ("DOUBLE", "confidence"),
    "counterpart_id": ("BIGINT", "counterpart"),
    "evidence": ("VARCHAR", "evidence"),
    "refers_to": ("BIGINT", "refers_to"),
    "act": ("VARCHAR", "act"),
    "level": ("VARCHAR", "level"),
}

# Keys the batch repeats (with the first line and digest of each), found by grouping a
# 64-bit hash of every key (cheap) and then the few keys whose hash repeats; and keys
# already in the ledger.
_REPEATED_HASHES = """
SELECT hash(batch, idem_key) FROM batch_rows WHERE idem_key IS NOT NULL
GROUP BY 1 HAVING count(*) > 1
"""

_REPEATS = f"""
CREATE OR REPLACE TEMP TABLE batch_repeats AS
SELECT batch, idem_key, arg_min({{payload}}, line) AS first_payload, min(line) AS first_line
FROM batch_rows r
WHERE idem_key IS NOT NULL AND hash(batch, idem_key) IN ({_REPEATED_HASHES})
GROUP BY batch, idem_key HAVING count(*) > 1
"""

# Most batches repeat no key: their (empty) table of repeats is made without the digests.
_NO_REPEATS = """
CREATE OR REPLACE TEMP TABLE batch_repeats
(batch INTEGER, idem_key VARCHAR, first_payload VARCHAR, first_line BIGINT)
"""

# Keys already in the ledger: looked for among all entries before the batch's turn (a scan
# of the institution's entries, which batches do in parallel), then, in its turn, among
# the entries stored since (numbered after the last one seen then: a few row groups).
_STORED_FROM = f"""
SELECT e.institution_id, e.idem_key, e.entry_id AS stored_entry,
       {as_hex("e.payload_digest")} AS stored_payload
FROM entries e SEMI JOIN (SELECT DISTINCT institution_id, idem_key FROM batch_rows
                          WHERE idem_key IS NOT NULL) k
     ON k.institution_id = e.institution_id AND k.idem_key = e.idem_key
WHERE e.entry_id > $seen
"""
_STORED = f"CREATE OR REPLACE TEMP TABLE batch_stored AS {_STORED_FROM}"
_STORED_SINCE = f"""
INSERT INTO batch_stored {_STORED_FROM}
  AND entry_id NOT IN (SELECT stored_entry FROM batch_stored)
"""

_KEY_CONFLICTS = """
SELECT batch, count(*) FROM (
    SELECT r.batch FROM batch_rows r JOIN batch_repeats p USING (batch, idem_key)
    WHERE {payload} <> p.first_payload
    UNION ALL
    SELECT r.batch FROM batch_rows r JOIN batch_stored s USING (institution_id, idem_key)
    WHERE {payload} <> s.stored_payload
) GROUP BY batch
"""

# Only when something is wrong: the rows to word problems for, with all the checks need.
_CHECKED = """
CREATE OR REPLACE TEMP TABLE batch_checked AS
SELECT w.*, {payload} AS payload_digest, p.first_payload, p.first_line, s.stored_entry,
       s.stored_payload
FROM batch_wide w
LEFT JOIN batch_repeats p ON p.batch = w.batch AND p.idem_key = w.idem_key
LEFT JOIN batch_stored s ON s.institution_id = w.institution_id AND s.idem_key = w.idem_key
WHERE p.idem_key IS NOT NULL OR s.idem_key IS NOT NULL
   OR w.pos IN (SELECT pos FROM batch_rows WHERE bad)
"""

# The rows to store when some are skipped (or a batch of the group is refused,
# ``$refused``): numbered again from 0 in file order, batch after batch.
_NEW = """
CREATE OR REPLACE TEMP TABLE batch_new AS
SELECT row_number() OVER (ORDER BY r.pos) - 1 AS pos, r.* EXCLUDE (pos)
FROM batch_rows r
LEFT JOIN batch_repeats p ON p.batch = r.batch AND p.idem_key = r.idem_key
LEFT JOIN batch_stored s ON s.institution_id = r.institution_id AND s.idem_key = r.idem_key
WHERE NOT coalesce(r.line > p.first_line, false) AND s.idem_key IS NULL
  AND r.batch NOT IN $refused
"""

_TEMPORARY = (
    ("VIEW", "batch_wide"),
    ("TABLE", "batch_params"),
    ("TABLE", "batch_refs"),
    ("TABLE", "batch_subjects"),
    ("VIEW", "batch_rows"),
    ("TABLE", "batch_kept"),
    ("TABLE", "batch_repeats"),
    ("TABLE", "batch_stored"),
    ("TABLE", "batch_checked"),
    ("TABLE", "batch_new"),
)
_DROP_TEMPORARY = " ".join(f"DROP {kind} IF EXISTS {name};" for kind, name in _TEMPORARY)
"""One script (a statement each costs 0.2-0.3 ms more, in every batch)."""


# DuckDB's memory while a batch is staged, checked and appended. Past it, staged rows,
# sorts and joins spill to DuckDB's temporary directory, so a batch of any size fits.
INGEST_MEMORY = "300MB"
INDEX_BYTES_PER_ENTRY = 40
"""What the index of entries by subject takes in memory, per entry, at most (about 26
bytes measured). DuckDB keeps an index it changes in memory and cannot spill it, so the
bound of a batch grows by it: at 256 MB alone, the second large batch into a ledger of
ten million entries ran out of memory."""
OUTSIDE_BYTES_PER_ROW = 50
"""What a batch makes the process hold outside DuckDB's bound, per row appended (the new
rows' index among it), measured: a process ingesting a file of a million rows peaked
about 50 MB higher per million rows at the same bound. The bound of a batch shrinks by
it once the batch's rows are counted, so that the process stays near the same size
whatever the batch's size."""
MIN_INGEST_MEMORY = "128MB"
"""The bound is never lowered below this (a batch of many millions of rows)."""


SMALL_BATCH_ROWS = 50_000
"""A batch handed over in memory of at most this many rows is ingested without lowering
DuckDB's memory limit: it takes a few megabytes, and a service's or a simulation's many
small batches would each pay for setting the limit and putting it back."""


def ingest_limit(store: Store, rows: int = 0, outside: int = 0) -> str:
    """The memory bound of a batch of ``rows`` rows: INGEST_MEMORY, plus the index of the
    ledger's entries, less what the batch takes outside the bound: ``OUTSIDE_BYTES_PER_ROW``
    a row, or ``outside`` bytes (measured) if more."""
    held = max(OUTSIDE_BYTES_PER_ROW * rows, outside)
    limit = setting_bytes(INGEST_MEMORY) + _index_bytes(store) - held
    return f"{int(max(limit, setting_bytes(MIN_INGEST_MEMORY)))}B"


def _index_bytes(store: Store) -> int:
    """What the index of the ledger's entries takes in memory, at most."""
    return INDEX_BYTES_PER_ENTRY * int(store.scalar("SELECT count(*) FROM entries") or 0)


_BOUNDS: dict[int, dict[object, tuple[float, float]]] = {}
"""Per database (its root store's id): the bounded batches in flight in this process, each
with its bound and the ledger's index in it. DuckDB has one memory limit per database,
shared by every cursor, so batches ingested at once on cursors of their own (a
simulation's senders, a server's requests) share one limit: the index once and each
batch's own part of its bound. The limit goes back to DuckDB's default when the last one
ends. (With one bound for all, four batches of 200,000 rows at once ran out of memory at
10 million citizens.)"""
_BOUNDS_LOCK = threading.Lock()


def _set_bound(store: Store, key: int) -> None:
    """Set the database's memory limit for the batches in flight (``_BOUNDS``); call it
    holding ``_BOUNDS_LOCK``."""
    flights = _BOUNDS.get(key)
    if not flights:
        _BOUNDS.pop(key, None)
        store.run("RESET memory_limit")
        return
    index = max(i for _, i in flights.values())
    total = index + sum(max(bound - i, 0.0) for bound, i in flights.values())
    store.run(f"SET memory_limit = '{int(total)}B'")


def _outside(store: Store) -> int | None:
    """The process's resident bytes outside DuckDB's buffers (None where unknown: not
    Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            resident = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
    inside = store.scalar("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()")
    return resident - int(inside)


@contextmanager
def bounded_memory(store: Store, limit: str | None = None) -> Iterator[Callable[[int], None]]:
    """DuckDB's memory limit lowered to ``limit`` (default: ``ingest_limit``) for the
    block, then reset. The block is given a function that lowers it again for a batch of
    so many rows, once they are counted (``ingest_limit``, with what the process grew
    outside DuckDB meanwhile).

    Only DuckDB's default is lowered: a limit someone set is theirs to keep (and DuckDB
    shows a limit to three figures only, so it could not be put back exactly).
    """
    limit = limit or ingest_limit(store)
    key, token = id(store.root), object()
    with _BOUNDS_LOCK:
        if key not in _BOUNDS:  # no batch of this process bounds the database now
            current = store.memory_limit()
            if current != _default_memory_limit() or setting_bytes(current) <= setting_bytes(limit):
                token = None
        if token is not None:
            _BOUNDS.setdefault(key, {})[token] = (setting_bytes(limit), _index_bytes(store))
            _set_bound(store, key)
    if token is None:
        yield lambda rows: None
        return

    # What staging leaves outside DuckDB, measured, comes off the bound too when it is
    # more than the estimate per row: Python's parse of a million NDJSON rows left about
    # 140 MB resident (the estimate: 50), and the process peaked at 506-507 MB.
    before = _outside(store)

    def for_rows(rows: int) -> None:
        after = _outside(store)
        grown = 0 if before is None or after is None else max(0, after - before)
        bound = setting_bytes(ingest_limit(store, rows, grown))
        with _BOUNDS_LOCK:
            _BOUNDS[key][token] = (bound, _index_bytes(store))
            _set_bound(store, key)

    try:
        yield for_rows
    finally:
        with _BOUNDS_LOCK:
            del _BOUNDS[key][token]
            _set_bound(store, key)


PROCESS_SHARE = 0.8
"""The share of the machine's memory a long job (a simulation) keeps its whole process
within by default: DuckDB's own default for its buffers, taken here for DuckDB and what
the process holds besides (a simulated nation's arrays: about 3 GB at ten million
citizens)."""
PROCESS_HEADROOM = 1.5
"""What the process may grow to outside DuckDB, as a multiple of what it holds when the
bound is set (a step's records and batches come and go)."""
DUCKDB_OVERSHOOT = 0.5
"""What DuckDB allocates besides the memory its limit counts, as a multiple of it: its
limit bounds its buffers (tables, hash tables, sorts), not the rest (vectors, operator
states, what its allocator keeps). Measured at ten million citizens: 9.8 GB resident
besides the nation's arrays for a limit of 7.6 GB (a year in 28-day steps, its seventh
run). It was 1.0 while a run aggregated per subject in arrays at that size (2.4 GB of
them, outside the limit; ``scoring.run.perfect_hash_bits``): 11.3 GB resident for 4.9 GB
counted by DuckDB."""
MIN_PROCESS_MEMORY = "1GB"


def machine_memory() -> int:
    """The machine's physical memory, in bytes."""
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


@contextmanager
def process_memory(store: Store, budget: int | None = None) -> Iterator[str | None]:
    """DuckDB's memory limit set, for the block, so that the whole process stays near
    ``budget`` bytes (default: ``PROCESS_SHARE`` of the machine's memory): the budget less
    what the process holds outside DuckDB now, with headroom (``PROCESS_HEADROOM``),
    shared with what DuckDB allocates beyond its limit (``DUCKDB_OVERSHOOT``), never
    below ``MIN_PROCESS_MEMORY``; then put back. DuckDB spills what does not fit to its
    temporary directory. Gives the limit set (None when a limit someone set stands:
    theirs to keep, as ``bounded_memory`` does)."""
    current = store.memory_limit()
    if current != _default_memory_limit():
        yield None
        return
    whole = machine_memory() * PROCESS_SHARE if budget is None else float(budget)
    outside = _outside(store) or 0
    room = (whole - PROCESS_HEADROOM * outside) / (1 + DUCKDB_OVERSHOOT)
    limit = int(max(room, setting_bytes(MIN_PROCESS_MEMORY)))
    store.run(f"SET memory_limit = '{limit}B'")
    try:
        yield f"{limit}B"
    finally:
        store.run("RESET memory_limit")


@functools.cache
def _default_memory_limit() -> str:
    con = duckdb.connect()
    try:
        return str(con.sql("SELECT current_setting('memory_limit')").fetchall()[0][0])
    finally:
        con.close()


def ingest_file(
    store: Store, path: str | Path, institution: str, source: str | None = None
) -> IngestResult:
    """Read, validate and append the batch file at ``path`` from ``institution``.

    ``source`` names the batch in the ledger and in problems (default: the path).

    The file is staged in DuckDB a chunk at a time (``readers.stage_file``); validation,
    digests and the append run there, in parallel, with memory bounded whatever its size.

    Raises:
        BatchRejected: the file or any row is bad; every problem is listed; nothing is stored.
        LedgerError: the institution is unknown or no rulebook is active.
    """
    context = _context(store, institution)
    with bounded_memory(store) as for_rows:
        try:
            problems = stage_file(store.con, path)
            for_rows(int(store.scalar("SELECT count(*) FROM staged_batch")))
            part = _Part(context, source or str(path), problems)
            return _one(_ingest_staged(store, [part]))
        finally:
            drop_staged(store.con)


def ingest_table(
    store: Store,
    table: pa.Table,
    institution: str,
    source: str,
    problems: list[Problem] | None = None,
    turn: AbstractContextManager[object] | None = None,
) -> IngestResult:
    """Validate and append a batch (see ``readers.staged_table``) from ``institution``.

    ``table`` holds ``line`` and the columns of ``readers.COLUMNS`` as text (absent ones
    are null); ``problems`` are those found while reading it, reported with the rows'.
    ``turn``, when given, is entered once the batch is staged, typed and checked (which
    batches on cursors of their own do in parallel) and before its keys are checked and
    it is appended: threads that ingest several batches store them in an order of theirs.
    """
    found = ingest_tables(store, [(institution, table, source)], [problems or []], turn)
    return _one(found)


def ingest_tables(
    store: Store,
    batches: list[tuple[str, pa.Table, str]],
    problems: list[list[Problem]] | None = None,
    turn: AbstractContextManager[object] | None = None,
) -> list[IngestResult | LedgerError]:
    """Validate and append several batches, each (institution, table, source) as
    ``ingest_table``'s, in their order: each all of its rows or none, as if ingested one
    after the other, but typed, checked and appended together, a group at a time
    (``groups``). What a small batch costs is mostly DuckDB planning its statements,
    whatever its rows: a group of many small batches pays it once.

    Returns each batch's result, or the error that says why nothing of it was stored
    (``BatchRejected``, or ``LedgerError`` for an unknown institution or no active
    rulebook); the other batches are stored all the same. ``problems``: those found while
    reading each table. ``turn``, entered before the keys are checked, is for batches that
    make one group.
    """
    results: list[IngestResult | LedgerError | None] = [None] * len(batches)
    parts: dict[int, _Part] = {}
    for k, (code, _, source) in enumerate(batches):
        try:
            parts[k] = _Part(_context(store, code), source, list(problems[k] if problems else []))
        except LedgerError as exc:
            results[k] = exc
    found = sorted(parts)
    grouped = groups([batches[k] for k in found])
    if turn is not None and len(grouped) > 1:
        raise ValueError("a turn is for batches of one group (``groups``)")
    for group in grouped:
        indexes = [found[i] for i in group]
        tables = [batches[k][1] for k in indexes]
        rows = sum(t.num_rows for t in tables)
        # Small batches, already in memory, need no bound (setting one costs milliseconds).
        small = rows <= SMALL_BATCH_ROWS
        bound = nullcontext() if small else bounded_memory(store, ingest_limit(store, rows))
        with bound:
            try:
                stage_tables(store.con, tables)
                ingested = _ingest_staged(store, [parts[k] for k in indexes], turn, small)
            finally:
                drop_staged(store.con)
        for k, result in zip(indexes, ingested, strict=True):
            results[k] = result
    return [r for r in results if r is not None]


def groups(batches: list[tuple[str, pa.Table, str]], most: int | None = None) -> list[list[int]]:
    """The batches (institution, table, source; by index) in groups of consecutive batches
    from distinct institutions, of at most ``most`` rows together (unless one alone has
    more). A batch's keys and the entries it refers to are checked against the ledger as
    the batches before it left it: an institution's keys are its own, so its second batch
    waits for a group of its own, as does a batch that refers to entries (one stored by an
    earlier batch of its group would not be found)."""
    grouped: list[list[int]] = []
    seen: set[str] = set()
    held = 0
    for k, (code, table, _) in enumerate(batches):
        refers = "refers_to" in table.column_names and (
            table.column("refers_to").null_count < table.num_rows
        )
        n = table.num_rows
        if not grouped or code in seen or refers or (most is not None and held + n > most):
            grouped.append([])
            seen, held = set(), 0
        grouped[-1].append(k)
        seen.add(code)
        held += n
    return grouped


def _one(found: list[IngestResult | LedgerError]) -> IngestResult:
    """The result of one batch: its ingest, or its refusal raised."""
    (result,) = found
    if isinstance(result, LedgerError):
        raise result
    return result


@dataclass(frozen=True)
class _Part:
    """One batch of a group: its institution's context, its source, and the problems found
    while reading it."""

    context: _Context
    source: str
    problems: list[Problem]


@dataclass(frozen=True)
class _Context:
    institution: str
    institution_id: int
    cls: InstitutionClass
    rulebook_hash: str
    rectifiers: str = "(NULL)"
    rectify_pairs: str = "(NULL)"


_CONTEXTS: dict[tuple[str, int, str, str], _Context] = {}
"""Per database, opening, rulebook and institution code: the batch context (a rulebook's
institutions and parameters never change once installed, nor an institution's id)."""


def _context(store: Store, institution: str) -> _Context:
    """The active rulebook and the institution's id and class under it."""
    rulebook_hash = active_hash(store)
    if rulebook_hash is None:
        raise LedgerError("no rulebook is active: run `socialrating init --rulebook FILE` first")
    key = (store.path, openings(store.path), rulebook_hash, institution)
    if key in _CONTEXTS:
        return _CONTEXTS[key]
    context = _new_context(store, institution, rulebook_hash)
    # Not what a transaction read: it may register institutions and be rolled back.
    if not store.in_transaction:
        keep_per_opening(_CONTEXTS, key, context)
    return context


def _new_context(store: Store, institution: str, rulebook_hash: str) -> _Context:
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
    return _Context(
        institution,
        int(row[0]),
        InstitutionClass(row[1]),
        rulebook_hash,
        *_rectifications(store, rulebook_hash),
    )


def _rectifications(store: Store, rulebook_hash: str) -> tuple[str, str]:
    """SQL lists of the registry ids of the rulebook's rectifying parameters, and of
    ``rectifier:rectified`` id pairs (``(NULL)`` when it has none)."""
    pairs = [
        (p.code, code)
        for p in stored_rulebook(store, rulebook_hash).spec.parameters
        if p.rectifies is not None
        for code in p.rectifies.parameters
    ]
    if not pairs:
        return "(NULL)", "(NULL)"
    ids = dict(
        store.rows(
            "SELECT code, parameter_id FROM parameters WHERE list_contains(?, code)",
            [sorted({c for pair in pairs for c in pair})],
        )
    )
    known = [(ids[a], ids[b]) for a, b in pairs if a in ids and b in ids]
    rectifiers = ", ".join(sorted({str(a) for a, _ in known})) or "NULL"
    matched = ", ".join(f"'{a}:{b}'" for a, b in known) or "NULL"
    return f"({rectifiers})", f"({matched})"


def _substitute(sql: str, context: _Context) -> str:
    subst = {
        "$hash": context.rulebook_hash,
        "$rectifiers": context.rectifiers,
        "$rectify_pairs": context.rectify_pairs,
        "$today": str(day_number(utc_now().date())),
    }
    for key, value in subst.items():
        sql = sql.replace(key, value)
    return sql


def _ingest_staged(
    store: Store,
    parts: list[_Part],
    turn: AbstractContextManager[object] | None = None,
    held: bool = False,
) -> list[IngestResult | LedgerError]:
    """Validate the staged batches (``parts``, by ``batch`` in ``staged_batch``) and
    append the new rows of each that passes: all of a batch's rows, or none of them.

    ``held``: find the batches' subjects among the registry's codes held in memory (for the
    small batches of a process that sends many: building them once costs more than one
    scan of the registry)."""
    context = parts[0].context  # the rulebook's, the same for every part
    store.con.register("batch_institutions", _institutions(parts))
    try:
        survey = _survey(store, len(parts), subjects=held)
        digested = survey.rows <= _DIGESTED_ROWS
        _refs(store, context, "refers_to" in survey.empty)
        _subjects(store, survey)
        _parameters(store, parts, survey.parameters)
        _store_rows(store, context, survey.empty, digested, not in_any_order(survey.rows))
        checked = _check_rows(store, context, digested)
        # One group at a time from its keys' check to its commit (groups are checked in
        # parallel up to here): a key another stores meanwhile would count twice.
        with turn or nullcontext(), store.writing():
            return _append_checked(store, parts, checked)
    finally:
        store.run(_DROP_TEMPORARY)
        store.con.unregister("batch_institutions")


def _institutions(parts: list[_Part]) -> pa.Table:
    """``batch_institutions``: each batch's institution (its id, code and class)."""
    return pa.table(
        {
            "batch": arrays.ints(np.arange(len(parts), dtype=np.int32)),
            "inst_id": arrays.ints(np.array([p.context.institution_id for p in parts], np.int32)),
            "inst_code": arrays.texts([p.context.institution for p in parts]),
            "inst_class": arrays.texts([p.context.cls.value for p in parts]),
        }
    )


_NO_REFS: list[str] = []
"""The statement that makes an empty ``batch_refs`` with its columns' types, once known."""


def _refs(store: Store, context: _Context, none: bool) -> None:
    """``batch_refs``: the entries the staged batches refer to, for each institution that
    refers to them; with ``none`` (no row refers to one), an empty table, made without
    planning the look-up, which would read the whole ledger's entries (2.5 ms a batch for
    the plan alone)."""
    if none and _NO_REFS:
        store.run(_NO_REFS[0])
        return
    refs = _REFS.replace(_REFS_FILTER, "WHERE false") if none else _REFS
    store.run(_substitute(refs, context))
    if none:
        columns = store.rows("SELECT column_name, column_type FROM (DESCRIBE batch_refs)")
        typed = ", ".join(f'"{name}" {kind}' for name, kind in columns)
        _NO_REFS.append(f"CREATE OR REPLACE TEMP TABLE batch_refs ({typed})")


def _subjects(store: Store, survey: _Survey) -> None:
    """``batch_subjects``: the registered subjects the staged batches name, as subject or
    counterpart; from the codes held in memory (``subject_codes``) when the survey named
    them, which spares the batches a scan of the registry."""
    known = None if survey.subjects is None else known_subjects(store, survey.subjects)
    if known is None:
        store.run(_SUBJECTS)
        return
    store.con.register("batch_subjects_known", known)
    try:
        store.run("CREATE OR REPLACE TEMP TABLE batch_subjects AS FROM batch_subjects_known")
    finally:
        store.con.unregister("batch_subjects_known")


_KNOWN_PARAMETERS: dict[tuple[str, int, str, int], tuple[set[str], pa.Table]] = {}
"""Per database, opening, rulebook and institution: the registered codes looked up, and
their rows (``_PARAMETERS``)."""


@dataclass(frozen=True)
class _Survey:
    """What one pass over the staged batches says of them."""

    empty: set[str]  # the columns of ``_OFTEN_EMPTY`` no row fills
    parameters: list[list[str]]  # the parameter texts each batch names, each once
    rows: int
    subjects: list[str] | None = None  # the codes they name as subject or counterpart


def _survey(store: Store, batches: int, subjects: bool = False) -> _Survey:
    """One pass over the staged batches (with ``subjects``, the codes they name too)."""
    named = (
        f", list(DISTINCT {_clean('subject')}) FILTER (WHERE subject IS NOT NULL)"
        f", list(DISTINCT {_clean('counterpart')}) FILTER (WHERE counterpart IS NOT NULL)"
        if subjects
        else ""
    )
    found = store.rows(
        "SELECT batch, count(*), list(DISTINCT parameter) FILTER (WHERE parameter IS NOT NULL), "
        + ", ".join(f"count({staged}) = 0" for _, staged in _OFTEN_EMPTY.values())
        + named
        + " FROM staged_batch GROUP BY batch"
    )
    empty = set(_OFTEN_EMPTY)
    parameters: list[list[str]] = [[] for _ in range(batches)]
    codes: set[str] = set()
    for row in found:
        flags = row[3 : 3 + len(_OFTEN_EMPTY)]
        empty &= {col for col, none in zip(_OFTEN_EMPTY, flags, strict=True) if none}
        parameters[int(row[0])] = list(row[2] or [])
        if subjects:
            codes.update(c for c in (*(row[-2] or []), *(row[-1] or [])) if c is not None)
    rows = sum(int(row[1]) for row in found)
    return _Survey(empty, parameters, rows, sorted(codes) if subjects else None)


def _parameters(store: Store, parts: list[_Part], named: list[list[str]]) -> None:
    """``batch_params``: the registered parameters each batch names (``named``, the
    texts; by their code as ``_clean`` gives it) with its institution's id and what the
    active rulebook says of each, from the rows of this process's earlier batches and one
    look-up of the codes not seen before (``_PARAMETERS``)."""
    context = parts[0].context
    wanted: list[tuple[tuple[str, int, str, int], set[str], pa.Table | None, set[str]]] = []
    asked: tuple[list[int], list[str], list[int]] = ([], [], [])
    for part, texts in zip(parts, named, strict=True):
        institution = part.context.institution_id
        key = (store.path, openings(store.path), context.rulebook_hash, institution)
        seen, rows = _KNOWN_PARAMETERS.get(key) or (set(), None)
        codes = {code for text in texts if (code := str(text).strip(" "))}  # as ``_clean``
        new = sorted(codes - seen)
        asked[0].extend([institution] * len(new))
        asked[1].extend(new)
        if rows is None:
            asked[2].append(institution)
        wanted.append((key, seen, rows, codes))
    found = store.arrow(_substitute(_PARAMETERS, context), list(asked)) if any(asked) else None
    looked = set(asked[0]) | set(asked[2])
    tables = []
    for part, (key, seen, rows, codes) in zip(parts, wanted, strict=True):
        institution = part.context.institution_id
        if found is not None and institution in looked:
            own = found.filter(pc.equal(found.column("institution_id"), arrays.scalar(institution)))
            own = own.drop_columns(["institution_id"])
            rows = own if rows is None else pa.concat_tables([rows, own])
            # Only codes found are remembered: one not registered yet may be by the next
            # batch (a rulebook installed meanwhile), and is looked up again.
            seen = seen | {str(code) for code in own.column("code").to_pylist()}
            keep_per_opening(_KNOWN_PARAMETERS, key, (seen, rows))
        assert rows is not None
        # The batch's own rows of them (an institution may report thousands of parameters).
        rows = rows.filter(pc.is_in(rows.column("code"), value_set=arrays.texts(list(codes))))
        ids = arrays.ints(np.full(rows.num_rows, institution, np.int32))
        tables.append(rows.append_column("institution_id", ids))
    store.con.register("batch_params_known", pa.concat_tables(tables))
    try:
        store.run("CREATE OR REPLACE TEMP TABLE batch_params AS SELECT * FROM batch_params_known")
    finally:
        store.con.unregister("batch_params_known")


def _store_rows(
    store: Store, context: _Context, empty: set[str], digested: bool, ordered: bool = True
) -> None:
    """``batch_rows``: every staged row's payload columns, ``pos``, ``batch``, ``line`` and
    whether a row check failed (``bad``), in file order; the columns no row fills
    (``empty``) are nulls of a view rather than stored (see ``_OFTEN_EMPTY``). With
    ``digested``, each row's ``payload_digest`` too; with ``ordered``, in the order of
    ``pos``."""
    failed = " OR ".join(f"({condition})" for _, condition, _ in ROW_CHECKS)
    kept = ", ".join(c for c in PAYLOAD_COLUMNS if c not in empty)
    digest = f", {payload_digest_sql()} AS payload_digest" if digested else ""
    rows_sql = _ROWS.replace("{kept_columns}", kept).replace("{wide}", _WIDE_SELECT)
    rows_sql = rows_sql.replace("{digest}", digest).replace("{bad}", f"({failed})")
    rows_sql = rows_sql.replace("{order}", "ORDER BY pos" if ordered else "")
    store.run(_substitute(rows_sql, context))
    columns = ", ".join(
        f"CAST(NULL AS {_OFTEN_EMPTY[c][0]}) AS {c}" if c in empty else c for c in PAYLOAD_COLUMNS
    )
    store.run(
        f"CREATE OR REPLACE TEMP VIEW batch_rows AS SELECT pos, batch, line, {columns}, bad"
        + (", payload_digest" if digested else "")
        + " FROM batch_kept"
    )


@dataclass(frozen=True)
class _Checked:
    """What the batches' rows say of themselves, which no other batch can change."""

    rows: dict[int, int]  # each batch's rows (a batch of none is not there)
    bad: dict[int, int]  # each batch's rows that failed a check (where some did)
    repeats: int  # keys the batches repeat (``batch_repeats``)
    seen: int  # the last entry when the keys stored were looked for (``batch_stored``)
    stored: int = 0  # keys of the batches found stored then
    digested: bool = False  # whether ``batch_rows`` has each row's ``payload_digest``

    def payload(self, alias: str) -> str:
        """SQL for the payload digest of the row ``alias`` of ``batch_rows``."""
        return f"{alias}.payload_digest" if self.digested else payload_digest_sql(alias)


def _check_rows(store: Store, context: _Context, digested: bool = False) -> _Checked:
    """Count each staged batch's rows, those that failed a check and the keys they repeat,
    and find their keys already stored (before their turn: batches do this in parallel).
    ``digested``: ``batch_rows`` has each row's payload digest."""
    # The last entry first: one stored after it is looked for again in the batch's turn.
    seen, repeated, counts = store.one(
        f"SELECT {LAST_ENTRY}, (SELECT count(*) FROM ({_REPEATED_HASHES})), "
        "(SELECT list([batch, n, bad]) FROM (SELECT batch, count(*) AS n, "
        "count(*) FILTER (WHERE bad) AS bad FROM batch_rows GROUP BY batch))"
    ) or (0, 0, [])
    rows = {int(k): int(n) for k, n, _ in counts or []}
    bad = {int(k): int(b) for k, _, b in counts or [] if b}
    # A statement that stores rows answers how many (here: keys already in the ledger).
    stored = int(store.scalar(_substitute(_STORED.replace("$seen", "0"), context)))
    checked = _Checked(rows, bad, 0, int(seen), stored, digested)
    if not repeated:
        store.run(_NO_REPEATS)
        return checked
    store.run(_REPEATS.replace("{payload}", checked.payload("r")))
    repeats = int(store.scalar("SELECT count(*) FROM batch_repeats"))
    return replace(checked, repeats=repeats)


def _append_checked(
    store: Store, parts: list[_Part], checked: _Checked
) -> list[IngestResult | LedgerError]:
    """Check the staged batches' keys against the ledger and append the new rows of each
    that passes, or refuse it with every problem (their rows' own checks are ``checked``)."""
    context = parts[0].context
    since = store.scalar(_substitute(_STORED_SINCE.replace("$seen", str(checked.seen)), context))
    stored_keys = checked.stored + int(since)
    conflicts: dict[int, int] = {}
    if checked.repeats or stored_keys:
        found = store.rows(_KEY_CONFLICTS.replace("{payload}", checked.payload("r")))
        conflicts = {int(k): int(n) for k, n in found if n}
    refused = {
        k for k, part in enumerate(parts) if part.problems or k in checked.bad or k in conflicts
    }
    refusals = iter([_refusal(part, problems) for part, problems in _worded(store, parts, refused)])
    drop_staged(store.con)  # what is stored is in batch_rows now
    relation, counts = "batch_rows", dict(checked.rows)
    if checked.repeats or stored_keys or refused:
        listed = ", ".join(str(k) for k in sorted(refused)) or "-1"
        store.run(_NEW.replace("$refused", f"({listed})"))
        relation = "batch_new"
        counts = {int(k): int(n) for k, n in store.rows(_NEW_COUNTS)}
    payloads = relation
    if not checked.digested:
        payloads = f"(SELECT *, {payload_digest_sql()} AS payload_digest FROM {relation})"
    appended = [
        Part(part.context.institution_id, part.source, counts.get(k, 0) if k not in refused else 0)
        for k, part in enumerate(parts)
    ]
    batches: list[Batch | None] = [None] * len(parts)
    if any(p.rows for p in appended):
        with store.transaction():
            batches = append_parts(store, payloads, appended)
    done: list[IngestResult | LedgerError] = []
    for k, (part, batch) in enumerate(zip(parts, batches, strict=True)):
        if k in refused:
            done.append(next(refusals))
            continue
        n = checked.rows.get(k, 0)
        stored = batch.rows if batch else 0
        done.append(
            IngestResult(part.source, part.context.institution, n, stored, n - stored, batch)
        )
    return done


_NEW_COUNTS = "SELECT batch, count(*) FROM batch_new GROUP BY batch"


def _refusal(part: _Part, worded: list[Problem]) -> BatchRejected:
    """A batch refused, with every problem: those found while reading it, and what the
    checks say of its rows (a field the reader found bad, an object or a lone surrogate,
    is staged as null: what the checks then say of it, missing, is not said again)."""
    said = {(p.line, p.field) for p in part.problems if p.field}
    problems = part.problems + [p for p in worded if (p.line, p.field) not in said]
    problems.sort(key=lambda p: (p.line or 0, p.field))
    return BatchRejected(
        f"{part.source}: {len(problems)} problem(s); nothing from this batch was stored",
        problems,
    )


def _worded(
    store: Store, parts: list[_Part], refused: set[int]
) -> list[tuple[_Part, list[Problem]]]:
    """Each refused batch (by index, in order) with every problem of its rows that failed a
    check, worded, in line order."""
    if not refused:
        return []
    context = parts[0].context
    store.run(_substitute(_WIDE, context))
    store.run(_CHECKED.replace("{payload}", payload_digest_sql("w")))
    selects = [
        f"SELECT batch, line, '{field}' AS field, {message} AS reason FROM batch_checked "
        f"WHERE {condition}"
        for field, condition, message in CHECKS
    ]
    listed = ", ".join(str(k) for k in sorted(refused))
    bad = store.rows(
        _substitute(
            f"SELECT * FROM ({' UNION ALL '.join(selects)}) WHERE batch IN ({listed}) "
            "ORDER BY batch, line, field, reason",
            context,
        )
    )
    worded: dict[int, list[Problem]] = {k: [] for k in refused}
    for batch, line, field, reason in bad:
        worded[int(batch)].append(
            Problem(parts[batch].source, line, field, printable(reason, 1000))
        )
    return [(parts[k], worded[k]) for k in sorted(refused)]
