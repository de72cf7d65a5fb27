"""The rulebook's YAML schema as pydantic models.

The models check each field's type and range; ``loader.py`` adds the checks that span
fields (unique codes, known categories and institutions, ordered bands).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from socialrating.model import InstitutionClass

Code = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Days = Annotated[int, Field(gt=0, le=36_500)]
Confidence = Annotated[float, Field(gt=0, le=1)]
# A score's floor or ceiling: far from any 64-bit limit, so that adding points cannot overflow.
Bound = Annotated[int, Field(ge=-1_000_000_000_000, le=1_000_000_000_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Band(_Strict):
    """One grade band: scores at or above ``min`` (and below the next band up) get ``grade``.

    The lowest band has no ``min``: it takes every score below the band above it. A band
    with ``by_score: false`` takes no score: only a grade limit (``at_best``) or a direct
    grade gives it (the tax credit's M, a new enterprise); its place in the list is its
    rank among the grades.
    """

    grade: Annotated[str, Field(min_length=1, max_length=8)]
    min: int | None = None
    label: str = ""
    by_score: bool = True
    direct_score: int | None = Field(
        default=None,
        description="The score a subject graded directly into this band stands at "
        "(default: the band's min; the lowest band must set it if a parameter grades into it).",
    )


class Grades(_Strict):
    """Grade bands for citizens and for organisations, highest first."""

    citizen: Annotated[list[Band], Field(min_length=1)]
    organisation: Annotated[list[Band], Field(min_length=1)]


class Verification(_Strict):
    """When a citizen report counts.

    A report counts when an authority has verified it (``by_authority``), or when at least
    ``reporters`` independent citizens reported the same subject for the same parameter
    within one window of ``window_days`` days; then the earliest of those reports counts
    and the others corroborate it.
    """

    by_authority: bool = True
    reporters: Annotated[int, Field(ge=1, le=1000)] | None = None
    window_days: Days | None = None


class CameraRules(_Strict):
    """Rules for records that carry an identification confidence."""

    min_confidence: Confidence = 0.9


class Institution(_Strict):
    """An institution that sends records."""

    code: Code
    name: str = ""
    class_: InstitutionClass = Field(alias="class")


class Cap(_Strict):
    """At most ``max_deduction`` points lost and ``max_addition`` gained per period.

    Periods are consecutive windows of ``period_days`` days starting on the rulebook's
    effective date, or calendar years (``calendar_year: true``); a record falls in the
    period of the day its fact arose.
    """

    period_days: Days | None = None
    calendar_year: bool = False
    max_deduction: Annotated[int, Field(ge=0)] | None = None
    max_addition: Annotated[int, Field(ge=0)] | None = None


class Repeat(_Strict):
    """A repeated offence: a deduction of the category while an earlier one still counts.

    Its points are multiplied by ``factor`` (fractions dropped toward zero). With
    ``compound``, each further repeat multiplies again (the third offence while two still
    count is multiplied by factor squared); without, every repeat gets ``factor`` once.
    """

    factor: Annotated[float, Field(gt=0, le=100)]
    compound: bool = False


class Category(_Strict):
    """A category of parameters; points may be capped per category and period."""

    code: Code
    name: str = ""
    cap: Cap | None = None
    repeat: Repeat | None = None


class Step(_Strict):
    """One band of quantity: from ``from`` units on, ``points`` (highest) or ``per_unit`` (marginal)."""

    from_: Annotated[float, Field(ge=0)] = Field(alias="from")
    points: Annotated[int, Field(ge=-100_000, le=100_000)] | None = None
    per_unit: Annotated[float, Field(ge=-100_000, le=100_000)] | None = None
    max_points: Annotated[int, Field(ge=0, le=100_000)] | None = Field(
        default=None,
        description="Marginal bands: the most this band gives (its points' size), "
        "whatever its units; each donation band at most +10.",
    )


class QuantityBands(_Strict):
    """Points from a record's quantity in bands, instead of fixed or per-unit points.

    ``highest``: only the highest band reached counts, its ``points`` (0 below the first).
    ``marginal``: each band's units count at that band's ``per_unit`` rate, like tax
    brackets (a band at most its ``max_points``); the sum has its fractions dropped
    toward zero. ``per: calendar_year`` bands the year's accumulated quantity instead of
    each record's: a record gives what its quantity adds to the banded points of the
    subject's records of the parameter in that calendar year, up to and including it.
    """

    mode: Literal["highest", "marginal"]
    steps: Annotated[list[Step], Field(min_length=1, max_length=50)]
    per: Literal["record", "calendar_year"] = "record"


class ValidityRule(_Strict):
    """How long a record counts, if it matches: by its points, by its level, or always.

    ``points_up_to`` matches records whose points (before any repeat factor), in absolute
    value, are at most that; ``level`` matches records that carry that level. The first
    rule that matches wins; a rule with neither matches every record.

    A matching record counts for ``days`` days, for ``months`` calendar months (2.5 years
    are 30: from 31 August, six months end on the last day of February), or until the
    end of its calendar year plus ``calendar_years`` (0: to 31 December of its year).
    """

    points_up_to: Annotated[int, Field(ge=0)] | None = None
    level: Code | None = None
    days: Days | None = None
    months: Annotated[int, Field(gt=0, le=1200)] | None = None
    calendar_years: Annotated[int, Field(ge=0, le=100)] | None = None


class Reduction(_Strict):
    """When a record that lowers the balance is allowed (a seminar removing a point).

    It counts only if the subject's balance on its day (base plus the points then counting,
    before caps, other reductions left out) lies within ``balance_from``..``balance_to``, and
    no earlier such record of the same parameter that met that condition lies within
    ``once_in_days`` before it.
    """

    balance_from: int | None = None
    balance_to: int | None = None
    once_in_days: Days | None = None


class SkippedStage(_Strict):
    """A measure issued at a stage without the measure of the stage before (a warning with
    no admonition before it): the balance is reduced to ``reduce_to`` from the day it is
    issued, if it is above (a register counting points up, such as a driving licence's)."""

    reduce_to: int
    unless_after: Annotated[list[Code], Field(min_length=1)]


class Window(_Strict):
    """One window of a rectification, and what a rectification within it gives back.

    It covers the days up to ``days`` after the rectified record's day, or up to the end
    of its calendar year plus ``calendar_years`` (0: the same year, 1: the next). With
    ``quantity_up_to``, only a record of at most that quantity (the tax due) matches. It
    gives back ``share`` of the record's points (fractions dropped toward zero), or
    ``points`` (as written, with their sign).
    """

    days: Days | None = None
    calendar_years: Annotated[int, Field(ge=0, le=100)] | None = None
    quantity_up_to: Annotated[float, Field(ge=0)] | None = None
    share: Annotated[float, Field(gt=0, le=1)] | None = None
    points: Annotated[int, Field(ge=-100_000, le=100_000)] | None = None


class Derived(_Strict):
    """Records of this parameter are passed across a link from records of ``parameter``:
    ``through: representative``, from a record about an organisation to its legal
    representative on the record's day; ``through: organisations``, from a record about a
    person to every organisation it represents that day (``representatives``)."""

    parameter: Code
    through: Literal["representative", "organisations"]


class Rectifies(_Strict):
    """A record that rectifies an earlier one (a late filing made good): it names that
    record (``refers_to``), which must be a record of one of ``parameters`` about the same
    subject, still counting, and not rectified before. The first of ``within`` whose
    window holds the rectification gives its points; it counts for as long as the record
    it rectifies does. Outside every window it rectifies nothing."""

    parameters: Annotated[list[Code], Field(min_length=1)]
    within: Annotated[list[Window], Field(min_length=1, max_length=20)]


class Parameter(_Strict):
    """One parameter an institution may report, and the points it carries."""

    code: Code
    name: str = ""
    category: Code
    points: Annotated[int, Field(ge=-100_000, le=100_000)] | None = Field(
        default=None,
        description="Points of one counted record; required unless ``bands`` give them "
        "(and refused beside bands, where they would never count).",
    )
    per_unit: bool = False
    expires_after_days: Days | None = None
    institutions: Annotated[list[Code], Field(min_length=1)]
    min_confidence: Confidence | None = None
    verification: Verification | None = None
    tags: list[Code] = Field(default_factory=list)
    subjects: Literal["citizen", "organisation", "any"] = "citizen"
    bands: QuantityBands | None = None
    validity: Annotated[list[ValidityRule], Field(min_length=1)] | None = None
    direct_grade: Annotated[str, Field(min_length=1, max_length=8)] | None = Field(
        default=None,
        description="While the record counts, the subject has this grade whatever the "
        "points say; the score stands at the band's direct score, additions are frozen.",
    )
    repairs: list[Code] | None = Field(
        default=None,
        description="Parameters with a direct grade that this record ends (a debt paid); "
        "its own points then count for its validity instead, as a fixed deduction.",
    )
    points_organisation: Annotated[int, Field(ge=-100_000, le=100_000)] | None = Field(
        default=None, description="Points for organisations, where they differ from ``points``."
    )
    points_representative: Annotated[int, Field(ge=-100_000, le=100_000)] | None = Field(
        default=None,
        description="Points for a citizen who is an organisation's legal representative "
        "(as of the scoring day), where they differ from ``points``.",
    )
    reduction: Reduction | None = None
    skipped_stage: SkippedStage | None = Field(
        default=None,
        description="A measure that, issued with no earlier record of ``unless_after``, "
        "reduces the balance to ``reduce_to`` (a stage skipped).",
    )
    derived_from: Derived | None = Field(
        default=None,
        description="Each record of another parameter passes one of this across a link "
        "(an organisation's penalty booked to its legal representative): docs/rulebook.md "
        "3.27.",
    )
    rectifies: Rectifies | None = Field(
        default=None,
        description="Records of this parameter rectify an earlier record they name "
        "(``refers_to``); their points come from the window they fall in.",
    )


class Stage(_Strict):
    """A named stage a balance reaches: at ``at_least`` or above, or ``at_most`` or below."""

    name: Code
    at_least: int | None = None
    at_most: int | None = None
    label: str = ""


PublicField = Literal[
    "subject", "kind", "region", "since", "until", "cause", "parameter", "date", "institution"
]
"""What a published list may show of a member: its code, kind and region; since and until
when; why (cause), and for a record the parameter, its date and the institution that sent
it. Never a score, a grade's score, or another subject."""


class Bar(_Strict):
    """No entry onto a list for ``days`` days after a record of ``after`` (one of the list's
    ``leave_by`` parameters) took the subject off it: after a creditor-requested deletion,
    the creditor cannot apply again for six months."""

    after: Code
    days: Days


class BlackList(_Strict):
    """A named list (a flight ban, the organisation blacklist) and how subjects enter and leave.

    A subject is on the list as of a date when a record of an ``enter_by`` parameter put
    it there (on the record's day) and neither a record of a ``leave_by`` parameter (on or
    after that day) nor the end of its term has taken it off. The term is ``term_days``,
    or the entry parameter's own in ``term_by``; a record of an ``extend_by`` parameter
    within a running term lengthens it, and a later entry record starts a new term. A
    record within a ``bars`` period after a leaving record enters nothing. A subject whose
    grade as of the date is one of ``enter_at_grades`` is on the list too, for as long as
    it has that grade. Entries and exits by hand are records of parameters made for them
    (sent by an authority, and so in the ledger like any record). Nobody younger than
    ``min_age`` is listed: on the entry record's day, or for a grade on the date.
    """

    code: Code
    name: str = ""
    subjects: Literal["citizen", "organisation", "any"] = "citizen"
    enter_by: list[Code] = Field(default_factory=list)
    enter_at_grades: list[Annotated[str, Field(min_length=1, max_length=8)]] = Field(
        default_factory=list
    )
    leave_by: list[Code] = Field(default_factory=list)
    term_days: Days | None = None
    term_by: dict[Code, Days | None] = Field(
        default_factory=dict,
        description="The term of an entry by each of these ``enter_by`` parameters, in "
        "days (null: no fixed term), in place of ``term_days``.",
    )
    extend_by: dict[Code, Days] = Field(
        default_factory=dict,
        description="Records of these parameters extend a running fixed term by so many "
        "days (serious obstruction, repeated dishonest acts).",
    )
    bars: list[Bar] = Field(
        default_factory=list,
        description="Periods after a leaving record during which no record enters the "
        "subject again.",
    )
    min_age: Annotated[int, Field(ge=0, le=150)] | None = Field(
        default=None,
        description="Nobody younger is listed: a record enters only a subject this old on "
        "its day (a record from a minor never lists them), a grade or joint membership "
        "only one this old on the date.",
    )
    enter_with: list[Joint] = Field(default_factory=list)
    enter_at_alerts: list[Code] = Field(
        default_factory=list,
        description="Measures whose alert puts a subject on the list, for as long as the "
        "measure alerts.",
    )
    public: list[PublicField] = Field(
        default_factory=list,
        description="The fields of a member that anyone may read (the list is published, "
        "as the court's debtor list is): none by default, and then the list is not public.",
    )


class Joint(_Strict):
    """Joint punishment: membership carried between an organisation and its representative.

    ``through: representative``: a person is on the list while an organisation it
    represents is on ``list``. ``through: organisation``: an organisation is on the list
    while its legal representative is on ``list``.
    """

    list: Code
    through: Literal["representative", "organisation"]


class Representatives(_Strict):
    """Where legal representatives come from: records of ``parameter`` about an organisation
    whose counterpart is the person. The latest such record (by day) as of a date names the
    representative then; one without a counterpart means none."""

    parameter: Code


class Contagion(_Strict):
    """Contagion: a citizen in contact with low-graded citizens loses points.

    A contact is a record of ``parameter`` (a telecom contact: the subject and its
    counterpart) on one of the ``window_days`` days up to the date; it joins the two
    citizens both ways, and each pair counts once however many records join it.

    It is computed in ``rounds`` fixed rounds. Round 0 is the score from the citizen's own
    records. In round k, a citizen whose own grade (round 0) is not one of ``from_grades``
    and who has no standing direct grade loses ``points`` (negative) for each distinct
    contact whose grade in round k-1 is one of ``from_grades``, at most ``max_deduction``
    in all; the grade of round k follows from that score. ``from_grades`` must be the
    lowest citizen grades, so a round can only lower scores: the rounds are deterministic,
    each takes in contacts one step further away, and they stop after ``rounds``.
    """

    parameter: Code
    from_grades: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=8)]], Field(min_length=1)
    ]
    points: Annotated[int, Field(lt=0, ge=-1_000_000)]
    max_deduction: Annotated[int, Field(gt=0, le=1_000_000)]
    window_days: Days
    rounds: Annotated[int, Field(ge=1, le=6)] = 2


