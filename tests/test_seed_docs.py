"""docs/rulebook.md section 4 (and the README) agree with the seed rulebook itself.

The tables between ``seed-facts`` markers must be what ``socialrating.rulebook.seedfacts``
generates. Every figure the text of section 4 quotes outside them is checked by a claim:
a pattern of the text whose groups are the figures, and what the seed says they are. A
number that neither a claim nor ALLOWED accounts for fails the last test, so a figure
added to the text comes with its check.
"""

from __future__ import annotations

import math
import re
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import ROOT, SEED

from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.rulebook.schema import Band, Parameter
from socialrating.rulebook.seedfacts import ORGANISATION_AREAS, doc_blocks, seed_facts
from socialrating.simulate.scenario import DEFAULT_SCENARIO, load_scenario

DOC = ROOT / "docs" / "rulebook.md"
README = ROOT / "README.md"
SCRIPT = ROOT / "scripts" / "make_seed_catalogue.py"
REGENERATE = ".venv/bin/python -m socialrating.rulebook.seedfacts --write"
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "nine": 9}


def value(p: Parameter) -> float:
    """A parameter's points, or for one banded by quantity, its highest band's."""
    if p.bands is None:
        return p.points or 0
    return max(step.points or step.per_unit or 0 for step in p.bands.steps)


class Seed:
    """The seed rulebook, with the look-ups the claims need."""

    def __init__(self, rb: Rulebook) -> None:
        self.rb = rb
        self.spec = rb.spec
        self.base = rb.spec.base_score

    def p(self, code: str) -> Parameter:
        return next(p for p in self.spec.parameters if p.code == code)

    def list(self, code: str) -> Any:
        return next(lst for lst in self.spec.lists if lst.code == code)

    def category(self, code: str) -> Any:
        return next(c for c in self.spec.categories if c.code == code)

    def grade(self, score: int, kind: str = "citizen") -> str:
        return self.rb.grade_of(score, kind)

    def band_range(self, grade: str, kind: str = "citizen") -> tuple[int, int]:
        """The lowest and highest score of a band that has a ``min``."""
        bands: list[Band] = self.rb.bands(kind)
        i = next(i for i, b in enumerate(bands) if b.grade == grade)
        low, above = bands[i].min, bands[i - 1].min
        assert low is not None and above is not None and i > 0
        return low, above - 1

    def institutions(self, cls: str) -> list[str]:
        return [i.code for i in self.spec.institutions if i.class_.value == cls]

    def count(self, pattern: str, cls: str | None = None) -> int:
        codes = [i.code for i in self.spec.institutions if cls in (None, i.class_.value)]
        return sum(bool(re.fullmatch(pattern, c)) for c in codes)

    def area_parameters(self) -> list[Parameter]:
        return [p for p in self.spec.parameters if p.category in ORGANISATION_AREAS]

    def catalogue(self, column: str) -> list[Any]:
        values: list[Any] = (
            self.rb.parameters.column(column).slice(len(self.spec.parameters)).to_pylist()
        )
        return values

    @cached_property
    def script(self) -> dict[str, Any]:
        """The constants of scripts/make_seed_catalogue.py (its main does not run)."""
        return runpy.run_path(str(SCRIPT))

    def mean_deduction(self, category: str) -> float:
        """The mean of a category's fixed deductions (per-unit ones left out)."""
        fixed = [
            p.points
            for p in self.spec.parameters
            if p.category == category and p.points < 0 and not p.per_unit
        ]
        return sum(fixed) / len(fixed)

    def lifetime(self, p: Parameter) -> int:
        """The longest a record of ``p`` can count."""
        days = [v.days for v in p.validity or []] + [p.expires_after_days or 0]
        return max(days)


Expected = tuple[object, ...]


@dataclass(frozen=True)
class Claim:
    """A pattern of section 4's text (whitespace collapsed, minus and dashes as ``-``,
    ``…`` as ``...``) whose groups are figures, and what the seed says they are: a value,
    or a test a value must pass. ``holds`` checks what the words claim beyond figures."""

    pattern: str
    figures: Callable[[Seed], Expected] = lambda s: ()
    holds: Callable[[Seed], bool] = lambda s: True


