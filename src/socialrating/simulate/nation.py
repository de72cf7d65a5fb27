"""A synthetic nation: citizens in households, organisations of several sizes, and the
attributes the registry keeps.

Citizens live in households (people alone, couples, parents with children, three
generations under one roof, elderly couples whose children live nearby), numbered
household by household, so that neighbours in the numbering are neighbours in life and
share a region. Each citizen has an occupation that follows from their age, an income
that follows from occupation and region, an employer if they are employed, and a
sociability (how many contacts they make and receive: most few, a few very many).

Every draw comes from the ``numpy.random.Generator`` passed in; the same seed gives the
same nation. Conduct, occupation, income, households and sociability are simulation
state, never stored in the registry (which keeps code, kind, birth date, sex and region).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from socialrating.model import day_number
from socialrating.simulate.scenario import Conduct, Population, Records

REGIONS = tuple(f"region-{i:02d}" for i in range(1, 35))  # 34 provincial-level divisions

OCCUPATIONS = (
    "child",
    "student",
    "farmer",
    "worker",
    "service",
    "office",
    "self_employed",
    "manager",
    "civil_servant",
    "unemployed",
    "retired",
)
"""Occupations, by the index ``Nation.occupation`` holds."""
(CHILD, STUDENT, FARMER, WORKER, SERVICE, OFFICE, SELF_EMPLOYED, MANAGER, CIVIL_SERVANT) = range(9)
UNEMPLOYED, RETIRED = 9, 10
_WORKING = np.array([0.24, 0.22, 0.2, 0.14, 0.08, 0.04, 0.04, 0.04])
"""Shares of the working-age population from FARMER to UNEMPLOYED (synthetic)."""
_MEDIAN_INCOME = np.array([0, 0, 18, 60, 48, 85, 70, 160, 95, 6, 30], dtype=float) * 1000
"""Median yearly income by occupation, in yuan (synthetic)."""
EMPLOYEES = (WORKER, SERVICE, OFFICE, MANAGER)
"""The occupations an organisation employs."""

# Households: people alone (working age), elderly alone, couples, elderly couples,
# couples with children, three generations (a couple, children and one or two of a
# spouse's parents). Shares of households, loosely after a national census (about 2.8
# people a household).
_HOUSEHOLDS = np.array([0.16, 0.09, 0.12, 0.12, 0.33, 0.18])
ALONE, ELDER_ALONE, COUPLE, ELDER_COUPLE, FAMILY, GENERATIONS = range(6)


@dataclass(frozen=True)
class Nation:
    """The synthetic population.

    Attributes:
        subjects: the registry rows (code, kind, born, sex, region), citizens first.
        citizens: how many of the subjects are citizens.
        conduct: per subject, a latent tendency to misbehave (0 is typical; higher is worse).
    """

    subjects: pa.Table
    citizens: int
    conduct: np.ndarray
    adult: np.ndarray
    """Per citizen, whether of an age to represent an organisation (25 to 75)."""
    age: np.ndarray
    """Per citizen, age in whole years on the day the nation is drawn."""
    household: np.ndarray
    """Per citizen, its household (households are numbered, and hold consecutive citizens)."""
    parent: np.ndarray
    """Per citizen, a parent of 60 or over (the citizen's place), or -1."""
    occupation: np.ndarray
    """Per citizen, an index into ``OCCUPATIONS``."""
    income: np.ndarray
    """Per citizen, yearly income in yuan."""
    employer: np.ndarray
    """Per citizen, the employing organisation's place among the subjects, or -1."""
    sociability: np.ndarray
    """Per citizen, contacts made and received relative to the average citizen's (mean 1)."""
    size: np.ndarray
    """Per organisation, its employees among the citizens."""

    @property
    def organisations(self) -> int:
        return int(self.subjects.num_rows) - self.citizens

    def population(self) -> pa.Table:
        """The citizens with the attributes the registry does not keep (``simulate`` writes
        it as ``population.parquet``)."""
        codes = self.subjects.column("code")
        n = self.citizens
        employer = self.employer
        return pa.table(
            {
                "code": codes.slice(0, n),
                "household": pa.array(self.household, pa.int64()),
                "age": pa.array(self.age, pa.int16()),
                "occupation": pa.DictionaryArray.from_arrays(
                    pa.array(self.occupation, pa.int8()), pa.array(OCCUPATIONS)
                ),
                "income": pa.array(self.income, pa.int64()),
                "employer": codes.take(pa.array(np.maximum(employer, 0), mask=employer < 0)),
                "parent": codes.take(pa.array(np.maximum(self.parent, 0), mask=self.parent < 0)),
                "sociability": pa.array(np.round(self.sociability, 3)),
                "region": self.subjects.column("region").slice(0, n),
            }
        )


def citizen_code(i: int) -> str:
    return f"C{i + 1:09d}"


def organisation_code(i: int) -> str:
    return f"O{i + 1:08d}"


@dataclass(frozen=True)
class _People:
    """Citizens as households make them (see ``_households``)."""

    age: np.ndarray
    household: np.ndarray
    parent: np.ndarray
    female: np.ndarray
    region: np.ndarray


def make_nation(
    rng: np.random.Generator,
    citizens: int,
    organisations: int,
    today: dt.date,
    conduct: Conduct | None = None,
    population: Population | None = None,
    records: Records | None = None,
) -> Nation:
    """Draw a nation of ``citizens`` persons and ``organisations`` organisations, their
    conduct as the scenario's ``conduct`` says and their lives as its ``population`` and
    ``records`` (sociability) say."""
    conduct = conduct or Conduct()
    population = population or Population()
    records = records or Records()
    weights = rng.lognormal(0.0, 0.6, len(REGIONS))
    people = _households(rng, citizens, weights / weights.sum())
    born_days = (
        day_number(today) - (people.age * 365.25).astype(np.int64) - rng.integers(0, 365, citizens)
    )
    citizen_codes = pa.array([citizen_code(i) for i in range(citizens)], pa.string())
    org_codes = pa.array([organisation_code(i) for i in range(organisations)], pa.string())
    n = citizens + organisations
    org_region = rng.choice(len(REGIONS), size=organisations, p=weights / weights.sum())
    region_idx = np.concatenate([people.region, org_region])
    subjects = pa.table(
        {
            "code": pa.concat_arrays([citizen_codes, org_codes]),
            "kind": pa.array(["citizen"] * citizens + ["organisation"] * organisations),
            "born": pa.concat_arrays(
                [
                    pa.array(born_days.astype(np.int32), pa.int32()).cast(pa.date32()),
                    pa.nulls(organisations, pa.date32()),
                ]
            ),
            "sex": pa.concat_arrays(
                [
                    pa.array(np.where(people.female, "F", "M").tolist(), pa.string()),
                    pa.nulls(organisations, pa.string()),
                ]
            ),
            "region": pa.array(np.asarray(REGIONS)[region_idx].tolist(), pa.string()),
        }
    )
    # Most subjects behave typically; a few behave badly often, which is what produces
    # the C and D grades and the blacklists of the described system. Each kind's groups
    # hold their shares exactly (stratified uniforms, in a random order): a small nation's
    # few who misbehave, and so its lists, are not left to chance.
    group = np.concatenate(
        [(rng.permutation(m) + rng.random(m)) / max(m, 1) for m in (citizens, organisations)]
    )
    latent = rng.normal(0.0, conduct.spread, n)
    for g in conduct.groups:
        latent += np.where(group < g.share, g.shift, 0.0)
    occupation = _occupations(rng, people.age, people.female)
    income = _incomes(rng, occupation, people.region)
    employer, size = _employers(rng, occupation, organisations, population)
    tail = records.sociability_tail
    sociability = np.minimum(rng.pareto(tail, citizens) + 1.0, 100.0)
    if citizens:
        sociability /= sociability.mean()
    return Nation(
        subjects,
        citizens,
        latent,
        (people.age >= 25) & (people.age <= 75),
        people.age,
        people.household,
        people.parent,
        occupation,
        income,
        np.where(employer >= 0, employer + citizens, -1),
        sociability,
        size,
    )


def _households(rng: np.random.Generator, citizens: int, region_share: np.ndarray) -> _People:
    """Citizens drawn household by household (see the module), cut at ``citizens``."""
    h = citizens // 2 + 8  # more households than needed (each holds one or more)
    kind = rng.choice(len(_HOUSEHOLDS), size=h, p=_HOUSEHOLDS)
    children = np.where(kind == FAMILY, 1 + rng.binomial(2, 0.35, h), 0)
    children = np.where(kind == GENERATIONS, 1 + rng.binomial(1, 0.4, h), children)
    adults = np.select([kind == ALONE, (kind == COUPLE) | (kind >= FAMILY)], [1, 2], 0)
    elders = np.select(
        [kind == ELDER_ALONE, kind == ELDER_COUPLE, kind == GENERATIONS],
        [1, 2, 1 + rng.binomial(1, 0.5, h)],
        0,
    )
    size = adults + children + elders
    ends = np.cumsum(size)
    h = int(np.searchsorted(ends, citizens)) + 1
    kind, children, adults, elders, size = kind[:h], children[:h], adults[:h], elders[:h], size[:h]
    household = np.repeat(np.arange(h), size)[:citizens]
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    slot = np.arange(len(household)) - start[household]
    # Within a household: the adults first, then the children, then the elders.
    a, c = adults[household], children[household]
    role = np.select([slot < a, slot < a + c], [0, 1], 2)
    # The adults' age sets the household's: parents of children, children of elders.
    head = np.where(
        kind == ALONE,
        rng.uniform(18, 60, h),
        np.where(kind == GENERATIONS, rng.uniform(28, 60, h), rng.uniform(22, 60, h)),
    )
    elder_base = rng.uniform(60, 92, h)
    m = len(household)
    own = rng.random(m)
    age = np.select(
        [role == 0, role == 1],
        [
            head[household] + rng.normal(0, 3, m),
            own * np.maximum(head[household] - 20, 0.5),
        ],
        np.where(
            kind[household] == GENERATIONS,
            head[household] + 22 + own * 13,
            elder_base[household] + rng.normal(0, 3, m),
        ),
    )
    age = np.clip(np.floor(np.where(role == 0, np.maximum(age, 18), age)), 0, 100).astype(np.int64)
    female = rng.random(m) < 0.5
    couple = ((role == 0) & (a == 2)) | ((role == 2) & (elders[household] == 2))
    first = slot == np.where(role == 0, 0, a + c)  # the first adult, or the first elder
    female = np.where(couple & ~first, ~np.roll(female, 1), female)
    # Parents of 60 or over: the elders of a three-generation household are the first
    # adult's (and so the household's children's grandparents); elders who live apart
    # have a child of working age in a nearby household.
    parent = np.full(m, -1, dtype=np.int64)
    eldest = start + adults + children  # the household's first elder's place
    gen = (kind[household] == GENERATIONS) & (role == 0) & (slot == 0)
    parent[gen] = eldest[household[gen]]
    apart = np.flatnonzero(np.isin(kind, (ELDER_ALONE, ELDER_COUPLE)) & (start < m))
    workers = np.flatnonzero((role == 0) & (age >= 30) & (age <= 65) & (parent < 0))
    if len(workers) and len(apart):
        apart = np.repeat(apart, 1 + rng.binomial(2, 0.5, len(apart)))  # one to three
        near = start[apart] + rng.integers(1, 400, len(apart))
        child = workers[np.minimum(np.searchsorted(workers, near), len(workers) - 1)]
        parent[child] = np.minimum(start[apart], m - 1)
    parent = np.where(parent < m, parent, -1)  # the last household is cut short
    elder = age[np.clip(parent, 0, m - 1)]
    parent = np.where((parent >= 0) & (elder >= 60) & (elder >= age + 18), parent, -1)
    # Regions in blocks of households, by population share: neighbours share a region.
    bounds = np.cumsum(region_share)
    region = np.minimum(np.searchsorted(bounds, household / max(h, 1), side="right"), 33)
    return _People(age, household, parent, female, region.astype(np.int64))


def _occupations(rng: np.random.Generator, age: np.ndarray, female: np.ndarray) -> np.ndarray:
    """An occupation per citizen, following from age (and the retirement ages)."""
    n = len(age)
    working = 2 + rng.choice(len(_WORKING), size=n, p=_WORKING / _WORKING.sum())
    retire = np.where(female, 55, 60)
    student = (age < 18) | ((age < 23) & (rng.random(n) < 0.6))
    return np.select(
        [age < 6, student, age >= retire + rng.integers(0, 6, n)],
        [CHILD, STUDENT, RETIRED],
        working,
    ).astype(np.int64)


def _incomes(rng: np.random.Generator, occupation: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Yearly income per citizen: the occupation's median, the region's level, and a
    personal spread (wider for the self-employed), rounded to 100 yuan."""
    level = rng.lognormal(0.0, 0.3, len(REGIONS))
    sigma = np.where(occupation == SELF_EMPLOYED, 0.9, 0.5)
    spread = np.exp(rng.normal(0.0, 1.0, len(occupation)) * sigma)
    income = _MEDIAN_INCOME[occupation] * level[region] * spread
    rounded: np.ndarray = (np.round(income / 100) * 100).astype(np.int64)
    return rounded


def _employers(
    rng: np.random.Generator, occupation: np.ndarray, organisations: int, population: Population
) -> tuple[np.ndarray, np.ndarray]:
    """Per citizen, the organisation that employs it (-1: none), and per organisation its
    employees: sizes are heavy-tailed (Pareto of shape ``organisation_size_tail``)."""
    employer = np.full(len(occupation), -1, dtype=np.int64)
    employed = np.flatnonzero(np.isin(occupation, EMPLOYEES))
    if organisations == 0 or len(employed) == 0:
        return employer, np.zeros(organisations, dtype=np.int64)
    pull = rng.pareto(population.organisation_size_tail, organisations) + 1.0
    employer[employed] = np.minimum(
        np.searchsorted(np.cumsum(pull) / pull.sum(), rng.random(len(employed))),
        organisations - 1,
    )
    return employer, np.bincount(employer[employed], minlength=organisations)
