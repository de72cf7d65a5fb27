"""Batches staged in chunks: the same rows, lines, digests and problems as before.

``ingest_file`` stages a file in DuckDB a chunk at a time. DuckDB reads a CSV file whose
records are its lines, and a Parquet file of plain types, itself (the fast path); Python
reads every other file (the exact path). These tests check that both paths stage the
same rows on the same lines, that every digest stored is the ledger's definition
(recomputed here with hashlib from the batch's text, independently of DuckDB), and that a
bad row in the last chunk still stores nothing.

The ``store`` fixture (tests/conftest.py) holds the tiny rulebook's activation as entry 1
and subjects C1..C9 (citizens), O1, O2 (organisations).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import hashlib
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from socialrating.errors import BatchRejected, Problem
from socialrating.ledger import Store, ingest_file, ingest_table
from socialrating.ledger import ingest as ingest_module
from socialrating.ledger import readers as readers_module
from socialrating.ledger.append import append_digested, epoch_us
from socialrating.ledger.digests import PAYLOAD_COLUMNS, payload_digest_sql
from socialrating.ledger.ingest import IngestResult
from socialrating.ledger.readers import COLUMNS, drop_staged, stage_file, staged_table
from socialrating.ledger.store import setting_bytes
from socialrating.ledger.verify import verify_ledger

Row = dict[str, str]

# --- the ledger's digests, recomputed with hashlib -----------------------------------------


def field_text(value: object) -> str:
    """A typed value as DuckDB casts it to text (a double as Python's repr writes it)."""
    return repr(value) if isinstance(value, float) else str(value)


def reference_payload_digest(values: tuple[object, ...]) -> str:
    """``payload_digest_sql``: each field as its length (in characters), ':' and its text."""
    fields = ["~" if v is None else f"{len(field_text(v))}:{field_text(v)}" for v in values]
    return hashlib.sha256(("v3|" + "|".join(fields)).encode()).hexdigest()


def reference_row_digest(entry_id: int, batch_id: int, arrived_us: int, payload: str) -> str:
    return hashlib.sha256(f"{entry_id}|{batch_id}|{arrived_us}|{payload}".encode()).hexdigest()


def reference_batch_digest(fields: tuple[object, ...]) -> str:
    text = "|".join("~" if f is None else f"{len(str(f))}:{f}" for f in fields)
    return hashlib.sha256(("v2|" + text).encode()).hexdigest()


def typed(store: Store, row: Row, institution: str) -> tuple[object, ...]:
    """The payload of a batch row as the old ingest typed it, in PAYLOAD_COLUMNS order."""

    def text(name: str) -> str | None:
        value = row.get(name)
        value = None if value is None else value.strip(" ")  # DuckDB's trim: spaces only
        return value or None

    def subject(code: str | None) -> int | None:
        return (
            None
            if code is None
            else store.scalar("SELECT subject_id FROM subjects WHERE code = ?", [code])
        )

    kind = {"record": 1, "verification": 2}[(text("kind") or "record").lower()]
    refers_to = None if text("refers_to") is None else int(str(text("refers_to")))
    subject_id = subject(text("subject"))
    parameter = text("parameter")
    parameter_id = (
        None
        if parameter is None
        else store.scalar("SELECT parameter_id FROM parameters WHERE code = ?", [parameter])
    )
    if refers_to is not None:  # a verification takes them from the entry it verifies
        ref = store.one(
            "SELECT subject_id, parameter_id FROM entries WHERE entry_id = ?", [refers_to]
        )
        assert ref is not None
        subject_id = subject_id if subject_id is not None else ref[0]
        parameter_id = parameter_id if parameter_id is not None else ref[1]
    date = text("date")
    number = {n: text(n) for n in ("quantity", "severity", "confidence")}
    values: dict[str, object] = {
        "kind": kind,
        "institution_id": store.scalar(
            "SELECT institution_id FROM institutions WHERE code = ?", [institution]
        ),
        "parameter_id": parameter_id,
        "subject_id": subject_id,
        "day": None if date is None else (dt.date.fromisoformat(date) - dt.date(1970, 1, 1)).days,
        "quantity": None if number["quantity"] is None else float(number["quantity"]),
        "severity": None if number["severity"] is None else int(number["severity"]),
        "confidence": None if number["confidence"] is None else float(number["confidence"]),
        "counterpart_id": subject(text("counterpart")),
        "evidence": text("evidence"),
        "refers_to": refers_to,
        "act": text("act"),
        "level": text("level"),
        "idem_key": text("key"),
    }
    return tuple(values[c] for c in PAYLOAD_COLUMNS)


def check_digests(store: Store, rows: list[Row], institution: str, batch_id: int) -> None:
    """Every digest of the batch equals the definition, recomputed from the batch's text."""
    stored = store.rows(
        "SELECT entry_id, payload_digest, row_digest FROM entries WHERE batch_id = ? "
        "ORDER BY entry_id",
        [batch_id],
    )
    assert len(stored) == len(rows)
    batch = store.one(
        "SELECT batch_id, institution_id, source, rows, first_entry, last_entry, arrived_at, "
        "rows_digest, prev_digest, digest FROM batches WHERE batch_id = ?",
        [batch_id],
    )
    assert batch is not None
    arrived_us = epoch_us(batch[6])
    row_digests = []
    for row, (entry_id, payload_bytes, row_bytes) in zip(rows, stored, strict=True):
        # Stored as their 32 bytes; defined over their hex text.
        assert len(payload_bytes) == len(row_bytes) == 32
        payload, row_digest = payload_bytes.hex(), row_bytes.hex()
        assert payload == reference_payload_digest(typed(store, row, institution)), row
        assert row_digest == reference_row_digest(entry_id, batch_id, arrived_us, payload)
        row_digests.append(row_digest)
    rows_hex = hashlib.sha256("".join(row_digests).encode()).hexdigest()
    assert batch[7] == rows_hex
    prev = store.scalar("SELECT digest FROM batches WHERE batch_id = ?", [batch_id - 1])
    assert batch[8] == prev
    fields = (prev, batch_id, batch[1], batch[2], batch[3], batch[4], batch[5], arrived_us)
    assert batch[9] == reference_batch_digest((*fields, rows_hex))


# --- writing batch files ------------------------------------------------------------------


def write_csv(path: Path, rows: list[Row], newline: str = "\n") -> Path:
    header = [c for c in COLUMNS if any(c in r for r in rows)]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator=newline)
        writer.writerow(header)
        writer.writerows([[r.get(c, "") for c in header] for r in rows])
    return path


