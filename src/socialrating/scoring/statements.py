"""A subject's statement: every record with its rule, points, date, expiry and status.

The statement is the scoring plan filtered to one subject, with each record's share of its
category cap; base score plus the counted points equals the score the plan computes. It
lists the subject's appeals too, and each line says the appeals against its record: under
appeal (and until when), upheld, or voided (by which review, and why).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from socialrating.appeals.cases import Appeal, appeals_of
from socialrating.decisions.rules import Decision, Factor, Membership, decide
from socialrating.errors import ScoringError
from socialrating.ledger.rulebooks import in_force
from socialrating.ledger.store import Store
from socialrating.ledger.subjects import find_subject
from socialrating.model import (
    STATUS_BY_CODE,
    STATUS_CODES,
    STATUS_TEXT,
    Status,
    Subject,
    day_date,
    day_number,
)
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import ValidityRule, Window
from socialrating.scoring.compiled import compiled, run_plan
from socialrating.scoring.factors import refusal_factors, score_factors
from socialrating.scoring.lookup import lookup, split_parts
from socialrating.scoring.measure_lines import MeasureLine, measure_lines


@dataclass(frozen=True)
class StatementLine:
    """One record as the statement shows it.

    ``points`` is what the rule gives (with any repeat factor applied; ``rule_points``
    before it); ``counted`` is what it adds to the score after its cap (0 when it does not
    count); ``reason`` says why it counts in part or not at all, and names the mechanics
    that shaped it (band reached, repeat factor, act absorbed, repair, direct grade).
    """

    entry_id: int
    date: dt.date
    parameter: str
    category: str
    institution: str
    rule_points: int
    points: int
    counted: int
    status: Status
    reason: str
    expires: dt.date | None
    quantity: float | None
    confidence: float | None
    act: str | None = None
    level: str | None = None
    band: int | None = None
    multiplier: float | None = None
    sets_grade: str | None = None
    related_entry: int | None = None
    name: str | None = None
    """The parameter's name in the rulebook (None where the rulebook kept none)."""
    appeals: tuple[int, ...] = ()
    """The numbers of the appeals against the record, in filing order."""
    rules: str = ""
    """The version of the rulebook that valued the record (``name version (hash)``): the
    one in force on the day of its fact, or for a retroactive parameter the one in force
    on the statement's date."""
    passed_from: str | None = None
    """For a record passed across a link (``derived_from``): the subject whose record it
    came from (the entry is that record)."""

    def as_dict(self) -> dict[str, object]:
        return {
            "entry_id": self.entry_id,
            "passed_from": self.passed_from,
            "date": self.date.isoformat(),
            "parameter": self.parameter,
            "name": self.name,
            "category": self.category,
            "institution": self.institution,
            "rule_points": self.rule_points,
            "points": self.points,
            "counted": self.counted,
            "status": self.status.value,
            "reason": self.reason,
            "expires": None if self.expires is None else self.expires.isoformat(),
            "quantity": self.quantity,
            "confidence": self.confidence,
            "act": self.act,
            "level": self.level,
            "band": self.band,
            "multiplier": self.multiplier,
            "sets_grade": self.sets_grade,
            "related_entry": self.related_entry,
            "appeals": list(self.appeals),
            "rules": self.rules,
        }


@dataclass(frozen=True)
class DirectGrade:
    """A grade set directly by a record, standing as of the statement's date."""

    grade: str
    entry_id: int
    parameter: str
    since: dt.date
    until: dt.date | None

    def as_dict(self) -> dict[str, object]:
        return {
            "grade": self.grade,
            "entry_id": self.entry_id,
            "parameter": self.parameter,
            "since": self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
        }


@dataclass(frozen=True)
class GradeLimited:
    """A grade limit that lowered the grade: the grade is ``at_best`` while its score and
    direct grades would give ``by_score`` (the rulebook's ``grade_limits``)."""

    code: str
    name: str
    at_best: str
    by_score: str

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "name": self.name,
            "at_best": self.at_best,
            "by_score": self.by_score,
        }


