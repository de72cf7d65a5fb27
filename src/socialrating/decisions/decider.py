"""Decisions from a scoring run's snapshot, held in memory as arrays.

Loading a snapshot (subjects, grades, scores and list memberships) takes a few seconds
for two million subjects (one query a table, into arrays; no object per row); then one
decision is a binary search and a few comparisons (microseconds), and a batch is the same
in NumPy over whole arrays. No query runs on the request path.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialrating.decisions.rules import MAX_FACTORS, Decision, Membership, Reason, decide
from socialrating.errors import NoSnapshot, UnknownService, UnknownSubject
from socialrating.ledger.rulebooks import stored_rulebook
from socialrating.ledger.store import Store
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import Service
from socialrating.scoring.run_factors import factor_grades as _factor_grades
from socialrating.scoring.run_factors import with_run_factors


@dataclass
class Decider:
    """Everything a decision needs, from one scoring run.

    Attributes:
        rulebook: the rulebook of the run (its services and lists).
        run_id, as_of: the run.
        codes: subject codes, sorted (a binary search finds one subject).
        hashes: DuckDB's 64-bit hash of each code: a batch finds its subjects by
            hashing its codes the same way and searching the sorted hashes.
        kinds, grades, scores, direct, contagion: per subject, in the order of ``codes``;
            ``kinds`` index ``kind_names`` and ``grades`` ``grade_names`` (small integers:
            ten million texts would take half a gigabyte); ``direct`` is whether a direct
            grade stands; ``contagion`` the points contagion cost.
        ids: per subject, its id.
        list_bits: per subject, bit i set when on ``rulebook.spec.lists[i]``.
        members: the memberships of listed subjects (``MEMBER_COLUMNS``), ordered by
            position in ``codes`` (``member_positions``), list and cause; ``memberships``
            makes one subject's (kept as columns: a nation's million listed subjects
            would take seconds to make into objects, and a decision reads one).
        factor_grades: per kind, the grades the run stored key factors for (None: a run
            scored before runs stored them); ``factors`` holds those rows, ordered by
            position in ``codes`` (``factor_positions``) and rank.
    """

    rulebook: RulebookHeader
    run_id: int
    as_of: str
    codes: pa.Array
    hashes: np.ndarray
    kinds: np.ndarray
    kind_names: list[str]
    grade_names: list[str]
    grades: np.ndarray
    scores: np.ndarray
    direct: np.ndarray
    contagion: np.ndarray
    ids: np.ndarray
    list_bits: np.ndarray
    members: pa.Table
    member_positions: np.ndarray
    factor_grades: dict[str, list[str]] | None = None
    factors: pa.Table | None = None
    factor_positions: np.ndarray | None = None

    def service(self, code: str) -> Service:
        for s in self.rulebook.spec.services:
            if s.code == code:
                return s
        known = ", ".join(s.code for s in self.rulebook.spec.services) or "none"
        raise UnknownService(f"unknown service {code!r} (the rulebook's services: {known})")

    # How codes are hashed, here and (as ``hash(s.code)``) when the snapshot is loaded.
    HASH = "hash(code)"

    def __post_init__(self) -> None:
        self._sorted_codes = _searchable(self.codes)
        # Positions in order of hash (then position): DuckDB sorts them faster than NumPy.
        hashes = pa.table({"h": self.hashes, "pos": np.arange(len(self.hashes))})  # noqa: F841
        self._hasher = duckdb.connect()
        self._order = (
            self._hasher.sql("SELECT pos FROM hashes ORDER BY h, pos")
            .to_arrow_table()
            .column(0)
            .to_numpy()
        )
        self._sorted_hashes = self.hashes[self._order]
        self._hashing = threading.Lock()
        self._member_cells = [_Cells(self.members.column(c)) for c in MEMBER_COLUMNS]

    def position(self, code: str) -> int:
        codes = self._sorted_codes
        needle: str | bytes = code.encode() if codes.dtype.kind == "S" else code
        i = int(np.searchsorted(codes, needle))
        if i >= len(codes) or codes[i] != needle:
            raise UnknownSubject(f"unknown subject {code!r} (not in run {self.run_id})")
        return i

    def positions(self, codes: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Positions of many codes (0 where not found) and whether each was found.

        The codes are hashed by DuckDB and looked up among the sorted hashes (in sorted
        order, which keeps the search in cache); every hit is then checked against the code
        itself, so a hash collision can only make a subject look unknown, never another.
        Where two stored codes share a hash, those codes are looked up one by one.
        """
        n = len(codes)
        if n == 0 or len(self.codes) == 0:
            return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
        query = pa.table({"code": codes})  # noqa: F841 (read by DuckDB below)
        with self._hashing:  # one connection, which threads (a server's) must not share
            qh = self._hasher.sql(f"SELECT {self.HASH} FROM query").to_arrow_table().column(0)
        qh = qh.to_numpy()
        order = np.argsort(qh, kind="stable")
        found_sorted = np.searchsorted(self._sorted_hashes, qh[order])
        at = np.empty_like(found_sorted)
        at[order] = found_sorted
        at = at.clip(max=len(self._sorted_hashes) - 1)
        pos = self._order[at]
        hit = self._sorted_hashes[at] == qh
        same = pc.equal(self.codes.take(pa.array(pos)), codes).to_numpy(zero_copy_only=False)
        found = hit & np.asarray(same, dtype=bool)
        for i in np.flatnonzero(hit & ~found):  # a collision: rare, so one by one
            with contextlib.suppress(UnknownSubject):
                pos[i], found[i] = self.position(str(codes[i])), True
        return np.where(found, pos, 0), found

    def decide(self, subject: str, service: str) -> Decision:
        """The decision for one subject and service."""
        svc = self.service(service)
        i = self.position(subject)
        kind, grade = self.kind_of(i), self.grade_names[int(self.grades[i])]
        decision = decide(
            svc,
            subject,
            kind,
            grade,
            int(self.scores[i]),
            self.memberships(i),
            bool(self.direct[i]),
            contagion=int(self.contagion[i]),
        ).by(self.run_id, self.as_of)
        return with_run_factors(
            decision,
            self.rulebook,
            kind,
            grade,
            lambda: self.factor_grades,
            lambda: self._factors(i),
        )

    def kind_of(self, i: int) -> str:
        """The kind of the subject at position ``i``."""
        return self.kind_names[int(self.kinds[i])]

    def of_kind(self, kind: str) -> np.ndarray:
        """Per subject, whether it is of ``kind``."""
        if kind not in self.kind_names:
            return np.zeros(len(self.kinds), dtype=bool)
        is_kind: np.ndarray = self.kinds == self.kind_names.index(kind)
        return is_kind

    def memberships(self, i: int) -> list[Membership]:
        """The list memberships of the subject at position ``i``."""
        lo, hi = _span(self.member_positions, i)
        return [Membership(*(cells[k] for cells in self._member_cells)) for k in range(lo, hi)]

    def _factors(self, i: int) -> list[dict[str, Any]]:
        """The stored key factor rows of the subject at position ``i``."""
        if self.factors is None or self.factor_positions is None:
            return []
        lo, hi = _span(self.factor_positions, i)
        rows: list[dict[str, Any]] = self.factors.slice(lo, hi - lo).to_pylist()
        return rows

    def decide_many(
        self,
        subjects: pa.Array | list[str],
        service: str,
        located: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pa.Table:
        """Decisions for many subjects at once (a flight's passenger list).

        Returns a table of ``subject``, ``decision`` (``unknown`` for a subject not in the
        run), ``reasons`` (reason codes separated by ``;``) and ``terms`` (JSON).
        ``located`` is what ``positions`` gives for ``subjects``, when the caller has it.
        """
        svc = self.service(service)
        array = subjects if isinstance(subjects, pa.Array) else pa.array(subjects, pa.string())
        pos, found = located or self.positions(array.cast(pa.string()))
        rule = self._rules(svc, pos, found)
        lowered = found & (self.contagion[pos] != 0)
        return _batch_table(self, svc, array, rule, self.grades[pos], self.list_bits[pos], lowered)

    def _rules(self, svc: Service, pos: np.ndarray, found: np.ndarray) -> np.ndarray:
        """The rule of ``svc`` that decides each subject at ``pos``: 0 = otherwise, -1 =
        the wrong kind of subject, -2 = unknown (not ``found``); n = rule n (1-based)."""
        grade = self.grades[pos]
        bits = self.list_bits[pos]
        kind_ok = found if svc.subjects == "any" else found & self.of_kind(svc.subjects)[pos]
        rule = np.where(found, np.where(kind_ok, 0, -1), -2).astype(np.int16)
        open_ = kind_ok.copy()
        list_index = {lst.code: i for i, lst in enumerate(self.rulebook.spec.lists)}
        for k, r in enumerate(svc.rules, start=1):
            hit = open_.copy()
            if r.when.grades is not None:
                wanted = np.isin(
                    np.arange(len(self.grade_names)),
                    [self.grade_names.index(g) for g in r.when.grades if g in self.grade_names],
                )
                hit &= wanted[grade]
            if r.when.lists is not None:
                mask = sum(1 << list_index[c] for c in r.when.lists)
                hit &= (bits & mask) != 0
            rule[hit] = k
            open_ &= ~hit
        return rule

    def refusal_codes(self, service: str, located: tuple[np.ndarray, np.ndarray]) -> list[str]:
        """For each subject ``located`` (``positions``), the codes of its refusal's key
        factors, ranked and separated by ``;`` (empty for any other decision): those
        ``decide`` gives, without deciding one by one. The lists the deciding rule looked
        at, then, for a rule on grades (or none), the key factors the run stored for the
        subject's grade; at most four (``rules.list_factors``, ``with_run_factors``)."""
        svc = self.service(service)
        pos, found = located
        rule = self._rules(svc, pos, found)
        refuses = [svc.otherwise == "refused"] + [r.decision == "refused" for r in svc.rules]
        refused = np.flatnonzero((rule >= 0) & np.array(refuses)[rule.clip(min=0)])
        out = [""] * len(pos)
        # The stored factors of each refused subject: its rows' range, found at once.
        at = pos[refused]
        if self.factor_positions is None:
            lo = hi = np.zeros(len(at), dtype=np.int64)
        else:
            lo = self.factor_positions.searchsorted(at)
            hi = np.minimum(self.factor_positions.searchsorted(at + 1), lo + MAX_FACTORS)
        stored = self.factor_grades
        for i, p, r, a, b in zip(
            refused.tolist(),
            at.tolist(),
            rule[refused].tolist(),
            lo.tolist(),
            hi.tolist(),
            strict=True,
        ):
            when = None if r == 0 else svc.rules[r - 1].when
            codes = []
            if when is not None and when.lists is not None:
                looked = [m for m in self.memberships(p) if m.list in when.lists]
                codes = [f"LIST:{m.list}" for m in looked[:MAX_FACTORS]]
            if (
                a < b
                and (when is None or when.grades is not None)
                and stored is not None
                and self.grade_names[self.grades[p]] in stored.get(self.kind_of(p), [])
            ):
                codes += self._stored_codes[a:b]
            out[i] = ";".join(codes[:MAX_FACTORS])
        return out

    @functools.cached_property
    def _stored_codes(self) -> list[str]:
        return [] if self.factors is None else self.factors.column("code").to_pylist()


def _batch_table(
    d: Decider,
    svc: Service,
    codes: pa.Array,
    rule: np.ndarray,
    grade: np.ndarray,
    bits: np.ndarray,
    lowered: np.ndarray,
) -> pa.Table:
    """The batch's output, with reason strings built once per distinct (rule, grade, lists,
    lowered by contagion)."""
    lists = [lst.code for lst in d.rulebook.spec.lists]
    n_grades = len(d.grade_names) + 1
    key = (rule.astype(np.int64) + 3) * n_grades + grade.astype(np.int64)
    key = (key * (1 << len(lists)) + bits) * 2 + lowered
    uniq, inverse = np.unique(key, return_inverse=True)
    decisions, reasons, terms = [], [], []
    for k2 in uniq.tolist():
        k, contagion = divmod(k2, 2)
        b = k % (1 << len(lists))
        rest = k // (1 << len(lists))
        g, r = rest % n_grades, rest // n_grades - 3
        decision, reason, term = _describe(
            svc, r, d.grade_names[g] if g < len(d.grade_names) else "", b, lists, bool(contagion)
        )
        decisions.append(decision)
        reasons.append(reason)
        terms.append(term)
    take = pa.array(inverse.reshape(-1))
    return pa.table(
        {
            "subject": codes,
            "decision": pa.array(decisions, pa.string()).take(take),
            "reasons": pa.array(reasons, pa.string()).take(take),
            "terms": pa.array(terms, pa.string()).take(take),
        }
    )


def _describe(
    svc: Service, r: int, grade: str, bits: int, lists: list[str], contagion: bool
) -> tuple[str, str, str]:
    if r == -2:
        return "unknown", "SUBJECT:unknown", "{}"
    if r == -1:  # the kind the service is not for: the other one
        other = "organisation" if svc.subjects == "citizen" else "citizen"
        return "refused", f"SUBJECTS:{other}", "{}"
    graded = [f"GRADE:{grade}", "CONTAGION"] if contagion else [f"GRADE:{grade}"]
    if r == 0:
        return svc.otherwise, ";".join([f"RULE:{svc.code}#otherwise", *graded]), "{}"
    rule = svc.rules[r - 1]
    codes = [f"RULE:{svc.code}#{r}"]
    if rule.when.grades is not None:
        codes += graded
    for i, code in enumerate(lists):
        if rule.when.lists is not None and code in rule.when.lists and bits >> i & 1:
            codes.append(f"LIST:{code}")
    return rule.decision, ";".join(codes), json.dumps(rule.terms, sort_keys=True)


def load_decider(
    store: Store,
    run_id: int | None = None,
    rulebook: RulebookHeader | None = None,
    *,
    only: str | None = None,
) -> Decider:
    """The decider for run ``run_id`` (default: the latest run), by its rulebook (or
    ``rulebook``: one that is not stored, previewed); with ``only`` (a table of subject
    ids), for those subjects alone.

    Raises:
        NoSnapshot: no scoring run yet.
    """
    if run_id is None:
        run_id = store.scalar("SELECT max(run_id) FROM runs")
        if run_id is None:
            raise NoSnapshot("no scoring run yet: run `socialrating score` first")
    row = store.one("SELECT rulebook_hash, as_of FROM runs WHERE run_id = ?", [run_id])
    if row is None:
        raise NoSnapshot(f"no scoring run {run_id}")
    rb = rulebook or stored_rulebook(store, row[0])
    grade_names = sorted({b.grade for k in ("citizen", "organisation") for b in rb.bands(k)})
    # In order of code (a binary search finds one); the rows' positions then join the
    # memberships and factors to them (sorting the codes once, not in a window).
    snap = store.arrow(
        """SELECT s.code, s.kind, n.grade, n.score, n.direct_grade IS NOT NULL AS direct,
                  n.contagion, n.subject_id, hash(s.code) AS h
           FROM snapshot n JOIN subjects s USING (subject_id) WHERE n.run_id = ?"""
        + ("" if only is None else f" AND n.subject_id IN (SELECT subject_id FROM {only})")
        + " ORDER BY s.code",
        [run_id],
    )
    positions = pa.table(
        {"subject_id": snap.column("subject_id"), "pos": np.arange(snap.num_rows, dtype=np.int64)}
    )
    store.con.register("decider_snapshot", positions)
    try:
        members = store.arrow(
            """SELECT d.pos, m.list, m.cause, m.entry_id, m.grade, m.start_day, m.end_day,
                      v.code AS via
               FROM list_members m JOIN decider_snapshot d USING (subject_id)
               LEFT JOIN subjects v ON v.subject_id = m.via_subject
               WHERE m.run_id = ? ORDER BY d.pos, m.list, m.cause""",
            [run_id],
        )
        # Of the rulebook's lists only (a previewed rulebook may have fewer).
        members = members.filter(pc.is_in(members.column("list"), _list_codes(rb)))
        factor_grades = _factor_grades(store, int(run_id))
        factors = None
        if factor_grades is not None:
            factors = store.arrow(
                """SELECT d.pos, f.rank, f.code, f.name, f.effect, f.made_good, f.entries,
                          f.grade
                   FROM run_factors f JOIN decider_snapshot d USING (subject_id)
                   WHERE f.run_id = ? ORDER BY d.pos, f.rank""",
                [run_id],
            )
    finally:
        store.con.unregister("decider_snapshot")
    grades = pc.index_in(snap.column("grade"), pa.array(grade_names)).to_numpy()
    kinds = pc.dictionary_encode(snap.column("kind")).combine_chunks()
    return Decider(
        rulebook=rb,
        run_id=int(run_id),
        as_of=str(row[1]),
        codes=snap.column("code").combine_chunks(),
        hashes=snap.column("h").to_numpy(),
        kinds=kinds.indices.to_numpy().astype(np.int8),
        kind_names=kinds.dictionary.to_pylist(),
        grade_names=grade_names,
        grades=grades.astype(np.int16),
        scores=snap.column("score").to_numpy(),
        direct=snap.column("direct").to_numpy(zero_copy_only=False),
        contagion=snap.column("contagion").to_numpy(),
        ids=snap.column("subject_id").to_numpy(),
        list_bits=_list_bits(snap.num_rows, members, rb),
        members=members.drop_columns(["pos"]),
        member_positions=members.column("pos").to_numpy(),
        factor_grades=factor_grades,
        factors=factors,
        factor_positions=None if factors is None else factors.column("pos").to_numpy(),
    )


def _span(positions: np.ndarray, i: int) -> tuple[int, int]:
    """The rows of the subject at position ``i`` among rows ordered by ``positions``."""
    lo = int(positions.searchsorted(i))
    hi = lo
    while hi < len(positions) and positions[hi] == i:  # a subject has a few rows
        hi += 1
    return lo, hi


MEMBER_COLUMNS = ("list", "cause", "entry_id", "grade", "start_day", "end_day", "via")
"""The columns of ``Decider.members``: a ``Membership``'s fields."""


class _Cells:
    """A column's values by row, read one at a time without converting the column: an
    integer column as an array and its validity, any other as indices into its distinct
    values."""

    def __init__(self, column: pa.ChunkedArray) -> None:
        self.integers = pa.types.is_integer(column.type)
        if self.integers:
            self.values = column.fill_null(0).to_numpy()
            self.valid = column.is_valid().to_numpy()
        else:
            encoded = pc.dictionary_encode(column).combine_chunks()
            self.values = encoded.indices.fill_null(-1).to_numpy()
            self.distinct = [*encoded.dictionary.to_pylist(), None]  # -1: None

    def __getitem__(self, row: int) -> Any:
        if self.integers:
            return int(self.values[row]) if self.valid[row] else None
        return self.distinct[self.values[row]]


def _searchable(codes: pa.Array) -> np.ndarray:
    """Sorted codes as an array NumPy can search: when every code has the same length in
    bytes (a registry's codes usually do), fixed-width bytes over Arrow's own buffer, with
    no object per code (10 million codes as Python texts take a second and 700 MB);
    else Python texts. Bytes order as UTF-8 texts do (by code point), and a code holds no
    NUL byte, which fixed-width bytes would drop from its end."""
    n = len(codes)
    if n and codes.null_count == 0 and pa.types.is_string(codes.type):
        _, offsets, data = codes.buffers()
        at = np.frombuffer(offsets, dtype=np.int32, count=n + 1, offset=codes.offset * 4)
        width = int(at[1] - at[0])
        if width > 0 and bool((np.diff(at) == width).all()):
            raw = np.frombuffer(data, dtype=np.uint8, count=n * width, offset=int(at[0]))
            if not bool((raw == 0).any()):
                fixed: np.ndarray = raw.view(f"S{width}")
                return fixed
    texts: np.ndarray = codes.to_numpy(zero_copy_only=False)
    return texts


def _list_codes(rb: RulebookHeader) -> pa.Array:
    return pa.array([lst.code for lst in rb.spec.lists], pa.string())


def _list_bits(n: int, members: pa.Table, rb: RulebookHeader) -> np.ndarray:
    """Per subject (``n`` of them), bit i set when a member of ``rb.spec.lists[i]``."""
    bits = np.zeros(n, dtype=np.int64)
    at = pc.index_in(members.column("list"), _list_codes(rb)).to_numpy(zero_copy_only=False)
    np.bitwise_or.at(bits, members.column("pos").to_numpy(), np.left_shift(1, at.astype(np.int64)))
    return bits


__all__ = ["Decider", "NoSnapshot", "Reason", "UnknownService", "load_decider"]