def org_scale(s: Seed) -> Expected:
    """Minor lapses (up to 30 points), moderate violations (50), serious ones, the gravest."""
    fixed = sorted({-p.points for p in s.area_parameters() if p.points < 0 and not p.per_unit})
    minor = [x for x in fixed if x <= 30]
    moderate = [x for x in fixed if 30 < x <= 50]
    serious = [x for x in fixed if 50 < x < fixed[-1]]
    gravest = [p for p in s.area_parameters() if p.points == -fixed[-1]]
    (days,) = {p.expires_after_days for p in gravest}
    return (
        -minor[0],
        -minor[-1],
        *[-x for x in moderate],
        -serious[0],
        -serious[-1],
        -fixed[-1],
        days,
        s.grade(s.base - fixed[-1], "organisation"),
    )


def tail_points(s: Seed) -> Expected:
    points = s.catalogue("points")
    small_ded = max(x for x, _ in s.script["SMALL_DEDUCTIONS"])
    small_add = max(x for x, _ in s.script["SMALL_ADDITIONS"])
    small = sum(-small_ded <= x <= -1 or 1 <= x <= small_add for x in points)
    assert small / len(points) > 0.9, "most of the tail's points are small"
    return (
        max(x for x in points if x < 0),
        -small_ded,
        min(x for x in points if x > 0),
        small_add,
        min(points),
        max(points),
    )


def gzip_mtime(path: Path) -> int:
    return int.from_bytes(path.read_bytes()[4:8], "little")


def single(values: object) -> object:
    (value,) = set(values)  # type: ignore[call-overload]
    return value


def years(days: int | None) -> float:
    """Whole years of 365 days (a validity written in days)."""
    return round((days or 0) / 365)


def bands_of(s: Seed, code: str) -> Any:
    bands = s.p(code).bands
    assert bands is not None, f"{code} has no bands"
    return bands


def volunteering(s: Seed) -> Expected:
    """The volunteering bands' first and last step: points and hours."""
    steps = bands_of(s, "charity.volunteer_hours").steps
    return steps[0].points, steps[0].from_, steps[-1].points, steps[-1].from_


def validity_by_level(s: Seed, code: str) -> dict[str | None, int]:
    return {v.level: v.days for v in s.p(code).validity or []}


# The sources table: each borrowed rule's figures against the shipped seed.
SOURCES = [
    Claim(
        r"base (\d+); citizen grades AAA ≥ (\d+), AA ≥ (\d+), A ≥ (\d+), B ≥ (\d+), "
        r"C ≥ (\d+), D below; A the default",
        lambda s: (s.base, *[b.min for b in s.spec.grades.citizen[:-1]]),
        lambda s: s.rb.grade_of(s.base, "citizen") == "A",
    ),
    Claim(
        r"graded D directly, for (\d+) years \(`courts\.dishonest_debtor`, (\d+) days\)",
        lambda s: (
            years(s.p("courts.dishonest_debtor").expires_after_days),
            s.p("courts.dishonest_debtor").expires_after_days,
        ),
    ),
    Claim(
        r"a repaired court debt: (-\d+) for (\d+) years, (-\d+) for organisations, (-\d+) "
        r"for their legal representatives",
        lambda s: (
            s.p("courts.debt_paid").points,
            years(s.p("courts.debt_paid").expires_after_days),
            s.p("courts.debt_paid").points_organisation,
            s.p("courts.debt_paid").points_representative,
        ),
    ),
    Claim(
        r"volunteering: \+(\d+) from (\d+) hours to \+(\d+) from (\d+), (\w+) bands",
        lambda s: (*volunteering(s), len(bands_of(s, "charity.volunteer_hours").steps)),
    ),
    Claim(r"blood donation \+(\d+) a donation", lambda s: (s.p("charity.blood_donation").points,)),
    Claim(
        r"a heroic act counts (\d+) years when recognised nationally, (\d+) provincially, "
        r"(\d+) otherwise",
        lambda s: tuple(
            years(validity_by_level(s, "heroism.heroic_act")[k])
            for k in ("national", "provincial", None)
        ),
    ),
    Claim(
        r"appeals answered within (\d+) working days",
        lambda s: (s.spec.appeals.deadline_days,),
        lambda s: s.spec.appeals.working_days,
    ),
    Claim(
        r"the dishonest-debtor list: (\d+) years \(`term_days: (\d+)`\), no minors",
        lambda s: (
            years(s.list("dishonest_debtors").term_days),
            s.list("dishonest_debtors").term_days,
        ),
        lambda s: s.list("dishonest_debtors").min_age == 18,
    ),
]

