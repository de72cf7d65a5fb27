"""Core types and codes of socialrating (the tables themselves are in ledger/store.py).

Subjects, institutions and parameters get integer ids in their registries; the ledger
stores only ids. Days are integers counted from 1970-01-01 (UTC), so that validity and
period arithmetic are plain integer arithmetic on every backend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum, StrEnum

EPOCH = dt.date(1970, 1, 1)


def day_number(d: dt.date) -> int:
    """The integer day of a date (days since 1970-01-01)."""
    return (d - EPOCH).days


def day_date(n: int) -> dt.date:
    """The date of an integer day."""
    return EPOCH + dt.timedelta(days=int(n))


class SubjectKind(StrEnum):
    """What a subject is: a person or an organisation."""

    CITIZEN = "citizen"
    ORGANISATION = "organisation"


class InstitutionClass(StrEnum):
    """The four classes of institutions that send records (SPEC section 2)."""

    STATE = "state"
    NONSTATE = "nonstate"
    CITIZEN = "citizen"
    CAMERA = "camera"


class EntryKind(IntEnum):
    """What a ledger entry is. Stored as a small integer in the ``kind`` column.

    Appeals, reviews and voids come from no institution (``appeals/``): an appeal refers
    to the record it disputes, a review to the appeal it answers, and a void (appended
    with the review that voids) to the record it takes out of scoring.
    """

    RECORD = 1
    VERIFICATION = 2
    RULEBOOK = 3
    APPEAL = 4
    REVIEW = 5
    VOID = 6


class Status(StrEnum):
    """Why a record counts or does not, as of a date. The statement shows it."""

    COUNTED = "counted"
    EXPIRED = "expired"
    LOW_CONFIDENCE = "low_confidence"
    UNVERIFIED = "unverified"
    CORROBORATING = "corroborating"
    BEFORE_EFFECT = "before_effect"
    NOT_IN_RULEBOOK = "not_in_rulebook"
    ABSORBED = "absorbed"
    REFUSED = "refused"
    REPAIRED = "repaired"
    NO_REPAIR = "nothing_to_repair"
    FROZEN = "frozen"
    VOIDED = "voided"


# The scoring plan carries statuses as small integers; the order is the order of precedence
# (a record that is both expired and unverified shows as expired), but for ``voided``,
# added last, which comes before every other: a voided record never counts for anything.
STATUS_CODES: dict[Status, int] = {
    Status.COUNTED: 0,
    Status.NOT_IN_RULEBOOK: 1,
    Status.BEFORE_EFFECT: 2,
    Status.EXPIRED: 3,
    Status.LOW_CONFIDENCE: 4,
    Status.UNVERIFIED: 5,
    Status.CORROBORATING: 6,
    Status.ABSORBED: 7,
    Status.REFUSED: 8,
    Status.REPAIRED: 9,
    Status.NO_REPAIR: 10,
    Status.FROZEN: 11,
    Status.VOIDED: 12,
}
STATUS_BY_CODE: dict[int, Status] = {code: status for status, code in STATUS_CODES.items()}

STATUS_TEXT: dict[Status, str] = {
    Status.COUNTED: "counts",
    Status.EXPIRED: "expired",
    Status.LOW_CONFIDENCE: "confidence below the minimum",
    Status.UNVERIFIED: "report not verified",
    Status.CORROBORATING: "corroborates an earlier report",
    Status.BEFORE_EFFECT: "before the rulebook took effect",
    Status.NOT_IN_RULEBOOK: "parameter not in this rulebook",
    Status.ABSORBED: "absorbed: the same act counts once",
    Status.REFUSED: "refused: its condition was not met",
    Status.REPAIRED: "direct grade ended by a repair",
    Status.NO_REPAIR: "no standing direct grade to repair",
    Status.FROZEN: "frozen while a direct grade stands",
    Status.VOIDED: "voided on appeal",
}


@dataclass(frozen=True)
class Subject:
    """A rated subject as registered: a citizen or an organisation."""

    subject_id: int
    code: str
    kind: SubjectKind
    born: dt.date | None = None
    sex: str | None = None
    region: str | None = None


def utc_now() -> dt.datetime:
    """Now, in UTC, as the naive timestamp the ledger stores (microsecond precision)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
