"""The synthetic nation's people (no ledger): households with elderly parents and their
children, occupations and incomes, organisations of several sizes, a contact graph with a
heavy tail and local clustering, and the records these shape."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from socialrating.rulebook import Rulebook
from socialrating.simulate.life import Draws, Life, paying
from socialrating.simulate.nation import (
    CHILD,
    EMPLOYEES,
    MANAGER,
    OCCUPATIONS,
    RETIRED,
    SELF_EMPLOYED,
    STUDENT,
    Nation,
    make_nation,
)
from socialrating.simulate.scenario import Scenario

CITIZENS, ORGANISATIONS = 20_000, 2_000


def draw(scenario: Scenario, seed: Rulebook, rng: int = 1, citizens: int = CITIZENS) -> Nation:
    return make_nation(
        np.random.default_rng(rng),
        citizens,
        citizens // 10,
        seed.spec.effective,
        scenario.conduct,
        scenario.population,
        scenario.records,
    )


@pytest.fixture(scope="module")
def nation(seed: Rulebook, scenario: Scenario) -> Nation:
    return draw(scenario, seed)


@pytest.fixture(scope="module")
def year(seed: Rulebook, nation: Nation, scenario: Scenario) -> Draws:
    return Life(3, nation, seed, scenario).step(0, 365)


def test_the_same_seed_draws_the_same_people_and_another_seed_others(
    seed: Rulebook, scenario: Scenario, nation: Nation
) -> None:
    again = draw(scenario, seed)
    assert again.subjects.equals(nation.subjects)
    assert again.population().equals(nation.population())
    other = draw(scenario, seed, rng=2)
    assert not other.population().equals(nation.population())


def test_citizens_live_in_households_that_share_a_region(nation: Nation) -> None:
    household = nation.household
    assert len(household) == CITIZENS
    assert (np.diff(household) >= 0).all() and (np.diff(household) <= 1).all()  # consecutive
    sizes = np.bincount(household)
    assert sizes.min() >= 1 and sizes.max() <= 7
    assert 2.4 < sizes.mean() < 3.1  # about a census's 2.6 to 2.8
    assert 0.1 < (sizes == 1).mean() < 0.4  # people alone, elderly alone
    region = np.asarray(nation.subjects.column("region").to_pylist()[:CITIZENS])
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    assert (region == region[first[household]]).all()
    assert len(set(region.tolist())) > 20  # the regions are blocks of neighbours
    sex = np.asarray(nation.subjects.column("sex").to_pylist()[:CITIZENS])
    # A couple (the household's first two, both adults) is a woman and a man.
    couples = first[(sizes >= 2) & (nation.age[np.minimum(first + 1, CITIZENS - 1)] >= 18)]
    couples = couples[couples + 1 < CITIZENS]
    assert (sex[couples] != sex[couples + 1]).mean() > 0.9


def test_elderly_parents_and_their_children_exist(nation: Nation) -> None:
    child = np.flatnonzero(nation.parent >= 0)
    parent = nation.parent[child]
    assert 0.1 < len(child) / CITIZENS < 0.5
    assert (nation.age[parent] >= 60).all()
    assert (nation.age[parent] >= nation.age[child] + 18).all()
    home = nation.household[parent] == nation.household[child]
    assert 0.2 < home.mean() < 0.9  # three generations under one roof, and parents apart
    assert (np.abs(parent[~home] - child[~home]) < 1_000).all()  # apart, but nearby
    assert (nation.age[child] >= 18).all()


def test_occupations_follow_age_and_incomes_follow_occupations(nation: Nation) -> None:
    age, job, income = nation.age, nation.occupation, nation.income
    assert (job[age < 6] == CHILD).all()
    assert (job[(age >= 6) & (age < 18)] == STUDENT).all()
    assert (job[age >= 66] == RETIRED).all()
    assert np.isin(job[(age >= 25) & (age < 50)], (CHILD, STUDENT, RETIRED)).sum() == 0
    assert (income[np.isin(job, (CHILD, STUDENT))] == 0).all()
    median = {OCCUPATIONS[o]: np.median(income[job == o]) for o in np.unique(job)}
    assert median["manager"] > median["office"] > median["worker"] > median["farmer"] > 0
    assert median["unemployed"] < median["farmer"]
    adults = income[age >= 18]
    assert np.percentile(adults, 99) > 5 * np.median(adults)  # a long right tail


def test_organisations_come_in_sizes_from_none_to_thousands(
    seed: Rulebook, scenario: Scenario
) -> None:
    big = draw(scenario, seed, citizens=200_000)
    employed = np.isin(big.occupation, EMPLOYEES)
    assert ((big.employer >= 0) == employed).all()
    assert (big.employer[employed] >= big.citizens).all()
    assert big.size.sum() == employed.sum() and len(big.size) == big.organisations
    assert np.median(big.size) <= 2 and big.size.max() >= 500
    assert (big.size == 0).mean() > 0.2


def _graph(d: Draws, seed: Rulebook, citizens: int) -> tuple[np.ndarray, float, float]:
    """Degrees (every citizen), average clustering, and the random graph's density."""
    contact = seed.parameters.column("code").to_pylist().index(seed.spec.contagion.parameter)
    mine = d.parameter == contact
    con = duckdb.connect()
    con.register("raw", pa.table({"a": d.subject[mine], "b": d.counterpart[mine]}))
    con.execute(
        """CREATE TABLE p AS SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b
           FROM raw WHERE a <> b"""
    )
    con.execute("CREATE TABLE arcs AS SELECT a AS v, b AS w FROM p UNION ALL SELECT b, a FROM p")
    k = con.sql("SELECT v, count(*) AS k FROM arcs GROUP BY v").to_arrow_table()
    degrees = np.zeros(citizens)
    degrees[k["v"].to_numpy()] = k["k"].to_numpy()
    clustering = con.execute(
        """WITH k AS (SELECT v, count(*) AS k FROM arcs GROUP BY v),
                t AS (SELECT x.v, count(*) AS t FROM arcs x JOIN arcs y
                          ON x.v = y.v AND x.w < y.w
                      JOIN p ON p.a = least(x.w, y.w) AND p.b = greatest(x.w, y.w)
                      GROUP BY x.v)
           SELECT avg(CASE WHEN k > 1 THEN coalesce(t, 0) * 2.0 / (k * (k - 1)) ELSE 0 END)
           FROM k LEFT JOIN t USING (v)"""
    ).fetchone()
    return degrees, float(clustering[0]), float(degrees.mean() / (citizens - 1))