@dataclass(frozen=True)
class Contact:
    """A contact that cost the subject points by contagion: who, the grade it had in the
    round before the last, and the latest contact record joining them in the window."""

    subject: str
    grade: str
    last_date: dt.date
    entry_id: int

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "grade": self.grade,
            "last_date": self.last_date.isoformat(),
            "entry_id": self.entry_id,
        }


@dataclass(frozen=True)
class Statement:
    """Everything behind one subject's score as of a date, under one rulebook.

    ``points_score`` is the base plus every counted point; ``contagion`` what contacts
    with low-graded citizens cost (``contacts`` names them; ``contacts_in_window`` counts
    every contact in the window, for a subject contagion can lower, else 0); the
    rulebook's floor or ceiling then bounds the score (``bounded`` is what the floor added,
    positive, or the ceiling removed, negative; ``bound`` names which, else None); a
    standing direct grade instead sets the score (``adjustment`` is the difference), and
    ``stage`` names the stage the score has reached, if the rulebook has stages.
    ``appeals`` are the subject's appeals, in filing order, those awaiting review judged
    against their deadlines as of the statement's date.
    """

    subject: Subject
    as_of: dt.date
    rulebook_hash: str
    base: int
    score: int
    grade: str
    lines: list[StatementLine]
    points_score: int = 0
    direct: DirectGrade | None = None
    stage: str | None = None
    lists: list[Membership] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    contagion: int = 0
    contacts: list[Contact] = field(default_factory=list)
    contacts_in_window: int = 0
    bounded: int = 0
    bound: str | None = None
    appeals: list[Appeal] = field(default_factory=list)
    key_factors: list[Factor] = field(default_factory=list)
    """What worsened the score most, ranked by effect, at most four (``scoring/factors``)."""
    rules: str = ""
    """The version of the rulebook in force on the statement's date (``name version
    (hash)``); a line valued by an earlier one names it."""
    limit: GradeLimited | None = None
    """The grade limit that lowered the grade, if one did."""
    measures: list[MeasureLine] = field(default_factory=list)
    """The rulebook's measures of the subject (those with a record in their window)."""
    deleted: int = 0
    """Expired records past the rulebook's retention: deleted from the statement (the
    ledger keeps them), counted here."""

    @property
    def points_total(self) -> int:
        """Base plus every counted point: always equal to ``points_score``."""
        return self.base + sum(line.counted for line in self.lines)

    @property
    def adjustment(self) -> int:
        """What a direct grade adds to the points score to make the score (else 0)."""
        return self.score - self.points_score - self.contagion - self.bounded

    @property
    def total(self) -> int:
        """Base, every counted point, contagion, the floor's or ceiling's points and the
        direct grade's adjustment: always ``score``."""
        return self.points_total + self.contagion + self.bounded + self.adjustment

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject.code,
            "kind": self.subject.kind.value,
            "as_of": self.as_of.isoformat(),
            "rulebook_hash": self.rulebook_hash,
            "rules": self.rules,
            "base": self.base,
            "points_score": self.points_score,
            "direct_grade": None if self.direct is None else self.direct.as_dict(),
            "contagion": self.contagion,
            "contacts": [c.as_dict() for c in self.contacts],
            "contacts_in_window": self.contacts_in_window,
            "bounded": self.bounded,
            "bound": self.bound,
            "adjustment": self.adjustment,
            "score": self.score,
            "grade": self.grade,
            "grade_limit": None if self.limit is None else self.limit.as_dict(),
            "stage": self.stage,
            "key_factors": [f.as_dict() for f in self.key_factors],
            "measures": [m.as_dict() for m in self.measures],
            "deleted": self.deleted,
            "lists": [_membership_dict(m) for m in self.lists],
            "decisions": [d.as_dict() for d in self.decisions],
            "appeals": [a.as_dict() for a in self.appeals],
            "lines": [line.as_dict() for line in self.lines],
        }


