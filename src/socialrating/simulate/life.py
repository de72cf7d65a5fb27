"""A nation's records, a step of days at a time, driven by the rulebook and a scenario.

The simulation knows no parameter by name: it reads the rulebook's parameter table and
draws records for every parameter that applies to a subject's kind, rarer the heavier its
points, with the long tail of the catalogue much rarer than the named parameters; the
parameters the scenario names come at the scenario's own rates. Citizen
reports carry a reporter; some are corroborated by other reporters, some verified later by
an authority. Camera detections carry an identification confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from socialrating.model import InstitutionClass
from socialrating.rulebook import Rulebook
from socialrating.simulate.nation import MANAGER, SELF_EMPLOYED, Nation
from socialrating.simulate.scenario import Records, Scenario


@dataclass(frozen=True)
class Draws:
    """Drawn records as index arrays into the nation and the rulebook; days count from
    the rulebook's effective date."""

    subject: np.ndarray
    parameter: np.ndarray
    institution: np.ndarray
    day: np.ndarray
    quantity: np.ndarray  # NaN when the parameter does not count per unit
    confidence: np.ndarray  # NaN when not a camera record
    counterpart: np.ndarray  # -1 when none

    def __len__(self) -> int:
        return len(self.subject)


def param_weights(points: np.ndarray, explicit: np.ndarray, tail_share: float = 0.15) -> np.ndarray:
    """Draw weights: heavier points are rarer; the catalogue's tail holds ``tail_share``."""
    w = 1.0 / (1.0 + np.abs(points) / 8.0) ** 1.5
    tail = ~explicit
    if tail.any() and explicit.any():
        w[tail] *= (tail_share / (1 - tail_share)) * w[explicit].sum() / w[tail].sum()
    weights: np.ndarray = w / w.sum()
    return weights