def test_the_contact_graph_is_heavy_tailed_and_clustered(
    seed: Rulebook, nation: Nation, year: Draws
) -> None:
    degrees, clustering, density = _graph(year, seed, CITIZENS)
    median = np.median(degrees)
    assert 5 <= median <= 15
    assert degrees.max() >= 8 * median  # a Poisson graph's largest is about 2.5 times it
    assert np.percentile(degrees, 99.9) >= 4 * median
    assert clustering > 50 * density  # households, workplaces and neighbourhoods
    # The sociable make and receive more contacts.
    top = nation.sociability >= np.percentile(nation.sociability, 99)
    assert degrees[top].mean() > 3 * degrees[~top].mean()


def test_contact_shares_are_the_scenarios(
    seed: Rulebook, nation: Nation, scenario: Scenario, year: Draws
) -> None:
    contact = seed.parameters.column("code").to_pylist().index(seed.spec.contagion.parameter)
    mine = year.parameter == contact
    a, b = year.subject[mine], year.counterpart[mine]
    assert (a != b).all() and (b >= 0).all() and (b < CITIZENS).all()
    r = scenario.records
    # Of the contacts of those who live with others, the household's share; of those who
    # have colleagues, the colleagues' (the others call a neighbour instead).
    sizes = np.bincount(nation.household)
    shared = sizes[nation.household[a]] > 1
    home = nation.household[a] == nation.household[b]
    # A neighbour in the circle is sometimes of the household too: a little more.
    assert r.household_contacts - 0.01 < home[shared].mean() < r.household_contacts + 0.05
    assert home[~shared].sum() == 0
    firm = nation.employer[a]
    staff = nation.size[np.maximum(firm - nation.citizens, 0)]
    colleagues = (firm >= 0) & (staff > 1)
    work = (firm >= 0) & (firm == nation.employer[b]) & ~home
    assert work[colleagues].mean() == pytest.approx(r.work_contacts, abs=0.03)
    assert len(a) == pytest.approx(r.contacts_per_year * CITIZENS, rel=0.05)


