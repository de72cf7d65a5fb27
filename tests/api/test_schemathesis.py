"""Every endpoint against its own OpenAPI document: schemathesis generates requests (valid
and invalid) from /openapi.json and checks each answer: never a 5xx, the status code
documented, the body as its schema says.

The app runs in-process (schemathesis' ASGI transport) over a small ledger (the one of
tests/api/test_api_matrix.py, with a few more records), with an admin key so that calls
get past 401. A second round fixes the path to codes that exist (a subject, a service,
an institution, an appeal), so that the answers with a body (200) are checked too.

One test drives every operation (``operation.as_strategy`` under Hypothesis, each case
sent with ``case.call_and_validate``) rather than ``@schema.parametrize()``'s test per
operation, so that the requests are counted, and at least 1,000 asserted, in the one
process that sent them, under pytest-xdist too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from tests.ledgers import DEBTOR, cli_ledger
from tests.test_cli import ok

from socialrating.api import create_app
from socialrating.ledger import open_store
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

EXAMPLES = 50
"""Generated requests per operation and mode (fewer where an operation has fewer inputs)."""

# Paths fixed to codes that exist, so that the generated rest reaches the use case.
KNOWN: dict[str, list[dict[str, Any]]] = {
    "/v1/decisions/{service}/{subject}": [
        {"service": "loan", "subject": "c1"},
        {"service": "flight", "subject": "c2"},
        {"service": "bidding", "subject": "o1"},
    ],
    "/v1/decisions/{service}": [{"service": "loan"}, {"service": "senior"}],
    "/v1/statements/{subject}": [{"subject": "c1"}, {"subject": "o1"}],
    "/v1/access-log/{subject}": [{"subject": "c1"}],
    "/v1/institutions/{institution}/records": [{"institution": "court"}],
    "/v1/appeals/{appeal_id}": [{"appeal_id": 1}],
    "/v1/appeals/{appeal_id}/review": [{"appeal_id": 1}],
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """The app's schema (requests go to the app in-process) and an admin key."""
    from schemathesis.python import asgi

    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    db = cli_ledger(tmp, batch=DEBTOR + "k2,c2,tax_debt,2021-02-02\n")
    with open_store(db) as store:
        _, admin = create_key(store, Role.ADMIN)
        entry = store.scalar("SELECT min(entry_id) FROM entries WHERE kind = 1")
    ok("appeals", "file", str(entry), "--subject", "c1", "--reason", "paid", "--db", db)
    app = create_app(db)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    try:
        yield schema, admin
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan closes the database


def drive(strategy: Any, statuses: Counter[int]) -> int:
    """Send up to ``EXAMPLES`` requests the strategy generates, each answer validated
    against the schema; how many were sent."""
    sent = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal sent
        # Every built-in check but one: a batch may be valid JSON and still have bad rows
        # (an unknown subject, a missing key), which is a documented 422.
        response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
        sent += 1
        statuses[response.status_code] += 1
        assert response.status_code < 500, response.text

    run()
    return sent


@pytest.mark.slow
def test_every_answer_matches_the_openapi_document(api: tuple[Any, str]) -> None:
    schema, admin = api
    auth = {"authorization": f"Bearer {admin}"}
    calls: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        rounds: list[tuple[GenerationMode, dict[str, Any] | None]] = [
            (GenerationMode.POSITIVE, None),
            (GenerationMode.NEGATIVE, None),
        ]
        rounds += [(GenerationMode.POSITIVE, known) for known in KNOWN.get(operation.path, [])]
        for mode, path in rounds:
            strategy = operation.as_strategy(
                generation_mode=mode, headers=auth, path_parameters=path
            )
            try:
                calls[operation.label] += drive(strategy, statuses)
            except Unsatisfiable:
                # Nothing it takes can be invalid (no parameters, or only free strings).
                assert mode is GenerationMode.NEGATIVE, operation.label
    assert sum(calls.values()) >= 1000, calls
    assert set(calls) == {r.ok().label for r in schema.get_all_operations()}
    assert statuses[200] > 0 and statuses[422] > 0 and statuses[404] > 0, statuses


def test_what_the_framework_refuses_is_a_json_error_too(tmp_path: Path) -> None:
    # Found by the test above: a body that is not UTF-8 was answered 400 {"detail": …},
    # a status the document did not list, in a shape no other error has.
    from fastapi.testclient import TestClient

    db = str(tmp_path / "api.duckdb")
    ok("init", "--db", db)
    with TestClient(create_app(db)) as client:
        unreadable = client.post(
            "/v1/decisions/loan", content=b'"\xff"', headers={"Content-Type": "application/json"}
        )
        nowhere = client.get("/v1/nowhere")
        wrong = client.delete("/v1/health")
        documented = client.get("/openapi.json").json()["paths"]["/v1/decisions/{service}"]
    assert (unreadable.status_code, unreadable.json()["error"]) == (400, "bad_request")
    assert "400" in documented["post"]["responses"]
    assert (nowhere.status_code, nowhere.json()["error"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")
    assert wrong.headers["allow"] == "GET"