class Linked(_Strict):
    """A subject linked to this one by the register is graded one of ``graded`` on the day
    (by score and direct grades, before any limit or contagion). ``through`` is the path
    from that subject to this one, a link at a time: ``representative``, from an
    organisation to its legal representative on the day; ``organisations``, from a person
    to every organisation they represent that day. ``[representative, organisations]``:
    the other organisations run by the representative of one so graded."""

    graded: Annotated[list[Annotated[str, Field(min_length=1, max_length=8)]], Field(min_length=1)]
    through: Annotated[
        list[Literal["representative", "organisations"]], Field(min_length=1, max_length=4)
    ]


class LimitWhen(_Strict):
    """When a grade limit applies: every condition given holds on the scoring day.

    ``registered_within_years``: the subject's registry date (``born``: a citizen's birth,
    an organisation's registration) lies less than so many years before the day.
    ``graded_last_year``: its grade at the end of the previous calendar year, by score
    and direct grades (before any limit or contagion), was one of these. ``records``: a
    record of one of these parameters counts for it on the day. ``on_lists``: it is on
    one of these lists on the day, by a record, a measure's alert or joint punishment
    carried from one (not by a grade: the grade is what the limit makes). ``linked``: a
    subject linked to it is graded so.
    """

    registered_within_years: Annotated[int, Field(gt=0, le=150)] | None = None
    graded_last_year: list[Annotated[str, Field(min_length=1, max_length=8)]] | None = None
    records: list[Code] | None = None
    on_lists: list[Code] | None = None
    linked: Linked | None = None


