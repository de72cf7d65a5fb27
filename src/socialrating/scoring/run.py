"""Run the scoring plan on a store and materialise a snapshot tagged with rulebook and date."""

from __future__ import annotations

import datetime as dt
import json
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from socialrating.ledger.integrity import TrustingRun, record_run, trusted_compiled, vouch_run
from socialrating.ledger.rulebooks import in_force
from socialrating.ledger.store import Store, setting_bytes
from socialrating.model import EntryKind, day_number, utc_now
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.compiled import bind, compiled
from socialrating.scoring.incremental import LISTS, SCORES, BaseRun, base_run, choose, give_up_at
from socialrating.scoring.run_factors import (
    CARRIED,
    carry_factors,
    carry_unchanged_factors,
    refused_grades,
    store_factors,
)

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from socialrating.scoring.plan import PlanInputs


def score_expr(inputs: PlanInputs, as_of: dt.date, subject_id: int | None = None) -> ir.Table:
    """The whole plan for ``as_of`` as one Ibis expression: one row per subject (or for one)."""
    from socialrating.scoring.plans import scored

    return scored(inputs, day_number(as_of), subject_id)


@dataclass(frozen=True)
class RunResult:
    """A scoring run: its snapshot's id, what it was computed for, and its figures."""

    run_id: int
    rulebook_hash: str
    as_of: dt.date
    subjects: int
    records: int
    seconds: float
    grades: dict[str, dict[str, int]] = field(default_factory=dict)
    mean_score: dict[str, float] = field(default_factory=dict)
    lists: dict[str, int] = field(default_factory=dict)
    contagion: dict[str, int] = field(default_factory=dict)
    incremental: dict[str, int] = field(default_factory=dict)
    """For an incremental run: the run it started from (``base_run``) and how many
    subjects it scored again (``scores``) and whose lists it computed again (``lists``);
    for a run that found so many to score again that it ran in full instead
    (``incremental.FULL_SHARE``): ``base_run`` and ``full`` (1); empty for a full run."""

    def as_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "rulebook_hash": self.rulebook_hash,
            "as_of": self.as_of.isoformat(),
            "subjects": self.subjects,
            "records": self.records,
            "seconds": round(self.seconds, 3),
            "grades": self.grades,
            "mean_score": self.mean_score,
            "lists": self.lists,
            "contagion": self.contagion,
            "incremental": self.incremental,
        }


PERFECT_HASH_BITS = 24
"""The widest subject ids (in bits, one more than the largest id's) that a run aggregates
per subject in an array (``_tune``): on a ledger of 11 million subjects (25 bits) a full
run took as long either way and its process 2.4 GB more memory with the arrays."""

PERFECT_SLOT_BYTES = 36
"""What one slot of those arrays costs a thread, about (2.4 GB over 2 threads and 2^25
slots, besides DuckDB's memory limit: the arrays are not buffers it can spill)."""


def perfect_hash_bits(top: int, threads: int, memory_limit: float) -> int | None:
    """The ``perfect_ht_threshold`` for subject ids up to ``top``, or None to keep
    DuckDB's: past ``PERFECT_HASH_BITS``, or when the arrays of every thread would take
    more than a quarter of ``memory_limit`` (bytes), a hash table that can spill is
    better."""
    bits = top.bit_length() + 1
    if not 12 < bits <= PERFECT_HASH_BITS:
        return None
    if (1 << bits) * PERFECT_SLOT_BYTES * max(threads, 1) > memory_limit / 4:
        return None
    return bits


def _tune(store: Store) -> None:
    """Let DuckDB aggregate per subject in an array indexed by subject id.

    DuckDB uses such a "perfect hash" aggregate only for keys of at most
    ``perfect_ht_threshold`` bits (12 by default); subject ids are dense, so up to
    ``PERFECT_HASH_BITS`` this makes the per-subject stage several times faster.
    """
    top, threads, limit = store.one(
        "SELECT (SELECT coalesce(max(subject_id), 0) FROM subjects), "
        "current_setting('threads'), current_setting('memory_limit')"
    ) or (0, 1, "")
    bits = perfect_hash_bits(int(top), int(threads), setting_bytes(str(limit)))
    if bits is not None:
        store.run(f"SET perfect_ht_threshold = {bits}")


