"""Several batches ingested at once (``ingest_tables``): typed, checked and appended as a
group, each batch all of its rows or none, as if they had been ingested one after the
other; each institution's rules (what it may report, its class) hold for its own rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from socialrating.errors import BatchRejected, LedgerError
from socialrating.ledger import Store, activate_rulebook, open_store, register_subjects
from socialrating.ledger.ingest import IngestResult, groups, ingest_table, ingest_tables
from socialrating.ledger.readers import staged_table
from socialrating.ledger.verify import verify_ledger
from socialrating.rulebook import Rulebook


def _table(rows: list[dict[str, Any]]) -> pa.Table:
    names = sorted({k for r in rows for k in r})
    cols = {n: [None if r.get(n) is None else str(r[n]) for r in rows] for n in names}
    return staged_table(cols, list(range(2, len(rows) + 2)))


def _rec(
    key: str, subject: str, parameter: str, date: str = "2021-02-01", **extra: Any
) -> dict[str, Any]:
    return {"key": key, "subject": subject, "parameter": parameter, "date": date, **extra}


def _new_store(path: Path, rb: Rulebook) -> Store:
    s = open_store(path, create=True)
    activate_rulebook(s, rb)
    codes = [f"C{i}" for i in range(1, 10)] + ["O1"]
    register_subjects(s, pa.table({"code": codes, "kind": ["citizen"] * 9 + ["organisation"]}))
    return s


BATCHES: list[tuple[str, list[dict[str, Any]], str]] = [
    ("police", [_rec("p1", "C1", "blood"), _rec("p2", "C2", "red_light")], "police-1"),
    ("bank", [_rec("b1", "C3", "loan_default")], "bank-1"),
    ("cams", [_rec("c1", "C4", "speeding", confidence="0.99"), _rec("c2", "C5", "litter", confidence="0.5")], "cams-1"),
    ("court", [_rec("t1", "O1", "late_tax", quantity="3")], "court-1"),
    ("hotline", [_rec("h1", "C6", "rumour", counterpart="C7")], "hotline-1"),
]  # fmt: skip


def _stored(store: Store) -> list[tuple[Any, ...]]:
    """What the ledger holds, but for the moment each batch arrived (and the digests that
    cover it)."""
    return store.rows(
        """SELECT e.entry_id, e.batch_id, e.kind, e.institution_id, e.parameter_id,
                  e.subject_id, e.day, e.quantity, e.confidence, e.counterpart_id,
                  e.idem_key, e.payload_digest, b.source, b.rows, b.first_entry, b.last_entry
           FROM entries e JOIN batches b USING (batch_id)
           WHERE e.institution_id IS NOT NULL ORDER BY e.entry_id"""
    )


def test_a_group_stores_what_the_batches_one_by_one_store(tmp_path: Path, tiny: Rulebook) -> None:
    one = _new_store(tmp_path / "one.duckdb", tiny)
    many = _new_store(tmp_path / "many.duckdb", tiny)
    try:
        alone = [ingest_table(one, _table(rows), code, src) for code, rows, src in BATCHES]
        together = ingest_tables(many, [(code, _table(rows), src) for code, rows, src in BATCHES])
        assert all(isinstance(r, IngestResult) for r in together)
        assert [r.as_dict() | {"batch_id": 0} for r in alone] == [
            r.as_dict() | {"batch_id": 0} for r in together if isinstance(r, IngestResult)
        ]
        assert _stored(one) == _stored(many)
        assert len({r[1] for r in _stored(many)}) == len(BATCHES)  # a batch each
        assert verify_ledger(many).ok
        # Sent again, together: every row a duplicate, nothing stored, nothing refused.
        again = ingest_tables(many, [(code, _table(rows), src) for code, rows, src in BATCHES])
        assert [
            (r.stored, r.duplicates, r.batch) for r in again if isinstance(r, IngestResult)
        ] == [(0, len(rows), None) for _, rows, _ in BATCHES]
        assert _stored(one) == _stored(many)
    finally:
        one.close()
        many.close()


def test_each_batch_is_checked_under_its_own_institution(store: Store) -> None:
    """The same rows from two institutions: one may report them, the other not; a camera's
    record needs a confidence, a police record not; the refused batch names its lines."""
    rows = [_rec("k1", "C1", "blood"), _rec("k2", "C2", "red_light")]
    found = ingest_tables(
        store,
        [
            ("police", _table(rows), "police"),
            ("bank", _table(rows), "bank"),
            ("cams", _table([_rec("k9", "C3", "red_light")]), "cams"),
            ("hotline", _table([_rec("k5", "C4", "rumour", counterpart="C4")]), "hotline"),
        ],
    )
    police, bank, cams, hotline = found
    assert isinstance(police, IngestResult) and police.stored == 2
    assert isinstance(bank, BatchRejected)
    assert [(p.source, p.line, p.field) for p in bank.problems] == [
        ("bank", 2, "parameter"),
        ("bank", 3, "parameter"),
    ]
    assert "institution 'bank' may not report 'blood'" in bank.problems[0].reason
    assert isinstance(cams, BatchRejected)
    assert [(p.line, p.field) for p in cams.problems] == [(2, "confidence")]
    assert isinstance(hotline, BatchRejected)
    assert "a citizen cannot report itself" in hotline.problems[0].reason
    # Only the police batch is stored, as entries 1 and 2 of its own batch.
    assert store.rows("SELECT entry_id, idem_key FROM entries WHERE kind = 1 ORDER BY 1") == [
        (police.batch.first_entry, "k1"),  # type: ignore[union-attr]
        (police.batch.first_entry + 1, "k2"),  # type: ignore[union-attr]
    ]


def test_keys_are_an_institutions_own_within_a_group(store: Store) -> None:
    """A key repeated within a batch is stored once; the same key from another institution
    in the same group is that institution's; a key stored earlier with other content
    refuses only its own batch."""
    old = ingest_table(store, _table([_rec("old", "C1", "red_light")]), "police", "earlier")
    assert old.batch is not None
    found = ingest_tables(
        store,
        [
            ("police", _table([_rec("same", "C1", "blood"), _rec("same", "C1", "blood")]), "a"),
            ("cams", _table([_rec("same", "C2", "litter", confidence="0.9")]), "b"),
            ("court", _table([_rec("old", "C3", "loan_default")]), "c"),  # court's own "old"
        ],
    )
    assert [(r.stored, r.duplicates) for r in found if isinstance(r, IngestResult)] == [
        (1, 1),
        (1, 0),
        (1, 0),
    ]
    conflicting = ingest_tables(
        store,
        [
            ("police", _table([_rec("old", "C1", "blood")]), "changed"),  # police's "old" differs
            ("cams", _table([_rec("new", "C2", "litter", confidence="0.9")]), "fine"),
        ],
    )
    assert isinstance(conflicting[0], BatchRejected)
    assert (
        f"was already used for entry {old.batch.first_entry} with different content"
        in conflicting[0].problems[0].reason
    )
    assert isinstance(conflicting[1], IngestResult) and conflicting[1].stored == 1


def test_an_institutions_second_batch_sees_its_first(store: Store) -> None:
    """Two batches of one institution make two groups: the second's key, stored by the
    first, is a duplicate (or, with other content, refuses the second alone)."""
    one = _table([_rec("x", "C1", "blood")])
    five = _table([_rec(f"x{i}", "C1", "blood") for i in range(5)])
    codes = ["police", "bank", "police", "cams"]
    assert groups([(code, one, "s") for code in codes]) == [[0, 1], [2, 3]]
    assert groups([(code, five, "s") for code in "abc"], 10) == [[0, 1], [2]]
    found = ingest_tables(
        store,
        [
            ("police", _table([_rec("x", "C1", "blood")]), "first"),
            ("police", _table([_rec("x", "C1", "blood"), _rec("y", "C2", "blood")]), "same"),
            ("police", _table([_rec("y", "C2", "hero")]), "changed"),
        ],
    )
    assert isinstance(found[0], IngestResult) and found[0].stored == 1
    assert isinstance(found[1], IngestResult) and (found[1].stored, found[1].duplicates) == (1, 1)
    assert isinstance(found[2], BatchRejected)
    assert store.scalar("SELECT count(*) FROM entries WHERE kind = 1") == 2


def test_verifications_are_checked_against_the_verifier(store: Store) -> None:
    """Only a state authority verifies a citizen report: in one group, the police's
    verification is stored, the bank's refused."""
    report = ingest_table(
        store, _table([_rec("r1", "C6", "rumour", counterpart="C7")]), "hotline", "r"
    )
    assert report.batch is not None
    entry = report.batch.first_entry
    verification = {
        "key": "v1",
        "kind": "verification",
        "refers_to": str(entry),
        "date": "2021-02-02",
    }
    found = ingest_tables(
        store,
        [
            ("bank", _table([verification]), "bank-verifies"),
            ("police", _table([verification]), "police-verifies"),
        ],
    )
    assert isinstance(found[0], BatchRejected)
    assert (
        "only state authorities verify reports; 'bank' is nonstate" in found[0].problems[0].reason
    )
    assert isinstance(found[1], IngestResult) and found[1].stored == 1
    assert store.rows("SELECT kind, subject_id, refers_to FROM entries WHERE idem_key = 'v1'") == [
        (2, store.scalar("SELECT subject_id FROM subjects WHERE code = 'C6'"), entry)
    ]