def write_ndjson(path: Path, rows: list[Row]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[Row]) -> Path:
    names = [c for c in COLUMNS if any(c in r for r in rows)]
    pq.write_table(pa.table({c: [r.get(c) for r in rows] for c in names}), path)
    return path


WRITERS = {"csv": write_csv, "ndjson": write_ndjson, "parquet": write_parquet}


def rich_rows(report_entry: int) -> list[Row]:
    """Police rows that use every field, with text a careless encoding would mix up."""
    return [
        {
            "key": "k1",
            "subject": "C1",
            "parameter": "blood",
            "date": "2021-02-01",
            "evidence": 'café | 3:~ "quoted", comma',
            "act": "case/2021:17",
            "level": "national",
        },
        {
            "key": "k2",
            "subject": " C2 ",
            "parameter": "volunteer_hours",
            "date": "2021-02-02",
            "quantity": "2.50",
        },
        {
            "key": "k3",
            "subject": "O1",
            "parameter": "litter",
            "date": "2021-02-03",
            "severity": "+2",
            "counterpart": "C3",
        },
        {
            "key": "k4",
            "subject": "C4",
            "parameter": "red_light",
            "date": "2021-02-04",
            "confidence": "0.97",
        },
        {"key": "k5", "kind": "Verification", "refers_to": str(report_entry), "date": "2021-02-05"},
        {
            "key": "k6",
            "subject": "C5",
            "parameter": "volunteer_hours",
            "date": "2021-02-06",
            "quantity": "1e3",
            "severity": "-7",
            "evidence": "e\u0301t\u00e9 \U0001f44d\U0001f3fd ~|~",
        },
        {
            "key": "k7",
            "subject": "C6",
            "parameter": "hero",
            "date": "2021-02-07",
            "quantity": "0.1",
        },
    ]


