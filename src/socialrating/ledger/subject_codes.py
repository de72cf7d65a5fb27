"""The registry's codes in memory: a batch's subjects found without scanning the registry.

Every batch joins its subjects' codes to the registry. DuckDB does that by reading every
code of the registry (its index on codes serves a point look-up, not a join): 20 to 25 ms a
batch for a registry of 1.1 million subjects, whatever the batch's size, which a
simulation's or a service's many small batches each pay. Here, per open database, the
registry's codes are held once, sorted, as fixed-width bytes beside their ids and kinds
(about 20 bytes a subject), and a batch's few hundred codes are found by binary search
in well under a millisecond.

The registry only grows: a subject, once registered, keeps its code, id and kind (no
statement changes or deletes one). So what is held stays true, and subjects registered
since are read by their ids, which are larger than any held (a few rows at the end of
the table); they are kept apart until there are many, then all are read and sorted
again. Only committed subjects are read: a cursor in the middle of a transaction (which
may register subjects and roll them back) is answered from the registry, as is an
in-memory database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from socialrating.ledger.store import Store, keep_per_opening, openings

_MERGE_AT = 65_536
"""Subjects registered since the codes were sorted, past which they are sorted in."""


@dataclass
class _Codes:
    """The codes of the subjects with ids up to ``top``, sorted, with their ids and kinds,
    and those registered since (``recent``)."""

    top: int
    codes: np.ndarray  # fixed-width bytes (UTF-8), sorted
    ids: np.ndarray
    kinds: np.ndarray  # positions in ``names``
    names: list[str]
    recent: dict[str, tuple[int, str]] = field(default_factory=dict)


_HELD: dict[tuple[str, int], _Codes] = {}
_LOCK = threading.Lock()


def known_subjects(store: Store, codes: list[str]) -> pa.Table | None:
    """The registered subjects among ``codes`` (columns ``code``, ``subject_id``,
    ``kind``), from the codes held for this database; None when they cannot serve (an
    in-memory database, or the store is in a transaction): look in the registry."""
    if store.path == ":memory:" or store.in_transaction:
        return None
    key = (store.path, openings(store.path))
    top = int(store.scalar("SELECT coalesce(max(subject_id), 0) FROM subjects"))
    with _LOCK:
        held = _HELD.get(key)
        if held is None or held.top < top:
            held = _update(store, held)
            keep_per_opening(_HELD, key, held)
    return _find(held, codes)


def _update(store: Store, held: _Codes | None) -> _Codes:
    """``held`` with the subjects registered since it was read: kept apart while they are
    few; otherwise (or when nothing is held) every subject, read and sorted again."""
    if held is not None:
        new = store.con.sql(
            f"SELECT code, subject_id, kind FROM subjects WHERE subject_id > {held.top}"
        ).fetchall()
        if len(held.recent) + len(new) < _MERGE_AT:
            held.recent.update((code, (int(sid), str(kind))) for code, sid, kind in new)
            held.top = max([held.top, *(int(sid) for _, sid, _ in new)])
            return held
    table = store.con.sql(
        "SELECT encode(code) AS code, subject_id, kind FROM subjects"
    ).to_arrow_table()
    codes = np.array(table.column("code").to_pylist(), dtype=bytes)
    if codes.dtype.itemsize == 0:  # no subject at all
        codes = codes.astype("S1")
    order = np.argsort(codes, kind="stable")
    ids = table.column("subject_id").to_numpy()
    kinds = table.column("kind").dictionary_encode().combine_chunks()
    return _Codes(
        top=int(np.max(ids, initial=0)),
        codes=codes[order],
        ids=ids[order],
        kinds=kinds.indices.to_numpy(zero_copy_only=False)[order],
        names=[str(n) for n in kinds.dictionary.to_pylist()],
    )


def _find(held: _Codes, codes: list[str]) -> pa.Table:
    """The subjects of ``codes`` that ``held`` knows."""
    width = held.codes.dtype.itemsize
    wanted = [c for c in dict.fromkeys(codes) if "\x00" not in c]  # bytes end at a NUL
    encoded = [c.encode() for c in wanted]
    fits = np.array([len(e) <= width for e in encoded], dtype=bool)
    found_code: list[str] = []
    found_id: list[int] = []
    found_kind: list[str] = []
    if len(held.codes) and encoded:
        probe = np.array(encoded, dtype=f"S{width}")  # a longer code is cut: ``fits`` says
        at = np.minimum(np.searchsorted(held.codes, probe), len(held.codes) - 1)
        hit = fits & (held.codes[at] == probe)
        for i in np.flatnonzero(hit):
            found_code.append(wanted[i])
            found_id.append(int(held.ids[at[i]]))
            found_kind.append(held.names[int(held.kinds[at[i]])])
    for code in wanted:
        if code in held.recent:
            sid, kind = held.recent[code]
            found_code.append(code)
            found_id.append(sid)
            found_kind.append(kind)
    return pa.table(
        {
            "code": pa.array(found_code, pa.string()),
            "subject_id": pa.array(found_id, pa.int64()),
            "kind": pa.array(found_kind, pa.string()),
        }
    )
