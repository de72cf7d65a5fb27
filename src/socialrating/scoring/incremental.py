"""Which subjects a run must score again, given an earlier run of the same rulebook.

A subject's result (score, grade, stage, contagion, lists) as of a day depends on its
own entries, on the day, and through contagion and joint punishment on other subjects'
results. Between a run as of day ``d0`` that saw the ledger up to entry ``last`` and a
run as of ``d1``, it can change only if (``lo``, ``hi`` are the two days in order):

- an entry came in after ``last`` about it, naming it as counterpart, or referring to
  an entry about it (a verification of its report, an appeal, a review, a void: a void
  carries the voided record's subject and counterpart);
- one of its records falls on a day in (``lo``, ``hi``]: it counts from that day on
  (so do its register links and contacts, and verifications of its reports);
- one of its records expires on a day in (``lo``, ``hi``]: any validity the parameter
  can have (by size or level, in days or calendar months and years) is taken;
- a list term of one of its records ends in (``lo``, ``hi``], or it reached a list's
  minimum age in it;
- it was registered after the earlier run;
- (grade limits) it was registered so many years before a day in (``lo``, ``hi``], or a
  limit looks at last year's grade and the two days lie in different years (everyone);
- (legal representatives' points) a register record of an organisation it was ever
  named for came in after ``last`` or falls on a day in (``lo``, ``hi``], or such a
  record was voided: the organisation's representative may have changed, to it or from
  it;

- (records passed across links) it is linked, by register records, to a subject chosen
  (as many links as the rulebook's chain of passing parameters); a passed record expires,
  or ends a list term, on a day counted from its source record's, whose subject is then
  chosen (and so, through the links, its recipients);
- (grade limits on linked subjects' grades) it is linked, by register records, to a
  subject chosen (as many links as the longest path of a limit);

- (contagion) a contact of it left the window between the two days;

and then (contagion) whoever's contagion such a subject may change. Only a subject that
may be low in some round (``contagion.may_be_low``) spreads its grade: of those chosen,
the ones who may be low as of the day or could in the base run; then, a round at a time
(``rounds - 1``), their contacts who may be low in the base run (their own records did
not change); and the contacts of all of those, the contacts taken over both days'
windows. Those are the subjects to score again. Their lists, and
those of anyone within as many links (organisation and legal representative) as lists
carry between them, are computed again; with a list entered by a measure's alert, so
are the lists of everyone with a record the measures read (a percentile ranks among all
of them). With a grade limit on lists, everyone whose lists are computed again is
scored again too. Everyone else's rows are carried over from the
earlier run unchanged: the result equals a full run's (a property test checks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from socialrating.ledger.store import Store
from socialrating.model import EntryKind, day_date, day_number
from socialrating.rulebook import RulebookHeader
from socialrating.rulebook.schema import BlackList
from socialrating.scoring.compiled import bind, compiled, plan_ids
from socialrating.scoring.depends import (
    derived_parameters,
    limit_steps,
    measure_codes,
    reuses_round0,
)

if TYPE_CHECKING:
    import numpy as np

SCORES = "chosen_scores"
LISTS = "chosen_lists"
LOW = "chosen_low"
"""Those who may be low in a round of contagion (``contagion.may_be_low``)."""
SPREADING = "chosen_spreading"
"""Those whose grade in the round before the last may have changed."""
ROUND0 = "chosen_round0"
"""The scores before contagion (``plan.scores``' columns) of those chosen before
contagion widened the choice: who of them may be low is read from it (``low@chosen``),
and the chosen subjects' plan takes their scores from it rather than reading their
records again (``scores@chosen``); kept where ``depends.reuses_round0``."""


@dataclass(frozen=True)
class BaseRun:
    """The earlier run an incremental run starts from."""

    run_id: int
    as_of_day: int
    last_entry: int


def base_run(store: Store, rb: RulebookHeader) -> BaseRun | None:
    """The latest run of the rulebook, if any, unless a version of the rulebook was
    installed since (the versions before it, by which it values older records, may differ)
    or it stored no key factors where the rulebook refuses by grade (it was scored before
    runs stored them: ``run_factors``)."""
    from socialrating.scoring.run_factors import refused_grades

    row = store.one(
        "SELECT run_id, as_of, last_entry, stats FROM runs WHERE rulebook_hash = ? "
        "ORDER BY run_id DESC LIMIT 1",
        [rb.hash],
    )
    if row is None:
        return None
    if any(refused_grades(rb).values()) and "factors" not in json.loads(row[3] or "{}"):
        return None
    if store.scalar(
        "SELECT count(*) FROM entries WHERE kind = ? AND entry_id > ?",
        [int(EntryKind.RULEBOOK), int(row[2])],
    ):
        return None
    return BaseRun(int(row[0]), day_number(row[1]), int(row[2]))


FULL_SHARE = 0.3
"""An incremental run that would score again at least this share of the registry by the
subjects' own entries (before contagion widens the choice) runs in full instead: it reads
every entry either way, and its plans for chosen subjects filter each stage by them. On
a simulated nation of 1.1 million subjects (a week touching 48 %), the incremental run
took 12.7 s against 9.5 s in full; on the 2-million-subject bench ledger, seven days
(26 %) 14.1 s against 15.0 s, one day (4.5 %) 6.4 s against 13.5 s."""

FULL_FROM_SUBJECTS = 100_000
"""Smaller registries always run incrementally when they can: either run takes well
under a second there, and the result is the same."""


def give_up_at(store: Store) -> int | None:
    """How many subjects chosen directly make a run of ``store`` cheaper in full (``choose``);
    None for a registry smaller than ``FULL_FROM_SUBJECTS``."""
    subjects = int(store.scalar("SELECT count(*) FROM subjects"))
    return None if subjects < FULL_FROM_SUBJECTS else max(1, int(subjects * FULL_SHARE))


def plans(rb: RulebookHeader) -> tuple[str, ...]:
    """The compiled plans an incremental run of ``rb`` runs (``choose``, ``score_run``)."""
    from socialrating.scoring.run_factors import refused_grades

    names = ["scores@chosen"]
    if reuses_round0(rb):
        names.append("round0@chosen")
    if rb.spec.contagion is not None:
        names.append("low@chosen")
    if rb.spec.lists:
        names.append("run_lists@chosen")
    if any(refused_grades(rb).values()):
        names.append("factors@chosen")
    return tuple(names)


def _spans(store: Store, rb: RulebookHeader) -> str:
    """A temporary table of every (parameter, days) a record of the rulebook can count,
    or keep its subject on a list (``_terms``), for; and the SQL of the subjects whose
    records of calendar validity end in ($lo, $hi] ("" when the rulebook has none)."""
    store.run(
        """CREATE OR REPLACE TEMP TABLE chosen_spans AS
           SELECT DISTINCT parameter_id, expiry_days AS days FROM rulebook_parameters
           WHERE list_contains(?, rulebook_hash) AND expiry_days IS NOT NULL""",
        [[version.hash for version in rb.versions]],
    )
    calendar = []
    for version in rb.versions:
        passed = roots(version)
        # A record passed across a link (no stored entry has its parameter) expires on a
        # day counted from its source record's: the source's subject is chosen then, and
        # the links from it below.
        for code, source in passed.items():
            store.run(
                """INSERT INTO chosen_spans
                   SELECT s.parameter_id, r.expiry_days FROM rulebook_parameters r
                   JOIN parameters p USING (parameter_id), parameters s
                   WHERE r.rulebook_hash = ? AND p.code = ? AND s.code = ?
                     AND r.expiry_days IS NOT NULL""",
                [version.hash, code, source],
            )
        for p in version.with_validity:
            code = passed.get(p.code, p.code)
            for rule in p.validity or []:
                if rule.days is None:
                    calendar.append((code, rule.months, rule.calendar_years))
                    continue
                store.run(
                    """INSERT INTO chosen_spans SELECT parameter_id, ? FROM parameters
                       WHERE code = ?""",
                    [rule.days, code],
                )
    for lst in rb.spec.lists:
        for codes, days in _terms(rb, lst):
            store.run(
                "INSERT INTO chosen_spans SELECT parameter_id, ? FROM parameters "
                "WHERE list_contains(?, code)",
                [days, codes],
            )
    if not calendar:
        return ""
    # Calendar validity (months, or to the end of a year): the end day from each record's.
    store.run(
        "CREATE OR REPLACE TEMP TABLE chosen_calendar "
        "(parameter_id INTEGER, months INTEGER, years INTEGER)"
    )
    for code, months, years in calendar:
        store.run(
            "INSERT INTO chosen_calendar SELECT parameter_id, ?, ? FROM parameters WHERE code = ?",
            [months, years, code],
        )
    start = "(DATE '1970-01-01' + e.day)"
    end = (
        f"CASE WHEN c.months IS NOT NULL THEN {start} + to_months(c.months) "
        f"ELSE make_date(year({start}) + c.years + 1, 1, 1) END"
    )
    return (
        f"SELECT e.subject_id FROM entries e JOIN chosen_calendar c USING (parameter_id) "
        f"WHERE e.kind = {int(EntryKind.RECORD)} "
        f"AND date_diff('day', DATE '1970-01-01', {end}) BETWEEN $lo + 1 AND $hi"
    )


def roots(rb: RulebookHeader) -> dict[str, str]:
    """Per parameter whose records are passed across links (``derived_from``), the stored
    parameter its records come from in the end (a chain of passing followed back)."""
    derived = {p.code: p.derived_from.parameter for p in derived_parameters(rb) if p.derived_from}
    found = {}
    for code, source in derived.items():
        while source in derived:
            source = derived[source]
        found[code] = source
    return found


def _terms(rb: RulebookHeader, lst: BlackList) -> list[tuple[list[str], int]]:
    """The list's entry parameters grouped by their fixed term (days), a parameter passed
    across links by the stored one its records come from (``roots``; its subject is
    chosen, and the links from it); an extended term ends at a day the base run's
    ``list_members`` holds, or its extension is new."""
    source = roots(rb)
    by_days: dict[int, list[str]] = {}
    for code in lst.enter_by:
        days = lst.term_by.get(code, lst.term_days)
        if days is not None:
            by_days.setdefault(days, []).append(source.get(code, code))
    return [(codes, days) for days, codes in sorted(by_days.items())]


def choose(
    store: Store, rb: RulebookHeader, base: BaseRun, day: int, *, give_up_at: int | None = None
) -> tuple[int, int] | None:
    """Fill the temporary tables ``chosen_scores`` and ``chosen_lists`` with the subjects
    whose score, and whose lists, a run as of ``day`` must compute again after ``base``.

    Returns how many subjects each holds; or None, with ``give_up_at``, as soon as that
    many are chosen by their own entries and links, before contagion widens the choice
    (``FULL_SHARE``: a full run is then cheaper).
    """
    lo, hi = sorted((base.as_of_day, day))
    record, verification = int(EntryKind.RECORD), int(EntryKind.VERIFICATION)
    calendar = _spans(store, rb).replace("$lo", str(lo)).replace("$hi", str(hi))
    ages = " UNION ALL ".join(
        f"""SELECT subject_id FROM subjects WHERE born IS NOT NULL
            AND date_diff('day', DATE '1970-01-01', born + INTERVAL {int(lst.min_age)} YEAR)
                BETWEEN {lo + 1} AND {hi}"""
        for lst in rb.spec.lists
        if lst.min_age is not None
    )
    ages += _limit_ages(rb, lo, hi, bool(ages))
    store.run(
        f"""CREATE OR REPLACE TEMP TABLE {SCORES} AS
        WITH new AS (SELECT * FROM entries WHERE entry_id > {base.last_entry})
        SELECT subject_id FROM new WHERE subject_id IS NOT NULL
        UNION SELECT counterpart_id FROM new WHERE counterpart_id IS NOT NULL
        UNION SELECT r.subject_id FROM new n JOIN entries r ON r.entry_id = n.refers_to
        UNION SELECT subject_id FROM entries
              WHERE kind = {record} AND day > {lo} AND day <= {hi}
        UNION SELECT counterpart_id FROM entries
              WHERE kind = {record} AND day > {lo} AND day <= {hi} AND counterpart_id IS NOT NULL
        UNION SELECT r.subject_id FROM entries v JOIN entries r ON r.entry_id = v.refers_to
              WHERE v.kind = {verification} AND v.day > {lo} AND v.day <= {hi}
        -- Records that stop counting, or list terms that end, between the two days.
        UNION SELECT e.subject_id FROM entries e JOIN chosen_spans p USING (parameter_id)
              WHERE e.kind = {record} AND e.day + p.days > {lo} AND e.day + p.days <= {hi}
                    AND ({_expiring_days(store, lo, hi)})
        UNION SELECT subject_id FROM list_members
              WHERE run_id = {base.run_id} AND end_day > {lo} AND end_day <= {hi}
        UNION {_registered_since(store, base)}
        {"UNION " + calendar if calendar else ""}
        {"UNION " + ages if ages else ""}"""
    )
    _, representative, contact = plan_ids(store, rb)
    # Register records up to the later day: the links, old and new, between organisations
    # and their legal representatives.
    links = (
        f"kind = {record} AND parameter_id = {representative} "
        f"AND counterpart_id IS NOT NULL AND day <= {hi}"
    )
    if representative is not None and any(
        p.points_representative is not None for p in rb.spec.parameters
    ):
        # A register entry about an organisation (a new record or void, or a record that
        # starts counting) can change who represents it, and so the points of every person
        # any of its register records names: the one it names, and the one it replaces.
        store.run(
            f"""INSERT INTO {SCORES}
            SELECT counterpart_id FROM entries
            WHERE kind = {record} AND parameter_id = {representative} AND day <= {hi}
              AND counterpart_id IS NOT NULL AND subject_id IN (
                SELECT subject_id FROM entries WHERE parameter_id = {representative}
                  AND (entry_id > {base.last_entry}
                       OR (kind = {record} AND day > {lo} AND day <= {hi})))"""
        )
    if representative is not None:
        # A record passed across a link changes with its source: every person ever named
        # for an organisation chosen, and (through organisations) every organisation that
        # ever named a person chosen, as many links as a chain of passing can take. A
        # limit on a linked subject's grade: whoever a subject chosen is linked to (by any
        # register record, the old links too) along as many links as its path.
        for _ in range(len(derived_parameters(rb)) + limit_steps(rb)):
            _widen(store, SCORES, links)
    store.run(f"DELETE FROM {SCORES} WHERE subject_id IS NULL")
    contagion = rb.spec.contagion
    if contagion is not None and contact is not None:
        # Both sides of a contact that left the window between the two days.
        w = contagion.window_days
        leaving = (
            f"kind = {record} AND parameter_id = {contact} AND counterpart_id IS NOT NULL "
            f"AND day > {lo - w} AND day <= {hi - w}"
        )
        store.run(
            f"INSERT INTO {SCORES} SELECT subject_id FROM entries WHERE {leaving} "
            f"UNION SELECT counterpart_id FROM entries WHERE {leaving}"
        )
    if give_up_at is not None and (
        store.scalar(f"SELECT count(DISTINCT subject_id) FROM {SCORES}") >= give_up_at
    ):
        return None
    if reuses_round0(rb):
        # The scores before contagion of the subjects chosen so far: who of them may be
        # low is read from them, and the run's plan takes them rather than reading these
        # subjects' records a second time.
        round0 = bind(compiled(store, rb, "round0@chosen"), day, None, base.run_id)
        store.run(f"CREATE OR REPLACE TEMP TABLE {ROUND0} AS {round0}")
    if contagion is not None and contact is not None:
        # The contacts of both days' windows: those entering and those leaving count too.
        edges = (
            f"kind = {record} AND parameter_id = {contact} AND counterpart_id IS NOT NULL "
            f"AND day > {lo - contagion.window_days} AND day <= {hi}"
        )
        # Only a subject that may be low in some round spreads its grade: those of the
        # chosen who may be so now or could before, then those of their contacts who may
        # be (as in the base run: their own records did not change), a round at a time.
        low = bind(compiled(store, rb, "low@chosen"), day, None, base.run_id)
        store.run(f"CREATE OR REPLACE TEMP TABLE {LOW} AS {low}")
        store.run(
            f"""CREATE OR REPLACE TEMP TABLE {SPREADING} AS
                SELECT DISTINCT subject_id FROM {SCORES} SEMI JOIN {LOW} USING (subject_id)"""
        )
        for _ in range(contagion.rounds - 1):
            _widen(store, SPREADING, edges, within=LOW)
        _widen(store, SCORES, edges, source=SPREADING)
    store.run(f"CREATE OR REPLACE TEMP TABLE {LISTS} AS SELECT DISTINCT subject_id FROM {SCORES}")
    if any(lst.enter_at_alerts for lst in rb.spec.lists):
        # A percentile ranks among every subject measured, and a time weight changes with
        # age alone: whoever a measure reads a record of may enter or leave by an alert.
        store.run(
            f"""INSERT INTO {LISTS} SELECT DISTINCT e.subject_id FROM entries e
                JOIN parameters p USING (parameter_id)
                WHERE e.kind = {record} AND list_contains(?, p.code)
                EXCEPT SELECT subject_id FROM {LISTS}""",
            [measure_codes(rb)],
        )
    hops = sum(1 for lst in rb.spec.lists if lst.enter_with)
    if hops and representative is not None:
        for _ in range(hops):
            _widen(store, LISTS, links)
    if any(g.when.on_lists for g in rb.spec.grade_limits):
        # A limit on a list: whoever's lists are computed again may be limited anew.
        store.run(f"INSERT INTO {SCORES} SELECT subject_id FROM {LISTS}")
    store.run(f"CREATE OR REPLACE TEMP TABLE {SCORES} AS SELECT DISTINCT subject_id FROM {SCORES}")
    n_scores = int(store.scalar(f"SELECT count(*) FROM {SCORES}"))
    n_lists = int(store.scalar(f"SELECT count(*) FROM {LISTS}"))
    return n_scores, n_lists


SPANS_BY_RANGE = 64
"""At most this many different spans of validity are found by a range of days each."""


def _expiring_days(store: Store, lo: int, hi: int) -> str:
    """SQL true of a record whose day, plus one of the spans in ``chosen_spans``, falls in
    (lo, hi]: a range of days per span, tested in the scan of the ledger, so that the
    join to the spans sees only those records (on the bench ledger, 17 million records
    joined to them took 0.58 s of CPU). Past ``SPANS_BY_RANGE`` different spans, true."""
    spans = [int(d) for (d,) in store.rows("SELECT DISTINCT days FROM chosen_spans ORDER BY 1")]
    if not spans or len(spans) > SPANS_BY_RANGE:
        return "true" if spans else "false"
    return " OR ".join(f"(e.day > {lo - d} AND e.day <= {hi - d})" for d in spans)


def _registered_since(store: Store, base: BaseRun) -> str:
    """SQL of the subjects registered since run ``base``: those without a row in it.

    Subjects are numbered in order and never removed, and a run has a row for every
    subject registered: so when the registry holds exactly the base run's subjects plus
    those numbered above its last, those are the new ones, found without joining two
    million subjects to two million rows (0.4 s of CPU on the bench ledger)."""
    anti = f"""SELECT s.subject_id FROM subjects s ANTI JOIN
              (SELECT subject_id FROM snapshot WHERE run_id = {base.run_id}) b USING (subject_id)"""
    row = store.one(
        f"""SELECT r.subjects, (SELECT max(subject_id) FROM snapshot WHERE run_id = {base.run_id})
            FROM runs r WHERE r.run_id = {base.run_id}"""
    )
    if row is None or row[1] is None:
        return anti
    counted, last = int(row[0]), int(row[1])
    registered, above = store.one(
        f"SELECT count(*), count(*) FILTER (WHERE subject_id > {last}) FROM subjects"
    ) or (0, 0)
    if int(registered) != counted + int(above):
        return anti
    return f"SELECT subject_id FROM subjects WHERE subject_id > {last}"


def _limit_ages(rb: RulebookHeader, lo: int, hi: int, more: bool) -> str:
    """SQL of the subjects a grade limit may start or stop applying to between the days:
    those registered that many years before a day in (lo, hi]; and everyone when a limit
    looks at last year's grade and the days lie in different years ("" for none)."""
    spans = {g.when.registered_within_years for g in rb.spec.grade_limits}
    parts = [
        f"""SELECT subject_id FROM subjects WHERE born IS NOT NULL
            AND date_diff('day', DATE '1970-01-01', born + INTERVAL {int(years)} YEAR)
                BETWEEN {lo + 1} AND {hi}"""
        for years in sorted(y for y in spans if y is not None)
    ]
    last_year = any(g.when.graded_last_year for g in rb.spec.grade_limits)
    if last_year and day_date(lo).year != day_date(hi).year:
        parts.append("SELECT subject_id FROM subjects")
    joined = " UNION ALL ".join(parts)
    return f" UNION ALL {joined}" if more and joined else joined


def _widen(
    store: Store, table: str, edges: str, *, source: str | None = None, within: str | None = None
) -> None:
    """Add to ``table`` every subject that shares a record of ``edges`` with one in
    ``source`` (default: ``table``), of those in ``within`` (default: anyone)."""
    source = source or table
    among = f"WHERE subject_id IN (SELECT subject_id FROM {within})" if within else ""
    store.run(
        f"""INSERT INTO {table}
            SELECT subject_id FROM (
                SELECT counterpart_id AS subject_id FROM entries
                WHERE {edges} AND subject_id IN (SELECT subject_id FROM {source})
                UNION
                SELECT subject_id FROM entries
                WHERE {edges} AND counterpart_id IN (SELECT subject_id FROM {source})
            ) {among}
            EXCEPT SELECT subject_id FROM {table}"""
    )


def touched(store: Store, rb: RulebookHeader, base: BaseRun) -> np.ndarray:
    """The subjects whose score or lists the entries after ``base`` may change, as of its
    own day, sorted: those a run scoring again as of that day computes again (``choose``;
    its temporary tables are left on ``store``). Everyone else's rows in such a run are
    carried over from ``base``, so ``base`` answers for them meanwhile."""
    import numpy as np

    choose(store, rb, base, base.as_of_day)
    ids = store.arrow(
        f"SELECT subject_id FROM {SCORES} UNION SELECT subject_id FROM {LISTS} ORDER BY 1"
    )
    found: np.ndarray = ids.column(0).to_numpy().astype(np.int64)
    return found
