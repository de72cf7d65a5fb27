"""Appeals as the ledger holds them: each appeal with its record, its review and its void.

An appeal is read from three kinds of ledger entries (``EntryKind``), never from a table
of its own that could be edited:

- ``appeal`` (4): ``refers_to`` the disputed record; ``subject_id`` and ``parameter_id``
  are the record's; ``day`` is the day it was filed; ``evidence`` is a JSON object with
  the subject's ``reason`` and the ``deadline`` the rulebook then set; ``idem_key`` is
  ``appeal:N``, N its number (1, 2, … in filing order);
- ``review`` (5): ``refers_to`` the appeal's entry; ``day`` is the day of the review;
  ``evidence`` holds ``outcome`` (``upheld`` or ``voided``), ``reason`` and ``reviewer``;
- ``void`` (6), appended with a review that voids: ``refers_to`` the voided record, and
  carries its subject, parameter and counterpart, so that whatever reads the entries
  about or naming a subject (a statement's look-up, an incremental run) sees it too;
  ``evidence`` holds the appeal's number.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from socialrating.errors import UnknownAppeal
from socialrating.ledger.store import Store
from socialrating.model import EntryKind, day_date

AppealStatus = Literal["open", "overdue", "upheld", "voided"]
Outcome = Literal["upheld", "voided"]


@dataclass(frozen=True)
class Appeal:
    """A subject's appeal against one record, and its review if it had one.

    Attributes:
        appeal_id: the appeal's number (1, 2, … in filing order).
        subject: the code of the subject the record is about (who appealed).
        entry_id: the appealed record's entry.
        parameter: the record's parameter code.
        entry_date: the record's fact day.
        institution: the code of the institution that sent the record.
        reason: why the subject disputes it.
        filed: the day the appeal was filed.
        deadline: the last day on which a review is in time (the rulebook's ``appeals``).
        status: ``open`` (awaiting review, in time), ``overdue`` (awaiting review past the
            deadline), ``upheld`` or ``voided``.
        late: reviewed after the deadline, or awaiting review past it.
        review_reason: why the reviewer decided as they did.
        reviewer: who reviewed it.
        reviewed: the day of the review.
        appeal_entry: the appeal's ledger entry.
        review_entry: the review's ledger entry.
        void_entry: the entry that voided the record (when the review voided it).
    """

    appeal_id: int
    subject: str
    entry_id: int
    parameter: str
    entry_date: dt.date
    institution: str | None
    reason: str
    filed: dt.date
    deadline: dt.date
    status: AppealStatus
    late: bool
    review_reason: str | None = None
    reviewer: str | None = None
    reviewed: dt.date | None = None
    appeal_entry: int = 0
    review_entry: int | None = None
    void_entry: int | None = None

    @property
    def awaiting_review(self) -> bool:
        """Not reviewed yet (``open`` or ``overdue``)."""
        return self.review_entry is None

    def as_dict(self) -> dict[str, object]:
        return {
            "appeal_id": self.appeal_id,
            "subject": self.subject,
            "entry_id": self.entry_id,
            "parameter": self.parameter,
            "entry_date": self.entry_date.isoformat(),
            "institution": self.institution,
            "reason": self.reason,
            "filed": self.filed.isoformat(),
            "deadline": self.deadline.isoformat(),
            "status": self.status,
            "late": self.late,
            "review_reason": self.review_reason,
            "reviewer": self.reviewer,
            "reviewed": None if self.reviewed is None else self.reviewed.isoformat(),
            "appeal_entry": self.appeal_entry,
            "review_entry": self.review_entry,
            "void_entry": self.void_entry,
        }


def today_utc() -> dt.date:
    """Today's date in UTC, the default day of a filing, a review and a deadline check."""
    from socialrating.model import utc_now

    return utc_now().date()


def appeal(store: Store, appeal_id: int, today: dt.date | None = None) -> Appeal:
    """The appeal numbered ``appeal_id``, its status judged as of ``today`` (default: today, UTC).

    Raises:
        UnknownAppeal: no appeal has that number.
    """
    found = read_appeals(store, "idem_key = ?", [f"appeal:{int(appeal_id)}"], today)
    if not found:
        total = int(store.scalar(_COUNT, [int(EntryKind.APPEAL)]))
        held = f"appeals are numbered 1 to {total}" if total else "no appeal has been filed"
        raise UnknownAppeal(f"no appeal {appeal_id}: {held}")
    return found[0]


def list_appeals(
    store: Store,
    subject: str | None = None,
    status: Literal["open", "overdue", "reviewed"] | None = None,
    today: dt.date | None = None,
) -> list[Appeal]:
    """Appeals in filing order: of one subject (by code) or all, of one status or all.

    ``status``: ``open`` is every appeal awaiting review (overdue ones too), ``overdue``
    those awaiting review past their deadline, ``reviewed`` those upheld or voided.
    Deadlines are judged as of ``today`` (default: today, UTC).

    Raises:
        UnknownSubject: no subject has that code.
    """
    if subject is None:
        found = read_appeals(store, "TRUE", [], today)
    else:
        from socialrating.ledger.subjects import find_subject

        found = appeals_of(store, find_subject(store, subject).subject_id, today)
    if status == "open":
        return [a for a in found if a.awaiting_review]
    if status == "overdue":
        return [a for a in found if a.status == "overdue"]
    if status == "reviewed":
        return [a for a in found if not a.awaiting_review]
    return found


def appeals_of(store: Store, subject_id: int, today: dt.date | None = None) -> list[Appeal]:
    """Every appeal about the subject with registry id ``subject_id``, in filing order."""
    return read_appeals(store, "subject_id = ?", [int(subject_id)], today)


_COUNT = "SELECT count(*) FROM entries WHERE kind = ?"

# The appeals matching a condition, with their records; then the reviews of those appeals
# and the voids of their records. Each reads one kind of entry (a kind's rows are few, and
# the ledger's scan skips the row groups that hold none of them).
_APPEALS = """
SELECT a.entry_id, a.idem_key, a.day, a.evidence, a.refers_to, s.code, r.day, p.code, i.code
FROM (SELECT * FROM entries WHERE kind = {appeal} AND {where}) a
JOIN subjects s ON s.subject_id = a.subject_id
JOIN entries r ON r.entry_id = a.refers_to
LEFT JOIN parameters p ON p.parameter_id = r.parameter_id
LEFT JOIN institutions i ON i.institution_id = r.institution_id
ORDER BY a.entry_id
"""
_REVIEWS = """
SELECT entry_id, refers_to, day, evidence FROM entries
WHERE kind = {review} AND list_contains(?, refers_to) ORDER BY entry_id
"""
_VOIDS = """
SELECT entry_id, evidence FROM entries
WHERE kind = {void} AND list_contains(?, refers_to) ORDER BY entry_id
"""


def read_appeals(
    store: Store, where: str, params: list[Any], today: dt.date | None = None
) -> list[Appeal]:
    """The appeals whose entries match the SQL condition ``where``, in filing order."""
    today = today or today_utc()
    rows = store.rows(_APPEALS.format(appeal=int(EntryKind.APPEAL), where=where), params)
    if not rows:
        return []
    entries = [int(r[0]) for r in rows]
    reviews: dict[int, tuple[int, dt.date, dict[str, str]]] = {}
    for review, refers, day, evidence in store.rows(
        _REVIEWS.format(review=int(EntryKind.REVIEW)), [entries]
    ):
        reviews.setdefault(int(refers), (int(review), day_date(day), json.loads(evidence)))
    voids = {
        int(json.loads(evidence)["appeal"]): int(entry)
        for entry, evidence in store.rows(
            _VOIDS.format(void=int(EntryKind.VOID)), [[int(r[4]) for r in rows]]
        )
    }
    found = []
    for entry, key, day, evidence, record, code, record_day, parameter, institution in rows:
        number = int(str(key).removeprefix("appeal:"))
        said = json.loads(evidence)
        filed, due = day_date(day), dt.date.fromisoformat(said["deadline"])
        review = reviews.get(int(entry))
        decided: dict[str, Any] = {}
        review_entry: int | None = None
        reviewed: dt.date | None = None
        if review is None:
            status: AppealStatus = "overdue" if today > due else "open"
            late = today > due
        else:
            review_entry, reviewed, decided = review
            status = "voided" if decided["outcome"] == "voided" else "upheld"
            late = reviewed > due
        found.append(
            Appeal(
                appeal_id=number,
                subject=str(code),
                entry_id=int(record),
                parameter=str(parameter),
                entry_date=day_date(record_day),
                institution=None if institution is None else str(institution),
                reason=str(said["reason"]),
                filed=filed,
                deadline=due,
                status=status,
                late=late,
                review_reason=decided.get("reason"),
                reviewer=decided.get("reviewer"),
                reviewed=reviewed,
                appeal_entry=int(entry),
                review_entry=review_entry,
                void_entry=voids.get(number) if status == "voided" else None,
            )
        )
    return found
