"""`socialrating rulebook audit`: each finding on a small rulebook where it is known
(tests/data/audited.yaml), and, from a scoring run, whom a rulebook reaches and the
four-fifths rule on a ledger built to break it."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import DATA
from tests.ledgers import cli_ledger
from tests.test_cli import ok

from socialrating.rulebook import load_rulebook
from socialrating.rulebook.audit import audit_rulebook


def test_every_finding_of_a_rulebook_where_each_is_known() -> None:
    found = audit_rulebook(load_rulebook(DATA / "audited.yaml"))
    areas = {a["area"]: a for a in found["areas"]}
    assert [a["area"] for a in found["areas"] if a["rights"]] == ["assembly", "expression"]
    assert areas["traffic"] == {"area": "traffic", "rights": False, "parameters": 2,
                                "deductions": 2, "additions": 0, "largest_deduction": -10}  # fmt: skip
    assoc = found["association"]
    assert assoc["contagion"]["points"] == -10 and assoc["contagion"]["from_grades"] == ["D"]
    assert assoc["joint_lists"] == [
        {"list": "kin", "follows": "forever", "through": "representative"}
    ]
    gaps = found["due_process"]
    assert gaps["lists_without_exit"] == ["forever"]
    assert gaps["lists_without_term"] == ["forever", "kin"]
    assert gaps["lists_without_own_record"] == [
        {"list": "low", "entered": "by grade"},
        {"list": "kin", "entered": "jointly"},
    ]
    assert gaps["unverified_citizen_parameters"] == ["post"]
    assert gaps["retroactive_parameters"] == ["rally"]
    assert gaps["low_confidence_camera_parameters"] == [
        {"parameter": "speeding", "min_confidence": 0.6}
    ]
    prop = found["proportionality"]
    assert prop["median_deduction"] == 50
    assert prop["largest_deductions"][0] == {
        "parameter": "fraud",
        "points": -400,
        "times_median": 8.0,
    }
    assert prop["deductions_that_never_expire"] == 1
    assert prop["longest_expiry"][0] == {"parameter": "rally", "days": 730}
    assert [t["list"] for t in prop["list_terms"]] == ["forever", "kin", "low"]


def test_the_command_without_a_run_says_whom_it_cannot_judge(tmp_path: Path) -> None:
    doc = json.loads(
        ok("rulebook", "audit", str(DATA / "audited.yaml"), "--db", str(tmp_path / "none.duckdb"),
           "--json").stdout
    )  # fmt: skip
    assert doc["ledger"] is None and doc["due_process"]["lists_without_exit"] == ["forever"]
    text = ok("rulebook", "audit", str(DATA / "audited.yaml"), "--db", str(tmp_path / "n")).stdout
    assert "no scoring run of this rulebook" in text and "RIGHTS" in text
    assert "retroactive parameters (re-value records from before): rally" in text
    report = tmp_path / "audit.html"
    ok("rulebook", "audit", str(DATA / "audited.yaml"), "--db", str(tmp_path / "n"),
       "--html", str(report))  # fmt: skip
    assert "rally is retroactive: it values again records from before this version" in (
        report.read_text(encoding="utf-8")
    )


NORTH = [f"n{i}" for i in range(12)]
SOUTH = [f"s{i}" for i in range(12)]
PEOPLE = "code,kind,born,sex,region\n" + "".join(
    f"{c},citizen,1980-01-01,{'FM'[i % 2]},{region}\n"
    for region, codes in (("north", NORTH), ("south", SOUTH))
    for i, c in enumerate(codes)
)
DEBTS = "key,subject,parameter,date\n" + "".join(
    f"k{i},{c},debtor,2021-02-01\n" for i, c in enumerate(NORTH[:10])
)


def test_a_rulebook_that_refuses_one_region_breaks_the_four_fifths_rule(tmp_path: Path) -> None:
    db = cli_ledger(tmp_path, subjects=PEOPLE, batch=DEBTS)
    doc = json.loads(ok("rulebook", "audit", "--db", db, "--json").stdout)
    ledger = doc["ledger"]
    assert ledger["run_id"] == 1 and ledger["as_of"] == "2021-05-31"
    loan = next(
        d for d in ledger["disparate_impact"] if d["service"] == "loan" and d["by"] == "region"
    )
    by = {g["region"]: g for g in loan["groups"]}
    assert (by["north"]["refused"], by["north"]["subjects"]) == (10, 12)
    assert (by["south"]["refused"], by["south"]["ratio"]) == (0, 1.0)
    assert by["north"]["ratio"] == round((2 / 12) / 1.0, 3) and by["north"]["flagged"] is True
    assert by["south"]["flagged"] is False
    by_sex = next(
        d for d in ledger["disparate_impact"] if d["service"] == "loan" and d["by"] == "sex"
    )
    assert not any(g["flagged"] for g in by_sex["groups"])  # five debtors of each sex
    assert ledger["areas"] == []  # consequences.yaml tags no parameter: no area to reach
    lists = {x["list"]: x for x in ledger["association"]["lists"]}
    assert lists["debtors"]["own"] == 10 and lists["debtors"]["jointly"] == 0
    text = ok("rulebook", "audit", "--db", db).stdout
    assert "loan, region north: refused 83.3%, ratio 0.17" in text


def test_a_report_that_cannot_be_written_says_where(tmp_path: Path) -> None:
    from tests.test_cli import cli

    target = tmp_path / "no-such-folder" / "audit.html"
    result = cli("rulebook", "audit", str(DATA / "audited.yaml"), "--db", str(tmp_path / "n"),
                 "--html", str(target))  # fmt: skip
    assert result.exit_code == 1 and str(target) in result.output
    assert "Traceback" not in result.output and not target.exists()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n", encoding="utf-8")
    result = cli("rulebook", "audit", str(bad), "--db", str(tmp_path / "n"))
    assert result.exit_code == 1 and "bad.yaml" in result.output
    assert "Traceback" not in result.output
