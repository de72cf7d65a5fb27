"""A scenario: the rates and behaviour a synthetic nation lives by, read from a YAML file.

A scenario says how often subjects of each kind get records (``records``), the yearly rate
of the parameters it names itself (``parameters``, the ones calibration tunes), how
conduct varies (``conduct``), how people respond to the system (``responses``), and what
``socialrating calibrate`` fits the rates to (``calibration``). Every problem is reported
with its file, line and field, like a rulebook's; the parameters and lists it names are
checked against the rulebook it is used with (``check_against``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from socialrating.errors import Problem, ProblemsError
from socialrating.rulebook import Rulebook
from socialrating.rulebook.yamlpos import YamlSyntaxError, line_of, load_with_lines

DEFAULT_SCENARIO = Path(__file__).resolve().parents[3] / "scenarios" / "nation.yaml"

Kind = Literal["citizen", "organisation"]
Rate = Annotated[float, Field(ge=0, le=365)]
Share = Annotated[float, Field(ge=0, le=1)]


class ScenarioError(ProblemsError):
    """A scenario failed validation; ``problems`` lists every problem found."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KindRates(_Strict):
    """Yearly records per subject at typical conduct, of deductions and of additions."""

    deduction: Rate
    addition: Rate


class Records(_Strict):
    """How many records the institutions send, and of what sort."""

    citizen: KindRates = KindRates(deduction=3.0, addition=2.5)
    organisation: KindRates = KindRates(deduction=2.0, addition=1.5)
    tail_share: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.15, description="The share of records drawn from the catalogue's long tail."
    )
    corroborated_share: Share = Field(
        0.35, description="Citizen reports that two more citizens also send."
    )
    verified_share: Share = Field(
        0.4, description="Citizen reports an authority verifies a few days later."
    )
    contacts_per_year: Rate = Field(
        6.0, description="Telecom contact records per citizen (for the rulebook's contagion)."
    )
    household_contacts: Share = Field(
        0.3, description="The share of contacts with a member of one's own household."
    )
    work_contacts: Share = Field(
        0.2, description="The share of contacts with a colleague (same employer)."
    )
    near_contacts: Share = Field(
        0.35,
        description="The share of contacts within a circle of neighbours (the rest: "
        "anyone, the more sociable more often).",
    )
    circle: Annotated[int, Field(ge=1, le=10_000)] = Field(
        40, description="A circle: the citizens within this many places either side."
    )
    sociability_tail: Annotated[float, Field(gt=1, le=10)] = Field(
        2.2,
        description="The Pareto shape of a citizen's sociability (contacts made and "
        "received scale with it): the lower, the heavier the tail of the degrees.",
    )

    @model_validator(mode="after")
    def _shares(self) -> Records:
        total = self.household_contacts + self.work_contacts + self.near_contacts
        if total > 1 + 1e-9:
            raise ValueError(
                "household_contacts + work_contacts + near_contacts is "
                f"{total:g}: the shares of contacts cannot add up to more than 1"
            )
        return self


class Population(_Strict):
    """Who the nation's citizens are, beyond the registry: households, work, income."""

    minors: Share = Field(
        0.05, description="Records of citizens under 16 are this share of an adult's."
    )
    elderly: Share = Field(0.5, description="Records of citizens of 70 and over: this share.")
    family_categories: list[str] = Field(
        default=["family"],
        description="Rulebook categories whose records only citizens with a parent of 60 "
        "or over get (the others draw their records from the other categories; a parameter "
        "named under `parameters` in these categories comes to them only).",
    )
    organisation_size_tail: Annotated[float, Field(gt=0.5, le=10)] = Field(
        1.1,
        description="The Pareto shape of organisations' sizes (employees): most are small, "
        "a few employ thousands.",
    )
    size_elasticity: Annotated[float, Field(ge=0, le=2)] = Field(
        0.3,
        description="An organisation's records scale with (1 + employees) to this power, "
        "averaged to 1 over the organisations.",
    )
    debts_income_elasticity: Annotated[float, Field(ge=0, le=3)] = Field(
        0.5,
        description="A debtor pays at the scenario's rate times (income / the median "
        "adult's income) to this power, within a quarter and four times.",
    )


class ConductGroup(_Strict):
    """A group of subjects whose conduct is shifted (the few who misbehave often)."""

    share: Share
    shift: float


class Conduct(_Strict):
    """A subject's latent conduct: normal around 0, shifted for its groups (nested)."""

    spread: Annotated[float, Field(ge=0, le=5)] = 0.6
    groups: list[ConductGroup] = [
        ConductGroup(share=0.03, shift=2.2),
        ConductGroup(share=0.008, shift=1.5),
    ]
    deduction_elasticity: Annotated[float, Field(ge=0, le=5)] = Field(
        0.9, description="Deductions scale by exp(elasticity * conduct)."
    )
    addition_elasticity: Annotated[float, Field(ge=0, le=5)] = Field(
        0.4, description="Additions scale by exp(-elasticity * conduct)."
    )