CLAIMS = [
    *SOURCES,
    # Appeals.
    Claim(
        r"takes the default \(1\.13, 3\.20\): a reviewer answers an appeal within (\d+) "
        r"working days",
        lambda s: (s.spec.appeals.deadline_days,),
        lambda s: s.spec.appeals.working_days and not s.spec.appeals.holidays,
    ),
    # The introduction.
    Claim(
        r"provinces \(`p01`-`p(\d+)`\) and cities \(`city01`-`city(\d+)`\)",
        lambda s: (s.count(r"police\.p\d\d"), s.count(r"camera\.city\d\d")),
        lambda s: s.count(r"police\.p\d\d") == s.count(r"court\.p\d\d"),
    ),
    # Grades.
    Claim(
        r"A new organisation starts in (\w+)",
        lambda s: (s.grade(s.base, "organisation"),),
    ),
    Claim(
        r"one moderate violation \(an emission limit exceeded, (-\d+)\) keeps it in (\w+), a "
        r"serious one \(illegal dumping, (-\d+)\) makes it (\w+), tax evasion \((-\d+)\) "
        r"makes it (\w+)",
        lambda s: tuple(
            x
            for code in (
                "org.environment.emission_limit_exceeded",
                "org.environment.illegal_dumping",
                "org.tax.evasion",
            )
            for x in (s.p(code).points, s.grade(s.base + s.p(code).points, "organisation"))
        ),
    ),
    # Pilot mechanics.
    Claim(
        r"`courts\.dishonest_debtor` grades (\w+) directly for (\d+) days \(score (\d+) for "
        r"citizens, (\d+) for organisations",
        lambda s: (
            g := s.p("courts.dishonest_debtor").direct_grade,
            s.p("courts.dishonest_debtor").expires_after_days,
            s.rb.direct_score("citizen", str(g)),
            s.rb.direct_score("organisation", str(g)),
        ),
    ),
    Claim(
        r"`courts\.debt_paid` ends it and counts (-\d+) for (\d+) days instead \((-\d+) for "
        r"organisations, and (-\d+) for a citizen who is an organisation's legal representative",
        lambda s: (
            s.p("courts.debt_paid").points,
            s.p("courts.debt_paid").expires_after_days,
            s.p("courts.debt_paid").points_organisation,
            s.p("courts.debt_paid").points_representative,
        ),
        lambda s: s.p("courts.debt_paid").repairs == ["courts.dishonest_debtor"],
    ),
    Claim(
        r"the `(\w+)` category doubles an offence committed while an earlier one still counts "
        r"\(`repeat: \{factor: (\d+)\}`, not compounding\)",
        lambda s: (single(c.code for c in s.spec.categories if c.repeat), 2),
        lambda s: (r := s.category("traffic").repeat) is not None and not r.compound,
    ),
    Claim(
        r"`charity\.volunteer_hours` earns \+(\d+) from (\d+) hours rising to \+(\d+) from "
        r"(\d+) \((\w+) band\)",
        lambda s: (*volunteering(s), bands_of(s, "charity.volunteer_hours").mode),
    ),
    Claim(
        r"`charity\.donation` earns ([\d.]+) point per 100 yuan up to ([\d,]+), ([\d.]+) per "
        r"100 up to ([\d,]+) and ([\d.]+) above \((\w+) bands\)",
        lambda s: (
            (st := s.p("charity.donation").bands.steps)[0].per_unit * 100,  # type: ignore[union-attr]
            st[1].from_,
            st[1].per_unit * 100,  # type: ignore[operator]
            st[2].from_,
            st[2].per_unit * 100,  # type: ignore[operator]
            s.p("charity.donation").bands.mode,  # type: ignore[union-attr]
        ),
        lambda s: len(s.p("charity.donation").bands.steps) == 3,  # type: ignore[union-attr]
    ),
    Claim(
        r"the `charity` cap is (\d+) a calendar year",
        lambda s: (s.category("charity").cap.max_addition,),
        lambda s: s.category("charity").cap.calendar_year,
    ),
    Claim(
        r"`heroism\.heroic_act` counts (\d+) days when recognised nationally, (\d+) "
        r"provincially, (\d+) otherwise",
        lambda s: tuple(
            next(v.days for v in s.p("heroism.heroic_act").validity or [] if v.level == level)
            for level in ("national", "provincial", None)
        ),
    ),
    Claim(
        r"`traffic\.safety_course` restores (\d+) points to a citizen between (\d+) and (\d+) "
        r"points, at most once in (\d+) days",
        lambda s: (
            s.p("traffic.safety_course").points,
            (r := s.p("traffic.safety_course").reduction) and r.balance_from,
            r and r.balance_to,
            r and r.once_in_days,
        ),
    ),
    # Camera and reports.
    Claim(
        r"`camera\.min_confidence` is ([\d.]+), enough for illegal parking, identified by its "
        r"number plate; the other camera-detectable traffic offences require ([\d.]+)",
        lambda s: (
            s.spec.camera.min_confidence,
            single(
                p.min_confidence
                for p in s.spec.parameters
                if p.category == "traffic"
                and p.code != "traffic.illegal_parking"
                and any(i.startswith("camera.") for i in p.institutions)
            ),
        ),
        lambda s: (
            s.p("traffic.illegal_parking").min_confidence is None
            and any(i.startswith("camera.") for i in s.p("traffic.illegal_parking").institutions)
        ),
    ),
    Claim(
        r"pedestrian detections \(jaywalking, smoking in a no-smoking zone, littering\) ([\d.]+)",
        lambda s: (
            single(p.min_confidence for p in s.spec.parameters if p.category == "public_order"),
        ),
    ),
    Claim(
        r"when (\d+) distinct citizens report the same person for the same thing within one "
        r"(\d+)-day window",
        lambda s: (s.spec.reports.reporters, s.spec.reports.window_days),
        lambda s: s.spec.reports.by_authority,
    ),
    Claim(
        r"neglect of ageing parents and exam cheating count only when an authority verifies them",
        holds=lambda s: all(
            (v := s.p(code).verification) is not None and v.by_authority and v.reporters is None
            for code in ("family.poor_care_of_parents", "education.exam_cheating")
        ),
    ),
    Claim(
        r"neighbour noise allows (\d+) reporters in (\d+) days",
        lambda s: (
            (v := s.p("neighbours.noise").verification) and v.reporters,
            v and v.window_days,
        ),
    ),
    # Institutions.
    Claim(
        r"\| state \| (\d+) national bodies \(",
        lambda s: (len(s.institutions("state")) - s.count(r"(police|court)\.p\d\d"),),
    ),
    Claim(
        r"(\d+) provincial public security departments \(`police\.p01`-`p(\d+)`",
        lambda s: (s.count(r"police\.p\d\d", "state"),) * 2,
    ),
    Claim(
        r"(\d+) provincial high people's courts \(`court\.p01`-`p(\d+)`\)",
        lambda s: (s.count(r"court\.p\d\d", "state"),) * 2,
    ),
    Claim(
        r"\| nonstate \| (\d+) banks, a microcredit and a consumer finance company, an insurer, "
        r"(\d+) payment platforms; (\d+) e-commerce platforms and (\d+) retail QR checkout "
        r"networks; (\d+) telecom operators; (\d+) online platforms; (\d+) game operators; a "
        r"bicycle rental company \|",
        lambda s: (
            *[
                s.count(rf"({prefix})\..+", "nonstate")
                for prefix in ("bank", "payment", "ecommerce", "qr_retail", "telecom")
            ],
            s.count(r"(social|video|forum)\..+", "nonstate"),
            s.count(r"games\..+", "nonstate"),
        ),
        lambda s: (
            s.count(r"(microloan|consumer_finance|insurance|bike_rental)\..+", "nonstate") == 4
            and len(s.institutions("nonstate")) == s.count(r".+", "nonstate")
        ),
    ),
    Claim(
        r"\| camera \| (\d+) city camera networks and the national expressway network \|",
        lambda s: (s.count(r"camera\.city\d\d", "camera"),),
        lambda s: (
            s.institutions("camera")[-1:] == ["camera.expressways"]
            and len(s.institutions("camera")) == s.count(r"camera\.city\d\d") + 1
        ),
    ),
    Claim(
        r"Organisation parameters are reported by state authorities only",
        holds=lambda s: all(
            set(codes.split(";")) <= set(s.institutions("state"))
            for subjects, codes in zip(
                s.rb.parameters.column("subjects").to_pylist(),
                s.rb.parameters.column("institutions").to_pylist(),
                strict=True,
            )
            if subjects == "organisation"
        ),
    ),
    # Categories.
    Claim(
        r"each with a cap per (\d+)-day window where one makes sense \(`(\w+)`'s per calendar "
        r"year\)",
        lambda s: (
            single(c.cap.period_days for c in s.spec.categories if c.cap and c.cap.period_days),
            single(c.code for c in s.spec.categories if c.cap and c.cap.calendar_year),
        ),
    ),
    Claim(
        r"`traffic`: the cap is (\w+) drunk-driving findings, so a year of offences takes a "
        r"citizen from (\w+) to (\w+) at most, never to (\w+) by traffic alone",
        lambda s: (
            (cap := s.category("traffic").cap.max_deduction)
            // -s.p("traffic.drunk_driving").points,
            s.grade(s.base),
            s.grade(s.base - cap),
            s.rb.bands("citizen")[-1].grade,
        ),
        lambda s: (
            s.grade(s.base - s.category("traffic").cap.max_deduction)
            != s.rb.bands("citizen")[-1].grade
        ),
    ),
    Claim(
        r"`charity`: giving cannot earn more than (\d+) points a calendar year; (\w+) blood "
        r"donations fit",
        lambda s: (
            s.category("charity").cap.max_addition,
            lambda n: (
                n * s.p("charity.blood_donation").points <= s.category("charity").cap.max_addition
            ),
        ),
    ),
    Claim(
        r"`loans`: \+(\d+) per on-time instalment, (\d+) a year",
        lambda s: (
            (n := s.p("loans.repayment_on_time").points),
            s.category("loans").cap.max_addition / n,
        ),
    ),
    Claim(r"`courts`: no cap", holds=lambda s: s.category("courts").cap is None),
    Claim(
        r"`contacts`, `lists`, `registry`: no cap, since their records carry no points",
        holds=lambda s: all(
            s.category(c).cap is None
            and all(p.points == 0 for p in s.spec.parameters if p.category == c)
            for c in ("contacts", "lists", "registry")
        ),
    ),
    Claim(
        r"`organisation_tax`, `organisation_hiring`: taxes and hiring weigh most \(SPEC section "
        r"7\), so their caps are the largest",
        holds=lambda s: (
            min(
                s.category(c).cap.max_deduction for c in ("organisation_tax", "organisation_hiring")
            )
            > max(
                s.category(c).cap.max_deduction
                for c in ORGANISATION_AREAS
                if c not in ("organisation_tax", "organisation_hiring")
            )
        ),
    ),
    # The scale for citizens.
    Claim(
        r"a citizen at (\d+) falls to (\w+) \((\d+)-(\d+)\) with one drunk-driving finding or "
        r"one protest, to (\w+) \((\d+)-(\d+)\) by organising a protest, straight to (\w+) with "
        r"a dishonest-debtor finding",
        lambda s: (
            s.base,
            (b := s.grade(s.base + s.p("traffic.drunk_driving").points)),
            *s.band_range(b),
            (c := s.grade(s.base + s.p("assembly.protest_organising").points)),
            *s.band_range(c),
            s.p("courts.dishonest_debtor").direct_grade,
        ),
        lambda s: (
            s.grade(s.base + s.p("assembly.protest_participation").points)
            == s.grade(s.base + s.p("traffic.drunk_driving").points)
        ),
    ),
    Claim(
        r"(\w+) \((\d+)\) needs sustained good conduct",
        lambda s: (s.rb.bands("citizen")[0].grade, s.rb.bands("citizen")[0].min),
    ),
    # Organisation requirements.
    Claim(
        r'the "about (\d+) requirements" of SPEC section 7, in (\w+) areas',
        lambda s: (len(s.area_parameters()), len(ORGANISATION_AREAS)),
    ),
    Claim(
        r"reported by state authorities only \(tax and customs;",
        holds=lambda s: all(
            set(p.institutions) <= set(s.institutions("state")) for p in s.area_parameters()
        ),
    ),
    Claim(
        r"expire after (\d+) to (\d+) days, longer for graver ones",
        lambda s: (
            min(p.expires_after_days or 0 for p in s.area_parameters()),
            max(p.expires_after_days or 0 for p in s.area_parameters()),
        ),
    ),
    Claim(
        r"minor lapses (-\d+) to (-\d+), moderate violations (-\d+), serious ones (-\d+) to "
        r"(-\d+), the gravest (-\d+) \((\d+) days; one of them alone makes an organisation (\w+)\)",
        org_scale,
    ),
    Claim(
        r"employees affected, (-\d+) or (-\d+) a unit\)",
        lambda s: tuple(
            sorted({p.points for p in s.area_parameters() if p.per_unit}, reverse=True)
        ),
    ),
    Claim(
        r"a few small positive findings per area \((\+\d+) to (\+\d+),",
        lambda s: (
            min(p.points for p in s.area_parameters() if p.points > 0),
            max(p.points for p in s.area_parameters() if p.points > 0),
        ),
    ),
    Claim(
        r"their mean deduction is the heaviest and their caps the largest",
        holds=lambda s: (
            set(sorted(ORGANISATION_AREAS, key=s.mean_deduction)[:2])
            == {"organisation_tax", "organisation_hiring"}
        ),
    ),
    Claim(
        r"of its requirements only `org\.cyber\.content_moderation_failure` \(prohibited content "
        r"not removed in time\) carries an expression tag",
        holds=lambda s: (
            [
                p.code
                for p in s.area_parameters()
                if p.category == "organisation_cyber" and "expression" in p.tags
            ]
            == ["org.cyber.content_moderation_failure"]
        ),
    ),
    # Expiry.
    Claim(
        r"Every deduction of the YAML expires, after (\d+) to (\d+) days \(the longest: a "
        r"conviction of three years or more\)",
        lambda s: (
            min(s.lifetime(p) for p in s.spec.parameters if value(p) < 0),
            max(s.lifetime(p) for p in s.spec.parameters if value(p) < 0),
        ),
        lambda s: (
            all(p.expires_after_days for p in s.spec.parameters if value(p) < 0)
            and max((p for p in s.spec.parameters if value(p) < 0), key=s.lifetime).code
            == "courts.conviction_major"
        ),
    ),
    Claim(
        r"credit records count (\d+) days",
        lambda s: (
            single(
                s.p(c).expires_after_days for c in ("finance.credit_card_arrears", "loans.default")
            ),
        ),
    ),
    Claim(
        r"Additions expire too, after (\d+) days for routine good conduct and up to (\d+) for a "
        r"heroic act recognised nationally",
        lambda s: (
            min(p.expires_after_days or 0 for p in s.spec.parameters if value(p) > 0),
            max(s.lifetime(p) for p in s.spec.parameters if value(p) > 0),
        ),
        lambda s: (
            all(p.expires_after_days for p in s.spec.parameters if value(p) > 0)
            and s.lifetime(s.p("heroism.heroic_act"))
            == max(s.lifetime(p) for p in s.spec.parameters if value(p) > 0)
        ),
    ),
    Claim(
        r"Contact records \((\d+) points\) expire after (\d+) days",
        lambda s: (
            s.p("contacts.telecom_contact").points,
            s.p("contacts.telecom_contact").expires_after_days,
        ),
    ),
    # The long tail.
    Claim(
        r"fixed seed (\d+), gzip mtime (\d+)",
        lambda s: (s.script["SEED"], gzip_mtime(SEED.parent / str(s.spec.catalogue))),
    ),
    Claim(
        r"YAML and catalogue always make exactly ([\d,]+)",
        lambda s: (s.rb.parameters.num_rows,),
        lambda s: s.script["TOTAL_PARAMETERS"] == s.rb.parameters.num_rows,
    ),
    Claim(
        r"Codes are `tail\.<category>\.<(\d+)>`",
        lambda s: (min(int(c.rsplit(".", 1)[1]) for c in s.catalogue("code")),),
        lambda s: all(
            re.fullmatch(rf"tail\.{re.escape(cat)}\.\d{{6}}", code)
            for code, cat in zip(s.catalogue("code"), s.catalogue("category"), strict=True)
        ),
    ),
    Claim(
        r"points are mostly (-\d+) \.\.\. (-\d+) or (\+\d+) \.\.\. (\+\d+) with a few larger "
        r"\(up to (-\d+) and (\+\d+)\)",
        tail_points,
    ),
    Claim(
        r"expiry grows with the deduction \((\d+)-(\d+) days\)",
        lambda s: (min(s.catalogue("expiry_days")), max(s.catalogue("expiry_days"))),
    ),
    Claim(
        r"(\w+) to (\w+) institutions own each row",
        lambda s: (
            min(len(x.split(";")) for x in s.catalogue("institutions")),
            max(len(x.split(";")) for x in s.catalogue("institutions")),
        ),
    ),
    Claim(
        r"The categories `contacts`, `lists` and `registry` have no tail rows",
        holds=lambda s: (
            {c.code for c in s.spec.categories} - set(s.catalogue("category"))
            == {"contacts", "lists", "registry"}
        ),
    ),
    # Contagion.
    Claim(
        r"telecom contacts \(`contacts\.telecom_contact`, (\d+) points, from the (\w+) "
        r"operators\) of the last (\d+) days cost an exposed citizen (\d+) points per distinct "
        r"grade-(\w+) contact, at most (\d+), in (\w+) rounds",
        lambda s: (
            s.p("contacts.telecom_contact").points,
            len(s.p("contacts.telecom_contact").institutions),
            (c := s.spec.contagion) and c.window_days,
            c and -c.points,
            c and single(c.from_grades),
            c and c.max_deduction,
            c and c.rounds,
        ),
        lambda s: (
            s.spec.contagion is not None
            and s.spec.contagion.parameter == "contacts.telecom_contact"
            and sorted(s.p("contacts.telecom_contact").institutions)
            == sorted(i for i in s.institutions("nonstate") if i.startswith("telecom."))
        ),
    ),
    Claim(
        r"In the demo \((\d+) contact records a citizen a year",
        lambda s: (load_scenario(DEFAULT_SCENARIO).records.contacts_per_year,),
    ),
]

