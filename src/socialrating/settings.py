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

    def count(self) -> int:
        """The value in force as a whole number of 1 or more (``_`` may group digits).

        Raises:
            SettingsError: it is not one.
        """
        from socialrating.errors import SettingsError

        text = self.value()
        try:
            number = int(text)
        except ValueError:
            number = 0
        if number < 1:
            raise SettingsError(f"{self.env} must be a whole number of 1 or more, not {text!r}")
        return number


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

API_MAX_BODY_BYTES = Setting(
    "api_max_body_bytes",
    "SOCIALRATING_API_MAX_BODY_BYTES",
    str(64 * 1024 * 1024),
    "Largest request body `serve` reads, in bytes; a larger one is answered 413 "
    "(`too_large`) before it is read (Content-Length) or as soon as it grows past it.",
)
API_MAX_BATCH_ROWS = Setting(
    "api_max_batch_rows",
    "SOCIALRATING_API_MAX_BATCH_ROWS",
    "100000",
    "Most records one `POST /v1/institutions/{institution}/records` may carry; more is "
    "answered 413 (`too_many_rows`) and nothing is stored.",
)

ACCESS_JOURNAL_SECONDS = Setting(
    "access_journal_seconds",
    "SOCIALRATING_ACCESS_JOURNAL_SECONDS",
    "2",
    "Seconds at most that a read `serve` answered waits in the access log's journal "
    "(`<db>.access-journal`, on disk before the answer) before it is imported into the log.",
)

CHECKPOINT_MB = Setting(
    "checkpoint_mb",
    "SOCIALRATING_CHECKPOINT_MB",
    "64",
    "Megabytes of DuckDB's write-ahead log (`<db>.wal`) after which a commit also writes "
    "the changes into the database file (a checkpoint), in a process that writes to it.",
)

WEB_SECRET = Setting(
    "web_secret",
    "SOCIALRATING_WEB_SECRET",
    "",
    "Secret that signs the web pages' session cookies (at least 32 characters); empty: a "
    "random one each time `serve` starts, which signs everyone out on a restart.",
)
WEB_SESSION_HOURS = Setting(
    "web_session_hours",
    "SOCIALRATING_WEB_SESSION_HOURS",
    "8",
    "Hours a sign-in to the web pages lasts.",
)

SETTINGS: tuple[Setting, ...] = (
    DB,
    RULEBOOK,
    API_MAX_BODY_BYTES,
    API_MAX_BATCH_ROWS,
    ACCESS_JOURNAL_SECONDS,
    CHECKPOINT_MB,
    WEB_SECRET,
    WEB_SESSION_HOURS,
)
