"""A service's rules applied to a subject's grade and list memberships.

The rules of a service are tried in order; the first whose ``when`` holds decides (the
subject has one of its grades, if it names grades, and is on one of its lists, if it
names lists); if none does, ``otherwise`` decides. Every decision carries reason codes:

- ``GRADE:<grade>``: the grade the rule looked at (with the score and, for a direct
  grade, the record that set it);
- ``LIST:<list>``: a list membership the rule looked at (with the entry record or the
  grade that caused it);
- ``CONTAGION``: with ``GRADE``, when contagion lowered the score the grade follows from
  (the statement names the contacts);
- ``RULE:<service>#<n>``: the rule that decided (1-based), or ``RULE:<service>#otherwise``;
- ``SUBJECTS:<kind>``: the service is not for this kind of subject (refused).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from socialrating.model import day_date
from socialrating.rulebook.schema import Service, ServiceRule, TermValue


@dataclass(frozen=True)
class Reason:
    """One reason for a decision: a code, what it means, and the entry behind it, if any."""

    code: str
    text: str
    entry_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "text": self.text, "entry_id": self.entry_id}


MAX_FACTORS = 4
"""At most this many key factors (FCRA §609(f))."""


@dataclass(frozen=True)
class Factor:
    """A key factor of a score or a refusal (``scoring/factors.py``): a code, what it is in
    words, its effect in points (0 for a list membership), and the records behind it."""

    code: str
    text: str
    effect: int
    entries: tuple[int, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "code": self.code,
            "text": self.text,
            "effect": self.effect,
            "entries": list(self.entries),
        }


@dataclass(frozen=True)
class Membership:
    """A subject's membership of a list, as the decision explains it."""

    list: str
    cause: str
    entry_id: int | None = None
    grade: str | None = None
    start_day: int | None = None
    end_day: int | None = None
    via: str | None = None


@dataclass(frozen=True)
class Decision:
    """The answer to "may this subject use this service?"."""

    subject: str
    service: str
    decision: str  # allowed, refused or terms
    terms: dict[str, TermValue] = field(default_factory=dict)
    reasons: list[Reason] = field(default_factory=list)
    as_of: str | None = None
    """The date the grade and lists decided on are as of."""
    run_id: int | None = None
    """The scoring run decided from (None: computed for a statement)."""
    factors: list[Factor] = field(default_factory=list)
    """For a refusal or terms: its key factors, ranked, at most four. The list memberships
    its rule looked at; in a statement, then the score's key factors (``scoring/factors``)
    when the rule looked at the grade; from a run, for a refusal by grade, those the run
    stored (``scoring/run_factors``)."""
    scored: bool = field(default=False, compare=False)
    """Whether ``factors`` hold the score's key factors where the decision needs them (a
    refusal or terms by grade): from a statement or the run, not its lists' alone."""

    @property
    def by_grade(self) -> bool:
        """Whether a rule on grades (or none, ``otherwise``) decided it: its reasons name
        the grade."""
        return any(r.code.startswith("GRADE:") for r in self.reasons)

    def as_dict(self) -> dict[str, object]:
        return {
            "subject": self.subject,
            "service": self.service,
            "decision": self.decision,
            "terms": dict(self.terms),
            "reasons": [r.as_dict() for r in self.reasons],
            "as_of": self.as_of,
            "run_id": self.run_id,
            "key_factors": [f.as_dict() for f in self.factors],
        }

    def by(self, run_id: int | None, as_of: object) -> Decision:
        """The decision, naming the run and date it was decided from."""
        return replace(self, run_id=run_id, as_of=str(as_of))


def applies(rule: ServiceRule, grade: str, lists: set[str]) -> bool:
    """Whether ``rule`` holds for a subject of ``grade`` on ``lists``."""
    w = rule.when
    if w.grades is not None and grade not in w.grades:
        return False
    return w.lists is None or bool(lists.intersection(w.lists))