@pytest.fixture(params=["with the checks", "when appended"])
def digested(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Payload digests computed with a batch's checks (a small batch), or as its rows are
    appended (a large one: here every batch is, as if larger than the threshold)."""
    if request.param == "when appended":
        monkeypatch.setattr(ingest_module, "_DIGESTED_ROWS", 0)
    return str(request.param)


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_digests_are_those_of_the_definition(
    store: Store, tmp_path: Path, fmt: str, digested: str
) -> None:
    report = {"key": "r1", "subject": "C3", "parameter": "rumour", "date": "2021-02-01"}
    first = ingest_file(store, write_csv(tmp_path / "report.csv", [report]), "hotline")
    assert first.batch is not None
    check_digests(store, [report], "hotline", first.batch.batch_id)
    rows = rich_rows(first.batch.first_entry)
    result = ingest_file(store, WRITERS[fmt](tmp_path / f"rich.{fmt}", rows), "police")
    assert result.batch is not None and result.stored == len(rows)
    check_digests(store, rows, "police", result.batch.batch_id)
    assert verify_ledger(store).ok


def test_digests_of_a_table_and_of_its_resent_rows(
    store: Store, tmp_path: Path, digested: str
) -> None:
    rows = [
        {"key": f"t{i}", "subject": f"C{i % 9 + 1}", "parameter": "blood", "date": "2021-03-01"}
        for i in range(40)
    ]
    cols: dict[str, list[str | None]] = {
        c: [r.get(c) for r in rows] for c in ("key", "subject", "parameter", "date")
    }
    result = ingest_table(store, staged_table(cols, list(range(2, 42))), "police", "t")
    assert result.batch is not None
    check_digests(store, rows, "police", result.batch.batch_id)
    # The same rows again, with ten new ones in between: only the new ones are stored.
    more = rows[:20] + [{**r, "key": f"n{i}"} for i, r in enumerate(rows[:10])] + rows[20:]
    again = ingest_file(store, write_csv(tmp_path / "again.csv", more), "police")
    assert (again.stored, again.duplicates) == (10, 40)
    assert again.batch is not None
    check_digests(store, more[20:30], "police", again.batch.batch_id)
    assert verify_ledger(store).ok


def test_rows_digest_reads_the_entries_in_order_whatever_order_they_were_stored_in(
    store: Store,
) -> None:
    # Rows inserted in another order than their entry numbers: the batch digest still
    # covers the row digests in entry order.
    cols = ", ".join(c for c in PAYLOAD_COLUMNS if c != "institution_id")
    store.run(
        f"""CREATE TEMP TABLE scrambled AS
            SELECT *, {payload_digest_sql()} AS payload_digest FROM (
                SELECT (range * 7) % 50 AS pos, 1 AS kind, 1 AS institution_id,
                       NULL::INTEGER AS parameter_id, NULL::BIGINT AS subject_id, 18700 AS day,
                       NULL::DOUBLE AS quantity, NULL::SMALLINT AS severity,
                       NULL::DOUBLE AS confidence, NULL::BIGINT AS counterpart_id,
                       NULL AS evidence, NULL::BIGINT AS refers_to, NULL AS act, NULL AS level,
                       'x' || range AS idem_key
                FROM range(50))"""
    )
    assert cols
    with store.transaction():
        batch = append_digested(store, "scrambled", 1, "scrambled")
    assert batch is not None and batch.rows == 50
    assert verify_ledger(store).ok


def test_a_large_batch_stored_in_any_order_keeps_its_numbers_and_digests(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch past ``UNORDERED_FROM`` rows is stored by DuckDB's threads in any order:
    its entries keep the numbers of their lines, its digest covers them in that order, a
    resent copy counts once, and insertion order is kept again for everything after."""
    from socialrating.ledger import append as append_module

    monkeypatch.setattr(append_module, "UNORDERED_FROM", 10)
    rows = [
        {"key": f"u{i}", "subject": f"C{i % 9 + 1}", "parameter": "blood", "date": "2021-03-01"}
        for i in range(3000)
    ]
    path = write_csv(tmp_path / "large.csv", rows)
    first = ingest_file(store, path, "police")
    assert first.batch is not None and first.stored == 3000
    assert store.scalar("SELECT current_setting('preserve_insertion_order')") is True
    stored = store.rows(
        "SELECT idem_key FROM entries WHERE batch_id = ? ORDER BY entry_id",
        [first.batch.batch_id],
    )
    assert [k for (k,) in stored] == [r["key"] for r in rows]
    check_digests(store, rows, "police", first.batch.batch_id)
    again = ingest_file(store, path, "police")
    assert (again.stored, again.duplicates) == (0, 3000)
    # A setting of the caller's that stores rows in any order already is kept.
    store.run("SET preserve_insertion_order = false")
    more = [{**r, "key": f"v{i}"} for i, r in enumerate(rows)]
    assert ingest_file(store, write_csv(tmp_path / "more.csv", more), "police").stored == 3000
    assert store.scalar("SELECT current_setting('preserve_insertion_order')") is False
    store.run("RESET preserve_insertion_order")
    assert verify_ledger(store).ok


def test_a_failed_insert_in_any_order_puts_the_order_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert of a large batch fails (here: an error raised as DuckDB computes one of
    its rows) and aborts its transaction: the error is the insert's, and DuckDB keeps
    insertion order again for everything after (it is one setting for the database)."""
    from socialrating.ledger import append as append_module

    monkeypatch.setattr(append_module, "UNORDERED_FROM", 10)
    store.run(
        """CREATE TEMP TABLE failing AS
           SELECT range AS pos, 1 AS kind, 1 AS institution_id, NULL::INTEGER AS parameter_id,
                  NULL::BIGINT AS subject_id, 18700 AS day, NULL::DOUBLE AS quantity,
                  NULL::SMALLINT AS severity, NULL::DOUBLE AS confidence,
                  NULL::BIGINT AS counterpart_id, NULL AS evidence, NULL::BIGINT AS refers_to,
                  NULL AS act, NULL AS level, 'f' || range AS idem_key
           FROM range(50)"""
    )
    failing = (
        "(SELECT *, CASE WHEN pos = 40 THEN error('row 40 fails') ELSE 'd' END "
        "AS payload_digest FROM failing)"
    )
    before = store.scalar("SELECT count(*) FROM entries")
    with pytest.raises(duckdb.Error, match="row 40 fails"), store.transaction():
        append_digested(store, failing, 1, "f")
    assert store.scalar("SELECT current_setting('preserve_insertion_order')") is True
    assert store.scalar("SELECT count(*) FROM entries") == before
    assert verify_ledger(store).ok


def test_a_file_is_staged_in_its_order_once_a_large_insert_is_over(
    store: Store, tmp_path: Path
) -> None:
    """While a large batch is inserted with DuckDB free to store rows in any order, a file
    another cursor stages (its rows numbered by where DuckDB stores them) waits."""
    import threading
    import time

    from socialrating.ledger.store import ORDER_GATE

    rows = [
        {"key": f"g{i}", "subject": "C1", "parameter": "blood", "date": "2021-03-01"}
        for i in range(2000)
    ]
    path = write_csv(tmp_path / "staged.csv", rows)
    other = store.cursor()
    staged: list[list[tuple[Any, ...]]] = []
    try:
        with ORDER_GATE.off():
            worker = threading.Thread(
                target=lambda: (
                    stage_file(other.con, path),
                    staged.append(other.rows("SELECT pos, line FROM staged_batch")),
                )
            )
            worker.start()
            time.sleep(0.3)
            assert worker.is_alive() and not staged  # waiting for the insert to end
        worker.join(30)
        assert staged and staged[0] == [(i, i + 2) for i in range(2000)]
    finally:
        drop_staged(other.con)
        other.close()


# --- the fast and the exact path stage the same rows ---------------------------------------


def staged(store: Store, path: Path) -> tuple[list[tuple[Any, ...]], list[Problem]]:
    problems = stage_file(store.con, path)
    rows = store.rows("SELECT * EXCLUDE (pos, batch, plain) FROM staged_batch ORDER BY pos")
    positions = [r[0] for r in store.rows("SELECT pos FROM staged_batch ORDER BY pos")]
    assert positions == list(range(len(rows)))
    drop_staged(store.con)
    return rows, problems


def both_ways(
    store: Store, path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[bool, list[tuple[Any, ...]], list[Problem]]:
    """The rows and problems staged by the fast path (if it takes the file) and the exact one.

    Returns whether the fast path took the file, and the rows and problems (asserted equal).
    """
    taken: list[bool] = []
    fast_csv, fast_parquet = readers_module._stage_csv_fast, readers_module._stage_parquet_fast

    def spy_csv(*args: Any) -> bool:
        taken.append(fast_csv(*args))
        return taken[-1]

    def spy_parquet(*args: Any) -> bool:
        taken.append(fast_parquet(*args))
        return taken[-1]

    with monkeypatch.context() as m:
        m.setattr(readers_module, "_stage_csv_fast", spy_csv)
        m.setattr(readers_module, "_stage_parquet_fast", spy_parquet)
        fast_rows, fast_problems = staged(store, path)
    with monkeypatch.context() as m:
        m.setattr(readers_module, "scan_csv_layout", lambda _path: None)
        m.setattr(readers_module, "_stage_parquet_fast", lambda *_args: False)
        exact_rows, exact_problems = staged(store, path)
    assert fast_rows == exact_rows
    assert fast_problems == exact_problems
    return any(taken), exact_rows, exact_problems


HEADER = b"key,subject,parameter,date,quantity,evidence\n"

# (id, file bytes, whether the fast path takes it)
CSV_FILES = [
    ("plain", HEADER + b"a,C1,blood,2021-02-01,,\nb,C2,blood,2021-02-02,3,x\n", True),
    ("crlf", HEADER.replace(b"\n", b"\r\n") + b"a,C1,blood,2021-02-01,,\r\nb,C2,,,,\r\n", True),
    ("bom", b"\xef\xbb\xbf" + HEADER + b"a,C1,blood,2021-02-01,,\n", True),
    ("no-final-newline", HEADER + b"a,C1,blood,2021-02-01,,\nb,C2,blood,2021-02-02,,", True),
    ("trailing-blank-lines", HEADER + b"a,C1,blood,2021-02-01,,\n\n\n", True),
    ("mixed-line-ends", HEADER + b"a,C1,blood,2021-02-01,,\r\nb,C2,blood,,,\n", False),
    (
        "quoted",
        HEADER + b'a,C1,blood,2021-02-01,,"x, ""y"""\n"b","C2",blood,2021-02-02,"",""\n',
        True,
    ),
    (
        "blank-and-spaced-values",
        HEADER
        + b"  a  , C1,blood,2021-02-01,\t,\xe3\x80\x80\nb,C2 ,blood, 2021-02-02,\x0b , \xc2\xa0x\n",
        True,
    ),
    ("header-only", HEADER, True),
    ("header-without-line-end", HEADER.rstrip(b"\n"), True),
    ("header-and-row-in-one-line-end", HEADER + b"a,C1,blood,2021-02-01,,", True),
    # A repeated column goes to the exact reader, which names it.
    ("unknown-and-repeated-columns", b"key,colour,key,date\na,red,b,2021-02-01\n", False),
    ("spaced-header", b" key , subject \na,C1\n", True),
    ("utf8", HEADER + "a,C1,blood,2021-02-01,,été 👍\n".encode(), True),
    ("multi-line-quoted", HEADER + b'a,C1,blood,2021-02-01,,"two\nlines"\nb,C2,blood,,,\n', False),
    ("blank-line", HEADER + b"a,C1,blood,2021-02-01,,\n\nb,C2,blood,,,\n", False),
    ("spaces-line", HEADER + b"a,C1,blood,2021-02-01,,\n   \nb,C2,blood,,,\n", False),
    ("short-row", HEADER + b"a,C1,blood\nb,C2,blood,,,\n", False),
    ("long-row", HEADER + b"a,C1,blood,,,,,\nb,C2,blood,,,\n", False),
    ("bare-cr", HEADER.replace(b"\n", b"\r") + b"a,C1,blood,2021-02-01,,\r", False),
    ("quote-inside", HEADER + b'a,C1,bl"ood,2021-02-01,,\n', False),
    ("text-after-quote", HEADER + b'a,C1,"blood"x,2021-02-01,,\n', False),
    ("one-column", b"key\na\n \nb\n", False),
    ("field-over-the-limit", HEADER + b"a,C1,blood,2021-02-01,," + b"x" * 140_000 + b"\n", False),
    ("empty", b"", False),
    ("not-utf8", HEADER + b"a,C1,blood,2021-02-01,,caf\xe9\n", False),
]


