"""A provider's single decision answered before the framework's routing, when it can be.

``GET /v1/decisions/{service}/{subject}`` is the call a service makes most (a passenger
at a gate, a rental at a kiosk). Most of its cost was the framework's, not the decision:
matching the path against every route, solving the dependencies, validating the
parameters (measured with py-spy on ``bench/serve.py``: about 60 % of the server's time,
the decision from memory 14 %). ``QuickDecisions`` answers the common case itself: no
query string, a key known lately, a permitted service, the latest run current and in
memory (``usecases.decide_from_memory``). Anything else, any error included, goes on to
the route, which answers it the one way every route does (its errors, its checks). The
answer is the route's: the same body, the same status, after the same access-log commit.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from socialrating.service import usecases
from socialrating.service.keys import known_principal

PREFIX = "/v1/decisions/"


def quick_decision(
    path: str, authorization: str | None, subject: str, service: str
) -> tuple[dict[str, Any], Future[None]] | None:
    """The decision for ``subject`` and ``service`` asked with ``authorization`` (an
    ``Authorization`` header's value) of the database at ``path``, from memory, with its
    access-log write under way; None when it needs the database or the route (an unknown
    key, a refusal of access, a subject or service not known: the route says why)."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    who = known_principal(path, authorization[7:].strip())
    if who is None:
        return None
    try:
        return usecases.decide_from_memory(path, who, subject, service)
    except Exception:  # the route raises it again, and answers it
        return None


class QuickDecisions:
    """ASGI middleware: ``GET /v1/decisions/{service}/{subject}`` without a query string,
    answered from memory when ``quick_decision`` can (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = _asked(scope)
        if found is not None:
            app = scope.get("app")
            store = getattr(getattr(app, "state", None), "store", None)
            quick = None if store is None else quick_decision(store.path, *found)
            if quick is not None:
                decided, logged = quick
                await asyncio.wrap_future(logged)  # a read answered is a read logged
                await JSONResponse(decided)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _asked(scope: Scope) -> tuple[str | None, str, str] | None:
    """The authorization, subject and service of a plain single decision; else None."""
    if scope["type"] != "http" or scope["method"] != "GET" or scope.get("query_string"):
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    service, _, subject = path[len(PREFIX) :].partition("/")
    if not service or not subject or "/" in subject:
        return None
    keys = [v for k, v in scope["headers"] if k == b"authorization"]
    if len(keys) != 1:
        return None
    return keys[0].decode("latin-1"), subject, service
