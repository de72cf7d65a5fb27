"""A subject's score over time, and the records that moved it.

The score is computed as of the end of each of the last months, and on each day a
counted record of the window arose (up to ``MOVES`` such days), each by the statement's
own plan for the score (``standings``): each point is what the statement said or will say
that day.
The records are the statement's lines in that window that counted as of the last day,
each with its date and points.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from socialrating.ledger.store import Store
from socialrating.scoring.statements import standings, statement

MONTHS = 12
MOVES = 24
"""Days of records also scored, at most: beyond them, the months' ends only."""


def month_ends(as_of: dt.date, months: int) -> list[dt.date]:
    """The last day of each of the ``months`` months before ``as_of``'s, then ``as_of``."""
    days = []
    first = as_of.replace(day=1)
    for _ in range(months):
        last = first - dt.timedelta(days=1)
        days.append(last)
        first = last.replace(day=1)
    return [*reversed(days), as_of]


def history(store: Store, code: str, as_of: dt.date, months: int = MONTHS) -> dict[str, Any]:
    """The subject's score and grade at each month's end up to ``as_of`` and on the days
    its records arose, and the records of that window that counted as of ``as_of``
    (date, parameter and its name in the rulebook, points)."""
    ends = month_ends(as_of, months)
    last = statement(store, code, as_of)
    moved = {line.date for line in last.lines if line.counted and ends[0] <= line.date <= as_of}
    days = sorted(set(ends) | (moved if len(moved) <= MOVES else set()))
    earlier = [day for day in days if day != as_of]
    then = dict(zip(earlier, standings(store, code, earlier), strict=True))
    then[as_of] = {"score": last.score, "grade": last.grade}
    points = [{"date": day.isoformat(), **then[day]} for day in days]
    moves = [
        {"date": line.date.isoformat(), "parameter": line.parameter, "name": line.name,
         "points": line.counted, "entry_id": line.entry_id}
        for line in last.lines
        if line.counted and ends[0] <= line.date <= as_of
    ]  # fmt: skip
    return {"subject": code, "as_of": as_of.isoformat(), "points": points, "moves": moves}
