"""Decisions: may a subject use a service, and on what terms, with the reasons.

Its public names are imported on first use (see ``socialrating.lazy``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from socialrating.lazy import exports

__all__ = ["Decision", "Membership", "Reason", "decide"]

__getattr__ = exports(__name__, {name: "socialrating.decisions.rules" for name in __all__})

if TYPE_CHECKING:
    from socialrating.decisions.rules import Decision, Membership, Reason, decide
