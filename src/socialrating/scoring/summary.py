"""A statement's summary: totals per category, first.

A statement of 600 records is read from the top: the score and grade, its key factors
(``scoring/factors.py``: what worsened it most, ranked, at most four, each naming its
records), how much each area of life added or took. The lines follow, optionally one
category's only and the latest few.
"""

from __future__ import annotations

from typing import Any

from socialrating.model import Status
from socialrating.scoring.statements import Statement, StatementLine


def category_totals(st: Statement) -> list[dict[str, Any]]:
    """Per category: the points counted, the records counted, the records that did not
    count, and the points caps cut; what took most first, then what added most."""
    totals: dict[str, dict[str, Any]] = {}
    for line in st.lines:
        t = totals.setdefault(
            line.category,
            {"category": line.category, "points": 0, "counted": 0, "not_counted": 0, "cut": 0},
        )
        if line.status is Status.COUNTED:
            t["points"] += line.counted
            t["counted"] += 1
            t["cut"] += line.points - line.counted
        else:
            t["not_counted"] += 1
    return sorted(totals.values(), key=lambda t: (t["points"] >= 0, -abs(t["points"])))


def shown_lines(
    st: Statement, category: str | None = None, limit: int | None = None
) -> tuple[list[StatementLine], int]:
    """The lines to show: of one category if asked, the latest ``limit`` if asked (in date
    order); and how many lines that leaves out."""
    lines = [line for line in st.lines if category is None or line.category == category]
    if limit is not None and limit > 0 and len(lines) > limit:
        latest = sorted(lines, key=lambda line: (line.date, line.entry_id))[-limit:]
        keep = {line.entry_id for line in latest}
        shown = [line for line in lines if line.entry_id in keep]
        return shown, len(lines) - len(shown)
    return lines, 0


def statement_document(
    st: Statement, category: str | None = None, limit: int | None = None
) -> dict[str, Any]:
    """The statement as one JSON document: summary first, then the lines asked for.

    With ``category`` or ``limit``, ``lines`` holds only those: ``lines_total`` counts
    every line, ``lines_matching`` those of the category (all, without one), and
    ``lines_left_out`` those of the category that ``limit`` leaves out (the summary always
    covers every line, and the score is always the whole score).
    """
    doc = st.as_dict()
    del doc["lines"]  # listed after the summary
    lines, left_out = shown_lines(st, category, limit)
    doc["summary"] = {"categories": category_totals(st)}
    doc["category"] = category
    shown = {line.entry_id for line in lines}
    others = [line for line in st.lines if category is not None and line.category != category]
    earlier = [
        line
        for line in st.lines
        if line.entry_id not in shown and (category is None or line.category == category)
    ]
    doc["lines_total"] = len(st.lines)
    doc["lines_matching"] = len(lines) + left_out
    doc["lines_left_out"] = left_out
    # What the lines not listed add, so that what is listed still sums to the score.
    doc["points_left_out"] = sum(line.counted for line in earlier)
    doc["lines_other_categories"] = len(others)
    doc["points_other_categories"] = sum(line.counted for line in others)
    doc["lines"] = [line.as_dict() for line in lines]
    return doc
