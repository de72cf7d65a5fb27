"""A synthetic nation lived step by step through the ledger: the one loop of the demo, the
simulation and calibration.

Each step draws the step's records (``life.Life``) as one batch per institution, sends
them through the ledger's ingest with idempotency keys, has an authority verify a share
of the step's citizen reports, scores the nation as of the step's last day (incrementally
after the first), and tells the drawing what the run did, so that the next step responds
to it. Nothing takes a side path: the records are stored and scored as real ones are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TypedDict

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from rich.progress import Progress

from socialrating.errors import LedgerError, ScoringError
from socialrating.ledger import ingest_table, register_subjects
from socialrating.ledger.ingest import (
    PROCESS_SHARE,
    IngestResult,
    groups,
    ingest_tables,
    process_memory,
)
from socialrating.ledger.store import Store, setting_bytes
from socialrating.model import EntryKind, InstitutionClass, day_date
from socialrating.rulebook import Rulebook
from socialrating.rulebook.schema import Band
from socialrating.scoring import RunResult, score_run
from socialrating.scoring.run import unchanged_run
from socialrating.simulate.life import STREAM_VERIFICATIONS, Life, batches
from socialrating.simulate.nation import Nation, make_nation
from socialrating.simulate.scenario import Scenario

CHUNK = 200_000
"""The most rows of one batch the simulation sends."""


SENDERS = 2
"""How many groups of batches are typed and checked at once, each on a cursor of its own:
while one group waits for its turn to be stored, the next is checked."""


INDEX_SHARE = 0.1
"""The share of DuckDB's memory limit past which a simulation opens its ledger again
before a step's run (``Store.reopen``), so that the run does not share the limit with the
index of entries by subject. DuckDB holds an index it changed in memory and cannot spill
it (1.7 GB at 83 million entries); at ten million citizens a year in 28-day steps ran out
of memory in its ninth run with it held (a limit of 9.0 GiB), where the same run passed in
the same process with it not loaded (9.4 GiB) and in a new one at 6 GiB. At a million
citizens a year's index stays under a tenth of the limit: no opening."""


def index_crowds(store: Store, limit: str | None) -> bool:
    """Whether the index DuckDB holds in memory takes more than ``INDEX_SHARE`` of the
    memory limit ``limit`` (``process_memory``'s; None: someone else's, left alone)."""
    if limit is None or store.path == ":memory:":
        return False
    held = store.scalar(
        "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag = 'ART_INDEX'"
    )
    return float(held or 0) > INDEX_SHARE * setting_bytes(limit)


class Sender:
    """Sends a step's batches in groups (``ingest.groups``: consecutive batches from
    distinct institutions, of at most CHUNK rows together), each group staged, typed,
    checked and appended at once (``ingest_tables``: a small batch's cost is DuckDB
    planning its statements, which a group pays once); up to SENDERS groups at once, each
    on a cursor of its own, appended in the order given, so that entry numbers, and a
    run's results, are the same whatever the threads do. A batch that fails does not stop
    the others from being stored, and ``send`` raises its error once they are."""

    def __init__(self, store: Store, workers: int | None = None) -> None:
        self.store = store
        self.workers = workers or SENDERS
        self._cursors: list[Store] = []
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(self.workers) if self.workers > 1 else None

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        for cursor in self._cursors:
            cursor.close()

    def send(self, parts: list[tuple[str, pa.Table, str]]) -> list[IngestResult]:
        """Ingest each (institution, table, source) in ``parts``: their results, in order."""
        grouped = [[parts[k] for k in group] for group in groups(parts, CHUNK)]
        if self._pool is None:
            found = [r for group in grouped for r in ingest_tables(self.store, group)]
        else:
            order = _InOrder()
            futures = [
                self._pool.submit(self._one, order, k, group) for k, group in enumerate(grouped)
            ]
            found = [r for f in futures for r in f.result()]
        for result in found:
            if isinstance(result, LedgerError):
                raise result
        return [r for r in found if isinstance(r, IngestResult)]

    def _one(
        self, order: _InOrder, k: int, group: list[tuple[str, pa.Table, str]]
    ) -> list[IngestResult | LedgerError]:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._local.cursor = self.store.cursor()
            self._cursors.append(cursor)
        turn = order.turn(k)
        try:
            return ingest_tables(cursor, group, turn=turn)
        finally:
            order.passed(k)