class Responses(_Strict):
    """How subjects respond to what the system did to them (read from the last run)."""

    enabled: bool = True
    sanctioned: Share = Field(
        0.5, description="Deductions are multiplied by this while on a list or graded C or D."
    )
    near_threshold: Share = Field(
        0.8, description="… and by this while within `margin` points of a lower grade."
    )
    margin: Annotated[int, Field(ge=0, le=1000)] = 30
    organisations_rectify: Share = Field(
        0.5,
        description="An organisation on a list or graded C or D also rectifies: its "
        "deductions are multiplied by this as well.",
    )
    debts_paid_per_year: Rate = Field(
        1.5,
        description="How often a debtor pays, per year, when paying is what ends the "
        "listing (with responses off: `debts.paid_per_year`).",
    )


class Debts(_Strict):
    """Debts paid whatever the system does (the rate when responses are off)."""

    paid_per_year: Rate = 0.6


class Target(_Strict):
    """A list's published share of citizens, and the rates calibration scales for it."""

    share: Annotated[float, Field(gt=0, le=1)]
    knobs: Annotated[list[str], Field(min_length=1)] = Field(
        description="Rates scaled together: `parameters/CODE/KIND` or `records/KIND/SIGN`."
    )


class Calibration(_Strict):
    """What `socialrating calibrate` fits, on what nation."""

    targets: dict[str, Target] = {}
    tolerance: Annotated[float, Field(gt=0, lt=1)] = 0.1
    citizens: Annotated[int, Field(ge=100)] = 1_000_000
    days: Annotated[int, Field(ge=7, le=3650)] = 365
    step_days: Annotated[int, Field(ge=1, le=3650)] = 91
    rounds: Annotated[int, Field(ge=1, le=50)] = 8
    seed: int = 2021


class Scenario(_Strict):
    """A whole scenario (see the module)."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    rulebook: str | None = Field(
        None, description="The name of the rulebook the scenario is written for, if one."
    )
    organisations_per_citizen: Annotated[float, Field(ge=0, le=10)] = 0.1
    representatives_share: Annotated[float, Field(gt=0, le=1)] = Field(
        0.3,
        description="Distinct legal representatives per organisation: each organisation's "
        "is drawn from a pool of adults this share of the organisations' number.",
    )
    records: Records = Records()
    population: Population = Population()
    parameters: dict[str, dict[Kind, Rate]] = Field(
        default={},
        description="Yearly records per subject at typical conduct, for the parameters "
        "named; they are not drawn from the kind's deductions or additions.",
    )
    conduct: Conduct = Conduct()
    responses: Responses = Responses()
    debts: Debts = Debts()
    calibration: Calibration = Calibration()

    def rate(self, knob: str) -> float:
        """The value a knob names (see ``Target.knobs``)."""
        where, first, second = _knob(knob)
        if where == "parameters":
            return self.parameters[first][second]  # type: ignore[index]
        return float(getattr(getattr(self.records, first), second))

    def scaled(self, factors: dict[str, float]) -> Scenario:
        """This scenario with each knob's rate multiplied by its factor."""
        data = self.model_dump()
        for knob, factor in factors.items():
            where, first, second = _knob(knob)
            data[where][first][second] *= factor
        return Scenario.model_validate(data)


