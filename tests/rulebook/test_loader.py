"""Loading rulebooks: the valid ones compile, and every malformed one is reported precisely.

Each malformed case changes one thing in MINI (a small valid rulebook) and checks that the
RulebookError names the file, the line an editor shows and the field, and that the reason
names the bad value.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from tests.conftest import TINY
from typer.testing import CliRunner

from socialrating.cli import app
from socialrating.errors import Problem, RulebookError
from socialrating.rulebook import check_rulebook, load_rulebook

# Line numbers are on the left, for reading the tests; they are not part of the file.
MINI_LINES = """\
 1 # A small rulebook; each test breaks one thing in it.
 2 name: mini
 3 version: "1"
 4 effective: 2021-01-01
 5 grades:
 6   citizen:
 7     - {grade: A, min: 1000}
 8     - {grade: B, min: 900}
 9     - {grade: C}
10   organisation:
11     - {grade: A, min: 1000}
12     - {grade: B}
13 institutions:
14   - {code: police, class: state}
15   - {code: hotline, class: citizen}
16 categories:
17   - code: traffic
18     cap: {period_days: 365, max_deduction: 30}
19   - code: charity
20 parameters:
21   - {code: red_light, category: traffic, points: -10, institutions: [police]}
22   - {code: blood, category: charity, points: 10, institutions: [police]}
23   - code: rumour
24     category: traffic
25     points: -5
26     institutions: [hotline]
"""
MINI = "".join(line[3:] + "\n" for line in MINI_LINES.splitlines())


def write(tmp_path: Path, text: str, name: str = "rulebook.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def changed(old: str, new: str, text: str = MINI) -> str:
    """``text`` with the one occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} must occur once"
    return text.replace(old, new)


