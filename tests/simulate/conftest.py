"""Fixtures of the simulation's tests: the seed rulebook and the shipped scenario."""

from __future__ import annotations

import pytest
from tests.conftest import SEED

from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.simulate.scenario import DEFAULT_SCENARIO, Scenario, load_scenario


@pytest.fixture(scope="session")
def seed() -> Rulebook:
    return load_rulebook(SEED)


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario(DEFAULT_SCENARIO)
