"""Small ledgers made through the command line, as a user makes them, for the API and
integrity tests: the consequences rulebook (tests/data/consequences.yaml), a few
subjects, a court batch, scored as of 2021-05-31."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import DATA
from tests.test_cli import ok

PEOPLE = (
    "code,kind,born,sex,region\nc1,citizen,1980-01-01,F,north\nc2,citizen,1990-01-01,M,north\n"
    "o1,organisation,,,south\n"
)
DEBTOR = "key,subject,parameter,date\nk1,c1,debtor,2021-02-01\n"


def cli_ledger(
    tmp: Path,
    *,
    subjects: str = PEOPLE,
    batch: str = DEBTOR,
    rulebook: Path = DATA / "consequences.yaml",
    scored: tuple[str, ...] = ("2021-05-31",),
) -> str:
    """A database in ``tmp`` set up with `init`, `subjects import`, `ingest` (from the
    court) and a `score` as of each date of ``scored``; its path."""
    db = str(tmp / "api.duckdb")
    ok("init", "--db", db, "--rulebook", str(rulebook))
    (tmp / "s.csv").write_text(subjects, encoding="utf-8")
    ok("subjects", "import", str(tmp / "s.csv"), "--db", db)
    (tmp / "b.csv").write_text(batch, encoding="utf-8")
    ok("ingest", str(tmp / "b.csv"), "--institution", "court", "--db", db)
    for as_of in scored:
        ok("score", "--db", db, "--as-of", as_of)
    return db