# Numbers of the text that are not figures of the seed.
ALLOWED = [
    r"\| \d\.\d[^|]*\|",  # a source's section of REAL_RULES.md, in the sources table
    r"SPEC section \d+('s)?",  # the specification's sections
    r"section \d+",
    r"\(\d\.\d+\)",  # this file's sections
    r"COVID-19",
    r"court list would set 15 calendar days",  # another rulebook's, not the seed's
    r"about \d+ % of citizens lose points",  # an outcome of the demo, not of the seed
]


def section_4(text: str) -> str:
    start = text.index("\n", text.index("## 4. The seed rulebook"))  # after the heading
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def prose(text: str) -> str:
    """Section 4 without its generated blocks, in one line, with plain dashes."""
    body = section_4(text)
    for name, block in doc_blocks(body).items():
        body = body.replace(block, f"[{name}]")
    for char, plain in (("\u2212", "-"), ("\u2013", "-"), ("\u2026", "...")):
        body = body.replace(char, plain)
    return " ".join(body.split())


def number(text: str) -> float:
    if text.lower() in WORDS:
        return WORDS[text.lower()]
    return float(text.replace(",", "").replace("+", ""))


def agrees(found: str, expected: object) -> bool:
    if callable(expected):
        return bool(expected(number(found)))
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return math.isclose(number(found), expected)
        except ValueError:
            return False
    return found == str(expected)