class Life:
    """Draws a nation's records a step at a time, at the scenario's rates, from the
    institutions the rulebook permits for each parameter.

    Between steps, ``respond`` tells it what the system did (who is listed or graded low,
    who is near a lower grade); the next step's deductions respond to that when the
    scenario's responses are on. A debt (a direct grade that a later record repairs) is
    paid at the scenario's rate: its repair is drawn when the debt is, and arrives in the
    step of its day.
    """

    def __init__(self, seed: int, nation: Nation, rb: Rulebook, scenario: Scenario):
        self.seed, self.nation, self.rb, self.scenario = seed, nation, rb, scenario
        params = rb.parameters
        self.inst_codes = [i.code for i in rb.spec.institutions]
        inst_index = {code: i for i, code in enumerate(self.inst_codes)}
        self.classes = np.array([rb.institution_classes[c].value for c in self.inst_codes])
        permitted = [
            [inst_index[c] for c in s.split(";")] for s in params.column("institutions").to_pylist()
        ]
        self.counts = np.array([len(p) for p in permitted])
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.flat = np.fromiter(
            (i for p in permitted for i in p), dtype=np.int64, count=int(self.counts.sum())
        )
        self.points = params.column("points").to_numpy()
        self.per_unit = params.column("per_unit").to_numpy(zero_copy_only=False)
        self.scale = quantity_scales(rb)
        self.applies = np.array(params.column("subjects").to_pylist())
        self.explicit = np.zeros(params.num_rows, dtype=bool)
        self.explicit[: len(rb.spec.parameters)] = True
        codes = params.column("code").to_pylist()
        self.code_index = {code: i for i, code in enumerate(codes)}
        self.named = {self.code_index[c]: rates for c, rates in scenario.parameters.items()}
        # Repairs (a debt paid) follow the records they repair; they are not drawn alone.
        self.repairs = params.column("repairs_mask").is_valid().to_numpy(zero_copy_only=False)
        self.repairer = _repairers(rb)
        pop = scenario.population
        self.family = np.isin(
            params.column("category").to_numpy(zero_copy_only=False), pop.family_categories
        )
        self.carer = np.zeros(nation.subjects.num_rows, dtype=bool)
        self.carer[: nation.citizens] = nation.parent >= 0
        # Organisations' legal representatives: adults who run a business or manage one.
        runs = np.isin(nation.occupation, (MANAGER, SELF_EMPLOYED))
        self.adults = np.flatnonzero(nation.adult & runs)
        if len(self.adults) < max(1, round(scenario.representatives_share * nation.organisations)):
            self.adults = np.flatnonzero(nation.adult)
        self.activity = activity(nation, scenario)
        self.pays = np.ones(nation.subjects.num_rows)
        self.pays[: nation.citizens] = paying(nation, pop.debts_income_elasticity)
        self.contacts = Contacts(nation)
        self.deduction = np.ones(nation.subjects.num_rows)
        self.pending = _empty()

    def _gen(self, start: int, *component: int) -> np.random.Generator:
        """The generator of one component of one step: each has its own, so that a rate
        changed (by calibration, or a response) changes only its own draws."""
        # Tagged and of one length: numpy pads a short seed with zeros, so [seed] and
        # [seed, 0, 0, 0] (the nation's draws and a step's) would be one stream.
        padded = (*component, 0, 0, 0)[:3] if len(component) < 3 else component
        return np.random.default_rng([self.seed, STREAM_DRAWS, start, *padded, len(component)])

    @property
    def pay_rate(self) -> float:
        """Debts paid per year: the response's rate, or with responses off the base rate."""
        s = self.scenario
        return s.responses.debts_paid_per_year if s.responses.enabled else s.debts.paid_per_year

    def step(self, start: int, days: int) -> Draws:
        """The records of the ``days`` days from day ``start`` (0: the effective date)."""
        nation, s = self.nation, self.scenario
        years = days / 365.0
        parts: list[Draws] = []
        spans = (
            ("citizen", np.arange(nation.citizens), s.records.citizen),
            (
                "organisation",
                np.arange(nation.citizens, nation.subjects.num_rows),
                s.records.organisation,
            ),
        )
        named = np.zeros(len(self.points), dtype=bool)
        named[list(self.named)] = True
        for k, (kind, subjects, rates) in enumerate(spans):
            if len(subjects) == 0:
                continue
            mine = (self.applies == kind) | (self.applies == "any")
            active = self.activity[subjects]
            factors = {
                "deduction": np.exp(s.conduct.deduction_elasticity * nation.conduct[subjects])
                * self.deduction[subjects]
                * active,
                "addition": np.exp(-s.conduct.addition_elasticity * nation.conduct[subjects])
                * active,
            }
            for j, (sign, rate) in enumerate(
                (("deduction", rates.deduction), ("addition", rates.addition))
            ):
                signed = self.points < 0 if sign == "deduction" else self.points > 0
                candidates = np.flatnonzero(mine & signed & ~self.repairs & ~named)
                if len(candidates) == 0 or rate == 0:
                    continue
                rng = self._gen(start, k, j)
                who = np.repeat(subjects, poisson(rng, rate * years * factors[sign]))
                which = np.full(len(who), -1, dtype=np.int64)
                # Family records (care of parents) only for those with an elderly parent:
                # the others draw from the rest (none at all if the rest is empty).
                carer = self.carer[who]
                for among, pick in (
                    (candidates[~self.family[candidates]], ~carer),
                    (candidates, carer),
                ):
                    if len(among) and pick.any():
                        weights = param_weights(
                            self.points[among], self.explicit[among], s.records.tail_share
                        )
                        which[pick] = among[rng.choice(len(among), size=int(pick.sum()), p=weights)]
                drawn = which >= 0
                parts.append(self._complete(rng, who[drawn], which[drawn], start, days))
            for index, by_kind in self.named.items():
                rate = by_kind.get(kind, 0.0)  # type: ignore[call-overload]
                if rate == 0 or not mine[index]:
                    continue
                factor = factors["addition" if self.points[index] > 0 else "deduction"]
                if self.family[index]:
                    factor = factor * self.carer[subjects]
                rng = self._gen(start, k, 2, index)
                who = np.repeat(subjects, poisson(rng, rate * years * factor))
                parts.append(self._complete(rng, who, np.full(len(who), index), start, days))
        draws = self._with_repairs(_concat(parts), start, days)
        if start == 0:
            draws = self._with_representatives(draws)
        draws = self._with_contacts(draws, start, days)
        return self._with_corroboration(draws, start + days - 1)

    def respond(self, sanctioned: np.ndarray, near: np.ndarray) -> None:
        """What the last run did: who is sanctioned (listed, or in the lowest two grades),
        who is near a lower grade. Deductions respond when the scenario's responses are on."""
        r = self.scenario.responses
        if not r.enabled:
            return
        organisation = np.arange(len(sanctioned)) >= self.nation.citizens
        self.deduction = (
            np.where(sanctioned, r.sanctioned, 1.0)
            * np.where(near & ~sanctioned, r.near_threshold, 1.0)
            * np.where(sanctioned & organisation, r.organisations_rectify, 1.0)
        )

    def _institutions(self, rng: np.random.Generator, which: np.ndarray) -> np.ndarray:
        picked = (rng.random(len(which)) * self.counts[which]).astype(np.int64)
        institutions: np.ndarray = self.flat[self.offsets[which] + picked]
        return institutions

    def _complete(
        self, rng: np.random.Generator, who: np.ndarray, which: np.ndarray, start: int, days: int
    ) -> Draws:
        n, citizens = len(who), max(1, self.nation.citizens)
        institution = self._institutions(rng, which)
        day = start + rng.integers(0, days, n)
        quantity = np.where(self.per_unit[which], 1 + rng.poisson(6, n), np.nan)
        # Banded quantities spread around the middle band: most fall in the lower bands.
        banded = self.scale[which]
        spread = np.round(np.nan_to_num(banded) * rng.lognormal(-0.5, 1.0, n), 1)
        quantity = np.where(np.isnan(banded), quantity, spread)
        camera = self.classes[institution] == InstitutionClass.CAMERA.value
        # Most detections are confident; some fall below the rulebook's minimum.
        confidence = np.where(camera, np.round(0.8 + 0.2 * rng.beta(6, 1.2, n), 3), np.nan)
        report = self.classes[institution] == InstitutionClass.CITIZEN.value
        # A citizen is reported by a neighbour; an organisation by anyone (a customer).
        neighbour = self.contacts.near(
            rng, np.minimum(who, citizens - 1), self.scenario.records.circle
        )
        reporter = np.where(who < citizens, neighbour, rng.integers(0, citizens, n))
        counterpart = np.where(report & (reporter != who), reporter, -1)
        counterpart = np.where(report & (counterpart < 0), (who + 1) % citizens, counterpart)
        return Draws(who, which, institution, day, quantity, confidence, counterpart)

    def _with_repairs(self, d: Draws, start: int, days: int) -> Draws:
        """Schedule the repair of each new debt, and add the repairs due in this step."""
        graded = np.flatnonzero(np.isin(d.parameter, list(self.repairer)))
        rng = self._gen(start, 3)
        if len(graded) and self.pay_rate > 0:
            rate = self.pay_rate * self.pays[d.subject[graded]]
            wait = np.ceil(rng.exponential(1.0, len(graded)) * 365.0 / rate)
            which = np.array([self.repairer[int(p)] for p in d.parameter[graded]], dtype=np.int64)
            n = len(graded)
            none = np.full(n, np.nan)
            later = Draws(
                d.subject[graded],
                which,
                self._institutions(rng, which),
                d.day[graded] + np.maximum(wait, 1).astype(np.int64),
                none,
                none,
                np.full(n, -1),
            )
            self.pending = _concat([self.pending, later])
        due = self.pending.day < start + days
        self.pending, now = _take(self.pending, ~due), _take(self.pending, due)
        return _concat([d, now])

    def _with_representatives(self, d: Draws) -> Draws:
        """Every organisation's legal representative (an adult), registered on day 0."""
        reps = self.rb.spec.representatives
        orgs = np.arange(self.nation.citizens, self.nation.subjects.num_rows)
        if reps is None or len(orgs) == 0 or len(self.adults) == 0:
            return d
        which = self.code_index[reps.parameter]
        n = len(orgs)
        none = np.full(n, np.nan)
        pool_size = min(len(self.adults), max(1, round(self.scenario.representatives_share * n)))
        rng = self._gen(0, 4)
        pool = rng.choice(self.adults, size=pool_size, replace=False)
        chosen = pool[rng.integers(0, pool_size, n)]
        more = Draws(
            orgs,
            np.full(n, which),
            np.full(n, self.flat[self.offsets[which]]),
            np.zeros(n, dtype=np.int64),
            none,
            none,
            chosen,
        )
        return _concat([d, more])

    def _with_contacts(self, d: Draws, start: int, days: int) -> Draws:
        """Telecom contacts between citizens, for the rulebook's contagion (``Contacts``)."""
        contagion, citizens = self.rb.spec.contagion, self.nation.citizens
        if contagion is None or citizens < 2:
            return d
        rng, r = self._gen(start, 5), self.scenario.records
        which = self.code_index[contagion.parameter]
        soc = self.nation.sociability
        who = np.repeat(np.arange(citizens), rng.poisson(r.contacts_per_year * days / 365.0 * soc))
        other = self.contacts.partners(rng, who, r)
        n = len(who)
        which_all = np.full(n, which)
        none = np.full(n, np.nan)
        more = Draws(
            who,
            which_all,
            self._institutions(rng, which_all),
            start + rng.integers(0, days, n),
            none,
            none,
            other,
        )
        return _concat([d, more])

    def _with_corroboration(self, d: Draws, last_day: int) -> Draws:
        """For some citizen reports, two more reports of the same act by other citizens."""
        citizens = self.nation.citizens
        report = np.flatnonzero(
            (self.classes[d.institution] == InstitutionClass.CITIZEN.value) & (d.counterpart >= 0)
        )
        rng = self._gen(last_day, 6)
        chosen = report[rng.random(len(report)) < self.scenario.records.corroborated_share]
        if len(chosen) == 0 or citizens < 3:
            return d
        extra = np.repeat(chosen, 2)
        later = np.minimum(d.day[extra] + rng.integers(0, 4, len(extra)), last_day)
        reporters = (d.counterpart[extra] + rng.integers(1, citizens, len(extra))) % citizens
        reporters = np.where(reporters == d.subject[extra], (reporters + 1) % citizens, reporters)
        more = Draws(
            d.subject[extra],
            d.parameter[extra],
            d.institution[extra],
            later,
            d.quantity[extra],
            d.confidence[extra],
            reporters,
        )
        return _concat([d, more])


