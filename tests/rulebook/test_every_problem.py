"""Every problem of a rulebook at once: a type error in one place does not hide a
cross-field problem in another, and setting the broken element aside makes no problem of
its own. Points beside quantity bands and positive points beside a direct grade are
refused, with what they would (not) do."""

from __future__ import annotations

from pathlib import Path

from tests.rulebook.test_loader import MINI, changed, problems_of, where, write


def test_a_range_error_does_not_hide_an_unknown_category(tmp_path: Path) -> None:
    text = changed(
        "points: -10, institutions: [police]}",
        "points: -10, institutions: [police], expires_after_days: 0}",
    )
    text = changed(
        "    category: traffic\n    points: -5", "    category: trafic\n    points: -5", text
    )
    problems = problems_of(write(tmp_path, text))
    assert where(problems) == [
        ("rulebook.yaml", 21, "parameters[0].expires_after_days"),
        (
            "rulebook.yaml",
            24,
            "parameters[2].category",
        ),  # its own position, after the one set aside
    ]
    assert "greater than 0" in problems[0].reason
    assert problems[1].reason == "unknown category 'trafic'"


def test_an_element_set_aside_makes_no_problem_of_its_own(tmp_path: Path) -> None:
    """The category ``charity`` has a type error; ``blood`` names it, and that is not
    reported again as an unknown category."""
    text = changed("  - code: charity\n", "  - code: charity\n    repeat: {factor: 0}\n")
    text = changed(
        "  - {code: hotline, class: citizen}", "  - {code: hotline, class: oracle}", text
    )
    problems = problems_of(write(tmp_path, text))
    assert [p.field for p in problems] == ["institutions[1].class", "categories[1].repeat.factor"]


def test_cross_field_problems_of_lists_and_services_come_with_type_errors(
    tmp_path: Path,
) -> None:
    text = MINI + (
        "lists:\n"
        "  - {code: ban, enter_by: [no_such_parameter]}\n"
        "services:\n"
        "  - {code: flight, rules: [{when: {grades: [Z]}, decision: refused}]}\n"
        "stages:\n"
        "  - {name: warn, at_least: ten}\n"
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.reason.split(" (")[0]) for p in problems] == [
        ("lists[0].enter_by", "'no_such_parameter' is not a parameter of the YAML"),
        ("services[0].rules[0].when.grades", "no grade 'Z' for citizens"),
        (
            "stages[0].at_least",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    ]


def test_a_broken_grade_band_still_stops_at_the_type_error(tmp_path: Path) -> None:
    """Grades cannot be set aside (every check reads them): only the type error."""
    text = changed("{grade: B, min: 900}", "{grade: B, min: nine}")
    text = changed("category: charity, points: 10", "category: charty, points: 10", text)
    problems = problems_of(write(tmp_path, text))
    assert [p.field for p in problems] == ["grades.citizen[1].min"]


def test_points_beside_bands_are_refused(tmp_path: Path) -> None:
    text = changed(
        "points: 10, institutions: [police]}",
        "points: 10, institutions: [police], bands: {mode: highest, steps: [{from: 1, points: 2}]}}",
    )
    (p,) = problems_of(write(tmp_path, text))
    assert (p.line, p.field) == (22, "parameters[1].points")
    assert "points beside bands would never count" in p.reason


def test_bands_without_points_load(tmp_path: Path) -> None:
    from socialrating.rulebook import load_rulebook

    text = changed(
        "points: 10, institutions: [police]}",
        "institutions: [police], bands: {mode: highest, steps: [{from: 1, points: 2}]}}",
    )
    rb = load_rulebook(write(tmp_path, text))
    assert rb.spec.parameters[1].points is None
    assert rb.parameters.column("points").to_pylist()[1] == 0


def test_points_are_required_without_bands(tmp_path: Path) -> None:
    text = changed("category: charity, points: 10,", "category: charity,")
    (p,) = problems_of(write(tmp_path, text))
    assert (p.line, p.field, p.reason) == (22, "parameters[1].points", "Field required")


def test_missing_points_are_reported_on_an_element_set_aside(tmp_path: Path) -> None:
    text = changed("category: charity, points: 10,", "category: charity, tags: [x y],")
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.reason.split(" (")[0]) for p in problems][:1] == [
        ("parameters[1].points", "Field required")
    ]
    assert "parameters[1].tags[0]" in [p.field for p in problems]


def test_positive_points_beside_a_direct_grade_say_what_they_do(tmp_path: Path) -> None:
    text = changed(
        "points: 10, institutions: [police]}",
        "points: 10, institutions: [police], direct_grade: B}",
    )
    (p,) = problems_of(write(tmp_path, text))
    assert p.field == "parameters[1].points"
    assert "would never count" in p.reason
    assert "grade 'B''s direct score" in p.reason


def test_an_unknown_top_level_field_does_not_hide_the_rest(tmp_path: Path) -> None:
    text = changed('version: "1"', 'version: "1"\ntitel: A typo')
    text = changed("category: charity, points: 10", "category: charty, points: 10", text)
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.reason) for p in problems] == [
        ("titel", "unknown field"),
        ("parameters[1].category", "unknown category 'charty'"),
    ]
