"""The FastAPI application: authenticate, call one use case, return its result.

One process holds the database; each request works on a cursor of its own (DuckDB's
transactions keep a reader from waiting on a writer). Every error is JSON with a stable
code (``models.ErrorOut``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.csv as pacsv
from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from socialrating import errors, settings
from socialrating.api.bodies import BodyLimit, BodyRefused, read_records
from socialrating.api.models import (
    AccessLogOut,
    AggregatesOut,
    AppealIn,
    AppealOut,
    AppealsOut,
    BatchesOut,
    DecisionOut,
    DecisionsIn,
    DecisionsOut,
    ErrorOut,
    HealthOut,
    IngestOut,
    OutlookOut,
    PublicListOut,
    PublicListsOut,
    ReviewIn,
    StatementOut,
    records_body,
)
from socialrating.api.quick import QuickDecisions, quick_decision
from socialrating.decisions.batch import CSV_COLUMNS
from socialrating.ledger.store import Store, open_store
from socialrating.service import usecases
from socialrating.service.access import start_writer
from socialrating.service.keys import principal_for
from socialrating.service.policy import AccessError, Principal, Unauthenticated
from socialrating.service.tables import ensure_tables
from socialrating.web.pages import pages
from socialrating.web.render import STATIC, error_page, signin_redirect
from socialrating.web.session import Sessions, secret
from socialrating.web.warm import Warming

STATUS: list[tuple[type[Exception], int, str]] = [
    (errors.UnknownSubject, 404, "not_found"),
    (errors.UnknownService, 404, "not_found"),
    (errors.UnknownList, 404, "not_found"),
    (errors.UnknownInstitution, 404, "not_found"),
    (errors.UnknownAppeal, 404, "not_found"),
    (errors.AppealError, 409, "appeal_refused"),
    (errors.NoSnapshot, 409, "no_run"),
    (errors.ProblemsError, 422, "invalid"),
    (errors.LedgerError, 409, "ledger"),
    (errors.SocialRatingError, 400, "bad_request"),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The request's body cannot be read (not UTF-8)."},
    401: {"model": ErrorOut, "description": "No key, or an unknown or revoked one."},
    403: {"model": ErrorOut, "description": "The key's role may not do this (here)."},
    404: {"model": ErrorOut, "description": "No such subject, service, list or appeal."},
    409: {"model": ErrorOut, "description": "Refused as things stand (e.g. under appeal already)."},
    413: {"model": ErrorOut, "description": "The body is over the size limit (too_large)."},
    422: {"model": ErrorOut, "description": "The request or its records are malformed."},
}


def store(request: Request) -> Iterator[Store]:
    """A cursor of the open database for this request."""
    root: Store = request.app.state.store
    cursor = root.cursor()
    try:
        yield cursor
    finally:
        cursor.close()


Authorization = Annotated[str | None, Header(description="Bearer sr_…")]


def bearer(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer …`` header."""
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def principal(
    s: Annotated[Store, Depends(store)], authorization: Authorization = None
) -> Principal:
    """Who the request's key belongs to.

    Raises:
        Unauthenticated: no key, or an unknown or revoked one.
    """
    return _who(s, bearer(authorization))


def _who(s: Store, token: str | None) -> Principal:
    found = principal_for(s, token)
    if found is None:
        raise Unauthenticated("a valid API key is required: Authorization: Bearer sr_…")
    return found


Db = Annotated[Store, Depends(store)]
Who = Annotated[Principal, Depends(principal)]
By = Annotated[str, Query(pattern="^(region|age_band|sex)$", description="region, age_band or sex")]


def _decide(
    root: Store, token: str | None, subject: str, service: str, explain: bool = False
) -> dict[str, Any]:
    cursor = root.cursor()
    try:
        return usecases.decide(cursor, _who(cursor, token), subject, service, explain=explain)
    finally:
        cursor.close()


