"""The README's tour, run as written: every command, in order, from a fresh demo database.

The tour starts "after `make demo`"; here a smaller demo of the same rulebook, seed and
year stands in for it (the full one takes minutes). Each line runs in a shell, in a
folder that has the project's `rulebooks/` and `examples/`, with the venv's
`socialrating` first on the PATH and no SOCIALRATING_* setting, as a new user runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def tour_commands() -> list[str]:
    """The commands of the README's tour, comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## A tour of the commands", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    return [c for c in commands if c]


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALRATING_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "160"
    return subprocess.run(
        ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


def test_the_tour_names_every_file_it_uses() -> None:
    commands = tour_commands()
    assert commands[0].startswith("socialrating rulebook check")
    for command in commands:
        for word in command.split():
            if word.startswith(("examples/", "rulebooks/")):
                assert (ROOT / word).is_file(), f"{command}: {word} is not shipped"


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path) -> None:
    for folder in ("rulebooks", "examples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    done = run("socialrating demo --citizens 3000 --organisations 300", tmp_path)  # make demo
    assert done.returncode == 0, done.stderr
    # It lives the calibrated scenario, and shows the list shares beside the published.
    assert "published" in done.stdout and "senior_position_ban" in done.stdout
    assert "--db" not in done.stdout  # the default database: the hints need no --db
    outputs: dict[str, str] = {}
    for command in tour_commands():
        done = run(command, tmp_path)
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, command
        outputs[command] = done.stdout
    # What the tour promises, checked where it is cheap to check.
    assert json.loads((tmp_path / "rulebook.schema.json").read_text())["title"]
    assert len((tmp_path / "head.txt").read_text().strip()) == 64
    assert (
        (tmp_path / "decisions.csv")
        .read_text()
        .startswith('"subject","decision","reasons","terms"')
    )
    said = "\n".join(outputs.values())
    assert "examples/people.csv: 4 new subject(s) registered" in said
    assert "examples/batch.csv: 5 stored" in said
    assert "C900000001 (citizen) as of 2021-12-31" in said
    # A key factor, named: the red lights the citizen ran, what they cost.
    assert re.search(r"\d\. \w[^\n]*\(traffic\.red_light\): \d+ records?, -\d+ points", said)
    assert (tmp_path / "small.duckdb").is_file()
    # Versions in time: the amendment is in force from its date, the seed before it, and
    # a statement names the version that valued each older line.
    assert "in force from 2021-07-01" in said
    listed = outputs["socialrating rulebook list"]  # the second listing, after the install
    assert "2021-01-01 to 2021-06-30" in listed and "from 2021-07-01" in listed
    assert "rulebook seed 2021.2 (" in said and "valued by seed 2021.1 (" in said