def test_family_records_come_only_to_citizens_with_an_elderly_parent(
    seed: Rulebook, nation: Nation, year: Draws
) -> None:
    family = np.isin(seed.parameters.column("category").to_numpy(zero_copy_only=False), ["family"])
    mine = family[year.parameter]
    assert mine.sum() > 100
    assert (nation.parent[year.subject[mine]] >= 0).all()


def test_minors_get_few_records_and_the_elderly_fewer_than_adults(
    seed: Rulebook, nation: Nation, scenario: Scenario, year: Draws
) -> None:
    contact = seed.parameters.column("code").to_pylist().index(seed.spec.contagion.parameter)
    own = (year.subject < CITIZENS) & (year.parameter != contact)
    counts = np.bincount(year.subject[own], minlength=CITIZENS)
    age = nation.age
    adult = counts[(age >= 18) & (age < 70)].mean()
    assert counts[age < 16].mean() < 3 * scenario.population.minors * adult
    assert counts[age >= 75].mean() < 0.8 * adult


def test_representatives_run_or_manage_a_business(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    d = Life(7, nation, seed, scenario).step(0, 7)
    rep = d.parameter == seed.parameters.column("code").to_pylist().index(
        "registry.legal_representative"
    )
    reps = d.counterpart[rep]
    assert len(reps) == nation.organisations
    assert np.isin(nation.occupation[reps], (MANAGER, SELF_EMPLOYED)).all()
    assert nation.adult[reps].all()


def test_debtors_with_higher_incomes_pay_sooner(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    pays = paying(nation, scenario.population.debts_income_elasticity)
    assert pays.min() >= 0.25 and pays.max() <= 4
    richer = nation.income > np.percentile(nation.income[nation.age >= 18], 80)
    poorer = (nation.age >= 18) & (nation.income < np.percentile(nation.income, 30))
    assert np.median(pays[richer]) > 1.5 * np.median(pays[poorer])
    # In the draws: the wait from a debt to its payment.
    many = scenario.scaled({"parameters/courts.dishonest_debtor/citizen": 100})
    life = Life(7, nation, seed, many)
    d = life.step(0, 365)
    codes = seed.parameters.column("code").to_pylist()
    debt = (d.parameter == codes.index("courts.dishonest_debtor")) & (d.subject < CITIZENS)
    paid = np.concatenate([d.parameter, life.pending.parameter]) == codes.index("courts.debt_paid")
    subject = np.concatenate([d.subject, life.pending.subject])[paid]
    day = np.concatenate([d.day, life.pending.day])[paid]
    # Per debtor, from its first debt to its first payment.
    first_debt: dict[int, int] = {}
    for s, t in zip(d.subject[debt].tolist(), d.day[debt].tolist(), strict=True):
        first_debt[s] = min(t, first_debt.get(s, t))
    first_paid: dict[int, int] = {}
    for s, t in zip(subject.tolist(), day.tolist(), strict=True):
        first_paid[s] = min(t, first_paid.get(s, t))
    wait = {s: t - first_debt[s] for s, t in first_paid.items() if s in first_debt}
    assert min(wait.values()) > 0
    rich = [w for s, w in wait.items() if richer[s]]
    poor = [w for s, w in wait.items() if poorer[s]]
    assert len(rich) > 20 and len(poor) > 20
    assert np.median(rich) < np.median(poor)


def test_a_citizen_without_an_elderly_parent_gets_no_family_records_even_if_nothing_else_is_left(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    """Every category a family one: the others draw nothing (not parameter 0)."""
    everything = [c.code for c in seed.spec.categories]
    s = scenario.model_copy(
        update={
            "population": scenario.population.model_copy(update={"family_categories": everything})
        }
    )
    d = Life(3, nation, seed, s).step(0, 91)
    named = [seed.parameters.column("code").to_pylist().index(c) for c in s.parameters]
    contact = seed.parameters.column("code").to_pylist().index(seed.spec.contagion.parameter)
    citizen = d.subject < CITIZENS
    drawn = citizen & ~np.isin(d.parameter, [*named, contact])
    assert drawn.sum() > 100  # carers still get records of every sort
    assert (nation.parent[d.subject[drawn]] >= 0).all()
