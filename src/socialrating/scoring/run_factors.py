"""Key factors stored with a run, for every subject a service may refuse by grade.

A refusal gives its key factors (FCRA §609(f), Reg B: ``../shared/REAL_RULES.md`` 6c).
One subject's are its statement's (``factors.score_factors``); a batch of thousands of
decisions cannot build a statement each. So a run computes them for every subject whose
grade a service of its rulebook may refuse (``refused_grades``), all at once
(``factor_plan``), and stores what their texts are made of in ``run_factors``, digested
with the run. Decisions from the run read them (``decided_factors``).

Terms by grade apply to most subjects in most rulebooks (the seed's loan sets terms at
every grade): computing them for everyone would take as long as the run itself, so terms
take their factors from the statement when asked (``check``, ``?explain=true``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from socialrating.decisions.rules import MAX_FACTORS, Decision, Factor
from socialrating.ledger.store import Store
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import Service
from socialrating.scoring.factors import (
    contagion_factor,
    direct_factor,
    limit_factor,
    parameter_factor,
    worse_way,
)

if TYPE_CHECKING:
    import pyarrow as pa

CHOSEN = "chosen_factors"
"""The temporary table of the subjects whose factors a run computes (``factors@chosen``)."""

KINDS = ("citizen", "organisation")


def refused_grades(rb: RulebookHeader) -> dict[str, list[str]]:
    """Per kind of subject, the grades at which a service's rule on grades (or its
    ``otherwise``) may refuse, whatever lists the subject is on; best grade first."""
    found: dict[str, list[str]] = {}
    for kind in KINDS:
        services = [s for s in rb.spec.services if s.subjects in ("any", kind)]
        grades = [b.grade for b in rb.bands(kind)]
        found[kind] = [g for g in grades if any(_may_refuse(s, g) for s in services)]
    return found


def _may_refuse(service: Service, grade: str) -> bool:
    """Whether a subject of ``grade`` may be refused by a rule on grades: a rule that
    names the grade refuses, or no rule decides for sure before ``otherwise`` refuses."""
    for rule in service.rules:
        when = rule.when
        if when.grades is not None and grade not in when.grades:
            continue
        if when.grades is not None and rule.decision == "refused":
            return True
        if when.lists is None:  # it applies whatever the lists: it decides
            return False
    return service.otherwise == "refused"


def _refused_pairs(rb: RulebookHeader) -> list[list[str]]:
    """``refused_grades`` as the [kind, grade] pairs a query matches a subject's against."""
    return [[kind, g] for kind, gs in refused_grades(rb).items() for g in gs]


def _grades_and_pairs(pairs: list[list[str]]) -> list[Any]:
    """The parameters of a query that keeps the rows (``n``, joined to ``subjects s``)
    whose [kind, grade] is one of ``pairs``: ``list_contains(?, n.grade) AND
    list_contains(?, [s.kind, n.grade])``. By grade first, so that only those rows are
    joined to the registry for their kind (a full run's 2 million: 0.13 s, against
    0.35-0.58 s when every row was joined first)."""
    return [sorted({grade for _, grade in pairs}), pairs]