def test_an_unknown_institution_refuses_its_batch_alone(store: Store) -> None:
    found = ingest_tables(
        store,
        [
            ("police", _table([_rec("a", "C1", "blood")]), "one"),
            ("nobody", _table([_rec("b", "C1", "blood")]), "two"),
            ("bank", _table([_rec("c", "C1", "loan_default", date="soon")]), "three"),
            ("court", _table([_rec("d", "C1", "loan_default")]), "four"),
        ],
    )
    assert isinstance(found[1], LedgerError) and "unknown institution 'nobody'" in str(found[1])
    assert isinstance(found[2], BatchRejected)
    assert [r.source for r in found if isinstance(r, IngestResult)] == ["one", "four"]
    assert store.rows("SELECT source FROM batches WHERE rows > 0 ORDER BY batch_id")[-2:] == [
        ("one",),
        ("four",),
    ]
    assert verify_ledger(store).ok


def test_a_turn_is_for_one_group(store: Store) -> None:
    from contextlib import nullcontext

    batch = _table([_rec("a", "C1", "blood")])
    with pytest.raises(ValueError, match="one group"):
        ingest_tables(store, [("police", batch, "a"), ("police", batch, "b")], turn=nullcontext())


def test_a_batch_refers_to_what_the_batches_before_it_in_the_group_store(store: Store) -> None:
    """A verification of a report sent in the same call, and a record that refers to a
    record sent before it: found, as they would be sent one after the other."""
    following = int(store.scalar("SELECT max(entry_id) FROM entries")) + 1
    report = _table([_rec("h1", "C6", "rumour", counterpart="C7")])
    verification = {"key": "v1", "kind": "verification", "refers_to": str(following)}
    batches = [
        ("hotline", report, "report"),
        ("police", _table([verification | {"date": "2021-02-02"}]), "verifies"),
        ("cams", _table([_rec("c1", "C1", "red_light", confidence="0.99")]), "camera"),
        (
            "court",
            _table([_rec("t1", "C1", "loan_default", refers_to=str(following + 2))]),
            "refers",
        ),
    ]
    assert groups(batches) == [[0], [1, 2], [3]]
    found = ingest_tables(store, batches)
    assert [type(r).__name__ for r in found] == ["IngestResult"] * 4, found
    assert store.rows("SELECT entry_id, refers_to FROM entries WHERE refers_to IS NOT NULL") == [
        (following + 1, following),
        (following + 3, following + 2),
    ]


