"""Integrity beyond the entries: every table a score depends on, edited behind
socialrating's back, is caught by `verify` (which names it) and, where scoring reads it,
refused by `score`.

The ledger (tests/data/consequences.yaml): c1 is a court debtor (on the debtors list),
scored as of 2021-05-31 and 2021-06-30; one API key.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from tests.conftest import DATA
from tests.ledgers import cli_ledger
from tests.test_cli import cli, ok

from socialrating.ledger import open_store
from socialrating.ledger import rulebooks as rulebooks_module
from socialrating.ledger.store import SCHEMA_VERSION
from socialrating.scoring import compiled as compiled_module
from socialrating.scoring import run as run_module
from socialrating.service.keys import create_key
from socialrating.service.policy import Role


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("integrity")
    # As in a new process, so that the plans are compiled, and cached in this file.
    compiled_module._CACHE.clear()
    db = cli_ledger(tmp, scored=("2021-05-31", "2021-06-30"))
    with open_store(db) as store:
        create_key(store, Role.ADMIN)
    return Path(db)


@pytest.fixture
def db(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    path = tmp_path / "i.duckdb"
    shutil.copy(template, path)
    # As in a new process: nothing parsed or compiled is remembered.
    monkeypatch.setattr(compiled_module, "_CACHE", {})
    monkeypatch.setattr(rulebooks_module, "_HEADERS", {})
    yield str(path)


def edit(db: str, *statements: str) -> None:
    """Edit the file directly, as anyone holding it could."""
    con = duckdb.connect(db)
    try:
        for statement in statements:
            changed = con.execute(statement).fetchall()
            assert changed and changed[0][0] != 0, f"the edit changed nothing: {statement}"
    finally:
        con.close()


def verified(db: str) -> tuple[int, dict[str, object]]:
    result = cli("verify", "--db", db, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_an_untouched_database_verifies_and_rescores(db: str) -> None:
    code, doc = verified(db)
    assert code == 0 and doc["ok"] is True
    integrity = doc["integrity"]
    assert isinstance(integrity, dict)
    assert integrity["runs"] == 2 and integrity["registries"] == 4 and integrity["plans"] >= 2
    for run in ("1", "2"):
        again = json.loads(ok("verify", "--db", db, "--rescore", run, "--json").stdout)
        assert again["rescore"]["ok"] is True and again["rescore"]["list_members"] == 1
    text = ok("verify", "--db", db, "--rescore", "2").output
    assert "match what the ledger recorded" in text and "computed again: the same" in text
    bad = cli("verify", "--db", db, "--rescore", "9")
    assert bad.exit_code == 1 and "no run 9" in bad.output and "Traceback" not in bad.output


# (what is edited, the statements, what verify names, whether score refuses)
EDITS: list[tuple[str, tuple[str, ...], str, bool]] = [
    (
        "plan_cache.sql",
        (
            "UPDATE plan_cache SET sql = 'SELECT * REPLACE (score + 100 AS score) FROM (' "
            "|| sql || ')' WHERE key LIKE '%|scores@chosen|%'",
        ),
        "cached plan scores@chosen",
        True,
    ),
    (
        "rulebook_parameters.points",
        ("UPDATE rulebook_parameters SET points = -20 WHERE points = -200",),
        "rulebook_parameters of rulebook",
        True,
    ),
    (
        "rulebook_permissions",
        (
            "DELETE FROM rulebook_permissions WHERE rowid = (SELECT min(rowid) FROM rulebook_permissions)",
        ),
        "rulebook_permissions of rulebook",
        True,
    ),
    (
        "rulebooks.yaml_text",
        ("UPDATE rulebooks SET yaml_text = replace(yaml_text, 'points: -200', 'points: -20')",),
        "its stored text or catalogue hashes to",
        True,
    ),
    (
        "plan_cache.spec",
        (
            "UPDATE plan_cache SET sql = replace(sql, '\"points\":-200', '\"points\":-20') "
            "WHERE key LIKE '%|spec|%' AND contains(sql, '\"points\":-200')",
        ),
        "cached spec of rulebook",
        True,
    ),
    (
        "snapshot",
        ("UPDATE snapshot SET score = score + 100 WHERE run_id = 2",),
        "run 2: its snapshot differs",
        True,
    ),
    (
        "list_members",
        ("DELETE FROM list_members WHERE run_id = 2",),
        "run 2: its list_members differs",
        True,
    ),
    ("subjects", ("UPDATE subjects SET region = 'south' WHERE code = 'c1'",), "subjects:", False),
    (
        "institutions",
        ("UPDATE institutions SET class = 'nonstate' WHERE code = 'court'",),
        "institutions:",
        False,
    ),
    (
        "parameters",
        ("UPDATE parameters SET code = 'debtor2' WHERE code = 'debtor'",),
        "parameters:",
        False,
    ),
    (
        "api_keys",
        (
            "INSERT INTO api_keys SELECT 99, 'x' || key_hash, 'admin', '', created_at, NULL "
            "FROM api_keys LIMIT 1",
        ),
        "api_keys:",
        False,
    ),
    (
        "runs",
        ("UPDATE runs SET as_of = DATE '2021-07-01' WHERE run_id = 2",),
        "run 2: its runs row differs",
        True,
    ),
]


@pytest.mark.parametrize(
    ("table", "statements", "named", "refused"), EDITS, ids=[e[0] for e in EDITS]
)
def test_an_edit_is_caught_by_verify_and_refused_by_score(
    db: str, table: str, statements: tuple[str, ...], named: str, refused: bool
) -> None:
    edit(db, *statements)
    code, doc = verified(db)
    assert code == 1 and doc["ok"] is False, table
    assert doc["findings"] == []  # the entries themselves are intact
    problems = [f"{p['what']}: {p['reason']}" for p in doc["integrity"]["problems"]]  # type: ignore[index]
    assert any(named in p for p in problems), problems
    text = cli("verify", "--db", db).output
    assert "broken" in text and named in text
    if refused:
        scored = cli("score", "--db", db, "--as-of", "2021-07-31")
        assert scored.exit_code == 1, scored.output
        assert "edited outside socialrating" in scored.output and "Traceback" not in scored.output
        with open_store(db) as store:  # nothing was stored
            assert store.scalar("SELECT count(*) FROM runs") == 2


def test_a_rescore_finds_a_snapshot_edited_with_its_digest(db: str) -> None:
    """Whoever rewrites a run's rows and can append a matching digest entry is still
    caught by computing the run again."""
    edit(
        db,
        "UPDATE snapshot SET score = score + 100, grade = 'A' WHERE run_id = 2 "
        "AND subject_id = (SELECT subject_id FROM subjects WHERE code = 'c1')",
    )
    with open_store(db) as store:
        from socialrating.ledger.integrity import record_run

        with store.transaction():
            record_run(store, 2)
    assert verified(db)[0] == 0  # the digests now agree: only a rescore can tell
    result = cli("verify", "--db", db, "--rescore", "2", "--json")
    assert result.exit_code == 1
    again = json.loads(result.stdout)["rescore"]
    assert again["differing"] == 1 and again["examples"] == ["c1"]


def test_verify_changes_nothing_and_reads_a_held_file_read_only(db: str) -> None:
    before = Path(db).read_bytes()
    ok("verify", "--db", db, "--rescore", "1")
    assert Path(db).read_bytes() == before


@pytest.mark.parametrize(
    "damage", [lambda p: p.write_bytes(p.read_bytes()[:5000]), lambda p: p.write_bytes(b"x" * 9000)]
)
def test_a_damaged_file_is_one_line_not_a_traceback(
    db: str, damage: Callable[[Path], object]
) -> None:
    damage(Path(db))
    result = cli("verify", "--db", db)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.count("\n") <= 2, result.output


def test_an_upgraded_database_is_covered_from_then_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A format-8 database (no digests, plans cached) is upgraded when opened for writing:
    its tables are recorded as found, its cached plans dropped."""
    from socialrating.ledger import integrity

    db = str(tmp_path / "old.duckdb")
    with monkeypatch.context() as m:  # as format 8 wrote it: no digest entries
        m.setattr(integrity, "record", lambda *a, **k: None)
        m.setattr(run_module, "trusted_compiled", lambda *a, **k: None)
        ok("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml"))
        ok("score", "--db", db, "--as-of", "2021-05-31")
    con = duckdb.connect(db)
    con.execute("UPDATE meta SET value = '8' WHERE key = 'schema'")
    assert con.execute("SELECT count(*) FROM batches WHERE rows = 0").fetchone() == (0,)
    con.close()
    monkeypatch.setattr(compiled_module, "_CACHE", {})
    with open_store(db) as store:  # upgrades
        assert store.scalar("SELECT value FROM meta WHERE key = 'schema'") == SCHEMA_VERSION
        assert store.scalar("SELECT count(*) FROM plan_cache") == 0
        assert store.scalar("SELECT count(*) FROM batches WHERE starts_with(source, 'run:')") == 1
    assert verified(db)[0] == 0
    ok("score", "--db", db, "--as-of", "2021-06-30")
    assert verified(db)[0] == 0


def test_a_process_holding_the_file_checks_a_run_once(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run this process stored or checked is not digested again while it holds the file
    for writing (nobody else can write it); opened again, it is checked again."""
    import datetime as dt

    from socialrating.ledger import integrity
    from socialrating.scoring import score_run

    digested: list[int] = []
    real = integrity.run_digests

    def counting(store: object, run_id: int, *method: str) -> dict[str, object]:
        digested.append(int(run_id))
        return real(store, run_id, *method)  # type: ignore[arg-type]

    monkeypatch.setattr(integrity, "run_digests", counting)
    with open_store(db) as store:
        first = score_run(store, dt.date(2021, 7, 31))  # incremental from run 2: checks it
        assert first.incremental["base_run"] == 2 and digested == [2, first.run_id]
        second = score_run(store, dt.date(2021, 8, 31))  # from the run it just stored
        assert second.incremental["base_run"] == first.run_id
        assert digested == [2, first.run_id, second.run_id]  # recorded, not checked again
    edit(db, f"UPDATE snapshot SET score = score + 1 WHERE run_id = {second.run_id}")
    with open_store(db) as store, pytest.raises(integrity.IntegrityError, match="snapshot"):
        score_run(store, dt.date(2021, 9, 30))
