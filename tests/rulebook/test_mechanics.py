"""Malformed pilot mechanics in a rulebook: each names its line, field and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rulebook.test_loader import MINI, changed, line_with, only, problems_of, write

from socialrating.rulebook import load_rulebook

PARAM = "  - {code: blood, category: charity, points: 10, institutions: [police]}\n"


def with_param(extra: str, text: str = MINI) -> str:
    """MINI with the ``blood`` parameter given ``extra`` fields (a flow mapping's tail):
    without points beside bands, and with a deduction beside a direct grade."""
    param = PARAM.replace("}\n", f", {extra}}}\n")
    if "bands:" in extra:
        param = param.replace(" points: 10,", "")
    if "direct_grade" in extra:
        param = param.replace("points: 10", "points: -10")
    return changed(PARAM, param, text)


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        (
            "per_unit: true, bands: {mode: highest, steps: [{from: 1, points: 2}]}",
            "parameters[1].bands",
            "leave out per_unit",
        ),
        (
            "bands: {mode: highest, steps: [{from: 1, per_unit: 2}]}",
            "parameters[1].bands.steps[0]",
            "highest bands give points, not per_unit",
        ),
        (
            "bands: {mode: marginal, steps: [{from: 0, points: 2}]}",
            "parameters[1].bands.steps[0]",
            "marginal bands give per_unit, not points",
        ),
        (
            "bands: {mode: highest, steps: [{from: 5, points: 2}, {from: 5, points: 3}]}",
            "parameters[1].bands.steps[1].from",
            "steps go from lowest to highest",
        ),
        (
            "validity: [{days: 30}, {level: national, days: 90}]",
            "parameters[1].validity[0]",
            "must come last",
        ),
        ("direct_grade: Z", "parameters[1].direct_grade", "no grade 'Z' for citizens"),
        (
            "direct_grade: C",
            "parameters[1].direct_grade",
            "lowest citizen band: set its direct_score",
        ),
        ("repairs: [red_light]", "parameters[1].repairs", "'red_light' is not a parameter with"),
        (
            "points_organisation: -5",
            "parameters[1].points_organisation",
            "applies to citizens only",
        ),
        (
            "points_representative: -5",
            "parameters[1].points_representative",
            "needs `representatives` in the rulebook",
        ),
        (
            "reduction: {balance_from: 5, balance_to: 1}",
            "parameters[1].reduction",
            "balance_from is above balance_to",
        ),
        ("reduction: {}", "parameters[1].reduction", "set balance_from, balance_to or once_in"),
    ],
)
def test_malformed_mechanic(tmp_path: Path, extra: str, field: str, reason: str) -> None:
    p = only(problems_of(write(tmp_path, with_param(extra))))
    assert (p.line, p.field) == (22, field)
    assert reason in p.reason


def test_bad_band_mode_is_a_type_error(tmp_path: Path) -> None:
    text = with_param("bands: {mode: steepest, steps: [{from: 1, points: 2}]}")
    p = only(problems_of(write(tmp_path, text)))
    assert p.field == "parameters[1].bands.mode"
    assert "'steepest'" in p.reason


def test_repeat_factor_must_be_positive(tmp_path: Path) -> None:
    text = changed("  - code: charity\n", "  - code: charity\n    repeat: {factor: 0}\n")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (20, "categories[1].repeat.factor")


def test_cap_with_two_periods(tmp_path: Path) -> None:
    text = changed(
        "cap: {period_days: 365, max_deduction: 30}",
        "cap: {period_days: 365, calendar_year: true, max_deduction: 30}",
    )
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (18, "categories[0].cap")
    assert "period_days or calendar_year" in p.reason


def test_cap_with_no_period(tmp_path: Path) -> None:
    text = changed("cap: {period_days: 365, max_deduction: 30}", "cap: {max_deduction: 30}")
    p = only(problems_of(write(tmp_path, text)))
    assert "period_days or calendar_year" in p.reason


def test_stage_needs_exactly_one_threshold(tmp_path: Path) -> None:
    text = (
        MINI + "stages:\n  - {name: warn, at_least: 4, at_most: 9}\n  - {name: warn, at_least: 6}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p.line, p.field) for p in problems] == [
        (line_with(text, "at_most: 9"), "stages[0]"),
        (line_with(text, "at_least: 6"), "stages[1].name"),
    ]
    assert "one" in problems[0].reason and "repeats" in problems[1].reason


def test_organisation_direct_grade_must_exist_for_organisations(tmp_path: Path) -> None:
    text = with_param("subjects: any, direct_grade: A")
    assert load_rulebook(write(tmp_path, text)).parameters.column("direct_grade")[1].as_py() == "A"
    text = with_param("subjects: any, direct_grade: C")
    problems = problems_of(write(tmp_path, text))
    assert [p.reason for p in problems] == [
        "grade 'C' is the lowest citizen band: set its direct_score",
        "no grade 'C' for organisations",
    ]


def test_valid_mechanics_compile(tmp_path: Path) -> None:
    text = changed("    - {grade: C}\n", "    - {grade: C, direct_score: 500}\n", MINI)
    text = with_param(
        "direct_grade: C, expires_after_days: 30",
        text,
    )
    text += (
        "  - {code: paid, category: charity, points: -50, institutions: [police],"
        " repairs: [blood]}\n"
    )
    rb = load_rulebook(write(tmp_path, text))
    rows = {r["code"]: r for r in rb.parameters.to_pylist()}
    assert rows["blood"]["direct_bit"] == 1
    assert rows["paid"]["repairs_mask"] == 1
    assert rb.direct_score("citizen", "C") == 500
    assert rb.direct_score("citizen", "B") == 900