def store_factors(
    store: Store,
    rb: RulebookHeader,
    run_id: int,
    day: int,
    scored: str,
    into: str = "run_factors",
    *,
    but: str | None = None,
) -> int:
    """Store run ``run_id``'s key factors of the subjects in ``scored`` (a table of the
    scores plan's rows) whose grade a service may refuse, in ``into`` (a table of
    ``run_factors``'s columns: ``verify --rescore`` computes them apart), but those in the
    table ``but`` (their factors carried: ``carry_unchanged_factors``). Returns how many
    subjects."""
    from socialrating.scoring.compiled import bind, compiled
    from socialrating.scoring.factor_plan import DAY_KEY

    pairs = _refused_pairs(rb)
    if not pairs:
        return 0
    store.run(
        f"""CREATE OR REPLACE TEMP TABLE {CHOSEN} AS
            SELECT n.subject_id FROM {scored} n JOIN subjects s USING (subject_id)
            {"" if but is None else f"ANTI JOIN {but} USING (subject_id)"}
            WHERE list_contains(?, n.grade) AND list_contains(?, [s.kind, n.grade]) ORDER BY 1""",
        _grades_and_pairs(pairs),
    )
    chosen = int(store.scalar(f"SELECT count(*) FROM {CHOSEN}"))
    if not chosen:
        return 0
    parts = bind(compiled(store, rb, "factors@chosen"), day)
    way = (
        f"CASE c.kind WHEN 'citizen' THEN {worse_way(rb, 'citizen')} "
        f"ELSE {worse_way(rb, 'organisation')} END"
    )
    code = "coalesce(r.code, '#' || p.parameter_id)"
    store.run(
        f"""INSERT INTO {into}
        WITH c AS (
            SELECT n.subject_id, s.kind, n.score, n.points_score, n.contagion,
                   n.direct_grade, n.limited_by, n.score_grade
            FROM {scored} n JOIN {CHOSEN} USING (subject_id) JOIN subjects s USING (subject_id)),
        p AS MATERIALIZED ({parts}),
        names AS (SELECT parameter_id, name FROM rulebook_parameters
                  WHERE rulebook_hash = ? AND name <> ''),
        ranked AS (
            SELECT p.subject_id, 'PARAMETER:' || {code} AS code, m.name, p.effect,
                   p.made_good, [k % {DAY_KEY} for k in p.entries] AS entries
            FROM p LEFT JOIN parameters r USING (parameter_id)
            LEFT JOIN names m USING (parameter_id)
            WHERE p.direct_grade IS NULL
            UNION ALL
            SELECT c.subject_id, 'CONTAGION', NULL, c.contagion, 0, []::BIGINT[]
            FROM c WHERE c.contagion * ({way}) > 0),
        direct AS (
            SELECT c.subject_id, arg_min({code}, p.entries[1]) AS code,
                   min(p.entries[1]) AS entry,
                   any_value(c.score - c.points_score - c.contagion) AS effect,
                   any_value(c.direct_grade) AS grade
            FROM c JOIN p ON p.subject_id = c.subject_id AND p.direct_grade = c.direct_grade
            LEFT JOIN parameters r ON r.parameter_id = p.parameter_id
            GROUP BY c.subject_id)
        SELECT {int(run_id)}, subject_id, rank, code, name, effect, made_good, entries, NULL
        FROM (SELECT *, row_number() OVER (PARTITION BY subject_id
                                           ORDER BY abs(effect) DESC, code) AS rank
              FROM ranked) WHERE rank <= {MAX_FACTORS}
        UNION ALL
        SELECT {int(run_id)}, subject_id, -1, 'LIMIT:' || limited_by, NULL, 0, 0,
               []::BIGINT[], score_grade
        FROM c WHERE limited_by IS NOT NULL
        UNION ALL
        SELECT {int(run_id)}, subject_id, 0, 'DIRECT:' || code, NULL, effect, 0, [entry], grade
        FROM direct""",
        [rb.hash],
    )
    return chosen


def carry_factors(store: Store, run_id: int, base_run: int, rescored: str) -> None:
    """Carry the base run's factors of the subjects an incremental run did not score again."""
    store.run(
        f"""INSERT INTO run_factors SELECT {int(run_id)}, * EXCLUDE (run_id) FROM run_factors
            WHERE run_id = {int(base_run)} AND subject_id NOT IN (SELECT subject_id FROM {rescored})"""
    )


CARRIED = "carried_factors"
"""The subjects whose factors a full run carried from the run before (``carry_unchanged_factors``)."""


