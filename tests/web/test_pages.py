"""The web pages through an HTTP client: sign-in, the citizen's statement and appeal, the
reviewer's queue, the provider's check, the public lists; each role sees only its own,
and a form without the session's CSRF token is refused.

The ledger (tests/data/consequences.yaml with its debtors list published, as of
2021-05-31): c1 is a court debtor, so on the debtors list and refused a loan.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.test_api_public import published_rulebook
from tests.conftest import DATA
from tests.ledgers import cli_ledger

from socialrating.api import create_app
from socialrating.ledger import open_store
from socialrating.service.keys import create_key, revoke_key
from socialrating.service.policy import Role

KEYS = {
    "c1": (Role.SUBJECT, ("c1",)),
    "c2": (Role.SUBJECT, ("c2",)),
    "reviewer": (Role.REVIEWER, ()),
    "provider": (Role.PROVIDER, ("loan",)),
    "admin": (Role.ADMIN, ()),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("web")
    db = cli_ledger(
        tmp,
        subjects="code,kind,born,sex,region\n"
        "c1,citizen,1980-01-01,F,north\nc2,citizen,1990-01-01,M,north\n",
        batch="key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,c2,debtor,2021-02-02\n",
        rulebook=published_rulebook(tmp),
    )
    with open_store(db) as store:
        keys = {name: create_key(store, role, scope)[1] for name, (role, scope) in KEYS.items()}
    yield db, keys


@pytest.fixture
def browser(site: tuple[str, dict[str, str]]) -> Iterator[TestClient]:
    with TestClient(create_app(site[0]), follow_redirects=False) as client:
        yield client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, key: str, next: str = "/") -> Any:
    form = client.get(f"/signin?next={next}")
    assert form.status_code == 200 and "Your key" in form.text
    assert "<title>Sign in · socialrating</title>" in form.text and "<h1>Sign in</h1>" in form.text
    return client.post("/signin", data={"key": key, "csrf": csrf_of(form.text), "next": next})


def test_sign_in_takes_a_key_and_sets_a_safe_cookie(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    assert browser.get("/").headers["location"] == "/signin"
    wrong = sign_in(browser, "sr_not-a-key")
    assert wrong.status_code == 401 and "That key is not valid" in wrong.text
    done = sign_in(browser, site[1]["c1"])
    assert done.status_code == 303 and done.headers["location"] == "/subjects/c1"
    cookie = done.headers["set-cookie"]
    assert "socialrating_session=" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert site[1]["c1"] not in cookie  # the key itself never travels again
    page = browser.get("/subjects/c1")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    forged = TestClient(browser.app, follow_redirects=False)
    forged.cookies.set("socialrating_session", cookie.split(";")[0].split("=", 1)[1] + "x")
    assert forged.get("/subjects/c1").status_code == 303  # a bad signature: sign in again


def test_the_sign_in_form_needs_its_token(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    browser.get("/signin")
    bare = browser.post("/signin", data={"key": site[1]["c1"], "csrf": "guess"})
    assert bare.status_code == 403 and "out of date" in bare.text
    assert "socialrating_session" not in bare.headers.get("set-cookie", "")


def test_a_citizen_reads_its_statement_and_appeals_a_line(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    sign_in(browser, site[1]["c1"])
    page = browser.get("/subjects/c1").text
    score = int(re.search(r'data-testid="score">(-?\d+)<', page).group(1))  # type: ignore[union-attr]
    counted = [int(x) for x in re.findall(r'class="num counted">([+-]\d+)<', page)]
    base = int(re.search(r"<td>base score</td><td class=\"num\">(\d+)<", page).group(1))  # type: ignore[union-attr]
    assert base + sum(counted) == score  # the lines sum to the score
    assert "debtors" in page and "loan" in page and "refused" in page
    off = re.findall(r'data-testid="way-off">How to get off: ([^<]+)<', page)
    assert any("A record of paid takes you off it earlier" in x for x in off), off
    assert any("appeal it: a voided record takes you off" in x for x in off), off
    entry = int(re.search(r"/subjects/c1/appeal\?entry=(\d+)", page).group(1))  # type: ignore[union-attr]
    form = browser.get(f"/subjects/c1/appeal?entry={entry}")
    assert form.status_code == 200 and "Why the record is wrong" in form.text
    token = csrf_of(form.text)
    without = browser.post("/subjects/c1/appeal", data={"entry": entry, "reason": "paid"})
    assert without.status_code == 403 and "did not come from this site" in without.text
    filed = browser.post(
        "/subjects/c1/appeal", data={"entry": entry, "reason": "I paid in January", "csrf": token}
    )
    assert filed.status_code == 303
    after = browser.get(filed.headers["location"]).text
    assert "is filed" in after and "I paid" not in after  # the reason stays with the reviewer
    assert re.search(r'class="status open">open<', after)
    again = browser.post(
        "/subjects/c1/appeal", data={"entry": entry, "reason": "again", "csrf": token}
    )
    assert again.status_code == 409 and "under appeal already" in again.text
    access = browser.get("/subjects/c1/access").text
    assert "statement" in access and "subject" in access
    ahead = browser.get("/subjects/c1/outlook")
    assert ahead.status_code == 200 and 'data-testid="outlook"' in ahead.text
    assert "debtor of 2021-02-01" in ahead.text  # the day the debt stops counting
    past = browser.get("/subjects/c1/history")
    assert past.status_code == 200 and "<svg" in past.text and 'data-testid="history"' in past.text
    assert "<script" not in past.text.split("<main")[1]  # the chart is drawn on the server


def test_a_citizen_cannot_open_another_subjects_pages(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    sign_in(browser, site[1]["c1"])
    for path in ("/subjects/c2", "/subjects/c2/access", "/subjects/c2/appeal?entry=1",
                 "/subjects/c2/outlook", "/subjects/c2/history",
                 "/subjects/nobody", "/review", "/check?subject=c2&service=loan"):  # fmt: skip
        refused = browser.get(path)
        assert refused.status_code == 403, path
        assert "Not allowed" in refused.text, path
    token = csrf_of(browser.get("/subjects/c1").text)
    posted = browser.post("/subjects/c2/appeal", data={"entry": 1, "reason": "x", "csrf": token})
    assert posted.status_code == 403


def test_pages_ask_to_sign_in_first(browser: TestClient) -> None:
    for path in ("/subjects/c1", "/check", "/review"):
        found = browser.get(path)
        assert found.status_code == 303 and found.headers["location"].startswith("/signin?next=")
    back = browser.get("/check?subject=c2&service=loan").headers["location"]
    assert back == "/signin?next=/check%3Fsubject%3Dc2%26service%3Dloan"  # and back after


def test_the_reviewer_voids_and_the_decision_changes(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    keys = site[1]
    sign_in(browser, keys["provider"])
    before = browser.get("/check?subject=c2&service=loan").text
    assert 'data-testid="decision">refused<' in before
    answer = before.split('id="answer"')[1].split("</section>")[0]
    assert "score" not in answer.replace("scoring run", "") and "entry" not in answer
    assert 'data-testid="key-factors"' in answer and "<code>LIST:debtors</code>" in answer
    # c2 appeals its debt; the reviewer voids it.
    sign_in(browser, keys["c2"])
    page = browser.get("/subjects/c2").text
    entry = int(re.search(r"/subjects/c2/appeal\?entry=(\d+)", page).group(1))  # type: ignore[union-attr]
    browser.post("/subjects/c2/appeal",
                 data={"entry": entry, "reason": "never owed", "csrf": csrf_of(page)})  # fmt: skip
    sign_in(browser, keys["reviewer"])
    queue = browser.get("/review").text
    number = re.findall(r'action="/review/(\d+)"', queue)[-1]
    assert "never owed" in queue
    record = queue.split(f'data-testid="record-{number}"')[1].split("</table>")[0]
    assert "debtor" in record and "-200, counts -200" in record  # the line beside it
    bad = browser.post(f"/review/{number}", data={"outcome": "voided", "reason": "x"})
    assert bad.status_code == 403
    done = browser.post(
        f"/review/{number}",
        data={"outcome": "voided", "reason": "the court withdrew it", "csrf": csrf_of(queue)},
    )
    assert done.status_code == 303
    sign_in(browser, keys["provider"])
    after = browser.get("/check?subject=c2&service=loan").text
    assert 'data-testid="decision">refused<' not in after
    sign_in(browser, keys["c2"])
    mine = browser.get("/subjects/c2").text
    assert "the court withdrew it" in mine and "voided" in mine


def test_the_public_searches_a_published_list_without_signing_in(
    browser: TestClient,
) -> None:
    lists = browser.get("/lists")
    assert lists.status_code == 200
    published = re.findall(r'href="/lists/([^"]+)"', lists.text)
    assert published, "the consequences rulebook publishes a list"
    code = published[0]
    found = browser.get(f"/lists/{code}?subject=c1")
    assert found.status_code == 200 and "c1 is on this list" in found.text
    absent = browser.get(f"/lists/{code}?subject=zz")
    assert "zz is not on this list" in absent.text
    assert browser.get("/lists/no_such_list").status_code == 404


def test_a_revoked_key_signs_its_sessions_out(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    with open_store(site[0]) as store:
        key, secret = create_key(store, Role.SUBJECT, ("c1",))
    sign_in(browser, secret)
    assert browser.get("/subjects/c1").status_code == 200
    with open_store(site[0]) as store:
        revoke_key(store, key.key_id)
    assert browser.get("/subjects/c1").status_code == 303


def test_malformed_form_fields_get_a_page_that_says_what(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    sign_in(browser, site[1]["c1"])
    page = browser.get("/subjects/c1?as_of=yesterday")
    assert page.status_code == 422 and "as_of" in page.text and "<html" in page.text
    form = browser.get("/subjects/c1/appeal?entry=-5")
    assert form.status_code == 422 and "entry" in form.text
    missing = browser.get("/nowhere")
    assert missing.status_code == 404 and "<html" in missing.text


def test_the_provider_uploads_a_list_and_downloads_the_decisions(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    sign_in(browser, site[1]["provider"])
    token = csrf_of(browser.get("/check").text)
    passengers = ("passengers.csv", b"subject\nc1\nzz\n", "text/csv")
    sent = browser.post(
        "/check/batch", files={"file": passengers}, data={"service": "loan", "csrf": token}
    )
    assert sent.status_code == 200, sent.text
    assert sent.headers["content-type"].startswith("text/csv")
    assert 'filename="decisions-loan.csv"' in sent.headers["content-disposition"]
    rows = [line.split(",")[:2] for line in sent.text.strip().splitlines()]
    assert rows[0] == ['"subject"', '"decision"']
    assert rows[1:] == [['"c1"', '"refused"'], ['"zz"', '"unknown"']]
    assert "score" not in sent.text
    bare = browser.post("/check/batch", files={"file": passengers}, data={"service": "loan"})
    assert bare.status_code == 403
    other = browser.post(
        "/check/batch", files={"file": passengers}, data={"service": "senior", "csrf": token}
    )
    assert other.status_code == 403  # not one of the provider's services
    for name, body, said in (
        ("list.csv", b"name\nc1\n", "subject"),
        ("list.csv", b"subject,seat\nc1,1A\n,2B\n", "empty"),
        ("list.csv", b"subject\nc1\nc2,c3\n", "list.csv"),
        ("list.txt", b"subject\nc1\n", "send a .csv, .csv.gz or .parquet file"),
        ("list.parquet", b"not parquet at all", "list.parquet"),
    ):
        bad = browser.post(
            "/check/batch",
            files={"file": (name, body, "application/octet-stream")},
            data={"service": "loan", "csrf": token},
        )
        assert bad.status_code == 422, (name, bad.text[:300])
        assert said in bad.text and "<table>" in bad.text and "Traceback" not in bad.text


def test_an_institution_sends_a_batch_and_reads_why_one_was_refused(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    with open_store(site[0]) as store:
        court = create_key(store, Role.INSTITUTION, ("court",))[1]
    sign_in(browser, court)
    page = browser.get("/institution")
    assert page.status_code == 200 and "Batches of court" in page.text
    token = csrf_of(page.text)
    good = ("court-3.csv", b"key,subject,parameter,date\nw1,c1,debtor,2021-04-01\n", "text/csv")
    sent = browser.post("/institution/batches", files={"file": good}, data={"csrf": token})
    assert sent.status_code == 303
    done = browser.get(sent.headers["location"]).text
    assert "Accepted: 1 record(s) stored as batch" in done and "court-3.csv" in done
    again = browser.post("/institution/batches", files={"file": good}, data={"csrf": token})
    assert "1 already in the ledger" in browser.get(again.headers["location"]).text
    bad = (
        "court-4.csv",
        b"key,subject,parameter,date\nw2,c1,debtor,2021-04-01\nw3,c1,debtor,not-a-date\n",
        "text/csv",
    )
    with open_store(site[0]) as store:
        entries = store.scalar("SELECT count(*) FROM entries")
    refused = browser.post("/institution/batches", files={"file": bad}, data={"csrf": token})
    assert refused.status_code == 422
    assert "court-4.csv" in refused.text and "/tmp" not in refused.text
    assert re.search(r"<td>3</td><td>date</td>", refused.text), refused.text[-2000:]
    listed = browser.get("/institution").text
    assert "court-4.csv" in listed.split("Batches refused")[1]  # it can read why, later
    with open_store(site[0]) as store:  # nothing of it was stored
        assert store.scalar("SELECT count(*) FROM entries") == entries
    wrong = browser.post(
        "/institution/batches", files={"file": good}, data={"csrf": token, "institution": "police"}
    )
    assert wrong.status_code == 403
    text = browser.post(
        "/institution/batches", files={"file": ("a.txt", b"x", "text/plain")}, data={"csrf": token}
    )
    assert (
        text.status_code == 422
        and "send a .csv, .csv.gz, .parquet, .ndjson or .jsonl file" in text.text
    )
    bare = browser.post("/institution/batches", files={"file": good})
    assert bare.status_code == 403


def test_the_operators_dashboard_matches_the_snapshot(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    sign_in(browser, site[1]["admin"])
    page = browser.get("/dashboard")
    assert page.status_code == 200, page.text[:500]
    assert page.text.count("<svg") >= 3  # grades, list sizes, decisions, records
    with open_store(site[0]) as store:
        run = store.scalar("SELECT max(run_id) FROM runs")
        grades = dict(
            store.rows(
                """SELECT n.grade, count(*) FROM snapshot n JOIN subjects s USING (subject_id)
                   WHERE n.run_id = ? AND s.kind = 'citizen' GROUP BY 1""",
                [run],
            )
        )
        entries = store.scalar("SELECT count(*) FROM entries")
    runs = page.text.split('data-testid="runs"')[1].split("</table>")[0]
    latest = runs.split("<tbody>")[1].split("</tr>")[0]
    for grade, n in grades.items():
        assert f"{grade} {n}" in latest, (grade, n, latest)
    assert f'data-testid="entries">{entries}<' in page.text
    # The long tables are folded under a summary that says how long they are.
    for testid, what in (("records-per-day", "Records per day"), ("last-batches", "last batch")):
        folded = page.text.split(f'<details data-testid="{testid}">')[1].split("</details>")[0]
        rows = folded.count("<tr>") - 1  # the header's
        assert re.search(rf"<summary>[^<]*{what}[^<]*\((\d+) \w+\)</summary>", folded), folded[:300]
        assert f"({rows} " in folded.split("</summary>")[0], (rows, folded[:300])
    for role in ("c1", "provider", "reviewer"):
        sign_in(browser, site[1][role])
        assert browser.get("/dashboard").status_code == 403, role


def test_the_analyst_sees_aggregates_with_small_cells_suppressed(
    browser: TestClient, site: tuple[str, dict[str, str]]
) -> None:
    with open_store(site[0]) as store:
        analyst = create_key(store, Role.ANALYST)[1]
    sign_in(browser, analyst)
    for by in ("region", "age_band", "sex"):
        page = browser.get(f"/aggregates?by={by}")
        assert page.status_code == 200
        cells = page.text.split('data-testid="cells"')[1].split("</table>")[0]
        assert "fewer than 10" in cells and re.search(r'class="num">\d+<', cells) is None
    assert browser.get("/aggregates?by=name").status_code == 422
    assert browser.get("/dashboard").status_code == 403
    assert browser.get("/subjects/c1").status_code == 403


def test_a_one_time_link_signs_in_once(
    site: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialrating.errors import SettingsError
    from socialrating.web.session import link_token

    monkeypatch.delenv("SOCIALRATING_WEB_SECRET", raising=False)
    with pytest.raises(SettingsError, match="SOCIALRATING_WEB_SECRET"):
        link_token(1)
    monkeypatch.setenv("SOCIALRATING_WEB_SECRET", "s" * 40)
    with open_store(site[0]) as store:
        key, _ = create_key(store, Role.SUBJECT, ("c1",))
        gone, _ = create_key(store, Role.SUBJECT, ("c2",))
        revoke_key(store, gone.key_id)
    with TestClient(create_app(site[0]), follow_redirects=False) as client:
        token = link_token(key.key_id)
        form = client.get(f"/signin/link?token={token}")
        assert form.status_code == 200 and "works a single time" in form.text
        assert client.post("/signin/link", data={"token": token}).status_code == 403  # no csrf
        done = client.post("/signin/link", data={"token": token, "csrf": csrf_of(form.text)})
        assert done.status_code == 303 and done.headers["location"] == "/subjects/c1"
        assert client.get("/subjects/c1").status_code == 200
        again = TestClient(client.app, follow_redirects=False)
        form = again.get(f"/signin/link?token={token}")
        assert form.status_code == 403 and "used already" in form.text
        for bad in (token[:-2] + "xx", link_token(gone.key_id), "nonsense"):
            assert again.get(f"/signin/link?token={bad}").status_code == 403


def test_a_link_lasts_the_minutes_it_was_made_for() -> None:
    import time

    from itsdangerous import TimestampSigner, URLSafeTimedSerializer

    from socialrating.web.session import LINK_SALT, read_link

    class TwoMinutesAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 120

    key = "k" * 40
    made = URLSafeTimedSerializer(key, salt=LINK_SALT, signer=TwoMinutesAgo)
    assert read_link(key, made.dumps({"k": 7, "n": "a", "m": 1})) is None  # one minute: gone
    assert read_link(key, made.dumps({"k": 7, "n": "a", "m": 5})) == (7, "a")
    assert read_link("other" * 10, made.dumps({"k": 7, "n": "a", "m": 5})) is None


def test_how_to_get_off_each_kind_of_list() -> None:
    from socialrating.rulebook import load_rulebook
    from socialrating.web.views import ways_off_list

    rb = load_rulebook(DATA / "consequences.yaml")
    by_record = {"list": "flight_ban", "cause": "record", "entry_id": 9, "until": "2021-06-09"}
    said = ways_off_list(rb, by_record)
    assert said.startswith("The term ends on 2021-06-09; a record of ban.remove takes you off")
    assert "appeal it" in said
    grade = next(x for x in rb.spec.lists if x.enter_at_grades)
    said = ways_off_list(rb, {"list": grade.code, "cause": "grade", "until": None})
    assert said.startswith("You leave it at the next scoring run once your grade is no longer")
    joint = next(x for x in rb.spec.lists if x.enter_with)
    said = ways_off_list(rb, {"list": joint.code, "cause": "joint", "via": "O1", "until": None})
    assert said == "You leave it when O1 leaves the list that put you on it."
    assert ways_off_list(rb, {"list": "no_such", "cause": "record"}) == ""


def test_the_operator_verifies_the_ledger_from_the_dashboard(tmp_path: Path) -> None:
    db = cli_ledger(tmp_path, subjects="code,kind\nc1,citizen\n",
                    batch="key,subject,parameter,date\nk1,c1,debtor,2021-02-01\n")  # fmt: skip
    with open_store(db) as store:
        admin = create_key(store, Role.ADMIN)[1]
    with TestClient(create_app(db), follow_redirects=False) as client:
        sign_in(client, admin)
        page = client.get("/dashboard").text
        assert "never from here" in page
        assert client.post("/dashboard/verify").status_code == 403  # no CSRF token
        done = client.post("/dashboard/verify", data={"csrf": csrf_of(page)})
        assert done.status_code == 303
        verified = client.get("/dashboard").text.split('data-testid="verified">')[1]
        assert verified.startswith(tuple("0123456789")) and "intact" in verified.split("</dd>")[0]
        with open_store(db) as store:  # someone edits a run's results behind its back
            store.run("UPDATE snapshot SET score = score + 1")
        client.post("/dashboard/verify", data={"csrf": csrf_of(page)})
        verified = client.get("/dashboard").text.split('data-testid="verified">')[1]
        assert "broken" in verified.split("</dd>")[0] and "snapshot" in verified.split("</dd>")[0]


def test_a_server_compiles_the_statement_plans_when_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh process: no plan another test compiled for the same rulebook in this
    # worker is in memory (the thread, not the process, compiles them here).
    from socialrating.scoring import compiled as plans

    monkeypatch.setattr(plans, "_CACHE", {})
    db = cli_ledger(tmp_path, subjects="code,kind\nc1,citizen\n",
                    batch="key,subject,parameter,date\nk1,c1,debtor,2021-02-01\n")  # fmt: skip
    app = create_app(db, warm=True)
    with TestClient(app):
        app.state.warming.thread.join(timeout=300)  # as a first visitor might, later
    with open_store(db) as store:
        kept = {str(k).split("|")[2] for (k,) in store.rows("SELECT key FROM plan_cache")}
    # The statement's plan (its parts as one), and the two a subject's history reads.
    assert {"statement_all", "subject_score", "subject_lists"} <= kept
    stopped = create_app(db, warm=True)
    with TestClient(stopped):
        pass  # stops at once: the thread ends between two plans, and the server waits
    assert not stopped.state.warming.thread.is_alive()


def test_a_statements_categories_follow_its_summary(tmp_path: Path) -> None:
    """The lines come by category in the order of the totals above them (what took most
    first), not in the order their first records happened to arrive."""
    db = cli_ledger(
        tmp_path,
        subjects="code,kind,born,sex,region\nc3,citizen,1985-01-01,F,north\n",
        # A record of no points first in time, the large deduction later.
        batch="key,subject,parameter,date\nb1,c3,ban.add,2021-01-05\nd1,c3,debtor,2021-02-01\n",
    )
    with open_store(db) as store:
        key = create_key(store, Role.SUBJECT, ("c3",))[1]
    with TestClient(create_app(db), follow_redirects=False) as client:
        sign_in(client, key)
        page = client.get("/subjects/c3?as_of=2021-03-01").text
    totals = page.split('data-testid="totals"', 1)[1].split("</table>", 1)[0]
    summary = re.findall(r"<tr><td>([a-z_]+)</td>", totals)
    sections = re.findall(r'data-testid="lines">\s*<caption>([^<]+)</caption>', page)
    assert summary == ["courts", "lists"]  # -200 before 0
    assert sections == summary


def test_the_outlook_leads_on_to_the_days_after_those_it_shows(tmp_path: Path) -> None:
    """Ten debts of ten days end on ten days ahead: the outlook shows the first eight, says
    how many more, and links to the outlook as of the eighth, which shows the other two."""
    dates = [f"2021-01-{day:02d}" for day in range(1, 11)]
    db = cli_ledger(
        tmp_path,
        subjects="code,kind,born,sex,region\nc4,citizen,1985-01-01,F,north\n",
        batch="key,subject,parameter,date\n"
        + "".join(f"d{i},c4,debtor,{day}\n" for i, day in enumerate(dates)),
    )
    with open_store(db) as store:
        key = create_key(store, Role.SUBJECT, ("c4",))[1]
    with TestClient(create_app(db), follow_redirects=False) as client:
        sign_in(client, key)
        first = client.get("/subjects/c4/outlook?as_of=2021-03-01").text
        more = re.search(
            r'data-testid="more">And (\d+) more days? after these: <a href="([^"]+)"', first
        )
        assert more is not None, first
        assert more.group(1) == "2" and more.group(2) == "/subjects/c4/outlook?as_of=2024-01-08"
        rest = client.get(more.group(2)).text
    assert re.findall(r"<tr><td>(\d{4}-\d\d-\d\d)</td>", rest) == ["2024-01-09", "2024-01-10"]
    assert 'data-testid="more"' not in rest


def test_the_dashboards_decisions_count_the_subjects_each_service_is_for(
    site: tuple[str, dict[str, str]],
) -> None:
    """A service for organisations (``bidding``) does not count the citizens as refused:
    its figures add up to the organisations, another's to every subject."""
    from socialrating.decisions.decider import load_decider
    from socialrating.service.dashboard import dashboard

    with open_store(site[0]) as store:
        decider = load_decider(store)
        kinds = dict(store.rows("SELECT kind, count(*) FROM subjects GROUP BY 1"))
        figures = {r["service"]: r for r in dashboard(store, decider)["refusals"]}

    def total(service: str) -> int:
        return sum(figures[service][k] for k in ("allowed", "terms", "refused"))

    assert kinds.get("organisation", 0) < sum(kinds.values())  # citizens there too
    assert total("bidding") == kinds.get("organisation", 0)
    assert total("flight") == sum(kinds.values())


def test_the_history_names_the_records_as_the_statement_does(tmp_path: Path) -> None:
    """A record of a parameter the rulebook names is given by its name, then its code."""
    text = (DATA / "consequences.yaml").read_text(encoding="utf-8")
    named = text.replace("{code: debtor, ", "{code: debtor, name: Judgment debt not paid, ", 1)
    assert named != text
    (tmp_path / "named.yaml").write_text(named, encoding="utf-8")
    db = cli_ledger(
        tmp_path,
        subjects="code,kind,born,sex,region\nc5,citizen,1985-01-01,F,north\n",
        batch="key,subject,parameter,date\nd1,c5,debtor,2021-02-01\n",
        rulebook=tmp_path / "named.yaml",
    )
    with open_store(db) as store:
        key = create_key(store, Role.SUBJECT, ("c5",))[1]
    with TestClient(create_app(db), follow_redirects=False) as client:
        sign_in(client, key)
        page = client.get("/subjects/c5/history?as_of=2021-05-31").text
    assert "<td>Judgment debt not paid <small>(debtor)</small></td>" in page
