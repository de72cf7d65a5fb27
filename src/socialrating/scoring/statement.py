"""A subject's statement: every record with its rule, points, date, expiry and status.

The statement is the scoring plan filtered to one subject, with each record's share of its
category cap; base score plus the counted points equals the score the plan computes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from socialrating.errors import ScoringError
from socialrating.ledger.append import utc_now
from socialrating.ledger.rulebooks import active_rulebook
from socialrating.ledger.store import Store
from socialrating.ledger.subjects import find_subject
from socialrating.model import STATUS_BY_CODE, STATUS_TEXT, Status, Subject, day_date, day_number
from socialrating.rulebook import RulebookHeader
from socialrating.scoring.compiled import run_plan


@dataclass(frozen=True)
class StatementLine:
    """One record as the statement shows it.

    ``points`` is what the rule gives; ``counted`` is what it adds to the score after its
    cap (0 when it does not count); ``reason`` says why it counts in part or not at all.
    """

    entry_id: int
    date: dt.date
    parameter: str
    category: str
    institution: str
    points: int
    counted: int
    status: Status
    reason: str
    expires: dt.date | None
    quantity: float | None
    confidence: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "entry_id": self.entry_id,
            "date": self.date.isoformat(),
            "parameter": self.parameter,
            "category": self.category,
            "institution": self.institution,
            "points": self.points,
            "counted": self.counted,
            "status": self.status.value,
            "reason": self.reason,
            "expires": None if self.expires is None else self.expires.isoformat(),
            "quantity": self.quantity,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class Statement:
    """Everything behind one subject's score as of a date, under one rulebook."""

    subject: Subject
    as_of: dt.date
    rulebook_hash: str
    base: int
    score: int
    grade: str
    lines: list[StatementLine]

    @property
    def total(self) -> int:
        """Base plus every counted point: always equal to ``score``."""
        return self.base + sum(line.counted for line in self.lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject.code,
            "kind": self.subject.kind.value,
            "as_of": self.as_of.isoformat(),
            "rulebook_hash": self.rulebook_hash,
            "base": self.base,
            "score": self.score,
            "grade": self.grade,
            "lines": [line.as_dict() for line in self.lines],
        }


def statement(
    store: Store, code: str, as_of: dt.date | None = None, rulebook: RulebookHeader | None = None
) -> Statement:
    """The statement of the subject with ``code`` as of ``as_of`` (default today, UTC).

    Raises:
        UnknownSubject: no subject has that code.
        ScoringError: the lines do not sum to the score (a bug: it must never happen).
    """
    as_of = as_of or utc_now().date()
    subject = find_subject(store, code)
    rb = rulebook or active_rulebook(store)
    day = day_number(as_of)
    rows = run_plan(store, rb, "statement", day, subject.subject_id).to_pylist()
    row = run_plan(store, rb, "subject_score", day, subject.subject_id).to_pylist()[0]
    categories = {v: k for k, v in rb.category_ids.items()}
    lines = [_line(r, categories, rb) for r in rows]
    # DuckDB sums integers into 128-bit values; the score is a plain int.
    result = Statement(
        subject, as_of, rb.hash, rb.spec.base_score, int(row["score"]), row["grade"], lines
    )
    if result.total != result.score:
        raise ScoringError(
            f"statement of {code} sums to {result.total} but the score is {result.score}"
        )
    return result


def _line(r: dict[str, Any], categories: dict[int, str], rb: RulebookHeader) -> StatementLine:
    status = STATUS_BY_CODE[int(r["status"])]
    points = int(r["points"])
    counted = int(r["counted_points"])
    expires = None if r["expires_day"] is None else day_date(r["expires_day"])
    reason = STATUS_TEXT[status]
    category = categories.get(r["category_id"], "") if r["category_id"] is not None else ""
    if status is Status.COUNTED and counted != points:
        cap = r["cap_max_deduction"] if points < 0 else r["cap_max_addition"]
        start = day_date(int(r["period"]))
        reason = f"cap: {category} at most {cap} per {_period_days(rb, category)} days from {start}"
    elif status is Status.COUNTED and r["verified_by"] is not None:
        reason = f"report verified by entry {r['verified_by']}"
    elif status is Status.EXPIRED and expires is not None:
        reason = f"expired on {expires.isoformat()}"
    elif status is Status.CORROBORATING:
        reason = f"corroborates entry {r['corroborates']}"
    elif status is Status.LOW_CONFIDENCE:
        reason = f"confidence {r['confidence']} below the minimum"
    return StatementLine(
        entry_id=int(r["entry_id"]),
        date=day_date(int(r["day"])),
        parameter=str(r["parameter"] or f"#{r.get('parameter_id')}"),
        category=category,
        institution=str(r["institution"] or ""),
        points=points,
        counted=counted,
        status=status,
        reason=reason,
        expires=expires,
        quantity=r["quantity"],
        confidence=r["confidence"],
    )


def _period_days(rb: RulebookHeader, category: str) -> int:
    for c in rb.spec.categories:
        if c.code == category and c.cap is not None:
            return c.cap.period_days
    return 0
