"""The drawing of a nation's records under a scenario (no ledger): what the rulebook
permits, the scenario's rates, debts paid, representatives, responses, and draws that a
changed rate moves only where it must."""

from __future__ import annotations

import numpy as np
import pytest

from socialrating.rulebook import Rulebook
from socialrating.simulate.life import Draws, Life, poisson
from socialrating.simulate.nation import Nation, make_nation
from socialrating.simulate.scenario import Scenario

CITIZENS, ORGANISATIONS = 20_000, 2_000


@pytest.fixture(scope="module")
def nation(seed: Rulebook, scenario: Scenario) -> Nation:
    rng = np.random.default_rng(1)
    return make_nation(
        rng,
        CITIZENS,
        ORGANISATIONS,
        seed.spec.effective,
        scenario.conduct,
        scenario.population,
        scenario.records,
    )


def year(seed: Rulebook, nation: Nation, scenario: Scenario, steps: int = 4) -> Draws:
    life = Life(7, nation, seed, scenario)
    days = 365 // steps
    parts = [life.step(i * days, days) for i in range(steps)]
    return Draws(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Draws.__dataclass_fields__)
    )


def code_of(seed: Rulebook, name: str) -> int:
    return int(seed.parameters.column("code").to_pylist().index(name))


def test_every_record_comes_from_an_institution_permitted_for_its_parameter_in_its_step(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    life = Life(7, nation, seed, scenario)
    permitted = [set(s.split(";")) for s in seed.parameters.column("institutions").to_pylist()]
    applies = seed.parameters.column("subjects").to_pylist()
    for start in (0, 91):
        d = life.step(start, 91)
        assert len(d) > 50_000
        assert d.day.min() >= start and d.day.max() < start + 91
        for p, i in set(zip(d.parameter.tolist(), d.institution.tolist(), strict=True)):
            assert life.inst_codes[i] in permitted[p], (p, i)
        kinds = np.where(d.subject < nation.citizens, "citizen", "organisation")
        for p, kind in set(zip(d.parameter.tolist(), kinds.tolist(), strict=True)):
            assert applies[p] in (kind, "any"), (p, kind)


def test_a_named_parameter_comes_at_the_scenarios_rate(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    d = year(seed, nation, scenario)  # no run between the steps: nothing to respond to
    debtor = code_of(seed, "courts.dishonest_debtor")
    rate = scenario.parameters["courts.dishonest_debtor"]["citizen"]
    factor = np.exp(scenario.conduct.deduction_elasticity * nation.conduct[:CITIZENS])
    n = int(((d.parameter == debtor) & (d.subject < CITIZENS)).sum())
    expected = rate * factor.sum() * (4 * 91 / 365)
    assert abs(n - expected) < 4 * np.sqrt(expected) + 2, (n, expected)


def test_debts_are_paid_later_at_the_scenarios_rate_and_faster_with_responses(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    debtor, paid = code_of(seed, "courts.dishonest_debtor"), code_of(seed, "courts.debt_paid")
    on = year(seed, nation, scenario)
    off_scenario = scenario.model_copy(
        update={"responses": scenario.responses.model_copy(update={"enabled": False})}
    )
    off = year(seed, nation, off_scenario)
    for d in (on, off):
        first_debt: dict[int, int] = {}
        for subject, day in zip(
            d.subject[d.parameter == debtor].tolist(),
            d.day[d.parameter == debtor].tolist(),
            strict=True,
        ):
            first_debt[subject] = min(day, first_debt.get(subject, day))
        payments = zip(
            d.subject[d.parameter == paid].tolist(),
            d.day[d.parameter == paid].tolist(),
            strict=True,
        )
        paid_any = False
        for subject, day in payments:  # each after a debt of the same subject
            assert day > first_debt[subject]
            paid_any = True
        assert paid_any
    share = {
        name: (d.parameter == paid).sum() / (d.parameter == debtor).sum()
        for name, d in (("on", on), ("off", off))
    }
    assert share["on"] > share["off"] * 1.3  # 1.5 a year against 0.6


def test_representatives_are_adults_and_some_represent_several_organisations(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    d = Life(7, nation, seed, scenario).step(0, 30)
    rep = d.parameter == code_of(seed, "registry.legal_representative")
    assert sorted(d.subject[rep].tolist()) == list(range(CITIZENS, CITIZENS + ORGANISATIONS))
    reps = d.counterpart[rep]
    assert nation.adult[reps].all()
    assert len(set(reps.tolist())) < ORGANISATIONS * 0.35  # a pool of 30 % of them
    # Not again in a later step.
    later = Life(7, nation, seed, scenario).step(30, 30)
    assert not (later.parameter == code_of(seed, "registry.legal_representative")).any()


def test_sanctioned_subjects_get_fewer_deductions_only_with_responses_on(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    n = nation.subjects.num_rows
    sanctioned = np.zeros(n, dtype=bool)
    sanctioned[: n // 2] = True
    counts = {}
    for enabled in (True, False):
        # No corroborating reports: which reports are corroborated is drawn over all of them.
        s = scenario.model_copy(
            update={
                "responses": scenario.responses.model_copy(update={"enabled": enabled}),
                "records": scenario.records.model_copy(update={"corroborated_share": 0.0}),
            }
        )
        life = Life(7, nation, seed, s)
        life.respond(sanctioned, np.zeros(n, dtype=bool))
        d = life.step(91, 91)
        points = seed.parameters.column("points").to_numpy()[d.parameter]
        # Repairs are not counted: when each debt is paid is drawn over all the debts.
        repair = d.parameter == code_of(seed, "courts.debt_paid")
        deductions = d.subject[(points < 0) & ~repair]
        counts[enabled] = (
            int((deductions < n // 2).sum()),
            int((deductions >= n // 2).sum()),
        )
    # The unsanctioned half draws exactly the same records either way (its own uniforms).
    assert counts[True][1] == counts[False][1]
    assert counts[True][0] < 0.6 * counts[False][0]  # halved, and Poisson counts only fall


def test_a_rate_changed_moves_only_its_own_draws(
    seed: Rulebook, nation: Nation, scenario: Scenario
) -> None:
    a = Life(7, nation, seed, scenario).step(0, 91)
    b = Life(
        7, nation, seed, scenario.scaled({"parameters/transport.seat_occupying/citizen": 3})
    ).step(0, 91)
    seat = code_of(seed, "transport.seat_occupying")
    assert (b.parameter == seat).sum() > 2 * (a.parameter == seat).sum()
    # Who occupied a seat in a still does in b (counts never fall when the rate rises).
    assert set(a.subject[a.parameter == seat].tolist()) <= set(
        b.subject[b.parameter == seat].tolist()
    )
    others = [(a.parameter != seat), (b.parameter != seat)]
    assert np.array_equal(a.subject[others[0]], b.subject[others[1]])


def test_the_inverted_poisson_has_the_right_mean_and_never_falls_as_the_mean_rises() -> None:
    lam = np.full(200_000, 0.3)
    low = poisson(np.random.default_rng(3), lam)
    high = poisson(np.random.default_rng(3), lam * 5)
    assert abs(low.mean() - 0.3) < 0.01 and abs(high.mean() - 1.5) < 0.02
    assert abs(high.var() - 1.5) < 0.05
    assert (high >= low).all()
    big = poisson(np.random.default_rng(4), np.full(50_000, 40.0))
    assert abs(big.mean() - 40) < 0.2
    assert len(poisson(np.random.default_rng(5), np.zeros(0))) == 0
