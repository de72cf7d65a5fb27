"""Rulebooks: the YAML schema, loading with validation, and the compiled parameter table.

Its public names are imported on first use (see ``socialrating.lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.lazy import exports

__all__ = [
    "PARAMETER_SCHEMA",
    "Rulebook",
    "RulebookHeader",
    "RulebookSpec",
    "check_rulebook",
    "load_rulebook",
    "load_rulebook_from_bytes",
]

__getattr__ = exports(
    __name__,
    {
        "check_rulebook": "socialrating.rulebook.loader",
        "load_rulebook": "socialrating.rulebook.loader",
        "load_rulebook_from_bytes": "socialrating.rulebook.loader",
        "PARAMETER_SCHEMA": "socialrating.rulebook.rulebook",
        "Rulebook": "socialrating.rulebook.rulebook",
        "RulebookHeader": "socialrating.rulebook.rulebook",
        "RulebookSpec": "socialrating.rulebook.schema",
    },
)

if TYPE_CHECKING:
    from socialrating.rulebook.loader import check_rulebook, load_rulebook, load_rulebook_from_bytes
    from socialrating.rulebook.rulebook import PARAMETER_SCHEMA, Rulebook, RulebookHeader
    from socialrating.rulebook.schema import RulebookSpec
