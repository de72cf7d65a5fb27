"""The rulebook's YAML schema as pydantic models.

The models check each field's type and range; ``loader.py`` adds the checks that span
fields (unique codes, known categories and institutions, ordered bands).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from socialrating.model import InstitutionClass

Code = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Days = Annotated[int, Field(gt=0, le=36_500)]
Confidence = Annotated[float, Field(gt=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Band(_Strict):
    """One grade band: scores at or above ``min`` (and below the next band up) get ``grade``.

    The lowest band has no ``min``: it takes every score below the band above it.
    """

    grade: Annotated[str, Field(min_length=1, max_length=8)]
    min: int | None = None
    label: str = ""


class Grades(_Strict):
    """Grade bands for citizens and for organisations, highest first."""

    citizen: Annotated[list[Band], Field(min_length=1)]
    organisation: Annotated[list[Band], Field(min_length=1)]


class Verification(_Strict):
    """When a citizen report counts.

    A report counts when an authority has verified it (``by_authority``), or when at least
    ``reporters`` independent citizens reported the same subject for the same parameter
    within one window of ``window_days`` days; then the earliest of those reports counts
    and the others corroborate it.
    """

    by_authority: bool = True
    reporters: Annotated[int, Field(ge=1, le=1000)] | None = None
    window_days: Days | None = None


class CameraRules(_Strict):
    """Rules for records that carry an identification confidence."""

    min_confidence: Confidence = 0.9


class Institution(_Strict):
    """An institution that sends records."""

    code: Code
    name: str = ""
    class_: InstitutionClass = Field(alias="class")


class Cap(_Strict):
    """At most ``max_deduction`` points lost and ``max_addition`` gained per period.

    Periods are consecutive windows of ``period_days`` days starting on the rulebook's
    effective date; a record falls in the window of the day its fact arose.
    """

    period_days: Days
    max_deduction: Annotated[int, Field(ge=0)] | None = None
    max_addition: Annotated[int, Field(ge=0)] | None = None


class Category(_Strict):
    """A category of parameters; points may be capped per category and period."""

    code: Code
    name: str = ""
    cap: Cap | None = None


class Parameter(_Strict):
    """One parameter an institution may report, and the points it carries."""

    code: Code
    name: str = ""
    category: Code
    points: Annotated[int, Field(ge=-100_000, le=100_000)]
    per_unit: bool = False
    expires_after_days: Days | None = None
    institutions: Annotated[list[Code], Field(min_length=1)]
    min_confidence: Confidence | None = None
    verification: Verification | None = None
    tags: list[Code] = Field(default_factory=list)
    subjects: Literal["citizen", "organisation", "any"] = "citizen"


class RulebookSpec(_Strict):
    """A whole rulebook, as written in its YAML file."""

    name: Code
    version: str
    title: str = ""
    effective: dt.date
    base_score: int = 1000
    grades: Grades
    camera: CameraRules = CameraRules()
    reports: Verification = Verification()
    institutions: Annotated[list[Institution], Field(min_length=1)]
    categories: Annotated[list[Category], Field(min_length=1)]
    parameters: list[Parameter] = Field(default_factory=list)
    catalogue: str | None = Field(
        default=None,
        description="A CSV (.csv, .csv.gz) or Parquet file of further parameters, "
        "relative to the YAML file; its columns are the parameter fields, with lists "
        "separated by ';'.",
    )
