"""The API under every role: only what the policy allows succeeds, and a refusal leaks
nothing (not even whether a subject exists).

The ledger (tests/data/consequences.yaml, as of 2021-05-31): c1 is a debtor (refused a
loan), c2 clean (a loan on terms), o1 an organisation; one key per role.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.ledgers import cli_ledger

from socialrating.api import create_app
from socialrating.ledger import open_store
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

ROLES: dict[str, tuple[Role, tuple[str, ...]]] = {
    "admin": (Role.ADMIN, ()),
    "institution": (Role.INSTITUTION, ("court",)),
    "provider": (Role.PROVIDER, ("loan",)),
    "subject": (Role.SUBJECT, ("c1",)),
    "reviewer": (Role.REVIEWER, ()),
    "analyst": (Role.ANALYST, ()),
    "public": (Role.PUBLIC, ()),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("api")
    db = cli_ledger(tmp)
    with open_store(db) as store:
        secrets = {name: create_key(store, role, scope)[1] for name, (role, scope) in ROLES.items()}
    with TestClient(create_app(db)) as client:
        yield client, secrets


def call(client: TestClient, secret: str | None, method: str, url: str, body: Any = None) -> Any:
    headers = {} if secret is None else {"Authorization": f"Bearer {secret}"}
    return client.request(method, url, headers=headers, json=body)


RECORD = {
    "records": [{"key": "api-1", "subject": "c2", "parameter": "tax_debt", "date": "2021-03-01"}]
}
POLICE = {
    "records": [{"key": "api-2", "subject": "c2", "parameter": "unruly", "date": "2021-03-01"}]
}
# (method, url, body, the roles that may): tuples, so test ids are the same in every worker
ENDPOINTS = [
    ("GET", "/v1/decisions/loan/c1", None, ("admin", "provider")),
    ("POST", "/v1/decisions/loan", {"subjects": ["c1", "c2"]}, ("admin", "provider")),
    ("GET", "/v1/decisions/bidding/o1", None, ("admin",)),  # the provider is for loans only
    ("GET", "/v1/statements/c1?as_of=2021-05-31", None, ("admin", "subject")),
    ("GET", "/v1/statements/c2?as_of=2021-05-31", None, ("admin",)),  # not the subject's own
    ("GET", "/v1/access-log/c1", None, ("admin", "subject")),
    ("GET", "/v1/aggregates/grades?by=region", None, ("admin", "analyst")),
    ("GET", "/v1/public/lists", None, tuple(ROLES)),  # published: any key
    ("GET", "/v1/appeals", None, ("admin", "subject", "reviewer")),  # the subject's own
    ("GET", "/v1/appeals?subject=c2", None, ("admin", "reviewer")),
    ("GET", "/v1/institutions/court/batches", None, ("admin", "institution")),
    ("GET", "/v1/institutions/police/batches", None, ("admin",)),  # not its institution
    ("POST", "/v1/institutions/court/records", RECORD, ("admin", "institution")),
    ("POST", "/v1/institutions/police/records", POLICE, ("admin",)),  # not its institution
]


@pytest.mark.parametrize(("method", "url", "body", "may"), ENDPOINTS, ids=lambda v: str(v)[:40])
def test_every_role_against_every_endpoint(
    served: tuple[TestClient, dict[str, str]],
    method: str,
    url: str,
    body: Any,
    may: tuple[str, ...],
) -> None:
    client, secrets = served
    for name, secret in secrets.items():
        response = call(client, secret, method, url, body)
        if name in may:
            # The records' idempotency key makes a second acceptance store nothing new.
            assert response.status_code == 200, (name, response.text)
        else:
            assert response.status_code == 403, (name, response.status_code, response.text)
            assert response.json()["error"] == "forbidden"
    assert call(client, None, method, url, body).status_code == 401
    assert call(client, "sr_not-a-key", method, url, body).status_code == 401


def test_a_refusal_does_not_say_whether_a_subject_exists(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, secrets = served
    for name in ("institution", "reviewer", "analyst", "public"):
        there = call(client, secrets[name], "GET", "/v1/statements/c2")
        nowhere = call(client, secrets[name], "GET", "/v1/statements/nobody")
        assert (there.status_code, there.json()) == (nowhere.status_code, nowhere.json())
    there = call(client, secrets["subject"], "GET", "/v1/statements/c2")
    nowhere = call(client, secrets["subject"], "GET", "/v1/statements/nobody")
    assert (there.status_code, there.json()) == (nowhere.status_code, nowhere.json())


def test_a_provider_sees_no_score_and_no_record(served: tuple[TestClient, dict[str, str]]) -> None:
    client, secrets = served
    doc = call(client, secrets["provider"], "GET", "/v1/decisions/loan/c1").json()
    assert doc["decision"] == "refused"
    assert [r["code"] for r in doc["reasons"]] == ["RULE:loan#1", "LIST:debtors"]
    text = str(doc)
    assert "score" not in text and all(r["entry_id"] is None for r in doc["reasons"])
    # Its key factor names the list, not the record behind it.
    assert doc["key_factors"] == [
        {"code": "LIST:debtors", "text": "a list membership", "effect": None, "entries": []}
    ]
    assert "by entry" not in text
    admin = call(client, secrets["admin"], "GET", "/v1/decisions/loan/c1").json()
    assert admin["reasons"][1]["entry_id"] is not None  # the operator sees the record
    assert admin["key_factors"][0]["entries"] == [admin["reasons"][1]["entry_id"]]


def test_the_subject_sees_who_read_its_data(served: tuple[TestClient, dict[str, str]]) -> None:
    client, secrets = served
    call(client, secrets["provider"], "GET", "/v1/decisions/loan/c1")
    reads = call(client, secrets["subject"], "GET", "/v1/access-log/c1").json()["reads"]
    assert any(r["role"] == "provider" and r["action"] == "decide" for r in reads)


def test_aggregates_suppress_small_cells(served: tuple[TestClient, dict[str, str]]) -> None:
    client, secrets = served
    doc = call(client, secrets["analyst"], "GET", "/v1/aggregates/grades?by=region").json()
    assert doc["cells"] and all(c["subjects"] is None for c in doc["cells"])  # all under 10
    bad = call(client, secrets["analyst"], "GET", "/v1/aggregates/grades?by=name")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"


def test_errors_are_json_with_a_code(served: tuple[TestClient, dict[str, str]]) -> None:
    client, secrets = served
    admin = secrets["admin"]
    missing = call(client, admin, "GET", "/v1/decisions/loan/nobody")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = call(client, admin, "POST", "/v1/institutions/court/records",
               {"records": [{"key": "x", "subject": "c1", "parameter": "debtor", "date": "2021-02-30"}]})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["problems"][0]["field"] == "date"
    malformed = call(client, admin, "POST", "/v1/decisions/loan", {"people": []})
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid"
    assert call(client, None, "GET", "/v1/health").json()["ok"] is True
    schema = client.get("/openapi.json").json()
    assert "/v1/decisions/{service}/{subject}" in schema["paths"]


def test_an_institution_reads_its_batches_and_why_one_was_refused(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, secrets = served
    bad = {"records": [{"key": "bad-1", "subject": "c2", "parameter": "tax_debt",
                        "date": "2021-13-01"}]}  # fmt: skip
    refused = call(client, secrets["institution"], "POST", "/v1/institutions/court/records", bad)
    assert refused.status_code == 422
    doc = call(client, secrets["institution"], "GET", "/v1/institutions/court/batches").json()
    assert doc["institution"] == "court" and doc["batches"]
    assert all(b["rows"] > 0 and b["digest"] for b in doc["batches"])
    rejection = doc["rejections"][0]
    assert rejection["rows"] == 1 and rejection["problems"] == 1
    assert rejection["first_problems"][0]["field"] == "date"
    assert "score" not in json.dumps(doc) and "grade" not in json.dumps(doc)


def test_aggregates_of_lists_and_decisions(served: tuple[TestClient, dict[str, str]]) -> None:
    client, secrets = served
    for url, key in (
        ("/v1/aggregates/lists?by=sex", "list"),
        ("/v1/aggregates/decisions/loan?by=age_band", "decision"),
    ):
        got = call(client, secrets["analyst"], "GET", url)
        assert got.status_code == 200, got.text
        doc = got.json()
        assert doc["cells"] and all(key in c and c["subjects"] is None for c in doc["cells"])
        assert doc["of"] in ("lists", "decisions:loan")
        assert call(client, secrets["provider"], "GET", url).status_code == 403
    decided = call(client, secrets["analyst"], "GET", "/v1/aggregates/decisions/loan").json()
    # Three subjects: every cell is under 10, so none is shown; the cells still say which.
    assert {c["decision"] for c in decided["cells"]} >= {"refused"}
    unknown = call(client, secrets["analyst"], "GET", "/v1/aggregates/decisions/nothing")
    assert unknown.status_code == 404


def test_a_batch_as_csv_is_the_batch_as_json_decided_together(
    served: tuple[TestClient, dict[str, str]],
) -> None:
    client, secrets = served
    subjects = ["c1", "c2", "o1", "nobody", "c1"]
    headers = {"Authorization": f"Bearer {secrets['provider']}"}
    as_json = client.post("/v1/decisions/loan", headers=headers, json={"subjects": subjects})
    before = len(call(client, secrets["subject"], "GET", "/v1/access-log/c1").json()["reads"])
    as_csv = client.post(
        "/v1/decisions/loan", headers={**headers, "Accept": "text/csv"}, json={"subjects": subjects}
    )
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["x-run-id"] == str(as_json.json()["run_id"])
    lines = as_csv.text.splitlines()
    assert lines[0] == '"subject","decision","reasons","terms","key_factors"'
    rows = list(csv.reader(lines[1:]))
    assert [r[0] for r in rows] == subjects
    for row, decision in zip(rows, as_json.json()["decisions"], strict=True):
        assert row[1] == decision["decision"], row
        assert row[2] == ";".join(r["code"] for r in decision["reasons"]), row
        assert json.loads(row[3]) == decision["terms"], row
        refused = decision["decision"] == "refused"
        codes = ";".join(f["code"] for f in decision["key_factors"]) if refused else ""
        assert row[4] == codes, row
    assert rows[3][1:3] == ["unknown", "SUBJECT:unknown"]
    # c1 read once more (asked twice in the list): the access log says so once.
    after = call(client, secrets["subject"], "GET", "/v1/access-log/c1").json()["reads"]
    assert len(after) == before + 1
    refused = client.post(
        "/v1/decisions/bidding",
        headers={**headers, "Accept": "text/csv"},
        json={"subjects": subjects},
    )
    assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
    malformed = client.post(
        "/v1/decisions/loan",
        headers={**headers, "Accept": "text/csv"},
        json={"subjects": "c1"},
    )
    assert malformed.status_code == 422 and malformed.json()["field"] == "body.subjects"


def test_a_plain_single_decision_is_answered_before_routing_as_the_route_answers_it(
    served: tuple[TestClient, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``QuickDecisions`` answers ``GET /v1/decisions/{service}/{subject}`` from memory
    when it can, with the route's body, after logging the read; anything else goes on to
    the route (a query string, an unknown key, a service the key may not ask, a subject
    not in the run), which answers as before."""
    from socialrating.api import quick
    from socialrating.service import keys

    client, secrets = served
    # A key found valid is taken as valid from memory for ``KNOWN_FOR`` seconds; a busy
    # machine can take longer than that between the calls below (it did once in CI), and
    # the quick path then rightly declines: that expiry is not what this test is about.
    monkeypatch.setattr(keys, "KNOWN_FOR", 3600.0)
    answered: list[bool] = []
    real = quick.quick_decision

    def counted(*args: Any) -> Any:
        found = real(*args)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(quick, "quick_decision", counted)
    routed = call(client, secrets["provider"], "GET", "/v1/decisions/loan/c1?explain=false")
    assert routed.status_code == 200 and answered == []  # a query string: the route's
    reads = len(call(client, secrets["subject"], "GET", "/v1/access-log/c1").json()["reads"])
    early = call(client, secrets["provider"], "GET", "/v1/decisions/loan/c1")
    assert answered == [True]
    assert early.status_code == 200 and early.content == routed.content
    assert early.headers["content-type"] == routed.headers["content-type"]
    after = call(client, secrets["subject"], "GET", "/v1/access-log/c1").json()["reads"]
    assert len(after) == reads + 1  # logged before it was answered
    for secret, url, status in [
        ("provider", "/v1/decisions/bidding/o1", 403),
        ("subject", "/v1/decisions/loan/c1", 403),
        ("provider", "/v1/decisions/loan/nobody", 404),
        ("provider", "/v1/decisions/nothing/c1", 403),
        (None, "/v1/decisions/loan/c1", 401),
    ]:
        got = call(client, None if secret is None else secrets[secret], "GET", url)
        assert got.status_code == status, (url, got.text)
        assert got.json()["error"], got.json()
    assert True not in answered[1:]