class Contacts:
    """Whom citizens are in touch with: their household, their colleagues, a circle of
    neighbours (consecutive citizens: households are numbered together), and anyone, the
    sociable more often. Contacts made scale with sociability too, so degrees are
    heavy-tailed; households, workplaces and circles make them clustered."""

    def __init__(self, nation: Nation) -> None:
        self.citizens = nation.citizens
        household = nation.household
        sizes = np.bincount(household, minlength=int(household.max(initial=-1)) + 1)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.home_start, self.home_size = starts[household], sizes[household]
        employer = nation.employer
        by = np.argsort(employer, kind="stable")
        self.colleagues = by[employer[by] >= 0]
        firms = employer[self.colleagues]
        first = np.searchsorted(firms, employer)
        self.work_start = first
        self.work_size = np.searchsorted(firms, employer, side="right") - first
        self.work_size[employer < 0] = 0
        self.work_place = np.zeros(len(employer), dtype=np.int64)  # its place in its firm
        self.work_place[self.colleagues] = np.arange(len(self.colleagues)) - first[self.colleagues]
        self.pull = np.cumsum(nation.sociability) / max(float(nation.sociability.sum()), 1e-9)

    def near(self, rng: np.random.Generator, who: np.ndarray, circle: int) -> np.ndarray:
        """A neighbour of each of ``who``: within ``circle`` places either side."""
        n = max(self.citizens, 1)
        step = rng.integers(1, circle + 1, len(who)) * rng.choice([-1, 1], len(who))
        near = (who + step) % n
        out: np.ndarray = np.where(near == who, (who + 1) % n, near)  # a circle wider than all
        return out

    def partners(self, rng: np.random.Generator, who: np.ndarray, r: Records) -> np.ndarray:
        """Whom each of ``who`` is in touch with, at the shares ``r`` gives."""
        n, m = self.citizens, len(who)
        u = rng.random(m)
        size, first = self.home_size[who], self.home_start[who]
        at_home = first + (who - first + rng.integers(1, np.maximum(size, 2))) % size
        staff, colleague = self.work_size[who], who
        if len(self.colleagues):
            other = self.work_place[who] + rng.integers(1, np.maximum(staff, 2))
            pick = self.work_start[who] + other % np.maximum(staff, 1)
            colleague = self.colleagues[np.minimum(pick, len(self.colleagues) - 1)]
        home, work = size > 1, staff > 1
        anyone = np.minimum(np.searchsorted(self.pull, rng.random(m)), n - 1)
        anyone = np.where(anyone == who, (who + 1) % n, anyone)
        h, w = r.household_contacts, r.household_contacts + r.work_contacts
        near_share = w + r.near_contacts
        out: np.ndarray = np.select(
            [(u < h) & home, (u >= h) & (u < w) & work, u < near_share],
            [at_home, colleague, self.near(rng, who, r.circle)],
            anyone,
        )
        return out