@pytest.mark.parametrize(
    ("data", "fast"), [c[1:] for c in CSV_FILES], ids=[c[0] for c in CSV_FILES]
)
def test_csv_fast_and_exact_paths_stage_the_same_rows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes, fast: bool
) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(data)
    taken, _rows, _problems = both_ways(store, path, monkeypatch)
    assert taken == fast


def test_csv_lines_and_blank_values_on_the_fast_path(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "batch.csv"
    path.write_bytes(next(c[1] for c in CSV_FILES if c[0] == "blank-and-spaced-values"))
    taken, rows, problems = both_ways(store, path, monkeypatch)
    assert taken and problems == []
    # (line, key, subject, parameter, date, quantity, severity, confidence, counterpart, evidence, ...)
    assert [r[:6] + r[9:10] for r in rows] == [
        (2, "  a  ", " C1", "blood", "2021-02-01", None, None),  # a tab or an ideographic
        (3, "b", "C2 ", "blood", " 2021-02-02", None, " \u00a0x"),  # space only: blank
    ]


def test_large_csv_is_read_in_blocks(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Blocks of 64 bytes: lines are checked block by block, each block ending at a line end.
    monkeypatch.setattr(readers_module, "scan_csv_layout", _small_blocks)
    lines = [f'k{i},C{i % 9 + 1},blood,2021-02-01,,"desk {i}, room {i % 7}"' for i in range(300)]
    path = tmp_path / "batch.csv"
    text = "\r\n".join([HEADER.decode().strip(), *lines, ""])
    path.write_bytes(text.encode())
    taken, rows, _problems = both_ways(store, path, monkeypatch)
    assert taken
    assert [r[0] for r in rows] == list(range(2, 302))
    assert rows[-1][9] == "desk 299, room 5"


def _small_blocks(path: Path) -> Any:
    from socialrating.csvrows import scan_csv_layout

    return scan_csv_layout(path, block_bytes=64)


# --- files known to hold no control character --------------------------------------------


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        ("desk 4", True),
        ("été 👍 \u00a0x \u00ff \u0100", True),  # a no-break space is no control
        ("desk\t4", False),  # a tab (free text may hold one; the checks say where)
        ("k\x00", False),
        ("k\x1b[31m", False),
        ("k\x7f", False),
        ("k\u0085", False),  # C1: two bytes, \xc2\x85
        ("k\u009f", False),
        ("k\x0b", False),
    ],
    ids=["ascii", "non-ascii", "tab", "nul", "escape", "del", "c1-nel", "c1-last", "vt"],
)
@pytest.mark.parametrize("block_bytes", [64, 1 << 20], ids=["small-blocks", "one-block"])
def test_csv_layout_knows_a_file_without_control_characters(
    tmp_path: Path, value: str, plain: bool, block_bytes: int
) -> None:
    from socialrating.csvrows import scan_csv_layout

    lines = [f"k{i},C1,blood,2021-02-01,,desk {i}" for i in range(40)]
    lines[33] = f'k33,C1,blood,2021-02-01,,"{value}"'  # in a later block when they are small
    path = tmp_path / "batch.csv"
    path.write_bytes("\n".join([HEADER.decode().strip(), *lines, ""]).encode())
    layout = scan_csv_layout(path, block_bytes=block_bytes)
    assert layout is not None and layout.rows == 40
    assert layout.plain is plain