def carry_unchanged_factors(
    store: Store, rb: RulebookHeader, run_id: int, base_run: int, scored: str, chosen: str
) -> int:
    """Carry the factors of run ``base_run`` into run ``run_id``, a full run of the same
    rulebook scored because an incremental one would have chosen too many subjects
    (``incremental.choose`` gave up), for every subject it did not choose by its own
    entries and links (the table ``chosen``) whose row in ``scored`` is, in all that a
    subject's factors are made of besides its records, its row of the base run: its
    grade, score, points, contagion and direct grade. Such a subject's records count as
    they did (that is what the choice says), so its factors are the same; the others'
    are computed (``store_factors``, ``but`` the table ``CARRIED`` this fills). Returns
    how many subjects were carried."""
    store.run(
        f"""CREATE OR REPLACE TEMP TABLE {CARRIED} AS
            SELECT n.subject_id FROM {scored} n JOIN subjects s USING (subject_id)
            JOIN snapshot b ON b.run_id = {int(base_run)} AND b.subject_id = n.subject_id
            ANTI JOIN {chosen} c ON c.subject_id = n.subject_id
            WHERE list_contains(?, n.grade) AND list_contains(?, [s.kind, n.grade])
              AND b.grade = n.grade AND b.score = n.score AND b.points_score = n.points_score
              AND b.contagion = n.contagion
              AND b.direct_grade IS NOT DISTINCT FROM n.direct_grade
              -- A limit by a linked subject's grade: computed again, as its link may not
              -- have been chosen (a contagion's rounds come after the choice).
              AND n.limited_by IS NULL AND n.subject_id NOT IN (
                  SELECT subject_id FROM run_factors WHERE run_id = {int(base_run)} AND rank = -1)""",
        _grades_and_pairs(_refused_pairs(rb)),
    )
    store.run(
        f"""INSERT INTO run_factors SELECT {int(run_id)}, * EXCLUDE (run_id) FROM run_factors
            WHERE run_id = {int(base_run)} AND subject_id IN (SELECT subject_id FROM {CARRIED})"""
    )
    return int(store.scalar(f"SELECT count(*) FROM {CARRIED}"))


def factors_from_rows(rb: RulebookHeader, rows: list[dict[str, Any]]) -> list[Factor]:
    """The key factors stored for one subject (its ``run_factors`` rows), in rank order."""
    found = []
    for r in sorted(rows, key=lambda r: int(r["rank"])):
        kind, _, what = str(r["code"]).partition(":")
        if kind == "LIMIT":
            found.append(limit_factor(rb, what, str(r["grade"])))
        elif kind == "DIRECT":
            found.append(
                direct_factor(str(r["grade"]), int(r["entries"][0]), what, int(r["effect"]))
            )
        elif kind == "CONTAGION":
            found.append(contagion_factor(int(r["effect"])))
        else:
            entries = tuple(int(e) for e in r["entries"])
            effect, back = int(r["effect"]), int(r["made_good"])
            found.append(parameter_factor(what, r["name"], effect, back, entries))
    return found[:MAX_FACTORS]


def stored_for(store: Store, run_id: int, subject_id: int) -> list[dict[str, Any]]:
    """One subject's stored factor rows of a run."""
    table: pa.Table = store.arrow(
        f"""SELECT rank, code, name, effect, made_good, entries, grade FROM run_factors
            WHERE run_id = {int(run_id)} AND subject_id = {int(subject_id)}"""
    )
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def factor_grades(store: Store, run_id: int) -> dict[str, list[str]] | None:
    """Per kind, the grades run ``run_id`` stored key factors for; None if it was scored
    before runs stored them."""
    import json

    stats = store.scalar("SELECT stats FROM runs WHERE run_id = ?", [int(run_id)])
    found = json.loads(stats or "{}").get("factors")
    return None if found is None else dict(found["grades"])


def with_run_factors(
    decision: Decision,
    rb: RulebookHeader,
    kind: str,
    grade: str,
    grades: Callable[[], dict[str, list[str]] | None],
    rows: Callable[[], list[dict[str, Any]]],
) -> Decision:
    """``decision`` with the score's key factors the run stored (``rows`` reads them), when
    it is a refusal by a rule on grades of a subject whose grade the run stored them for
    (``grades`` gives those: ``factor_grades``); else as it is. Neither is read for
    another decision."""
    from dataclasses import replace

    from socialrating.scoring.factors import refusal_factors

    if decision.decision != "refused" or not decision.by_grade:
        return decision
    stored = grades()
    if stored is None or grade not in stored.get(kind, []):
        return decision
    score = factors_from_rows(rb, rows())
    return replace(decision, factors=refusal_factors(decision, score), scored=True)
