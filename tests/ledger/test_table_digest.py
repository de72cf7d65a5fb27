"""The digest of a table's rows (``table_digest``): the same whatever order the rows are
stored in, different after any edit, by either method; and a ledger whose digests were
made by the earlier method verifies after the upgrade, by that method."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from tests.ledgers import cli_ledger

from socialrating.ledger import integrity, open_store
from socialrating.ledger import table_digest as td
from socialrating.ledger.store import SCHEMA_VERSION, Store
from socialrating.scoring import score_run

COLUMNS = """subject_id BIGINT, n INTEGER, t VARCHAR, d DATE, ts TIMESTAMP, x DOUBLE,
             ok BOOLEAN, ids BIGINT[], b BLOB, m DECIMAL(9, 2)"""

ROWS = [
    "(1, 7, 'ab', DATE '2021-01-02', TIMESTAMP '2021-01-02 03:04:05', 1.5, true, [1, 2], "
    "'\\x00\\x01'::BLOB, 1.25)",
    "(2, NULL, '', NULL, NULL, NULL, NULL, [], NULL, NULL)",
    "(2, 0, NULL, DATE '1969-12-31', TIMESTAMP '1970-01-01', -0.5, false, NULL, ''::BLOB, 0)",
    "(9, 3, 'c|d', DATE '2040-02-29', NULL, 2.0, true, [NULL, 3], 'x'::BLOB, -3.5)",
    "(NULL, 5, 'no subject', NULL, NULL, NULL, NULL, [4], NULL, NULL)",
    "(NULL, 4, 'nor this one', NULL, NULL, 0.25, NULL, NULL, NULL, NULL)",
    "(-3, 6, 'below zero', NULL, NULL, NULL, NULL, [5], NULL, NULL)",
]

EDITS = [
    "UPDATE t SET n = 8 WHERE n = 7",
    "UPDATE t SET n = 0 WHERE n IS NULL",  # NULL is not 0
    "UPDATE t SET t = NULL WHERE t = ''",  # NULL is not empty
    "UPDATE t SET t = 'a' WHERE t = 'ab'",
    "UPDATE t SET d = DATE '2021-01-03' WHERE n = 7",
    "UPDATE t SET ts = ts + INTERVAL 1 MICROSECOND WHERE n = 7",
    "UPDATE t SET x = 1.5000001 WHERE n = 7",
    "UPDATE t SET ok = NOT ok WHERE n = 7",
    "UPDATE t SET ids = [2, 1] WHERE n = 7",  # a list's order counts
    "UPDATE t SET ids = [NULL] WHERE n = 0 OR ids = []",
    "UPDATE t SET b = 'x'::BLOB WHERE n = 0",
    "UPDATE t SET m = 1.26 WHERE n = 7",
    "UPDATE t SET subject_id = 3 WHERE n = 7",
    "UPDATE t SET subject_id = 1 WHERE subject_id IS NULL",  # the row without a subject
    "UPDATE t SET subject_id = -1 WHERE subject_id = -3",  # within its block
    "DELETE FROM t WHERE n = 3",
    "DELETE FROM t WHERE subject_id IS NULL",
    "INSERT INTO t SELECT * FROM t WHERE n = 3",  # a row twice
]


def _store(rows: list[str], order: str = "") -> Store:
    store = open_store(":memory:", create=True)
    store.run(f"CREATE TABLE t ({COLUMNS})")
    store.run(f"CREATE TABLE staged ({COLUMNS})")
    store.run(f"INSERT INTO staged VALUES {', '.join(rows)}")
    store.run(f"INSERT INTO t SELECT * FROM staged {order}")
    return store


@pytest.mark.parametrize("method", [td.COLUMNS, td.ROWS])
def test_the_same_rows_in_any_order_have_one_digest(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(td, "CHUNK_BITS", 2)  # subjects -3, 1, 2, 9 in blocks -4, 0, 8
    digests = set()
    for order in ("", "ORDER BY subject_id DESC NULLS FIRST", "ORDER BY t", "ORDER BY x DESC"):
        with _store(ROWS, order) as store:
            found = td.table_digest(store, "t", method=method)
            assert found.rows == len(ROWS)
            digests.add(found.digest)
    assert len(digests) == 1


@pytest.mark.parametrize("method", [td.COLUMNS, td.ROWS])
@pytest.mark.parametrize("edit", EDITS)
def test_any_edit_changes_the_digest(
    method: str, edit: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(td, "CHUNK_BITS", 2)
    with _store(ROWS) as store:
        before = td.table_digest(store, "t", method=method)
        store.run(edit)
        assert td.table_digest(store, "t", method=method) != before


def test_text_cannot_move_between_columns_or_rows() -> None:
    """Lengths come before texts: "ab" and "c" are not "a" and "bc", in one row or two."""
    found = set()
    for rows in (
        ["(1, 1, 'ab', NULL, NULL, NULL, NULL, NULL, 'c'::BLOB, NULL)"],
        ["(1, 1, 'a', NULL, NULL, NULL, NULL, NULL, 'bc'::BLOB, NULL)"],
        [
            "(1, 1, 'ab', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            "(1, 1, 'c', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        ],
        [
            "(1, 1, 'a', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            "(1, 1, 'bc', NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
        ],
    ):
        with _store(rows) as store:
            found.add(td.table_digest(store, "t").digest)
    assert len(found) == 4


def test_blocks_of_subjects_give_the_digest_of_one_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the block size, the rows and their count are all there: a block boundary
    moves no row out (each block's first id is digested, so the digests differ)."""
    with _store(ROWS) as store:
        whole = td.table_digest(store, "t")
        monkeypatch.setattr(td, "CHUNK_BITS", 1)
        small = td.table_digest(store, "t")
        assert whole.rows == small.rows == len(ROWS)
        store.run("DELETE FROM t WHERE subject_id = 9")
        assert td.table_digest(store, "t").rows == len(ROWS) - 1


