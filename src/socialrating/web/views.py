"""What pages work out for display from what the use cases return."""

from __future__ import annotations

from typing import Any

from socialrating.rulebook.rulebook import RulebookHeader

TOP = 6
"""Institutions drawn apart on the records chart; the rest are summed as ``others``."""


def top_institutions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records per day of the ``TOP`` institutions that sent most, and of the others."""
    totals: dict[str, int] = {}
    for r in rows:
        totals[r["institution"]] = totals.get(r["institution"], 0) + r["records"]
    top = set(sorted(totals, key=lambda i: -totals[i])[:TOP])
    summed: dict[tuple[str, str], int] = {}
    for r in rows:
        key = (r["day"], r["institution"] if r["institution"] in top else "others")
        summed[key] = summed.get(key, 0) + r["records"]
    return [{"day": d, "institution": i, "records": n} for (d, i), n in sorted(summed.items())]


def ways_off_list(rb: RulebookHeader, m: dict[str, Any]) -> str:
    """How a subject gets off a list, in words, from the rulebook's list and the cause."""
    lst = next((x for x in rb.spec.lists if x.code == m["list"]), None)
    if lst is None:
        return ""
    ways = []
    if m["cause"] == "grade":
        ways.append(
            f"you leave it at the next scoring run once your grade is no longer "
            f"{' or '.join(lst.enter_at_grades)}"
        )
    elif m["cause"] == "alert":
        ways.append(
            f"you leave it at the next scoring run once measure {m['grade']} is below its "
            "threshold (older records weigh less, and drop out after the window)"
        )
    elif m["cause"] == "joint":
        ways.append(f"you leave it when {m['via']} leaves the list that put you on it")
    else:
        if m["until"]:
            ways.append(f"the term ends on {m['until']}")
        if lst.leave_by:
            ways.append(f"a record of {', '.join(lst.leave_by)} takes you off it earlier")
    if m["cause"] == "record":
        ways.append(f"if entry {m['entry_id']} is wrong, appeal it: a voided record takes you off")
    said = "; ".join(ways)
    return f"{said[:1].upper()}{said[1:]}." if said else ""
