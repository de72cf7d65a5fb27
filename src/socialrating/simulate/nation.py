"""A synthetic nation: citizens and organisations with the attributes the registry keeps.

Every draw comes from the ``numpy.random.Generator`` passed in; the same seed gives the
same nation. Conduct is simulation state (how often a subject does well or badly), never
stored in the registry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from socialrating.model import day_number
from socialrating.simulate.scenario import Conduct

REGIONS = tuple(f"region-{i:02d}" for i in range(1, 35))  # 34 provincial-level divisions


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

    @property
    def organisations(self) -> int:
        return int(self.subjects.num_rows) - self.citizens


def citizen_code(i: int) -> str:
    return f"C{i + 1:09d}"


def organisation_code(i: int) -> str:
    return f"O{i + 1:08d}"


def make_nation(
    rng: np.random.Generator,
    citizens: int,
    organisations: int,
    today: dt.date,
    conduct: Conduct | None = None,
) -> Nation:
    """Draw a nation of ``citizens`` persons and ``organisations`` organisations, their
    conduct as the scenario's ``conduct`` says."""
    conduct = conduct or Conduct()
    ages = np.clip(rng.normal(40, 20, citizens), 0, 95)
    born_days = (
        day_number(today) - (ages * 365.25).astype(np.int64) - rng.integers(0, 365, citizens)
    )
    citizen_codes = pa.array([citizen_code(i) for i in range(citizens)], pa.string())
    org_codes = pa.array([organisation_code(i) for i in range(organisations)], pa.string())
    n = citizens + organisations
    sex = np.where(rng.random(citizens) < 0.5, "F", "M")
    region_idx = rng.integers(0, len(REGIONS), n)
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
                [pa.array(sex.tolist(), pa.string()), pa.nulls(organisations, pa.string())]
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
    return Nation(subjects, citizens, latent, (ages >= 25) & (ages <= 75))
