"""socialrating: a national social rating system that explains every point.

The one flow: institutions send records to the ledger (append-only, hash-chained); a
rulebook (data, identified by its content hash) is compiled into one scoring plan of Ibis
expressions; a scoring run materialises a snapshot; statements explain each score.
"""

from socialrating.errors import (
    BatchRejected,
    LedgerError,
    NotInitialised,
    Problem,
    RulebookError,
    ScoringError,
    SocialRatingError,
    UnknownSubject,
)
from socialrating.ledger import (
    Store,
    activate_rulebook,
    ingest_file,
    ingest_table,
    open_store,
    register_subjects,
)
from socialrating.ledger.verify import verify_ledger
from socialrating.rulebook import Rulebook, check_rulebook, load_rulebook
from socialrating.scoring import Statement, score_run, statement

__version__ = "0.1.0"

__all__ = [
    "BatchRejected",
    "LedgerError",
    "NotInitialised",
    "Problem",
    "Rulebook",
    "RulebookError",
    "ScoringError",
    "SocialRatingError",
    "Statement",
    "Store",
    "UnknownSubject",
    "activate_rulebook",
    "check_rulebook",
    "ingest_file",
    "ingest_table",
    "load_rulebook",
    "open_store",
    "register_subjects",
    "score_run",
    "statement",
    "verify_ledger",
]