@pytest.mark.parametrize(
    ("bits", "digest"),
    [
        (20, "bfd40ede4a8d0fd13baca7fe2862b9426f5b3829330aacd55c47ff87978c4026"),
        (2, "a712ce5fa354e7ecceab33ccfe829db43f2f01e5d7dcde7c38a083e3856311f3"),
    ],
)
def test_the_digest_of_known_rows_does_not_change(
    bits: int, digest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Digests recorded years ago are checked by today's code: the encoding is pinned
    (each value type, nulls inside and outside lists, blocks)."""
    monkeypatch.setattr(td, "CHUNK_BITS", bits)
    with _store(ROWS) as store:
        assert td.table_digest(store, "t") == td.Digest(len(ROWS), digest)


UNIQUE = [ROWS[0], ROWS[2], ROWS[3], ROWS[6]]  # subjects 1, 2, 9, -3: no key twice, none null


@pytest.mark.parametrize("rows", [ROWS, UNIQUE], ids=["keys-repeated", "keys-unique"])
@pytest.mark.parametrize("key", [1, 2])
@pytest.mark.parametrize("stored", [True, False], ids=["stored-in-order", "sorted-by-key"])
def test_rows_read_by_their_key_have_the_digest_of_every_column_sorted(
    rows: list[str], key: int, stored: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A table with a key (``KEYS``) is read in its key's order, or as stored, and checked;
    where keys repeat or rows are out of order it is read again sorted by every column.
    Either way the digest is the one of ``ORDER BY ALL``."""
    monkeypatch.setattr(td, "CHUNK_BITS", 2)
    reads: list[str] = []
    for order in ("ORDER BY subject_id, n", "ORDER BY subject_id DESC NULLS FIRST", "ORDER BY t"):
        with _store(rows, order) as store:
            monkeypatch.setattr(td, "KEYS", {})
            reference = td.table_digest(store, "t")
            monkeypatch.setattr(td, "KEYS", {"t": key})
            monkeypatch.setattr(td, "STORED_IN_ORDER", {"t"} if stored else set())
            arrow = store.arrow
            monkeypatch.setattr(
                store, "arrow", lambda q, p=None, arrow=arrow: reads.append(q) or arrow(q, p)
            )
            assert td.table_digest(store, "t") == reference
    sorted_by_all = [q for q in reads if q.endswith("ORDER BY ALL")]
    if rows is UNIQUE:  # never sorted by every column: in order as stored, or by the key
        assert not sorted_by_all
        assert any("ORDER BY" not in q for q in reads) == stored
    else:  # subject 2 twice: its block is read again sorted by every column
        assert sorted_by_all


def test_an_unknown_method_is_refused() -> None:
    with _store(ROWS) as store, pytest.raises(integrity.LedgerError, match="unknown digest method"):
        td.table_digest(store, "t", method="crc32")


def test_digests_made_before_format_12_verify_by_their_method(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A format-11 ledger (every digest made by ``ROWS``, naming no method) is upgraded
    when opened, verifies, and still names an edit of a run or a registry; the digests
    recorded after the upgrade name ``COLUMNS``, and a run from before is carried over."""
    with monkeypatch.context() as m:
        m.setattr(integrity, "METHOD", td.ROWS)
        db = cli_ledger(tmp_path, scored=("2021-05-31",))
    con = duckdb.connect(db)
    assert con.execute("SELECT count(*) FROM batches WHERE rows = 0").fetchall()[0][0] > 0
    named = "SELECT count(*) FROM batches WHERE rows = 0 AND contains(source, 'method')"
    assert con.execute(named).fetchall()[0][0] == 0
    con.execute("UPDATE meta SET value = '11' WHERE key = 'schema'")
    con.close()
    with open_store(db) as store:
        assert store.scalar("SELECT value FROM meta WHERE key = 'schema'") == SCHEMA_VERSION
        assert integrity.verify_integrity(store).ok
        later = score_run(store, dt.date(2021, 6, 30))
        assert later.incremental["base_run"] == 1  # the run from before, checked by ROWS
        recorded = integrity.recorded_runs(store)
        assert integrity.method_of(recorded[1][1]) == td.ROWS
        assert integrity.method_of(recorded[later.run_id][1]) == td.COLUMNS
        # The rulebook's compiled tables, checked by ROWS and found intact, are recorded
        # again by COLUMNS (a note appended), so the next run checks them by that.
        (rulebook,) = integrity.recorded_compiled(store)
        assert integrity.method_of(integrity.recorded_compiled(store)[rulebook][1]) == td.COLUMNS
        notes = store.scalar("SELECT count(*) FROM batches WHERE rows = 0")
        score_run(store, dt.date(2021, 7, 1))
        assert store.scalar("SELECT count(*) FROM batches WHERE rows = 0") == notes + 1  # the run
        assert integrity.verify_integrity(store).ok
    con = duckdb.connect(db)
    con.execute("UPDATE snapshot SET score = score + 1 WHERE run_id = 1")
    con.execute("UPDATE subjects SET region = 'elsewhere' WHERE code = 'c1'")
    con.close()
    with open_store(db, read_only=True) as store:
        problems = [p.what for p in integrity.verify_integrity(store).problems]
    assert sorted(problems) == ["run 1", "subjects"]


def test_an_edited_rulebook_recorded_before_format_12_is_refused_not_recorded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run records a rulebook's compiled tables again by today's method only once it has
    found them to match what the earlier method recorded: edited, they are refused, and
    the ledger keeps the earlier record alone."""
    with monkeypatch.context() as m:
        m.setattr(integrity, "METHOD", td.ROWS)
        db = cli_ledger(tmp_path, scored=("2021-05-31",))
    con = duckdb.connect(db)
    con.execute("UPDATE meta SET value = '11' WHERE key = 'schema'")
    con.execute("UPDATE rulebook_parameters SET points = points - 1 WHERE points < 0")
    con.close()
    with open_store(db) as store:
        notes = store.scalar("SELECT count(*) FROM batches WHERE rows = 0")
        with pytest.raises(integrity.IntegrityError, match="rulebook_parameters of rulebook"):
            score_run(store, dt.date(2021, 6, 30))
        assert store.scalar("SELECT count(*) FROM batches WHERE rows = 0") == notes
        (found,) = integrity.recorded_compiled(store).values()
        assert integrity.method_of(found[1]) == td.ROWS
