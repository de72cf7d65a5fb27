"""A rulebook's floor and ceiling: checked on load, each problem naming file, line and field.

MINI (tests/rulebook/test_loader.py) has base 1000, citizen bands A >= 1000, B >= 900,
C below, organisation bands A >= 1000, B below.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rulebook.test_loader import MINI, changed, line_with, only, problems_of, write

from socialrating.errors import Problem
from socialrating.rulebook import load_rulebook


def bounded(bounds: str, text: str = MINI) -> str:
    """``text`` with top-level ``bounds`` lines (``floor: 0``) after ``effective``."""
    return changed("effective: 2021-01-01\n", f"effective: 2021-01-01\n{bounds}", text)


def found(problems: list[Problem], field: str, words: str) -> Problem:
    """The one problem of ``field`` whose reason holds ``words``."""
    hits = [p for p in problems if p.field == field and words in p.reason]
    assert len(hits) == 1, "\n".join(map(str, problems))
    return hits[0]


def test_bounds_default_to_none(tmp_path: Path) -> None:
    spec = load_rulebook(write(tmp_path, MINI)).spec
    assert (spec.floor, spec.ceiling) == (None, None)


def test_valid_bounds_load(tmp_path: Path) -> None:
    text = bounded("floor: 0\nceiling: 1000\n")  # the ceiling may be the base and the top min
    spec = load_rulebook(write(tmp_path, text)).spec
    assert (spec.floor, spec.ceiling) == (0, 1000)


def test_floor_above_the_base(tmp_path: Path) -> None:
    text = bounded("floor: 1001\n")
    problems = problems_of(write(tmp_path, text))
    p = found(problems, "floor", "above base_score 1000")
    assert (Path(p.source).name, p.line) == ("rulebook.yaml", line_with(text, "floor:"))
    assert "floor 1001" in p.reason


def test_ceiling_below_the_base(tmp_path: Path) -> None:
    text = bounded("ceiling: 999\n")
    problems = problems_of(write(tmp_path, text))
    p = found(problems, "ceiling", "below base_score 1000")
    assert p.line == line_with(text, "ceiling:")


@pytest.mark.parametrize("ceiling", [800, 700])
def test_floor_not_below_the_ceiling(tmp_path: Path, ceiling: int) -> None:
    text = bounded(f"floor: 800\nceiling: {ceiling}\n")
    p = found(problems_of(write(tmp_path, text)), "floor", "not below the ceiling")
    assert p.line == line_with(text, "floor:")
    assert f"the floor 800 is not below the ceiling {ceiling}" in p.reason


def test_floor_that_leaves_the_lowest_grade_unreachable(tmp_path: Path) -> None:
    text = bounded("floor: 900\n")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (line_with(text, "floor:"), "floor")
    assert "lowest citizen grade 'C' could never be reached" in p.reason
    assert "below 900, under the floor 900" in p.reason


def test_ceiling_that_leaves_the_highest_grade_unreachable(tmp_path: Path) -> None:
    text = bounded("ceiling: 999\n", changed("name: mini\n", "name: mini\nbase_score: 950\n"))
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.line) for p in problems] == [("ceiling", line_with(text, "ceiling:"))] * 2
    assert {p.reason for p in problems} == {
        f"the highest {kind} grade 'A' could never be reached: it starts at 1000, above the "
        "ceiling 999"
        for kind in ("citizen", "organisation")
    }


def test_direct_score_below_the_floor(tmp_path: Path) -> None:
    text = bounded("floor: 600\n", changed("{grade: C}", "{grade: C, direct_score: 500}"))
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (line_with(text, "grade: C"), "grades.citizen[2].direct_score")
    assert "graded 'C' directly stands at its direct_score 500, below the floor 600" in p.reason


def test_direct_score_above_the_ceiling(tmp_path: Path) -> None:
    text = bounded("ceiling: 1100\n", changed("{grade: C}", "{grade: C, direct_score: 1200}"))
    p = only(problems_of(write(tmp_path, text)))
    assert p.field == "grades.citizen[2].direct_score"
    assert "above the ceiling 1100" in p.reason


def test_direct_grade_standing_at_a_min_below_the_floor(tmp_path: Path) -> None:
    text = changed(
        "{code: blood, category: charity, points: 10, institutions: [police]}",
        "{code: blood, category: charity, points: 10, institutions: [police], direct_grade: B}",
    )
    text = bounded("floor: 950\n", text)
    problems = problems_of(write(tmp_path, text))
    p = found(problems, "grades.citizen[1].min", "below the floor 950")
    assert p.line == line_with(text, "grade: B, min: 900")
    assert "stands at its min 900" in p.reason and "set a direct_score" in p.reason
    found(problems, "floor", "lowest citizen grade 'C' could never be reached")


def test_stage_beyond_the_bounds_is_never_reached(tmp_path: Path) -> None:
    text = bounded("floor: 0\nceiling: 1100\n") + (
        "stages:\n  - {name: low, at_most: -1}\n  - {name: high, at_least: 1101}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.line) for p in problems] == [
        ("stages[0].at_most", line_with(text, "name: low")),
        ("stages[1].at_least", line_with(text, "name: high")),
    ]
    assert "at_most -1 is below the floor 0" in problems[0].reason
    assert "at_least 1101 is above the ceiling 1100" in problems[1].reason


@pytest.mark.parametrize(
    "value, words",
    [("low", "valid integer"), ("1.5", "valid integer"), ("10000000000000", "less than")],
)
def test_floor_must_be_a_modest_integer(tmp_path: Path, value: str, words: str) -> None:
    text = bounded(f"floor: {value}\n")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (line_with(text, "floor:"), "floor")
    assert words in p.reason


def test_null_bounds_are_none(tmp_path: Path) -> None:
    spec = load_rulebook(write(tmp_path, bounded("floor: null\nceiling: null\n"))).spec
    assert (spec.floor, spec.ceiling) == (None, None)
