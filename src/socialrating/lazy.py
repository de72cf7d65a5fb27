"""Public names of a package, imported when first used (PEP 562).

A package's ``__init__`` re-exports its public API; importing every module behind it up
front would make each command pay for Arrow, NumPy and Ibis even when it needs none of
them (``socialrating check`` reads three rows). ``exports`` gives a package a
``__getattr__`` that imports a name's module on first access. No exported name may be
the name of one of the package's modules: importing that module would replace it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``where`` (name →
    module) on first use and keeps it in the package's namespace."""

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = import_module(where[name])
        parent = import_module(package)
        # Every name the module defines, at once (importing a module sets the package's
        # attribute of the module's own name; none of the names here is a module's); a
        # name the module itself makes on first use (its own ``__getattr__``) stays so.
        defined = vars(module)
        for other, source in where.items():
            if source == where[name] and other in defined:
                setattr(parent, other, defined[other])
        return getattr(module, name)

    return __getattr__