@pytest.fixture(scope="module")
def seed() -> Seed:
    return Seed(load_rulebook(SEED))


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_figures_are_generated_from_the_seed(seed: Seed, text: str) -> None:
    expected = seed_facts(seed.rb)
    found = doc_blocks(section_4(text))
    assert sorted(found) == sorted(expected), f"blocks missing or unknown: run {REGENERATE}"
    for name, block in expected.items():
        assert found[name] == block, (
            f"docs/rulebook.md: the block {name!r} disagrees with the seed: run {REGENERATE}"
        )


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda c: c.pattern[:40])
def test_a_figure_in_the_text_agrees_with_the_seed(seed: Seed, text: str, claim: Claim) -> None:
    matches = list(re.finditer(claim.pattern, prose(text)))
    assert matches, f"section 4 no longer says /{claim.pattern}/: update the claim with the text"
    expected = claim.figures(seed)
    for m in matches:
        found = m.groups()
        assert len(found) == len(expected), "a claim gives one value per group"
        wrong = [
            (f, e if not callable(e) else "(a bound)")
            for f, e in zip(found, expected, strict=True)
            if not agrees(f, e)
        ]
        assert not wrong, f"section 4 says {m.group(0)!r}; the seed has {expected}"
    assert claim.holds(seed), f"section 4 says {matches[0].group(0)!r}, which the seed contradicts"


