"""Published lists: any key reads the lists a rulebook marks public, and of each member
only the fields it names; an unpublished list is as unknown as one that does not exist.

The rulebook is tests/data/consequences.yaml with its debtors list published (subject,
since, cause, parameter, institution) and the blacklist published by code only; c1 and
c3 are debtors, o1's representative is... nobody: o1 is blacklisted at grade D.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.conftest import DATA
from tests.test_cli import cli, ok

from socialrating.api import create_app
from socialrating.ledger import open_store
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

DEBTORS = ["subject", "since", "cause", "parameter", "institution"]


def published_rulebook(tmp: Path) -> Path:
    text = (DATA / "consequences.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "  - code: debtors\n    subjects: any\n",
        f"  - code: debtors\n    subjects: any\n    public: [{', '.join(DEBTORS)}]\n",
    )
    assert "public:" in text
    path = tmp / "published.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("public")
    db = str(tmp / "api.duckdb")
    ok("init", "--db", db, "--rulebook", str(published_rulebook(tmp)))
    (tmp / "s.csv").write_text(
        "code,kind,born,sex,region\nc1,citizen,1980-01-01,F,north\nc2,citizen,1990-01-01,M,north\n"
        "c3,citizen,1970-01-01,M,south\n"
    )
    ok("subjects", "import", str(tmp / "s.csv"), "--db", db)
    (tmp / "b.csv").write_text(
        "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,c3,debtor,2021-03-01\n"
    )
    ok("ingest", str(tmp / "b.csv"), "--institution", "court", "--db", db)
    ok("score", "--db", db, "--as-of", "2021-05-31")
    with open_store(db) as store:
        keys = {
            "public": create_key(store, Role.PUBLIC)[1],
            "provider": create_key(store, Role.PROVIDER, ("loan",))[1],
            "subject": create_key(store, Role.SUBJECT, ("c2",))[1],
        }
    with TestClient(create_app(db)) as client:

        def call(who: str | None, url: str) -> Any:
            headers = {} if who is None else {"Authorization": f"Bearer {keys[who]}"}
            return client.get(url, headers=headers)

        yield call


def test_any_key_reads_the_published_lists_and_only_their_public_fields(served: Any) -> None:
    for who in ("public", "provider", "subject"):
        lists = served(who, "/v1/public/lists")
        assert lists.status_code == 200, lists.text
        assert [(x["list"], x["members"], x["fields"]) for x in lists.json()["lists"]] == [
            ("debtors", 2, DEBTORS)
        ]
    page = served("public", "/v1/public/lists/debtors").json()
    assert page["list"] == "debtors" and page["size"] == 2 and page["fields"] == DEBTORS
    assert page["members"] == [
        {"subject": "c1", "since": "2021-02-01", "cause": "record", "parameter": "debtor",
         "institution": "court"},
        {"subject": "c3", "since": "2021-03-01", "cause": "record", "parameter": "debtor",
         "institution": "court"},
    ]  # fmt: skip
    assert "score" not in str(page) and "grade" not in str(page) and "why" not in str(page)
    second = served("public", "/v1/public/lists/debtors?limit=1&offset=1").json()
    assert [m["subject"] for m in second["members"]] == ["c3"] and second["offset"] == 1


def test_an_unpublished_list_is_as_unknown_as_a_missing_one(served: Any) -> None:
    hidden = served("public", "/v1/public/lists/flight_ban")
    missing = served("public", "/v1/public/lists/nothing")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["message"] == "no published list 'flight_ban'"
    assert served(None, "/v1/public/lists").status_code == 401
    assert served("public", "/v1/public/lists/debtors?limit=0").status_code == 422
    assert served("public", "/v1/statements/c1").status_code == 403


def test_a_public_field_the_format_does_not_know_is_refused(tmp_path: Path) -> None:
    path = published_rulebook(tmp_path)
    path.write_text(path.read_text().replace("public: [subject", "public: [score, subject"))
    result = cli("rulebook", "check", str(path))
    assert result.exit_code == 1
    assert "lists[0].public[0]" in result.output and "score" in result.output
