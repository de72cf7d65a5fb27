"""The appeal story over HTTP: a subject disputes a court debt, a reviewer voids it, and
the provider's next decision and the subject's statement show it at once.

The ledger (tests/data/consequences.yaml, as of 2021-05-31): c1 is a court debtor, so on
the debtors list and refused a loan; c2 has a tax debt of its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import DATA
from tests.test_cli import ok

from socialrating.api import create_app
from socialrating.ledger import open_store
from socialrating.ledger.verify import verify_ledger
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

KEYS = {
    "c1": (Role.SUBJECT, ("c1",)),
    "c2": (Role.SUBJECT, ("c2",)),
    "reviewer": (Role.REVIEWER, ()),
    "provider": (Role.PROVIDER, ("loan",)),
    "analyst": (Role.ANALYST, ()),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    tmp = tmp_path_factory.mktemp("appeals")
    db = str(tmp / "api.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    (tmp / "s.csv").write_text(
        "code,kind,born,sex,region\nc1,citizen,1980-01-01,F,north\nc2,citizen,1990-01-01,M,north\n"
    )
    ok("subjects", "import", str(tmp / "s.csv"), "--db", db)
    (tmp / "b.csv").write_text(
        "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,c2,debtor,2021-02-02\n"
    )
    ok("ingest", str(tmp / "b.csv"), "--institution", "court", "--db", db)
    ok("score", "--db", db, "--as-of", "2021-05-31")
    with open_store(db) as store:
        secrets = {name: create_key(store, role, scope)[1] for name, (role, scope) in KEYS.items()}

    def call(who: str, method: str, url: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {secrets[who]}"}
        return client.request(method, url, headers=headers, json=body)

    with TestClient(create_app(db)) as client:
        yield client, call


def entry_of(call: Any, who: str) -> int:
    doc = call(who, "GET", f"/v1/statements/{who}?as_of=2021-05-31").json()
    return int(next(line["entry_id"] for line in doc["lines"] if line["parameter"] == "debtor"))


def test_the_appeal_story_over_http(served: tuple[TestClient, Any]) -> None:
    client, call = served
    entry = entry_of(call, "c1")
    assert call("provider", "GET", "/v1/decisions/loan/c1").json()["decision"] == "refused"

    filed = call("c1", "POST", "/v1/appeals",
                 {"subject": "c1", "entry_id": entry, "reason": "I paid in January"})  # fmt: skip
    assert filed.status_code == 200, filed.text
    appeal = filed.json()
    assert appeal["status"] == "open" and appeal["entry_id"] == entry
    number = appeal["appeal_id"]
    again = call("c1", "POST", "/v1/appeals", {"subject": "c1", "entry_id": entry, "reason": "x"})
    assert again.status_code == 409 and again.json()["error"] == "appeal_refused"
    assert "under appeal already" in again.json()["message"]

    # The queue, the subject's own list, one appeal.
    queue = call("reviewer", "GET", "/v1/appeals?status=open").json()["appeals"]
    assert [a["appeal_id"] for a in queue] == [number]
    assert [a["appeal_id"] for a in call("c1", "GET", "/v1/appeals").json()["appeals"]] == [number]
    assert call("c2", "GET", "/v1/appeals").json()["appeals"] == []
    assert call("c1", "GET", f"/v1/appeals/{number}").json()["reason"] == "I paid in January"

    # Only a reviewer (or the admin) reviews.
    void = {"outcome": "voided", "reason": "the court's own register shows it paid"}
    for who in ("c1", "provider", "analyst"):
        assert call(who, "POST", f"/v1/appeals/{number}/review", void).status_code == 403
    reviewed = call("reviewer", "POST", f"/v1/appeals/{number}/review", void)
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["status"] == "voided" and "reviewer" in reviewed.json()["reviewer"]
    twice = call("reviewer", "POST", f"/v1/appeals/{number}/review", void)
    assert twice.status_code == 409 and "reviewed already" in twice.json()["message"]

    # At once: the provider's decision (rescored), the statement, the access log.
    assert call("provider", "GET", "/v1/decisions/loan/c1").json()["decision"] != "refused"
    assert call("provider", "GET", "/v1/decisions/loan/c2").json()["decision"] == "refused"
    doc = call("c1", "GET", "/v1/statements/c1?as_of=2021-05-31").json()
    line = next(x for x in doc["lines"] if x["entry_id"] == entry)
    assert line["status"] == "voided" and line["counted"] == 0 and line["appeals"] == [number]
    assert doc["lists"] == [] and doc["appeals"][0]["status"] == "voided"
    reads = call("c1", "GET", "/v1/access-log/c1").json()["reads"]
    assert {"appeals", "appeal", "review"} <= {r["action"] for r in reads}
    assert "reviewer" in {r["role"] for r in reads}

    store = client.app.state.store  # type: ignore[attr-defined]
    assert verify_ledger(store).ok


def test_a_subject_learns_nothing_of_other_subjects_appeals(served: tuple[TestClient, Any]) -> None:
    _, call = served
    other = entry_of(call, "c2")
    body = {"subject": "c1", "entry_id": other, "reason": "not mine"}
    theirs = call("c1", "POST", "/v1/appeals", body)
    missing = call("c1", "POST", "/v1/appeals", {**body, "entry_id": 10**9})
    assert theirs.status_code == missing.status_code == 409
    assert theirs.json()["message"] == f"entry {other} is not a record about c1"
    assert missing.json()["message"] == f"entry {10**9} is not a record about c1"
    assert call("c1", "POST", "/v1/appeals", {**body, "subject": "c2"}).status_code == 403

    filed = call("c2", "POST", "/v1/appeals", {"subject": "c2", "entry_id": other, "reason": "no"})
    assert filed.status_code == 200, filed.text
    number = filed.json()["appeal_id"]
    seen = call("c1", "GET", f"/v1/appeals/{number}")
    unseen = call("c1", "GET", "/v1/appeals/999999")
    assert seen.status_code == unseen.status_code == 403
    assert seen.json() == unseen.json()
    assert call("c1", "GET", "/v1/appeals?subject=c2").status_code == 403
    assert call("analyst", "GET", "/v1/appeals").status_code == 403


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/v1/appeals", {"subject": "c1", "entry_id": "one", "reason": "x"}, "body.entry_id"),
        ("/v1/appeals", {"subject": "c1", "entry_id": 1}, "body.reason"),
        ("/v1/appeals", {"subject": "c1", "entry_id": 1, "reason": ""}, "body.reason"),
        ("/v1/appeals", {"subject": "c1", "entry_id": 1, "reason": "x" * 2001}, "body.reason"),
        ("/v1/appeals", {"subject": "c1", "entry_id": 0, "reason": "x"}, "body.entry_id"),
        ("/v1/appeals", {"subject": "c1", "entry_id": 1, "reason": "x", "by": 1}, "body.by"),
        ("/v1/appeals/1/review", {"outcome": "maybe", "reason": "x"}, "body.outcome"),
        ("/v1/appeals/0/review", {"outcome": "upheld", "reason": "x"}, "path.appeal_id"),
    ],
)
def test_a_malformed_appeal_or_review_names_its_field(
    served: tuple[TestClient, Any], url: str, body: Any, field: str
) -> None:
    _, call = served
    who = "reviewer" if "review" in url else "c1"
    response = call(who, "POST", url, body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid" and response.json()["field"] == field


def test_the_outlook_over_http(served: tuple[TestClient, Any]) -> None:
    _, call = served
    found = call("c2", "GET", "/v1/statements/c2/outlook?as_of=2021-05-31")
    assert found.status_code == 200, found.text
    doc = found.json()
    assert doc["subject"] == "c2" and doc["as_of"] == "2021-05-31"
    assert [s["ends"] for s in doc["steps"]][:1] == [
        [f"debtor of 2021-02-02 (entry {entry_of(call, 'c2')}, -200)"]
    ]
    assert call("c1", "GET", "/v1/statements/c2/outlook").status_code == 403
    assert call("provider", "GET", "/v1/statements/c2/outlook").status_code == 403
    bad = call("c2", "GET", "/v1/statements/c2/outlook?as_of=soon")
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