@pytest.mark.parametrize("field", ["key", "subject", "parameter", "evidence"])
@pytest.mark.parametrize("value", ["x\x00", "x\x1b[31m", "x\x7f", "x\u0085", "x\x07"])
def test_control_characters_are_found_on_the_fast_csv_path(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    rows = [
        {"key": "a", "subject": "C1", "parameter": "blood", "date": "2021-02-01"},
        {"key": "b", "subject": "C2", "parameter": "blood", "date": "2021-02-02", field: value},
    ]
    path = write_csv(tmp_path / "batch.csv", rows)
    taken: list[bool] = []
    fast = readers_module._stage_csv_fast
    monkeypatch.setattr(
        readers_module, "_stage_csv_fast", lambda *a: taken.append(fast(*a)) or taken[-1]
    )
    before = store.scalar("SELECT count(*) FROM entries")
    with pytest.raises(BatchRejected) as refused:
        ingest_file(store, path, "police")
    assert taken == [True]  # DuckDB read the file
    reasons = [(p.line, p.field, p.reason) for p in refused.value.problems]
    assert any(
        line == 3 and f == field and r.startswith("must not contain control characters")
        for line, f, r in reasons
    ), reasons
    assert store.scalar("SELECT count(*) FROM entries") == before


def _plain_seen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``plain`` of each layout the fast CSV path stages with, from now on."""
    seen: list[bool] = []
    fast = readers_module._stage_csv_fast

    def spy(con: Any, layout: Any) -> bool:
        seen.append(layout.plain)
        return fast(con, layout)

    monkeypatch.setattr(readers_module, "_stage_csv_fast", spy)
    return seen


def test_only_a_settled_file_skips_the_search_for_control_characters(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _plain_seen(monkeypatch)
    rows = [{"key": "a", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}]
    fresh = write_csv(tmp_path / "fresh.csv", rows)
    stage_file(store.con, fresh)  # just written: it could change again unseen
    drop_staged(store.con)
    monkeypatch.setattr(readers_module, "RACY_SECONDS", -3600.0)  # as if long settled
    stage_file(store.con, fresh)
    drop_staged(store.con)
    tabbed = write_csv(tmp_path / "tab.csv", [{**rows[0], "evidence": "desk\t4"}])
    stage_file(store.con, tabbed)
    drop_staged(store.con)
    assert seen == [False, True, False]


def test_a_file_changed_while_it_is_read_is_searched_for_control_characters(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The layout check sees a file without control characters; then, before DuckDB reads
    # it, the file is written again, of the same size, with one.
    monkeypatch.setattr(readers_module, "RACY_SECONDS", -3600.0)
    rows = [
        {"key": "a", "subject": "C1", "parameter": "blood", "date": "2021-02-01"},
        {"key": "bX", "subject": "C2", "parameter": "blood", "date": "2021-02-02"},
    ]
    path = write_csv(tmp_path / "batch.csv", rows)
    clean = path.read_bytes()
    scanned = threading.Event()
    scan, read = readers_module.scan_csv_layout, readers_module._read_csv

    def scan_then_signal(p: Path) -> Any:
        found = scan(p)
        scanned.set()
        return found

    def rewrite_then_read(con: Any, p: Path, width: int) -> bool:
        scanned.wait(10)
        time.sleep(0.05)  # past the file system's clock tick
        p.write_bytes(clean.replace(b"bX", b"b\x1b"))
        return bool(read(con, p, width))

    monkeypatch.setattr(readers_module, "scan_csv_layout", scan_then_signal)
    monkeypatch.setattr(readers_module, "_read_csv", rewrite_then_read)
    seen = _plain_seen(monkeypatch)
    before = store.scalar("SELECT count(*) FROM entries")
    with pytest.raises(BatchRejected) as refused:
        ingest_file(store, path, "police")
    assert seen == [False]
    assert [(p.line, p.field) for p in refused.value.problems] == [(3, "key")]
    assert store.scalar("SELECT count(*) FROM entries") == before


def test_parquet_fast_and_exact_paths_stage_the_same_text(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 5
    table = pa.table(
        {
            "key": pa.array([f"k{i}" for i in range(n)]).dictionary_encode(),
            "subject": pa.array(["C1", None, "O1", " C2", ""], pa.large_string()),
            "date": pa.array(
                [dt.datetime(2021, 2, 2, 4, 30, tzinfo=dt.UTC)] * n,
                pa.timestamp("us", "America/New_York"),
            ),
            "quantity": pa.array([2.5, -1.0, 1e300, math.nan, None], pa.float64()),
            "confidence": pa.array([0.1, 0.97, 1.0, None, 0.5], pa.float32()),
            "severity": pa.array([2, -7, None, 32767, 0], pa.int16()),
            "refers_to": pa.array([1, None, 2**40, 3, 4], pa.uint64()),
            "evidence": pa.array([True, False, None, True, False]),
            "act": pa.nulls(n),
            "level": pa.array(
                [
                    dt.date(2021, 1, 1),
                    None,
                    dt.date(1969, 12, 31),
                    dt.date(1, 1, 1),
                    dt.date(9999, 12, 31),
                ]
            ),
        }
    )
    path = tmp_path / "batch.parquet"
    pq.write_table(table, path, row_group_size=2)
    taken, rows, problems = both_ways(store, path, monkeypatch)
    assert taken and problems == []
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5]
    # line, key, subject, parameter, date, quantity, severity, confidence, counterpart,
    # evidence, kind, refers_to, act, level: as Python's str() writes each value
    assert rows[0] == (
        *(1, "k0", "C1", None, "2021-02-02", "2.5", "2", "0.10000000149011612", None),
        *("true", None, "1", None, "2021-01-01"),
    )
    assert [r[11] for r in rows] == ["1", None, str(2**40), "3", "4"]
    assert [r[13] for r in rows] == ["2021-01-01", None, "1969-12-31", "0001-01-01", "9999-12-31"]
    assert [r[5] for r in rows] == ["2.5", "-1.0", "1e+300", "nan", None]


@pytest.mark.parametrize(
    "column",
    [
        pa.array([dt.datetime(2021, 2, 3, 8, 0)], pa.timestamp("ms")),  # naive: UTC
        pa.array([dt.date(2021, 2, 3)], pa.date32()),
        pa.array(["2021-02-03"]),
    ],
    ids=["naive-timestamp", "date", "text"],
)
def test_parquet_dates_read_as_their_utc_day(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: pa.Array
) -> None:
    path = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"key": ["t1"], "date": column}), path)
    taken, rows, _problems = both_ways(store, path, monkeypatch)
    assert taken and rows[0][4] == "2021-02-03"


@pytest.mark.parametrize(
    "column",
    [
        pa.array([decimal.Decimal("2.50")], pa.decimal128(5, 2)),
        pa.array([b"x"], pa.binary()),
        pa.array([dt.datetime(2021, 2, 3, 8, 0)], pa.timestamp("us")),  # not in `date`
        pa.array([[1, 2]], pa.list_(pa.int64())),
    ],
    ids=["decimal", "binary", "timestamp", "list"],
)
def test_parquet_of_other_types_is_read_by_python(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, column: pa.Array
) -> None:
    path = tmp_path / "batch.parquet"
    pq.write_table(pa.table({"key": ["t1"], "evidence": column}), path)
    taken, rows, _problems = both_ways(store, path, monkeypatch)
    assert not taken
    assert rows[0][9] == str(column.to_pylist()[0])


# --- a batch in many chunks is still one batch ----------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_bad_row_in_the_last_chunk_stores_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    monkeypatch.setattr(readers_module, "CHUNK_ROWS", 4)
    rows = [
        {"key": f"k{i}", "subject": f"C{i % 9 + 1}", "parameter": "blood", "date": "2021-02-01"}
        for i in range(30)
    ]
    rows[-1] = {**rows[-1], "subject": "NOPE"}
    path = WRITERS[fmt](tmp_path / f"batch.{fmt}", rows)
    if fmt == "parquet":  # row groups of 4 rows, read one at a time by the exact path
        pq.write_table(pq.read_table(path), path, row_group_size=4)
        monkeypatch.setattr(readers_module, "_stage_parquet_fast", lambda *_args: False)
    if fmt == "csv":  # the csv module's reader, 4 rows at a time
        monkeypatch.setattr(readers_module, "scan_csv_layout", lambda _path: None)
    with pytest.raises(BatchRejected) as info:
        ingest_file(store, path, "police")
    line = {"csv": 31, "ndjson": 30, "parquet": 30}[fmt]
    assert [(p.line, p.field, p.reason) for p in info.value.problems] == [
        (line, "subject", "unknown subject 'NOPE'")
    ]
    assert store.scalar("SELECT count(*) FROM entries") == 1
    assert store.scalar("SELECT count(*) FROM batches WHERE rows > 0") == 1  # the activation


def test_repeated_key_chunks_apart(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers_module, "CHUNK_ROWS", 3)
    rows = [
        {"key": f"k{i}", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}
        for i in range(12)
    ]
    same = [*rows, rows[1]]  # line 3 again, on line 14: a duplicate, stored once
    result = ingest_file(store, write_ndjson(tmp_path / "same.ndjson", same), "police")
    assert (result.rows, result.stored, result.duplicates) == (13, 12, 1)
    other = [*rows, {**rows[1], "date": "2021-02-02"}]
    with pytest.raises(BatchRejected) as info:
        ingest_file(store, write_ndjson(tmp_path / "other.ndjson", other), "police")
    assert [(p.line, p.reason) for p in info.value.problems] == [
        (13, "key 'k1' repeats line 2 with different content"),
        (13, "key 'k1' was already used for entry 3 with different content"),
    ]


def test_ingest_table_numbers_entries_in_line_order(store: Store) -> None:
    keys = ["c", "a", "b"]
    cols: dict[str, list[str | None]] = {
        "key": keys,
        "subject": ["C1"] * 3,
        "parameter": ["blood"] * 3,
        "date": ["2021-02-01"] * 3,
    }
    ingest_table(store, staged_table(cols, [7, 2, 5]), "police", "t")
    assert store.rows("SELECT idem_key FROM entries WHERE kind = 1 ORDER BY entry_id") == [
        ("a",),
        ("b",),
        ("c",),
    ]


# --- memory ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [None, "100MB", "2GB"])
def test_memory_limit_is_restored(store: Store, tmp_path: Path, limit: str | None) -> None:
    if limit:
        store.run(f"SET memory_limit = '{limit}'")
    before = store.scalar("SELECT current_setting('memory_limit')")
    rows = [{"key": "m1", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}]
    ingest_file(store, write_csv(tmp_path / "batch.csv", rows), "police")
    with pytest.raises(BatchRejected):
        ingest_file(store, write_csv(tmp_path / "bad.csv", [{**rows[0], "key": ""}]), "police")
    assert store.scalar("SELECT current_setting('memory_limit')") == before


def test_a_batchs_memory_bound_grows_with_the_index_of_the_entries(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB keeps the index of entries by subject in memory while a batch adds to it and
    cannot spill it: the bound of a batch leaves room for it, or a large ledger's second
    large batch runs out of memory (seen at ten million entries)."""
    from socialrating.ledger import ingest

    monkeypatch.setattr(ingest, "_outside", lambda _store: 0)  # staging grows nothing here
    from socialrating.ledger.ingest import (
        INDEX_BYTES_PER_ENTRY,
        OUTSIDE_BYTES_PER_ROW,
        ingest_limit,
    )

    already = int(store.scalar("SELECT count(*) FROM entries"))  # the activation
    base = setting_bytes(ingest.INGEST_MEMORY) + already * INDEX_BYTES_PER_ENTRY
    assert setting_bytes(ingest_limit(store)) == base
    rows = [
        {"key": f"x{i}", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}
        for i in range(30)
    ]
    ingest_file(store, write_csv(tmp_path / "batch.csv", rows), "police")
    assert setting_bytes(ingest_limit(store)) == base + 30 * INDEX_BYTES_PER_ENTRY
    seen: list[str] = []
    original = store.run

    def spy(query: str, params: list[object] | None = None) -> None:
        if query.startswith("SET memory_limit"):
            seen.append(query)
        original(query, params)

    store.run = spy  # type: ignore[method-assign]
    try:
        ingest_file(store, write_csv(tmp_path / "more.csv", [{**rows[0], "key": "y"}]), "police")
    finally:
        store.run = original  # type: ignore[method-assign]
    # The bound for the ledger, then, once the file's one row is counted, less what a row
    # takes outside it.
    grown = base + 30 * INDEX_BYTES_PER_ENTRY
    assert seen == [
        f"SET memory_limit = '{int(grown)}B'",
        f"SET memory_limit = '{int(grown - OUTSIDE_BYTES_PER_ROW)}B'",
    ]


def test_batches_bounded_at_once_share_one_limit_with_room_for_each(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DuckDB's memory limit is one per database: two batches bounded at once, on cursors
    of their own (a simulation's senders), get the index once and each its own part of
    the bound; the limit falls back as each ends, to DuckDB's default after the last."""
    from socialrating.ledger import ingest

    monkeypatch.setattr(ingest, "_outside", lambda _store: 0)  # nothing grows outside here

    def limit() -> float:
        return setting_bytes(str(store.scalar("SELECT current_setting('memory_limit')")))

    default = limit()
    index = ingest._index_bytes(store)
    one, two = store.cursor(), store.cursor()
    a, b = ingest.ingest_limit(one, 100_000), ingest.ingest_limit(two, 10_000)
    with ingest.bounded_memory(one, a):
        assert limit() == pytest.approx(setting_bytes(a), rel=1e-3)
        with ingest.bounded_memory(two, b):
            both = index + (setting_bytes(a) - index) + (setting_bytes(b) - index)
            assert limit() == pytest.approx(both, rel=1e-3)
        assert limit() == pytest.approx(setting_bytes(a), rel=1e-3)
        with ingest.bounded_memory(two, b) as for_rows:
            for_rows(1_000_000)  # counted: this batch's part shrinks by its rows
            smaller = setting_bytes(ingest.ingest_limit(two, 1_000_000))
            assert limit() == pytest.approx(setting_bytes(a) + smaller - index, rel=1e-3)
    assert limit() == default
    assert ingest._BOUNDS == {}


def test_a_batchs_memory_bound_shrinks_with_its_rows_down_to_a_floor(store: Store) -> None:
    """What a batch's rows take outside DuckDB's bound (the new rows' index) comes off
    the bound, so the process stays near one size whatever the batch's size; a batch of
    many millions of rows gets the floor."""
    from socialrating.ledger import ingest
    from socialrating.ledger.ingest import (
        INDEX_BYTES_PER_ENTRY,
        MIN_INGEST_MEMORY,
        OUTSIDE_BYTES_PER_ROW,
        ingest_limit,
    )

    already = int(store.scalar("SELECT count(*) FROM entries"))
    base = setting_bytes(ingest.INGEST_MEMORY) + already * INDEX_BYTES_PER_ENTRY
    assert setting_bytes(ingest_limit(store, 1_000_000)) == base - 1_000_000 * OUTSIDE_BYTES_PER_ROW
    assert setting_bytes(ingest_limit(store, 10**9)) == setting_bytes(MIN_INGEST_MEMORY)


def test_what_staging_left_outside_duckdb_comes_off_the_bound(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the estimate per row, what the process grew outside DuckDB while staging (a
    large NDJSON file parsed by Python) lowers the bound of the batch's checks."""
    from socialrating.ledger import ingest

    base = setting_bytes(ingest.ingest_limit(store, 1000))
    assert setting_bytes(ingest.ingest_limit(store, 1000, outside=1000)) == base  # under it
    assert setting_bytes(ingest.ingest_limit(store, 1000, outside=64_000_000)) == (
        base + 1000 * ingest.OUTSIDE_BYTES_PER_ROW - 64_000_000
    )
    measured = ingest._outside(store)  # on Linux: the process's own, in bytes
    assert measured is not None and measured > 10_000_000
    outside = iter([100_000_000, 190_000_000])  # before staging, then after: 90 MB more
    monkeypatch.setattr(ingest, "_outside", lambda _store: next(outside))
    set_to: list[str] = []
    real = ingest.ingest_limit
    monkeypatch.setattr(
        ingest,
        "ingest_limit",
        lambda s, rows=0, outside=0: set_to.append(real(s, rows, outside)) or set_to[-1],
    )
    rows = [{"key": "k1", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}]
    ingest_file(store, write_ndjson(tmp_path / "one.ndjson", rows), "police")
    # The bound the checks ran under: 90 MB (less the estimate for one row) lower.
    lowered = setting_bytes(real(store, 1)) - setting_bytes(set_to[-1])
    assert 90_000_000 - 100 <= lowered <= 90_000_000


def test_staging_holds_only_the_columns_some_row_fills(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty text column costs DuckDB 16 bytes a row: the staged table holds a column
    once a chunk fills it (the rows before it null), and the rows read the same."""
    monkeypatch.setattr(readers_module, "CHUNK_ROWS", 2)
    rows: list[dict[str, Any]] = [
        {"key": f"k{i}", "subject": "C1", "parameter": "blood", "date": "2021-02-01"}
        for i in range(5)
    ]
    rows[3]["evidence"] = "seen"  # first filled in the second chunk
    stage_file(store.con, write_ndjson(tmp_path / "late.ndjson", rows))
    try:
        held = {r[0] for r in store.rows("SELECT column_name FROM (DESCRIBE staged_rows)")}
        assert held == {"line", "key", "subject", "parameter", "date", "evidence"}
        staged = store.rows("SELECT pos, line, key, evidence, severity FROM staged_batch")
        assert staged == [
            (0, 1, "k0", None, None),
            (1, 2, "k1", None, None),
            (2, 3, "k2", None, None),
            (3, 4, "k3", "seen", None),
            (4, 5, "k4", None, None),
        ]
        assert [c for c in store.con.sql("FROM staged_batch LIMIT 0").columns] == [
            "pos",
            "line",
            *COLUMNS,
            "batch",
            "plain",
        ]
    finally:
        drop_staged(store.con)
    result = ingest_file(store, write_ndjson(tmp_path / "late.ndjson", rows), "police")
    assert result.stored == 5
    assert store.scalar("SELECT count(*) FROM entries WHERE evidence = 'seen'") == 1


def test_a_small_batch_in_memory_is_ingested_without_lowering_the_limit(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service's or a simulation's many small batches, handed over as tables, do not pay
    for setting DuckDB's memory limit and putting it back; a larger one is bounded."""
    from socialrating.ledger import ingest

    monkeypatch.setattr(ingest, "SMALL_BATCH_ROWS", 2)
    seen: list[str] = []
    original = store.run

    def spy(query: str, params: list[object] | None = None) -> None:
        if query.startswith(("SET memory_limit", "RESET memory_limit")):
            seen.append(query.split(" =")[0])
        original(query, params)

    def batch(keys: list[str]) -> IngestResult:
        cols = {
            "key": keys,
            "subject": ["C1"] * len(keys),
            "parameter": ["blood"] * len(keys),
            "date": ["2021-02-01"] * len(keys),
        }
        return ingest_table(store, staged_table(cols, list(range(2, len(keys) + 2))), "police", "t")

    monkeypatch.setattr(store, "run", spy)
    assert batch(["s1", "s2"]).stored == 2
    assert seen == []
    assert batch(["b1", "b2", "b3"]).stored == 3
    assert seen == ["SET memory_limit", "RESET memory_limit"]