class GradeLimit(_Strict):
    """A ceiling on a grade: while ``when`` holds, the subject's grade is ``at_best`` if its
    score (or direct grade) would give a better one. Tax credit: no A when operating for
    less than three years, or when graded D the year before."""

    code: Code
    name: str = ""
    subjects: Literal["citizen", "organisation", "any"] = "organisation"
    at_best: Annotated[str, Field(min_length=1, max_length=8)]
    when: LimitWhen


class TimeWeight(_Strict):
    """A record (an act) younger than ``months`` calendar months on the day weighs
    ``weight`` times its severity; the first such tier applies."""

    months: Annotated[int, Field(gt=0, le=1200)]
    weight: Annotated[float, Field(gt=0, le=1_000)]


class Per(_Strict):
    """What a measure is divided by (its exposure): exactly one of ``records``, the sum of
    the time weights of the records of these parameters in the measure's window (the
    relevant inspections), or ``quantity``, the quantity of the latest counting record of
    this parameter (power units times utilisation)."""

    records: Annotated[list[Code], Field(min_length=1)] | None = None
    quantity: Code | None = None


class Peers(_Strict):
    """A measure's peer groups (safety-event groups): a subject is ranked among the
    subjects whose count of records of ``count`` in the window falls in the same group;
    the groups start at the counts in ``groups`` (ascending), and a subject with fewer
    than the first has no percentile."""

    count: Annotated[list[Code], Field(min_length=1)]
    groups: Annotated[list[Annotated[int, Field(gt=0, le=1_000_000)]], Field(min_length=1)]


