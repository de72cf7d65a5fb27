"""The command line: a thin shell over the library, one module per group of commands.

Every command that prints data takes ``--json``. Modules import the library inside each
command, so ``socialrating --help`` starts without loading DuckDB, Ibis or Arrow.
"""

from socialrating.cli import (
    appeals,
    calibrate,
    decisions,
    demo,
    ledger,
    registry,
    rulebook,
    scoring,
    service,
    simulate,
)
from socialrating.cli.app import app

__all__ = [
    "app",
    "appeals",
    "calibrate",
    "decisions",
    "demo",
    "ledger",
    "main",
    "registry",
    "rulebook",
    "scoring",
    "service",
    "simulate",
]


def main() -> None:  # pragma: no cover - console entry point
    app()
