"""What every page is made with: a request's cursor and session, the templates, the
security headers, where a role starts, and errors as pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from socialrating.ledger.store import Store
from socialrating.service.policy import Principal, Role, Unauthenticated
from socialrating.web.session import COOKIE, Session, Sessions

HERE = Path(__file__).parent
STATIC = HERE / "static"
SIGNIN_COOKIE = "socialrating_signin"
"""A sign-in form's own CSRF token (double submit): there is no session yet."""

TEMPLATES = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["signed"] = lambda n: f"{int(n):+d}"


def _store(request: Request) -> Store:
    root: Store = request.app.state.store
    return root.cursor()


def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def _session(request: Request, store: Store) -> Session | None:
    return sessions(request).read(store, request.cookies.get(COOKIE))


@contextmanager
def visit(request: Request) -> Iterator[tuple[Store, Session | None]]:
    """A cursor of the database for one request, and who is signed in (if anyone)."""
    store = _store(request)
    try:
        yield store, _session(request, store)
    finally:
        store.close()


def current_session(request: Request) -> Session | None:
    """Who is signed in, if anyone (a cursor opened and closed for it)."""
    with visit(request) as (_, session):
        return session


@contextmanager
def signed_in(request: Request) -> Iterator[tuple[Store, Session]]:
    """As ``visit``, for a page that needs a signed-in key.

    Raises:
        Unauthenticated: nobody is (the application sends the browser to sign in).
    """
    with visit(request) as (store, session):
        if session is None:
            raise Unauthenticated("please sign in")
        yield store, session


def render(
    request: Request,
    template: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page, with who is signed in (for the menu and the forms' CSRF token)."""
    html = TEMPLATES.get_template(template).render(
        request=request,
        session=session,
        principal=None if session is None else session.principal,
        home=None if session is None else home_of(session.principal),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


SECURITY_HEADERS = {
    # Everything comes from this server; no page may be framed elsewhere.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def home_of(principal: Principal) -> str:
    """Where a role starts."""
    if principal.role is Role.SUBJECT and principal.acts_for:
        return f"/subjects/{quote(principal.acts_for[0])}"
    return {
        Role.PROVIDER: "/check",
        Role.INSTITUTION: "/institution",
        Role.REVIEWER: "/review",
        Role.ANALYST: "/aggregates",
        Role.PUBLIC: "/lists",
    }.get(principal.role, "/lists" if principal.role is not Role.ADMIN else "/dashboard")


def signin_redirect(request: Request) -> RedirectResponse:
    """To the sign-in page, and back here after it."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)


def error_page(
    request: Request, status: int, message: str, problems: list[dict[str, Any]] | None = None
) -> HTMLResponse:
    """An error as a page: what went wrong, in words (each problem with its line and
    field, when there are some), and a way back."""
    session = current_session(request)
    titles = {
        401: "Please sign in",
        403: "Not allowed",
        404: "Not found",
        409: "Not possible now",
        413: "Too large",
        422: "Please check what you entered",
    }
    return render(
        request,
        "error.html",
        session,
        status=status,
        title=titles.get(status, "Something went wrong"),
        message=message,
        problems=problems or [],
    )