def activity(nation: Nation, scenario: Scenario) -> np.ndarray:
    """Per subject, its records relative to a typical adult's (or organisation's): fewer
    for minors and the elderly; organisations by size, averaged to 1."""
    pop = scenario.population
    age = nation.age
    citizen = np.select([age < 16, age >= 70], [pop.minors, pop.elderly], 1.0)
    size = (1.0 + nation.size) ** pop.size_elasticity
    if len(size):
        size /= size.mean()
    return np.concatenate([citizen, size])


def paying(nation: Nation, elasticity: float) -> np.ndarray:
    """Per citizen, how fast it pays a debt relative to the scenario's rate: by income
    against the median adult's, within a quarter and four times."""
    adults = nation.income[nation.age >= 18]
    median = float(np.median(adults)) if len(adults) else 1.0
    ratio = np.maximum(nation.income, 1.0) / max(median, 1.0)
    paid: np.ndarray = np.clip(ratio**elasticity, 0.25, 4.0)
    return paid


STREAM_DRAWS, STREAM_VERIFICATIONS = 1, 2
"""Tags of the seeds of a step's draws and of its verifications (the nation's is the
bare seed)."""


def poisson(rng: np.random.Generator, lam: np.ndarray) -> np.ndarray:
    """Poisson counts of means ``lam`` by inverting the distribution at one uniform each:
    a count never falls when its mean rises, so a rate changed by calibration, or by a
    response, moves the same subjects' counts, not a fresh draw of everyone's.

    The uniforms are stratified (one in each of ``n`` equal slices of [0, 1), in a random
    order): each is uniform, but together they leave far less to chance, so that a small
    nation's totals (and list shares) come close to what its rates say, as a large one's
    do."""
    size = len(lam)
    u = (rng.permutation(size) + rng.random(size)) / max(size, 1)
    n = np.zeros(size, dtype=np.int64)
    p = np.exp(-lam)
    cumulative = p.copy()
    active = u > cumulative
    k = 0
    limit = float(lam.max(initial=0.0)) * 4 + 50
    while active.any() and k < limit:
        k += 1
        p = p * lam / k
        cumulative += p
        n += active
        active &= u > cumulative
    return n