def line_with(text: str, needle: str) -> int:
    """The 1-based line of ``text`` holding ``needle`` (which must occur once)."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def problems_of(path: Path) -> list[Problem]:
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    problems = info.value.problems
    assert problems, "a RulebookError must carry its problems"
    assert check_rulebook(path) == problems
    return problems


def where(problems: list[Problem]) -> list[tuple[str, int | None, str]]:
    return [(Path(p.source).name, p.line, p.field) for p in problems]


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# --- valid rulebooks ----------------------------------------------------------------------


def test_mini_lines_are_as_numbered() -> None:
    assert line_with(MINI, "code: red_light") == 21
    assert line_with(MINI, "points: -5") == 25
    assert len(MINI.splitlines()) == 26


def test_mini_compiles_every_default(tmp_path: Path) -> None:
    rb = load_rulebook(write(tmp_path, MINI))
    rows = {r["code"]: r for r in rb.parameters.to_pylist()}
    assert list(rows) == ["red_light", "blood", "rumour"]
    assert rows["red_light"]["points"] == -10
    assert rows["red_light"]["cap_period_days"] == 365
    assert rows["red_light"]["cap_max_deduction"] == 30
    assert rows["blood"]["cap_period_days"] is None
    # Defaults: the camera's minimum confidence, reports verified by an authority.
    assert rows["rumour"]["min_confidence"] == 0.9
    assert rows["rumour"]["verify_by_authority"] is True
    assert rows["rumour"]["verify_reporters"] is None
    assert rows["rumour"]["subjects"] == "citizen"
    assert rb.spec.base_score == 1000
    assert rb.grade_of(999, "citizen") == "B"
    assert rb.grade_of(899, "citizen") == "C"


def test_tiny_loads_every_parameter_in_order() -> None:
    raw = yaml.safe_load(TINY.read_text(encoding="utf-8"))
    rb = load_rulebook(TINY)
    assert rb.spec.name == "tiny"
    assert rb.parameters.num_rows == len(raw["parameters"])
    assert rb.parameters.column("code").to_pylist() == [p["code"] for p in raw["parameters"]]
    assert [i.code for i in rb.spec.institutions] == [i["code"] for i in raw["institutions"]]
    assert rb.catalogue_name is None


def test_hash_is_stable_and_changes_with_any_byte(tmp_path: Path) -> None:
    first, second = load_rulebook(TINY), load_rulebook(TINY)
    assert first.hash == second.hash
    assert len(first.hash) == 64 and int(first.hash, 16) >= 0
    # The hash is of the content, not of where the file is.
    copy = tmp_path / "copy.yaml"
    data = TINY.read_bytes()
    copy.write_bytes(data)
    assert load_rulebook(copy).hash == first.hash
    # One byte of a comment changes nothing the rulebook says, but it changes the hash.
    assert data.startswith(b"# A tiny")
    copy.write_bytes(b"# a tiny" + data[len(b"# A tiny") :])
    edited = load_rulebook(copy)
    assert edited.parameters.equals(first.parameters)
    assert edited.hash != first.hash


# --- malformed YAML -----------------------------------------------------------------------


def test_yaml_syntax_error_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'name: mini\nversion: "1"\n  effective: 2021-01-01\n')
    p = only(problems_of(path))
    assert (p.source, p.line, p.field) == (str(path), 3, "")
    assert "not valid YAML" in p.reason


def test_unclosed_flow_mapping_names_its_line(tmp_path: Path) -> None:
    text = changed("  - {code: police, class: state}", "  - {code: police, class: state")
    p = only(problems_of(write(tmp_path, text)))
    # The parser notices on the next line, where the mapping should have closed.
    assert p.line == 15
    assert "not valid YAML" in p.reason


def test_repeated_key_is_reported_not_silently_overwritten(tmp_path: Path) -> None:
    # YAML parsers keep the last of repeated keys: the first points would vanish unseen.
    text = changed("points: 10,", "points: 10, points: 99,")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (22, "")
    assert p.reason == "key 'points' repeats (first on line 22)"


def test_repeated_section_is_reported(tmp_path: Path) -> None:
    text = (
        MINI + "parameters:\n  - {code: x, category: traffic, points: 1, institutions: [police]}\n"
    )
    p = only(problems_of(write(tmp_path, text)))
    assert p.line == 27
    assert p.reason == "key 'parameters' repeats (first on line 20)"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", ""])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (1, "")
    assert "mapping" in p.reason


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(MINI.replace("mini", "m\xefni").encode("latin-1"))
    p = only(problems_of(path))
    assert "not UTF-8" in p.reason


def test_missing_rulebook_file(tmp_path: Path) -> None:
    p = only(problems_of(tmp_path / "nowhere.yaml"))
    assert p.source == str(tmp_path / "nowhere.yaml")
    assert "No such file" in p.reason


# --- types and fields (pydantic) ----------------------------------------------------------


def test_unknown_field_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, changed("    points: -5", "    pointz: -5"))
    problems = problems_of(path)
    assert where(problems) == [
        ("rulebook.yaml", 23, "parameters[2].points"),  # now missing: the item's line
        ("rulebook.yaml", 25, "parameters[2].pointz"),  # the key's own line
    ]
    assert problems[0].reason == "Field required"
    assert problems[1].reason == "unknown field"
    assert str(problems[1]) == f"{path}:25: parameters[2].pointz: unknown field"


def test_wrong_type_names_the_value(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("points: -10", "points: ten"))))
    assert (p.line, p.field) == (21, "parameters[0].points")
    assert "'ten'" in p.reason


def test_wrong_type_in_block_mapping_points_at_the_key(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("    points: -5", "    points: [1, 2]"))))
    assert (p.line, p.field) == (25, "parameters[2].points")
    assert "[1, 2]" in p.reason


def test_missing_required_field_in_a_parameter(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("    category: traffic\n", ""))))
    assert (p.line, p.field, p.reason) == (23, "parameters[2].category", "Field required")


def test_missing_required_top_level_field(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed('version: "1"\n', ""))))
    # No line holds what is missing: the problem points where the mapping starts.
    assert (p.line, p.field, p.reason) == (2, "version", "Field required")


def test_unquoted_version_is_a_wrong_type(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed('version: "1"', "version: 1"))))
    assert (p.line, p.field) == (3, "version")
    assert "(got 1)" in p.reason


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "says"),
    [
        (
            "effective: 2021-01-01",
            "effective: 2021-01-01\ncamera: {min_confidence: 1.5}",
            5,
            "camera.min_confidence",
            "1.5",
        ),
        (
            "effective: 2021-01-01",
            "effective: 2021-01-01\ncamera: {min_confidence: 0}",
            5,
            "camera.min_confidence",
            "greater than 0",
        ),
        (
            "institutions: [hotline]",
            "institutions: [hotline]\n    min_confidence: 2",
            27,
            "parameters[2].min_confidence",
            "2",
        ),
    ],
    ids=["camera-above-1", "camera-zero", "parameter-above-1"],
)
def test_confidence_out_of_range(
    tmp_path: Path, old: str, new: str, line: int, field: str, says: str
) -> None:
    p = only(problems_of(write(tmp_path, changed(old, new))))
    assert (p.line, p.field) == (line, field)
    assert says in p.reason


def test_unknown_institution_class(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("class: citizen", "class: oracle"))))
    assert (p.line, p.field) == (15, "institutions[1].class")
    assert "'oracle'" in p.reason


def test_several_field_problems_are_reported_together(tmp_path: Path) -> None:
    text = changed("points: -10", "points: ten")
    text = changed("    points: -5", "    pointz: -5", text)
    text = changed("class: citizen", "class: oracle", text)
    problems = problems_of(write(tmp_path, text))
    assert where(problems) == [
        ("rulebook.yaml", 15, "institutions[1].class"),
        ("rulebook.yaml", 21, "parameters[0].points"),
        ("rulebook.yaml", 23, "parameters[2].points"),
        ("rulebook.yaml", 25, "parameters[2].pointz"),
    ]


# --- checks that span fields --------------------------------------------------------------


def test_bands_must_descend(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("{grade: B, min: 900}", "{grade: B, min: 1100}"))))
    assert (p.line, p.field) == (8, "grades.citizen[1].min")
    assert "1100 is not below 1000" in p.reason


def test_equal_bands_do_not_descend(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("{grade: B, min: 900}", "{grade: B, min: 1000}"))))
    assert (p.line, p.field) == (8, "grades.citizen[1].min")
    assert "1000 is not below 1000" in p.reason


def test_lowest_band_has_no_min(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("{grade: C}", "{grade: C, min: 500}"))))
    assert (p.line, p.field) == (9, "grades.citizen[2].min")
    assert "leave out min" in p.reason


def test_middle_band_needs_a_min(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("{grade: B, min: 900}", "{grade: B}"))))
    assert (p.line, p.field) == (8, "grades.citizen[1].min")
    assert "needs a min" in p.reason


def test_organisation_bands_are_checked_too(tmp_path: Path) -> None:
    text = changed("    - {grade: B}\ninstitutions", "    - {grade: B, min: 0}\ninstitutions")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (12, "grades.organisation[1].min")


def test_repeated_grade(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("{grade: B, min: 900}", "{grade: A, min: 900}"))))
    assert (p.line, p.field) == (6, "grades.citizen")
    assert "'A' repeats" in p.reason


def test_duplicate_institution_code(tmp_path: Path) -> None:
    text = changed(
        "  - {code: hotline, class: citizen}\n",
        "  - {code: hotline, class: citizen}\n  - {code: police, name: Again, class: state}\n",
    )
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (line_with(text, "Again"), "institutions[2].code")
    assert p.line == 16
    assert "'police' is used twice" in p.reason


def test_duplicate_category_code(tmp_path: Path) -> None:
    text = changed("  - code: charity\n", "  - code: charity\n  - code: traffic\n")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (20, "categories[2].code")
    assert "'traffic' is used twice" in p.reason


def test_duplicate_parameter_code_names_the_first_definition(tmp_path: Path) -> None:
    path = write(
        tmp_path, MINI + "  - {code: blood, category: charity, points: 1, institutions: [police]}\n"
    )
    p = only(problems_of(path))
    assert (p.line, p.field) == (27, "parameters[3].code")
    assert p.reason == f"parameter 'blood' is already defined at {path}:22"


def test_parameter_with_unknown_category(tmp_path: Path) -> None:
    p = only(
        problems_of(
            write(tmp_path, changed("category: charity, points: 10", "category: nope, points: 10"))
        )
    )
    assert (p.line, p.field) == (22, "parameters[1].category")
    assert "unknown category 'nope'" in p.reason


def test_parameter_with_unknown_institution(tmp_path: Path) -> None:
    p = only(problems_of(write(tmp_path, changed("[hotline]", "[hotline, nobody]"))))
    assert (p.line, p.field) == (26, "parameters[2].institutions")
    assert "unknown institution 'nobody'" in p.reason


def test_reporters_without_window_days(tmp_path: Path) -> None:
    text = changed("effective: 2021-01-01\n", "effective: 2021-01-01\nreports: {reporters: 3}\n")
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (5, "reports")
    assert "reporters and window_days go together" in p.reason


def test_parameter_reporters_without_window_days(tmp_path: Path) -> None:
    text = changed(
        "    institutions: [hotline]\n",
        "    institutions: [hotline]\n    verification: {reporters: 3}\n",
    )
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (27, "parameters[2].verification")


def test_no_report_could_ever_count(tmp_path: Path) -> None:
    text = changed(
        "effective: 2021-01-01\n", "effective: 2021-01-01\nreports: {by_authority: false}\n"
    )
    p = only(problems_of(write(tmp_path, text)))
    assert (p.line, p.field) == (5, "reports")
    assert "no report could ever count" in p.reason


def test_cap_with_neither_max(tmp_path: Path) -> None:
    p = only(
        problems_of(
            write(
                tmp_path,
                changed("cap: {period_days: 365, max_deduction: 30}", "cap: {period_days: 365}"),
            )
        )
    )
    assert (p.line, p.field) == (18, "categories[0].cap")
    assert "max_deduction, max_addition or both" in p.reason


def test_several_problems_are_reported_together_in_line_order(tmp_path: Path) -> None:
    text = changed("{grade: B, min: 900}", "{grade: B, min: 1100}")
    text = changed("cap: {period_days: 365, max_deduction: 30}", "cap: {period_days: 365}", text)
    text = changed("  - code: charity\n", "  - code: charity\n  - code: traffic\n", text)
    text = changed("category: charity, points: 10", "category: nope, points: 10", text)
    text = changed("[hotline]", "[hotline, nobody]", text)
    text += "  - {code: blood, category: charity, points: 1, institutions: [police]}\n"
    path = write(tmp_path, text)
    problems = problems_of(path)
    assert where(problems) == [
        ("rulebook.yaml", 8, "grades.citizen[1].min"),
        ("rulebook.yaml", 18, "categories[0].cap"),
        ("rulebook.yaml", 20, "categories[2].code"),
        ("rulebook.yaml", 23, "parameters[1].category"),
        ("rulebook.yaml", 27, "parameters[2].institutions"),
        ("rulebook.yaml", 28, "parameters[3].code"),
    ]
    with pytest.raises(RulebookError) as info:
        load_rulebook(path)
    assert str(info.value).startswith(f"rulebook {path} has 6 problem(s)")
    assert f"{path}:27: parameters[2].institutions: unknown institution 'nobody'" in str(info.value)


# --- catalogues ---------------------------------------------------------------------------

HEADER = "code,category,points,institutions,tags"
CAT_LINE = 27  # the line of ``catalogue:`` in the YAML


def with_catalogue(tmp_path: Path, name: str, data: bytes | str | None) -> Path:
    """MINI with ``catalogue: name``, and the catalogue written beside it (unless None)."""
    if data is not None:
        target = tmp_path / name
        if isinstance(data, str):
            target.write_text(data, encoding="utf-8")
        else:
            target.write_bytes(data)
    path = write(tmp_path, MINI + f"catalogue: {name}\n")
    assert line_with(path.read_text(encoding="utf-8"), "catalogue:") == CAT_LINE
    return path


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


GOOD_ROWS = ("jaywalk,traffic,-2,police;hotline,traffic;street", "donate,charity,3,police,")


def check_good_catalogue(rb: Any) -> None:
    rows = {r["code"]: r for r in rb.parameters.to_pylist()}
    assert list(rows) == ["red_light", "blood", "rumour", "jaywalk", "donate"]
    assert rows["jaywalk"]["points"] == -2
    assert rows["jaywalk"]["institutions"] == "police;hotline"
    assert rows["jaywalk"]["tags"] == "traffic;street"
    assert rows["jaywalk"]["cap_max_deduction"] == 30  # the category's cap is copied
    assert rows["donate"]["institutions"] == "police"
    assert rows["donate"]["tags"] == ""


def test_csv_catalogue_loads(tmp_path: Path) -> None:
    rb = load_rulebook(with_catalogue(tmp_path, "params.csv", csv_text(*GOOD_ROWS)))
    check_good_catalogue(rb)
    assert rb.catalogue_name == "params.csv"
    assert rb.catalogue_bytes == (tmp_path / "params.csv").read_bytes()


@pytest.mark.parametrize(
    ("cell", "compiled"),
    [("police;;hotline", "police;hotline"), (";police; ;hotline;", "police;hotline")],
)
def test_empty_items_in_a_catalogue_list_are_dropped(
    tmp_path: Path, cell: str, compiled: str
) -> None:
    rows = (f'jaywalk,traffic,-2,"{cell}",traffic;;street', "donate,charity,3,police,")
    rb = load_rulebook(with_catalogue(tmp_path, "params.csv", csv_text(*rows)))
    jaywalk = next(r for r in rb.parameters.to_pylist() if r["code"] == "jaywalk")
    assert (jaywalk["institutions"], jaywalk["tags"]) == (compiled, "traffic;street")


def test_catalogue_is_part_of_the_hash(tmp_path: Path) -> None:
    path = with_catalogue(tmp_path, "params.csv", csv_text(*GOOD_ROWS))
    before = load_rulebook(path).hash
    (tmp_path / "params.csv").write_text(csv_text(*GOOD_ROWS).replace("-2", "-3"), encoding="utf-8")
    assert load_rulebook(path).hash != before


def test_csv_catalogue_with_byte_order_mark_loads(tmp_path: Path) -> None:
    # Spreadsheets save "CSV UTF-8" with a BOM; it must not become part of "code".
    data = b"\xef\xbb\xbf" + csv_text(*GOOD_ROWS).encode()
    check_good_catalogue(load_rulebook(with_catalogue(tmp_path, "params.csv", data)))


def test_csv_gz_catalogue_loads(tmp_path: Path) -> None:
    data = gzip.compress(csv_text(*GOOD_ROWS).encode())
    check_good_catalogue(load_rulebook(with_catalogue(tmp_path, "params.csv.gz", data)))


def test_parquet_catalogue_loads(tmp_path: Path) -> None:
    table = pa.table(
        {
            "code": ["jaywalk", "donate"],
            "category": ["traffic", "charity"],
            "points": pa.array([-2, 3], pa.int64()),
            "institutions": [["police", "hotline"], ["police"]],
            "tags": [["traffic", "street"], None],
            "per_unit": [False, True],
        }
    )
    pq.write_table(table, tmp_path / "params.parquet")
    rb = load_rulebook(with_catalogue(tmp_path, "params.parquet", None))
    check_good_catalogue(rb)
    per_unit = dict(
        zip(
            rb.parameters.column("code").to_pylist(),
            rb.parameters.column("per_unit").to_pylist(),
            strict=True,
        )
    )
    assert per_unit == {
        "red_light": False,
        "blood": False,
        "rumour": False,
        "jaywalk": False,
        "donate": True,
    }


def test_catalogue_bad_value_names_file_line_and_field(tmp_path: Path) -> None:
    cat = csv_text(*GOOD_ROWS, "lost,charity,abc,police,")
    problems = problems_of(with_catalogue(tmp_path, "params.csv", cat))
    p = only(problems)
    assert (p.source, p.line, p.field) == (str(tmp_path / "params.csv"), 4, "points")
    assert "'abc'" in p.reason


def test_catalogue_lines_count_blank_lines_and_quoted_newlines(tmp_path: Path) -> None:
    cat = csv_text(
        "jaywalk,Jaywalking,traffic,-2,police",  # line 2
        "",  # line 3: blank
        'donate,"Gives money,',  # lines 4-5: one row, a newline inside quotes
        'every month",charity,3,police',
        "lost,Lost,charity,abc,police",  # line 6
        header="code,name,category,points,institutions",
    )
    p = only(problems_of(with_catalogue(tmp_path, "params.csv", cat)))
    assert (p.line, p.field) == (6, "points")


def test_catalogue_row_with_wrong_number_of_fields(tmp_path: Path) -> None:
    p = only(
        problems_of(
            with_catalogue(tmp_path, "params.csv", csv_text(GOOD_ROWS[0], "short,charity,1"))
        )
    )
    assert (Path(p.source).name, p.line, p.field) == ("params.csv", 3, "")
    assert p.reason == "expected 5 fields, found 3"


def test_catalogue_unknown_column(tmp_path: Path) -> None:
    cat = csv_text("jaywalk,traffic,-2,police,,red", header=HEADER + ",colour")
    p = only(problems_of(with_catalogue(tmp_path, "params.csv", cat)))
    assert (Path(p.source).name, p.line, p.field) == ("params.csv", 1, "colour")
    assert "unknown column 'colour'" in p.reason


def test_catalogue_missing_required_column(tmp_path: Path) -> None:
    cat = csv_text("jaywalk,traffic,police", header="code,category,institutions")
    p = only(problems_of(with_catalogue(tmp_path, "params.csv", cat)))
    assert (Path(p.source).name, p.line, p.field, p.reason) == (
        "params.csv",
        1,
        "points",
        "required column is missing",
    )


def test_catalogue_unknown_category_and_institution(tmp_path: Path) -> None:
    cat = csv_text(GOOD_ROWS[0], "lost,nowhere,1,police;nobody,")
    problems = problems_of(with_catalogue(tmp_path, "params.csv", cat))
    assert where(problems) == [("params.csv", 3, "category"), ("params.csv", 3, "institutions")]
    assert "unknown category 'nowhere'" in problems[0].reason
    assert "unknown institution 'nobody'" in problems[1].reason


def test_catalogue_duplicate_of_a_yaml_parameter(tmp_path: Path) -> None:
    path = with_catalogue(tmp_path, "params.csv", csv_text(GOOD_ROWS[0], "blood,charity,1,police,"))
    p = only(problems_of(path))
    assert (Path(p.source).name, p.line, p.field) == ("params.csv", 3, "code")
    assert p.reason == f"parameter 'blood' is already defined at {path}:22"


def test_catalogue_duplicate_within_the_catalogue(tmp_path: Path) -> None:
    path = with_catalogue(
        tmp_path, "params.csv", csv_text(*GOOD_ROWS, "jaywalk,traffic,-1,police,")
    )
    p = only(problems_of(path))
    assert (p.line, p.field) == (4, "code")
    assert p.reason == f"parameter 'jaywalk' is already defined at {tmp_path / 'params.csv'}:2"


def test_missing_catalogue_file(tmp_path: Path) -> None:
    path = with_catalogue(tmp_path, "absent.csv", None)
    p = only(problems_of(path))
    assert (p.source, p.line, p.field) == (str(path), CAT_LINE, "catalogue")
    assert "cannot read" in p.reason and "absent.csv" in p.reason


def test_non_gzip_csv_gz(tmp_path: Path) -> None:
    p = only(problems_of(with_catalogue(tmp_path, "params.csv.gz", csv_text(*GOOD_ROWS))))
    assert (Path(p.source).name, p.line) == ("params.csv.gz", None)
    assert "not a gzip file" in p.reason


def test_unreadable_parquet_catalogue(tmp_path: Path) -> None:
    p = only(problems_of(with_catalogue(tmp_path, "params.parquet", b"not parquet at all")))
    assert Path(p.source).name == "params.parquet"
    assert "not a readable Parquet file" in p.reason


def test_catalogue_of_unknown_format(tmp_path: Path) -> None:
    p = only(problems_of(with_catalogue(tmp_path, "params.xlsx", b"PK")))
    assert "must be .csv, .csv.gz or .parquet" in p.reason


def test_yaml_and_catalogue_problems_are_reported_together(tmp_path: Path) -> None:
    (tmp_path / "params.csv").write_text(
        csv_text(GOOD_ROWS[0], "lost,nowhere,1,police,"), encoding="utf-8"
    )
    text = changed("[hotline]", "[hotline, nobody]") + "catalogue: params.csv\n"
    problems = problems_of(write(tmp_path, text))
    assert sorted(where(problems)) == [
        ("params.csv", 3, "category"),
        ("rulebook.yaml", 26, "parameters[2].institutions"),
    ]


# --- the JSON Schema ----------------------------------------------------------------------


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_rulebook_schema_is_json_schema() -> None:
    result = CliRunner().invoke(app, ["rulebook", "schema"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {
        "name",
        "version",
        "effective",
        "grades",
        "institutions",
        "categories",
    }
    assert {"parameters", "catalogue", "reports", "camera"} <= set(schema["properties"])
    defs = schema["$defs"]
    # Every reference resolves, and the YAML's alias (class) is what the schema shows.
    for ref in _refs(schema):
        assert ref.startswith("#/$defs/") and ref.removeprefix("#/$defs/") in defs
    assert "class" in defs["Institution"]["properties"]
    assert "class_" not in defs["Institution"]["properties"]
    points = defs["Parameter"]["properties"]["points"]["anyOf"]
    assert {"type": "integer", "minimum": -100_000, "maximum": 100_000} in points
    assert defs["InstitutionClass"]["enum"] == ["state", "nonstate", "citizen", "camera"]