class Threshold(_Strict):
    """A percentile at or above which a measure alerts: the first threshold whose ``with``
    (a record of one of these parameters counts for the subject) holds, or that has none."""

    at: Annotated[float, Field(ge=0, le=100)]
    with_: Annotated[list[Code], Field(min_length=1)] | None = Field(default=None, alias="with")


class Measure(_Strict):
    """A measure that is not a sum of points (the carrier Safety Measurement System's
    BASICs): severity-weighted records, each act's weight capped and weighted by its age,
    divided by an exposure, ranked as a percentile among peers; at or above a threshold
    the measure alerts, and a list may take the subjects it alerts for
    (``enter_at_alerts``). It never changes a score."""

    code: Code
    name: str = ""
    subjects: Literal["citizen", "organisation", "any"] = "organisation"
    weights: Annotated[dict[Code, Annotated[float, Field(gt=0, le=1_000)]], Field(min_length=1)]
    level_weights: dict[Code, Annotated[float, Field(ge=-1_000, le=1_000)]] = Field(
        default_factory=dict,
        description="Added to a record's severity weight when its level is this "
        "(out of service: +2).",
    )
    act_cap: Annotated[float, Field(gt=0, le=1_000_000)] | None = Field(
        default=None,
        description="The most one act's severity weights add up to (30 per inspection).",
    )
    time_weights: Annotated[list[TimeWeight], Field(min_length=1, max_length=20)]
    per: Per
    peers: Peers
    thresholds: Annotated[list[Threshold], Field(min_length=1, max_length=20)]


