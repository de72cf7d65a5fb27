"""The API's request and response bodies (its OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorOut(BaseModel):
    """Every error: a stable code, what went wrong, and where."""

    error: str = Field(description="A stable code, e.g. unauthenticated, forbidden, not_found.")
    message: str
    field: str | None = None
    problems: list[dict[str, Any]] = Field(
        default_factory=list, description="Each bad row or field: source, line, field, reason."
    )


class HealthOut(BaseModel):
    ok: bool
    entries: int
    latest_run: dict[str, Any] | None


class ReasonOut(BaseModel):
    code: str
    text: str
    entry_id: int | None


class DecisionOut(BaseModel):
    """May a subject use a service: the decision, its terms and its reasons."""

    subject: str
    service: str
    decision: str = Field(description="allowed, refused, terms, or unknown")
    terms: dict[str, Any]
    reasons: list[ReasonOut]
    as_of: str | None
    run_id: int | None


class DecisionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    subjects: list[str] = Field(min_length=1, max_length=100_000)


class DecisionsOut(BaseModel):
    run_id: int
    service: str
    decisions: list[DecisionOut]


class RecordsIn(BaseModel):
    """A batch of records from one institution: all stored, or none if any is bad."""

    model_config = ConfigDict(extra="forbid")
    records: list[dict[str, str | int | float | None]] = Field(min_length=1, max_length=100_000)


class IngestOut(BaseModel):
    source: str
    institution: str
    rows: int
    stored: int
    duplicates: int
    batch_id: int | None
    first_entry: int | None
    last_entry: int | None


class StatementOut(BaseModel):
    """A subject's statement: summary, then every line (see `socialrating show --json`)."""

    model_config = ConfigDict(extra="allow")
    subject: str
    kind: str
    as_of: str
    score: int
    grade: str
    summary: dict[str, Any]
    lines: list[dict[str, Any]]


class AccessLogOut(BaseModel):
    subject: str
    reads: list[dict[str, Any]]


class AggregatesOut(BaseModel):
    run_id: int
    as_of: str
    by: str
    cells: list[dict[str, Any]]
    suppressed_below: int


class AppealIn(BaseModel):
    """A subject's appeal against one record about it (the entry id its statement shows)."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=200)
    entry_id: int = Field(ge=1, le=2**62)
    reason: str = Field(min_length=1, max_length=2000, description="Why, in a sentence.")


class ReviewIn(BaseModel):
    """A reviewer's answer: the record stands (upheld) or stops counting (voided)."""

    model_config = ConfigDict(extra="forbid")
    outcome: Literal["upheld", "voided"]
    reason: str = Field(min_length=1, max_length=2000)


class AppealOut(BaseModel):
    """An appeal, its record, its deadline, and its review if it had one."""

    appeal_id: int
    subject: str
    entry_id: int
    parameter: str
    entry_date: str
    institution: str | None
    reason: str
    filed: str
    deadline: str
    status: str = Field(description="open, overdue, upheld or voided")
    late: bool
    review_reason: str | None
    reviewer: str | None
    reviewed: str | None
    appeal_entry: int
    review_entry: int | None
    void_entry: int | None


class AppealsOut(BaseModel):
    appeals: list[AppealOut]
