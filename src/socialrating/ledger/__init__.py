"""The ledger: the append-only, hash-chained record of everything institutions said.

Its public names are imported on first use (see ``socialrating.lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.lazy import exports

__all__ = [
    "IngestResult",
    "Store",
    "activate_rulebook",
    "active_rulebook",
    "find_subject",
    "ingest_file",
    "ingest_table",
    "install_rulebook",
    "open_store",
    "register_subjects",
]

__getattr__ = exports(
    __name__,
    {
        "IngestResult": "socialrating.ledger.ingest",
        "ingest_file": "socialrating.ledger.ingest",
        "ingest_table": "socialrating.ledger.ingest",
        "activate_rulebook": "socialrating.ledger.rulebooks",
        "active_rulebook": "socialrating.ledger.rulebooks",
        "install_rulebook": "socialrating.ledger.rulebooks",
        "Store": "socialrating.ledger.store",
        "open_store": "socialrating.ledger.store",
        "find_subject": "socialrating.ledger.subjects",
        "register_subjects": "socialrating.ledger.subjects",
    },
)

if TYPE_CHECKING:
    from socialrating.ledger.ingest import IngestResult, ingest_file, ingest_table
    from socialrating.ledger.rulebooks import activate_rulebook, active_rulebook, install_rulebook
    from socialrating.ledger.store import Store, open_store
    from socialrating.ledger.subjects import find_subject, register_subjects
