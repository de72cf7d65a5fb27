"""The operator's dashboard: how the information centre stands, from what it already keeps.

- ``runs``: the latest scoring runs with their grade distributions per kind and list
  sizes (from each run's recorded figures: no snapshot is read);
- ``refusals``: per service, the subjects of the latest run it is for (its kind of
  subject, or all) refused, given terms and allowed (from the decider the service keeps
  in memory): a citizen is not counted as refused by a service for organisations;
- ``records``: records per institution per day, for the last ``DAYS`` days of facts;
- ``institutions``: each institution's last batch;
- ``appeals``: how many await review, how many are overdue, and the next deadlines;
- ``ledger``: entries, batches and the head digest (what `verify --save-head` publishes),
  and the last verification the dashboard ran (``usecases.verify_now``).
"""

from __future__ import annotations

import json
from typing import Any

from socialrating.ledger.store import Store
from socialrating.model import EntryKind

DAYS = 30
RUNS = 12


def dashboard(store: Store, decider: Any | None) -> dict[str, Any]:
    """Everything the dashboard shows (see the module); ``decider`` is the latest run's."""
    from socialrating.appeals import list_appeals

    runs = [
        {"run_id": int(r), "as_of": str(a), "subjects": int(n), **_figures(stats)}
        for r, a, n, stats in store.rows(
            f"""SELECT run_id, as_of, subjects, stats FROM runs
                ORDER BY run_id DESC LIMIT {RUNS}"""
        )
    ][::-1]
    refusals = []
    if decider is not None:
        import numpy as np
        import pyarrow.compute as pc

        n = len(decider.codes)
        for service in decider.rulebook.spec.services:
            # Each subject the service is for, where it stands in the run.
            at = (
                np.arange(n)
                if service.subjects == "any"
                else np.flatnonzero(decider.of_kind(service.subjects))
            )
            located = (at, np.ones(len(at), dtype=bool))
            table = decider.decide_many(decider.codes.take(at), service.code, located)
            counts = pc.value_counts(table.column("decision")).to_pylist()
            by = {str(c["values"]): int(c["counts"]) for c in counts}
            refusals.append(
                {"service": service.code, "run_id": decider.run_id,
                 **{k: by.get(k, 0) for k in ("allowed", "terms", "refused")}}
            )  # fmt: skip
    top = store.scalar("SELECT max(day) FROM entries WHERE kind = ?", [int(EntryKind.RECORD)])
    records = []
    if top is not None:
        records = [
            {"day": str(d), "institution": str(i), "records": int(n)}
            for d, i, n in store.rows(
                """SELECT DATE '1970-01-01' + e.day::INTEGER, i.code, count(*)
                   FROM entries e JOIN institutions i USING (institution_id)
                   WHERE e.kind = ? AND e.day > ? GROUP BY ALL ORDER BY ALL""",
                [int(EntryKind.RECORD), int(top) - DAYS],
            )
        ]
    institutions = [
        {"institution": str(i), "batch_id": int(b), "rows": int(n), "arrived_at": f"{at:%Y-%m-%d %H:%M:%S}"}
        for i, b, n, at in store.rows(
            """SELECT i.code, b.batch_id, b.rows, b.arrived_at FROM batches b
               JOIN institutions i USING (institution_id)
               QUALIFY row_number() OVER (PARTITION BY b.institution_id
                                          ORDER BY b.batch_id DESC) = 1
               ORDER BY i.code"""
        )
    ]  # fmt: skip
    waiting = list_appeals(store, None, "open")
    last = store.one(
        """SELECT verified_at, ok, entries, head, problems, first_problem, seconds
           FROM verifications ORDER BY verified_at DESC LIMIT 1"""
    )
    head = store.one("SELECT batch_id, digest FROM batches ORDER BY batch_id DESC LIMIT 1")
    return {
        "runs": runs,
        "refusals": refusals,
        "records": records,
        "institutions": institutions,
        "appeals": {
            "open": len(waiting),
            "overdue": sum(1 for a in waiting if a.status == "overdue"),
            "next": [
                {
                    "appeal_id": a.appeal_id,
                    "subject": a.subject,
                    "deadline": a.deadline.isoformat(),
                    "status": a.status,
                }
                for a in sorted(waiting, key=lambda a: a.deadline)[:10]
            ],
        },
        "ledger": {
            "entries": int(store.scalar("SELECT count(*) FROM entries")),
            "batches": int(head[0]) if head else 0,
            "head": str(head[1]) if head else None,
            "verified": None
            if last is None
            else {
                "at": f"{last[0]:%Y-%m-%d %H:%M:%S}",
                "ok": bool(last[1]),
                "entries": int(last[2] or 0),
                "head": str(last[3] or ""),
                "problems": int(last[4] or 0),
                "first_problem": last[5],
                "seconds": round(float(last[6] or 0), 2),
            },
        },
    }


def _figures(stats: object) -> dict[str, Any]:
    figures = json.loads(str(stats)) if stats else {}
    return {"grades": figures.get("grades", {}), "lists": figures.get("lists", {})}
