"""What a rulebook makes one subject's result depend on beyond its own records: records
passed across links, grade limits over linked subjects, measures over every peer. Pure
functions of the rulebook, without Ibis, for the look-ups and incremental runs that
choose what to read before any plan is built."""

from __future__ import annotations

from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import Parameter


def derived_parameters(rb: RulebookHeader) -> list[Parameter]:
    """The rulebook's parameters whose records are passed across links, in order."""
    return [p for p in rb.spec.parameters if p.derived_from is not None]


def limit_steps(rb: RulebookHeader) -> int:
    """The most links a grade limit's ``linked`` path takes (0: none does)."""
    return max(
        (len(g.when.linked.through) for g in rb.spec.grade_limits if g.when.linked), default=0
    )


def measure_codes(rb: RulebookHeader) -> list[str]:
    """Every parameter a measure of the rulebook reads, sorted."""
    codes: set[str] = set()
    for m in rb.spec.measures:
        codes |= set(m.weights) | set(m.peers.count) | set(m.per.records or [])
        codes |= {m.per.quantity} if m.per.quantity else set()
        codes |= {c for t in m.thresholds for c in t.with_ or []}
    return sorted(codes)


STATEMENT_PARTS = ("statement", "subject_score", "subject_lists", "subject_contacts")
"""The plans a statement reads (the contacts' only where the rulebook has contagion)."""


def statement_parts(rb: RulebookHeader) -> tuple[str, ...]:
    """The plans of ``STATEMENT_PARTS`` that ``rb`` has."""
    return STATEMENT_PARTS if rb.spec.contagion is not None else STATEMENT_PARTS[:3]


def reuses_round0(rb: RulebookHeader) -> bool:
    """Whether an incremental run of ``rb`` keeps the scores before contagion of the
    subjects it chose first (``incremental.ROUND0``) for its plan to reuse: with
    contagion (the choice reads them to find who may be low), and without grade limits
    (which read the records themselves, not only the scores)."""
    return rb.spec.contagion is not None and not rb.spec.grade_limits
