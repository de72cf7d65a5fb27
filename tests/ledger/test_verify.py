"""Verifying the ledger: a clean one is ok, and each kind of tampering names its entry.

The ledger built here: entry 1 activates the tiny rulebook; batch ``B["first"]`` holds
entries 2, 3, 4 and the last batch, ``B["second"]``, holds entries 5, 6 (the other batches
hold no entry: they record digests of the registries and the compiled rulebook). Each tampering is done the way an
intruder would: with a separate DuckDB connection to the file, after the store is closed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from tests.conftest import feed, rec
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.errors import LedgerError
from socialrating.ledger import Store, open_store
from socialrating.ledger.digests import as_hex, payload_digest_sql, row_digest_sql, stored
from socialrating.ledger.store import SCHEMA_VERSION
from socialrating.ledger.verify import VerifyReport, verify_ledger

B: dict[str, int] = {}
"""The ledger's batch ids (``ledger`` sets them)."""


@pytest.fixture
def ledger(store: Store) -> Iterator[Path]:
    """The path of a closed ledger whose batches ``B["first"]`` (entries 2-4) and
    ``B["second"]`` (5-6, the last) hold the records."""
    first = feed(
        store,
        "police",
        [
            rec("C1", "blood", "2021-02-01"),
            rec("C2", "blood", "2021-02-02"),
            rec("C3", "volunteer_hours", "2021-02-03", quantity=4),
        ],
    )
    second = feed(
        store, "police", [rec("C4", "blood", "2021-02-01"), rec("C5", "hero", "2021-02-02")]
    )
    assert first.batch is not None and second.batch is not None
    assert (first.batch.first_entry, first.batch.last_entry) == (2, 4)
    assert (second.batch.first_entry, second.batch.last_entry) == (5, 6)
    B.update(
        first=first.batch.batch_id,
        second=second.batch.batch_id,
        total=int(store.scalar("SELECT count(*) FROM batches")),
    )
    assert B["second"] == B["first"] + 1 == B["total"]
    store.close()
    yield Path(store.path)


