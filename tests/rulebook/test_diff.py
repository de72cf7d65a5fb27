"""`socialrating rulebook diff A B` and `rulebook list`: every kind of change, in words,
from files or from rulebooks stored in a database."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.conftest import DATA
from tests.test_cli import cli, ok

from socialrating.rulebook import load_rulebook
from socialrating.rulebook.diff import diff_rulebooks

ROOT = Path(__file__).resolve().parents[2]


def amended(tmp: Path, source: Path, *edits: tuple[str, str], name: str = "b.yaml") -> Path:
    """A copy of ``source`` (with its catalogue, if any) with each (old, new) replaced once."""
    text = source.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    for extra in source.parent.glob("*.csv.gz"):
        shutil.copy(extra, tmp / extra.name)
    out = tmp / name
    out.write_text(text, encoding="utf-8")
    return out


def texts(a: Path, b: Path) -> list[str]:
    return [c.text for c in diff_rulebooks(load_rulebook(a), load_rulebook(b)).changes]


def test_every_part_that_changed_is_said_once_in_words(tmp_path: Path) -> None:
    b = amended(
        tmp_path,
        DATA / "consequences.yaml",
        ('version: "1"', 'version: "2"'),
        ("effective: 2021-01-01", "effective: 2022-01-01"),
        ("    - {grade: B, min: 850}", "    - {grade: B, min: 870}"),
        ("  - {code: registry, class: state}", "  - {code: registry, class: state}\n"
                                                "  - {code: bank, class: nonstate}"),
        ("  - code: traffic\n", "  - code: traffic\n    cap: {period_days: 365, max_deduction: 50}\n"),
        ("{code: unruly, category: traffic, points: -20,", "{code: unruly, category: traffic, points: -40,"),
        ("  - {code: rep, category: registry", "  - {code: late, category: courts, points: -5, institutions: [court]}\n"
                                           "  - {code: rep, category: registry"),
        ("    term_days: 100", "    term_days: 365"),
        ("  - code: rep_ban\n    enter_with: [{list: blacklist, through: representative}]\n", ""),
        ("      - {when: {lists: [rep_ban]}, decision: refused}", "      - {when: {grades: [D]}, decision: refused}"),
        ("      - {when: {grades: [D]}, decision: refused}\n  - code: loan",
         "      - {when: {grades: [C, D]}, decision: refused}\n  - code: loan"),
        ("    otherwise: refused", "    otherwise: allowed"),
    )  # fmt: skip
    assert texts(DATA / "consequences.yaml", b) == [
        "rulebook: version 1 → 2",
        "rulebook: effective 2021-01-01 → 2022-01-01",
        "citizen grade B: min 850 → 870",
        "institution bank added",
        "category traffic: cap none → {period_days 365, max_deduction 50}",
        "parameter late added (-5 points in courts)",
        "parameter unruly: points -20 → -40",
        "list flight_ban: term_days 100 → 365",
        "list rep_ban removed",
        "service flight: rule 2 when.grades D → C, D",
        "service loan: otherwise refused → allowed",
        "service senior: rule 1 when.grades none → D",
        "service senior: rule 1 when.lists rep_ban → none",
    ]


def test_the_same_rulebook_has_no_change_and_order_does_not_matter(tmp_path: Path) -> None:
    source = DATA / "consequences.yaml"
    assert texts(source, source) == []
    # The same institutions in another order: matched by code, nothing changed.
    b = amended(
        tmp_path,
        source,
        ("  - {code: court, class: state}\n  - {code: police, class: state}",
         "  - {code: police, class: state}\n  - {code: court, class: state}"),
    )  # fmt: skip
    assert texts(source, b) == []


def test_a_catalogue_parameter_is_compared_like_a_yaml_one(tmp_path: Path) -> None:
    import gzip

    seed = ROOT / "rulebooks" / "seed.yaml"
    b = amended(tmp_path, seed, ('version: "2021.1"', 'version: "2021.2"'))
    catalogue = tmp_path / "seed-catalogue.csv.gz"
    lines = gzip.decompress(catalogue.read_bytes()).decode().splitlines()
    header = lines[0].split(",")
    row = lines[1].split(",")
    code, points = row[header.index("code")], row[header.index("points")]
    row[header.index("points")] = str(int(points) * 2)
    lines[1] = ",".join(row)
    catalogue.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    found = diff_rulebooks(load_rulebook(seed), load_rulebook(b))
    assert [c.text for c in found.changes] == [
        "rulebook: version 2021.1 → 2021.2",
        f"parameter {code}: points {points} → {int(points) * 2}",
    ]
    assert found.counts() == {"rulebook": {"changed": 1}, "parameters": {"changed": 1}}


def test_the_command_compares_files_and_stored_rulebooks(tmp_path: Path) -> None:
    db = str(tmp_path / "r.duckdb")
    source = DATA / "consequences.yaml"
    ok("init", "--db", db, "--rulebook", str(source))
    b = amended(tmp_path, source, ("{code: unruly, category: traffic, points: -20,",
                                   "{code: unruly, category: traffic, points: -40,"))  # fmt: skip
    ok("rulebook", "install", str(b), "--db", db, "--backdate", "unruly doubled")
    listed = json.loads(ok("rulebook", "list", "--db", db, "--json").stdout)["rulebooks"]
    assert [(r["active"], r["runs"]) for r in listed] == [(True, 0), (False, 0)]  # latest first
    first = next(r for r in listed if not r["active"])["hash"]
    shown = ok("rulebook", "diff", first[:10], "active", "--db", db).stdout
    assert "parameter unruly: points -20 → -40" in shown
    assert "parameter: 1 changed" in shown
    doc = json.loads(ok("rulebook", "diff", str(source), str(b), "--json").stdout)
    assert doc["same"] is False and doc["changes"][0]["field"] == "points"
    assert doc["changes"][0]["before"] == -20 and doc["changes"][0]["after"] == -40
    table = ok("rulebook", "list", "--db", db).stdout
    assert "in force today" in table and first[:12] in table


@pytest.mark.parametrize(
    ("a", "b", "said"),
    [
        ("nowhere.yaml", "active", "nowhere.yaml"),
        ("0000ffff", "active", "no stored rulebook has a hash starting '0000ffff'"),
    ],
)
def test_a_reference_that_names_nothing_says_so(tmp_path: Path, a: str, b: str, said: str) -> None:
    db = str(tmp_path / "r.duckdb")
    ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
    result = cli("rulebook", "diff", a, b, "--db", db)
    assert result.exit_code == 1 and said in result.output and "Traceback" not in result.output


def test_a_rectification_window_that_changed_is_said(tmp_path: Path) -> None:
    a = ROOT / "rulebooks" / "tax-credit.yaml"
    b = amended(tmp_path, a, ("{days: 30, share: 0.8}", "{days: 45, share: 0.8}"))
    assert texts(a, b) == ["parameter repair.made_good: rectifies.within[1].days 30 → 45"]


def test_a_passing_link_that_changed_is_said(tmp_path: Path) -> None:
    a = ROOT / "rulebooks" / "county-points.yaml"
    b = amended(
        tmp_path,
        a,
        (
            "derived_from: {parameter: firm.fine, through: representative}",
            "derived_from: {parameter: firm.performed, through: representative}",
        ),
    )
    assert texts(a, b) == [
        "parameter head.firm_fine: derived_from.parameter firm.fine → firm.performed"
    ]


def test_a_measure_and_a_grade_limit_that_changed_are_said(tmp_path: Path) -> None:
    a = ROOT / "rulebooks" / "carrier-safety.yaml"
    b = amended(tmp_path, a, ("groups: [3, 11, 21, 101, 501]", "groups: [3, 11, 21, 101, 401]"))
    assert texts(a, b) == [
        "measure hos_compliance: peers.groups 3, 11, 21, 101, 501 → 3, 11, 21, 101, 401"
    ]
    c = ROOT / "rulebooks" / "tax-credit.yaml"
    d = amended(
        tmp_path, c, ("when: {registered_within_years: 1}", "when: {registered_within_years: 2}")
    )
    assert texts(c, d) == ["grade limit new_enterprise: when.registered_within_years 1 → 2"]