class _InOrder:
    """Turns taken in the order of their numbers, from 0."""

    def __init__(self) -> None:
        self._next = 0
        self._ready = threading.Condition()

    @contextmanager
    def turn(self, k: int) -> Iterator[None]:
        with self._ready:
            self._ready.wait_for(lambda: self._next == k)
        try:
            yield
        finally:
            self.passed(k)

    def passed(self, k: int) -> None:
        """Turn ``k`` is over (taken, or given up by a batch that failed before it): the
        next may go. Once the turns before it are over."""
        with self._ready:
            self._ready.wait_for(lambda: self._next >= k)
            self._next = max(self._next, k + 1)
            self._ready.notify_all()


class NationSize(TypedDict):
    """What makes a nation and its steps (the keyword arguments of ``live``)."""

    citizens: int
    organisations: int
    days: int
    step_days: int
    seed: int


@dataclass(frozen=True)
class Step:
    """One step lived: its number (from 1), its first and last day, the records that
    arrived in it, and its run."""

    number: int
    first: int
    last: int
    arrived: int
    run: RunResult


@dataclass(frozen=True)
class Lived:
    """A nation lived: what the ledger stored (and already held), and every step."""

    nation: Nation
    stored: int
    duplicates: int
    steps: list[Step]
    places: np.ndarray
    """The nation's places of subject ids (``positions``)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time by stage: ``draw``, ``ingest`` (verifications too), ``reopen`` (the
    ledger opened again, ``index_crowds``), ``score``, ``respond``
    (reading what the run did) and ``report`` (``on_step``)."""

    @property
    def run(self) -> RunResult:
        return self.steps[-1].run


def step_ends(first_day: int, days: int, step_days: int) -> list[int]:
    """The last day of each step of about ``step_days`` days, over ``days`` days from
    ``first_day``; the last step takes what is left over (52 weeks of a year: the last
    has 8 days)."""
    n = max(1, round(days / step_days))
    return [first_day + k * step_days - 1 for k in range(1, n)] + [first_day + days - 1]


def key_prefix(
    rb: Rulebook,
    scenario: Scenario,
    seed: int,
    citizens: int,
    organisations: int,
    days: int,
    step_days: int,
) -> str:
    """The idempotency keys' prefix: the same nation, rulebook, scenario and steps give
    the same keys; anything else another prefix (which ``_same_nation`` refuses)."""
    text = f"{rb.hash}|{scenario.model_dump_json()}|{citizens}|{organisations}|{days}|{step_days}"
    return f"sim-{seed}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


@contextmanager
def _within_memory(store: Store, number: int, end: int, memory: int | None) -> Iterator[None]:
    """DuckDB running out of the memory the budget left it, in a step, said as what it
    means to the one living the nation: what is stored, and what to do."""
    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        limit = store.memory_limit()
        budget = f"{memory / 1e9:.1f} GB" if memory else f"{PROCESS_SHARE:.0%} of the machine's"
        raise ScoringError(
            f"step {number} (to {day_date(end)}) needed more memory than DuckDB may use "
            f"here ({limit}, from a budget of {budget} for the whole process, less what "
            "the nation takes besides); what was stored stays (each batch whole or not at "
            "all), and living the nation again into the same ledger stores nothing twice: "
            "give a larger budget (`--memory`), or fewer citizens"
        ) from exc


