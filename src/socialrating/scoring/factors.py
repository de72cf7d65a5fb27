"""Key factors: what worsened a score or caused a refusal, ranked by effect, at most four.

Adverse-action rules ask for this beside the full statement: FCRA §609(f) gives "all of
the key factors that adversely affected the credit score … the total number of which
shall not exceed 4", in order of importance, and Reg B asks for the specific principal
reasons of a refusal (``../shared/REAL_RULES.md`` 6c). Here a factor is:

- a grade limit that lowered the grade (``LIMIT:<code>``, the rulebook's
  ``grade_limits``): it decides the grade whatever the points say, so it ranks first;
- a standing direct grade (``DIRECT:<parameter>``): it sets the grade whatever the points
  say, so it ranks next;
- a parameter (``PARAMETER:<code>``): the points its counted records cost, after caps,
  repeats and bands, summed over its records, less what rectifications of them gave
  back (a record made good in full is no factor);
- contagion (``CONTAGION``): what contacts with low-graded citizens cost;
- for a refusal, a list membership (``LIST:<list>``), with the record or grade behind it.

Which way is worse is the rulebook's: lower scores are, unless its base score lies in its
lowest band (a register counting points up from 0, where every point is against the
subject). Only points that move the score the worse way are factors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.decisions.rules import MAX_FACTORS, Decision, Factor
from socialrating.rulebook import RulebookHeader

if TYPE_CHECKING:
    from socialrating.scoring.statements import Statement, StatementLine


def worse_way(rb: RulebookHeader, kind: str) -> int:
    """-1 when lower scores are worse (the usual), +1 when higher ones are: the base score
    lies in the lowest of several bands, so points can only climb toward worse grades."""
    bands = rb.bands(kind)
    if len(bands) > 1 and rb.grade_of(rb.spec.base_score, kind) == bands[-1].grade:
        return 1
    return -1


def score_factors(rb: RulebookHeader, st: Statement) -> list[Factor]:
    """The key factors of a statement: its standing direct grade first, then parameters
    and contagion by how far they moved the score the worse way, at most four."""
    way = worse_way(rb, st.subject.kind.value)
    found: list[Factor] = []
    if st.limit is not None:
        found.append(limit_factor(rb, st.limit.code, st.limit.by_score))
    if st.direct is not None:
        d = st.direct
        found.append(direct_factor(d.grade, d.entry_id, d.parameter, st.adjustment))
    by_parameter: dict[str, list[StatementLine]] = {}
    for line in st.lines:
        if line.counted * way > 0 and line.sets_grade is None:
            by_parameter.setdefault(line.parameter, []).append(line)
    made_good = _made_good(rb, st)
    ranked = []
    for parameter, mine in by_parameter.items():
        back = sum(made_good.get(line.entry_id, 0) for line in mine)
        effect = sum(line.counted for line in mine) + back
        if effect * way <= 0:  # made good in full
            continue
        entries = tuple(line.entry_id for line in mine)
        ranked.append(parameter_factor(parameter, mine[0].name, effect, back, entries))
    if st.contagion * way > 0:
        ranked.append(contagion_factor(st.contagion))
    return (found + ranked_factors(ranked))[:MAX_FACTORS]


def ranked_factors(factors: list[Factor]) -> list[Factor]:
    """Parameters and contagion by how far they moved the score, then by code."""
    return sorted(factors, key=lambda f: (-abs(f.effect), f.code))


def limit_factor(rb: RulebookHeader, code: str, by_score: str) -> Factor:
    """The grade limit ``code`` lowered the grade from ``by_score``."""
    g = next(g for g in rb.spec.grade_limits if g.code == code)
    text = f"grade at best {g.at_best} (else {by_score}): {g.name or g.code}"
    return Factor(f"LIMIT:{g.code}", text, 0)


def direct_factor(grade: str, entry: int, parameter: str, adjustment: int) -> Factor:
    """A standing direct grade, set by ``entry``, which moved the score by ``adjustment``."""
    text = f"graded {grade} directly by entry {entry} ({parameter})"
    return Factor(f"DIRECT:{parameter}", text, adjustment, (entry,))


def parameter_factor(
    parameter: str, name: str | None, effect: int, back: int, entries: tuple[int, ...]
) -> Factor:
    """A parameter whose records ``entries`` moved the score by ``effect``, net of the
    ``back`` that rectifications gave."""
    label = f"{name} ({parameter})" if name else parameter
    n = len(entries)
    text = f"{label}: {n} record{'s' if n > 1 else ''}, {effect:+d} points"
    if back:
        text += f" ({back:+d} made good)"
    return Factor(f"PARAMETER:{parameter}", text, effect, entries)


def contagion_factor(points: int) -> Factor:
    """What contacts with low-graded citizens cost."""
    return Factor("CONTAGION", f"contacts with low-graded citizens: {points:+d} points", points)


def _made_good(rb: RulebookHeader, st: Statement) -> dict[int, int]:
    """Per record a counted rectification names, the points it gives back: a factor is
    the net of a record and its rectification, which belong together."""
    rectifiers = {p.code for p in rb.spec.parameters if p.rectifies is not None}
    back: dict[int, int] = {}
    for line in st.lines:
        if line.parameter in rectifiers and line.counted and line.related_entry is not None:
            back[line.related_entry] = back.get(line.related_entry, 0) + line.counted
    return back


def refusal_factors(decision: Decision, score: list[Factor]) -> list[Factor]:
    """The key factors of a refusal or of terms in a statement: the list memberships the
    deciding rule looked at (``decide`` gives them), then, for a rule on grades (or none),
    the score's key factors; at most four. An allowed decision has none."""
    if decision.decision == "allowed":
        return []
    found = list(decision.factors)
    if decision.by_grade:
        found += score
    return found[:MAX_FACTORS]
