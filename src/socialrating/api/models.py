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


Scalar = str | int | float | bool | None


class RecordIn(BaseModel):
    """One record: the columns of a batch file (see `socialrating ingest --help`), and no
    other. Each value is one string or number; the key is a string."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(description="The idempotency key: the same key and content count once.")
    subject: Scalar = None
    parameter: Scalar = None
    date: Scalar = Field(None, description="YYYY-MM-DD, from 1900-01-01 to today.")
    quantity: Scalar = None
    severity: Scalar = None
    confidence: Scalar = None
    counterpart: Scalar = None
    evidence: Scalar = None
    kind: Scalar = Field(None, description="record (the default) or verification")
    refers_to: Scalar = None
    act: Scalar = None
    level: Scalar = None


class RecordsIn(BaseModel):
    """A batch of records from one institution: all stored, or none if any is bad. At
    most SOCIALRATING_API_MAX_BATCH_ROWS records (100,000 by default)."""

    model_config = ConfigDict(extra="forbid")
    records: list[RecordIn] = Field(min_length=1)


def records_body() -> dict[str, Any]:
    """The OpenAPI request body of a batch (``openapi_extra``): JSON or NDJSON."""
    schema = RecordsIn.model_json_schema()
    record = schema.pop("$defs")["RecordIn"]
    schema["properties"]["records"]["items"] = record  # inline: no component to refer to
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema},
                "application/x-ndjson": {
                    "schema": {
                        "type": "string",
                        "description": "One record object per line (each as in records).",
                    },
                },
            },
        },
    }


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


class OutlookStep(BaseModel):
    date: str
    ends: list[str] = Field(description="What ends that day: records expiring, list terms")
    score: int
    grade: str
    lists: list[str]


class OutlookOut(BaseModel):
    """What would change the subject's grade if nothing else happens."""

    subject: str
    as_of: str
    score: int
    grade: str
    lists: list[str]
    steps: list[OutlookStep]
    more: int = Field(description="Further days on which something ends, not shown")


class AccessLogOut(BaseModel):
    subject: str
    reads: list[dict[str, Any]]


class AggregatesOut(BaseModel):
    """Subjects per cell (kind, group, and grade, list or decision); small cells null."""

    run_id: int
    as_of: str
    by: str
    of: str = Field(description="grades, lists, or decisions:SERVICE")
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


class PublicListsOut(BaseModel):
    """The lists that the rulebook publishes."""

    run_id: int
    as_of: str
    lists: list[dict[str, Any]]


class PublicListOut(BaseModel):
    """A published list's members, each with only the fields the rulebook marks public."""

    run_id: int
    as_of: str
    code: str = Field(alias="list", description="The list's code.")
    size: int
    offset: int
    fields: list[str]
    members: list[dict[str, Any]]


class BatchesOut(BaseModel):
    """An institution's batches in the ledger and the ones refused, newest first."""

    institution: str
    batches: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