def live(
    store: Store,
    rb: Rulebook,
    scenario: Scenario,
    *,
    citizens: int,
    organisations: int,
    days: int,
    step_days: int,
    seed: int,
    progress: Progress | None = None,
    on_step: Callable[[Step], None] | None = None,
    check_runs: bool = False,
    memory: int | None = None,
) -> Lived:
    """Live a nation of ``citizens`` and ``organisations`` for ``days`` days from the
    rulebook's effective date, in steps of ``step_days`` (see the module). The rulebook
    must be the ledger's active one. The same seed and scenario give the same records.

    With ``check_runs``, each run that started from an earlier one (incremental, or in
    full with the key factors of the subjects it did not choose carried) is scored again
    in full from the ledger as it stood (``integrity.rescore``) and the simulation stops
    at the first that differs (``ScoringError``): a nation lived week by week is a larger
    test of incremental runs than any hand-made ledger.

    Once the nation is drawn, DuckDB's memory is bounded so that the whole process stays
    near ``memory`` bytes (default: most of the machine's, ``ingest.process_memory``),
    the ledger growing or not: past it DuckDB spills to disk."""
    rng = np.random.default_rng(seed)
    first_day = rb.effective_day
    nation = make_nation(
        rng,
        citizens,
        organisations,
        rb.spec.effective,
        scenario.conduct,
        scenario.population,
        scenario.records,
    )
    prefix = key_prefix(rb, scenario, seed, citizens, organisations, days, step_days)
    _same_nation(store, prefix)
    register_subjects(store, nation.subjects, "synthetic nation")
    places = positions(store, nation)
    life = Life(seed, nation, rb, scenario)
    ends = step_ends(first_day, days, step_days)
    task = progress.add_task("living the steps", total=len(ends)) if progress else None
    stored = duplicates = 0
    steps: list[Step] = []
    seconds = dict.fromkeys(("draw", "ingest", "reopen", "score", "respond", "report"), 0.0)
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] += now - clock
        clock = now

    with ExitStack() as bounded:
        limit = bounded.enter_context(process_memory(store, memory))
        start = first_day
        for number, end in enumerate(ends, start=1):
            draws = life.step(start - first_day, end - start + 1)
            tables = batches(draws, nation, rb, life.inst_codes, first_day, f"{prefix}-s{number}")
            lap("draw")
            new = 0
            # An institution sends a large step's records in batches of at most CHUNK rows.
            parts = [
                (
                    code,
                    table.slice(offset, CHUNK),
                    f"simulate:{code}:step-{number}:rows-{offset + 1}",
                )
                for code, table in tables
                for offset in range(0, table.num_rows, CHUNK)
            ]
            with _within_memory(store, number, end, memory), Sender(store) as sender:
                for result in sender.send(parts):
                    new, duplicates = new + result.stored, duplicates + result.duplicates
            # A generator of the step's own: the same choices when the step is lived again.
            v_new, v_dup = _verify_reports(
                store,
                rb,
                np.random.default_rng([seed, STREAM_VERIFICATIONS, number, 0, 0, 0, 0]),
                scenario.records.verified_share,
                f"{prefix}-s{number}",
                end,
            )
            new, duplicates = new + v_new, duplicates + v_dup
            stored += new
            lap("ingest")
            if index_crowds(store, limit):
                bounded.close()  # the memory limit is a setting of the database closed
                store.reopen()
                limit = bounded.enter_context(process_memory(store, memory))
                lap("reopen")
            # Nothing new in the step (the nation lived again): its run stands.
            with _within_memory(store, number, end, memory):
                run = (
                    _earlier_run(store, rb.hash, day_date(end)) if new == 0 else None
                ) or score_run(store, day_date(end))
            if check_runs and run.incremental:
                check_run(store, run, number)
            lap("score")
            life.respond(
                *standing(store, run.run_id, nation, rb, scenario.responses.margin, places)
            )
            lap("respond")
            step = Step(number, start, end, len(draws), run)
            steps.append(step)
            if on_step is not None:
                on_step(step)
            lap("report")
            start = end + 1
            if progress is not None and task is not None:
                progress.advance(task)
    return Lived(nation, stored, duplicates, steps, places, seconds)


