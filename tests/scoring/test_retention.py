"""Retention (the rulebook's ``retention``, docs/rulebook.md 3.29): an expired record is
kept on record for a while, counting for measures but not for the score, its statement
line saying until when; then it is deleted from the statement, which counts it, and the
ledger keeps it. Worked out by hand on the measures rulebook with short validity."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import DATA, feed
from tests.rulebook.test_loader import MINI, problems_of, write

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.model import Status
from socialrating.rulebook import load_rulebook
from socialrating.scoring import statement


def _rulebook(tmp_path: Path, retention: str | None) -> Path:
    """measures.yaml with a serious violation counting 3 months (to 2020-04-01 for one of
    2020-01-01) and, if given, a retention."""
    text = (DATA / "measures.yaml").read_text()
    text = text.replace(
        "{code: serious, category: violation, points: 0, institutions: [inspectors], "
        "subjects: organisation, validity: [{months: 24}]}",
        "{code: serious, category: violation, points: -5, institutions: [inspectors], "
        "subjects: organisation, validity: [{months: 3}], min_confidence: 0.8}",
    )
    text = text.replace("base_score: 0\n", "base_score: 0\n" + (retention or ""))
    path = tmp_path / "retained.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("retention", "kept"),
    [(None, None), ("retention: {months: 6}\n", 6), ("retention: {days: 30}\n", 30)],
)
def test_an_expired_record_is_kept_then_deleted(
    tmp_path: Path, retention: str | None, kept: int | None
) -> None:
    """A serious violation at an inspection on 2020-01-01 costs 5 until 2020-04-01. Kept
    six months more (to 2020-10-01), the maintenance measure still weighs it (4 times 2
    on 2020-05-01, by its age), and it is off the statement from 2020-10-01; kept 30 days,
    to 2020-05-01. Without a retention it stops counting for the measure at its expiry
    and stays on the statement for ever."""
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, load_rulebook(_rulebook(tmp_path, retention)))
        register_subjects(store, pa.table({"code": ["o1", "o2"], "kind": ["organisation"] * 2}))
        feed(
            store,
            "inspectors",
            [
                {"subject": "o1", "parameter": "inspection", "date": "2020-01-01", "act": "A"},
                {"subject": "o1", "parameter": "serious", "date": "2020-01-01", "act": "A"},
                # Below the confidence the parameter needs: it never counts, kept or not.
                {"subject": "o2", "parameter": "inspection", "date": "2020-01-01", "act": "A"},
                {"subject": "o2", "parameter": "serious", "date": "2020-01-01", "act": "A",
                 "confidence": 0.5},
            ],
        )  # fmt: skip
        before = statement(store, "o1", dt.date(2020, 3, 1))
        assert before.score == -5
        (m,) = before.measures
        assert m.value == pytest.approx(4.0)  # 4 x 3 under 3 months, per 3 inspection weight

        during = statement(store, "o1", dt.date(2020, 4, 20))
        assert during.score == 0  # expired: no longer counts for the score
        line = next(x for x in during.lines if x.parameter == "serious")
        assert line.status is Status.EXPIRED
        assert during.deleted == 0
        (m,) = during.measures
        if kept is None:
            assert "kept on record" not in line.reason
            assert m.value == pytest.approx(0.0)  # the measure reads counting records only
        else:
            until = "2020-10-01" if kept == 6 else "2020-05-01"
            assert line.reason == (
                f"expired on 2020-04-01; kept on record (for measures, not the score) until {until}; "
                "counts 3 months"  # its validity: calendar months, not days
            )
            assert m.value == pytest.approx(4.0)  # 4 x 2 at 3-6 months, per 2

        never = statement(store, "o2", dt.date(2020, 4, 20))
        line = next(x for x in never.lines if x.parameter == "serious")
        assert "kept on record" not in line.reason
        assert [m.value for m in never.measures] == [pytest.approx(0.0)]

        later = statement(store, "o1", dt.date(2020, 10, 1))
        parameters = [x.parameter for x in later.lines]
        if kept is None:
            assert parameters == ["inspection", "serious"] and later.deleted == 0
        else:
            assert parameters == ["inspection"]
            assert later.deleted == 1
            assert later.as_dict()["deleted"] == 1
            assert [m.value for m in later.measures] == [pytest.approx(0.0)]
        # The ledger keeps it.
        assert store.scalar("SELECT count(*) FROM entries WHERE kind = 1") == 4
    finally:
        store.close()


@pytest.mark.parametrize(
    ("retention", "field", "reason"),
    [
        ("{}", "retention", "give one of days and months"),
        ("{days: 30, months: 1}", "retention", "give one of days and months"),
        ("{days: 0}", "retention.days", "greater than 0"),
        ("{months: 2000}", "retention.months", "less than or equal to 1200"),
        ("{years: 1}", "retention.years", "unknown field"),
    ],
)
def test_a_malformed_retention_is_refused(
    tmp_path: Path, retention: str, field: str, reason: str
) -> None:
    text = MINI + f"retention: {retention}\n"
    found = [(p.field, p.reason) for p in problems_of(write(tmp_path, text))]
    assert any(f == field and reason in r for f, r in found), found
