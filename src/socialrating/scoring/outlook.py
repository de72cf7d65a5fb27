"""What would change a subject's grade: the days ahead on which something about it ends
(a record expires, a list term runs out), and its score, grade and lists on each of those
days if nothing else happens (no new record, no appeal).

Each day is a statement as of that day, over the same ledger: the same plan, so the
outlook says exactly what the statement will say then.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialrating.ledger.store import Store
from socialrating.model import Status
from socialrating.scoring.statements import standings, statement

DAYS = 8
"""How many days ahead the outlook looks at, at most."""


def outlook(store: Store, code: str, as_of: dt.date, days: int = DAYS) -> dict[str, Any]:
    """The subject's standing as of ``as_of`` and on each of the next ``days`` days on
    which a counted record of it expires or a list membership ends."""
    now = statement(store, code, as_of)
    ending: dict[dt.date, list[str]] = {}
    for line in now.lines:
        if line.status is Status.COUNTED and line.expires is not None and line.expires > as_of:
            what = f"{line.parameter} of {line.date} (entry {line.entry_id}, {line.counted:+d})"
            ending.setdefault(line.expires, []).append(what)
    for m in now.lists:
        if m.end_day is not None:
            until = dt.date(1970, 1, 1) + dt.timedelta(days=m.end_day)
            if until > as_of:
                ending.setdefault(until, []).append(f"list {m.list} ends")
    ahead = sorted(ending)[:days]
    steps = [
        {"date": day.isoformat(), "ends": ending[day], **then}
        for day, then in zip(ahead, standings(store, code, ahead, lists=True), strict=True)
    ]
    return {
        "subject": now.subject.code,
        "as_of": as_of.isoformat(),
        "score": now.score,
        "grade": now.grade,
        "lists": sorted({m.list for m in now.lists}),
        "steps": steps,
        "more": max(0, len(ending) - days),
    }