def _date_grade_memberships(
    store: Store, rb: RulebookHeader, run_id: int, as_of: dt.date, only: str | None = None
) -> None:
    """Give the run's grade and alert memberships, and joint ones carried from them, a start.

    A grade (or a measure's alert) is not a dated fact, so a run dates it: a subject listed for its grade is
    listed since the as-of date of the earliest run, in the unbroken series of runs of
    this rulebook up to this one, that listed it for that grade on that list (the run
    before this one is the latest by as-of date, then by id). A joint membership then
    starts on the later of the start of the membership it was carried from and the day of
    the record linking the two. With ``only`` (a table of subject ids), only those
    subjects' memberships are dated.
    """
    chosen = "" if only is None else f"IN (SELECT subject_id FROM {only})"
    store.run(
        """UPDATE list_members m SET start_day = coalesce(
               (SELECT p.start_day FROM list_members p
                WHERE p.run_id = (SELECT run_id FROM runs
                                  WHERE rulebook_hash = ? AND (as_of < ? OR (as_of = ? AND run_id < ?))
                                  ORDER BY as_of DESC, run_id DESC LIMIT 1)
                  AND p.list = m.list AND p.subject_id = m.subject_id AND p.cause = m.cause
                  AND p.grade = m.grade),
               ?)
           WHERE m.run_id = ? AND m.cause IN ('grade', 'alert')"""
        + (f" AND m.subject_id {chosen}" if chosen else ""),
        [rb.hash, as_of, as_of, run_id, day_number(as_of), run_id],
    )
    for lst in rb.spec.lists:  # in order: a list's joint sources come before it
        sources = [joint.list for joint in lst.enter_with]
        if not sources:
            continue
        # The joint members found first (few), then their sources' starts and their links'
        # days: correlated with the whole table, the look-ups would join every entry.
        store.run(
            f"""UPDATE list_members m SET start_day = greatest(m.start_day, j.via_start, j.day)
                FROM (SELECT j.row, e.day,
                             (SELECT min(v.start_day) FROM list_members v
                              WHERE v.run_id = ? AND v.subject_id = j.via_subject
                                AND list_contains(?, v.list)) AS via_start
                      FROM (SELECT rowid AS row, via_subject, entry_id FROM list_members
                            WHERE run_id = ? AND list = ? AND cause = 'joint'
                              {f"AND subject_id {chosen}" if chosen else ""}) j
                      LEFT JOIN entries e USING (entry_id)) j
                WHERE m.rowid = j.row""",
            [run_id, sources, run_id, lst.code],
        )


SCORED = "run_scored"
"""The temporary table of the rows a run scored (all, or those an incremental run chose)."""

SNAPSHOT_COLUMNS = (
    "subject_id, score, grade, points_score, direct_grade, stage, contagion, contagion_contacts"
)
LIST_COLUMNS = "list, subject_id, cause, entry_id, grade, start_day, end_day, via_subject"


