"""Compile a statement's plans in the background when the server starts.

A subject's page runs the plan of a statement (and its history two more); compiling them takes seconds each
the first time (they are then kept in the database, ``plan_cache``). A server compiles
them on a thread of its own at start, so that the first visitor does not wait; it stops
between two plans when the server stops, and the server waits for the plan in hand.
"""

from __future__ import annotations

import logging
import threading

from socialrating.ledger.store import Store

PLANS = ("statement_all", "subject_score", "subject_lists")
"""The plan of a statement (its parts run as one), and the parts a subject's history reads."""
log = logging.getLogger(__name__)


class Warming:
    """The thread that compiles the plans of the version in force today."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="warm-plans", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from socialrating.ledger.rulebooks import in_force
        from socialrating.model import utc_now
        from socialrating.scoring.compiled import compiled

        cursor = self.store.cursor()
        try:
            rb = in_force(cursor, utc_now().date())
            for name in PLANS:
                if self.stopping.is_set():
                    return
                compiled(cursor, rb, name)
        except Exception:  # a server without a rulebook yet, say: pages compile on demand
            log.warning("could not compile the statement plans ahead", exc_info=True)
        finally:
            cursor.close()

    def stop(self) -> None:
        """Stop after the plan in hand, and wait for it."""
        self.stopping.set()
        self.thread.join()