class Appeals(_Strict):
    """How long a reviewer has to answer a subject's appeal against a record.

    The deadline is ``deadline_days`` days after the day the appeal was filed (that day
    not counted): working days (Monday to Friday, but for ``holidays``) with
    ``working_days``, else calendar days. The default is the county pilots' rule,
    objections answered within 7 working days; the court list reviews a correction
    request within 15 (calendar) days.
    """

    deadline_days: Annotated[int, Field(ge=1, le=365)] = 7
    working_days: bool = True
    holidays: list[dt.date] = Field(
        default_factory=list,
        description="Weekdays that are not working days (public holidays); only with "
        "``working_days``.",
    )


TermValue = str | int | float | bool


class When(_Strict):
    """When a service rule applies: the subject has one of ``grades`` (if given) and is on
    one of ``lists`` (if given)."""

    grades: list[Annotated[str, Field(min_length=1, max_length=8)]] | None = None
    lists: list[Code] | None = None


class ServiceRule(_Strict):
    """One rule of a service: when it applies, the decision and its terms."""

    when: When = When()
    decision: Literal["allowed", "refused", "terms"]
    terms: dict[Code, TermValue] = Field(default_factory=dict)
    reason: str = ""


class Service(_Strict):
    """A service a provider asks about; its rules are tried in order, the first that applies
    decides, and ``otherwise`` decides when none does."""

    code: Code
    name: str = ""
    subjects: Literal["citizen", "organisation", "any"] = "citizen"
    rules: list[ServiceRule] = Field(default_factory=list)
    otherwise: Literal["allowed", "refused"] = "allowed"


