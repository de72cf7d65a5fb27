"""Malformed lists and services in a rulebook: each names its line, field and what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rulebook.test_loader import MINI, line_with, only, problems_of, write

from socialrating.rulebook import load_rulebook

GOOD = """\
lists:
  - {code: ban, enter_by: [red_light], leave_by: [blood], term_days: 30, min_age: 18}
  - {code: low, enter_at_grades: [C]}
services:
  - code: flight
    rules:
      - {when: {lists: [ban]}, decision: refused}
      - {when: {grades: [A]}, decision: terms, terms: {priority: high}}
"""


def test_valid_lists_and_services_compile(tmp_path: Path) -> None:
    rb = load_rulebook(write(tmp_path, MINI + GOOD))
    rows = {r["code"]: r for r in rb.parameters.to_pylist()}
    assert rows["red_light"]["list_enter_mask"] == 1
    assert rows["blood"]["list_leave_mask"] == 1
    assert rows["rumour"]["list_enter_mask"] is None


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            "enter_by: [red_light]",
            "enter_by: [nope]",
            "lists[0].enter_by",
            "'nope' is not a parameter",
        ),
        ("leave_by: [blood]", "leave_by: [nope]", "lists[0].leave_by", "'nope' is not a parameter"),
        (
            "enter_at_grades: [C]",
            "enter_at_grades: [Z]",
            "lists[1].enter_at_grades",
            "no grade 'Z' for citizens",
        ),
        ("{code: low, enter_at_grades: [C]}", "{code: low}", "lists[1]", "nobody could ever enter"),
        ("{code: low,", "{code: ban,", "lists[1].code", "list 'ban' repeats"),
        ("lists: [ban]", "lists: [nope]", "services[0].rules[0].when.lists", "unknown list 'nope'"),
        (
            "grades: [A]",
            "grades: [Q]",
            "services[0].rules[1].when.grades",
            "no grade 'Q' for citizens",
        ),
        (
            "decision: terms, terms: {priority: high}",
            "decision: terms",
            "services[0].rules[1].terms",
            "needs its terms",
        ),
        (
            "decision: refused}",
            "decision: refused, terms: {x: 1}}",
            "services[0].rules[0].terms",
            "not refused",
        ),
    ],
)
def test_malformed_list_or_service(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    text = MINI + GOOD.replace(old, new)
    p = only(problems_of(write(tmp_path, text)))
    assert p.field == field
    assert reason in p.reason
    assert p.line == line_with(MINI + GOOD, old)  # the line the change is on


def test_unknown_decision_is_a_type_error(tmp_path: Path) -> None:
    p = only(
        problems_of(write(tmp_path, MINI + GOOD.replace("decision: refused", "decision: maybe")))
    )
    assert p.field == "services[0].rules[0].decision" and "'maybe'" in p.reason


def test_joint_punishment_needs_an_earlier_list_and_representatives(tmp_path: Path) -> None:
    text = MINI + GOOD.replace(
        "{code: low, enter_at_grades: [C]}",
        "{code: low, enter_at_grades: [C], enter_with: [{list: later, through: organisation}]}",
    )
    problems = problems_of(write(tmp_path, text))
    assert [p.field for p in problems] == ["lists[1].enter_with", "lists[1].enter_with"]
    assert "list 'later' must be defined before 'low'" in problems[0].reason
    assert "needs `representatives`" in problems[1].reason


def test_representatives_parameter_must_exist(tmp_path: Path) -> None:
    text = MINI + "representatives: {parameter: nope}\n" + GOOD
    p = only(problems_of(write(tmp_path, text)))
    assert (p.field, p.line) == ("representatives.parameter", line_with(text, "nope"))
    assert "'nope' is not a parameter of the YAML" in p.reason


def test_joint_list_loads(tmp_path: Path) -> None:
    text = (
        MINI
        + "representatives: {parameter: blood}\n"
        + GOOD.replace(
            "{code: low, enter_at_grades: [C]}",
            "{code: low, enter_with: [{list: ban, through: representative}]}",
        )
    )
    rb = load_rulebook(write(tmp_path, text))
    assert rb.spec.lists[1].enter_with[0].through == "representative"


TERMS = "term_days: 30, min_age: 18}"


@pytest.mark.parametrize(
    ("new", "field", "reason"),
    [
        ("term_days: 30, term_by: {blood: 10}}", "lists[0].term_by", "'blood' is not one of"),
        ("term_days: 30, term_by: {red_light: 0}}", "lists[0].term_by.red_light", "greater than 0"),
        ("term_days: 30, extend_by: {nope: 10}}", "lists[0].extend_by", "'nope' is not a param"),
        ("term_days: 30, extend_by: {blood: 10}}", "lists[0].extend_by", "already enters or"),
        ("extend_by: {rumour: 10}}", "lists[0].extend_by", "only a fixed term can be extended"),
        (
            "term_days: 30, bars: [{after: rumour, days: 5}]}",
            "lists[0].bars",
            "'rumour' is not one of the list's leave_by",
        ),
        ("term_days: 30, bars: [{after: blood}]}", "lists[0].bars[0].days", "Field required"),
    ],
)
def test_malformed_terms_extensions_and_bars(
    tmp_path: Path, new: str, field: str, reason: str
) -> None:
    p = only(problems_of(write(tmp_path, MINI + GOOD.replace(TERMS, new))))
    assert p.field == field
    assert reason in p.reason


def test_terms_extensions_and_bars_load(tmp_path: Path) -> None:
    new = "term_days: 30, term_by: {red_light: null}, extend_by: {rumour: 10}, "
    new += "bars: [{after: blood, days: 60}], min_age: 18}"
    rb = load_rulebook(write(tmp_path, MINI + GOOD.replace(TERMS, new)))
    ban = rb.spec.lists[0]
    assert ban.term_by == {"red_light": None}
    assert ban.extend_by == {"rumour": 10}
    assert (ban.bars[0].after, ban.bars[0].days) == ("blood", 60)
