"""Commands a newcomer leans on: verify's published head, decisions in one shape, lists
that say why and since when, and statements with a summary, a limit and a category."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from tests.conftest import DATA, TINY
from tests.test_cli import cli, ok, one_json

# The consequences rulebook (tests/data/consequences.yaml): c1 and the organisation o1 are
# debtors (-200 each, entries 2 and 3); o1 names c2 its legal representative (entry 4).
# As of 2021-05-31: o1 scores 800, grade D, so it is blacklisted for its grade, and c2
# is banned from senior positions jointly, through o1.
SUBJECTS = "code,kind,born\nc1,citizen,1980-01-01\nc2,citizen,1990-01-01\no1,organisation,\n"
COURT = "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\nk2,o1,debtor,2021-02-01\n"
REGISTRY = "key,subject,parameter,date,counterpart\nk3,o1,rep,2021-03-01,c2\n"


@pytest.fixture
def db(tmp_path: Path) -> str:
    db = str(tmp_path / "c.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    for name, text in (("s.csv", SUBJECTS), ("court.csv", COURT), ("reg.csv", REGISTRY)):
        (tmp_path / name).write_text(text)
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    ok("ingest", str(tmp_path / "court.csv"), "--institution", "court", "--db", db)
    ok("ingest", str(tmp_path / "reg.csv"), "--institution", "registry", "--db", db)
    ok("score", "--db", db, "--as-of", "2021-05-31")
    return db


# --- verify: a head published earlier ------------------------------------------------------


def test_verify_saves_a_head_and_checks_it_later(db: str, tmp_path: Path) -> None:
    head = tmp_path / "head.txt"
    out = ok("verify", "--db", db, "--save-head", str(head)).stdout
    digest = head.read_text().strip()
    assert len(digest) == 64 and f"saved to {head}" in out
    assert f"it holds head {digest}" in ok("verify", "--db", db, "--head", str(head)).stdout
    doc = one_json("verify", "--db", db, "--head", digest[:16])
    assert (doc["ok"], doc["head_found"], doc["expected_head"]) == (True, True, digest[:16])


def test_verify_with_a_head_that_is_not_in_the_ledger(db: str) -> None:
    result = cli("verify", "--db", db, "--head", "01419b013268a50f")
    assert result.exit_code == 1
    assert "the head digest 01419b013268a50f is not in this ledger (4 entries" in result.stdout
    assert "first broken entry" not in result.stdout
    doc = json.loads(cli("verify", "--db", db, "--head", "01419b013268a50f", "--json").stdout)
    assert (doc["ok"], doc["first_broken"], doc["head_found"]) == (False, None, False)


@pytest.mark.parametrize("value", ["xyz", "0123", "head.txt"])
def test_verify_rejects_what_is_not_a_head(db: str, tmp_path: Path, value: str) -> None:
    (tmp_path / "head.txt").write_text("not a digest\n")
    path = str(tmp_path / value) if value == "head.txt" else value
    result = cli("verify", "--db", db, "--head", path)
    assert result.exit_code == 2
    assert "head digest (8 to 64 hex digits)" in result.stderr


# --- decisions: one shape everywhere -----------------------------------------------------


def test_batch_decisions_have_the_shape_of_check(db: str, tmp_path: Path) -> None:
    (tmp_path / "pax.csv").write_text("subject\nc1\nc2\nghost\n")
    out = tmp_path / "out.ndjson"
    doc = one_json("check-batch", str(tmp_path / "pax.csv"), "loan", "--db", db, "-o", str(out))
    singles = [one_json("check", code, "loan", "--db", db) for code in ("c1", "c2")]
    unknown = {
        "subject": "ghost",
        "service": "loan",
        "decision": "unknown",
        "terms": {},
        "reasons": [
            {"code": "SUBJECT:unknown", "text": "not a subject of run 1", "entry_id": None}
        ],
        "as_of": "2021-05-31",
        "run_id": 1,
        "key_factors": [],
    }
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [*singles, unknown]
    assert doc["not_allowed"] == [*singles, unknown]  # refused, terms, unknown: all listed
    assert doc["decisions"] == {"refused": 1, "terms": 1, "unknown": 1}


def test_a_batch_points_to_the_key_factors_of_decisions_by_grade(db: str, tmp_path: Path) -> None:
    """c2's terms are by grade: a batch decides from the run alone, and says where the
    score's key factors are (Reg B: a statement of reasons on request)."""
    (tmp_path / "pax.csv").write_text("subject\nc1\nc2\n")
    text = ok("check-batch", str(tmp_path / "pax.csv"), "loan", "--db", db).stdout
    assert "1 terms by grade: the key factors of each, ranked, on request:" in text
    assert "socialrating check SUBJECT loan" in text
    assert "refused by grade" not in text  # c1 is refused by a list


