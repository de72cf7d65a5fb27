"""What a candidate rulebook would do to the real ledger, before it takes effect:
`socialrating rulebook preview CANDIDATE.yaml [--as-of D]`.

Everyone is scored as of D under the candidate, beside the rulebook in force, and nothing
is stored: on a cursor of its own, temporary tables shadow ``rulebook_parameters`` (the
rulebook in force's rows and the candidate's, compiled by the registry ids its codes
have), ``snapshot``, ``list_members`` and ``runs``, and the compiled plans run on them
unchanged, the one in force as run ``-2``, the candidate as run ``-1``. When the latest
run is of the rulebook in force, as of D, and no entry came after it, its results stand
for the rulebook in force and only the candidate is scored: about one scoring run.

The report: the grade transition matrix (from → to, per kind of subject), entries and
exits per list, decisions that flip per service, the changed parameters whose records'
subjects changed grade, and the subjects whose grade changed, fell or rose, and whose
decisions flipped, by region, age band and sex.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialrating.groups import BY, group_sql
from socialrating.ledger.rulebooks import (
    compile_tables,
    in_force,
    stored_rulebook,
    timeline,
    version_on,
    with_earlier,
)
from socialrating.ledger.store import Store
from socialrating.model import EntryKind, day_number
from socialrating.rulebook.rulebook import Rulebook, RulebookHeader
from socialrating.scoring.compiled import bind, compiled
from socialrating.scoring.run import LIST_COLUMNS, SNAPSHOT_COLUMNS

BEFORE, AFTER = -2, -1
"""The run ids the rulebook in force and the candidate are scored as, in the cursor."""
SHADOWED = ("rulebook_parameters", "snapshot", "list_members", "runs")


def preview(store: Store, candidate: Rulebook, as_of: dt.date) -> dict[str, Any]:
    """Score the ledger as of ``as_of`` under ``candidate`` and under the rulebook in force;
    what would change (see the module). Stores nothing.

    The candidate is scored as if installed: records of days before its effective date
    keep the value of the versions in force then (``in_force``).

    Raises:
        LedgerError: the candidate would not be in force on ``as_of`` (it takes effect
            later, or an installed version takes over before then).
    """
    day = day_number(as_of)
    now = in_force(store, day)
    candidate = _as_installed(store, candidate, day)
    cur = store.cursor()
    try:
        reused = _shadow(cur, store, now, candidate, as_of)
        for run_id, rb, keep in ((BEFORE, now, True), (AFTER, candidate, False)):
            if run_id == BEFORE and reused is not None:
                continue
            _score(cur, rb, as_of, run_id, keep)
        report = _report(cur, now, candidate, as_of)
        report["reused_run"] = reused
        report["parameters"] = _moved_by(cur, _changed_parameters(cur, now), as_of)
        return report
    finally:
        cur.close()


def _as_installed(store: Store, candidate: Rulebook, day: int) -> Rulebook:
    """``candidate`` as the version in force on ``day`` were it installed, with the
    versions before it (``earlier``)."""
    from socialrating.errors import LedgerError
    from socialrating.model import day_date

    if candidate.effective_day > day:
        raise LedgerError(
            f"the candidate takes effect on {candidate.spec.effective}, after "
            f"{day_date(day)}: preview it as of {candidate.spec.effective} or later"
        )
    versions = dict(timeline(store))
    versions[candidate.effective_day] = candidate.hash
    ordered = sorted(versions.items())
    k = version_on(ordered, day)
    start, found = ordered[k]
    if found != candidate.hash:
        installed = stored_rulebook(store, found)
        raise LedgerError(
            f"{installed.label} takes effect on {day_date(start)}, after the candidate: "
            f"preview it as of a day before {day_date(start)}"
        )
    return with_earlier(store, candidate, ordered, k)


def _shadow(
    cur: Store, store: Store, in_force: RulebookHeader, candidate: Rulebook, as_of: dt.date
) -> int | None:
    """Make the cursor's temporary tables (see the module); the latest run, if its results
    stand for the rulebook in force (copied in as run ``BEFORE``)."""
    main = cur.main
    compile_tables(cur, candidate)
    for name in SHADOWED:
        cur.run(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {main}.{name} LIMIT 0")
    hashes = sorted({v.hash for v in (*in_force.versions, *candidate.versions)})
    cur.run(
        f"INSERT INTO temp.main.rulebook_parameters SELECT * FROM {main}.rulebook_parameters "
        "WHERE list_contains(?, rulebook_hash)",
        [hashes],
    )
    if not cur.scalar(
        "SELECT count(*) FROM temp.main.rulebook_parameters WHERE rulebook_hash = ?",
        [candidate.hash],
    ):
        cur.run("INSERT INTO temp.main.rulebook_parameters SELECT * FROM temp.compiled_parameters")
    for run_id, rb in ((BEFORE, in_force), (AFTER, candidate)):
        cur.run(
            "INSERT INTO temp.main.runs (run_id, rulebook_hash, as_of) VALUES (?, ?, ?)",
            [run_id, rb.hash, as_of],
        )
    latest = store.one(
        f"""SELECT run_id FROM {main}.runs WHERE rulebook_hash = ? AND as_of = ?
              AND last_entry = (SELECT coalesce(max(entry_id), 0) FROM {main}.entries)
              AND run_id = (SELECT max(run_id) FROM {main}.runs)""",
        [in_force.hash, as_of],
    )
    if latest is None:
        return None
    run_id = int(latest[0])
    cur.run(
        f"INSERT INTO temp.main.snapshot SELECT {BEFORE}, {SNAPSHOT_COLUMNS} "
        f"FROM {main}.snapshot WHERE run_id = {run_id}"
    )
    cur.run(
        f"INSERT INTO temp.main.list_members SELECT {BEFORE}, {LIST_COLUMNS} "
        f"FROM {main}.list_members WHERE run_id = {run_id}"
    )
    return run_id


def _score(cur: Store, rb: RulebookHeader, as_of: dt.date, run_id: int, keep: bool) -> None:
    """Everyone's scores and list memberships as of ``as_of`` under ``rb``, as ``run_id``."""
    day = day_number(as_of)
    scores = bind(compiled(cur, rb, "scores", keep=keep), day)
    cur.run(f"INSERT INTO temp.main.snapshot SELECT {run_id}, {SNAPSHOT_COLUMNS} FROM ({scores})")
    if rb.spec.lists:
        lists = bind(compiled(cur, rb, "run_lists", keep=keep), day, None, run_id)
        cur.run(
            f"INSERT INTO temp.main.list_members SELECT {run_id}, {LIST_COLUMNS} FROM ({lists})"
        )


