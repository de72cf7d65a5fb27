"""socialrating: a national social rating system that explains every point.

The one flow: institutions send records to the ledger (append-only, hash-chained); a
rulebook (data, identified by its content hash) is compiled into one scoring plan of Ibis
expressions; a scoring run materialises a snapshot; statements explain each score.

The public names below are imported when first used, so that importing a part of the
package (the command line's ``--help``, say) does not load DuckDB, Ibis and Arrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.lazy import exports

__version__ = "0.1.0"

_WHERE = {
    "BatchRejected": "socialrating.errors",
    "LedgerError": "socialrating.errors",
    "NotInitialised": "socialrating.errors",
    "Problem": "socialrating.errors",
    "RulebookError": "socialrating.errors",
    "ScoringError": "socialrating.errors",
    "SocialRatingError": "socialrating.errors",
    "UnknownSubject": "socialrating.errors",
    "Store": "socialrating.ledger",
    "activate_rulebook": "socialrating.ledger",
    "ingest_file": "socialrating.ledger",
    "ingest_table": "socialrating.ledger",
    "open_store": "socialrating.ledger",
    "register_subjects": "socialrating.ledger",
    "verify_ledger": "socialrating.ledger.verify",
    "Rulebook": "socialrating.rulebook",
    "check_rulebook": "socialrating.rulebook",
    "load_rulebook": "socialrating.rulebook",
    "Statement": "socialrating.scoring",
    "score_run": "socialrating.scoring",
    "statement": "socialrating.scoring",
}

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


__getattr__ = exports(__name__, _WHERE)


if TYPE_CHECKING:
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
