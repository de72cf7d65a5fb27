"""Every setting, declared once with its default, environment variable and help.

The CLI reads its defaults from here, and ``docs/operations.md`` lists each setting; a test
checks that none is missing there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Setting:
    """One setting: its name, environment variable, default and help."""

    name: str
    env: str
    default: str
    help: str

    def value(self) -> str:
        """The value in force: the environment variable if set, else the default."""
        return os.environ.get(self.env, self.default)


DB = Setting(
    "db",
    "SOCIALRATING_DB",
    "socialrating.duckdb",
    "Path of the DuckDB file that holds the ledger, registries and snapshots.",
)
RULEBOOK = Setting(
    "rulebook",
    "SOCIALRATING_RULEBOOK",
    str(PROJECT_ROOT / "rulebooks" / "seed.yaml"),
    "Rulebook that `init` activates when none is given.",
)

SETTINGS: tuple[Setting, ...] = (DB, RULEBOOK)
