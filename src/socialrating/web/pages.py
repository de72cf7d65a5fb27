"""The web pages: the service seen through a browser, each party under its key's role.

Server-rendered (Jinja2), readable without JavaScript, styled by the package's own
stylesheet; nothing is loaded from another host. Each page calls the same use case as
the API (``service.usecases``) with the principal of the signed-in key, so a page shows
exactly what the API would give that key, and every read of a subject is logged alike.

- ``/signin``, ``/signout``: a key in, a signed session cookie out (``web.session``).
- ``/subjects/{code}``: a subject's page: score, grade, key reasons, every line by
  category with its rule, points, what counted and expiry; lists; decisions; appeals.
  ``/subjects/{code}/appeal?entry=N`` appeals a line; ``/subjects/{code}/access`` says
  who read the subject's data.
- ``/check``: a provider asks one decision (decision, terms and reason codes only).
- ``/lists``: the lists a rulebook publishes, searched by code; no sign-in needed.
- ``/review``: a reviewer's queue; each appeal upheld or voided with a reason.
- ``/dashboard``: the operator's (runs, decisions, records per day, last batches,
  appeals, the ledger's head); ``/aggregates``: the analyst's grades by group, small
  cells suppressed. Charts are drawn on the server, each with its table.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from socialrating.ledger.rulebooks import in_force
from socialrating.ledger.store import Store
from socialrating.service import usecases
from socialrating.service.keys import principal_for, principal_of_key
from socialrating.service.policy import Principal, Role
from socialrating.web.render import (
    SECURITY_HEADERS,
    SIGNIN_COOKIE,
    current_session,
    error_page,
    home_of,
    render,
    sessions,
    signed_in,
    visit,
)
from socialrating.web.session import COOKIE, check_csrf, read_link
from socialrating.web.uploads import BATCHES, saved_upload, uploaded_subjects
from socialrating.web.views import top_institutions, ways_off_list


def pages() -> APIRouter:
    """The router of every page (mounted at ``/`` by ``api.app.create_app``)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def index(request: Request) -> Response:
        session = current_session(request)
        if session is not None:
            return RedirectResponse(home_of(session.principal), status_code=303)
        return RedirectResponse("/signin", status_code=303)

    @router.get("/signin", response_class=HTMLResponse)
    def signin_form(request: Request, next: str = "/") -> Response:
        return _signin_page(request, "signin.html", next=_local(next), error=None)

    @router.post("/signin", response_class=HTMLResponse)
    def signin(
        request: Request,
        key: Annotated[str, Form(max_length=200)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        if not _signin_token_ok(request, csrf):
            return error_page(request, 403, "The sign-in form is out of date: reload it.")
        with visit(request) as (store, _):
            found = principal_for(store, key.strip())
        if found is None or found.key_id is None:
            return _signin_page(
                request,
                "signin.html",
                status=401,
                next=_local(next),
                error="That key is not valid: check it, or ask for a new one.",
            )
        return _signed_in_as(request, found, _local(next))

    @router.get("/signin/link", response_class=HTMLResponse)
    def link_form(request: Request, token: Annotated[str, Query(max_length=400)]) -> Response:
        return _signin_page(request, "link.html", token=token, key=_link(request, token))

    @router.post("/signin/link", response_class=HTMLResponse)
    def link_signin(
        request: Request,
        token: Annotated[str, Form(max_length=400)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        if not _signin_token_ok(request, csrf):
            return error_page(request, 403, "The sign-in form is out of date: open the link again.")
        import duckdb

        found = _link(request, token)
        with visit(request) as (store, _):
            try:  # the nonce is the table's key: of two uses at once, one fails here
                store.run(
                    "INSERT INTO used_links VALUES (?, ?, now()::TIMESTAMP)",
                    [found["nonce"], found["key_id"]],
                )
            except duckdb.ConstraintException:
                return error_page(request, 403, LINK_GONE)
        return _signed_in_as(request, found["principal"], "/")

    @router.post("/signout")
    def signout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        with visit(request) as (_, session):
            if session is not None:
                check_csrf(session, csrf)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @router.get("/subjects/{code}", response_class=HTMLResponse)
    def subject_page(
        request: Request,
        code: str,
        as_of: Annotated[dt.date | None, Query()] = None,
    ) -> Response:
        with signed_in(request) as (store, session):
            day = as_of or _latest_day(store)
            doc = usecases.statement(store, session.principal, code, day)
            appeals = usecases.appeals(store, session.principal, code, None)["appeals"]
            rules = in_force(store, dt.date.fromisoformat(str(doc["as_of"])))
        # The lines by category, in the summary's order above them (what took most first):
        # the page lists every line, so each category of the summary has some.
        by_category: dict[str, list[dict[str, Any]]] = {
            total["category"] or "(none)": [] for total in doc["summary"]["categories"]
        }
        for line in doc["lines"]:
            by_category[line["category"] or "(none)"].append(line)
        ways_off = [ways_off_list(rules, m) for m in doc["lists"]]
        return render(
            request,
            "subject.html",
            session,
            doc=doc,
            by_category=by_category,
            appeals=appeals,
            ways_off=ways_off,
            title=f"{code}: score and statement",
        )

    @router.get("/subjects/{code}/appeal", response_class=HTMLResponse)
    def appeal_form(
        request: Request, code: str, entry: Annotated[int, Query(ge=1, le=2**62)]
    ) -> Response:
        with signed_in(request) as (store, session):
            doc = usecases.statement(store, session.principal, code, _latest_day(store))
        line = next((x for x in doc["lines"] if x["entry_id"] == entry), None)
        if line is None:
            return error_page(request, 404, f"Entry {entry} is not a line of {code}'s statement.")
        return render(
            request, "appeal.html", session, doc=doc, line=line, title=f"Appeal entry {entry}"
        )

    @router.post("/subjects/{code}/appeal", response_class=HTMLResponse)
    def appeal(
        request: Request,
        code: str,
        entry: Annotated[int, Form(ge=1, le=2**62)],
        reason: Annotated[str, Form(max_length=4000)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        with signed_in(request) as (store, session):
            check_csrf(session, csrf)
            filed = usecases.file_appeal(store, session.principal, code, entry, reason)
        return RedirectResponse(
            f"/subjects/{quote(code)}?appealed={filed['appeal_id']}#appeals", status_code=303
        )

    @router.get("/subjects/{code}/outlook", response_class=HTMLResponse)
    def outlook_page(
        request: Request, code: str, as_of: Annotated[dt.date | None, Query()] = None
    ) -> Response:
        with signed_in(request) as (store, session):
            doc = usecases.outlook(store, session.principal, code, as_of or _latest_day(store))
        return render(
            request, "outlook.html", session, doc=doc, title=f"What would change {code}'s grade"
        )

    @router.get("/subjects/{code}/history", response_class=HTMLResponse)
    def history_page(
        request: Request, code: str, as_of: Annotated[dt.date | None, Query()] = None
    ) -> Response:
        from socialrating.web.charts import score_history_svg

        with signed_in(request) as (store, session):
            doc = usecases.history(store, session.principal, code, as_of or _latest_day(store))
        return render(
            request,
            "history.html",
            session,
            doc=doc,
            chart=Markup(score_history_svg(doc)),
            title=f"{code}: score over time",
        )

    @router.get("/subjects/{code}/access", response_class=HTMLResponse)
    def access(request: Request, code: str) -> Response:
        with signed_in(request) as (store, session):
            doc = usecases.access_log(store, session.principal, code)
        return render(request, "access.html", session, doc=doc, title=f"Who read {code}'s data")

    @router.get("/check", response_class=HTMLResponse)
    def check_page(
        request: Request,
        subject: Annotated[str | None, Query(max_length=120)] = None,
        service: Annotated[str | None, Query(max_length=120)] = None,
    ) -> Response:
        with signed_in(request) as (store, session):
            decision = None
            if subject and service:
                decision = usecases.decide(store, session.principal, subject.strip(), service)
            services = _services(store, session.principal)
        return render(
            request,
            "check.html",
            session,
            decision=decision,
            subject=subject or "",
            service=service or (services[0] if services else ""),
            services=services,
            title="Check a subject",
        )

    @router.post("/check/batch")
    def check_batch(
        request: Request,
        file: Annotated[
            UploadFile, File(description="A CSV or Parquet file with a subject column")
        ],
        service: Annotated[str, Form(max_length=120)],
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        with signed_in(request) as (store, session):
            check_csrf(session, csrf)
            codes = uploaded_subjects(file)
            run_id, table = usecases.decide_many_table(store, session.principal, service, codes)
        import io

        import pyarrow.csv as pacsv

        out = io.BytesIO()
        pacsv.write_csv(table, out)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", service)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="decisions-{name}.csv"',
                "X-Run-Id": str(run_id),
                **SECURITY_HEADERS,
            },
        )

    @router.get("/institution", response_class=HTMLResponse)
    def institution_page(
        request: Request, institution: Annotated[str | None, Query(max_length=120)] = None
    ) -> Response:
        with signed_in(request) as (store, session):
            code = _institution(session.principal, institution)
            doc = usecases.batches(store, session.principal, code, limit=20)
        return render(request, "institution.html", session, doc=doc, title=f"Batches of {code}")

    @router.post("/institution/batches", response_class=HTMLResponse)
    def upload_batch(
        request: Request,
        file: Annotated[UploadFile, File(description="A batch: CSV, Parquet or NDJSON")],
        institution: Annotated[str, Form(max_length=120)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        with signed_in(request) as (store, session):
            check_csrf(session, csrf)
            code = _institution(session.principal, institution or None)
            with saved_upload(file, BATCHES, "a batch") as path:
                done = usecases.ingest_upload(store, session.principal, code, path, path.name)
        query = f"institution={quote(code)}&stored={done['stored']}&duplicates={done['duplicates']}"
        if done["batch_id"] is not None:
            query += f"&batch={done['batch_id']}"
        return RedirectResponse(f"/institution?{query}", status_code=303)

    @router.get("/dashboard", response_class=HTMLResponse)
    def dashboard_page(request: Request) -> Response:
        from socialrating.web import charts

        with signed_in(request) as (store, session):
            doc = usecases.dashboard(store, session.principal)
        grades = [
            {"run": f"{r['as_of']} #{r['run_id']}", "grade": g, "subjects": n}
            for r in doc["runs"]
            for g, n in r["grades"].get("citizen", {}).items()
        ]
        sizes = [
            {"run": f"{r['as_of']} #{r['run_id']}", "list": code, "members": n}
            for r in doc["runs"]
            for code, n in r["lists"].items()
        ]
        decisions = [
            {"service": x["service"], "decision": k, "subjects": x[k]}
            for x in doc["refusals"]
            for k in ("allowed", "terms", "refused")
        ]
        records = top_institutions(doc["records"])
        svg = {
            "grades": grades
            and charts.stacked_bars(
                grades, "run", "subjects", "grade", "Citizens by grade, per run"
            ),
            "lists": sizes
            and charts.stacked_bars(sizes, "run", "members", "list", "List memberships, per run"),
            "decisions": decisions
            and charts.stacked_bars(
                decisions,
                "service",
                "subjects",
                "decision",
                "Decisions of the latest run",
                charts.DECISION_COLORS,
            ),
            "records": records
            and charts.lines(records, "day", "records", "institution", "Records per day"),
        }
        return render(
            request,
            "dashboard.html",
            session,
            doc=doc,
            charts={k: Markup(v) if v else None for k, v in svg.items()},
            records=records,
            title="The information centre today",
        )

    @router.post("/dashboard/verify", response_class=HTMLResponse)
    def verify_page(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        with signed_in(request) as (store, session):
            check_csrf(session, csrf)
            usecases.verify_now(store, session.principal)
        return RedirectResponse("/dashboard#ledger", status_code=303)

    @router.get("/aggregates", response_class=HTMLResponse)
    def aggregates_page(
        request: Request, by: Annotated[str, Query(pattern="^(region|age_band|sex)$")] = "region"
    ) -> Response:
        from socialrating.web import charts

        with signed_in(request) as (store, session):
            doc = usecases.aggregates(store, session.principal, by, "grades")
        shown = [
            {"group": str(c[by]), "grade": f"{c['kind']} {c['grade']}", "subjects": c["subjects"]}
            for c in doc["cells"]
            if c["subjects"] is not None
        ]
        svg = shown and charts.stacked_bars(
            shown, "group", "subjects", "grade", f"Subjects by grade and {by.replace('_', ' ')}"
        )
        return render(
            request,
            "aggregates.html",
            session,
            doc=doc,
            chart=Markup(svg) if svg else None,
            title=f"Grades by {by.replace('_', ' ')}",
        )

    @router.get("/lists", response_class=HTMLResponse)
    def lists_page(request: Request) -> Response:
        with visit(request) as (store, session):
            who = Principal(Role.PUBLIC) if session is None else session.principal
            doc = usecases.public_lists(store, who)
        return render(request, "lists.html", session, doc=doc, title="Published lists")

    @router.get("/lists/{code}", response_class=HTMLResponse)
    def list_page(
        request: Request,
        code: str,
        subject: Annotated[str | None, Query(max_length=120)] = None,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    ) -> Response:
        with visit(request) as (store, session):
            who = Principal(Role.PUBLIC) if session is None else session.principal
            searched = (subject or "").strip() or None
            doc = usecases.public_list(store, who, code, PAGE, (page - 1) * PAGE, searched)
        return render(
            request,
            "list.html",
            session,
            doc=doc,
            subject=searched or "",
            page=page,
            pages=max(1, -(-int(doc["size"]) // PAGE)),
            title=f"List {code}",
        )

    @router.get("/review", response_class=HTMLResponse)
    def review_queue(request: Request) -> Response:
        with signed_in(request) as (store, session):
            doc = usecases.review_queue(store, session.principal, _latest_day(store))
        return render(request, "review.html", session, doc=doc, title="Appeals to review")

    @router.post("/review/{appeal_id}", response_class=HTMLResponse)
    def review(
        request: Request,
        appeal_id: int,
        outcome: Annotated[str, Form(pattern="^(upheld|voided)$")],
        reason: Annotated[str, Form(max_length=4000)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        with signed_in(request) as (store, session):
            check_csrf(session, csrf)
            usecases.review_appeal(store, session.principal, appeal_id, outcome, reason)
        return RedirectResponse(f"/review?reviewed={appeal_id}", status_code=303)

    return router


PAGE = 50
"""Members of a list per page."""
LINK_GONE = "This sign-in link has expired or was used already: ask for a new one."


def _signin_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    """A sign-in page. There is no session yet, so its form's CSRF token is also set in a
    short-lived cookie of its own (double submit), which ``_signin_token_ok`` compares."""
    token = secrets.token_urlsafe(24)
    page = render(request, template, None, status=status, csrf=token, title="Sign in", **context)
    page.set_cookie(SIGNIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict")
    return page


def _signin_token_ok(request: Request, csrf: str) -> bool:
    """The sign-in form came with the token its page set in the cookie."""
    expected = request.cookies.get(SIGNIN_COOKIE)
    return bool(expected) and secrets.compare_digest(str(expected), csrf)


def _signed_in_as(request: Request, principal: Principal, target: str) -> Response:
    """Signed in: a new session's cookie, and on to ``target`` (home for ``/``)."""
    assert principal.key_id is not None
    value, _ = sessions(request).cookie(principal.key_id)
    response = RedirectResponse(home_of(principal) if target == "/" else target, status_code=303)
    response.set_cookie(
        COOKIE,
        value,
        max_age=sessions(request).max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGNIN_COOKIE)
    return response


def _link(request: Request, token: str) -> dict[str, Any]:
    """What a sign-in link's token stands for: its key (not revoked), nonce and principal.

    Raises:
        Forbidden: a bad or old signature, or a revoked or unknown key.
    """
    from socialrating.service.policy import Forbidden

    found = read_link(sessions(request).key, token)
    if found is None:
        raise Forbidden(LINK_GONE)
    key_id, nonce = found
    with visit(request) as (store, _):
        principal = principal_of_key(store, key_id)
        used = store.scalar("SELECT count(*) FROM used_links WHERE nonce = ?", [nonce])
    if principal is None or used:
        raise Forbidden(LINK_GONE)
    return {
        "key_id": key_id,
        "nonce": nonce,
        "principal": principal,
    }


def _local(target: str) -> str:
    """A path on this site to go to after signing in; anything else goes home."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _institution(principal: Principal, asked: str | None) -> str:
    """The institution a page is about: the key's own (the admin names one).

    Raises:
        Forbidden: the admin named none, or another role has no institution.
    """
    from socialrating.service.policy import Forbidden

    if asked:
        return asked  # the use case checks that the key may act for it
    if principal.role is Role.INSTITUTION and principal.acts_for:
        return principal.acts_for[0]
    raise Forbidden("this page is an institution's: name it with ?institution=CODE")


def _latest_day(store: Store) -> dt.date | None:
    """The date of the latest scoring run: the system's "today" for its statements."""
    found = store.scalar(
        "SELECT max(as_of) FROM runs WHERE run_id = (SELECT max(run_id) FROM runs)"
    )
    return found if isinstance(found, dt.date) else None


def _services(store: Store, principal: Principal) -> list[str]:
    """The services a key may ask about: a provider's own, else every one of the rulebook."""
    if principal.role is Role.PROVIDER:
        return list(principal.acts_for)
    from socialrating.ledger.rulebooks import active_rulebook

    return [s.code for s in active_rulebook(store).spec.services]
