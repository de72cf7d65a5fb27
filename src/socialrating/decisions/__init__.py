"""Decisions: may a subject use a service, and on what terms, with the reasons."""

from socialrating.decisions.rules import Decision, Membership, Reason, decide

__all__ = ["Decision", "Membership", "Reason", "decide"]