def create_app(
    db: str,
    max_body_bytes: int | None = None,
    max_batch_rows: int | None = None,
    *,
    warm: bool = False,
) -> FastAPI:
    """The API over the database at ``db`` (opened for writing while the app runs).

    ``max_body_bytes`` and ``max_batch_rows`` bound request bodies and batches (default:
    the settings ``api_max_body_bytes`` and ``api_max_batch_rows``). With ``warm``, the
    plans of a statement are compiled in the background at start (``web.warm``), so that
    the first subject's page does not wait for them.

    Raises:
        SettingsError: a limit's setting is not a whole number of 1 or more.
    """
    max_body = max_body_bytes or settings.API_MAX_BODY_BYTES.count()
    max_rows = max_batch_rows or settings.API_MAX_BATCH_ROWS.count()
    settings.ACCESS_JOURNAL_SECONDS.count()  # refused here, not as the server starts
    settings.CHECKPOINT_MB.count()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        store = open_store(db)
        ensure_tables(store)
        start_writer(store)  # closed, with what it has pending written, when the store is
        app.state.store = store
        warming = app.state.warming = Warming(store) if warm else None
        try:
            yield
        finally:
            if warming is not None:
                warming.stop()
            store.close()

    app = FastAPI(
        title="socialrating",
        version="0.1.0",
        description="The information centre as a service: records in, decisions and "
        "statements out, each party seeing only what its key's role may.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, limit=max_body)
    app.add_middleware(QuickDecisions)
    app.state.sessions = Sessions(secret())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(pages())

    @app.exception_handler(BodyRefused)
    async def body_refused(request: Request, exc: BodyRefused) -> Response:
        return _error(exc.status_code, exc.code, str(exc.detail), request=request)

    @app.exception_handler(AccessError)
    async def access_error(request: Request, exc: AccessError) -> Response:
        if isinstance(exc, Unauthenticated) and not _is_api(request):
            return signin_redirect(request)
        return _error(exc.status, exc.code, str(exc), request=request)

    @app.exception_handler(errors.SocialRatingError)
    async def library_error(request: Request, exc: errors.SocialRatingError) -> Response:
        for cls, status, code in STATUS:
            if isinstance(exc, cls):
                problems = [p.as_dict() for p in getattr(exc, "problems", [])]
                message = str(exc).split("\n")[0]
                return _error(status, code, message, problems=problems, request=request)
        return _error(400, "bad_request", str(exc), request=request)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        # What the framework refuses itself (an unreadable body, no such route or method):
        # JSON in the same shape as every other error.
        code = HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "error")
        headers = dict(exc.headers) if exc.headers else None
        return _error(exc.status_code, code, str(exc.detail), headers=headers, request=request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = [
            {
                "source": "request",
                "line": None,
                "field": ".".join(map(str, e["loc"])),
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        field = problems[0]["field"] if problems else None
        if not _is_api(request):
            said = "; ".join(f"{p['field'].split('.')[-1]}: {p['reason']}" for p in problems)
            return error_page(request, 422, f"What was sent is not right ({said}).")
        return _error(422, "invalid", "the request is malformed", field, problems)

    @app.get("/v1/health", response_model=HealthOut, tags=["service"])
    def health(s: Db) -> dict[str, Any]:
        """That the service runs, and on which ledger and run. No key needed."""
        return usecases.health(s)

    @app.get(
        "/v1/decisions/{service}/{subject}",
        response_model=DecisionOut,
        responses=ERRORS,
        tags=["decisions"],
    )
    async def decision(
        service: str,
        subject: str,
        request: Request,
        authorization: Authorization = None,
        explain: Annotated[
            bool,
            Query(
                description="A refusal or terms by grade: also the score's key factors "
                "(from the subject's records; slower)"
            ),
        ] = False,
    ) -> JSONResponse:
        """May SUBJECT use SERVICE? From the latest scoring run, with reason codes."""
        # The common case waits on nothing but the access log's commit, on the event loop:
        # the key known lately, the latest run current and in memory. Otherwise, as every
        # other route, on a thread of its own with a cursor of its own.
        # (Without a query string, ``QuickDecisions`` answers it so before any routing.)
        root: Store = request.app.state.store
        quick = None if explain else quick_decision(root.path, authorization, subject, service)
        if quick is None:
            return JSONResponse(
                await run_in_threadpool(
                    _decide, root, bearer(authorization), subject, service, explain
                )
            )
        decided, logged = quick
        await asyncio.wrap_future(logged)
        return JSONResponse(decided)

    @app.post(
        "/v1/decisions/{service}",
        response_model=DecisionsOut,
        responses={
            200: {
                "description": "Every decision in full (JSON), or with `Accept: text/csv` "
                "one CSV row per subject: " + ", ".join(CSV_COLUMNS) + " (as "
                "`socialrating check-batch -o FILE.csv` writes), decided together: many "
                "times faster for long lists.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
            **ERRORS,
        },
        tags=["decisions"],
    )
    def decisions(
        service: str,
        body: DecisionsIn,
        s: Db,
        who: Who,
        accept: Annotated[str | None, Header(description="text/csv for CSV")] = None,
    ) -> Response:
        """Decide SERVICE for many subjects at once (a passenger list)."""
        if accept and "text/csv" in accept.lower():
            run_id, table = usecases.decide_many_table(s, who, service, body.subjects)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink)
            return Response(
                sink.getvalue().to_pybytes(),
                media_type="text/csv",
                headers={"X-Run-Id": str(run_id)},
            )
        # Returned as it is: validating 100,000 decisions against the model again would
        # take longer than deciding them (the schemathesis test checks the shape).
        return JSONResponse(usecases.decide_many(s, who, service, body.subjects))

    @app.get(
        "/v1/statements/{subject}",
        response_model=StatementOut,
        responses=ERRORS,
        tags=["statements"],
    )
    def statement(
        subject: str,
        s: Db,
        who: Who,
        as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD; default today")] = None,
    ) -> dict[str, Any]:
        """A subject's statement: every point with the record, rule and date behind it."""
        return usecases.statement(s, who, subject, as_of)

    @app.get(
        "/v1/statements/{subject}/outlook",
        response_model=OutlookOut,
        responses=ERRORS,
        tags=["statements"],
    )
    def outlook(
        subject: str,
        s: Db,
        who: Who,
        as_of: Annotated[dt.date | None, Query(description="YYYY-MM-DD; default today")] = None,
    ) -> dict[str, Any]:
        """What would change the subject's grade: the days its records expire or its list
        terms end, and its score, grade and lists on each if nothing else happens."""
        return usecases.outlook(s, who, subject, as_of)

    @app.get(
        "/v1/access-log/{subject}",
        response_model=AccessLogOut,
        responses=ERRORS,
        tags=["statements"],
    )
    def access_log(subject: str, s: Db, who: Who) -> dict[str, Any]:
        """Who read the subject's data, when, for what."""
        return usecases.access_log(s, who, subject)

    @app.get(
        "/v1/institutions/{institution}/batches",
        response_model=BatchesOut,
        responses=ERRORS,
        tags=["records"],
    )
    def batches(
        institution: str,
        s: Db,
        who: Who,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> dict[str, Any]:
        """INSTITUTION's latest batches in the ledger, and those refused with their problems."""
        return usecases.batches(s, who, institution, limit)

    @app.post(
        "/v1/institutions/{institution}/records",
        response_model=IngestOut,
        responses=ERRORS | BODY_ERRORS,
        tags=["records"],
        openapi_extra=records_body(),
    )
    async def records(institution: str, request: Request, s: Db, who: Who) -> dict[str, Any]:
        """Append a batch of records from INSTITUTION: all rows, or none if any is bad.

        The body is JSON, `{"records": [...]}`, or NDJSON (`Content-Type:
        application/x-ndjson`), one record object per line, read as it streams in.
        """
        usecases.may_ingest(who, institution)  # before the body is read
        source = f"api:{institution}"
        rows, lines, problems = await read_records(request, max_rows, source)
        return await run_in_threadpool(
            usecases.ingest_records, s, who, institution, rows, source, lines, problems
        )

    @app.get("/v1/aggregates/grades", response_model=AggregatesOut, responses=ERRORS,
             tags=["aggregates"])  # fmt: skip
    def grades(s: Db, who: Who, by: By = "region") -> dict[str, Any]:
        """Subjects per grade by region, age band or sex; small cells suppressed."""
        return usecases.aggregates(s, who, by)

    @app.get("/v1/aggregates/lists", response_model=AggregatesOut, responses=ERRORS,
             tags=["aggregates"])  # fmt: skip
    def lists(s: Db, who: Who, by: By = "region") -> dict[str, Any]:
        """Subjects on each list by region, age band or sex; small cells suppressed."""
        return usecases.aggregates(s, who, by, "lists")

    @app.get("/v1/aggregates/decisions/{service}", response_model=AggregatesOut,
             responses=ERRORS, tags=["aggregates"])  # fmt: skip
    def decided(service: str, s: Db, who: Who, by: By = "region") -> dict[str, Any]:
        """Subjects per decision SERVICE gives, by region, age band or sex; small cells
        suppressed."""
        return usecases.aggregates(s, who, by, "decisions", service)

    @app.get("/v1/public/lists", response_model=PublicListsOut, responses=ERRORS,
             tags=["public"])  # fmt: skip
    def published(s: Db, who: Who) -> dict[str, Any]:
        """The lists the rulebook publishes (as the court's debtor list is), with sizes."""
        return usecases.public_lists(s, who)

    @app.get("/v1/public/lists/{code}", response_model=PublicListOut, responses=ERRORS,
             tags=["public"])  # fmt: skip
    def published_list(
        code: str,
        s: Db,
        who: Who,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        offset: Annotated[int, Query(ge=0, le=2**40)] = 0,
        subject: Annotated[
            str | None,
            Query(max_length=120, description="Only this subject's entries (search by code)."),
        ] = None,
    ) -> dict[str, Any]:
        """A published list's members: only the fields the rulebook marks public; with
        ``subject``, search the list for one subject by code."""
        return usecases.public_list(s, who, code, limit, offset, subject)

    @app.post("/v1/appeals", response_model=AppealOut, responses=ERRORS, tags=["appeals"])
    def file_appeal(body: AppealIn, s: Db, who: Who) -> dict[str, Any]:
        """A subject appeals a record about it; a reviewer must answer by the deadline."""
        return usecases.file_appeal(s, who, body.subject, body.entry_id, body.reason)

    @app.get("/v1/appeals", response_model=AppealsOut, responses=ERRORS, tags=["appeals"])
    def appeals(
        s: Db,
        who: Who,
        subject: Annotated[str | None, Query(description="Only this subject's")] = None,
        status: Annotated[
            str | None,
            Query(pattern="^(open|overdue|reviewed)$", description="open, overdue or reviewed"),
        ] = None,
    ) -> dict[str, Any]:
        """The appeals in filing order: the review queue, or a subject's own."""
        return usecases.appeals(s, who, subject, status)

    @app.get("/v1/appeals/{appeal_id}", response_model=AppealOut, responses=ERRORS,
             tags=["appeals"])  # fmt: skip
    def appeal(appeal_id: Annotated[int, Path(ge=1, le=2**62)], s: Db, who: Who) -> dict[str, Any]:
        """One appeal: the record, the reason, the deadline, the review and its effect."""
        return usecases.appeal(s, who, appeal_id)

    @app.post("/v1/appeals/{appeal_id}/review", response_model=AppealOut, responses=ERRORS,
              tags=["appeals"])  # fmt: skip
    def review(
        appeal_id: Annotated[int, Path(ge=1, le=2**62)], body: ReviewIn, s: Db, who: Who
    ) -> dict[str, Any]:
        """Uphold the disputed record, or void it: it stops counting at once."""
        return usecases.review_appeal(s, who, appeal_id, body.outcome, body.reason)

    return app


BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {
        "model": ErrorOut,
        "description": "The body is over the size limit (too_large), or the batch has more "
        "records than the limit (too_many_rows); nothing is stored.",
    },
    415: {
        "model": ErrorOut,
        "description": "The body is neither application/json nor application/x-ndjson.",
    },
}

HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
"""The ``error`` code of what the framework refuses itself, by status."""


API_PATHS = ("/v1/", "/openapi.json", "/docs", "/redoc")
"""Paths whose errors are JSON; everywhere else (the web pages) an error is a page."""


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PATHS)


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    problems: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    request: Request | None = None,
) -> Response:
    if request is not None and not _is_api(request):
        return error_page(request, status, message, problems)
    body = ErrorOut(error=code, message=message, field=field, problems=problems or [])
    return JSONResponse(status_code=status, content=body.model_dump(), headers=headers)