def _report(
    cur: Store, in_force: RulebookHeader, candidate: Rulebook, as_of: dt.date
) -> dict[str, Any]:
    pair = f"""(SELECT b.subject_id, b.grade AS before, a.grade AS after, b.score AS was,
                       a.score AS now
                FROM snapshot b JOIN snapshot a USING (subject_id)
                WHERE b.run_id = {BEFORE} AND a.run_id = {AFTER})"""
    grades = [
        {"kind": kind, "from": x, "to": y, "subjects": int(n)}
        for kind, x, y, n in cur.rows(
            f"""SELECT s.kind, p.before, p.after, count(*) FROM {pair} p
                JOIN subjects s USING (subject_id) GROUP BY ALL ORDER BY ALL"""
        )
    ]
    lists: dict[str, dict[str, int]] = {
        lst.code: {"entered": 0, "left": 0} for lst in (*in_force.spec.lists, *candidate.spec.lists)
    }
    for code, entered, left in cur.rows(
        f"""WITH b AS (SELECT DISTINCT list, subject_id FROM list_members WHERE run_id = {BEFORE}),
                 a AS (SELECT DISTINCT list, subject_id FROM list_members WHERE run_id = {AFTER})
            SELECT coalesce(a.list, b.list), count(*) FILTER (WHERE b.list IS NULL),
                   count(*) FILTER (WHERE a.list IS NULL)
            FROM a FULL OUTER JOIN b USING (list, subject_id) GROUP BY 1 ORDER BY 1"""
    ):
        lists[str(code)] = {"entered": int(entered), "left": int(left)}
    flips = _decision_flips(cur, in_force, candidate)
    cur.con.register("preview_flips", flips["table"])
    try:
        by = {name: _by_group(cur, name, pair, as_of) for name in BY}
    finally:
        cur.con.unregister("preview_flips")

    def who(rb: RulebookHeader) -> dict[str, str]:
        return {"name": rb.spec.name, "version": rb.spec.version, "hash": rb.hash}

    subjects = int(cur.scalar(f"SELECT count(*) FROM snapshot WHERE run_id = {AFTER}"))
    changed = sum(g["subjects"] for g in grades if g["from"] != g["to"])
    return {
        "as_of": as_of.isoformat(),
        "in_force": who(in_force),
        "candidate": who(candidate),
        "subjects": subjects,
        "grade_changed": changed,
        "grades": grades,
        "lists": lists,
        "decisions": flips["counts"],
        "by": by,
    }