def _repairers(rb: Rulebook) -> dict[int, int]:
    """Per direct-grade parameter a later record repairs (a debt), the repairing one."""
    bits = rb.parameters.column("direct_bit").to_numpy(zero_copy_only=False)
    masks = rb.parameters.column("repairs_mask").to_pylist()
    repairer: dict[int, int] = {}
    for i, mask in enumerate(masks):
        for j in np.flatnonzero(~np.isnan(bits)) if mask is not None else []:
            if int(mask) & int(bits[j]):
                repairer.setdefault(int(j), i)
    return repairer


def _empty() -> Draws:
    none = np.zeros(0, dtype=np.int64)
    return Draws(none, none, none, none, np.zeros(0), np.zeros(0), none)


def _concat(parts: list[Draws]) -> Draws:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _empty()
    return Draws(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Draws.__dataclass_fields__)
    )


def _take(d: Draws, mask: np.ndarray) -> Draws:
    return Draws(*(getattr(d, f)[mask] for f in Draws.__dataclass_fields__))


def batches(
    d: Draws, nation: Nation, rb: Rulebook, inst_codes: list[str], first_day: int, prefix: str
) -> list[tuple[str, pa.Table]]:
    """The draws as one text batch per institution, in the format ``ingest`` reads; the
    idempotency keys are ``PREFIX-INSTITUTION-N``."""
    codes = nation.subjects.column("code").combine_chunks()
    pcodes = rb.parameters.column("code").combine_chunks()
    order = np.lexsort((d.subject, d.day, d.institution))
    out = []
    bounds = np.searchsorted(d.institution[order], np.arange(len(inst_codes) + 1))
    for i, code in enumerate(inst_codes):
        idx = order[bounds[i] : bounds[i + 1]]
        if len(idx) == 0:
            continue
        n = len(idx)
        keys = pc.binary_join_element_wise(
            f"{prefix}-{code}", pa.array(np.arange(1, n + 1)).cast(pa.string()), "-"
        )
        cp = d.counterpart[idx]
        out.append(
            (
                code,
                pa.table(
                    {
                        "line": pa.array(np.arange(1, n + 1), pa.int64()),
                        "key": keys,
                        "subject": codes.take(pa.array(d.subject[idx])),
                        "parameter": pcodes.take(pa.array(d.parameter[idx])),
                        "date": pa.array((first_day + d.day[idx]).astype(np.int32), pa.int32())
                        .cast(pa.date32())
                        .cast(pa.string()),
                        "quantity": _text(d.quantity[idx]),
                        "severity": pa.nulls(n, pa.string()),
                        "confidence": _text(d.confidence[idx]),
                        "counterpart": codes.take(pa.array(np.where(cp >= 0, cp, 0), mask=cp < 0)),
                        "evidence": pa.nulls(n, pa.string()),
                        "kind": pa.nulls(n, pa.string()),
                        "refers_to": pa.nulls(n, pa.string()),
                        "act": pa.nulls(n, pa.string()),
                        "level": _levels(rb, d, idx),
                    }
                ),
            )
        )
    return out


