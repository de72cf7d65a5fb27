"""The ledger: the append-only, hash-chained record of everything institutions said."""

from socialrating.ledger.ingest import IngestResult, ingest_file, ingest_table
from socialrating.ledger.rulebooks import activate_rulebook, active_rulebook, install_rulebook
from socialrating.ledger.store import Store, open_store
from socialrating.ledger.subjects import find_subject, register_subjects

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
