"""Filing an appeal and reviewing it: new ledger entries, appended like any other.

An appeal, a review and a void come from no institution (as a rulebook's activation
does): they are appended through the ledger's own path (``append_rows``), which numbers,
digests and chains them, so ``verify`` covers them like every record. Each call appends
one batch in one transaction, or nothing: every check runs first, and a refusal raises
``AppealError`` with nothing stored. ``cases`` describes the entries' fields.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from socialrating.appeals.cases import Appeal, Outcome, appeal, appeals_of, today_utc
from socialrating.appeals.deadlines import deadline
from socialrating.errors import AppealError
from socialrating.ledger.store import Store
from socialrating.model import EntryKind, day_date, day_number

MAX_REASON = 2000  # characters of a reason: a paragraph, not a file
MAX_REVIEWER = 120

_KIND_NAMES: dict[int, str] = {
    EntryKind.RECORD: "a record",
    EntryKind.VERIFICATION: "a verification of a citizen report",
    EntryKind.RULEBOOK: "a rulebook activation",
    EntryKind.APPEAL: "an appeal",
    EntryKind.REVIEW: "a review of an appeal",
    EntryKind.VOID: "the void of a record",
}

# The payload columns of an appended row (``append_rows`` adds the institution, none here).
_ROW = (
    ("line", "INTEGER"),
    ("kind", "TINYINT"),
    ("parameter_id", "INTEGER"),
    ("subject_id", "BIGINT"),
    ("day", "INTEGER"),
    ("quantity", "DOUBLE"),
    ("severity", "SMALLINT"),
    ("confidence", "DOUBLE"),
    ("counterpart_id", "BIGINT"),
    ("evidence", "VARCHAR"),
    ("refers_to", "BIGINT"),
    ("act", "VARCHAR"),
    ("level", "VARCHAR"),
    ("idem_key", "VARCHAR"),
)


def file_appeal(
    store: Store, subject: str, entry_id: int, reason: str, day: dt.date | None = None
) -> Appeal:
    """File the subject's appeal against the record ``entry_id``, with a reason.

    The active rulebook's ``appeals`` sets the deadline, counted from ``day`` (default:
    today, UTC) and kept in the appeal's entry, so a later rulebook never moves it.

    Returns:
        The appeal, ``open`` (or ``overdue`` at once, if filed on a past day whose
        deadline has passed).

    Raises:
        UnknownSubject: no subject has that code.
        AppealError: the reason is empty or too long; the day is in the future or before
            the record's day; the entry does not exist, is not a record, is not about the
            subject, was voided already or has an appeal awaiting review.
    """
    from socialrating.ledger.rulebooks import active_rulebook
    from socialrating.ledger.subjects import find_subject

    said = _text(reason, "reason", MAX_REASON)
    who = find_subject(store, subject)
    filed = _day(day, "an appeal")
    rules = active_rulebook(store).spec.appeals
    with store.transaction():
        record = _record(store, entry_id, who.code, who.subject_id)
        if filed < day_date(record["day"]):
            raise AppealError(
                f"an appeal filed on {filed} cannot dispute a record of "
                f"{day_date(record['day'])}, a later day"
            )
        for earlier in appeals_of(store, who.subject_id, filed):
            if earlier.entry_id != entry_id:
                continue
            if earlier.status == "voided":
                raise AppealError(
                    f"entry {entry_id} was voided on {earlier.reviewed} (appeal "
                    f"{earlier.appeal_id}): it no longer counts, there is nothing to appeal"
                )
            if earlier.awaiting_review:
                raise AppealError(
                    f"entry {entry_id} is under appeal already: appeal {earlier.appeal_id}, "
                    f"filed {earlier.filed}, review due by {earlier.deadline}"
                )
        kind = int(EntryKind.APPEAL)
        number = int(store.scalar("SELECT count(*) FROM entries WHERE kind = ?", [kind])) + 1
        _append(
            store,
            [
                {
                    "kind": kind,
                    "parameter_id": record["parameter_id"],
                    "subject_id": who.subject_id,
                    "day": day_number(filed),
                    "evidence": _json(
                        {"reason": said, "deadline": deadline(filed, rules).isoformat()}
                    ),
                    "refers_to": int(entry_id),
                    "idem_key": f"appeal:{number}",
                }
            ],
            f"appeal {number}",
        )
    return appeal(store, number)


def review_appeal(
    store: Store,
    appeal_id: int,
    outcome: Outcome,
    reason: str,
    reviewer: str,
    day: dt.date | None = None,
) -> Appeal:
    """Review an appeal: uphold the record, or void it (it stops counting at once).

    A review made after the appeal's deadline is stored all the same, and the appeal is
    flagged ``late``. Voiding appends, in the same batch as the review, a void entry that
    refers to the record; the scoring plan leaves a voided record out of every score, list
    and mechanic, as of any date (see docs/rulebook.md, 3.20).

    Returns:
        The appeal, ``upheld`` or ``voided``.

    Raises:
        UnknownAppeal: no appeal has that number.
        AppealError: the outcome is neither ``upheld`` nor ``voided``; the reason or the
            reviewer is empty or too long; the day is in the future or before the appeal
            was filed; the appeal was reviewed already.
    """
    if outcome not in ("upheld", "voided"):
        raise AppealError(f"a review upholds or voids: outcome {outcome!r} is neither")
    said = _text(reason, "reason", MAX_REASON)
    by = _text(reviewer, "reviewer", MAX_REVIEWER)
    reviewed = _day(day, "a review")
    with store.transaction():
        found = appeal(store, appeal_id, reviewed)
        if not found.awaiting_review:
            raise AppealError(
                f"appeal {found.appeal_id} was reviewed already: {found.status} on "
                f"{found.reviewed} by {found.reviewer}"
            )
        if reviewed < found.filed:
            raise AppealError(
                f"a review on {reviewed} cannot precede the appeal it answers, filed {found.filed}"
            )
        record = store.one(
            "SELECT parameter_id, subject_id, counterpart_id FROM entries WHERE entry_id = ?",
            [found.entry_id],
        )
        assert record is not None, "an appeal refers to a stored record"
        parameter_id, subject_id, counterpart_id = record
        rows = [
            {
                "kind": int(EntryKind.REVIEW),
                "parameter_id": parameter_id,
                "subject_id": subject_id,
                "day": day_number(reviewed),
                "evidence": _json({"outcome": outcome, "reason": said, "reviewer": by}),
                "refers_to": found.appeal_entry,
                "idem_key": f"review:{found.appeal_id}",
            }
        ]
        if outcome == "voided":
            rows.append(
                {
                    "kind": int(EntryKind.VOID),
                    "parameter_id": parameter_id,
                    "subject_id": subject_id,
                    "counterpart_id": counterpart_id,
                    "day": day_number(reviewed),
                    "evidence": _json({"appeal": found.appeal_id}),
                    "refers_to": found.entry_id,
                    "idem_key": f"void:{found.entry_id}",
                }
            )
        _append(store, rows, f"review of appeal {found.appeal_id}")
    return appeal(store, found.appeal_id)


def latest_record(store: Store, subject: str, parameter: str) -> int:
    """The entry id of the subject's latest record of ``parameter`` (by fact day, then
    entry), for appealing a record without looking its entry up first.

    Raises:
        UnknownSubject: no subject has that code.
        AppealError: the subject has no record of that parameter.
    """
    from socialrating.ledger.subjects import find_subject

    who = find_subject(store, subject)
    found = store.scalar(
        """SELECT e.entry_id FROM entries e JOIN parameters p USING (parameter_id)
           WHERE e.subject_id = ? AND e.kind = ? AND p.code = ?
           ORDER BY e.day DESC, e.entry_id DESC LIMIT 1""",
        [who.subject_id, int(EntryKind.RECORD), parameter],
    )
    if found is None:
        raise AppealError(f"{who.code} has no record of parameter {parameter!r}")
    return int(found)


def _record(store: Store, entry_id: int, code: str, subject_id: int) -> dict[str, Any]:
    """The entry ``entry_id``, if it is a record about the subject; else why not."""
    if isinstance(entry_id, bool) or not isinstance(entry_id, int) or entry_id < 1:
        raise AppealError(f"an entry id is a whole number from 1, not {entry_id!r}")
    row = store.one(
        "SELECT kind, subject_id, day, parameter_id FROM entries WHERE entry_id = ?", [entry_id]
    )
    if row is None:
        last = int(store.scalar("SELECT coalesce(max(entry_id), 0) FROM entries"))
        raise AppealError(f"no entry {entry_id} in the ledger (its entries are 1 to {last})")
    kind, about, day, parameter_id = row
    if kind != EntryKind.RECORD:
        what = _KIND_NAMES.get(int(kind), f"an entry of kind {kind}")
        raise AppealError(f"entry {entry_id} is {what}, not a record: only records are appealed")
    if about != subject_id:
        # The record's subject is not named: whoever asks may not be allowed to know it.
        raise AppealError(f"entry {entry_id} is not a record about {code}")
    return {"day": int(day), "parameter_id": parameter_id}


def _text(value: str, what: str, limit: int) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise AppealError(f"the {what} is empty: say why, in a sentence")
    if len(text) > limit:
        raise AppealError(f"the {what} has {len(text):,} characters: at most {limit:,}")
    return text


def _day(day: dt.date | None, what: str) -> dt.date:
    today = today_utc()
    if day is None:
        return today
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise AppealError(f"the day of {what} is a date (YYYY-MM-DD), not {day!r}")
    if day > today:
        raise AppealError(f"{what} cannot be dated {day}, after today ({today}, UTC)")
    return day


def _json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _append(store: Store, rows: list[dict[str, Any]], source: str) -> None:
    """Append ``rows`` (payload columns; the others null) as one batch, from no institution,
    inside the caller's transaction."""
    from socialrating.ledger.append import append_rows

    # Made inside the transaction: a rollback takes the table away with the rows.
    columns = ", ".join(f"{name} {typ}" for name, typ in _ROW)
    store.run(f"CREATE OR REPLACE TEMP TABLE appeal_rows ({columns})")
    for line, row in enumerate(rows):
        values = [line if name == "line" else row.get(name) for name, _ in _ROW]
        store.run(f"INSERT INTO appeal_rows VALUES ({', '.join('?' for _ in _ROW)})", values)
    append_rows(store, "appeal_rows", None, source)
    store.run("DROP TABLE appeal_rows")
