"""Rulebooks: the YAML schema, loading with validation, and the compiled parameter table."""

from socialrating.rulebook.loader import check_rulebook, load_rulebook, load_rulebook_from_bytes
from socialrating.rulebook.rulebook import PARAMETER_SCHEMA, Rulebook, RulebookHeader
from socialrating.rulebook.schema import RulebookSpec

__all__ = [
    "PARAMETER_SCHEMA",
    "Rulebook",
    "RulebookHeader",
    "RulebookSpec",
    "check_rulebook",
    "load_rulebook",
    "load_rulebook_from_bytes",
]
