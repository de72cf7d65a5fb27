"""Hand-computed scores for every rulebook feature, on the tiny rulebook (tests/data/tiny.yaml).

Tiny rulebook, in short: base 1000, effective 2021-01-01; traffic capped at -30 per 365
days (red_light -10, speeding -20 with min confidence 0.95); charity capped at +25 per 365
days (blood +10, volunteer_hours +1 per hour); finance uncapped (loan_default -50);
expression uncapped (rumour -5, reportable by the citizen hotline; reports count when
verified by an authority or by 3 reporters within a 30-day window); heroism (hero +50);
civic (litter -1, any subject). Camera minimum confidence 0.9.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import d, feed, rec

from socialrating.errors import BatchRejected
from socialrating.ledger import Store
from socialrating.model import Status
from socialrating.scoring import Statement, score_run, statement


def show(store: Store, code: str, as_of: str) -> Statement:
    st = statement(store, code, d(as_of))
    assert st.total == st.score
    return st


def counted(st: Statement) -> list[tuple[str, int, Status]]:
    return [(line.parameter, line.counted, line.status) for line in st.lines]


def snapshot_score(store: Store, code: str, as_of: str) -> tuple[int, str]:
    run = score_run(store, d(as_of))
    row = store.one(
        "SELECT n.score, n.grade FROM snapshot n JOIN subjects s USING (subject_id) "
        "WHERE n.run_id = ? AND s.code = ?",
        [run.run_id, code],
    )
    assert row is not None
    return int(row[0]), str(row[1])


def test_subject_without_records_gets_base_and_grade(store: Store) -> None:
    assert snapshot_score(store, "C1", "2021-06-01") == (1000, "A")
    assert snapshot_score(store, "O1", "2021-06-01") == (1000, "A")
    st = show(store, "C1", "2021-06-01")
    assert (st.score, st.grade, st.lines) == (1000, "A", [])


def test_traffic_cap_cuts_the_record_that_crosses_it(store: Store) -> None:
    feed(
        store,
        "police",
        [
            rec("C1", "speeding", "2021-02-01"),
            rec("C1", "red_light", "2021-03-01"),
            rec("C1", "speeding", "2021-04-01"),
            rec("C1", "red_light", "2021-05-01"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    # -20, then -10 reaches the cap of -30; later records count 0.
    assert [line.counted for line in st.lines] == [-20, -10, 0, 0]
    assert "cap: traffic at most 30" in st.lines[2].reason
    assert st.score == 970
    assert snapshot_score(store, "C1", "2021-06-01") == (970, "A")


def test_cap_counts_part_of_the_crossing_record(store: Store) -> None:
    feed(
        store,
        "police",
        [
            rec("C2", "red_light", "2021-02-01"),
            rec("C2", "speeding", "2021-02-02"),
            rec("C2", "speeding", "2021-02-03"),
        ],
    )
    st = show(store, "C2", "2021-06-01")
    assert [line.counted for line in st.lines] == [-10, -20, 0]
    feed(
        store, "police", [rec("C3", "speeding", "2021-02-01"), rec("C3", "speeding", "2021-02-02")]
    )
    st = show(store, "C3", "2021-06-01")
    assert [line.counted for line in st.lines] == [-20, -10]
    assert st.score == 970


def test_same_day_records_cap_in_entry_order(store: Store) -> None:
    feed(
        store,
        "police",
        [
            rec("C1", "red_light", "2021-02-01"),
            rec("C1", "speeding", "2021-02-01"),
            rec("C1", "red_light", "2021-02-01"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    assert [(line.parameter, line.counted) for line in st.lines] == [
        ("red_light", -10),
        ("speeding", -20),
        ("red_light", 0),
    ]


def test_cap_periods_start_on_the_effective_date(store: Store) -> None:
    # Period 0 is 2021-01-01 .. 2021-12-31 (365 days); 2022-01-01 starts period 1.
    feed(
        store,
        "police",
        [
            rec("C1", "speeding", "2021-12-30"),
            rec("C1", "speeding", "2021-12-31"),
            rec("C1", "red_light", "2022-01-01"),
        ],
    )
    st = show(store, "C1", "2022-01-15")
    assert [line.counted for line in st.lines] == [-20, -10, -10]
    assert st.score == 960
    assert st.grade == "A"  # exactly on the A band's edge


def test_addition_cap(store: Store) -> None:
    feed(
        store,
        "police",
        [
            rec("C1", "blood", "2021-02-01"),
            rec("C1", "blood", "2021-03-01"),
            rec("C1", "blood", "2021-04-01"),
            rec("C1", "blood", "2021-05-01"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    assert [line.counted for line in st.lines] == [10, 10, 5, 0]
    assert st.score == 1025


def test_deductions_and_additions_are_capped_separately(store: Store) -> None:
    feed(
        store,
        "police",
        [
            rec("C1", "blood", "2021-02-01"),
            rec("C1", "speeding", "2021-02-02"),
            rec("C1", "speeding", "2021-02-03"),
            rec("C1", "blood", "2021-02-04"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    assert [line.counted for line in st.lines] == [10, -20, -10, 10]
    assert st.score == 990


def test_per_unit_points_drop_fractions_toward_zero(store: Store) -> None:
    feed(store, "police", [rec("C1", "volunteer_hours", "2021-02-01", quantity="12.5")])
    feed(store, "court", [rec("O1", "late_tax", "2021-02-01", quantity="2.9")])
    assert show(store, "C1", "2021-06-01").lines[0].counted == 12
    st = show(store, "O1", "2021-06-01")
    assert st.lines[0].points == -8  # -3 * 2.9 = -8.7, toward zero
    assert (st.score, st.grade) == (992, "B")


def test_expiry_boundary_day(store: Store) -> None:
    feed(store, "police", [rec("C1", "red_light", "2021-03-01")])
    # 365 days of validity: counts through 2022-02-28, expired from 2022-03-01.
    st = show(store, "C1", "2022-02-28")
    assert (st.score, st.lines[0].status) == (990, Status.COUNTED)
    assert st.lines[0].expires == d("2022-03-01")
    st = show(store, "C1", "2022-03-01")
    assert (st.score, st.lines[0].status) == (1000, Status.EXPIRED)
    assert st.lines[0].reason == "expired on 2022-03-01"


def test_records_never_expire_without_expiry(store: Store) -> None:
    feed(store, "bank", [rec("C1", "loan_default", "2021-03-01")])
    st = show(store, "C1", "2030-01-01")
    assert (st.score, st.lines[0].expires) == (950, None)


def test_expired_deductions_free_the_cap(store: Store) -> None:
    feed(
        store, "police", [rec("C1", "speeding", "2021-01-10"), rec("C1", "speeding", "2021-06-01")]
    )
    assert show(store, "C1", "2021-07-01").score == 970
    # On 2022-01-10 the first has expired: the second now counts in full.
    st = show(store, "C1", "2022-01-10")
    assert counted(st) == [("speeding", 0, Status.EXPIRED), ("speeding", -20, Status.COUNTED)]


def test_camera_confidence_threshold(store: Store) -> None:
    feed(
        store,
        "cams",
        [
            rec("C1", "red_light", "2021-02-01", confidence="0.9"),
            rec("C2", "red_light", "2021-02-01", confidence="0.8999"),
            rec("C3", "speeding", "2021-02-01", confidence="0.95"),
            rec("C4", "speeding", "2021-02-01", confidence="0.949"),
        ],
    )
    assert show(store, "C1", "2021-06-01").score == 990
    st = show(store, "C2", "2021-06-01")
    assert (st.score, st.lines[0].status) == (1000, Status.LOW_CONFIDENCE)
    assert show(store, "C3", "2021-06-01").score == 980  # the parameter's own minimum 0.95
    assert show(store, "C4", "2021-06-01").lines[0].status == Status.LOW_CONFIDENCE


def report(subject: str, reporter: str, date: str, **extra: Any) -> dict[str, Any]:
    return rec(subject, "rumour", date, counterpart=reporter, **extra)


def test_single_report_does_not_count(store: Store) -> None:
    feed(store, "hotline", [report("C1", "C2", "2021-02-01")])
    st = show(store, "C1", "2021-06-01")
    assert (st.score, st.lines[0].status) == (1000, Status.UNVERIFIED)


def test_report_verified_by_an_authority_counts_from_the_verification(store: Store) -> None:
    r = feed(store, "hotline", [report("C1", "C2", "2021-02-01")])
    assert r.batch is not None
    feed(
        store,
        "police",
        [{"kind": "verification", "refers_to": r.batch.first_entry, "date": "2021-02-10"}],
    )
    assert show(store, "C1", "2021-02-09").score == 1000
    st = show(store, "C1", "2021-02-10")
    assert (st.score, st.lines[0].status) == (995, Status.COUNTED)
    assert "verified by entry" in st.lines[0].reason


def test_three_independent_reporters_in_one_window_count_once(store: Store) -> None:
    # Windows of 30 days from 2021-01-01: 2021-01-31 .. 2021-03-01 is the second one.
    feed(
        store,
        "hotline",
        [
            report("C1", "C2", "2021-02-03"),
            report("C1", "C3", "2021-02-01"),
            report("C1", "C4", "2021-02-20"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    assert st.score == 995
    statuses = {line.date.isoformat(): line.status for line in st.lines}
    assert statuses == {
        "2021-02-01": Status.COUNTED,
        "2021-02-03": Status.CORROBORATING,
        "2021-02-20": Status.CORROBORATING,
    }


def test_reporters_across_a_window_edge_do_not_corroborate(store: Store) -> None:
    feed(
        store,
        "hotline",
        [
            report("C1", "C2", "2021-01-29"),
            report("C1", "C3", "2021-01-30"),
            report("C1", "C4", "2021-01-31"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    assert st.score == 1000
    assert {line.status for line in st.lines} == {Status.UNVERIFIED}


def test_the_same_reporter_or_the_subject_is_not_independent(store: Store) -> None:
    feed(
        store,
        "hotline",
        [
            report("C1", "C2", "2021-02-01", key="a"),
            report("C1", "C2", "2021-02-02", key="b"),
        ],
    )
    # A report by its own subject is refused at the door: it corroborates nothing.
    with pytest.raises(BatchRejected, match="a citizen cannot report itself"):
        feed(store, "hotline", [report("C1", "C1", "2021-02-03", key="c")])
    assert show(store, "C1", "2021-06-01").score == 1000
    feed(store, "hotline", [report("C1", "C3", "2021-02-04")])
    assert show(store, "C1", "2021-06-01").score == 1000  # C2 and C3: two reporters
    feed(store, "hotline", [report("C1", "C4", "2021-02-05")])
    assert show(store, "C1", "2021-06-01").score == 995


def test_reports_not_yet_corroborated_as_of_the_date(store: Store) -> None:
    feed(
        store,
        "hotline",
        [
            report("C1", "C2", "2021-02-01"),
            report("C1", "C3", "2021-02-02"),
            report("C1", "C4", "2021-02-25"),
        ],
    )
    assert show(store, "C1", "2021-02-24").score == 1000
    assert show(store, "C1", "2021-02-25").score == 995


def test_a_report_before_the_effective_date_is_not_in_the_first_window(store: Store) -> None:
    feed(
        store,
        "hotline",
        [
            report("C1", "C2", "2020-12-20"),
            report("C1", "C3", "2021-01-05"),
            report("C1", "C4", "2021-01-06"),
            report("C1", "C5", "2021-01-07"),
        ],
    )
    st = show(store, "C1", "2021-06-01")
    assert st.score == 995
    assert [line.status for line in st.lines] == [
        Status.BEFORE_EFFECT,
        Status.COUNTED,
        Status.CORROBORATING,
        Status.CORROBORATING,
    ]


def test_a_corroborated_act_counts_once_even_if_also_verified(store: Store) -> None:
    r = feed(
        store,
        "hotline",
        [
            report("C1", "C2", "2021-02-01"),
            report("C1", "C3", "2021-02-02"),
            report("C1", "C4", "2021-02-03"),
        ],
    )
    assert r.batch is not None
    second = r.batch.first_entry + 1
    feed(store, "police", [{"kind": "verification", "refers_to": second, "date": "2021-02-10"}])
    st = show(store, "C1", "2021-06-01")
    assert st.score == 995
    assert [line.counted for line in st.lines] == [-5, 0, 0]


def test_police_record_of_a_reportable_parameter_needs_no_verification(store: Store) -> None:
    feed(store, "police", [rec("C1", "rumour", "2021-02-01")])
    assert show(store, "C1", "2021-06-01").score == 995


def test_band_edges(store: Store) -> None:
    feed(
        store,
        "police",
        [
            rec("C1", "hero", "2021-02-01"),  # 1050: AAA
            rec("C2", "hero", "2021-02-01"),
            rec("C2", "litter", "2021-02-01"),  # 1049: AA
            rec("C3", "volunteer_hours", "2021-02-01", quantity=10),  # 1010 - 50 = 960: A
            rec("C4", "volunteer_hours", "2021-02-01", quantity=9),  # 959: B
            rec("O1", "litter", "2021-02-01"),  # organisation 999: B
        ],
    )
    feed(
        store,
        "bank",
        [rec("C3", "loan_default", "2021-02-01"), rec("C4", "loan_default", "2021-02-01")],
    )
    feed(
        store, "court", [rec("C5", "loan_default", f"2021-02-{i:02d}") for i in range(1, 9)]
    )  # 600: C
    feed(store, "court", [rec("C6", "loan_default", f"2021-02-{i:02d}") for i in range(1, 9)])
    feed(store, "police", [rec("C6", "litter", "2021-02-01")])  # 599: D
    expected = {
        "C1": (1050, "AAA"),
        "C2": (1049, "AA"),
        "C3": (960, "A"),
        "C4": (959, "B"),
        "C5": (600, "C"),
        "C6": (599, "D"),
        "O1": (999, "B"),
        "O2": (1000, "A"),
    }
    run = score_run(store, d("2021-06-01"))
    rows = store.rows(
        "SELECT s.code, n.score, n.grade FROM snapshot n JOIN subjects s USING (subject_id) "
        "WHERE n.run_id = ?",
        [run.run_id],
    )
    got = {code: (score, grade) for code, score, grade in rows if code in expected}
    assert got == expected
    for code, (score_, grade) in expected.items():
        st = show(store, code, "2021-06-01")
        assert (st.score, st.grade) == (score_, grade)


def test_records_before_the_effective_date_do_not_count(store: Store) -> None:
    feed(
        store,
        "police",
        [rec("C1", "red_light", "2020-12-31"), rec("C1", "red_light", "2021-01-01")],
    )
    st = show(store, "C1", "2021-06-01")
    assert counted(st) == [
        ("red_light", 0, Status.BEFORE_EFFECT),
        ("red_light", -10, Status.COUNTED),
    ]


def test_records_after_the_as_of_date_are_not_shown(store: Store) -> None:
    feed(store, "police", [rec("C1", "red_light", "2021-03-01"), rec("C1", "blood", "2021-05-01")])
    st = show(store, "C1", "2021-04-01")
    assert [line.parameter for line in st.lines] == ["red_light"]
    assert st.score == 990


def test_run_is_tagged_with_rulebook_and_date(store: Store) -> None:
    feed(store, "police", [rec("C1", "red_light", "2021-03-01")])
    run = score_run(store, d("2021-06-01"))
    row = store.one(
        "SELECT rulebook_hash, as_of, subjects FROM runs WHERE run_id = ?", [run.run_id]
    )
    assert row == (run.rulebook_hash, d("2021-06-01"), 11)
    assert run.records == 1
    assert run.grades["citizen"]["A"] == 9


def test_the_plan_as_one_ibis_expression_matches_the_compiled_run(store: Store) -> None:
    # score_expr is what other Ibis backends will run; it must agree with the cached SQL.
    from socialrating.ledger import active_rulebook
    from socialrating.scoring import plan_inputs, score_expr

    feed(
        store, "police", [rec("C1", "speeding", "2021-02-01"), rec("C1", "speeding", "2021-02-02")]
    )
    feed(store, "hotline", [report("C2", "C3", "2021-02-01")])
    feed(store, "cams", [rec("C4", "red_light", "2021-02-01", confidence="0.5")])
    run = score_run(store, d("2021-06-01"))
    expected = dict(
        store.rows("SELECT subject_id, score FROM snapshot WHERE run_id = ?", [run.run_id])
    )
    expr = score_expr(plan_inputs(store, active_rulebook(store)), d("2021-06-01"))
    got = {r["subject_id"]: r["score"] for r in expr.to_pyarrow().to_pylist()}
    assert got == expected
    assert expected[1] == 970


def test_compiled_plans_are_kept_in_the_database(store: Store, monkeypatch: Any) -> None:
    """A later process reuses the stored SQL instead of compiling again (seconds)."""
    from socialrating.ledger.rulebooks import active_rulebook
    from socialrating.scoring import compiled as compiled_module

    rb = active_rulebook(store)
    monkeypatch.setattr(compiled_module, "_CACHE", {})  # as in a new process
    first = compiled_module.compiled(store, rb, "subject_score")
    assert store.scalar(
        "SELECT count(*) FROM plan_cache WHERE key LIKE ?", [f"{rb.hash}%|subject_score|%"]
    )
    monkeypatch.setattr(compiled_module, "_CACHE", {})  # as in a new process

    def no_compiling(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("compiled again")

    monkeypatch.setattr(store.ibis, "compile", no_compiling)
    assert compiled_module.compiled(store, rb, "subject_score") == first


def test_plans_compile_and_run_on_a_database_opened_read_only(
    store: Store, db_path: Path, monkeypatch: Any
) -> None:
    """A reader (a provider's look-up, a benchmark) compiles for itself and writes nothing."""
    from socialrating.ledger import open_store
    from socialrating.scoring import compiled as compiled_module

    feed(store, "police", [rec("C1", "red_light", "2021-02-01")])
    store.close()
    monkeypatch.setattr(compiled_module, "_CACHE", {})
    with open_store(db_path, read_only=True) as reader:
        st = statement(reader, "C1", d("2021-06-01"))
        assert st.score == 990
        # The rulebook's spec was kept when it was installed; no plan is kept now.
        assert reader.rows("SELECT split_part(key, '|', 3) FROM plan_cache") == [("spec",)]
