"""Scenario files: the default fits the seed; every malformed file is refused with its
file, line and field; a fitted scenario is written with the file's comments kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DATA, SEED
from tests.test_cli import cli

from socialrating.rulebook import load_rulebook
from socialrating.simulate.scenario import (
    DEFAULT_SCENARIO,
    Scenario,
    ScenarioError,
    check_against,
    load_scenario,
    scenario_for,
    write_fitted,
)

SMALL = """\
name: small
rulebook: consequences
parameters:
  unruly: {citizen: 0.5}   # a comment that must survive
calibration:
  targets:
    flight_ban:
      share: 0.05
      knobs: [parameters/unruly/citizen]
"""


def write(tmp_path: Path, text: str | bytes, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return [str(p) for p in caught.value.problems]


def test_the_default_scenario_is_for_the_seed_and_names_its_parameters_and_lists() -> None:
    seed = load_rulebook(SEED)
    scenario, path = scenario_for(seed, None)
    assert path == DEFAULT_SCENARIO and scenario.rulebook == "seed"
    assert set(scenario.calibration.targets) == {"flight_ban", "rail_ban", "senior_position_ban"}
    assert scenario.calibration.targets["flight_ban"].share == 0.0125  # SPEC section 8
    # Another rulebook gets the built-in rates: nothing of the seed's by name.
    other, none = scenario_for(load_rulebook(DATA / "consequences.yaml"), None)
    assert none is None and other.parameters == {} and other.calibration.targets == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name: x\nrecords: [1, 2\n", ": not valid YAML"),
        ("- a\n- b\n", ":1: a scenario is a mapping"),
        ("name: x\nrecords:\n  citizen: {deduction: 1, addition: 1}\n  colour: red\n",
         ":4: records.colour: unknown field"),
        ("name: x\nparameters:\n  unruly: {citizen: -1}\n",
         ":3: parameters.unruly.citizen: Input should be greater than or equal to 0"),
        ("name: x\nparameters:\n  unruly: {alien: 1}\n", ":3: parameters.unruly.alien:"),
        ("description: no name\n", "name: Field required"),
        ("name: x\nresponses:\n  sanctioned: 1.5\n",
         ":3: responses.sanctioned: Input should be less than or equal to 1"),
        ("name: x\ncalibration:\n  targets:\n    flight_ban: {share: 0.1, knobs: [records/citizen]}\n",
         ":4: calibration.targets.flight_ban.knobs.0: 'records/citizen' names no rate"),
        ("name: x\ncalibration:\n  targets:\n    flight_ban: {share: 0.1, knobs: [parameters/unruly/citizen]}\n",
         "'parameters/unruly/citizen' names no rate"),
        ("name: x\ncalibration:\n  targets:\n    flight_ban: {share: 0, knobs: [records/citizen/deduction]}\n",
         ":4: calibration.targets.flight_ban.share: Input should be greater than 0"),
        ("name: x\nname: y\n", ":2: key 'name' repeats"),
        ("name: x\nrecords:\n  household_contacts: 0.5\n  near_contacts: 0.6\n",
         ":2: records: Value error, household_contacts + work_contacts + near_contacts is 1.3"),
        ("name: x\nrecords:\n  sociability_tail: 1\n",
         ":3: records.sociability_tail: Input should be greater than 1"),
        ("name: x\npopulation:\n  minors: 2\n",
         ":3: population.minors: Input should be less than or equal to 1"),
        ("name: x\npopulation:\n  family_categories: family\n",
         ":3: population.family_categories: Input should be a valid list"),
    ],
)  # fmt: skip
def test_a_malformed_scenario_is_refused_naming_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    found = problems(path)
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(path)) for p in found)


def test_an_unreadable_or_binary_file_is_refused(tmp_path: Path) -> None:
    assert "cannot read" in problems(tmp_path / "absent.yaml")[0]
    assert "not UTF-8" in problems(write(tmp_path, b"name: \xff\xfe\n"))[0]


def test_what_the_scenario_names_must_be_the_rulebooks(tmp_path: Path) -> None:
    rb = load_rulebook(DATA / "consequences.yaml")
    path = write(
        tmp_path,
        "name: x\nrulebook: consequences\nparameters:\n"
        "  nosuch: {citizen: 1}\n"
        "  rep: {citizen: 1}\n"  # the registry's parameter is for organisations only
        "calibration:\n  targets:\n"
        "    rail_ban: {share: 0.1, knobs: [records/citizen/deduction]}\n",
    )
    with pytest.raises(ScenarioError) as caught:
        check_against(path, load_scenario(path), rb)
    found = [str(p) for p in caught.value.problems]
    assert f"{path}:4: parameters.nosuch: the rulebook consequences has no parameter" in found[0]
    assert f"{path}:5: parameters.rep.citizen: rep is for organisations only" in found[1]
    assert (
        f"{path}:8: calibration.targets.rail_ban: the rulebook consequences has no list"
        in (found[2])
    )
    seed_scenario = load_scenario(DEFAULT_SCENARIO)
    with pytest.raises(ScenarioError, match="not 'consequences'") as caught:
        check_against(DEFAULT_SCENARIO, seed_scenario, rb)
    # The seed's family category, named by the default scenario, is not this rulebook's.
    assert any(
        "population.family_categories.0: the rulebook consequences has no category 'family'"
        in str(p)
        for p in caught.value.problems
    )
    # Left at its default, it is not checked (a rulebook without it has no family records).
    plain = write(tmp_path, "name: plain\n", "plain.yaml")
    check_against(plain, load_scenario(plain), rb)


def test_a_fitted_scenario_keeps_the_comments_and_changes_only_the_knobs(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL)
    scenario = load_scenario(path)
    fitted = scenario.scaled({"parameters/unruly/citizen": 0.5, "records/citizen/deduction": 2})
    assert fitted.rate("parameters/unruly/citizen") == 0.25
    assert (
        fitted.rate("records/citizen/deduction") == 2 * Scenario(name="d").records.citizen.deduction
    )
    out = tmp_path / "fitted.yaml"
    write_fitted(path, out, fitted)
    text = out.read_text(encoding="utf-8")
    assert "  unruly: {citizen: 0.25}   # a comment that must survive" in text
    assert load_scenario(out).rate("parameters/unruly/citizen") == 0.25
    # A rate the file leaves at its default cannot be written back in place: it says so.
    both = write(
        tmp_path, SMALL.replace("citizen]", "citizen, records/citizen/deduction]"), "b.yaml"
    )
    with pytest.raises(ScenarioError, match="records/citizen/deduction"):
        write_fitted(both, tmp_path / "x.yaml", load_scenario(both).scaled({}))


def test_the_commands_refuse_a_bad_scenario_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nresponses:\n  enabled: maybe\n")
    for args in (["simulate", "--out", str(tmp_path / "o")], ["demo", "--db", str(tmp_path / "d")]):
        result = cli(*args, "--citizens", "50", "--scenario", str(path))
        assert result.exit_code == 1, result.output
        assert f"{path}:3: responses.enabled" in result.output


def test_every_field_of_a_scenario_is_documented() -> None:
    from pydantic import BaseModel
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "simulation.md").read_text(encoding="utf-8")

    def fields(model: type[BaseModel]) -> set[str]:
        found = set()
        for name, info in model.model_fields.items():
            found.add(name)
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= fields(kind)
        return found

    missing = sorted(f for f in fields(Scenario) if f"`{f}" not in doc and f", {f}" not in doc
                     and f"{f}`" not in doc)  # fmt: skip
    assert missing == []
