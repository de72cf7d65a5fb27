"""A stored rulebook's spec is kept as JSON with a digest the ledger records, so that a
new process reads it in milliseconds instead of parsing its YAML (``ledger.rulebooks``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import DATA, ROOT
from tests.test_cli import cli

from socialrating.ledger import Store, open_store
from socialrating.ledger import rulebooks as rulebooks_module
from socialrating.ledger.rulebooks import active_hash, keep_spec, spec_key, stored_rulebook
from socialrating.rulebook import Rulebook, load_rulebook
from socialrating.rulebook.schema import RulebookSpec

RULEBOOKS = sorted((ROOT / "rulebooks").glob("*.yaml")) + sorted(
    p for p in DATA.glob("*.yaml") if not p.name.endswith("-scenario.yaml")
)


def kept(store: Store) -> list[tuple[str, str]]:
    return [(str(k), str(v)) for k, v in store.rows("SELECT key, sql FROM plan_cache")]


@pytest.mark.parametrize("path", RULEBOOKS, ids=[p.name for p in RULEBOOKS])
def test_every_shipped_rulebook_is_the_same_spec_from_its_json(path: Path) -> None:
    spec = load_rulebook(path).spec
    assert RulebookSpec.model_validate_json(spec.model_dump_json()) == spec


def test_a_new_process_reads_the_kept_spec_without_parsing_yaml(
    store: Store, tiny: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = active_hash(store)
    assert h is not None
    assert [k for k, _ in kept(store)] == [spec_key(h)]  # kept when it was installed
    monkeypatch.setattr(rulebooks_module, "_HEADERS", {})  # as in a new process

    def no_yaml(text: str) -> RulebookSpec:
        raise AssertionError("parsed the YAML again")

    monkeypatch.setattr(rulebooks_module, "spec_from_text", no_yaml)
    assert stored_rulebook(store, h).spec == tiny.spec


def test_a_spec_is_kept_by_a_writer_not_by_a_reader(
    store: Store, db_path: Path, tiny: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database whose rulebooks were installed before specs were kept gets them kept by
    the first process that may write it; a reader parses the YAML and writes nothing."""
    h = active_hash(store)
    assert h is not None
    store.run("DELETE FROM plan_cache")
    store.close()
    monkeypatch.setattr(rulebooks_module, "_HEADERS", {})
    with open_store(db_path, read_only=True) as reader:
        assert stored_rulebook(reader, h).spec == tiny.spec
        assert kept(reader) == []
    monkeypatch.setattr(rulebooks_module, "_HEADERS", {})
    with open_store(db_path) as writer:
        assert stored_rulebook(writer, h).spec == tiny.spec
        assert kept(writer) == [(spec_key(h), tiny.spec.model_dump_json())]
    assert cli("verify", "--db", str(db_path)).exit_code == 0


def test_verify_finds_a_kept_spec_that_is_not_the_rulebooks(
    store: Store, db_path: Path, tiny: Rulebook
) -> None:
    """Kept with a digest the ledger recorded, but not what the rulebook's text says (as
    a faulty version of socialrating could have kept it): verify says so."""
    h = active_hash(store)
    assert h is not None
    store.run("DELETE FROM plan_cache")
    keep_spec(store, h, tiny.spec.model_copy(update={"name": "another"}))
    store.close()
    result = cli("verify", "--db", str(db_path))
    assert result.exit_code == 1
    assert "cached spec of rulebook" in result.output
    assert "not what the rulebook's stored text says" in result.output


def test_a_kept_spec_this_schema_cannot_read_gives_way_to_the_text(
    store: Store, tiny: Rulebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept, with its digest, by a schema that read other fields (the schema's source
    names the key, but the types it uses live elsewhere too): the text is read instead."""
    from socialrating.ledger.integrity import record_plan

    h = active_hash(store)
    assert h is not None
    odd = tiny.spec.model_dump_json().replace('"name":', '"nom":', 1)
    with store.transaction():
        store.run("DELETE FROM plan_cache")
        store.run("INSERT INTO plan_cache VALUES (?, ?)", [spec_key(h), odd])
        record_plan(store, spec_key(h), odd)
    monkeypatch.setattr(rulebooks_module, "_HEADERS", {})
    assert stored_rulebook(store, h).spec == tiny.spec
