"""Filing and reviewing appeals on a real DuckDB file: the story end to end, and every refusal.

The ledger (tiny rulebook, base 1000): C1 runs a red light on 2021-02-01 (-10) and gives
blood on 2021-03-01 (+10), 1000; C2 runs a red light too (-10), 990.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from tests.conftest import d, feed, rec

from socialrating.appeals import appeal, file_appeal, list_appeals, review_appeal
from socialrating.errors import AppealError, UnknownAppeal, UnknownSubject
from socialrating.ledger import Store
from socialrating.ledger.verify import verify_ledger
from socialrating.model import EntryKind, Status
from socialrating.scoring import score_run, statement

AS_OF = d("2021-06-01")


@pytest.fixture
def ledger(store: Store) -> dict[str, int]:
    """The entry ids of the records, by name."""
    done = feed(
        store,
        "police",
        [
            rec("C1", "red_light", "2021-02-01"),
            rec("C1", "blood", "2021-03-01"),
            rec("C2", "red_light", "2021-02-01"),
        ],
    )
    assert done.batch is not None
    first = done.batch.first_entry
    return {"c1_red": first, "c1_blood": first + 1, "c2_red": first + 2}


def _score(store: Store, run_id: int, code: str) -> int:
    return int(
        store.scalar(
            "SELECT score FROM snapshot JOIN subjects USING (subject_id) "
            "WHERE run_id = ? AND code = ?",
            [run_id, code],
        )
    )


def _line(st: Any, entry_id: int) -> Any:
    return next(line for line in st.lines if line.entry_id == entry_id)


def test_the_appeal_story(store: Store, ledger: dict[str, int]) -> None:
    red = ledger["c1_red"]
    before = score_run(store, AS_OF)
    assert _score(store, before.run_id, "C1") == 1000

    # Filed on Monday 2021-05-03: due 7 working days later, on Wednesday 2021-05-12.
    filed = file_appeal(store, "C1", red, "  I was not driving that day  ", d("2021-05-03"))
    assert (filed.appeal_id, filed.subject, filed.entry_id) == (1, "C1", red)
    assert (filed.parameter, filed.entry_date, filed.institution) == (
        "red_light",
        d("2021-02-01"),
        "police",
    )
    assert filed.reason == "I was not driving that day"
    assert (filed.filed, filed.deadline) == (d("2021-05-03"), d("2021-05-12"))
    assert appeal(store, 1, d("2021-05-04")).status == "open"

    # The statement shows it open, on the line and in its list of appeals.
    st = statement(store, "C1", d("2021-05-05"))
    assert st.score == 1000
    assert [a.appeal_id for a in st.appeals] == [1]
    assert st.appeals[0].status == "open"
    line = _line(st, red)
    assert line.status is Status.COUNTED and line.counted == -10 and line.appeals == (1,)
    assert "under appeal 1 since 2021-05-03: review due by 2021-05-12" in line.reason
    doc = st.as_dict()
    assert doc["appeals"][0]["status"] == "open"  # type: ignore[index]
    assert doc["appeals"][0]["deadline"] == "2021-05-12"  # type: ignore[index]

    # Voided: the record stops counting at once, in the statement and the next run.
    voided = review_appeal(
        store, 1, "voided", "the camera shows another car", "review board", d("2021-05-10")
    )
    assert (voided.status, voided.late, voided.reviewed) == ("voided", False, d("2021-05-10"))
    assert (voided.reviewer, voided.review_reason) == (
        "review board",
        "the camera shows another car",
    )
    assert voided.review_entry is not None and voided.void_entry == voided.review_entry + 1
    st = statement(store, "C1", AS_OF)
    assert st.score == 1010 and st.points_total == 1010
    line = _line(st, red)
    assert (line.status, line.counted, line.points) == (Status.VOIDED, 0, -10)
    assert line.reason == (
        "voided on 2021-05-10 by the review of appeal 1 "
        "(review board: the camera shows another car)"
    )
    assert line.related_entry == voided.review_entry
    assert st.appeals[0].status == "voided"
    whole = statement(store, "C1", AS_OF, narrow=False)
    assert whole.as_dict() == st.as_dict()

    after = score_run(store, AS_OF)
    assert after.incremental["scores"] == 1  # C1 only
    assert _score(store, after.run_id, "C1") == 1010
    assert _score(store, after.run_id, "C2") == 990
    full = score_run(store, AS_OF, full=True)
    assert _score(store, full.run_id, "C1") == 1010
    # The run before the void keeps what it stored.
    assert _score(store, before.run_id, "C1") == 1000

    # A void corrects the record for every as-of date, even one before the appeal.
    early = statement(store, "C1", d("2021-02-15"))
    assert early.score == 1000  # without the void: 990
    assert _line(early, red).status is Status.VOIDED

    # Appeals, reviews and voids are ledger entries, chained like any other.
    kinds = store.rows("SELECT kind, refers_to FROM entries WHERE kind >= 4 ORDER BY entry_id")
    assert kinds == [
        (int(EntryKind.APPEAL), red),
        (int(EntryKind.REVIEW), filed.appeal_entry),
        (int(EntryKind.VOID), red),
    ]
    report = verify_ledger(store)
    assert report.findings == [] and report.entries == red + 5


def test_an_upheld_record_stands(store: Store, ledger: dict[str, int]) -> None:
    red = ledger["c2_red"]
    before = score_run(store, AS_OF)
    file_appeal(store, "C2", red, "too harsh", d("2021-03-01"))
    upheld = review_appeal(store, 1, "upheld", "the photo is clear", "clerk", d("2021-03-02"))
    assert (upheld.status, upheld.void_entry) == ("upheld", None)
    st = statement(store, "C2", AS_OF)
    line = _line(st, red)
    assert (st.score, line.status, line.counted) == (990, Status.COUNTED, -10)
    assert line.reason == "counts; appeal 1 upheld on 2021-03-02"
    after = score_run(store, AS_OF)
    assert _score(store, after.run_id, "C2") == _score(store, before.run_id, "C2") == 990
    # An upheld record may be appealed again.
    again = file_appeal(store, "C2", red, "new evidence", d("2021-03-05"))
    assert again.appeal_id == 2
    assert _line(statement(store, "C2", d("2021-03-08")), red).appeals == (1, 2)
    assert verify_ledger(store).findings == []


def test_deadlines_and_overdue_appeals(store: Store, ledger: dict[str, int]) -> None:
    # Filed on Friday 2021-03-05: due on Tuesday 2021-03-16 (7 working days).
    file_appeal(store, "C1", ledger["c1_red"], "not me", d("2021-03-05"))
    file_appeal(store, "C2", ledger["c2_red"], "not me either", d("2021-03-15"))

    def listed(status: Any, today: str, subject: str | None = None) -> list[tuple[int, str]]:
        found = list_appeals(store, subject, status, d(today))
        return [(a.appeal_id, a.status) for a in found]

    assert listed(None, "2021-03-16") == [(1, "open"), (2, "open")]
    assert listed("overdue", "2021-03-16") == []
    assert listed("overdue", "2021-03-17") == [(1, "overdue")]
    assert listed("open", "2021-03-17") == [(1, "overdue"), (2, "open")]  # awaiting review
    assert listed(None, "2021-03-17", "C2") == [(2, "open")]
    assert appeal(store, 1, d("2021-03-17")).late

    late = review_appeal(store, 1, "voided", "right after all", "clerk", d("2021-03-18"))
    assert (late.status, late.late, late.deadline) == ("voided", True, d("2021-03-16"))
    on_time = review_appeal(store, 2, "upheld", "no", "clerk", d("2021-03-24"))
    assert (on_time.deadline, on_time.late) == (d("2021-03-24"), False)
    assert listed("reviewed", "2021-04-01") == [(1, "voided"), (2, "upheld")]
    assert listed("open", "2021-04-01") == []
    # A statement judges the deadlines as of its own date.
    assert [a.status for a in statement(store, "C1", d("2021-03-17")).appeals] == ["voided"]


def test_the_deadline_is_kept_when_the_rulebook_changes(
    store: Store, ledger: dict[str, int], tmp_path: Any
) -> None:
    from tests.conftest import TINY

    from socialrating.ledger import activate_rulebook
    from socialrating.rulebook import load_rulebook

    file_appeal(store, "C1", ledger["c1_red"], "not me", d("2021-03-05"))
    court = tmp_path / "court.yaml"
    court.write_text(
        TINY.read_text(encoding="utf-8").replace('version: "1"', 'version: "2"')
        + "appeals: {deadline_days: 15, working_days: false}\n",
        encoding="utf-8",
    )
    activate_rulebook(store, load_rulebook(court), backdate="the court's deadline")
    assert appeal(store, 1).deadline == d("2021-03-16")  # as filed
    second = file_appeal(store, "C2", ledger["c2_red"], "not me", d("2021-03-05"))
    assert second.deadline == d("2021-03-20")  # 15 calendar days


def _counts(store: Store) -> tuple[int, int]:
    return (
        int(store.scalar("SELECT count(*) FROM entries")),
        int(store.scalar("SELECT count(*) FROM batches")),
    )


FUTURE = dt.date.today() + dt.timedelta(days=3)
Step = Callable[[Store, dict[str, int]], Any]


def _filed(s: Store, e: dict[str, int]) -> None:
    file_appeal(s, "C1", e["c1_red"], "why", d("2021-03-05"))


def _voided(s: Store, e: dict[str, int]) -> None:
    _filed(s, e)
    review_appeal(s, 1, "voided", "yes", "clerk", d("2021-03-06"))


def _upheld(s: Store, e: dict[str, int]) -> None:
    _filed(s, e)
    review_appeal(s, 1, "upheld", "no", "clerk", d("2021-03-06"))


# (name, what is done first, what is refused, the error, words of its message)
REFUSALS: list[tuple[str, Step | None, Step, type[Exception], str]] = [
    (
        "empty reason",
        None,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], "", d("2021-03-05")),
        AppealError,
        "the reason is empty",
    ),
    (
        "blank reason",
        None,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], " \n\t", d("2021-03-05")),
        AppealError,
        "the reason is empty",
    ),
    (
        "long reason",
        None,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], "x" * 2001, d("2021-03-05")),
        AppealError,
        "the reason has 2,001 characters: at most 2,000",
    ),
    (
        "unknown subject",
        None,
        lambda s, e: file_appeal(s, "C99", e["c1_red"], "why", d("2021-03-05")),
        UnknownSubject,
        "no subject with code 'C99'",
    ),
    (
        "no such entry",
        None,
        lambda s, e: file_appeal(s, "C1", 999, "why", d("2021-03-05")),
        AppealError,
        "no entry 999 in the ledger (its entries are 1 to 4)",
    ),
    (
        "entry zero",
        None,
        lambda s, e: file_appeal(s, "C1", 0, "why", d("2021-03-05")),
        AppealError,
        "a whole number from 1, not 0",
    ),
    (
        "not a record",
        None,
        lambda s, e: file_appeal(s, "C1", 1, "why", d("2021-03-05")),
        AppealError,
        "entry 1 is a rulebook activation, not a record",
    ),
    (
        "someone else's record",
        None,
        lambda s, e: file_appeal(s, "C1", e["c2_red"], "why", d("2021-03-05")),
        AppealError,
        "entry 4 is not a record about C1",
    ),
    (
        "before the record",
        None,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], "why", d("2021-01-31")),
        AppealError,
        "an appeal filed on 2021-01-31 cannot dispute a record of 2021-02-01",
    ),
    (
        "in the future",
        None,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], "why", FUTURE),
        AppealError,
        "after today",
    ),
    (
        "a second open appeal",
        _filed,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], "again", d("2021-03-06")),
        AppealError,
        "entry 2 is under appeal already: appeal 1, filed 2021-03-05, review due by 2021-03-16",
    ),
    (
        "a voided record",
        _voided,
        lambda s, e: file_appeal(s, "C1", e["c1_red"], "again", d("2021-03-07")),
        AppealError,
        "entry 2 was voided on 2021-03-06 (appeal 1)",
    ),
    (
        "an appeal appealed",
        _filed,
        lambda s, e: file_appeal(s, "C1", 5, "and that", d("2021-03-06")),
        AppealError,
        "entry 5 is an appeal, not a record",
    ),
    (
        "unknown appeal",
        None,
        lambda s, e: review_appeal(s, 7, "voided", "yes", "clerk", d("2021-03-06")),
        UnknownAppeal,
        "no appeal 7: no appeal has been filed",
    ),
    (
        "unknown appeal number",
        _filed,
        lambda s, e: review_appeal(s, 2, "voided", "yes", "clerk", d("2021-03-06")),
        UnknownAppeal,
        "no appeal 2: appeals are numbered 1 to 1",
    ),
    (
        "outcome",
        _filed,
        lambda s, e: review_appeal(s, 1, "maybe", "hm", "clerk", d("2021-03-06")),
        AppealError,
        "outcome 'maybe' is neither",
    ),
    (
        "no reviewer",
        _filed,
        lambda s, e: review_appeal(s, 1, "voided", "yes", " ", d("2021-03-06")),
        AppealError,
        "the reviewer is empty",
    ),
    (
        "no review reason",
        _filed,
        lambda s, e: review_appeal(s, 1, "upheld", "", "clerk", d("2021-03-06")),
        AppealError,
        "the reason is empty",
    ),
    (
        "review before filing",
        _filed,
        lambda s, e: review_appeal(s, 1, "upheld", "no", "clerk", d("2021-03-04")),
        AppealError,
        "a review on 2021-03-04 cannot precede the appeal it answers, filed 2021-03-05",
    ),
    (
        "reviewed twice",
        _upheld,
        lambda s, e: review_appeal(s, 1, "voided", "yes after all", "boss", d("2021-03-07")),
        AppealError,
        "appeal 1 was reviewed already: upheld on 2021-03-06 by clerk",
    ),
]


@pytest.mark.parametrize(
    ("name", "before", "attempt", "error", "words"), REFUSALS, ids=[r[0] for r in REFUSALS]
)
def test_a_refusal_says_why_and_stores_nothing(
    store: Store,
    ledger: dict[str, int],
    name: str,
    before: Step | None,
    attempt: Step,
    error: type[Exception],
    words: str,
) -> None:
    if before is not None:
        before(store, ledger)
    counts = _counts(store)
    with pytest.raises(error) as exc:
        attempt(store, ledger)
    assert words in str(exc.value)
    assert _counts(store) == counts
    assert verify_ledger(store).findings == []