def check_run(store: Store, run: RunResult, step: int) -> None:
    """Raise ``ScoringError`` unless ``run`` stored what a full run of the ledger as it
    stood stores (snapshot, list members, key factors)."""
    from socialrating.ledger.integrity import rescore

    report = rescore(store, run.run_id)
    if not report.ok:
        raise ScoringError(
            f"step {step}: run {run.run_id} (as of {run.as_of}, from run "
            f"{run.incremental['base_run']}) differs from a full run: subjects "
            f"{report.differing:,} (for example {', '.join(report.examples[:5]) or 'none'}), "
            f"list members {report.members_differing:,}, key factor rows "
            f"{report.factors_differing:,}"
        )


def refuse_another_nation(
    store: Store,
    rb: Rulebook,
    scenario: Scenario,
    *,
    citizens: int,
    organisations: int,
    days: int,
    step_days: int,
    seed: int,
) -> None:
    """Refuse, before anything is stored (the rulebook's activation too), a ledger that
    holds another synthetic nation (see ``live``)."""
    prefix = key_prefix(rb, scenario, seed, citizens, organisations, days, step_days)
    _same_nation(store, prefix)


def _same_nation(store: Store, prefix: str) -> None:
    """Refuse a ledger that holds another synthetic nation's records: its subjects' codes
    are this nation's, so its records would be counted with this one's."""
    other = store.scalar(
        """SELECT idem_key FROM entries
           WHERE (starts_with(idem_key, 'sim-') OR starts_with(idem_key, 'demo-'))
             AND NOT starts_with(idem_key, ?) LIMIT 1""",
        [prefix + "-"],
    )
    if other is not None:
        raise LedgerError(
            f"{store.path} holds another synthetic nation (a record keyed {other!r}: made "
            "with another seed, size or scenario, or by an earlier version); its subjects' "
            "codes are this nation's, so both would count: use a new database (--db FILE) "
            "or delete this one"
        )


def _earlier_run(store: Store, rulebook_hash: str, as_of: dt.date) -> RunResult | None:
    """The latest run of this rulebook as of this day, if the ledger has one."""
    row = store.one(
        "SELECT max(last_entry) FROM runs WHERE rulebook_hash = ? AND as_of = ?",
        [rulebook_hash, as_of],
    )
    if row is None or row[0] is None:
        return None
    return unchanged_run(store, rulebook_hash, as_of, last_entry=int(row[0]))


def positions(store: Store, nation: Nation) -> np.ndarray:
    """Per registered subject id, the subject's place in the nation (-1: not of it)."""
    t = store.arrow("SELECT subject_id, code FROM subjects")
    ids = t.column("subject_id").to_numpy()
    out = np.full(int(ids.max(initial=0)) + 1, -1, dtype=np.int64)
    where = pc.index_in(t.column("code"), value_set=nation.subjects.column("code"))
    out[ids] = where.fill_null(-1).to_numpy(zero_copy_only=False)
    return out


def by_score(rb: Rulebook, kind: str) -> list[Band]:
    """The kind's bands taken by score, lowest first (the lowest has no floor)."""
    return sorted(
        (b for b in rb.bands(kind) if b.by_score),
        key=lambda b: -1e18 if b.min is None else b.min,
    )


def low_grades(rb: Rulebook, kind: str) -> set[str]:
    """The kind's two lowest grades by score, where it has at least three (else none):
    with the lists, what counts as sanctioned."""
    bands = by_score(rb, kind)
    return {b.grade for b in bands[:2]} if len(bands) >= 3 else set()


