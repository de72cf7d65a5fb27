"""List memberships (flight ban, organisation blacklist, …) as of a date, in the plan.

For each list of the rulebook (a handful), the plan builds:

- **record memberships**: each valid record of an ``enter_by`` parameter starts a term on
  its day, unless the subject was younger than ``min_age`` that day or a ``bars`` period
  after a leaving record holds it; the term ends at the first record of a ``leave_by``
  parameter on or after that day, or after its term (``term_by`` for its parameter, else
  ``term_days``, lengthened by the ``extend_by`` records within it), whichever comes
  first. A subject is on the list while a
  term runs as of the date; several running terms (an extension) make one membership,
  from the earliest start to the latest end, caused by the latest entry record. Every
  record the plan reads is of a day up to the date, so a term that meets a leaving record
  has ended by then: a term runs when it started after the subject's last leaving record
  of the list and its ``term_days`` have not passed (a group-by and a join per list, not
  a join of every entry record to every later leaving one);
- **grade memberships**: every subject whose grade (from ``graded``, for example the run's
  snapshot) is one of ``enter_at_grades``;
- **alert memberships**: every subject one of the ``enter_at_alerts`` measures alerts for
  on the date (``measures``);

and keeps only subjects of the list's kind, old enough for its ``min_age`` on the date.
Each membership names its cause: the entry record, or the grade.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.types as ir

from socialrating.rulebook.schema import BlackList
from socialrating.scoring.measures import measured
from socialrating.scoring.plan import PlanInputs, evaluate, representatives, staged

EPOCH = dt.date(1970, 1, 1)


def memberships(
    inputs: PlanInputs,
    as_of: int | ir.Value,
    graded: ir.Table,
    subject_id: int | ir.Value | None = None,
) -> ir.Table:
    """One row per list, member and cause as of day ``as_of``.

    Columns: ``list``, ``subject_id``, ``cause`` (``record``, ``grade``, ``joint`` or
    ``alert``), ``entry_id`` (the entry record; for ``joint``, the record naming the
    representative), ``grade`` (for ``alert``: the measure that alerts), ``start_day`` and ``end_day`` (null: open-ended) and ``via_subject`` (for
    ``joint``: the organisation or representative whose membership is carried over).

    A ``record`` membership runs from its entry record's day to its exit or term end; a
    ``joint`` one from the later of the other membership's start and the day of the record
    linking the two, to the other membership's end; a ``grade`` one has no dates here
    (a grade is not a dated fact: a scoring run dates it, see ``scoring/run.py``), nor
    has a joint one carried from a grade, nor an ``alert`` one (a measure's alert, while
    it lasts, dated as a grade is).

    Args:
        graded: ``subject_id`` and ``grade`` of the subjects as of the date.
    """
    rb = inputs.rulebook
    by_records: dict[int, ir.Table] = {}
    if any(lst.enter_by for lst in rb.spec.lists):
        # Only the records of the few list parameters, chosen in the scan: joining every
        # record to the parameters first and then narrowing cost most of this query.
        p = inputs.parameters
        named = _named(rb.spec.lists)
        chosen = p.list_enter_mask.notnull() | p.list_leave_mask.notnull()
        if named:
            reg = inputs.parameters_registry
            codes = reg.filter(reg.code.isin(sorted(named))).select(
                c_id=reg.parameter_id, c_code=reg.code
            )
            chosen = chosen | p.parameter_id.isin(codes.c_id)
        listed = p.filter(chosen)
        ev = evaluate(inputs, as_of, subject_id, of_parameters=listed)
        # Only the columns the terms need: the database may keep this table for its two
        # uses, and every column it keeps costs memory.
        columns = ["subject_id", "entry_id", "day", "order_key", "list_enter_mask"]
        ev = ev.filter(ev.valid).select(*columns, "list_leave_mask", "parameter_id")
        if named:
            ev = ev.left_join(codes, ev.parameter_id == codes.c_id)
            ev = ev.select(*[ev[c] for c in columns], ev.list_leave_mask, code=ev.c_code)
        else:
            ev = ev.select(*columns, "list_leave_mask", code=ibis.null("string"))
        # Read once or twice by each list entered by records: computed once.
        by_records = _by_records(inputs, staged(inputs, ev, "listed"), rb.spec.lists, as_of)
    links = representatives(inputs, as_of) if any(lst.enter_with for lst in rb.spec.lists) else None
    done: dict[str, ir.Table] = {}
    carried = {joint.list for lst in rb.spec.lists for joint in lst.enter_with}
    alerts: ir.Table | None = None
    for i, lst in enumerate(rb.spec.lists):
        parts = []
        if i in by_records:
            parts.append(by_records[i])
        if lst.enter_at_grades:
            g = graded.filter(graded.grade.isin(lst.enter_at_grades))
            parts.append(_undated(lst.code, g, "grade", g.grade))
        if lst.enter_at_alerts:
            if alerts is None:
                every = measured(inputs, as_of, subject_id)
                alerts = every.filter(every.alert)
            a = alerts.filter(alerts.measure.isin(lst.enter_at_alerts))
            parts.append(_undated(lst.code, a, "alert", a.measure))
        for joint in lst.enter_with:
            assert links is not None
            parts.append(_joint(links, lst.code, done[joint.list], joint.through))
        if parts:
            rows = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
            done[lst.code] = _eligible(inputs, rows, lst, as_of)
            if lst.code in carried:  # read again by a list it is carried into
                done[lst.code] = staged(inputs, done[lst.code], "list")
    if not done:
        return _empty(graded)
    tables = list(done.values())
    return tables[0].union(*tables[1:]) if len(tables) > 1 else tables[0]


def _undated(code: str, t: ir.Table, cause: str, grade: ir.Value) -> ir.Table:
    """Memberships of list ``code`` for the subjects of ``t`` by a state with no dates of
    its own (a grade, a measure's alert, named by ``grade``): a run dates them."""
    return t.select(
        list=ibis.literal(code),
        subject_id=t.subject_id.cast("int64"),
        cause=ibis.literal(cause),
        entry_id=ibis.null("int64"),
        grade=grade.cast("string"),
        start_day=ibis.null("int32"),
        end_day=ibis.null("int32"),
        via_subject=ibis.null("int64"),
    )


def _joint(links: ir.Table, code: str, members: ir.Table, through: str) -> ir.Table:
    # One row per member of the other list: the earliest start of its causes, and the
    # latest end (open when any cause is open-ended).
    members = members.group_by(["list", "subject_id"]).aggregate(
        start_day=members.start_day.min(),
        end_day=ibis.ifelse(
            members.end_day.isnull().any(), ibis.null("int32"), members.end_day.max()
        ),
    )
    if through == "representative":  # a person, for an organisation on the other list
        j = members.join(links, members.subject_id == links.org)
        subject, via = j.person, j.org
    else:  # an organisation, for its representative on the other list
        j = members.join(links, members.subject_id == links.person)
        subject, via = j.org, j.person
    # Carried from the day both hold: the other membership and the link naming the person
    # (unknown here when the other membership is for a grade: a run dates those).
    start = ibis.ifelse(
        j.start_day.isnull(), ibis.null("int32"), ibis.greatest(j.start_day, j.link_day)
    )
    # -1 stands for an open end or unknown start: argmin skips rows whose value is null.
    j = j.select(
        subject=subject,
        via=via,
        link=j.link_entry,
        start=start.fill_null(-1).cast("int32"),
        end=j.end_day.fill_null(-1).cast("int32"),
    )
    g = j.group_by(g_list=ibis.literal(code), subject=j.subject).aggregate(
        via=j.via.min(),
        link=j.link.argmin(j.via),
        start=j.start.argmin(j.via),
        end=j.end.argmin(j.via),
    )
    return g.select(
        list=ibis.literal(code),
        subject_id=g.subject.cast("int64"),
        cause=ibis.literal("joint"),
        entry_id=g.link.cast("int64"),
        grade=ibis.null("string"),
        start_day=ibis.ifelse(g.start == -1, ibis.null("int32"), g.start).cast("int32"),
        end_day=ibis.ifelse(g.end == -1, ibis.null("int32"), g.end).cast("int32"),
        via_subject=g.via.cast("int64"),
    )


def _named(lists: list[BlackList]) -> set[str]:
    """The parameters the lists name beyond entering and leaving: per-cause terms,
    extensions and the leaving records that bar re-entry."""
    named: set[str] = set()
    for lst in lists:
        named |= set(lst.term_by) | set(lst.extend_by) | {bar.after for bar in lst.bars}
    return named


def _by_records(
    inputs: PlanInputs, ev: ir.Table, lists: list[BlackList], as_of: int | ir.Value
) -> dict[int, ir.Table]:
    """Per list (by index) with ``enter_by``: its members by record.

    ``ev`` holds the valid records of list parameters (and ``code`` for those the lists
    name by code); a list's bit in a record's ``list_enter_mask`` says the record enters
    it, in ``list_leave_mask`` that it leaves it. Each list's rows are grouped by list and
    subject: with a key of one integer column DuckDB may size its table by the range of
    subject ids (``perfect_ht_threshold``), far more than a list's rows need.
    """
    out = {}
    for i, lst in enumerate(lists):
        if not lst.enter_by:
            continue
        li = ibis.literal(i, "int16")
        entries = ev.filter((ev.list_enter_mask & 2**i) != 0)
        if lst.min_age is not None:
            entries = _of_age_on_the_day(inputs, entries, lst.min_age)
        for bar in lst.bars:
            b = ev.filter(ev.code == bar.after)
            b = b.select(b_subject=b.subject_id, b_day=b.day)
            entries = entries.anti_join(
                b,
                [
                    entries.subject_id == b.b_subject,
                    b.b_day <= entries.day,
                    entries.day < b.b_day + bar.days,
                ],
            )
        term = _term(entries, lst)
        entries = entries.mutate(term=term)
        if lst.extend_by:
            entries = _extended(ev, entries, lst)
        else:
            entries = entries.mutate(extra=ibis.literal(0, "int32"))
        entries = entries.mutate(end=(entries.day + entries.term + entries.extra).cast("int32"))
        running = [entries.end.isnull() | (entries.end > as_of)]
        if lst.leave_by:
            # The subject's last leaving record: a term that started after it met none.
            x = ev.filter((ev.list_leave_mask & 2**i) != 0)
            last = x.group_by(x_li=li, x_subject=x.subject_id).aggregate(left=x.day.max())
            entries = entries.left_join(last, entries.subject_id == last.x_subject)
            running.append(entries.left.isnull() | (entries.day > entries.left))
        r = entries.filter(*running)
        m = r.group_by(m_li=li, member=r.subject_id).aggregate(
            entry_id=r.entry_id.argmax(r.order_key),
            start_day=r.day.min(),
            # A running term met no leaving record, so it ends at its term's end (or never).
            end_day=ibis.ifelse(r.end.isnull().any(), ibis.null("int32"), r.end.max()),
        )
        out[i] = m.select(
            list=ibis.literal(lst.code),
            subject_id=m.member.cast("int64"),
            cause=ibis.literal("record"),
            entry_id=m.entry_id.cast("int64"),
            grade=ibis.null("string"),
            start_day=m.start_day.cast("int32"),
            end_day=m.end_day.cast("int32"),
            via_subject=ibis.null("int64"),
        )
    return out


def _term(entries: ir.Table, lst: BlackList) -> ir.IntegerValue:
    """Each entry record's term in days: its parameter's in ``term_by``, else
    ``term_days`` (null: no fixed term)."""
    default = ibis.literal(lst.term_days, "int32")
    if not lst.term_by:
        return default
    return _by_code(entries.code, lst.term_by, default)


def _by_code(
    code: ir.StringValue, days: dict[str, int | None], default: ir.IntegerValue
) -> ir.IntegerValue:
    """The days ``days`` gives a record's parameter ``code``, else ``default``."""
    return ibis.cases(
        *[(code == c, ibis.literal(d, "int32")) for c, d in days.items()], else_=default
    )


def _extended(ev: ir.Table, entries: ir.Table, lst: BlackList) -> ir.Table:
    """``entries`` with ``extra``: the days the extension records made within each fixed
    term add to it."""
    x = ev.filter(ev.code.isin(sorted(lst.extend_by)))
    x = x.select(
        x_subject=x.subject_id,
        x_day=x.day,
        x_days=_by_code(x.code, dict(lst.extend_by), ibis.literal(0, "int32")),
    )
    j = entries.join(
        x,
        [
            entries.subject_id == x.x_subject,
            entries.term.notnull(),
            x.x_day >= entries.day,
            x.x_day < entries.day + entries.term,
        ],
    )
    extra = j.group_by(x_entry=j.entry_id).aggregate(extra=j.x_days.sum())
    joined = entries.left_join(extra, entries.entry_id == extra.x_entry)
    return joined.select(
        *[joined[c] for c in entries.columns], extra=joined.extra.fill_null(0).cast("int32")
    )


def _of_age_on_the_day(inputs: PlanInputs, entries: ir.Table, min_age: int) -> ir.Table:
    """The entry records of subjects at least ``min_age`` years old on the record's day
    (a subject with no birth date is taken to be)."""
    s = inputs.subjects
    born = s.filter(s.born.notnull()).select(a_subject=s.subject_id, a_born=s.born)
    joined = entries.left_join(born, entries.subject_id == born.a_subject)
    ok = _of_age(joined.a_born, joined.day, min_age)
    return joined.filter(ok).select(*[joined[c] for c in entries.columns])


def _of_age(born: ir.DateValue, day: ir.IntegerValue, years: int) -> ir.BooleanValue:
    """Born at least ``years`` years before day number ``day`` (or no birth date known)."""
    date = ibis.literal(EPOCH) + day.as_interval("D")
    return born.isnull() | (born + ibis.interval(years=years) <= date)


def _eligible(
    inputs: PlanInputs, rows: ir.Table, lst: BlackList, as_of: int | ir.Value
) -> ir.Table:
    """Only subjects of the list's kind, and old enough for its ``min_age``."""
    s = inputs.subjects
    joined = rows.join(s, rows.subject_id == s.subject_id)
    ok: ir.BooleanValue = ibis.literal(True)
    if lst.subjects != "any":
        ok = ok & (s.kind == lst.subjects)
    if lst.min_age is not None:
        day = as_of if isinstance(as_of, ir.Value) else ibis.literal(as_of, "int32")
        ok = ok & _of_age(s.born, day, lst.min_age)
    return joined.filter(ok).select(*[joined[c] for c in rows.columns])


def _empty(graded: ir.Table) -> ir.Table:
    return graded.filter(ibis.literal(False)).select(
        list=ibis.literal("").cast("string"),
        subject_id=graded.subject_id.cast("int64"),
        cause=ibis.literal(""),
        entry_id=ibis.null("int64"),
        grade=ibis.null("string"),
        start_day=ibis.null("int32"),
        end_day=ibis.null("int32"),
        via_subject=ibis.null("int64"),
    )
