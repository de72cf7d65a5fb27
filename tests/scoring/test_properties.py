"""Property: for any ledger, every statement sums exactly to the score the batch run stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import TINY, feed
from tests.scoring.test_run_factors import factors_are_the_statements, refusing

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.scoring import score_run, statement

SUBJECTS = ["C1", "C2", "C3", "O1"]
# (institution, parameter, needs quantity, needs confidence)
KINDS = [
    ("police", "red_light", False, False),
    ("cams", "red_light", False, True),
    ("cams", "speeding", False, True),
    ("police", "blood", False, False),
    ("police", "volunteer_hours", True, False),
    ("bank", "loan_default", False, False),
    ("hotline", "rumour", False, False),
    ("police", "hero", False, False),
    ("police", "litter", False, False),
    ("court", "late_tax", True, False),
]

record = st.tuples(
    st.integers(0, 2),  # subject (citizens; late_tax goes to O1)
    st.integers(0, len(KINDS) - 1),
    st.integers(-20, 800),  # day offset from 2021-01-01
    st.sampled_from([0.85, 0.9, 0.93, 0.95, 0.99]),
    st.sampled_from(["1", "2.5", "7", "0.29"]),
    st.integers(0, 2),  # reporter
)


@pytest.mark.slow
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(record, min_size=1, max_size=30),
    as_of_offset=st.integers(0, 900),
    verify_first=st.booleans(),
)
def test_statements_sum_to_scores(
    records: list[tuple[int, int, int, float, str, int]],
    as_of_offset: int,
    verify_first: bool,
) -> None:
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, refusing(TINY))  # stored key factors are checked too
        register_subjects(
            store, pa.table({"code": SUBJECTS, "kind": ["citizen"] * 3 + ["organisation"]})
        )
        start = dt.date(2021, 1, 1)
        by_institution: dict[str, list[dict[str, object]]] = {}
        for subject, kind, offset, confidence, quantity, reporter in records:
            institution, parameter, needs_quantity, needs_confidence = KINDS[kind]
            row: dict[str, object] = {
                "subject": "O1" if parameter == "late_tax" else SUBJECTS[subject],
                "parameter": parameter,
                "date": (start + dt.timedelta(days=offset)).isoformat(),
            }
            if needs_quantity:
                row["quantity"] = quantity
            if needs_confidence:
                row["confidence"] = confidence
            if institution == "hotline":  # a citizen other than the subject reports
                others = [c for c in SUBJECTS[:3] if c != row["subject"]]
                row["counterpart"] = others[reporter % len(others)]
            by_institution.setdefault(institution, []).append(row)
        first_report = None
        for institution, rows in sorted(by_institution.items()):
            result = feed(store, institution, rows)
            if institution == "hotline" and result.batch:
                first_report = result.batch.first_entry
        if verify_first and first_report is not None:
            feed(
                store,
                "police",
                [{"kind": "verification", "refers_to": first_report, "date": "2021-03-01"}],
            )
        as_of = start + dt.timedelta(days=as_of_offset)
        run = score_run(store, as_of)
        stored = dict(
            store.rows(
                "SELECT s.code, n.score FROM snapshot n JOIN subjects s USING (subject_id) WHERE run_id = ?",
                [run.run_id],
            )
        )
        for code in SUBJECTS:
            st_ = statement(store, code, as_of)
            assert st_.total == st_.score == stored[code]
            assert st_.points_total == st_.points_score == st_.score
            for line in st_.lines:
                # A line counts at most its own points, and nothing when it does not count.
                assert abs(line.counted) <= abs(line.points)
                assert line.counted == 0 or line.status.value == "counted"
            factors_are_the_statements(store, run.run_id, as_of, code)
    finally:
        store.close()


PILOT = Path(__file__).resolve().parents[1] / "cases" / "pilot.yaml"
PILOT_SUBJECTS = ["c1", "c2", "o1"]
# (institution, parameter, needs quantity, organisations only)
PILOT_KINDS = [
    ("police", "red_light", False, False),
    ("police", "unsafe_work", False, False),
    ("court", "court_fine", False, False),
    ("police", "fine", True, False),
    ("court", "dishonest_debtor", False, False),
    ("court", "org_dishonest", False, True),
    ("court", "court_ban", False, False),
    ("court", "debt_paid", False, False),
    ("civil", "volunteer_hours", True, False),
    ("civil", "donation", True, False),
    ("civil", "award", False, False),
    ("civil", "hero", False, False),
    ("civil", "course", False, False),
]
CITIZEN_ONLY = {"red_light", "court_fine", "fine", "dishonest_debtor", "court_ban"}
CITIZEN_ONLY |= {"volunteer_hours", "donation", "award", "hero", "course"}

pilot_record = st.tuples(
    st.integers(0, 2),  # subject
    st.integers(0, len(PILOT_KINDS) - 1),
    st.integers(-30, 1500),  # day offset from 2020-07-01 (the pilot's effective date)
    st.sampled_from(["0", "9.5", "10", "41", "299", "300", "1000", "20000"]),
    st.sampled_from([None, "A1", "A2"]),  # act id
    st.sampled_from([None, "national", "provincial", "district"]),
)


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(pilot_record, min_size=1, max_size=30),
    as_of_offset=st.integers(0, 1600),
)
def test_statements_sum_to_scores_with_pilot_mechanics(
    records: list[tuple[int, int, int, str, str | None, str | None]], as_of_offset: int
) -> None:
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, refusing(PILOT))  # stored key factors are checked too
        register_subjects(
            store,
            pa.table({"code": PILOT_SUBJECTS, "kind": ["citizen", "citizen", "organisation"]}),
        )
        start = dt.date(2020, 7, 1)
        batches: list[tuple[str, dict[str, object]]] = []
        for subject, kind, offset, quantity, act, level in records:
            institution, parameter, needs_quantity, orgs_only = PILOT_KINDS[kind]
            code = PILOT_SUBJECTS[subject]
            if orgs_only:
                code = "o1"
            elif parameter in CITIZEN_ONLY and code == "o1":
                code = "c1"
            row: dict[str, object] = {
                "subject": code,
                "parameter": parameter,
                "date": (start + dt.timedelta(days=offset)).isoformat(),
                "act": act,
                "level": level,
            }
            if needs_quantity:
                row["quantity"] = quantity
            batches.append((institution, row))
        # Batches in the drawn order (consecutive rows of one institution form one batch):
        # entry ids follow the draw, not the day.
        i = 0
        while i < len(batches):
            j = i
            while j < len(batches) and batches[j][0] == batches[i][0]:
                j += 1
            feed(store, batches[i][0], [row for _, row in batches[i:j]])
            i = j
        as_of = start + dt.timedelta(days=as_of_offset)
        run = score_run(store, as_of)
        stored = {
            code: (score, grade, points_score)
            for code, score, grade, points_score in store.rows(
                """SELECT s.code, n.score, n.grade, n.points_score FROM snapshot n
                   JOIN subjects s USING (subject_id) WHERE run_id = ?""",
                [run.run_id],
            )
        }
        for code in PILOT_SUBJECTS:
            st_ = statement(store, code, as_of)
            factors_are_the_statements(store, run.run_id, as_of, code)
            assert st_.total == st_.score
            assert st_.points_total == st_.points_score
            assert stored[code] == (st_.score, st_.grade, st_.points_score)
            ids = {line.entry_id: line for line in st_.lines}
            for line in st_.lines:
                assert line.counted == 0 or line.status.value == "counted"
                if line.status.value == "frozen":
                    assert st_.direct is not None and line.points > 0
                if line.status.value == "absorbed":
                    other = ids[line.related_entry or 0]
                    assert other.act == line.act and other.status.value != "absorbed"
                if line.act is not None and line.status.value == "counted" and line.points:
                    # An act a direct grade punishes counts by that grade alone.
                    graders = [
                        o
                        for o in st_.lines
                        if o.act == line.act
                        and o.sets_grade
                        and o.status.value in ("counted", "expired", "repaired")
                    ]
                    assert not graders or line.sets_grade, (line, graders)
                if line.status.value == "repaired":
                    assert ids[line.related_entry or 0].status.value in ("counted", "expired")
            # Key factors: at most four, a standing direct grade first, then what lowered
            # the score most (each a deduction), every counted deduction's parameter among
            # them unless four larger ones are.
            factors = st_.key_factors
            assert len(factors) <= 4
            rest = factors[1:] if st_.direct is not None else factors
            if st_.direct is not None:
                assert factors[0].code == f"DIRECT:{st_.direct.parameter}"
            assert all(f.effect < 0 for f in rest)
            assert [abs(f.effect) for f in rest] == sorted(
                (abs(f.effect) for f in rest), reverse=True
            )
            lowered = {
                f"PARAMETER:{line.parameter}"
                for line in st_.lines
                if line.counted < 0 and line.sets_grade is None
            }
            assert lowered <= {f.code for f in rest} or len(rest) == 4 - (st_.direct is not None)
            if st_.direct is None:
                assert st_.score == st_.points_score
            else:
                assert st_.grade == st_.direct.grade
    finally:
        store.close()