def _knob(knob: str) -> tuple[str, str, str]:
    parts = knob.split("/")
    if len(parts) != 3 or parts[0] not in ("parameters", "records"):
        raise ValueError(f"knob {knob!r}: `parameters/CODE/KIND` or `records/KIND/SIGN`")
    return parts[0], parts[1], parts[2]


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario at ``path``.

    Raises:
        ScenarioError: with every problem, each naming the file, line and field.
    """
    scenario, _ = _load(Path(path))
    return scenario


def _load(path: Path) -> tuple[Scenario, dict[tuple[str | int, ...], int]]:
    src = str(path)

    def fail(problems: list[Problem]) -> ScenarioError:
        return ScenarioError(f"scenario {src} is not valid", problems)

    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise fail([Problem(src, None, "", f"cannot read: {exc}")]) from None
    except UnicodeDecodeError as exc:
        raise fail([Problem(src, None, "", f"not UTF-8: {exc}")]) from None
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise fail([Problem(src, exc.line, "", exc.reason)]) from None
    if not isinstance(data, dict):
        raise fail([Problem(src, 1, "", "a scenario is a mapping of keys to values")])
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(part for part in e["loc"] if part != "[key]")
            reason = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
            if e["type"] not in ("missing", "extra_forbidden"):
                reason += f" (got {e['input']!r})"
            field = ".".join(str(p) for p in loc)
            problems.append(Problem(src, line_of(lines, loc), field, reason))
        raise fail(sorted(problems)) from None
    problems = []
    for code, target in scenario.calibration.targets.items():
        for i, knob in enumerate(target.knobs):
            where = ("calibration", "targets", code, "knobs", i)
            try:
                scenario.rate(knob)
            except (ValueError, KeyError, AttributeError):
                problems.append(
                    Problem(
                        src,
                        line_of(lines, where),
                        ".".join(str(p) for p in where),
                        f"{knob!r} names no rate of this scenario: `parameters/CODE/KIND` "
                        "for a parameter and kind under `parameters`, or "
                        "`records/KIND/deduction|addition`",
                    )
                )
    if problems:
        raise fail(problems)
    return scenario, lines


def scenario_for(rb: Rulebook, path: str | Path | None) -> tuple[Scenario, Path | None]:
    """The scenario at ``path``, checked against the rulebook; without one, the default
    scenario if it is written for this rulebook, else the built-in rates (no parameters
    of their own, nothing to calibrate). Returns the scenario and its file, if one."""
    if path is None:
        default = load_scenario(DEFAULT_SCENARIO)
        if default.rulebook != rb.spec.name:
            return Scenario(name="built-in"), None
        path = DEFAULT_SCENARIO
    scenario = load_scenario(path)
    check_against(path, scenario, rb)
    return scenario, Path(path)


def check_against(path: str | Path, scenario: Scenario, rb: Rulebook) -> None:
    """Check that the parameters and lists the scenario names are the rulebook's.

    Raises:
        ScenarioError: naming each unknown parameter, kind or list, with its line.
    """
    _, lines = _load(Path(path)) if Path(path).exists() else (scenario, {})
    codes = rb.parameters.column("code").to_pylist()
    applies = dict(zip(codes, rb.parameters.column("subjects").to_pylist(), strict=True))
    src = str(path)
    problems = []
    for code, kinds in scenario.parameters.items():
        where = ("parameters", code)
        if code not in applies:
            problems.append(
                Problem(
                    src,
                    line_of(lines, where),
                    f"parameters.{code}",
                    f"the rulebook {rb.spec.name} has no parameter {code!r}",
                )
            )
            continue
        for kind in kinds:
            if applies[code] not in (kind, "any"):
                problems.append(
                    Problem(
                        src,
                        line_of(lines, (*where, kind)),
                        f"parameters.{code}.{kind}",
                        f"{code} is for {applies[code]}s only",
                    )
                )
    if scenario.rulebook is not None and scenario.rulebook != rb.spec.name:
        problems.append(
            Problem(
                src,
                line_of(lines, ("rulebook",)),
                "rulebook",
                f"the scenario is for rulebook {scenario.rulebook!r}, not {rb.spec.name!r}",
            )
        )
    # The default names the seed's category; a rulebook without it has no family records.
    categories = {c.code for c in rb.spec.categories}
    named = "family_categories" in scenario.population.model_fields_set
    for i, category in enumerate(scenario.population.family_categories if named else []):
        if category not in categories:
            at: tuple[str | int, ...] = ("population", "family_categories", i)
            problems.append(
                Problem(
                    src,
                    line_of(lines, at),
                    f"population.family_categories.{i}",
                    f"the rulebook {rb.spec.name} has no category {category!r}",
                )
            )
    lists = {lst.code for lst in rb.spec.lists}
    for code in scenario.calibration.targets:
        if code not in lists:
            problems.append(
                Problem(
                    src,
                    line_of(lines, ("calibration", "targets", code)),
                    f"calibration.targets.{code}",
                    f"the rulebook {rb.spec.name} has no list {code!r} "
                    f"(it has: {', '.join(sorted(lists))})",
                )
            )
    if problems:
        raise ScenarioError(f"scenario {src} does not fit rulebook {rb.spec.name}", problems)


def write_fitted(path: str | Path, out: str | Path, fitted: Scenario) -> None:
    """Write the scenario at ``path`` to ``out`` with each knob's value as in ``fitted``,
    keeping the file's comments and layout."""
    source = Path(path)
    text = source.read_text(encoding="utf-8").splitlines(keepends=True)
    _, lines = _load(source)
    knobs = {k for t in fitted.calibration.targets.values() for k in t.knobs}
    for knob in sorted(knobs):
        where, first, second = _knob(knob)
        line = lines.get((where, first, second))
        if line is None:
            raise ScenarioError(
                f"cannot write the fitted {knob}",
                [
                    Problem(
                        str(source),
                        None,
                        knob,
                        "the file leaves this rate at its default: write its value in the "
                        "file, so that calibration can write the fitted one there",
                    )
                ],
            )
        pattern = re.compile(rf"(\b{re.escape(second)}\s*:\s*)([-+0-9.eE]+)")
        value = _number(fitted.rate(knob))

        def put(m: re.Match[str], value: str = value) -> str:
            return m.group(1) + value

        new, n = pattern.subn(put, text[line - 1], count=1)
        if n != 1:
            raise ScenarioError(
                f"cannot write the fitted {knob}",
                [Problem(str(source), line, knob, "its value is not a number on its line")],
            )
        text[line - 1] = new
    Path(out).write_text("".join(text), encoding="utf-8")


def _number(value: float) -> str:
    return f"{value:.6g}"