def _decision_flips(cur: Store, in_force: RulebookHeader, candidate: Rulebook) -> dict[str, Any]:
    """Per service of either rulebook, the decisions that differ (from → to, counts), and a
    table of every subject and service whose decision differs."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from socialrating.decisions.decider import load_decider

    only = None
    if _same_services(in_force, candidate):
        # Under the same services a decision follows from the subject's kind, grade, lists
        # and whether contagion lowered it: only subjects where one of these moved can flip.
        cur.run(
            f"""CREATE OR REPLACE TEMP TABLE preview_moved AS
                SELECT subject_id FROM snapshot b JOIN snapshot a USING (subject_id)
                WHERE b.run_id = {BEFORE} AND a.run_id = {AFTER}
                  AND (b.grade <> a.grade OR (b.contagion <> 0) <> (a.contagion <> 0)
                       OR b.direct_grade IS DISTINCT FROM a.direct_grade
                       OR subject_id IN (SELECT subject_id FROM (
                           (SELECT list, subject_id FROM list_members WHERE run_id = {BEFORE}
                            EXCEPT
                            SELECT list, subject_id FROM list_members WHERE run_id = {AFTER})
                           UNION ALL
                           (SELECT list, subject_id FROM list_members WHERE run_id = {AFTER}
                            EXCEPT
                            SELECT list, subject_id FROM list_members WHERE run_id = {BEFORE}))))"""
        )
        only = "preview_moved"
    before = load_decider(cur, BEFORE, in_force, only=only)
    after = load_decider(cur, AFTER, candidate, only=only)
    codes = after.codes
    mine = (np.arange(len(codes)), np.ones(len(codes), dtype=bool))
    located = {id(before): before.positions(codes), id(after): mine}
    services = sorted({s.code for s in (*in_force.spec.services, *candidate.spec.services)})
    counts: dict[str, list[dict[str, Any]]] = {}
    parts = []
    for service in services:
        was, now = (_decisions(d, codes, service, located[id(d)]) for d in (before, after))
        differ = pc.not_equal(was, now)
        flipped = pa.table(
            {
                "code": codes.filter(differ),
                "service": pa.array([service] * int(pc.sum(differ).as_py() or 0), pa.string()),
                "was": was.filter(differ),
                "now": now.filter(differ),
            }
        )
        parts.append(flipped)
        pairs = flipped.group_by(["was", "now"]).aggregate([("code", "count")])
        counts[service] = [
            {"from": r["was"], "to": r["now"], "subjects": int(r["code_count"])}
            for r in sorted(pairs.to_pylist(), key=lambda r: (r["was"], r["now"]))
        ]
    return {"counts": counts, "table": pa.concat_tables(parts) if parts else _no_flips()}


def _same_services(a: RulebookHeader, b: RulebookHeader) -> bool:
    """Whether two rulebooks decide every service alike, from the same facts."""
    return [s.model_dump() for s in a.spec.services] == [s.model_dump() for s in b.spec.services]


def _no_flips() -> Any:
    import pyarrow as pa

    return pa.table({n: pa.array([], pa.string()) for n in ("code", "service", "was", "now")})


def _decisions(decider: Any, codes: Any, service: str, located: Any) -> Any:
    """Each subject's decision for ``service`` (``none``: the rulebook has no such service),
    as an Arrow array."""
    import pyarrow as pa

    if service not in {s.code for s in decider.rulebook.spec.services}:
        return pa.array(["none"] * len(codes), pa.string())
    return decider.decide_many(codes, service, located).column("decision").combine_chunks()


def _by_group(cur: Store, by: str, pair: str, as_of: dt.date) -> list[dict[str, Any]]:
    group = group_sql(by, f"DATE '{as_of.isoformat()}'")
    return [
        {
            by: str(g),
            "subjects": int(n),
            "grade_changed": int(changed),
            "score_fell": int(fell),
            "score_rose": int(rose),
            "newly_refused": int(refused),
            "no_longer_refused": int(allowed),
        }
        for g, n, changed, fell, rose, refused, allowed in cur.rows(
            f"""SELECT {group} AS g, count(*),
                       count(*) FILTER (WHERE p.before <> p.after),
                       count(*) FILTER (WHERE p.now < p.was),
                       count(*) FILTER (WHERE p.now > p.was),
                       count(DISTINCT s.subject_id) FILTER (WHERE f.now = 'refused'),
                       count(DISTINCT s.subject_id) FILTER (WHERE f.was = 'refused')
                FROM {pair} p JOIN subjects s USING (subject_id)
                LEFT JOIN preview_flips f ON f.code = s.code
                GROUP BY 1 ORDER BY 1"""
        )
    ]


def _changed_parameters(cur: Store, in_force: RulebookHeader) -> list[str]:
    """The codes of the parameters the candidate adds, removes or values differently: its
    compiled rows (``compiled_parameters``) against those of the rulebook in force, by the
    values a parameter sets itself (``diff.PARAMETER_COLUMNS``): not its category's cap or
    repeat, which the category changes for all its parameters, nor the ids and bit masks
    that follow from the order of bands, lists and categories, nor its name."""
    from socialrating.rulebook.diff import PARAMETER_COLUMNS

    stored = {
        str(c)
        for (c,) in cur.rows(
            """SELECT column_name FROM information_schema.columns
               WHERE table_name = 'compiled_parameters'"""
        )
    }
    columns = [c for c in PARAMETER_COLUMNS if c in stored and c != "name"]
    differs = " OR ".join(f"x.{c} IS DISTINCT FROM y.{c}" for c in columns)
    return [
        str(code)
        for (code,) in cur.rows(
            f"""SELECT p.code FROM (
                    SELECT * FROM rulebook_parameters WHERE rulebook_hash = ?) x
                FULL OUTER JOIN temp.compiled_parameters y USING (parameter_id)
                JOIN parameters p USING (parameter_id)
                WHERE x.parameter_id IS NULL OR y.parameter_id IS NULL OR {differs}
                ORDER BY 1""",
            [in_force.hash],
        )
    ]


def _moved_by(cur: Store, codes: list[str], as_of: dt.date) -> list[dict[str, Any]]:
    """For each parameter the candidate changes: the subjects with records of it up to
    ``as_of``, and how many of them changed grade; those that moved most first."""
    if not codes:
        return []
    rows = cur.rows(
        f"""WITH moved AS (
                SELECT b.subject_id, b.grade <> a.grade AS changed
                FROM snapshot b JOIN snapshot a USING (subject_id)
                WHERE b.run_id = {BEFORE} AND a.run_id = {AFTER})
            SELECT p.code, count(DISTINCT e.subject_id),
                   count(DISTINCT e.subject_id) FILTER (WHERE m.changed)
            FROM entries e JOIN parameters p USING (parameter_id)
            JOIN moved m USING (subject_id)
            WHERE e.kind = {int(EntryKind.RECORD)} AND e.day <= {day_number(as_of)}
              AND list_contains(?, p.code)
            GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1""",
        [codes],
    )
    found = {str(c): (int(n), int(m)) for c, n, m in rows}
    return [
        {"parameter": c, "subjects_with_records": found.get(c, (0, 0))[0],
         "grade_changed": found.get(c, (0, 0))[1]}
        for c in sorted(codes, key=lambda c: (-found.get(c, (0, 0))[1], -found.get(c, (0, 0))[0], c))
    ]  # fmt: skip
