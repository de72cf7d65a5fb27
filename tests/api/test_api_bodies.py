"""Batches over HTTP: JSON or NDJSON bodies, bounded in size and rows, with the limits of
batch files, each refusal naming what and where, and nothing stored.

The ledger: tests/data/tiny.yaml, subjects C1, C2 (citizens) and O1. The app's limits are
lowered (a body of 256 KiB, 5 records) so that a test can pass them cheaply.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import TINY
from tests.test_cli import ok

from socialrating.api import create_app
from socialrating.ledger import open_store
from socialrating.ledger.limits import MAX_FIELD_CHARS
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

MAX_BODY = 256 * 1024
MAX_ROWS = 5
NDJSON = {"Content-Type": "application/x-ndjson"}
URL = "/v1/institutions/police/records"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("bodies")
    db = str(tmp / "api.duckdb")
    ok("init", "--db", db, "--rulebook", str(TINY))
    (tmp / "s.csv").write_text("code,kind\nC1,citizen\nC2,citizen\nO1,organisation\n")
    ok("subjects", "import", str(tmp / "s.csv"), "--db", db)
    with open_store(db) as store:
        keys = {
            "admin": create_key(store, Role.ADMIN, ())[1],
            "court": create_key(store, Role.INSTITUTION, ("court",))[1],
        }
    app = create_app(db, max_body_bytes=MAX_BODY, max_batch_rows=MAX_ROWS)
    with TestClient(app) as client:
        yield client, keys


@pytest.fixture
def client(served: tuple[TestClient, dict[str, str]]) -> TestClient:
    return served[0]


@pytest.fixture
def auth(served: tuple[TestClient, dict[str, str]]) -> dict[str, str]:
    return {"Authorization": f"Bearer {served[1]['admin']}"}


def entries(client: TestClient) -> int:
    return int(client.get("/v1/health").json()["entries"])


_keys = iter(range(1, 10**9))


def record(**fields: Any) -> dict[str, Any]:
    """A good police record with a fresh key, changed by ``fields``."""
    return {
        "key": f"http-{next(_keys)}",
        "subject": "C1",
        "parameter": "blood",
        "date": "2021-02-01",
        **fields,
    }


def ndjson(*records: dict[str, Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def refused(client: TestClient, auth: dict[str, str], status: int, code: str, **post: Any) -> Any:
    """The answer to a POST that must be refused whole; checks that nothing was stored."""
    before = entries(client)
    answer = client.post(URL, headers={**auth, **post.pop("headers", {})}, **post)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code, body
    assert entries(client) == before
    return body


def problems(body: Any) -> list[tuple[Any, str, str]]:
    return [(p["line"], p["field"], p["reason"]) for p in body["problems"]]


# --- good batches, both ways ------------------------------------------------------------


def test_json_and_ndjson_store_the_same_way_and_resending_stores_nothing(
    client: TestClient, auth: dict[str, str]
) -> None:
    rows = [record(), record(subject="C2")]
    first = client.post(URL, headers=auth, json={"records": rows})
    assert first.status_code == 200, first.text
    assert (first.json()["stored"], first.json()["duplicates"]) == (2, 0)
    # the same records as NDJSON: already stored, so skipped (the key is the record)
    again = client.post(URL, headers={**auth, **NDJSON}, content=ndjson(*rows))
    assert again.status_code == 200, again.text
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 2)
    fresh = client.post(URL, headers={**auth, **NDJSON}, content=ndjson(record()) + b"\n")
    assert fresh.json()["stored"] == 1


def test_ndjson_key_resent_with_other_content_names_its_line(
    client: TestClient, auth: dict[str, str]
) -> None:
    row = record()
    assert client.post(URL, headers=auth, json={"records": [row]}).status_code == 200
    body = refused(
        client, auth, 422, "invalid",
        headers=NDJSON, content=ndjson(record(), {**row, "date": "2021-02-02"}),
    )  # fmt: skip
    [(line, field, reason)] = problems(body)
    assert (line, field) == (2, "key") and "was already used for entry" in reason


# --- the body as a whole ------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_by_its_length_unread(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = refused(client, auth, 413, "too_large", content=b"x" * (MAX_BODY + 1))
    assert f"larger than {MAX_BODY:,} bytes" in body["message"]
    assert "SOCIALRATING_API_MAX_BODY_BYTES" in body["message"]


def test_a_streamed_body_over_the_limit_is_stopped_while_it_streams(
    client: TestClient, auth: dict[str, str]
) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(300):
            yield b" " * 1024

    body = refused(client, auth, 413, "too_large", headers=NDJSON, content=chunks())
    assert "larger than" in body["message"]


def test_too_many_records_are_refused_in_both_bodies(
    client: TestClient, auth: dict[str, str]
) -> None:
    rows = [record() for _ in range(MAX_ROWS + 1)]
    for post in ({"json": {"records": rows}}, {"headers": NDJSON, "content": ndjson(*rows)}):
        body = refused(client, auth, 413, "too_many_rows", **post)
        assert f"at most {MAX_ROWS:,} records" in body["message"]
        assert "SOCIALRATING_API_MAX_BATCH_ROWS" in body["message"]
    # blank lines are not records
    ok_rows = ndjson(*rows[:MAX_ROWS]).replace(b"\n", b"\n\n")
    answer = client.post(URL, headers={**auth, **NDJSON}, content=ok_rows)
    assert answer.status_code == 200 and answer.json()["stored"] == MAX_ROWS


def test_another_media_type_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    body = refused(
        client, auth, 415, "unsupported_media_type",
        headers={"Content-Type": "text/csv"}, content=b"key,subject\nk,C1\n",
    )  # fmt: skip
    assert "application/x-ndjson" in body["message"] and "'text/csv'" in body["message"]


@pytest.mark.parametrize(
    ("content", "field", "says"),
    [
        (b'{"records": [1]', "", "not valid JSON: Expecting ',' delimiter (line 1, column 16)"),
        (b'{"records": [], "x": 1}', "x", "unknown field(s) x: only records"),
        (b'{"records": []}', "records", "must be a list of one or more record objects"),
        (b'{"rows": []}', "records", 'must be an object {"records": [...]}'),
        (b"[]", "records", 'must be an object {"records": [...]}'),
        (b'{"records": "\xff"}', "", "not UTF-8 text (byte 14: invalid start byte)"),
        (b"[" * 100_000, "", "not valid JSON: nested too deeply"),
    ],
    ids=["not-json", "extra-field", "empty", "no-records", "a-list", "not-utf8", "deep"],
)
def test_a_json_body_that_is_not_a_batch(
    client: TestClient, auth: dict[str, str], content: bytes, field: str, says: str
) -> None:
    body = refused(client, auth, 422, "invalid", content=content)
    assert problems(body) == [(None, field, says)]


def test_a_record_that_is_not_an_object_names_its_number(
    client: TestClient, auth: dict[str, str]
) -> None:
    body = refused(client, auth, 422, "invalid", json={"records": [record(), "k2", record()]})
    assert problems(body) == [(2, "", "each record must be a JSON object")]


def test_ndjson_lines_that_are_not_records_name_their_lines(
    client: TestClient, auth: dict[str, str]
) -> None:
    content = ndjson(record()) + b"\n{not json}\n[1]\n" + b'{"key": "\xff"}\n' + ndjson(record())
    body = refused(client, auth, 422, "invalid", headers=NDJSON, content=content)
    assert problems(body) == [
        (3, "", "not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
        (4, "", "each line must be a JSON object"),
        (5, "", "not UTF-8 text: byte 10 of the line (invalid start byte)"),
    ]


def test_the_role_is_checked_before_the_body(
    client: TestClient, served: tuple[TestClient, dict[str, str]]
) -> None:
    court = {"Authorization": f"Bearer {served[1]['court']}"}
    body = refused(client, court, 403, "forbidden", headers=NDJSON, content=b"{not json}\n")
    assert body["problems"] == []


# --- the records: the limits of batch files -----------------------------------------------

LONG = "x" * (MAX_FIELD_CHARS + 1)

CASES = [
    ("unknown-column", record(colour="red"), "colour", "unknown column 'colour' (known: key,"),
    ("key-number", record(key=5), "key", "must be a string (text in quotes), not 5"),
    ("key-list", record(key=[1]), "key", "must be a single value, not [1]"),
    ("value-object", record(evidence={"a": 1}), "evidence", "must be a single value, not {'a'"),
    (
        "lone-surrogate",
        record(evidence="a\ud800b"),
        "evidence",
        "not Unicode text: a lone surrogate \\ud800 at character 2 of 'a\\ud800b'",
    ),
    ("nul-in-key", record(key="k\x00"), "key", "must not contain control characters: 'k\\x00'"),
    (
        "control-in-subject",
        record(subject="C\x071"),
        "subject",
        "must not contain control characters: 'C\\x071'",
    ),
    ("before-1900", record(date="1899-12-31"), "date", "is before 1900-01-01: 1899-12-31"),
    ("after-2200", record(date="2201-01-01"), "date", "is in the future: 2201-01-01"),
    (
        "field-too-long",
        record(evidence=LONG),
        "evidence",
        f"longer than {MAX_FIELD_CHARS:,} characters (the limit for any field): "
        f"{MAX_FIELD_CHARS + 1:,} characters",
    ),
]


@pytest.mark.parametrize("way", ["json", "ndjson"])
@pytest.mark.parametrize(
    ("bad", "field", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_bad_record_is_named_by_line_and_field_and_nothing_is_stored(
    client: TestClient, auth: dict[str, str], way: str, bad: dict[str, Any], field: str, says: str
) -> None:
    rows = [record(), bad]  # the bad record second, after a good one
    # json.dumps writes a lone surrogate as "\ud800", as a client would send it
    text = json.dumps({"records": rows}) if way == "json" else ndjson(*rows).decode()
    headers = {"Content-Type": "application/json"} if way == "json" else NDJSON
    body = refused(client, auth, 422, "invalid", headers=headers, content=text.encode())
    found = problems(body)
    assert {(line, got) for line, got, _ in found} == {(2, field)}, found
    reason = found[0][2]
    assert reason.startswith(says), found
    assert len(reason) < 300  # a long value is shown cut short


def test_a_citizen_cannot_report_itself_over_http(client: TestClient, auth: dict[str, str]) -> None:
    row = record(parameter="rumour", counterpart="C1")
    before = entries(client)
    answer = client.post("/v1/institutions/hotline/records", headers=auth, json={"records": [row]})
    assert answer.status_code == 422
    assert problems(answer.json()) == [
        (
            1,
            "counterpart",
            "the reporter 'C1' is the subject of the report: a citizen cannot report itself",
        )
    ]
    assert entries(client) == before
    other = client.post(
        "/v1/institutions/hotline/records",
        headers=auth,
        json={"records": [record(parameter="rumour", counterpart="C2")]},
    )
    assert other.status_code == 200, other.text


def test_the_openapi_document_offers_both_bodies_and_the_new_answers(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"][URL.replace("police", "{institution}")]
    post = operation["post"]
    assert set(post["requestBody"]["content"]) == {"application/json", "application/x-ndjson"}
    record_schema = post["requestBody"]["content"]["application/json"]["schema"]
    items = record_schema["properties"]["records"]["items"]
    assert items["additionalProperties"] is False and items["properties"]["key"]["type"] == "string"
    assert {"413", "415", "422"} <= set(post["responses"])


def test_the_limits_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from socialrating.errors import SettingsError
    from socialrating.settings import API_MAX_BATCH_ROWS, API_MAX_BODY_BYTES

    assert API_MAX_BODY_BYTES.count() == 64 * 1024 * 1024
    assert API_MAX_BATCH_ROWS.count() == 100_000
    monkeypatch.setenv("SOCIALRATING_API_MAX_BATCH_ROWS", "many")
    with pytest.raises(SettingsError, match="SOCIALRATING_API_MAX_BATCH_ROWS must be a whole"):
        create_app(str(tmp_path / "x.duckdb"))
    monkeypatch.delenv("SOCIALRATING_API_MAX_BATCH_ROWS")
    monkeypatch.setenv("SOCIALRATING_ACCESS_JOURNAL_SECONDS", "0.5")  # refused before start
    with pytest.raises(SettingsError, match="SOCIALRATING_ACCESS_JOURNAL_SECONDS must be a whole"):
        create_app(str(tmp_path / "x.duckdb"))
    monkeypatch.delenv("SOCIALRATING_ACCESS_JOURNAL_SECONDS")
    monkeypatch.setenv("SOCIALRATING_CHECKPOINT_MB", "lots")
    with pytest.raises(SettingsError, match="SOCIALRATING_CHECKPOINT_MB must be a whole"):
        create_app(str(tmp_path / "x.duckdb"))
