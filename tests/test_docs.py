"""The docs keep up with the code: every setting and every command is documented."""

from __future__ import annotations

from pathlib import Path

import typer.main

from socialrating.cli import app
from socialrating.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def command_names() -> list[str]:
    group = typer.main.get_command(app)
    names = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        sub = getattr(command, "commands", None)
        names += [f"{name} {s}" for s in sub] if sub else [name]
    return names


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    for setting in SETTINGS:
        assert f"`{setting.env}`" in text, setting.name
        assert f"`{setting.name}`" in text, setting.name


def test_every_command_is_in_the_readme_tour() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in command_names():
        assert f"socialrating {name}" in readme, name


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```sh", 1)[1].split("```", 1)[0]
    assert first_block.split()[:2] == ["make", "demo"]
    assert "make test" in first_block


def test_every_rulebook_field_is_documented() -> None:
    from socialrating.rulebook.schema import RulebookSpec

    text = (ROOT / "docs" / "rulebook.md").read_text()
    schema = RulebookSpec.model_json_schema(by_alias=True)
    fields = set(schema["properties"])
    for definition in schema.get("$defs", {}).values():
        fields |= set(definition.get("properties", {}))
    missing = sorted(f for f in fields if f"`{f}`" not in text)
    assert not missing


def test_cli_reference_is_current() -> None:
    from socialrating.clidoc import reference

    text = (ROOT / "docs" / "cli.md").read_text()
    assert text.rstrip("\n") == reference().rstrip("\n"), (
        "docs/cli.md is stale: run python -m socialrating.clidoc > docs/cli.md"
    )


def test_the_api_docs_print_the_current_policy() -> None:
    from socialrating.service.policy import with_policy

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    assert text == with_policy(text), (
        "docs/api.md is stale: run python -m socialrating.service.policy --write"
    )
