"""Review deadlines: working or calendar days after filing, and the rulebook's `appeals` block."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from tests.conftest import SEED, TINY, d

from socialrating.appeals import deadline
from socialrating.errors import RulebookError
from socialrating.rulebook import load_rulebook
from socialrating.rulebook.schema import Appeals, RulebookSpec

COUNTY = Appeals()  # the default: 7 working days
COURT = Appeals(deadline_days=15, working_days=False)


@pytest.mark.parametrize(
    ("filed", "rules", "due"),
    [
        # 2021-03-05 is a Friday: Mon 8 … Fri 12 are five working days, Mon 15 and Tue 16 two more.
        ("2021-03-05", COUNTY, "2021-03-16"),
        ("2021-03-06", COUNTY, "2021-03-16"),  # a Saturday: the count starts on Monday
        ("2021-03-08", COUNTY, "2021-03-17"),  # a Monday, not counted itself
        ("2021-03-05", Appeals(holidays=[d("2021-03-08"), d("2021-03-16")]), "2021-03-18"),
        ("2021-03-05", Appeals(deadline_days=1), "2021-03-08"),
        ("2021-03-05", COURT, "2021-03-20"),  # calendar days: weekends count
        ("2021-12-20", Appeals(deadline_days=15, working_days=False), "2022-01-04"),
    ],
)
def test_deadline(filed: str, rules: Appeals, due: str) -> None:
    assert deadline(d(filed), rules) == d(due)


def test_the_seed_keeps_the_county_pilots_default() -> None:
    """The seed has no `appeals` block (its bytes, and so its hash, are unchanged): it gets
    7 working days."""
    text = SEED.read_text(encoding="utf-8")
    assert "appeals" not in text
    spec = RulebookSpec.model_validate(yaml.safe_load(text))
    assert spec.appeals == Appeals(deadline_days=7, working_days=True, holidays=[])


def _with_appeals(tmp_path: Path, block: str) -> Path:
    path = tmp_path / "rulebook.yaml"
    path.write_text(TINY.read_text(encoding="utf-8") + block, encoding="utf-8")
    return path


def test_an_appeals_block_loads(tmp_path: Path) -> None:
    rb = load_rulebook(
        _with_appeals(tmp_path, "appeals: {deadline_days: 15, working_days: false}\n")
    )
    assert rb.spec.appeals == COURT
    holidays = "appeals:\n  holidays: [2021-10-01, 2021-10-04]\n"
    rb = load_rulebook(_with_appeals(tmp_path, holidays))
    assert rb.spec.appeals.holidays == [dt.date(2021, 10, 1), dt.date(2021, 10, 4)]


@pytest.mark.parametrize(
    ("block", "field", "reason"),
    [
        ("appeals: {deadline_days: 0}\n", "appeals.deadline_days", "greater than or equal to 1"),
        ("appeals: {deadline_days: 400}\n", "appeals.deadline_days", "less than or equal to 365"),
        ("appeals: {deadline_days: soon}\n", "appeals.deadline_days", "'soon'"),
        ("appeals: {days: 7}\n", "appeals.days", "unknown field"),
        ("appeals:\n  holidays: [1 October]\n", "appeals.holidays[0]", "'1 October'"),
        (
            "appeals:\n  working_days: false\n  holidays: [2021-10-01]\n",
            "appeals.holidays",
            "only matter with working_days: true",
        ),
        (
            "appeals:\n  holidays:\n    - 2021-10-01\n    - 2021-10-04\n    - 2021-10-01\n",
            "appeals.holidays[2]",
            "2021-10-01 is listed twice",
        ),
    ],
)
def test_a_bad_appeals_block_is_reported_precisely(
    tmp_path: Path, block: str, field: str, reason: str
) -> None:
    path = _with_appeals(tmp_path, block)
    with pytest.raises(RulebookError) as exc:
        load_rulebook(path)
    problems = [p for p in exc.value.problems if p.field == field]
    assert problems, exc.value.problems
    assert reason in problems[0].reason
    first = len(TINY.read_text(encoding="utf-8").splitlines()) + 1
    assert problems[0].source == str(path)
    assert problems[0].line is not None and problems[0].line >= first
