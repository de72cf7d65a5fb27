"""The appeal story from the command line: file, list, show, review, and the statement
and the score after it; every misuse a one-line error with nothing stored."""

from __future__ import annotations

import json

from tests.test_cli import cli, db, files, ok, one_json

__all__ = ["db", "files"]  # fixtures


def score_of(db: str, code: str) -> int:
    return int(one_json("show", code, "--db", db, "--as-of", "2021-06-01")["score"])


def test_the_appeal_story_from_the_command_line(db: str) -> None:
    ok("score", "--db", db, "--as-of", "2021-06-01")
    before = score_of(db, "C2")
    filed = one_json(
        "appeals", "file", "--subject", "C2", "--latest", "red_light",
        "--reason", "I was abroad that day", "--date", "2021-06-02", "--db", db,
    )  # fmt: skip
    assert filed["status"] in ("open", "overdue") and filed["parameter"] == "red_light"
    number = str(filed["appeal_id"])

    listed = ok("appeals", "list", "--open", "--db", db, "--as-of", "2021-06-03").output
    assert "C2" in listed and "red_light" in listed and "1 awaiting review" in listed
    shown = ok("show", "C2", "--db", db, "--as-of", "2021-06-03").output
    assert f"Appeal {number} against entry {filed['entry_id']}" in shown
    assert "under appeal" in shown  # the line itself says so

    text = ok(
        "review", number, "--void", "--reason", "the record named the wrong car",
        "--reviewer", "R. Reviewer", "--date", "2021-06-04", "--db", db,
    ).output  # fmt: skip
    assert "voided" in text and "no longer counts" in text
    ok("score", "--db", db, "--as-of", "2021-06-05")
    after = one_json("show", "C2", "--db", db, "--as-of", "2021-06-05")
    assert after["score"] > before
    line = next(x for x in after["lines"] if x["entry_id"] == filed["entry_id"])
    assert line["status"] == "voided" and line["counted"] == 0
    assert "R. Reviewer" in line["reason"] and line["appeals"] == [filed["appeal_id"]]
    assert [a["status"] for a in after["appeals"]] == ["voided"]

    reviewed = one_json("appeals", "list", "--reviewed", "--db", db)
    assert [a["appeal_id"] for a in reviewed] == [filed["appeal_id"]]
    assert one_json("appeals", "show", number, "--db", db)["reviewer"] == "R. Reviewer"
    assert ok("verify", "--db", db).exit_code == 0  # the appeal entries are chained too


def test_misuse_is_one_clear_line_and_stores_nothing(db: str) -> None:
    entries = json.loads(ok("verify", "--db", db, "--json").stdout)["entries"]
    bad = cli("appeals", "file", "--subject", "C2", "--reason", "no", "--db", db)
    assert bad.exit_code == 2 and "ENTRY" in bad.output  # neither ENTRY nor --latest
    bad = cli("appeals", "file", "99999", "--subject", "C2", "--reason", "x", "--db", db)
    assert bad.exit_code == 1 and "no entry 99999" in bad.output
    assert "Traceback" not in bad.output
    bad = cli(
        "appeals", "file", "--subject", "C1", "--latest", "hero", "--reason", " ",
        "--db", db,
    )  # fmt: skip
    assert bad.exit_code == 1 and "reason is empty" in bad.output
    bad = cli("review", "7", "--uphold", "--reason", "x", "--db", db)
    assert bad.exit_code == 1 and "no appeal 7" in bad.output
    bad = cli("review", "1", "--reason", "x", "--db", db)
    assert bad.exit_code == 2 and "--uphold or --void" in bad.output
    assert json.loads(ok("verify", "--db", db, "--json").stdout)["entries"] == entries
    assert "no appeal" in ok("appeals", "list", "--db", db).output