def _codes(store: Store, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = store.rows(
        "SELECT subject_id, code FROM subjects WHERE list_contains(?, subject_id)", [ids]
    )
    return {int(i): str(c) for i, c in rows}


def _membership_dict(m: Membership) -> dict[str, object]:
    return {
        "list": m.list,
        "cause": m.cause,
        "via": m.via,
        "entry_id": m.entry_id,
        "grade": m.grade,
        "since": None if m.start_day is None else day_date(m.start_day).isoformat(),
        "until": None if m.end_day is None else day_date(m.end_day).isoformat(),
    }


def statement(
    store: Store,
    code: str,
    as_of: dt.date | None = None,
    rulebook: RulebookHeader | None = None,
    *,
    narrow: bool = True,
) -> Statement:
    """The statement of the subject with ``code`` as of ``as_of`` (default today, UTC).

    The plan reads only the entries the statement can depend on (``lookup``), unless
    ``narrow`` is false: then it reads the whole ledger (the same result, for tests).

    Raises:
        UnknownSubject: no subject has that code.
        ScoringError: the lines do not sum to the score (a bug: it must never happen).
    """
    if as_of is None:
        from socialrating.model import utc_now

        as_of = utc_now().date()
    subject = find_subject(store, code)
    day = day_number(as_of)
    rb = rulebook or in_force(store, day)
    if narrow:
        session = lookup(store)
        session.fill(rb, subject.subject_id, day)

        def rows_of(name: str) -> list[dict[str, Any]]:
            return session.run(compiled(store, rb, name), day, subject.subject_id)

    else:

        def rows_of(name: str) -> list[dict[str, Any]]:
            rows: list[dict[str, Any]] = run_plan(
                store, rb, name, day, subject.subject_id
            ).to_pylist()
            return rows

    # The plans a statement reads, run as one (their shared stages computed once).
    parts = split_parts(rb, rows_of("statement_all"))
    return _statement(
        store, rb, subject, as_of, lambda name: parts[name] if name in parts else rows_of(name)
    )


def standings(
    store: Store, code: str, days: list[dt.date], lists: bool = False
) -> list[dict[str, Any]]:
    """The subject's score and grade as of each of ``days`` (and with ``lists``, the lists
    it is on), as its statement on that day would say, without the statement's lines: one
    or two of its plans a day instead of four, over the entries of every day read once
    (where the days share a version of the rulebook)."""
    subject = find_subject(store, code)
    session = lookup(store)
    found: list[dict[str, Any]] = []
    numbers = [day_number(d) for d in days]
    versions = {day: in_force(store, day) for day in set(numbers)}
    filled = None
    for day in numbers:
        rb = versions[day]
        if filled != rb.plan_key:  # the entries of all the days this version scores
            mine = [n for n in numbers if versions[n].plan_key == rb.plan_key]
            session.fill(rb, subject.subject_id, max(mine), since=min(mine))
            filled = rb.plan_key
        row = session.run(compiled(store, rb, "subject_score"), day, subject.subject_id)[0]
        then: dict[str, Any] = {"score": int(row["score"]), "grade": str(row["grade"])}
        if lists:
            members = session.run(compiled(store, rb, "subject_lists"), day, subject.subject_id)
            then["lists"] = sorted({str(m["list"]) for m in members})
        found.append(then)
    return found


def _kept(rows: list[dict[str, Any]], day: int) -> tuple[list[dict[str, Any]], int]:
    """The statement's rows without the expired records whose retention ended by ``day``
    (deleted from the statement), and how many those are."""
    expired = STATUS_CODES[Status.EXPIRED]
    kept = [
        r
        for r in rows
        if not (r["status"] == expired and r["kept_day"] is not None and day >= r["kept_day"])
    ]
    return kept, len(rows) - len(kept)


def _statement(
    store: Store,
    rb: RulebookHeader,
    subject: Subject,
    as_of: dt.date,
    plan: Callable[[str], list[dict[str, Any]]],
) -> Statement:
    code = subject.code

    rows, deleted = _kept(plan("statement"), day_number(as_of))
    row = plan("subject_score")[0]
    categories = {v: k for k, v in rb.category_ids.items()}
    names = _names(store, rb, {int(r["parameter_id"]) for r in rows})
    appeals = appeals_of(store, subject.subject_id, as_of)
    passed = _codes(store, sorted({int(r["passed_from"]) for r in rows if r["passed_from"]}))
    lines = _with_appeals([_line(r, categories, rb, names, passed) for r in rows], appeals)
    direct = _direct(rb, subject.kind.value, lines)
    rows_lists = plan("subject_lists")
    via_codes = _codes(store, [m["via_subject"] for m in rows_lists if m["via_subject"]])
    lists = [
        Membership(
            m["list"],
            m["cause"],
            m["entry_id"],
            m["grade"],
            m["start_day"],
            m["end_day"],
            via_codes.get(m["via_subject"]),
        )
        for m in rows_lists
    ]
    lists = sorted(_dated(store, rb, subject, as_of, lists), key=lambda m: (m.list, m.cause))
    contagion = int(row["contagion"])
    points_score = int(row["points_score"])
    contacts: list[Contact] = []
    in_window = 0
    if exposed(rb, subject.kind.value, points_score, direct is not None):
        contacts, in_window = _contacts(plan("subject_contacts"), store)
    decisions = [
        decide(
            service,
            subject.code,
            subject.kind.value,
            row["grade"],
            int(row["score"]),
            lists,
            direct is not None,
            None if direct is None else direct.entry_id,
            contagion,
        ).by(None, as_of)
        for service in rb.spec.services
        if service.subjects in ("any", subject.kind.value)
    ]
    # DuckDB sums integers into 128-bit values; the score is a plain int.
    score = int(row["score"])
    bounded = 0 if direct is not None else score - points_score - contagion
    result = Statement(
        subject,
        as_of,
        rb.hash,
        rb.spec.base_score,
        score,
        row["grade"],
        lines,
        points_score=points_score,
        direct=direct,
        stage=row["stage"],
        lists=lists,
        decisions=decisions,
        contagion=contagion,
        contacts=contacts,
        contacts_in_window=in_window,
        bounded=bounded,
        bound="floor" if bounded > 0 else "ceiling" if bounded < 0 else None,
        appeals=appeals,
        rules=rb.label,
        limit=_limit(rb, row),
        measures=(
            measure_lines(rb, plan("subject_measures"), plan("subject_measure_acts"))
            if rb.spec.measures
            else []
        ),
        deleted=deleted,
    )
    factors = score_factors(rb, result)
    result = replace(
        result,
        key_factors=factors,
        decisions=[replace(d, factors=refusal_factors(d, factors)) for d in decisions],
    )
    expected = (
        bound_score(rb, result.points_score + contagion)
        if direct is None
        else rb.direct_score(subject.kind.value, direct.grade)
    )
    lost = _contagion_points(rb, len(contacts))
    if result.points_total != result.points_score or expected != result.score or lost != contagion:
        raise ScoringError(
            f"statement of {code} sums to {result.points_total} but the points score is "
            f"{result.points_score} (score {result.score}, expected {expected}; contagion "
            f"{contagion} for {len(contacts)} contacts, expected {lost}; bounded {bounded})"
        )
    return result


def _limit(rb: RulebookHeader, row: dict[str, Any]) -> GradeLimited | None:
    """The grade limit that lowered the grade of a ``subject_score`` row, if one did."""
    code = row.get("limited_by")
    limit = next((g for g in rb.spec.grade_limits if g.code == code), None)
    if limit is None:
        return None
    return GradeLimited(limit.code, limit.name, limit.at_best, str(row["score_grade"]))


def _with_appeals(lines: list[StatementLine], appeals: list[Appeal]) -> list[StatementLine]:
    """The lines, each saying the appeals against its record: a voided line which review
    voided it and why; another the appeals under review (until when) or upheld."""
    against: dict[int, list[Appeal]] = {}
    for a in appeals:
        against.setdefault(a.entry_id, []).append(a)
    out = []
    for line in lines:
        mine = against.get(line.entry_id, [])
        if not mine:
            out.append(line)
            continue
        notes: list[str] = []
        related = line.related_entry
        for a in mine:
            if a.status == "voided" and line.status is Status.VOIDED:
                related = a.review_entry
                notes.insert(
                    0,
                    f"voided on {a.reviewed} by the review of appeal {a.appeal_id} "
                    f"({a.reviewer}: {a.review_reason})",
                )
            elif a.status == "upheld":
                notes.append(f"appeal {a.appeal_id} upheld on {a.reviewed}")
            elif a.status == "overdue":
                notes.append(
                    f"under appeal {a.appeal_id} since {a.filed}: review overdue since {a.deadline}"
                )
            elif a.status == "open":
                notes.append(
                    f"under appeal {a.appeal_id} since {a.filed}: review due by {a.deadline}"
                )
        if line.status is Status.VOIDED:
            reason = "; ".join(notes) or line.reason
        else:
            reason = "; ".join([line.reason, *notes])
        out.append(
            replace(
                line,
                reason=reason,
                related_entry=related,
                appeals=tuple(a.appeal_id for a in mine),
            )
        )
    return out


def _contacts(found: list[dict[str, Any]], store: Store) -> tuple[list[Contact], int]:
    """The subject's low-graded contacts (the ones contagion counted), from the plan's
    rows of its contacts, and how many contacts it has in the window."""
    low = [c for c in found if c["low"]]
    codes = _codes(store, [int(c["contact_id"]) for c in low])
    contacts = [
        Contact(
            codes[int(c["contact_id"])],
            c["grade"],
            day_date(int(c["last_day"])),
            int(c["last_entry"]),
        )
        for c in low
    ]
    return contacts, len(found)


def exposed(rb: RulebookHeader, kind: str, points_score: int, direct: bool) -> bool:
    """Whether contagion can lower this subject: a citizen with no standing direct grade
    whose own grade (from its points score) is not one the contagion spreads from."""
    c = rb.spec.contagion
    return (
        c is not None
        and kind == "citizen"
        and not direct
        and rb.grade_of(bound_score(rb, points_score), kind) not in c.from_grades
    )


def bound_score(rb: RulebookHeader, score: int) -> int:
    """``score`` clamped into the rulebook's floor and ceiling (the plan's ``bounded``)."""
    floor, ceiling = rb.spec.floor, rb.spec.ceiling
    if floor is not None:
        score = max(score, floor)
    if ceiling is not None:
        score = min(score, ceiling)
    return score


def _contagion_points(rb: RulebookHeader, low_contacts: int) -> int:
    """What ``low_contacts`` contacts cost an exposed citizen under the rulebook."""
    c = rb.spec.contagion
    return 0 if c is None else max(c.points * low_contacts, -c.max_deduction)


def _direct(rb: RulebookHeader, kind: str, lines: list[StatementLine]) -> DirectGrade | None:
    """The worst standing direct grade among the lines (the one the score follows)."""
    order = [b.grade for b in rb.bands(kind)]
    standing = [
        line for line in lines if line.sets_grade in order and line.status is Status.COUNTED
    ]
    if not standing:
        return None
    worst = max(standing, key=lambda line: (order.index(line.sets_grade or ""), -line.entry_id))
    assert worst.sets_grade is not None
    return DirectGrade(worst.sets_grade, worst.entry_id, worst.parameter, worst.date, worst.expires)


def _dated(
    store: Store, rb: RulebookHeader, subject: Subject, as_of: dt.date, lists: list[Membership]
) -> list[Membership]:
    """Memberships with a start the plan cannot know (a grade, or carried from one) dated
    as the latest scoring run of the rulebook up to ``as_of`` dated them, where that run
    has the same membership (see ``run._date_grade_memberships``)."""
    undated = [m for m in lists if m.start_day is None and m.cause in ("grade", "joint", "alert")]
    if not undated:
        return lists
    run = store.scalar(
        "SELECT run_id FROM runs WHERE rulebook_hash = ? AND as_of <= ? "
        "ORDER BY as_of DESC, run_id DESC LIMIT 1",
        [rb.hash, as_of],
    )
    if run is None:
        return lists
    starts = {
        (lst, cause, grade): start
        for lst, cause, grade, start in store.rows(
            f"""SELECT list, cause, grade, start_day FROM list_members
                WHERE run_id = {int(run)} AND subject_id = {int(subject.subject_id)}"""
        )
    }
    return [
        replace(m, start_day=starts.get((m.list, m.cause, m.grade))) if m in undated else m
        for m in lists
    ]


def _names(store: Store, rb: RulebookHeader, ids: set[int]) -> dict[int, str]:
    """The rulebook's names of the parameters ``ids`` (where it kept them)."""
    if not ids:
        return {}
    found = store.rows(
        "SELECT parameter_id, name FROM rulebook_parameters WHERE rulebook_hash = ? "
        f"AND parameter_id IN ({', '.join(str(i) for i in sorted(ids))}) AND name <> ''",
        [rb.hash],
    )
    return {int(i): str(n) for i, n in found}


def _line(
    r: dict[str, Any],
    categories: dict[int, str],
    rb: RulebookHeader,
    names: dict[int, str],
    passed: dict[int, str],
) -> StatementLine:
    status = STATUS_BY_CODE[int(r["status"])]
    points = int(r["points"])
    counted = int(r["counted_points"])
    expires = None if r["expires_day"] is None else day_date(r["expires_day"])
    category = categories.get(r["category_id"], "") if r["category_id"] is not None else ""
    notes, related = _notes(r, status, points, counted, category, expires, rb)
    came = passed.get(int(r["passed_from"])) if r["passed_from"] else None
    if came is not None:
        notes.insert(0, _passed_text(rb, str(r["parameter"]), came))
    multiplier = float(r["multiplier"]) if r["repeat_n"] else None
    return StatementLine(
        entry_id=int(r["entry_id"]),
        date=day_date(int(r["day"])),
        parameter=str(r["parameter"] or f"#{r.get('parameter_id')}"),
        category=category,
        institution=str(r["institution"] or ""),
        rule_points=int(r["rule_points"]),
        points=points,
        counted=counted,
        status=status,
        reason="; ".join(notes) or STATUS_TEXT[status],
        expires=expires,
        quantity=r["quantity"],
        confidence=r["confidence"],
        act=r["act"],
        level=r["level"],
        band=None if r["band"] is None else int(r["band"]),
        multiplier=multiplier,
        sets_grade=r["direct_grade"],
        related_entry=related,
        name=names.get(int(r["parameter_id"])),
        rules=rb.versions[int(r["valued_by"] or 0)].label,
        passed_from=came,
    )


def _passed_text(rb: RulebookHeader, parameter: str, came: str) -> str:
    """Where a record passed across a link came from, in words."""
    q = rb.written.get(parameter)
    if q is None or q.derived_from is None:
        return f"passed from {came}'s record"
    if q.derived_from.through == "representative":
        return f"passed from {came}'s record ({q.derived_from.parameter}): its legal representative then"
    return f"passed from {came}'s record ({q.derived_from.parameter}): an organisation it represented then"


def _notes(
    r: dict[str, Any],
    status: Status,
    points: int,
    counted: int,
    category: str,
    expires: dt.date | None,
    rb: RulebookHeader,
) -> tuple[list[str], int | None]:
    """What the statement says about one record, and the entry it points to, if any."""
    notes: list[str] = []
    related: int | None = None
    if status is Status.BEFORE_EFFECT and r["day"] >= rb.first_day:
        notes.append(
            f"no such rule on {day_date(int(r['day']))}: the version then in force had none"
        )
    if r["band"] is not None:
        quantity = "no quantity" if r["quantity"] is None else f"quantity {r['quantity']:g}"
        reached = f"band {r['band']} reached" if r["band"] else "below the first band"
        if r.get("accumulated") is not None:
            notes.append(f"{quantity} brings the year's to {r['accumulated']:g}: {reached}")
        else:
            notes.append(f"{reached} with {quantity}")
    if r["repeat_n"]:
        notes.append(
            f"repeat {r['repeat_n']} in {category}: {r['rule_points']:+d} times {r['multiplier']:g}"
        )
    notes += _rectification(r, status, rb)
    written = rb.written.get(r["parameter"])
    measure = None if written is None else written.skipped_stage
    if measure is not None and status in (Status.COUNTED, Status.EXPIRED):
        if points:
            before = " or ".join(measure.unless_after)
            notes.append(
                f"stage skipped (no {before} before it): the balance of {r['balance']} is "
                f"reduced to {measure.reduce_to}"
            )
        elif r["refused_by"] is not None:
            related = int(r["refused_by"])
            notes.append(f"no reduction: entry {related} was issued before it")
        elif r["balance"] is not None and r["balance"] > measure.reduce_to:
            notes.append(f"no reduction: the balance of {r['balance']} holds no record's points")
        else:
            notes.append(
                f"no reduction: the balance was {r['balance']}, not above {measure.reduce_to}"
            )
    for column in ("rectifies", "rectified_by"):  # a rectification names what it rectifies
        if related is None and r.get(column) is not None:
            related = int(r[column])
    if status is Status.COUNTED:
        if counted != points:
            cap = r["cap_max_deduction"] if points < 0 else r["cap_max_addition"]
            notes.append(f"cap: {category} at most {cap} {_period(rb, category, r)}")
        if r["verified_by"] is not None:
            related = int(r["verified_by"])
            notes.append(f"report verified by entry {related}")
        if r["direct_grade"] is not None:
            until = expires.isoformat() if expires else "repaired"
            notes.append(f"sets grade {r['direct_grade']} until {until}")
        if r["repairs"] is not None:
            related = int(r["repairs"])
            notes.append(f"repairs the direct grade of entry {related}")
        if r["balance"] is not None and measure is None:
            notes.append(f"allowed at a balance of {r['balance']}")
    elif status is Status.EXPIRED and expires is not None:
        notes.append(f"expired on {expires.isoformat()}")
        if r.get("kept_day") is not None and r.get("kept_counts"):
            kept = day_date(int(r["kept_day"]))
            notes.append(f"kept on record (for measures, not the score) until {kept.isoformat()}")
    elif status is Status.CORROBORATING:
        related = int(r["corroborates"])
        notes.append(f"corroborates entry {related}")
    elif status is Status.LOW_CONFIDENCE:
        notes.append(f"confidence {r['confidence']} below the minimum")
    elif status is Status.ABSORBED:
        related = int(r["absorbed_by"])
        notes.append(f"act {r['act']} counts once: entry {related} counts for it")
    elif status is Status.REFUSED:
        if r["refused_by"] is not None:
            related = int(r["refused_by"])
            notes.append(
                f"refused: entry {related}, which also met the balance condition, lies within "
                f"{r['reduction_once_days']} days before it"
            )
        else:
            low = "" if r["reduction_from"] is None else r["reduction_from"]
            high = "" if r["reduction_to"] is None else r["reduction_to"]
            notes.append(f"refused: the balance was {r['balance']}, allowed {low}..{high}")
    elif status is Status.REPAIRED:
        related = int(r["repaired_by"])
        notes.append(
            f"direct grade {r['direct_grade']} ended on {day_date(int(r['repaired_day']))} "
            f"by entry {related}"
        )
    elif status is Status.FROZEN:
        notes.append("addition frozen while a direct grade stands")
    if status in (Status.COUNTED, Status.EXPIRED):
        lasting = _validity_text(rb, r)
        if lasting is not None:
            notes.append(lasting)
    return notes, related


def _validity_text(rb: RulebookHeader, r: dict[str, Any]) -> str | None:
    """How long the record counts, and why, where its parameter's validity depends on the
    record (its level or its points) or is not a number of days: the first of the validity
    rules that matches, as the plan takes it (``plan._validity_days``); None where the
    expiry date says it all."""
    version = rb.versions[int(r["valued_by"] or 0)]
    p = version.written.get(str(r["parameter"]))
    rules = None if p is None else p.validity
    if not rules:
        return None
    points = abs(int(r["rule_points"]))
    for i, rule in enumerate(rules):
        if rule.points_up_to is not None and points > rule.points_up_to:
            continue
        if rule.level is not None and r["level"] != rule.level:
            continue
        why = [f"level {rule.level}"] if rule.level is not None else []
        if rule.points_up_to is not None:
            why.append(f"{rule.points_up_to} points or fewer")
        if not why and i:  # the rule for the records no earlier rule matched, by what those test
            if any(earlier.level is not None for earlier in rules[:i]):
                why.append("no level" if r["level"] is None else f"level {r['level']}")
            if any(earlier.points_up_to is not None for earlier in rules[:i]):
                why.append(f"{points} points")
            why = [f"{', '.join(why)}: the rule for other records"]
        if not why and rule.days is not None:
            return None  # a single rule of days: the expiry date says it
        return f"counts {_span_text(rule)}" + (f" ({'; '.join(why)})" if why else "")
    assert p is not None
    if p.expires_after_days is None:
        return "counts without end (no validity rule matches it)"
    return f"counts {p.expires_after_days} days (no validity rule matches it)"


def _span_text(rule: ValidityRule) -> str:
    """How long a validity rule lets a record count, in words."""
    if rule.days is not None:
        return f"{rule.days} days"
    if rule.months is not None:
        return f"{rule.months} months"
    years = rule.calendar_years
    if years == 0:
        return "to the end of its calendar year"
    if years == 1:
        return "to the end of the next calendar year"
    return f"to the end of the calendar year {years} years on"


def _rectification(r: dict[str, Any], status: Status, rb: RulebookHeader) -> list[str]:
    """What a statement says of a rectification, or of a record one rectified."""
    written = rb.written.get(r["parameter"])
    rule = None if written is None else written.rectifies
    if rule is None:
        if r.get("rectified_by") is not None and status is Status.COUNTED:
            return [f"rectified by entry {r['rectified_by']}"]
        return []
    named, window = r.get("rectifies"), r.get("rectify_window")
    if status in (Status.COUNTED, Status.EXPIRED) and window:
        w = rule.within[int(window) - 1]
        given = f"{w.points:+d} points" if w.points is not None else f"{w.share:.0%} of its points"
        return [f"rectifies entry {named} {_window_text(w)}: {given} back"]
    if status is not Status.NO_REPAIR:
        return []
    if r.get("refers_to") is None:
        return ["rectifies nothing: it names no record (refers_to)"]
    if named is None:
        codes = ", ".join(rule.parameters)
        return [
            f"rectifies nothing: entry {r['refers_to']} is no record of {codes} about this "
            "subject that still counted on its day"
        ]
    if window == 0:
        return [f"rectifies nothing: entry {named} was rectified outside every window"]
    return [f"rectifies nothing: entry {named} was rectified already by entry {r['rectified_by']}"]


def _window_text(w: Window) -> str:
    """A rectification window in words: ``within 30 days``, ``in the same calendar year``."""
    if w.days is not None:
        text = f"within {w.days} days"
    elif w.calendar_years == 0:
        text = "in the same calendar year"
    elif w.calendar_years == 1:
        text = "by the end of the next calendar year"
    else:
        text = f"by the end of the calendar year {w.calendar_years} years on"
    if w.quantity_up_to is not None:
        text += f", quantity at most {w.quantity_up_to:g}"
    return text


def _period(rb: RulebookHeader, category: str, r: dict[str, Any]) -> str:
    start = day_date(int(r["period"]))
    if r["cap_calendar_year"]:
        return f"in calendar year {start.year}"
    for c in rb.spec.categories:
        if c.code == category and c.cap is not None:
            return f"per {c.cap.period_days} days from {start}"
    return ""
