"""The simulation's sender: a step's batches checked in parallel, each on a cursor of its
own, and stored in the order given, whatever the threads do; a batch that fails stops
nothing after it from being stored, and its error is raised."""

from __future__ import annotations

import threading
from typing import Any

import pyarrow as pa
import pytest

from socialrating.errors import BatchRejected, LedgerError
from socialrating.ledger import Store
from socialrating.ledger import ingest as ingest_module
from socialrating.ledger.readers import staged_table
from socialrating.simulate.living import Sender


def _batch(prefix: str, n: int) -> pa.Table:
    cols: dict[str, list[str | None]] = {
        "key": [f"{prefix}-{i}" for i in range(n)],
        "subject": [f"C{i % 9 + 1}" for i in range(n)],
        "parameter": ["blood"] * n,
        "date": ["2021-02-01"] * n,
    }
    return staged_table(cols, list(range(2, n + 2)))


def _sources(store: Store) -> list[str]:
    """The batches stored, in entry order."""
    return [
        r[0]
        for r in store.rows(
            """SELECT b.source FROM batches b JOIN entries e USING (batch_id)
               WHERE e.kind = 1 GROUP BY b.source ORDER BY min(e.entry_id)"""
        )
    ]


def _send(store: Store, parts: list[tuple[str, pa.Table, str]]) -> list[Any]:
    """The results of ``parts`` sent by two threads, refused if the sending does not end
    within a minute (a turn never passed on)."""
    with Sender(store, workers=2) as sender:
        return sender.send(parts)


def _in_time(fn: Any) -> Any:
    """``fn()``, refused if it does not end within a minute."""
    out: dict[str, Any] = {}

    def call() -> None:
        try:
            out["value"] = fn()
        except BaseException as exc:  # handed back to the test
            out["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the sender never finished: a turn was not passed on"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_batches_checked_in_parallel_are_stored_in_the_order_given(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first batch is held back while it is checked, so the second (on the other
    thread) is ready first: it still waits for the first to be stored."""
    original = ingest_module._append_checked
    first_checked = threading.Event()
    second_ready = threading.Event()

    def held(s: Store, parts: Any, checked: Any) -> Any:
        if parts[0].source == "first":
            first_checked.set()
        return original(s, parts, checked)

    original_rows = ingest_module._ingest_staged

    def staged(s: Store, parts: Any, *args: Any) -> Any:
        if parts[0].source == "first":
            second_ready.wait(10)  # the second group reaches its turn meanwhile
        else:
            second_ready.set()
        return original_rows(s, parts, *args)

    monkeypatch.setattr(ingest_module, "_append_checked", held)
    monkeypatch.setattr(ingest_module, "_ingest_staged", staged)
    parts = [("police", _batch("a", 30), "first"), ("police", _batch("b", 5), "second")]
    results = _in_time(lambda: _send(store, parts))
    assert [r.source for r in results] == ["first", "second"]
    assert [r.stored for r in results] == [30, 5]
    assert first_checked.is_set()
    assert _sources(store) == ["first", "second"]


def test_a_failed_batch_lets_the_next_be_stored_and_its_error_is_raised(store: Store) -> None:
    bad = _batch("c", 3)
    bad = bad.set_column(bad.schema.get_field_index("date"), "date", pa.array(["soon"] * 3))
    parts = [
        ("police", _batch("a", 4), "one"),
        ("nobody", _batch("x", 2), "unknown institution"),  # fails before its turn
        ("police", bad, "bad dates"),  # fails in its turn
        ("police", _batch("b", 6), "four"),
    ]
    with pytest.raises(LedgerError, match="nobody"):
        _in_time(lambda: _send(store, parts))
    assert _sources(store) == ["one", "four"]
    with pytest.raises(BatchRejected, match="bad dates"):
        _in_time(lambda: _send(store, parts[2:3]))


def test_one_sender_sends_on_the_store_itself(store: Store) -> None:
    with Sender(store, workers=1) as sender:
        results = sender.send(
            [("police", _batch("a", 3), "one"), ("police", _batch("b", 2), "two")]
        )
    assert [r.stored for r in results] == [3, 2]
    assert _sources(store) == ["one", "two"]


def test_a_simulated_group_is_stored_in_insertion_order(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A simulation's groups (at most CHUNK rows) are stored in insertion order, never by
    DuckDB's threads in any order: a process that stored its groups in any order scored
    its nation afterwards more slowly (docs/benchmarks.md). Here the threshold is lowered
    with CHUNK, so that a small group stands for a full one."""
    from socialrating.ledger import append as append_module
    from socialrating.simulate import living

    assert living.CHUNK <= append_module.UNORDERED_FROM
    monkeypatch.setattr(living, "CHUNK", 600)
    monkeypatch.setattr(append_module, "UNORDERED_FROM", 600)
    in_any_order: list[int] = []
    real = append_module._insert_in_any_order

    def spy(store: Store, relation: str, *args: Any) -> None:
        in_any_order.append(1)
        real(store, relation, *args)

    monkeypatch.setattr(append_module, "_insert_in_any_order", spy)
    parts = [("police", _batch(f"g{k}", 600), f"step-{k}") for k in range(3)]
    results = _send(store, parts)
    assert sum(r.stored for r in results) == 1800 and not in_any_order
    stored = store.rows("SELECT entry_id FROM entries WHERE kind = 1 ORDER BY rowid")
    assert [e for (e,) in stored] == sorted(e for (e,) in stored)