def test_a_column_that_is_not_text_is_staged_as_alone(store: Store) -> None:
    """Batches are tables of text; one that is not (a caller's binary key, a timestamp
    date) is made text as a batch staged alone is, and its problems read the same."""
    odd = pa.table(
        {
            "line": pa.array([2], pa.int32()),
            "key": pa.array([b"\xff"], pa.binary()),
            "subject": ["C1"],
            "parameter": ["blood"],
            "date": pa.array([dt.datetime(2021, 2, 1)], pa.timestamp("us")),
        }
    )
    good = _table([_rec("b1", "C1", "loan_default")])
    with pytest.raises(BatchRejected) as alone:
        ingest_table(store, odd, "police", "p")
    found = ingest_tables(store, [("police", odd, "p"), ("bank", good, "b")])
    assert isinstance(found[0], BatchRejected)
    assert found[0].problems == alone.value.problems
    assert isinstance(found[1], IngestResult) and found[1].stored == 1


def test_a_groups_parameters_are_looked_up_at_once_and_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The institutions of a group have their parameters looked up in one statement, the
    first time with all they may report; later batches naming those find them kept; a
    code not registered is looked up again (a rulebook installed meanwhile may add it)."""
    looked: list[str] = []
    arrow = Store.arrow

    def counted(self: Store, sql: str, *args: Any) -> Any:
        if "WITH asked AS" in sql:
            looked.append(sql)
        return arrow(self, sql, *args)

    monkeypatch.setattr(Store, "arrow", counted)
    first = ingest_tables(
        store,
        [
            ("police", _table([_rec("a", "C1", "blood")]), "police"),
            ("bank", _table([_rec("b", "C1", "loan_default")]), "bank"),
            ("cams", _table([_rec("c", "C1", "red_light", confidence="0.99")]), "cams"),
        ],
    )
    assert [r.stored for r in first if isinstance(r, IngestResult)] == [1, 1, 1]
    assert len(looked) == 1
    later = ingest_tables(
        store,
        [
            ("police", _table([_rec("d", "C2", "hero"), _rec("e", "C2", "litter")]), "police"),
            ("bank", _table([_rec("f", "C2", "blood")]), "bank"),  # not the bank's to report
            ("cams", _table([_rec("g", "C2", "speeding", confidence="0.99")]), "cams"),
        ],
    )
    # The police and the cameras named only codes they may report: known since the first
    # look-up. The bank named one it may not report: looked up once, then kept.
    assert len(looked) == 2
    assert isinstance(later[0], IngestResult) and later[0].stored == 2
    assert isinstance(later[1], BatchRejected)
    assert "institution 'bank' may not report 'blood'" in later[1].problems[0].reason
    again = ingest_tables(store, [("bank", _table([_rec("f", "C2", "blood")]), "bank")])
    assert isinstance(again[0], BatchRejected) and len(looked) == 2
    for _ in range(2):
        unknown = ingest_tables(store, [("police", _table([_rec("h", "C3", "nonesuch")]), "p")])
        assert isinstance(unknown[0], BatchRejected)
        assert "unknown parameter 'nonesuch'" in unknown[0].problems[0].reason
    assert len(looked) == 4
