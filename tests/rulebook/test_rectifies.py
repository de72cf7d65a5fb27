"""Malformed rectifications are refused with what is wrong and where (docs/rulebook.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rulebook.test_loader import MINI, line_with, problems_of, write

from socialrating.rulebook import load_rulebook

GOOD = (
    "  - code: fixed\n"
    "    category: charity\n"
    "    institutions: [police]\n"
    "    rectifies:\n"
    "      parameters: [red_light]\n"
    "      within:\n"
    "        - {days: 30, share: 0.8}\n"
    "        - {calendar_years: 0, points: 2}\n"
)


def test_a_good_rectification_loads(tmp_path: Path) -> None:
    rb = load_rulebook(write(tmp_path, MINI + GOOD))
    (p,) = [p for p in rb.spec.parameters if p.rectifies is not None]
    assert p.points is None and [w.share for w in p.rectifies.within] == [0.8, None]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            "parameters: [red_light]",
            "parameters: [red_lite]",
            "rectifies.parameters[0]",
            "'red_lite' is not a parameter of the rulebook",
        ),
        (
            "parameters: [red_light]",
            "parameters: [red_light, red_light]",
            "rectifies.parameters",
            "'red_light' is named twice",
        ),
        (
            "parameters: [red_light]",
            "parameters: [fixed]",
            "rectifies.parameters[0]",
            "'fixed' is itself a rectification",
        ),
        (
            "{days: 30, share: 0.8}",
            "{days: 30, calendar_years: 1, share: 0.8}",
            "rectifies.within[0]",
            "give days or calendar_years (one of them)",
        ),
        (
            "{days: 30, share: 0.8}",
            "{share: 0.8}",
            "rectifies.within[0]",
            "give days or calendar_years (one of them)",
        ),
        (
            "{calendar_years: 0, points: 2}",
            "{calendar_years: 0, points: 2, share: 0.5}",
            "rectifies.within[1]",
            "give share or points (one of them)",
        ),
        (
            "    institutions: [police]\n    rectifies:",
            "    institutions: [police]\n    expires_after_days: 30\n    rectifies:",
            "expires_after_days",
            "not beside rectifies: it counts for as long as the record it rectifies",
        ),
        (
            "    institutions: [police]\n    rectifies:",
            "    institutions: [police]\n    points: 5\n    rectifies:",
            "points",
            "points beside rectifies would never count",
        ),
    ],
)
def test_a_malformed_rectification_is_refused(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    text = MINI + GOOD.replace(old, new)
    problems = problems_of(write(tmp_path, text))
    found = [(p.field, p.reason) for p in problems]
    assert any(f == f"parameters[3].{field}" and reason in r for f, r in found), found
    first = problems[0]
    assert first.line is not None and first.line >= line_with(text, "- code: fixed")


@pytest.mark.parametrize(
    ("within", "reason"),
    [
        ("{days: 30, share: 1.5}", "less than or equal to 1"),
        ("{days: 0, share: 0.5}", "greater than 0"),
        ("{calendar_years: -1, share: 0.5}", "greater than or equal to 0"),
        ("{days: 30, share: 0.5, percent: 50}", "unknown field"),
    ],
)
def test_a_window_out_of_range_is_refused_with_the_rest_still_checked(
    tmp_path: Path, within: str, reason: str
) -> None:
    text = MINI.replace("category: traffic, points: -10", "category: trafic, points: -10")
    text += GOOD.replace("{days: 30, share: 0.8}", within)
    problems = problems_of(write(tmp_path, text))
    found = [(p.field, p.reason) for p in problems]
    assert any(reason in r and f.startswith("parameters[3].rectifies.within[0]") for f, r in found)
    assert ("parameters[0].category", "unknown category 'trafic'") in found