def quantity_scales(rb: Rulebook) -> np.ndarray:
    """Per parameter, the quantity its bands centre on (NaN for parameters without bands)."""
    scale = np.full(rb.parameters.num_rows, np.nan)
    for i, p in enumerate(rb.spec.parameters):
        if p.bands is not None:
            steps = p.bands.steps
            scale[i] = max(1.0, steps[len(steps) // 2].from_)
    return scale


def level_options(rb: Rulebook) -> dict[int, list[str]]:
    """Per parameter whose validity depends on a level: the levels to draw from.

    The rules' levels, and ``local`` for a level no rule names (it gets the default).
    """
    out = {}
    for i, p in enumerate(rb.spec.parameters):
        levels = [r.level for r in p.validity or [] if r.level is not None]
        if levels:
            out[i] = [*levels, "local"]
    return out


def _levels(rb: Rulebook, d: Draws, idx: np.ndarray) -> pa.Array:
    options = level_options(rb)
    level: list[str | None] = [None] * len(idx)
    if options:
        for k, (param, subject, day) in enumerate(
            zip(d.parameter[idx], d.subject[idx], d.day[idx], strict=True)
        ):
            choices = options.get(int(param))
            if choices:
                level[k] = choices[int(subject + day) % len(choices)]
    return pa.array(level, pa.string())


def _text(values: np.ndarray) -> pa.Array:
    return pa.array(values, mask=np.isnan(values)).cast(pa.string())
