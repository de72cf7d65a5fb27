"""The registry's codes held in memory (``subject_codes``): a batch's subjects found
exactly as the registry would find them, subjects registered since found too, and the
registry asked instead in a transaction or an in-memory database."""

from __future__ import annotations

import pyarrow as pa
import pytest
from tests.conftest import feed

from socialrating.errors import BatchRejected
from socialrating.ledger import Store, open_store, register_subjects, subject_codes
from socialrating.ledger.subject_codes import known_subjects


def _register(store: Store, codes: list[str], kind: str = "citizen") -> None:
    register_subjects(store, pa.table({"code": codes, "kind": [kind] * len(codes)}))


def _found(store: Store, codes: list[str]) -> dict[str, tuple[int, str]]:
    table = known_subjects(store, codes)
    assert table is not None
    rows = table.to_pylist()
    return {r["code"]: (r["subject_id"], r["kind"]) for r in rows}


def _registry(store: Store, codes: list[str]) -> dict[str, tuple[int, str]]:
    rows = store.rows(
        "SELECT code, subject_id, kind FROM subjects WHERE list_contains(?, code)", [codes]
    )
    return {code: (int(sid), str(kind)) for code, sid, kind in rows}


def test_held_codes_find_exactly_what_the_registry_finds(store: Store) -> None:
    _register(store, ["C10", "C1x", "Ü-7", "ü-7", "a" * 40])
    _register(store, ["O9"], "organisation")
    asked = ["C1", "C", "C100", "C10", "Ü-7", "nope", "C1 ", "a" * 41, "a" * 40, "O9", "C1"]
    found = _found(store, asked)
    assert found == _registry(store, asked)
    assert set(found) == {"C1", "C10", "Ü-7", "a" * 40, "O9"}
    assert found["O9"][1] == "organisation"
    assert _found(store, []) == {}


def test_subjects_registered_since_are_found(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _found(store, ["C1", "N1"]) == _registry(store, ["C1"])  # held now, N1 unknown
    _register(store, ["N1", "N2"])  # kept apart from the sorted codes
    asked = ["C1", "N1", "N2", "N3"]
    assert _found(store, asked) == _registry(store, asked) and len(_registry(store, asked)) == 3
    monkeypatch.setattr(subject_codes, "_MERGE_AT", 2)
    _register(store, ["N3"], "organisation")  # past the bound: sorted in with the rest
    assert _found(store, asked) == _registry(store, asked) and len(_found(store, asked)) == 4
    held = next(v for k, v in subject_codes._HELD.items() if k[0] == store.path)
    assert held.recent == {} and b"N3" in set(held.codes.tolist())


def test_a_transaction_asks_the_registry(store: Store) -> None:
    assert known_subjects(store, ["C1"]) is not None
    with pytest.raises(RuntimeError), store.transaction():
        _register(store, ["R1"])
        assert known_subjects(store, ["R1"]) is None  # might be rolled back
        raise RuntimeError("rolled back")
    assert _found(store, ["R1"]) == {}
    _register(store, ["R2"])  # takes the id R1 had
    assert _found(store, ["R1", "R2"]) == _registry(store, ["R2"]) != {}


def test_an_in_memory_database_asks_the_registry() -> None:
    mem = open_store(":memory:", create=True)
    try:
        assert known_subjects(mem, ["C1"]) is None
    finally:
        mem.close()


def test_batches_name_subjects_registered_between_them(store: Store) -> None:
    assert feed(store, "police", [{"subject": "C1", "parameter": "blood", "date": "2021-02-01"}])
    _register(store, ["C77"])
    result = feed(store, "police", [{"subject": "C77", "parameter": "blood", "date": "2021-02-01"}])
    assert result.stored == 1
    stored = store.one(
        """SELECT s.code FROM entries e JOIN subjects s USING (subject_id)
           WHERE e.entry_id = (SELECT max(entry_id) FROM entries)"""
    )
    assert stored == ("C77",)
    with pytest.raises(BatchRejected) as refused:
        feed(store, "police", [{"subject": "C78", "parameter": "blood", "date": "2021-02-01"}])
    assert [p.field for p in refused.value.problems] == ["subject"]