class Retention(_Strict):
    """How long an expired record is kept on record: ``days`` or calendar ``months`` after
    its expiry (the licence register's one-year overlap, Überliegefrist). Kept, it no
    longer counts for the score but still for measures, and its statement line says
    until when; after that it is deleted from statements (the ledger keeps it)."""

    days: Days | None = None
    months: Annotated[int, Field(gt=0, le=1200)] | None = None


class Export(_Strict):
    """Grades of this rulebook become records of another (a linked rulebook): a run's
    subjects graded one of ``grades`` become records of the mapped parameter, dated the
    run's day, sent by ``institution`` to the other rulebook's ledger (the village's
    stars feed the district's points at the year's end). ``direct_only``: only standing
    direct grades (a district's downgrade counted in the village). ``year_end``: only a
    run as of 31 December exports."""

    code: Code
    name: str = ""
    institution: Code
    subjects: Literal["citizen", "organisation", "any"] = "citizen"
    grades: Annotated[
        dict[Annotated[str, Field(min_length=1, max_length=8)], Code], Field(min_length=1)
    ]
    direct_only: bool = False
    year_end: bool = False


class RulebookSpec(_Strict):
    """A whole rulebook, as written in its YAML file."""

    name: Code
    version: str
    title: str = ""
    effective: dt.date
    base_score: int = 1000
    floor: Bound | None = Field(
        default=None,
        description="The lowest score a subject can have: a lower score is raised to it, "
        "after points, caps, mechanics and contagion (default: none).",
    )
    ceiling: Bound | None = Field(
        default=None,
        description="The highest score a subject can have: a higher score is lowered to it "
        "(default: none).",
    )
    grades: Grades
    camera: CameraRules = CameraRules()
    reports: Verification = Verification()
    institutions: Annotated[list[Institution], Field(min_length=1)]
    categories: Annotated[list[Category], Field(min_length=1)]
    parameters: list[Parameter] = Field(default_factory=list)
    stages: list[Stage] = Field(
        default_factory=list,
        description="Named stages by score, most severe last; a subject is at the last "
        "stage whose threshold its score meets.",
    )
    representatives: Representatives | None = None
    contagion: Contagion | None = None
    lists: list[BlackList] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    retroactive: list[Code] = Field(
        default_factory=list,
        description="Parameters whose points this version applies to records from before "
        "its effective date too. Every other record keeps the value of the version in force "
        "on the day of its fact; the audit flags each retroactive parameter.",
    )
    grade_limits: list[GradeLimit] = Field(
        default_factory=list,
        description="Ceilings on grades under conditions, applied after the score, the "
        "direct grades and contagion; the most restrictive that applies wins.",
    )
    measures: list[Measure] = Field(
        default_factory=list,
        description="Measures that are not sums of points: weighted, normalised and ranked "
        "among peers (section 3.26).",
    )
    retention: Retention | None = Field(
        default=None,
        description="How long an expired record is kept on record after its expiry "
        "(section 3.29); none: for ever.",
    )
    exports: list[Export] = Field(
        default_factory=list,
        description="Grades that become records of another rulebook (section 3.28).",
    )
    appeals: Appeals = Field(
        default=Appeals(),
        description="The deadline for reviewing an appeal (default: 7 working days).",
    )
    catalogue: str | None = Field(
        default=None,
        description="A CSV (.csv, .csv.gz) or Parquet file of further parameters, "
        "relative to the YAML file; its columns are the parameter fields, with lists "
        "separated by ';'.",
    )
