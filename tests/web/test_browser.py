"""The web pages in Debian's chromium against a real `socialrating serve` on loopback:
one story per role, every page checked by axe (no serious or critical violation) and for
console errors, and a screenshot of each saved under docs/screenshots/ (docs/web.md).

The story: the citizen signs in, reads a statement whose lines sum to the score and
appeals its debt; the reviewer voids it; the citizen's score and decisions change; the
provider checks the subject; the public searches the published debtors list. A citizen
cannot open another's page by editing the address, and a form posted without the
session's CSRF token is refused.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.test_api_public import published_rulebook
from tests.rulebook.test_reports_browser import ARGS, CHROMIUM, watched
from tests.test_cli import ok

from socialrating.ledger import open_store
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
BIN = Path(sys.executable).parent
PEOPLE = "code,kind,born,sex,region\n" + "".join(
    f"c{i},citizen,19{60 + i}-01-01,{'FM'[i % 2]},{['north', 'south'][i % 2]}\n"
    for i in range(1, 13)
)
RECORDS = "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,c2,debtor,2021-02-02\n"
POLICE = "key,subject,parameter,date\np1,c1,unruly,2021-03-01\np2,c3,unruly,2021-03-02\n"
KEYS = {
    "c1": (Role.SUBJECT, ("c1",)),
    "reviewer": (Role.REVIEWER, ()),
    "provider": (Role.PROVIDER, ("loan", "flight")),
    "court": (Role.INSTITUTION, ("court",)),
    "admin": (Role.ADMIN, ()),
    "analyst": (Role.ANALYST, ()),
}


SECRET = "browser-test-secret-" + "x" * 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("site")
    db = str(tmp / "site.duckdb")
    ok("init", "--db", db, "--rulebook", str(published_rulebook(tmp)))
    (tmp / "s.csv").write_text(PEOPLE)
    ok("subjects", "import", str(tmp / "s.csv"), "--db", db)
    (tmp / "court.csv").write_text(RECORDS)
    ok("ingest", str(tmp / "court.csv"), "--institution", "court", "--db", db)
    (tmp / "police.csv").write_text(POLICE)
    ok("ingest", str(tmp / "police.csv"), "--institution", "police", "--db", db)
    ok("score", "--db", db, "--as-of", "2021-05-31")
    with open_store(db) as store:
        made = {name: create_key(store, role, scope) for name, (role, scope) in KEYS.items()}
    keys = {name: secret for name, (_, secret) in made.items()}
    keys["reviewer_id"] = str(made["reviewer"][0].key_id)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALRATING_")}
    env["SOCIALRATING_WEB_SECRET"] = SECRET  # signs sessions, and the links made below
    process = subprocess.Popen(
        [str(BIN / "socialrating"), "serve", "--db", db, "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"{base}/v1/health", timeout=1):
                    break
            except OSError:
                time.sleep(0.25)
        else:
            raise AssertionError("the server did not start")
        yield base, keys
    finally:
        process.terminate()
        process.communicate(timeout=30)


def link(key_id: int) -> str:
    """A one-time sign-in token, signed as the server signs (its secret)."""
    from socialrating.web.session import link_token

    saved = os.environ.get("SOCIALRATING_WEB_SECRET")
    os.environ["SOCIALRATING_WEB_SECRET"] = SECRET
    try:
        return link_token(key_id)
    finally:
        if saved is None:
            del os.environ["SOCIALRATING_WEB_SECRET"]
        else:
            os.environ["SOCIALRATING_WEB_SECRET"] = saved


def checked(page: Any, name: str, errors: list[str]) -> None:
    """No serious or critical accessibility violation, no console error; a screenshot."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{name}: {bad}"
    assert errors == [], f"{name}: {errors}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/signin")
    page.get_by_label("Your key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def standing(page: Any) -> tuple[int, list[int], int]:
    """The page's score, every line's counted points, and the base score."""
    score = int(page.get_by_test_id("score").inner_text())
    counted = [int(x) for x in page.locator("td.counted").all_inner_texts()]
    base = int(
        page.locator("[data-testid=totals] tbody tr").first.locator("td").nth(1).inner_text()
    )
    return score, counted, base


@pytest.mark.browser
@pytest.mark.slow
def test_every_role_through_the_browser(server: tuple[str, dict[str, str]]) -> None:
    from playwright.sync_api import sync_playwright

    base, keys = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            # The public: no sign-in; the debtors list searched by code.
            public = browser.new_page()
            errors = watched(public)
            public.goto(f"{base}/lists")
            checked(public, "lists", errors)
            public.get_by_role("link", name=re.compile("debtors")).click()
            public.evaluate("window.stayed = true")  # gone if the whole page loads again
            public.get_by_label("Subject code").fill("c1")
            public.get_by_role("button", name="Search").click()
            public.get_by_test_id("found").wait_for()
            assert public.get_by_test_id("found").inner_text() == "c1 is on this list."
            assert public.evaluate("window.stayed === true")  # htmx swapped the results only
            assert public.url.endswith("?subject=c1")  # and the address says what is shown
            checked(public, "list-search", errors)

            # The citizen: sign in, read the statement, appeal the debt.
            citizen = browser.new_page()
            errors = watched(citizen)
            citizen.goto(f"{base}/signin")
            checked(citizen, "signin", errors)
            sign_in(citizen, base, keys["c1"])
            citizen.wait_for_url(f"{base}/subjects/c1")
            score, counted, start = standing(citizen)
            assert start + sum(counted) == score and len(counted) == 2
            loan = citizen.locator("tr", has=citizen.locator("td", has_text="loan")).first
            assert "refused" in loan.inner_text()
            checked(citizen, "statement", errors)
            debt = citizen.locator("tr", has=citizen.locator("td", has_text="debtor"))
            debt.get_by_role("link", name=re.compile("^Appeal")).click()
            citizen.get_by_label("Why the record is wrong").fill("I paid the debt in January.")
            checked(citizen, "appeal", errors)
            citizen.get_by_role("button", name="File the appeal").click()
            assert "is filed" in citizen.get_by_role("status").inner_text()

            # Another subject's page by editing the address: refused.
            refused = citizen.goto(f"{base}/subjects/c2")
            assert refused is not None and refused.status == 403
            assert "Not allowed" in citizen.locator("main").inner_text()
            errors.clear()  # the 403 itself
            checked(citizen, "forbidden", errors)
            # A form posted without the session's token: refused (the cookie goes along).
            forged = citizen.request.post(
                f"{base}/subjects/c1/appeal", form={"entry": "3", "reason": "forged"}
            )
            assert forged.status == 403
            errors.clear()  # the refusals above are expected

            # The reviewer signs in with a one-time link, and voids the record.
            reviewer = browser.new_page()
            errors = watched(reviewer)
            reviewer.goto(f"{base}/signin/link?token={link(int(keys['reviewer_id']))}")
            checked(reviewer, "link", errors)
            reviewer.get_by_role("button", name="Sign in").click()
            reviewer.wait_for_url(f"{base}/review")
            assert "I paid the debt in January." in reviewer.locator("main").inner_text()
            checked(reviewer, "review", errors)
            reviewer.get_by_label("Void: the record stops counting").check()
            reviewer.get_by_label("Reason").fill("The court confirms the payment.")
            reviewer.get_by_role("button", name="Record the review").click()
            assert "is reviewed" in reviewer.get_by_role("status").inner_text()

            # The citizen's score and decisions change.
            citizen.goto(f"{base}/subjects/c1")
            after, counted, start = standing(citizen)
            assert after > score and start + sum(counted) == after
            loan = citizen.locator("tr", has=citizen.locator("td", has_text="loan")).first
            assert "refused" not in loan.inner_text()
            assert (
                "The court confirms the payment."
                in citizen.locator("#appeals ~ *").first.inner_text()
            )
            citizen.goto(f"{base}/subjects/c1/history")
            assert citizen.locator("figure svg").count() == 1
            assert citizen.get_by_test_id("history").locator("tbody tr").count() == 14  # 13 + 1
            checked(citizen, "history", errors)
            citizen.goto(f"{base}/subjects/c1/outlook")
            checked(citizen, "outlook", errors)
            citizen.goto(f"{base}/subjects/c1/access")
            assert "statement" in citizen.locator("main").inner_text()
            checked(citizen, "access", errors)

            # The provider: a decision, terms and reason codes; no score.
            provider = browser.new_page()
            errors = watched(provider)
            sign_in(provider, base, keys["provider"])
            provider.wait_for_url(f"{base}/check")
            provider.evaluate("window.stayed = true")
            provider.get_by_label("Subject code").fill("c2")
            provider.get_by_label("Service", exact=True).select_option("loan")
            provider.get_by_role("button", name="Check").click()
            provider.get_by_test_id("decision").wait_for()
            assert provider.get_by_test_id("decision").inner_text() == "refused"
            assert provider.evaluate("window.stayed === true")  # the answer alone was swapped
            assert "subject=c2" in provider.url
            assert "LIST:debtors" in provider.locator("main").inner_text()
            checked(provider, "check", errors)
            with provider.expect_download() as download:
                provider.get_by_label("File of subjects").set_input_files(
                    files=[
                        {
                            "name": "passengers.csv",
                            "mimeType": "text/csv",
                            "buffer": b"subject\nc1\nc2\n",
                        }
                    ]
                )
                provider.get_by_label("Service for the list").select_option("flight")
                provider.get_by_role("button", name="Decide them all").click()
            rows = Path(download.value.path()).read_text().splitlines()
            assert rows[0].startswith('"subject","decision"') and len(rows) == 3

            # The institution: a batch refused with its bad row named, then one accepted.
            court = browser.new_page()
            errors = watched(court)
            sign_in(court, base, keys["court"])
            court.wait_for_url(f"{base}/institution")
            checked(court, "institution", errors)
            court.get_by_label("Batch file").set_input_files(
                files=[
                    {
                        "name": "court-7.csv",
                        "mimeType": "text/csv",
                        "buffer": b"key,subject,parameter,date\nx1,c4,debtor,2021-05-01\n"
                        b"x2,c5,debtor,31/05/2021\n",
                    }
                ]
            )
            court.get_by_role("button", name="Send the batch").click()
            court.get_by_role("alert").wait_for()
            assert "court-7.csv" in court.locator("main").inner_text()
            assert court.locator("td", has_text="date").count() >= 1
            # The refusal itself is the one error the console shows (a 422 is expected).
            assert errors == [
                "Failed to load resource: the server responded with a status of 422 "
                "(Unprocessable Entity)"
            ]
            errors.clear()
            checked(court, "batch-refused", errors)
            court.goto(f"{base}/institution")
            court.get_by_label("Batch file").set_input_files(
                files=[
                    {
                        "name": "court-8.csv",
                        "mimeType": "text/csv",
                        "buffer": b"key,subject,parameter,date\nx1,c4,debtor,2021-05-01\n",
                    }
                ]
            )
            court.get_by_role("button", name="Send the batch").click()
            court.get_by_test_id("stored").wait_for()
            assert "1 record(s) stored" in court.get_by_test_id("stored").inner_text()
            assert errors == [], errors

            # The operator's dashboard: charts, each with its table; the analyst's groups.
            operator = browser.new_page()
            errors = watched(operator)
            sign_in(operator, base, keys["admin"])
            operator.wait_for_url(f"{base}/dashboard")
            assert operator.locator("figure svg").count() >= 3
            assert operator.get_by_test_id("decisions").locator("tbody tr").count() == 4  # services
            checked(operator, "dashboard", errors)
            analyst = browser.new_page()
            errors = watched(analyst)
            sign_in(analyst, base, keys["analyst"])
            analyst.wait_for_url(f"{base}/aggregates")
            assert "fewer than 10" in analyst.get_by_test_id("cells").inner_text()
            checked(analyst, "aggregates", errors)
        finally:
            browser.close()
