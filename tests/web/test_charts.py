"""The dashboard's charts: stacked bars keep the order their values come in (grades best
first, as a rulebook lists them), in the legend and in the bars."""

from __future__ import annotations

import re

from socialrating.web.charts import DECISION_COLORS, stacked_bars


def legend(svg: str, values: set[str]) -> list[str]:
    """The ``values`` as the SVG writes them, in its order (the legend's, top to bottom)."""
    return [t for t in re.findall(r">([^<>]+)</text>", svg) if t in values]


def test_stacked_bars_list_grades_in_the_rows_order_not_the_alphabets() -> None:
    grades = ["AAA", "AA", "A", "B", "C", "D"]
    rows = [
        {"run": run, "grade": g, "subjects": n}
        for run in ("2021-06-30 #1", "2021-12-31 #2")
        for g, n in zip(grades, (5, 10, 50, 20, 3, 1), strict=True)
    ]
    svg = stacked_bars(rows, "run", "subjects", "grade", "Citizens by grade, per run")
    assert legend(svg, set(grades)) == grades  # A, AA, AAA, B, ... before


def test_fixed_colours_keep_their_own_order() -> None:
    rows = [
        {"service": "loan", "decision": d, "subjects": n}
        for d, n in (("refused", 3), ("terms", 5), ("allowed", 9))
    ]
    svg = stacked_bars(rows, "service", "subjects", "decision", "Decisions", DECISION_COLORS)
    assert legend(svg, set(DECISION_COLORS)) == list(DECISION_COLORS)
    for colour in DECISION_COLORS.values():
        assert colour in svg