def standing(
    store: Store, run_id: int, nation: Nation, rb: Rulebook, margin: int, places: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per subject of the nation, as the run left it: sanctioned (on a list, or in one of
    its kind's two lowest grades), and near a lower grade (within ``margin`` points of
    its band's floor). ``places`` are the nation's places of subject ids (``positions``)."""
    left = run_flags(store, run_id, nation, rb, margin, places)
    return left["low"] | left["listed"], left["near"]


def run_flags(
    store: Store, run_id: int, nation: Nation, rb: Rulebook, margin: int, places: np.ndarray
) -> dict[str, np.ndarray]:
    """Per subject of the nation, as the run left it: ``low`` (in its kind's two lowest
    grades by score, where it has three or more), ``listed``, ``near`` a lower grade
    (within ``margin`` points of its band's floor) and ``lowered`` by contagion."""
    floors = []
    for kind in ("citizen", "organisation"):
        low = low_grades(rb, kind)
        floors += [(kind, b.grade, b.min, b.grade in low) for b in by_score(rb, kind)]
    values = ", ".join("(?, ?, ?::BIGINT, ?)" for _ in floors)
    t = store.arrow(
        f"""WITH bands(kind, grade, floor, low) AS (VALUES {values})
            SELECT n.subject_id, coalesce(b.low, false) AS low,
                   m.subject_id IS NOT NULL AS listed,
                   coalesce(n.score - b.floor < ?, false) AS near,
                   n.contagion < 0 AS lowered
            FROM snapshot n JOIN subjects s USING (subject_id)
            LEFT JOIN bands b ON b.kind = s.kind AND b.grade = n.grade
            LEFT JOIN (SELECT DISTINCT subject_id FROM list_members WHERE run_id = ?) m
                   USING (subject_id)
            WHERE n.run_id = ?""",
        [v for row in floors for v in row] + [margin, run_id, run_id],
    )
    ids = t.column("subject_id").to_numpy()
    inside = ids < len(places)
    at = places[ids[inside]]
    keep = at >= 0
    flags = {}
    for column in ("low", "listed", "near", "lowered"):
        out = np.zeros(nation.subjects.num_rows, dtype=bool)
        out[at[keep]] = t.column(column).to_numpy(zero_copy_only=False)[inside][keep]
        flags[column] = out
    return flags


def _verify_reports(
    store: Store,
    rb: Rulebook,
    rng: np.random.Generator,
    share: float,
    prefix: str,
    last_day: int,
) -> tuple[int, int]:
    """An authority verifies a share of the step's citizen reports (their keys start with
    ``prefix``), a few days after each (by ``last_day`` at the latest)."""
    state = rb.institutions_of(InstitutionClass.STATE)
    if not state or share == 0:
        return 0, 0
    reports = store.arrow(
        """SELECT e.entry_id, e.day, e.idem_key FROM entries e
           JOIN rulebook_institutions i USING (institution_id)
           WHERE e.kind = ? AND i.rulebook_hash = ? AND i.class = 'citizen'
             AND starts_with(e.idem_key, ?)
           ORDER BY e.entry_id""",
        [int(EntryKind.RECORD), rb.hash, prefix + "-"],
    )
    chosen = np.flatnonzero(rng.random(reports.num_rows) < share)
    if len(chosen) == 0:
        return 0, 0
    days = np.minimum(
        reports.column("day").to_numpy()[chosen] + rng.integers(1, 10, len(chosen)), last_day
    )
    ids = reports.column("entry_id").to_numpy()[chosen]
    keys = reports.column("idem_key").to_numpy(zero_copy_only=False)[chosen]
    m = len(chosen)
    nulls = pa.nulls(m, pa.string())
    table = pa.table(
        {
            "line": pa.array(np.arange(1, m + 1), pa.int64()),
            "key": pa.array([f"{prefix}-verify-{k}" for k in keys], pa.string()),
            "subject": nulls,
            "parameter": nulls,
            "date": pa.array(days.astype(np.int32), pa.int32()).cast(pa.date32()).cast(pa.string()),
            "quantity": nulls,
            "severity": nulls,
            "confidence": nulls,
            "counterpart": nulls,
            "evidence": nulls,
            "kind": pa.array(["verification"] * m, pa.string()),
            "refers_to": pa.array(ids).cast(pa.string()),
            "act": nulls,
            "level": nulls,
        }
    )
    result = ingest_table(store, table, state[0], "simulate:verifications")
    return result.stored, result.duplicates