def score_run(
    store: Store,
    as_of: dt.date | None = None,
    rulebook: RulebookHeader | None = None,
    *,
    full: bool = False,
) -> RunResult:
    """Score every subject as of ``as_of`` (default: today, UTC) and store the snapshot.

    The run takes the version of the rulebook in force on ``as_of`` (and the versions
    before it, by which it values the records of their days: ``in_force``), unless
    ``rulebook`` is given.

    After an earlier run of the same rulebook (unless ``full``), only the subjects whose
    result can have changed since are scored again (``incremental``); everyone else's
    rows are carried over from that run. The snapshot is the same either way.
    """
    as_of = as_of or utc_now().date()
    started = time.perf_counter()
    started_at = utc_now()
    day = day_number(as_of)
    store.run("RESET perfect_ht_threshold")  # set for a full run's scores alone (``_tune``)
    with store.transaction(), ExitStack() as checks:
        # Read in the transaction: an activation commits whole, before or after it.
        rb = rulebook or in_force(store, day)
        base = None if full else base_run(store, rb)
        # Nothing it reads may differ from what the ledger recorded of it.
        for version in rb.versions:  # the earlier ones value older records
            trusted_compiled(store, version.hash, upgrade=True)
        # The run it carries rows from is checked beside it (waited for before its own
        # digests are recorded, and on the way out of an error).
        checked = None if base is None else checks.enter_context(TrustingRun(store, base.run_id))
        run_id = store.next_id("runs", "run_id")
        last_entry = store.scalar("SELECT coalesce(max(entry_id), 0) FROM entries")
        rescored: dict[str, int] = {}
        gave_up: BaseRun | None = None  # its factors may be carried: ``SCORES`` holds the choice
        if base is not None:
            chosen = choose(store, rb, base, day, give_up_at=give_up_at(store))
            if chosen is None:  # so many subjects that a full run is cheaper
                rescored, gave_up, base = {"base_run": base.run_id, "full": 1}, base, None
            else:
                rescored = {"base_run": base.run_id, "scores": chosen[0], "lists": chosen[1]}
        if base is None:
            sql = bind(compiled(store, rb, "scores"), day)
            # Every subject's: not for a few (an incremental run's plans of 90,000 subjects
            # of the bench ledger took 1.5 s with it, 1.0 s without).
            _tune(store)
        else:
            # The base run: whoever may be low in it, and not chosen, still is.
            sql = bind(compiled(store, rb, "scores@chosen"), day, None, base.run_id)
        # The rows scored are kept for the key factors (they read what limited a grade),
        # where a service may refuse by grade.
        factors = any(refused_grades(rb).values())
        scored = f"({sql})"
        if factors:
            store.run(f"CREATE OR REPLACE TEMP TABLE {SCORED} AS {sql}")
            scored = SCORED
        rows = f"SELECT {SNAPSHOT_COLUMNS} FROM {scored}"
        if base is not None:
            rows = f"""SELECT {SNAPSHOT_COLUMNS} FROM snapshot
                       ANTI JOIN {SCORES} USING (subject_id) WHERE run_id = {base.run_id}
                       UNION ALL {rows}"""
        # In subject order: a look-up of one subject's row then reads one row group.
        store.run(
            f"INSERT INTO snapshot SELECT {run_id}, {SNAPSHOT_COLUMNS} FROM ({rows}) "
            "ORDER BY subject_id"
        )
        # Only the per-subject stage gains from it; elsewhere (the key factors of a few
        # subjects, the lists keyed by list and subject) each thread would allocate and
        # clear a table of every subject id (the factors of an incremental run of the
        # bench ledger: 1.3-1.9 s with it, 0.76 s without).
        store.run("RESET perfect_ht_threshold")
        factored = carried = 0
        if factors:
            but = None
            if base is not None:
                carry_factors(store, run_id, base.run_id, SCORES)
            elif gave_up is not None:
                carried = carry_unchanged_factors(store, rb, run_id, gave_up.run_id, SCORED, SCORES)
                but = CARRIED
            factored = store_factors(store, rb, run_id, day, SCORED, but=but)
            store.run(f"DROP TABLE {SCORED}")
        if rb.spec.lists:
            if base is None:
                lists_sql = bind(compiled(store, rb, "run_lists"), day, None, run_id)
                members = f"SELECT {LIST_COLUMNS} FROM ({lists_sql})"
            else:
                lists_sql = bind(compiled(store, rb, "run_lists@chosen"), day, None, run_id)
                members = f"""SELECT {LIST_COLUMNS} FROM list_members
                              ANTI JOIN {LISTS} USING (subject_id) WHERE run_id = {base.run_id}
                              UNION ALL SELECT {LIST_COLUMNS} FROM ({lists_sql})"""
            store.run(
                f"INSERT INTO list_members SELECT {run_id}, {LIST_COLUMNS} FROM ({members}) "
                "ORDER BY subject_id"
            )
            # Carried members keep their dates; those computed again are dated now.
            _date_grade_memberships(store, rb, run_id, as_of, None if base is None else LISTS)
        sizes = dict(
            store.rows(
                "SELECT list, count(*) FROM list_members WHERE run_id = ? GROUP BY 1", [run_id]
            )
        )
        lists = {lst.code: int(sizes.get(lst.code, 0)) for lst in rb.spec.lists}
        grades: dict[str, dict[str, int]] = {}
        mean: dict[str, float] = {}
        # Every row counted as a citizen's, then the few of other kinds moved to theirs:
        # only those are joined to the registry (0.025 s for 2 million rows, against
        # 0.11 s joining them all).
        for kind, grade, n, total in store.rows(
            """WITH n AS NOT MATERIALIZED (
                   SELECT grade, score, subject_id FROM snapshot WHERE run_id = ?),
               o AS (SELECT subject_id, kind FROM subjects WHERE kind <> 'citizen')
               SELECT kind, grade, sum(n), sum(total) FROM (
                   SELECT 'citizen' AS kind, grade, count(*) AS n, sum(score) AS total
                   FROM n GROUP BY grade
                   UNION ALL
                   SELECT 'citizen', grade, -count(*), -sum(score)
                   FROM n SEMI JOIN o USING (subject_id) GROUP BY grade
                   UNION ALL
                   SELECT o.kind, grade, count(*), sum(score)
                   FROM n JOIN o USING (subject_id) GROUP BY ALL)
               GROUP BY ALL HAVING sum(n) <> 0""",
            [run_id],
        ):
            grades.setdefault(kind, {})[grade] = int(n)
            mean[kind] = mean.get(kind, 0.0) + float(total)
        order = {k: [b.grade for b in rb.bands(k)] for k in ("citizen", "organisation")}
        grades = {k: {g: v.get(g, 0) for g in order[k]} for k, v in sorted(grades.items())}
        for kind, dist in grades.items():
            mean[kind] = round(mean[kind] / max(1, sum(dist.values())), 2)
        subjects = sum(sum(dist.values()) for dist in grades.values())
        contagion: dict[str, int] = {}
        if rb.spec.contagion is not None:
            lowered, fell = store.one(
                """SELECT count(*), count(*) FILTER (WHERE list_contains(?, grade))
                   FROM snapshot WHERE run_id = ? AND contagion < 0""",
                [rb.spec.contagion.from_grades, run_id],
            ) or (0, 0)
            contagion = {"lowered": int(lowered), "fell_to_from_grades": int(fell)}
        records = store.scalar(
            "SELECT count(*) FROM entries WHERE kind = ? AND day <= ?",
            [int(EntryKind.RECORD), day_number(as_of)],
        )
        seconds = time.perf_counter() - started
        stats = {
            "lists": lists,
            "contagion": contagion,
            "grades": grades,
            "mean_score": mean,
            "records": int(records),
            "incremental": rescored,
            "factors": {"grades": refused_grades(rb), "computed": factored}
            | ({"carried": carried} if gave_up is not None else {}),
        }
        store.run(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                rb.hash,
                as_of,
                started_at,
                utc_now(),
                last_entry,
                subjects,
                json.dumps(stats),
            ],
        )
        if checked is not None:
            checked.wait()  # raises if it differs: nothing is committed
        record_run(store, run_id)
    vouch_run(store, run_id)
    return RunResult(
        run_id,
        rb.hash,
        as_of,
        int(subjects),
        int(records),
        seconds,
        grades,
        mean,
        lists,
        contagion,
        rescored,
    )