def test_every_number_in_the_text_is_checked(text: str) -> None:
    body = prose(text)
    checked = [False] * len(body)
    for pattern in [c.pattern for c in CLAIMS] + ALLOWED:
        for m in re.finditer(pattern, body):
            checked[m.start() : m.end()] = [True] * (m.end() - m.start())
    rest = "".join("#" if done else char for char, done in zip(body, checked, strict=True))
    left = [rest[max(0, m.start() - 40) : m.end() + 40] for m in re.finditer(r"\d+", rest)]
    assert not left, "figures in section 4 without a claim in tests/test_seed_docs.py: " + (
        " | ".join(left)
    )


def test_the_readme_quotes_the_seed(seed: Seed) -> None:
    readme = README.read_text(encoding="utf-8")
    (n,) = re.findall(r"records from (\d+) institutions", readme)
    assert int(n) == len(seed.spec.institutions)


def test_seed_facts_runs_as_a_module(tmp_path: Path, text: str, seed: Seed) -> None:
    from socialrating.rulebook.seedfacts import main, with_blocks

    doc = tmp_path / "rulebook.md"
    stale = with_blocks(text, {"summary": "| stale |"})
    doc.write_text(stale, encoding="utf-8")
    assert main(["--write", "--doc", str(doc)]) == 0
    assert doc.read_text(encoding="utf-8") == with_blocks(text, seed_facts(seed.rb))
    with pytest.raises(ValueError, match="no markers"):
        with_blocks("no markers here", {"summary": ""})