def test_batch_csv_has_its_documented_columns(db: str, tmp_path: Path) -> None:
    (tmp_path / "pax.csv").write_text("subject\nc1\nc2\n")
    out = tmp_path / "out.csv"
    ok("check-batch", str(tmp_path / "pax.csv"), "loan", "--db", db, "-o", str(out))
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert list(rows[0]) == ["subject", "decision", "reasons", "terms", "key_factors"]
    assert rows[0]["reasons"] == "RULE:loan#1;LIST:debtors"
    assert rows[0]["key_factors"] == "LIST:debtors" and rows[1]["key_factors"] == ""
    assert json.loads(rows[1]["terms"]) == {"rate_adjustment": -0.5, "collateral": "none"}
    assert json.loads(rows[0]["terms"]) == {}
    text = ok("check-batch", "--help").stdout
    for column in ("subject", "decision", "reasons", "terms", "key_factors"):
        assert f"\n  {column} " in text.replace("\n    ", "\n  "), column
    bad = cli("check-batch", str(tmp_path / "pax.csv"), "loan", "--db", db, "-o", "x.txt")
    assert bad.exit_code == 1 and "use a .csv, .ndjson or .jsonl file" in bad.stderr


# --- lists: why and since when -----------------------------------------------------------


def members(db: str, name: str) -> list[dict[str, object]]:
    return one_json("lists", name, "--db", db)["members"]  # type: ignore[no-any-return]


def test_list_members_say_why_and_since_when(db: str) -> None:
    c1, _ = members(db, "debtors")
    assert (c1["subject"], c1["cause"], c1["since"], c1["until"]) == (
        "c1",
        "record",
        "2021-02-01",
        None,
    )
    assert (c1["entry_id"], c1["parameter"], c1["date"], c1["institution"]) == (
        2,
        "debtor",
        "2021-02-01",
        "court",
    )
    assert c1["why"] == "entry 2: debtor, 2021-02-01, court"
    (black,) = members(db, "blacklist")
    assert (black["subject"], black["cause"], black["grade"], black["score"]) == (
        "o1",
        "grade",
        "D",
        800,
    )
    assert (black["since"], black["until"], black["why"]) == (
        "2021-05-31",
        None,
        "grade D (score 800)",
    )
    (rep,) = members(db, "rep_ban")
    assert (rep["subject"], rep["cause"], rep["via"], rep["entry_id"]) == ("c2", "joint", "o1", 4)
    assert (rep["since"], rep["until"]) == ("2021-05-31", None)  # o1's grade, then the link
    assert rep["why"] == "with o1 on blacklist (linked by entry 4, rep, 2021-03-01)"
    text = ok("lists", "rep_ban", "--db", db).stdout
    assert "with o1 on blacklist" in text and "2021-05-31" in text  # fmt: skip


def test_a_grade_membership_keeps_the_date_a_run_first_found_it(db: str) -> None:
    ok("score", "--db", db, "--as-of", "2021-06-30")
    (black,) = members(db, "blacklist")
    assert black["since"] == "2021-05-31"
    (rep,) = members(db, "rep_ban")
    assert rep["since"] == "2021-05-31"


def test_a_grade_membership_after_a_gap_starts_again(db: str, tmp_path: Path) -> None:
    # An earlier date, scored later: o1 was not yet a debtor, so not on the list then.
    ok("score", "--db", db, "--as-of", "2021-01-15")
    assert members(db, "blacklist") == []
    ok("score", "--db", db, "--as-of", "2021-07-31")  # the run before it: 2021-05-31's
    (black,) = members(db, "blacklist")
    assert black["since"] == "2021-05-31"


def test_statement_shows_list_dates(db: str) -> None:
    doc = one_json("show", "c1", "--db", db, "--as-of", "2021-05-31")
    (debtors,) = doc["lists"]
    assert (debtors["list"], debtors["since"], debtors["until"]) == ("debtors", "2021-02-01", None)
    text = ok("show", "c1", "--db", db, "--as-of", "2021-05-31").stdout
    assert "On list debtors: entry 2 since 2021-02-01" in text


# --- statements: summary first, --limit and --category ------------------------------------


@pytest.fixture
def busy(tmp_path: Path) -> str:
    """C1 on the tiny rulebook with 45 traffic records (capped at -30) and a blood donation."""
    db = str(tmp_path / "busy.duckdb")
    ok("init", "--db", db, "--rulebook", str(TINY))
    (tmp_path / "s.csv").write_text("code,kind\nC1,citizen\n")
    ok("subjects", "import", str(tmp_path / "s.csv"), "--db", db)
    rows = [f"t{i},C1,red_light,2021-03-{1 + i % 28:02d}" for i in range(45)]
    rows.append("b1,C1,blood,2021-04-01")
    (tmp_path / "b.csv").write_text("key,subject,parameter,date\n" + "\n".join(rows) + "\n")
    ok("ingest", str(tmp_path / "b.csv"), "--institution", "police", "--db", db)
    return db


