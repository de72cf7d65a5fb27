"""Request bodies, bounded: a size limit for every body and the records of a batch.

- ``BodyLimit`` (ASGI middleware) answers 413 (``too_large``) to a body whose
  Content-Length is over ``SOCIALRATING_API_MAX_BODY_BYTES`` without reading it, and
  stops a body sent without one (chunked) as soon as it grows past the limit;
- ``read_records`` reads a batch of records, as JSON (``{"records": [...]}``) or as NDJSON
  (``application/x-ndjson``: one record object per line, read as it streams in), and
  answers 413 (``too_many_rows``) past ``SOCIALRATING_API_MAX_BATCH_ROWS`` records.

What is wrong inside a record (an unknown column, a list, a lone surrogate, a key that
is not a string) is left to the use case, which reports it with the rows' own problems.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from socialrating.errors import Problem, ProblemsError
from socialrating.ledger.limits import printable

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
JSON_TYPES = ("application/json", "")


class BodyRefused(HTTPException):
    """A body refused before it was read whole: too large (413), too many records (413)
    or of a media type the endpoint does not take (415). ``code`` is the error code."""

    def __init__(self, status_code: int, code: str, detail: str) -> None:
        super().__init__(status_code=status_code, detail=detail)
        self.code = code


def too_large(limit: int) -> BodyRefused:
    return BodyRefused(
        413,
        "too_large",
        f"the request body is larger than {limit:,} bytes (SOCIALRATING_API_MAX_BODY_BYTES); "
        "send the records in smaller batches",
    )


class BodyLimit:
    """ASGI middleware: no request body over ``limit`` bytes is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > self.limit:
            from socialrating.api.models import ErrorOut

            error = too_large(self.limit)
            body = ErrorOut(error=error.code, message=str(error.detail)).model_dump_json()
            await send(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body.encode()})
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, counted, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def read_records(
    request: Request, max_rows: int, source: str
) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
    """The records of a batch body, each with its line, and the lines that are not records.

    A JSON body's records are numbered from 1 in ``records``; an NDJSON body's by its lines
    (blank lines count, and are skipped).

    Raises:
        BodyRefused: more than ``max_rows`` records (413), another media type (415).
        ProblemsError: the body is not JSON, or not ``{"records": [...]}`` (422).
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media in NDJSON_TYPES:
        raw = await _ndjson_lines(request, max_rows)
        return await run_in_threadpool(_ndjson_records, raw, source)
    if media in JSON_TYPES or media.endswith("+json"):
        body = await request.body()
        return await run_in_threadpool(_json_records, body, max_rows, source)
    raise BodyRefused(
        415,
        "unsupported_media_type",
        f'a batch is application/json ({{"records": [...]}}) or application/x-ndjson '
        f"(one record object per line), not {printable(media, 80)!r}",
    )


def _too_many(max_rows: int) -> BodyRefused:
    return BodyRefused(
        413,
        "too_many_rows",
        f"a batch holds at most {max_rows:,} records (SOCIALRATING_API_MAX_BATCH_ROWS); "
        "send the records in smaller batches",
    )


async def _ndjson_lines(request: Request, max_rows: int) -> list[tuple[int, bytes]]:
    """The body's non-blank lines with their numbers, read as the body streams in."""
    lines: list[tuple[int, bytes]] = []
    pending = bytearray()
    number = 0

    def take(text: bytes) -> None:
        nonlocal number
        number += 1
        if text.strip():
            if len(lines) >= max_rows:
                raise _too_many(max_rows)
            lines.append((number, text))

    async for chunk in request.stream():
        end = chunk.rfind(b"\n")
        if end < 0:
            pending += chunk
            continue
        pending += chunk[:end]
        for text in bytes(pending).split(b"\n"):
            take(text)
        pending = bytearray(chunk[end + 1 :])
    if pending:
        take(bytes(pending))
    return lines


def _ndjson_records(
    raw: list[tuple[int, bytes]], source: str
) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
    from socialrating.ledger.readers import parse_records

    problems: list[Problem] = []
    records, lines = parse_records(source, raw, problems)
    if not records and not problems:
        raise ProblemsError(
            "the body holds no records",
            [Problem("request", None, "", "send one record object per line")],
        )
    return records, lines, problems


def _json_records(
    body: bytes, max_rows: int, source: str
) -> tuple[list[dict[str, Any]], list[int], list[Problem]]:
    def refused(field: str, reason: str) -> ProblemsError:
        return ProblemsError(
            f"the request body is not a batch: {reason}", [Problem("request", None, field, reason)]
        )

    # json, not orjson (``jsontext``): one call parses the whole body (7.6 ms for 10,000
    # records; orjson's parse and a walk through its value to make it certain, 10.6 ms).
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise refused("", f"not UTF-8 text (byte {exc.start + 1}: {exc.reason})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise refused("", f"not valid JSON: {exc.msg} ({where})") from None
    except RecursionError:
        raise refused("", "not valid JSON: nested too deeply") from None
    except ValueError as exc:  # a number of more than 4,300 digits
        raise refused("", f"not valid JSON: {printable(str(exc), 200)}") from None
    if not isinstance(doc, dict) or "records" not in doc:
        raise refused("records", 'must be an object {"records": [...]}')
    others = [printable(name, 80) for name in doc if name != "records"]
    if others:
        raise refused(others[0], f"unknown field(s) {', '.join(others)}: only records")
    rows = doc["records"]
    if not isinstance(rows, list) or not rows:
        raise refused("records", "must be a list of one or more record objects")
    if len(rows) > max_rows:
        raise _too_many(max_rows)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[Problem] = []
    for number, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            records.append(row)
            lines.append(number)
        else:
            problems.append(Problem(source, number, "", "each record must be a JSON object"))
    return records, lines, problems
