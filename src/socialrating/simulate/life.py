"""A year (or any number of days) of records about a nation, driven by the rulebook.

The simulation knows no parameter by name: it reads the rulebook's parameter table and
draws records for every parameter that applies to a subject's kind, rarer the heavier its
points, with the long tail of the catalogue much rarer than the named parameters. Citizen
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
from socialrating.simulate.nation import Nation

# Yearly records per subject at typical conduct, and the share drawn from the long tail.
CITIZEN_RATES = {"deduction": 3.0, "addition": 2.5}
ORGANISATION_RATES = {"deduction": 2.0, "addition": 1.5}
TAIL_SHARE = 0.15
CORROBORATED_SHARE = 0.35  # reports that two more citizens also send
REPAIRED_SHARE = 0.5  # direct grades that a repair (a debt paid) ends within the period
CONTACTS_PER_YEAR = 6.0  # telecom contact records per citizen, for the rulebook's contagion
NEAR_CONTACTS = 0.8  # the share of contacts within a citizen's circle (nearby ids)
CIRCLE = 40  # a circle: the citizens within this many ids either side


@dataclass(frozen=True)
class Draws:
    """Drawn records as index arrays into the nation and the rulebook."""

    subject: np.ndarray
    parameter: np.ndarray
    institution: np.ndarray
    day: np.ndarray
    quantity: np.ndarray  # NaN when the parameter does not count per unit
    confidence: np.ndarray  # NaN when not a camera record
    counterpart: np.ndarray  # -1 when none


def param_weights(points: np.ndarray, explicit: np.ndarray) -> np.ndarray:
    """Draw weights: heavier points are rarer; the catalogue's tail holds TAIL_SHARE."""
    w = 1.0 / (1.0 + np.abs(points) / 8.0) ** 1.5
    tail = ~explicit
    if tail.any() and explicit.any():
        w[tail] *= (TAIL_SHARE / (1 - TAIL_SHARE)) * w[explicit].sum() / w[tail].sum()
    weights: np.ndarray = w / w.sum()
    return weights


def draw_records(
    rng: np.random.Generator, nation: Nation, rb: Rulebook, days: int
) -> tuple[Draws, list[str]]:
    """Draw ``days`` days of records; returns the draws and the institution codes they index."""
    params = rb.parameters
    inst_codes = [i.code for i in rb.spec.institutions]
    inst_index = {code: i for i, code in enumerate(inst_codes)}
    classes = np.array([rb.institution_classes[c].value for c in inst_codes])
    permitted = [
        [inst_index[c] for c in s.split(";")] for s in params.column("institutions").to_pylist()
    ]
    counts = np.array([len(p) for p in permitted])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat = np.fromiter((i for p in permitted for i in p), dtype=np.int64, count=int(counts.sum()))
    points = params.column("points").to_numpy()
    per_unit = params.column("per_unit").to_numpy(zero_copy_only=False)
    scale = quantity_scales(rb)
    # Repairs (a debt paid) follow the records they repair; they are not drawn alone.
    repairs = params.column("repairs_mask").is_valid().to_numpy(zero_copy_only=False)
    applies = np.array(params.column("subjects").to_pylist())
    explicit = np.zeros(params.num_rows, dtype=bool)
    explicit[: len(rb.spec.parameters)] = True

    parts: list[Draws] = []
    years = days / 365.0
    spans = (
        ("citizen", np.arange(nation.citizens), CITIZEN_RATES),
        ("organisation", np.arange(nation.citizens, nation.subjects.num_rows), ORGANISATION_RATES),
    )
    for kind, subjects, rates in spans:
        if len(subjects) == 0:
            continue
        conduct = nation.conduct[subjects]
        for sign, rate in rates.items():
            mask = (
                ((applies == kind) | (applies == "any"))
                & (points < 0 if sign == "deduction" else points > 0)
                & ~repairs
            )
            candidates = np.flatnonzero(mask)
            if len(candidates) == 0:
                continue
            factor = np.exp(0.9 * conduct) if sign == "deduction" else np.exp(-0.4 * conduct)
            n_each = rng.poisson(rate * years * factor)
            who = np.repeat(subjects, n_each)
            which = candidates[
                rng.choice(
                    len(candidates),
                    size=len(who),
                    p=param_weights(points[candidates], explicit[candidates]),
                )
            ]
            parts.append(
                _complete(
                    rng, who, which, nation, offsets, counts, flat, classes, per_unit, scale, days
                )
            )
    draws = _with_repairs(rng, _concat(parts), rb, offsets, counts, flat, days)
    draws = _with_representatives(rng, draws, rb, nation, offsets, flat)
    draws = _with_contacts(rng, draws, rb, nation, offsets, counts, flat, days)
    return _with_corroboration(rng, draws, classes), inst_codes


def _complete(
    rng: np.random.Generator,
    who: np.ndarray,
    which: np.ndarray,
    nation: Nation,
    offsets: np.ndarray,
    counts: np.ndarray,
    flat: np.ndarray,
    classes: np.ndarray,
    per_unit: np.ndarray,
    scale: np.ndarray,
    days: int,
) -> Draws:
    n = len(who)
    institution = flat[offsets[which] + (rng.random(n) * counts[which]).astype(np.int64)]
    day = rng.integers(0, days, n)
    quantity = np.where(per_unit[which], 1 + rng.poisson(6, n), np.nan)
    # Banded quantities spread around the middle band: most fall in the lower bands.
    banded = scale[which]
    spread = np.round(np.nan_to_num(banded) * rng.lognormal(-0.5, 1.0, n), 1)
    quantity = np.where(np.isnan(banded), quantity, spread)
    camera = classes[institution] == InstitutionClass.CAMERA.value
    # Most detections are confident; some fall below the rulebook's minimum and do not count.
    confidence = np.where(camera, np.round(0.8 + 0.2 * rng.beta(6, 1.2, n), 3), np.nan)
    report = classes[institution] == InstitutionClass.CITIZEN.value
    reporter = rng.integers(0, max(1, nation.citizens), n)
    counterpart = np.where(report & (reporter != who), reporter, -1)
    counterpart = np.where(
        report & (counterpart < 0), (who + 1) % max(1, nation.citizens), counterpart
    )
    return Draws(who, which, institution, day, quantity, confidence, counterpart)


