"""Packages export their public names lazily (``socialrating.lazy``): a name is what it
says whatever was imported before, and no exported name is also a module's name."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

PACKAGES = [
    "socialrating",
    "socialrating.ledger",
    "socialrating.rulebook",
    "socialrating.scoring",
    "socialrating.decisions",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_no_export_is_a_module_name(name: str) -> None:
    package = importlib.import_module(name)
    modules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert not set(package.__all__) & modules


@pytest.mark.parametrize("name", PACKAGES)
def test_every_export_resolves_after_its_modules_are_imported(name: str) -> None:
    """In a fresh interpreter: import every module of the package first, then each name."""
    code = (
        "import importlib, pkgutil\n"
        f"p = importlib.import_module({name!r})\n"
        "for m in pkgutil.iter_modules(p.__path__):\n"
        "    importlib.import_module(p.__name__ + '.' + m.name)\n"
        "import types\n"
        "bad = [n for n in p.__all__ if isinstance(getattr(p, n), types.ModuleType)]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_name_a_module_makes_on_first_use_stays_lazy() -> None:
    """Importing one name of ``socialrating.rulebook`` brings its module's other names,
    but not ``PARAMETER_SCHEMA``, which the module makes on first use (with Arrow): a
    decision looked up from a run (``socialrating check``) needs no Arrow."""
    code = (
        "import sys\n"
        "from socialrating.rulebook import RulebookHeader\n"
        "import socialrating.decisions.lookup\n"
        "assert 'pyarrow' not in sys.modules, 'Arrow imported'\n"
        "from socialrating.rulebook import PARAMETER_SCHEMA\n"
        "assert PARAMETER_SCHEMA.names[0] == 'code'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