def test_statement_summary_comes_first(busy: str) -> None:
    doc = one_json("show", "C1", "--db", busy, "--as-of", "2021-06-01")
    assert doc["score"] == 1000 - 30 + 10
    assert list(doc).index("summary") < list(doc).index("lines")
    totals = {t["category"]: t for t in doc["summary"]["categories"]}
    assert (totals["traffic"]["points"], totals["traffic"]["counted"]) == (-30, 45)
    assert totals["traffic"]["cut"] == -10 * 45 + 30
    assert totals["charity"]["points"] == 10
    assert sum(t["points"] for t in totals.values()) + doc["base"] == doc["score"]
    # The key factors: what lowered the score, by parameter. The cap leaves three red
    # lights counting -10 each; the blood donation (+10) raised it and is no factor.
    (factor,) = doc["key_factors"]
    assert (factor["code"], factor["effect"], len(factor["entries"])) == (
        "PARAMETER:red_light",
        -30,
        3,
    )
    assert factor["text"] == "red_light: 3 records, -30 points"
    assert (doc["lines_total"], doc["lines_left_out"], len(doc["lines"])) == (46, 0, 46)


def test_statement_limit_and_category(busy: str) -> None:
    doc = one_json("show", "C1", "--db", busy, "--as-of", "2021-06-01", "--limit", "5")
    assert (len(doc["lines"]), doc["lines_left_out"], doc["lines_total"]) == (5, 41, 46)
    assert doc["lines"][-1]["parameter"] == "blood"  # the latest lines, in date order
    assert doc["score"] == 980  # the score is always the whole score
    doc = one_json("show", "C1", "--db", busy, "--as-of", "2021-06-01", "--category", "charity")
    assert [line["parameter"] for line in doc["lines"]] == ["blood"]
    text = ok("show", "C1", "--db", busy, "--as-of", "2021-06-01").stdout
    # The first 6 red lights are left out: -30 of them count (the cap), shown as one row.
    assert re.search(r"… 6 earlier lines\s*│[│\s]*│\s*-30\s*│", text), text
    assert "40 of 46 lines listed (46 in all)" in text
    doc = one_json("show", "C1", "--db", busy, "--as-of", "2021-06-01", "--category", "traffic")
    assert (doc["lines_matching"], doc["lines_left_out"], doc["lines_other_categories"]) == (
        45,
        0,
        1,
    )
    assert doc["points_other_categories"] == 10
    text = ok("show", "C1", "--db", busy, "--as-of", "2021-06-01", "--category", "traffic",
              "--limit", "3").stdout  # fmt: skip
    assert "… 42 earlier lines of traffic" in text and "… 1 lines of other categories" in text
    assert "3 of 45 lines of traffic listed (46 in all)" in text
    listed = one_json("show", "C1", "--db", busy, "--as-of", "2021-06-01", "--category",
                      "traffic", "--limit", "3")  # fmt: skip
    assert (
        listed["base"]
        + listed["points_other_categories"]
        + listed["points_left_out"]
        + sum(line["counted"] for line in listed["lines"])
        == listed["score"]
    )
    assert text.index("Key factors") < text.index("red_light")
    bad = cli("show", "C1", "--db", busy, "--category", "nope")
    assert bad.exit_code == 2 and "no category 'nope' in the rulebook" in bad.stderr


def test_demo_again_says_nothing_is_new(tmp_path: Path) -> None:
    args = ["demo", "--db", str(tmp_path / "d.duckdb"), "--rulebook", str(TINY),
            "--citizens", "50", "--organisations", "5", "--days", "20"]  # fmt: skip
    ok(*args)
    again = ok(*args).stdout
    assert "nothing new: run 1 already scored this ledger as of 2021-01-20" in again
    assert len(one_json("runs", "--db", str(tmp_path / "d.duckdb"))) == 1


def test_a_demo_refuses_a_ledger_of_another_synthetic_nation(tmp_path: Path) -> None:
    """Two nations share their subjects' codes: the second's records would count with the
    first's. Another seed is refused, with nothing stored; the same seed again is not."""
    db = str(tmp_path / "d.duckdb")
    common = ["demo", "--db", db, "--rulebook", str(TINY), "--citizens", "50", "--days", "20"]
    ok(*common, "--seed", "7")
    entries = one_json("verify", "--db", db)["entries"]
    refused = cli(*common, "--seed", "8")
    assert refused.exit_code == 1
    assert "holds another synthetic nation" in refused.output and "--db FILE" in refused.output
    assert one_json("verify", "--db", db)["entries"] == entries
    ok(*common, "--seed", "7")


