"""Grades no score gives (``by_score: false``, docs/rulebook.md 1.2): only a grade limit or
a direct grade gives them; scores skip them; malformed ones are refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import feed
from tests.rulebook.test_loader import changed, problems_of, write

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.rulebook import load_rulebook
from socialrating.scoring import statement

# A new citizen (born within a year) is at best N, a grade no score gives, between A
# and B; a record of `bad` (-150) makes a C, which stands.
WITH_N = (
    changed(
        "    - {grade: B, min: 900}\n",
        "    - {grade: N, by_score: false}\n    - {grade: B, min: 900}\n",
    )
    + "grade_limits:\n"
    + "  - {code: new, subjects: citizen, at_best: N, when: {registered_within_years: 1}}\n"
)


def test_scores_skip_a_band_no_score_gives(tmp_path: Path) -> None:
    rb = load_rulebook(write(tmp_path, WITH_N))
    assert [rb.grade_of(s, "citizen") for s in (1000, 950, 900, 899)] == ["A", "B", "B", "C"]


@pytest.mark.parametrize(
    ("born", "records", "grade"),
    [
        ("2020-06-01", 0, "N"),  # new: A by score, at best N
        ("2010-01-01", 0, "A"),  # not new
        ("2020-06-01", 1, "C"),  # new, but C by score: below N, it stands
    ],
)
def test_a_limit_gives_a_grade_no_score_gives(
    tmp_path: Path, born: str, records: int, grade: str
) -> None:
    path = write(
        tmp_path,
        WITH_N.replace(
            "parameters:\n",
            "parameters:\n  - {code: bad, category: charity, points: -150, "
            "institutions: [police]}\n",
        ),
    )
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(path))
        register_subjects(store, pa.table({"code": ["c1"], "kind": ["citizen"], "born": [born]}))
        if records:
            feed(store, "police", [{"subject": "c1", "parameter": "bad", "date": "2021-02-01"}])
        got = statement(store, "c1", dt.date(2021, 3, 1))
        assert got.grade == grade
        assert (got.limit is not None) == (grade == "N")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        (
            "    - {grade: B, min: 900}\n",
            "    - {grade: B, min: 900, by_score: false}\n",
            "grades.citizen[1].min",
            "takes no score: leave out min",
        ),
        (
            "    - {grade: C}\n",
            "    - {grade: C, by_score: false}\n",
            "grades.citizen[2].by_score",
            "cannot have by_score: false",
        ),
        (
            "    - {grade: B, min: 900}\n",
            "    - {grade: B, by_score: nope}\n",
            "grades.citizen[1].by_score",
            "valid boolean",
        ),
    ],
)
def test_a_malformed_band_is_refused(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    problems = problems_of(write(tmp_path, changed(old, new)))
    found = [(p.field, p.reason) for p in problems]
    assert any(f == field and reason in r for f, r in found), found


def test_bands_around_one_no_score_gives_keep_their_order(tmp_path: Path) -> None:
    """The order check compares the bands scores give: A 1000 above B 900 across N."""
    text = changed(
        "    - {grade: B, min: 900}\n",
        "    - {grade: N, by_score: false}\n    - {grade: B, min: 1000}\n",
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.reason) for p in problems] == [
        ("grades.citizen[2].min", "bands go from highest to lowest: 1000 is not below 1000")
    ]


def test_a_direct_grade_into_it_needs_a_direct_score(tmp_path: Path) -> None:
    text = changed(
        "    - {grade: B, min: 900}\n",
        "    - {grade: N, by_score: false}\n    - {grade: B, min: 900}\n",
    ).replace(
        "parameters:\n",
        "parameters:\n  - {code: newcomer, category: traffic, points: 0, direct_grade: N, "
        "institutions: [police]}\n",
    )
    problems = problems_of(write(tmp_path, text))
    assert [(p.field, p.reason) for p in problems] == [
        (
            "parameters[0].direct_grade",
            "grade 'N' is a non-score citizen band: set its direct_score",
        )
    ]