def tamper(path: Path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for sql in statements:
            con.execute(sql)
    finally:
        con.close()


def verify(path: Path) -> VerifyReport:
    with open_store(path) as store:
        return verify_ledger(store)


def reasons(report: VerifyReport) -> list[tuple[int, str]]:
    return [(f.entry_id, f.reason) for f in report.findings]


def test_clean_ledger_is_ok(ledger: Path) -> None:
    report = verify(ledger)
    assert report.ok
    assert (report.entries, report.batches, report.first, report.findings) == (
        6,
        B["total"],
        None,
        [],
    )
    with open_store(ledger) as store:
        assert report.head == store.scalar(
            "SELECT digest FROM batches WHERE batch_id = ?", [B["second"]]
        )
    assert report.as_dict()["first_broken"] is None


def test_edited_quantity_names_that_entry(ledger: Path) -> None:
    tamper(ledger, "UPDATE entries SET quantity = 40 WHERE entry_id = 4")
    report = verify(ledger)
    assert not report.ok
    assert report.first is not None
    assert (report.first.entry_id, report.first.batch_id) == (4, B["first"])
    assert reasons(report) == [(4, "edited: its content no longer matches its digest")]


def test_edited_subject_names_that_entry(ledger: Path) -> None:
    tamper(ledger, "UPDATE entries SET subject_id = 9 WHERE entry_id = 3")
    report = verify(ledger)
    assert report.as_dict()["first_broken"] == 3
    assert [f.entry_id for f in report.findings] == [3]


def test_edited_arrival_time_names_that_entry(ledger: Path) -> None:
    tamper(ledger, "UPDATE entries SET arrived_at = arrived_at - INTERVAL 1 DAY WHERE entry_id = 5")
    report = verify(ledger)
    assert reasons(report) == [
        (5, "edited: its number, batch or arrival time no longer matches its digest")
    ]


def test_edit_with_recomputed_digests_is_caught_by_the_batch(ledger: Path) -> None:
    row_as_stored = stored(row_digest_sql(payload=as_hex("payload_digest")))
    tamper(
        ledger,
        "UPDATE entries SET quantity = 40 WHERE entry_id = 4",
        f"UPDATE entries SET payload_digest = {stored(payload_digest_sql())} WHERE entry_id = 4",
        f"UPDATE entries SET row_digest = {row_as_stored} WHERE entry_id = 4",
    )
    with open_store(ledger) as store:  # the row itself now looks consistent
        assert store.scalar("SELECT quantity FROM entries WHERE entry_id = 4") == 40
        assert (
            store.scalar(
                "SELECT count(*) FROM entries WHERE payload_digest <> "
                f"{stored(payload_digest_sql())} OR row_digest <> {row_as_stored}"
            )
            == 0
        )
    report = verify(ledger)
    assert not report.ok
    # The batch's digest over its rows names the batch, by its first entry.
    assert report.first is not None
    assert (report.first.entry_id, report.first.batch_id) == (2, B["first"])
    assert reasons(report) == [(2, "row digests of this batch were rewritten or reordered")]


def test_deleted_entry_is_named(ledger: Path) -> None:
    tamper(ledger, "DELETE FROM entries WHERE entry_id = 3")
    report = verify(ledger)
    assert report.as_dict()["first_broken"] == 3
    assert reasons(report)[0] == (3, "deleted: this entry is missing")
    # Its batch no longer adds up either.
    assert (2, "batch holds 2 entries, its digest says 3") in reasons(report)


def test_deleted_last_entry_is_named(ledger: Path) -> None:
    # No gap is left in the numbering: only the batch knows entry 6 existed.
    tamper(ledger, "DELETE FROM entries WHERE entry_id = 6")
    report = verify(ledger)
    assert report.as_dict()["first_broken"] == 6
    assert reasons(report)[0] == (6, "deleted: this entry is missing")
    assert (5, "batch holds 1 entries, its digest says 2") in reasons(report)


def test_inserted_entry_beyond_its_batch_is_named(ledger: Path) -> None:
    tamper(
        ledger,
        "INSERT INTO entries SELECT * REPLACE (7 AS entry_id) FROM entries WHERE entry_id = 6",
    )
    report = verify(ledger)
    assert report.as_dict()["first_broken"] == 7
    assert (7, "inserted: outside the entries its batch holds") in reasons(report)
    assert (5, "batch holds 3 entries, its digest says 2") in reasons(report)


def test_inserted_copy_with_a_used_number_is_named(ledger: Path) -> None:
    tamper(ledger, "INSERT INTO entries SELECT * FROM entries WHERE entry_id = 3")
    report = verify(ledger)
    assert report.as_dict()["first_broken"] == 3
    assert (3, "inserted: entry number used 2 times") in reasons(report)


def test_edited_batch_digest_breaks_the_chain(ledger: Path) -> None:
    tamper(
        ledger, "UPDATE batches SET digest = repeat('0', 64) WHERE batch_id = " + str(B["first"])
    )
    report = verify(ledger)
    assert reasons(report) == [
        (2, "batch record edited: its digest does not match"),
        (5, "chain broken: does not follow the batch before"),
    ]
    assert [f.batch_id for f in report.findings] == [B["first"], B["second"]]
    assert report.as_dict()["first_broken"] == 2


def test_edited_batch_row_count_is_named(ledger: Path) -> None:
    tamper(
        ledger, "UPDATE batches SET rows = 2, last_entry = 3 WHERE batch_id = " + str(B["first"])
    )
    report = verify(ledger)
    assert report.as_dict()["first_broken"] == 4
    assert (4, "inserted: outside the entries its batch holds") in reasons(report)
    assert (2, "batch record edited: its digest does not match") in reasons(report)


# --- the CLI ------------------------------------------------------------------------------


def test_cli_verify_exits_0_on_a_clean_ledger(ledger: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["verify", "--db", str(ledger)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"ok: 6 entries in {B['total']} batches; head ")
    result = runner.invoke(app, ["verify", "--db", str(ledger), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["entries"], doc["batches"], doc["first_broken"]) == (
        True,
        6,
        B["total"],
        None,
    )


def test_cli_verify_exits_1_on_a_broken_ledger(ledger: Path) -> None:
    tamper(ledger, "UPDATE entries SET quantity = 40 WHERE entry_id = 4")
    runner = CliRunner()
    result = runner.invoke(app, ["verify", "--db", str(ledger)])
    assert result.exit_code == 1
    assert "first broken entry 4" in result.stdout
    assert f"entry 4 (batch {B['first']}): edited: its content no longer matches its digest" in (
        result.stdout
    )
    result = runner.invoke(app, ["verify", "--db", str(ledger), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["first_broken"]) == (False, 4)
    assert doc["findings"] == [
        {
            "entry_id": 4,
            "batch_id": B["first"],
            "reason": "edited: its content no longer matches its digest",
        }
    ]


def test_shifting_text_between_fields_is_detected(store: Store) -> None:
    # Two reports, and a verification whose evidence ends in '|' and a digit: with a plain
    # separator, moving the boundary between evidence, refers_to and the key kept the digest.
    reports = feed(
        store,
        "hotline",
        [
            rec("C1", "rumour", "2021-02-01", counterpart="C2"),
            rec("C1", "rumour", "2021-02-02", counterpart="C3"),
        ],
    )
    assert reports.batch is not None
    feed(
        store,
        "police",
        [
            {
                "kind": "verification",
                "refers_to": 3,
                "evidence": "memo|2",
                "key": "v1",
                "date": "2021-02-05",
            }
        ],
    )
    path = Path(store.path)
    store.close()
    tamper(
        path,
        "UPDATE entries SET evidence = 'memo', refers_to = 2, idem_key = '3|v1' WHERE kind = 2",
    )
    report = verify(path)
    assert not report.ok
    assert report.first is not None and report.first.entry_id == 4
    assert "edited" in report.first.reason


def test_edited_batch_source_breaks_the_chain(ledger: Path) -> None:
    tamper(ledger, "UPDATE batches SET source = 'forged.csv' WHERE batch_id = " + str(B["first"]))
    report = verify(ledger)
    assert not report.ok
    assert reasons(report)[0] == (2, "batch record edited: its digest does not match")


def test_deleted_last_batch_is_caught_by_a_published_head(ledger: Path) -> None:
    head = verify(ledger).head
    tamper(
        ledger,
        f"DELETE FROM entries WHERE batch_id = {B['second']}",
        f"DELETE FROM batches WHERE batch_id = {B['second']}",
    )
    assert verify(ledger).ok  # intact in itself: only the published head shows the loss
    with open_store(ledger) as store:
        report = verify_ledger(store, expected_head=head)
    assert not report.ok
    assert report.first is None and report.head_found is False
    assert report.head_problem is not None
    assert "batches were deleted from its end" in report.head_problem
    result = CliRunner().invoke(app, ["verify", "--db", str(ledger), "--head", head[:16], "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["first_broken"], doc["head_found"]) == (False, None, False)
    result = CliRunner().invoke(app, ["verify", "--db", str(ledger), "--head", head[:16]])
    assert result.exit_code == 1
    assert f"the head digest {head[:16]} is not in this ledger (4 entries" in result.stdout
    assert "first broken entry" not in result.stdout


def test_a_database_of_another_ledger_format_is_refused(ledger: Path) -> None:
    tamper(ledger, "UPDATE meta SET value = '1' WHERE key = 'schema'")
    with pytest.raises(LedgerError, match="ledger format 1"):
        open_store(ledger)
    with pytest.raises(LedgerError, match="start a new database"):
        open_store(ledger, create=True)


def test_a_database_of_format_6_is_upgraded_in_place(ledger: Path) -> None:
    """Format 7 only adds the contagion columns to snapshots: a format-6 ledger keeps its
    entries (and verifies), its old snapshot rows read 0, and new runs fill them."""
    import datetime as dt

    from socialrating.scoring import score_run

    with open_store(ledger) as store:
        score_run(store, dt.date(2021, 6, 1))
    tamper(
        ledger,
        "ALTER TABLE snapshot DROP COLUMN contagion",
        "ALTER TABLE snapshot DROP COLUMN contagion_contacts",
        "UPDATE meta SET value = '6' WHERE key = 'schema'",
    )
    with pytest.raises(LedgerError, match="ledger format 6"):
        open_store(ledger, read_only=True)  # a reader cannot upgrade it
    with open_store(ledger, create=True) as store:  # as `init` and `demo` open it
        assert store.scalar("SELECT value FROM meta WHERE key = 'schema'") == SCHEMA_VERSION
        nullable = store.rows(
            """SELECT column_name, is_nullable FROM information_schema.columns
               WHERE table_name = 'snapshot' AND column_name LIKE 'contagion%'"""
        )
        assert sorted(nullable) == [("contagion", "NO"), ("contagion_contacts", "NO")]
    with open_store(ledger) as store:
        rows = store.scalar("SELECT count(*) FROM snapshot")
        assert rows > 0
        assert store.scalar("SELECT count(*) FROM snapshot WHERE contagion = 0") == rows
        assert verify_ledger(store).ok
        run = score_run(store, dt.date(2021, 6, 2))
        assert (
            store.scalar(
                "SELECT count(*) FROM snapshot WHERE run_id = ? AND contagion = 0", [run.run_id]
            )
            == run.subjects
        )


def test_a_database_of_format_7_is_upgraded_in_place(ledger: Path) -> None:
    """Format 8 keeps parameter names; a format-7 ledger gains the column, and statements
    of rulebooks installed before show codes where there is no name."""
    import datetime as dt

    from socialrating.scoring import statement

    tamper(
        ledger,
        "ALTER TABLE rulebook_parameters DROP COLUMN name",
        "UPDATE meta SET value = '7' WHERE key = 'schema'",
    )
    with open_store(ledger) as store:
        assert store.scalar("SELECT value FROM meta WHERE key = 'schema'") == SCHEMA_VERSION
        assert verify_ledger(store).ok
        st = statement(store, "C1", dt.date(2021, 6, 1))
        assert st.lines and all(line.name is None for line in st.lines)


AS_FORMAT_10 = (
    "DROP INDEX entries_subject",
    "CREATE TABLE hex_entries AS SELECT * EXCLUDE (payload_digest, row_digest), "
    "lower(hex(payload_digest)) AS payload_digest, lower(hex(row_digest)) AS row_digest "
    "FROM entries ORDER BY entry_id",
    "DROP TABLE entries",
    "ALTER TABLE hex_entries RENAME TO entries",
    "CREATE INDEX entries_subject ON entries (subject_id)",
)
"""The entries as format 10 stored them: digests as hex text (the schema's version apart)."""


def test_a_database_of_format_10_stores_the_same_digests_as_bytes(ledger: Path) -> None:
    """Format 11 stores the entries' digests as their 32 bytes: a format-10 ledger (hex
    text) is rewritten in place with every digest the same, in entry order, verifies, and
    takes new batches chained on; the tampering it had is still found."""
    digests = f"entry_id, {as_hex('payload_digest')}, {as_hex('row_digest')}"
    with open_store(ledger) as store:
        before = store.rows(f"SELECT {digests} FROM entries ORDER BY entry_id")
    tamper(ledger, *AS_FORMAT_10, "UPDATE meta SET value = '10' WHERE key = 'schema'")
    with pytest.raises(LedgerError, match="ledger format 10"):
        open_store(ledger, read_only=True)  # a reader cannot upgrade it
    with open_store(ledger) as store:
        assert store.scalar("SELECT value FROM meta WHERE key = 'schema'") == SCHEMA_VERSION
        types = store.rows(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_name = 'entries' AND column_name LIKE '%digest'"""
        )
        assert sorted(types) == [("payload_digest", "BLOB"), ("row_digest", "BLOB")]
        assert store.rows(f"SELECT {digests} FROM entries ORDER BY entry_id") == before
        stored_order = [e for (e,) in store.rows("SELECT entry_id FROM entries")]
        assert stored_order == sorted(stored_order)
        assert verify_ledger(store).ok
        added = feed(store, "police", [rec("C6", "blood", "2021-03-01")])
        assert added.batch is not None and added.batch.first_entry == 7
        assert verify_ledger(store).ok
    tamper(ledger, "UPDATE entries SET day = day + 1 WHERE entry_id = 3")
    assert reasons(verify(ledger)) == [(3, "edited: its content no longer matches its digest")]


def test_a_digest_edited_into_no_digest_is_still_found_after_the_upgrade(ledger: Path) -> None:
    """A format-10 ledger whose row digest was edited into text that is no digest is
    upgraded all the same (that text kept as bytes), and verify names the entry."""
    tamper(
        ledger,
        *AS_FORMAT_10,
        "UPDATE entries SET row_digest = 'not a digest' WHERE entry_id = 5",
        "UPDATE meta SET value = '10' WHERE key = 'schema'",
    )
    report = verify(ledger)  # opened for writing: upgraded first
    assert (5, "edited: its number, batch or arrival time no longer matches its digest") in (
        reasons(report)
    )
    with open_store(ledger) as store:
        assert store.scalar("SELECT row_digest FROM entries WHERE entry_id = 5") == b"not a digest"