def test_demo_after_the_rulebook_changed(tmp_path: Path) -> None:
    """A demo ledger made under an earlier version of the rulebook (the seed before an
    upgrade) holds another nation's records: the demo says so and stores nothing, rather
    than count both or fail on a key's content."""
    changed = tmp_path / "tiny2.yaml"
    changed.write_text(TINY.read_text().replace("points: -10", "points: -12", 1))
    db = str(tmp_path / "d.duckdb")
    common = ["--db", db, "--citizens", "50", "--organisations", "5", "--days", "20"]
    ok("demo", "--rulebook", str(TINY), *common)
    entries = one_json("verify", "--db", db)["entries"]
    refused = cli("demo", "--rulebook", str(changed), *common)
    assert refused.exit_code == 1 and "holds another synthetic nation" in refused.output
    assert one_json("verify", "--db", db)["entries"] == entries
    ok("demo", "--rulebook", str(changed), *common[2:], "--db", str(tmp_path / "new.duckdb"))


# --- what a reviewer found as a newcomer ---------------------------------------------------


def test_verify_cannot_save_the_head_where_it_cannot_write(db: str, tmp_path: Path) -> None:
    result = cli("verify", "--db", db, "--save-head", str(tmp_path / "no" / "such" / "h.txt"))
    assert result.exit_code == 1
    assert "cannot write the head digest to" in result.stderr
    assert "Traceback" not in result.output


def test_lists_names_a_run_that_is_not_there(db: str) -> None:
    result = cli("lists", "debtors", "--db", db, "--run", "99")
    assert result.exit_code == 1 and "no scoring run 99" in result.stderr


def test_limit_0_shows_all(db: str) -> None:
    assert len(one_json("lists", "debtors", "--db", db, "--limit", "0")["members"]) == 2
    assert one_json("subjects", "list", "--db", db, "--limit", "0")["subjects"][2]["code"] == "o1"
    assert len(one_json("parameters", "--db", db, "--limit", "0")["parameters"]) == 7
    assert len(one_json("runs", "--db", db, "--limit", "0")) == 1


def test_a_decision_names_its_run_and_date(db: str) -> None:
    doc = one_json("check", "c1", "loan", "--db", db)
    assert (doc["run_id"], doc["as_of"]) == (1, "2021-05-31")
    assert (
        "(run 1, grade and lists as of 2021-05-31)" in ok("check", "c1", "loan", "--db", db).stdout
    )
    shown = one_json("show", "c1", "--db", db, "--as-of", "2021-06-15")
    assert {(d["run_id"], d["as_of"]) for d in shown["decisions"]} == {(None, "2021-06-15")}


def test_an_empty_passenger_list(db: str, tmp_path: Path) -> None:
    (tmp_path / "none.csv").write_text("subject\n")
    text = ok("check-batch", str(tmp_path / "none.csv"), "flight", "--db", db).stdout
    assert "0 subjects, run 1: nothing to decide" in text


def test_statement_lines_name_their_parameters(db: str) -> None:
    # tests/data/consequences.yaml names no parameter: the code stands alone.
    doc = one_json("show", "c1", "--db", db, "--as-of", "2021-05-31")
    (line,) = doc["lines"]
    assert (line["parameter"], line["name"]) == ("debtor", None)
    assert doc["key_factors"][0]["text"].startswith("debtor: 1 record")


def test_a_statement_dates_grade_memberships_as_the_run_did(db: str) -> None:
    def lists(code: str, as_of: str) -> dict[str, tuple[str, str | None]]:
        doc = one_json("show", code, "--db", db, "--as-of", as_of)
        return {m["list"]: (m["cause"], m["since"]) for m in doc["lists"]}

    assert lists("o1", "2021-06-15")["blacklist"] == ("grade", "2021-05-31")
    assert lists("c2", "2021-06-15")["rep_ban"] == ("joint", "2021-05-31")
    assert lists("o1", "2021-05-01")["blacklist"] == ("grade", None)  # before any run


# --- the checkpoint setting ---------------------------------------------------------------


def test_the_checkpoint_setting_is_applied_and_a_bad_one_refused(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialrating.ledger import open_store

    def threshold() -> str:
        store = open_store(db)
        try:
            return str(store.scalar("SELECT current_setting('checkpoint_threshold')"))
        finally:
            store.close()

    assert threshold() == "61.0 MiB"  # 64 MB, as DuckDB shows it
    monkeypatch.setenv("SOCIALRATING_CHECKPOINT_MB", "16")
    assert threshold() == "15.2 MiB"
    monkeypatch.setenv("SOCIALRATING_CHECKPOINT_MB", "0")
    result = cli("score", "--db", db, "--as-of", "2021-05-31")
    assert result.exit_code != 0
    assert "SOCIALRATING_CHECKPOINT_MB must be a whole number of 1 or more, not '0'" in (
        result.output
    )
    assert "Traceback" not in result.output