def _concat(parts: list[Draws]) -> Draws:
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return Draws(empty, empty, empty, empty, np.zeros(0), np.zeros(0), empty)
    return Draws(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in Draws.__dataclass_fields__)
    )


def _with_repairs(
    rng: np.random.Generator,
    d: Draws,
    rb: Rulebook,
    offsets: np.ndarray,
    counts: np.ndarray,
    flat: np.ndarray,
    days: int,
) -> Draws:
    """For some direct-grade records, a later record of a parameter that repairs them."""
    bits = rb.parameters.column("direct_bit").to_numpy(zero_copy_only=False)
    masks = rb.parameters.column("repairs_mask").to_pylist()
    repairer: dict[int, int] = {}
    for i, mask in enumerate(masks):
        for j in np.flatnonzero(~np.isnan(bits)) if mask is not None else []:
            if int(mask) & int(bits[j]):
                repairer.setdefault(int(j), i)
    if not repairer:
        return d
    graded = np.flatnonzero(np.isin(d.parameter, list(repairer)))
    later = d.day[graded] + rng.integers(30, 400, len(graded))
    keep = (rng.random(len(graded)) < REPAIRED_SHARE) & (later < days)
    chosen, later = graded[keep], later[keep]
    if len(chosen) == 0:
        return d
    which = np.array([repairer[int(p)] for p in d.parameter[chosen]], dtype=np.int64)
    n = len(chosen)
    institution = flat[offsets[which] + (rng.random(n) * counts[which]).astype(np.int64)]
    none = np.full(n, np.nan)
    more = Draws(
        d.subject[chosen],
        which,
        institution,
        later,
        none,
        none,
        np.full(n, -1),
    )
    return _concat([d, more])


def _with_representatives(
    rng: np.random.Generator,
    d: Draws,
    rb: Rulebook,
    nation: Nation,
    offsets: np.ndarray,
    flat: np.ndarray,
) -> Draws:
    """Every organisation's legal representative (a citizen), registered on the first day."""
    reps = rb.spec.representatives
    orgs = np.arange(nation.citizens, nation.subjects.num_rows)
    if reps is None or len(orgs) == 0 or nation.citizens == 0:
        return d
    which = rb.parameters.column("code").to_pylist().index(reps.parameter)
    n = len(orgs)
    none = np.full(n, np.nan)
    more = Draws(
        orgs,
        np.full(n, which),
        np.full(n, flat[offsets[which]]),
        np.zeros(n, dtype=np.int64),
        none,
        none,
        rng.integers(0, nation.citizens, n),
    )
    return _concat([d, more])


def _with_contacts(
    rng: np.random.Generator,
    d: Draws,
    rb: Rulebook,
    nation: Nation,
    offsets: np.ndarray,
    counts: np.ndarray,
    flat: np.ndarray,
    days: int,
) -> Draws:
    """Telecom contacts between citizens, for the rulebook's contagion: most within a
    circle of nearby citizens (so low grades can spread), the rest with anyone."""
    contagion = rb.spec.contagion
    if contagion is None or nation.citizens < 2:
        return d
    which = rb.parameters.column("code").to_pylist().index(contagion.parameter)
    per_citizen = rng.poisson(CONTACTS_PER_YEAR * days / 365.0, nation.citizens)
    who = np.repeat(np.arange(nation.citizens), per_citizen)
    n = len(who)
    step = rng.integers(1, CIRCLE + 1, n) * rng.choice([-1, 1], n)
    near = (who + step) % nation.citizens
    anyone = (who + rng.integers(1, nation.citizens, n)) % nation.citizens
    other = np.where(rng.random(n) < NEAR_CONTACTS, near, anyone)
    institution = flat[offsets[which] + (rng.random(n) * counts[which]).astype(np.int64)]
    none = np.full(n, np.nan)
    more = Draws(who, np.full(n, which), institution, rng.integers(0, days, n), none, none, other)
    return _concat([d, more])


def _with_corroboration(rng: np.random.Generator, d: Draws, classes: np.ndarray) -> Draws:
    """Add, for some citizen reports, two more reports of the same act by other citizens."""
    report = np.flatnonzero(
        (classes[d.institution] == InstitutionClass.CITIZEN.value) & (d.counterpart >= 0)
    )
    chosen = report[rng.random(len(report)) < CORROBORATED_SHARE]
    if len(chosen) == 0:
        return d
    extra = np.repeat(chosen, 2)
    n_citizens = int(max(d.counterpart.max() + 1, 1))
    later = np.minimum(d.day[extra] + rng.integers(0, 4, len(extra)), d.day.max())
    reporters = (d.counterpart[extra] + rng.integers(1, n_citizens, len(extra))) % n_citizens
    reporters = np.where(reporters == d.subject[extra], (reporters + 1) % n_citizens, reporters)
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


def batches(
    d: Draws, nation: Nation, rb: Rulebook, inst_codes: list[str], first_day: int, seed: int
) -> list[tuple[str, pa.Table]]:
    """The draws as one text batch per institution, in the format ``ingest`` reads."""
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
            f"demo-{seed}-{code}", pa.array(np.arange(1, n + 1)).cast(pa.string()), "-"
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
