"""pytest-xdist needs every worker to collect the same test ids. A set in a parametrize
argument breaks that (each worker has its own hash seed), so collect twice, under two
seeds, and compare."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def collected(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist", "tests"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if "::" in line]


def test_test_ids_do_not_depend_on_the_hash_seed() -> None:
    first, second = collected("1"), collected("2")
    assert len(first) > 100
    assert first == second, sorted(set(first) ^ set(second))[:10]
