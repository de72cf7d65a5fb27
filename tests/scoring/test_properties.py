"""Property: for any ledger, every statement sums exactly to the score the batch run stores."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import feed

from socialrating.ledger import activate_rulebook, open_store, register_subjects
from socialrating.rulebook import Rulebook
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
    tiny: Rulebook,
    records: list[tuple[int, int, int, float, str, int]],
    as_of_offset: int,
    verify_first: bool,
) -> None:
    store = open_store(":memory:", create=True)
    try:
        activate_rulebook(store, tiny)
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
            if institution == "hotline":
                row["counterpart"] = SUBJECTS[reporter]
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
            assert st_.base + sum(line.counted for line in st_.lines) == st_.score == stored[code]
            for line in st_.lines:
                # A line counts at most its own points, and nothing when it does not count.
                assert abs(line.counted) <= abs(line.points)
                assert line.counted == 0 or line.status.value == "counted"
    finally:
        store.close()
