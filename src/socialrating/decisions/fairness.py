"""What a rulebook does to the people in the ledger: the parts of
`socialrating rulebook audit` that read a scoring run of it.

- ``areas``: per area of life (the parameters' tags), the subjects with records in it up
  to the run's date and the points those records carry (before caps);
- ``association``: the subjects contagion lowered (and by how much in all), and per list
  the members who are on it jointly (through a linked subject), against those on it for
  what they did;
- ``disparate_impact``: per service, the share of subjects refused in each region, age
  band and sex, and each group's rate of not being refused against the group least
  refused; a ratio under four fifths (the four-fifths rule of US employment law, the
  common yardstick) is flagged. Per grade the same shares. Groups of fewer than
  ``SMALLEST`` subjects are left out (a small group's rate says little, and could point
  at a person).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from socialrating.groups import BY, group_sql
from socialrating.ledger.store import Store
from socialrating.model import EntryKind
from socialrating.rulebook.audit import RIGHTS, tags_of

if TYPE_CHECKING:
    from socialrating.rulebook.rulebook import Rulebook

FOUR_FIFTHS = 0.8
SMALLEST = 10


def audit_run(store: Store, rb: Rulebook, run_id: int) -> dict[str, Any]:
    """The ledger's findings for ``rb`` from run ``run_id`` (a run of it)."""
    as_of = store.scalar("SELECT as_of FROM runs WHERE run_id = ?", [run_id])
    return {
        "run_id": run_id,
        "as_of": str(as_of),
        "areas": _areas(store, rb, str(as_of)),
        "association": _association(store, run_id),
        "disparate_impact": _disparate(store, rb, run_id, str(as_of)),
        "grades": _grade_shares(store, run_id, str(as_of)),
    }


def _areas(store: Store, rb: Rulebook, as_of: str) -> list[dict[str, Any]]:
    import pyarrow as pa

    codes, tags = [], []
    for row in rb.parameters.select(["code", "tags"]).to_pylist():
        for tag in tags_of(row):
            codes.append(row["code"])
            tags.append(tag)
    store.con.register("audit_tags", pa.table({"code": codes, "tag": tags}))
    try:
        rows = store.rows(
            f"""SELECT t.tag, count(DISTINCT e.subject_id), count(*),
                       coalesce(sum(rp.points), 0)
                FROM entries e JOIN parameters p USING (parameter_id)
                JOIN audit_tags t ON t.code = p.code
                JOIN rulebook_parameters rp
                  ON rp.parameter_id = e.parameter_id AND rp.rulebook_hash = ?
                WHERE e.kind = {int(EntryKind.RECORD)} AND e.day <= DATE '{as_of}' - DATE '1970-01-01'
                GROUP BY 1 ORDER BY 2 DESC, 1""",
            [rb.hash],
        )
    finally:
        store.con.unregister("audit_tags")
    return [
        {"area": str(tag), "rights": tag in RIGHTS, "subjects": int(n), "records": int(r),
         "points": int(points)}
        for tag, n, r, points in rows
    ]  # fmt: skip


def _association(store: Store, run_id: int) -> dict[str, Any]:
    lowered, points = store.one(
        "SELECT count(*), coalesce(sum(contagion), 0) FROM snapshot "
        "WHERE run_id = ? AND contagion < 0",
        [run_id],
    ) or (0, 0)
    lists = [
        {"list": str(lst), "own": int(own), "jointly": int(joint),
         "reach": round(int(joint) / int(own), 2) if own else None}
        for lst, own, joint in store.rows(
            """SELECT list, count(DISTINCT subject_id) FILTER (WHERE cause <> 'joint'),
                      count(DISTINCT subject_id) FILTER (WHERE cause = 'joint')
               FROM list_members WHERE run_id = ? GROUP BY 1 ORDER BY 1""",
            [run_id],
        )
    ]  # fmt: skip
    return {"lowered_by_contagion": int(lowered), "contagion_points": int(points), "lists": lists}


def _disparate(store: Store, rb: Rulebook, run_id: int, as_of: str) -> list[dict[str, Any]]:
    """Per service and grouping, each group's refusal rate and its ratio (see the module)."""
    from socialrating.decisions.decider import load_decider

    decider = load_decider(store, run_id, rb)
    found = []
    for svc in rb.spec.services:
        table = decider.decide_many(decider.codes, svc.code)
        store.con.register("audit_decisions", table)
        try:
            for by in BY:
                rows = store.rows(
                    f"""SELECT {group_sql(by, f"DATE '{as_of}'")} AS g, count(*),
                               count(*) FILTER (WHERE d.decision = 'refused')
                        FROM audit_decisions d JOIN subjects s ON s.code = d.subject
                        WHERE ? = 'any' OR s.kind = ?
                        GROUP BY 1 HAVING count(*) >= {SMALLEST} ORDER BY 1""",
                    [svc.subjects, svc.subjects],
                )
                groups: list[dict[str, Any]] = [
                    {by: str(g), "subjects": int(n), "refused": int(r),
                     "refusal_rate": round(int(r) / int(n), 4)}
                    for g, n, r in rows
                ]  # fmt: skip
                best = max((1 - float(g["refusal_rate"]) for g in groups), default=0.0)
                for g in groups:
                    ratio = (1 - float(g["refusal_rate"])) / best if best else None
                    g["ratio"] = None if ratio is None else round(ratio, 3)
                    g["flagged"] = ratio is not None and ratio < FOUR_FIFTHS
                found.append({"service": svc.code, "by": by, "groups": groups})
        finally:
            store.con.unregister("audit_decisions")
    return found


def _grade_shares(store: Store, run_id: int, as_of: str) -> list[dict[str, Any]]:
    found = []
    for by in BY:
        rows = store.rows(
            f"""WITH g AS (
                    SELECT s.kind, {group_sql(by, f"DATE '{as_of}'")} AS g, n.grade
                    FROM snapshot n JOIN subjects s USING (subject_id) WHERE n.run_id = ?)
                SELECT kind, g, grade, count(*),
                       sum(count(*)) OVER (PARTITION BY kind, g)
                FROM g GROUP BY kind, g, grade
                QUALIFY sum(count(*)) OVER (PARTITION BY kind, g) >= {SMALLEST}
                ORDER BY ALL""",
            [run_id],
        )
        found.append(
            {
                "by": by,
                "shares": [
                    {
                        "kind": k,
                        by: str(g),
                        "grade": grade,
                        "subjects": int(n),
                        "share": round(int(n) / int(total), 4),
                    }
                    for k, g, grade, n, total in rows
                ],
            }
        )
    return found