def list_runs(store: Store, limit: int | None = None) -> list[dict[str, Any]]:
    """The scoring runs, latest first: id, as-of date, rulebook, when, how long, and what
    they covered (subjects, records, the last ledger entry they saw) with list sizes."""
    rows = store.rows(
        f"""SELECT r.run_id, r.as_of, r.rulebook_hash, b.name, b.version, r.started_at,
                   r.finished_at, r.subjects, r.last_entry, r.stats
            FROM runs r LEFT JOIN rulebooks b ON b.hash = r.rulebook_hash
            ORDER BY r.run_id DESC {f"LIMIT {int(limit)}" if limit else ""}"""
    )
    runs: list[dict[str, Any]] = []
    for run_id, as_of, rb_hash, name, version, started, finished, subjects, last, stats in rows:
        figures = json.loads(stats) if stats else {}
        runs.append(
            {
                "run_id": int(run_id),
                "as_of": as_of.isoformat(),
                "rulebook_hash": rb_hash,
                "rulebook": f"{name} {version}",
                "started_at": started.isoformat() + "Z",
                "seconds": round((finished - started).total_seconds(), 3),
                "subjects": int(subjects),
                "records": int(figures.get("records", 0)),
                "last_entry": int(last),
                "lists": figures.get("lists", {}),
            }
        )
    return runs


def unchanged_run(
    store: Store, rulebook_hash: str, as_of: dt.date, last_entry: int | None = None
) -> RunResult | None:
    """The latest run of this rulebook as of this date that saw the whole ledger as it is
    now (no entry since), or None: scoring again would store the same snapshot.

    With ``last_entry``, the latest such run that saw the ledger up to that entry.
    """
    row = store.one(
        """SELECT run_id, subjects, started_at, finished_at, stats FROM runs
           WHERE rulebook_hash = ? AND as_of = ?
             AND last_entry = coalesce(?, (SELECT coalesce(max(entry_id), 0) FROM entries))
           ORDER BY run_id DESC LIMIT 1""",
        [rulebook_hash, as_of, last_entry],
    )
    if row is None:
        return None
    run_id, subjects, started, finished, stats = row
    figures = json.loads(stats) if stats else {}
    return RunResult(
        int(run_id),
        rulebook_hash,
        as_of,
        int(subjects),
        int(figures.get("records", 0)),
        (finished - started).total_seconds(),
        figures.get("grades", {}),
        figures.get("mean_score", {}),
        figures.get("lists", {}),
        figures.get("contagion", {}),
    )