def decide(
    service: Service,
    subject: str,
    kind: str,
    grade: str,
    score: int,
    memberships: list[Membership],
    direct: bool = False,
    direct_entry: int | None = None,
    contagion: int = 0,
) -> Decision:
    """The decision for one subject: the first rule that holds, with its reasons."""
    if service.subjects != "any" and kind != service.subjects:
        reason = Reason(f"SUBJECTS:{kind}", f"{service.code} is for {service.subjects}s only")
        return Decision(subject, service.code, "refused", {}, [reason])
    on = {m.list for m in memberships}
    for n, rule in enumerate(service.rules, start=1):
        if not applies(rule, grade, on):
            continue
        reasons = [Reason(f"RULE:{service.code}#{n}", rule.reason or _describe(rule))]
        if rule.when.grades is not None:
            reasons += _grade_reasons(grade, score, direct, direct_entry, contagion)
        looked = [
            m for m in memberships if rule.when.lists is not None and m.list in rule.when.lists
        ]
        reasons += [_list_reason(m) for m in looked]
        factors = [] if rule.decision == "allowed" else list_factors(looked)
        return Decision(
            subject, service.code, rule.decision, dict(rule.terms), reasons, factors=factors
        )
    reasons = [
        Reason(f"RULE:{service.code}#otherwise", f"no rule applies: {service.otherwise}"),
        *_grade_reasons(grade, score, direct, direct_entry, contagion),
    ]
    return Decision(subject, service.code, service.otherwise, {}, reasons)


def list_factors(memberships: list[Membership]) -> list[Factor]:
    """The key factors of a refusal or terms by list: each membership the rule looked at,
    with the record (or grade, or organisation) behind it; at most four."""
    found = []
    for m in memberships[:MAX_FACTORS]:
        if m.cause == "grade":
            text = f"on {m.list} for grade {m.grade}"
        elif m.cause == "alert":
            text = f"on {m.list} for an alert of measure {m.grade}"
        elif m.cause == "joint":
            text = f"on {m.list} through {m.via} (joint punishment)"
        else:
            text = f"on {m.list} by entry {m.entry_id}"
        entries = () if m.entry_id is None else (m.entry_id,)
        found.append(Factor(f"LIST:{m.list}", text, 0, entries))
    return found


def _describe(rule: ServiceRule) -> str:
    parts = []
    if rule.when.grades is not None:
        parts.append(f"grade {' or '.join(rule.when.grades)}")
    if rule.when.lists is not None:
        parts.append(f"on {' or '.join(rule.when.lists)}")
    return f"{rule.decision} when {' and '.join(parts) or 'always'}"


def _grade_reasons(
    grade: str, score: int, direct: bool, direct_entry: int | None, contagion: int
) -> list[Reason]:
    if direct_entry is not None:
        text = f"grade {grade} set directly by entry {direct_entry}"
        return [Reason(f"GRADE:{grade}", text, direct_entry)]
    if direct:
        return [Reason(f"GRADE:{grade}", f"grade {grade} set directly (score {score})")]
    reasons = [Reason(f"GRADE:{grade}", f"grade {grade} (score {score})")]
    if contagion:
        text = f"contagion: {contagion:+d} points for contacts with low-graded citizens"
        reasons.append(Reason("CONTAGION", text))
    return reasons


def _list_reason(m: Membership) -> Reason:
    from socialrating.model import day_date

    since = "" if m.start_day is None else f" since {day_date(m.start_day)}"
    until = "" if m.end_day is None else f" until {day_date(m.end_day)}"
    if m.cause == "grade":
        return Reason(f"LIST:{m.list}", f"on {m.list} for grade {m.grade}{since}")
    if m.cause == "alert":
        text = f"on {m.list} for an alert of measure {m.grade}{since}"
        return Reason(f"LIST:{m.list}", text)
    if m.cause == "joint":
        text = (
            f"on {m.list} with {m.via}{since}{until} (joint punishment; representative "
            f"named by entry {m.entry_id})"
        )
        return Reason(f"LIST:{m.list}", text, m.entry_id)
    text = f"on {m.list}{since}{until} (entry {m.entry_id})"
    return Reason(f"LIST:{m.list}", text, m.entry_id)


def membership_text(m: Membership) -> str:
    """A membership as a statement shows it: the list, why, and since and until when."""
    since = "" if m.start_day is None else f" since {day_date(m.start_day)}"
    until = "" if m.end_day is None else f" until {day_date(m.end_day)}"
    if m.cause == "grade":
        return f"{m.list}: for grade {m.grade}{since}, while the grade lasts"
    if m.cause == "alert":
        return f"{m.list}: for an alert of measure {m.grade}{since}, while it alerts"
    if m.cause == "joint":
        return (
            f"{m.list}: with {m.via} (joint punishment, representative named by entry "
            f"{m.entry_id}){since}{until}"
        )
    return f"{m.list}: entry {m.entry_id}{since}{until}"
