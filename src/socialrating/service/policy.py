"""The one policy: which role may do what, to whom.

Every use case asks ``check(principal, action, resource)`` before it reads anything; the
table ``POLICY`` is the whole of the rules, and ``docs/api.md`` prints it (a test checks
it is current). A role that may act only for some codes (an institution for itself, a
provider for its services, a subject for itself) carries them in ``Principal.acts_for``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from socialrating.errors import SocialRatingError


class Role(StrEnum):
    """Who a key belongs to."""

    ADMIN = "admin"
    INSTITUTION = "institution"
    PROVIDER = "provider"
    SUBJECT = "subject"
    REVIEWER = "reviewer"
    ANALYST = "analyst"
    PUBLIC = "public"


class Action(StrEnum):
    """What a use case does."""

    HEALTH = "health"
    INGEST = "ingest"
    BATCHES = "batches"
    DECIDE = "decide"
    STATEMENT = "statement"
    ACCESS_LOG = "access_log"
    AGGREGATES = "aggregates"
    PUBLIC_LISTS = "public_lists"
    APPEAL = "appeal"
    APPEALS = "appeals"
    REVIEW = "review"
    KEYS = "keys"
    DASHBOARD = "dashboard"


# Which codes a role's key must name (``--for``): for these roles, the resource must be one
# of them (an institution sends for itself, a provider decides its services, a subject
# reads itself).
SCOPED = {
    Role.INSTITUTION: "institution",
    Role.PROVIDER: "service",
    Role.SUBJECT: "subject",
}

POLICY: dict[Action, dict[Role, str]] = {
    Action.HEALTH: {role: "anyone" for role in Role},
    Action.INGEST: {
        Role.ADMIN: "any institution",
        Role.INSTITUTION: "its own institution, for the parameters the rulebook gives it",
    },
    Action.BATCHES: {
        Role.ADMIN: "any institution's",
        Role.INSTITUTION: "its own batches, and the ones refused with every problem",
    },
    Action.DECIDE: {
        Role.ADMIN: "any service",
        Role.PROVIDER: "the services it is registered for: decision, terms and reason codes, "
        "never a score",
    },
    Action.STATEMENT: {
        Role.ADMIN: "any subject",
        Role.SUBJECT: "itself only; contacts are counted, not named",
    },
    Action.ACCESS_LOG: {
        Role.ADMIN: "any subject",
        Role.SUBJECT: "who read its own data, when, for what",
    },
    Action.AGGREGATES: {
        Role.ADMIN: "all",
        Role.ANALYST: "grades by region, age band and sex; cells under 10 subjects suppressed",
    },
    Action.PUBLIC_LISTS: {
        role: "the lists a rulebook publishes, only the fields it marks public" for role in Role
    },
    Action.APPEAL: {
        Role.ADMIN: "on behalf of any subject",
        Role.SUBJECT: "against records about itself",
    },
    Action.APPEALS: {
        Role.ADMIN: "all",
        Role.SUBJECT: "its own",
        Role.REVIEWER: "the queue: every appeal, its record and deadline (each read logged)",
    },
    Action.REVIEW: {
        Role.ADMIN: "any appeal",
        Role.REVIEWER: "any appeal: uphold the record or void it",
    },
    Action.KEYS: {Role.ADMIN: "create, list and revoke keys"},
    Action.DASHBOARD: {
        Role.ADMIN: "the operator's dashboard: runs, lists, refusals, batches, appeals, the "
        "ledger's head"
    },
}
"""Per action, the roles that may take it and on what (no entry: refused)."""

DOING: dict[Action, str] = {
    Action.HEALTH: "check health",
    Action.INGEST: "send records",
    Action.BATCHES: "read batches",
    Action.DECIDE: "ask decisions",
    Action.STATEMENT: "read statements",
    Action.ACCESS_LOG: "read access logs",
    Action.AGGREGATES: "read aggregates",
    Action.PUBLIC_LISTS: "read public lists",
    Action.APPEAL: "file appeals",
    Action.APPEALS: "read appeals",
    Action.REVIEW: "review appeals",
    Action.KEYS: "manage keys",
    Action.DASHBOARD: "read the operator's dashboard",
}
"""What a refusal says the key may not do."""


class AccessError(SocialRatingError):
    """A request the policy refuses (the base of the two below)."""

    status = 403
    code = "forbidden"


class Unauthenticated(AccessError):
    """No key, or a key that is unknown or revoked."""

    status = 401
    code = "unauthenticated"


class Forbidden(AccessError):
    """A known key asking for something its role may not do, or not for that resource."""


@dataclass(frozen=True)
class Principal:
    """Who is asking: a role, the codes it acts for, and the key that says so."""

    role: Role
    acts_for: tuple[str, ...] = ()
    key_id: int | None = None

    def __str__(self) -> str:
        scope = f" for {', '.join(self.acts_for)}" if self.acts_for else ""
        key = f" (key {self.key_id})" if self.key_id is not None else ""
        return f"{self.role.value}{scope}{key}"


OPERATOR = Principal(Role.ADMIN)
"""The command line's principal: the operator of a local file."""


def allowed(principal: Principal, action: Action, resource: str | None = None) -> bool:
    """Whether ``principal`` may take ``action`` (on ``resource``: the institution, service
    or subject code its role is scoped by)."""
    if principal.role not in POLICY[action]:
        return False
    if principal.role in SCOPED and action not in (Action.HEALTH, Action.PUBLIC_LISTS):
        return resource is not None and resource in principal.acts_for
    return True


def check(principal: Principal, action: Action, resource: str | None = None) -> None:
    """Refuse what ``allowed`` refuses, saying neither more nor less than why.

    Raises:
        Forbidden: the role may not take the action, or not on that resource. The message
            never says whether the resource exists.
    """
    if not allowed(principal, action, resource):
        # Says only the role and the action: whether the resource exists is not told.
        somewhere = principal.role in POLICY[action]
        raise Forbidden(
            f"a {principal.role.value} key may not {DOING[action]}"
            + (" for this resource" if somewhere else "")
        )


def policy_table() -> str:
    """The policy as a markdown table (docs/api.md prints it)."""
    roles = list(Role)
    lines = [
        "| action | " + " | ".join(r.value for r in roles) + " |",
        "| --- | " + " | ".join("---" for _ in roles) + " |",
    ]
    for action, rules in POLICY.items():
        cells = [rules.get(r, "—") for r in roles]
        lines.append(f"| `{action.value}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


BEGIN, END = "<!-- policy:begin -->", "<!-- policy:end -->"


def with_policy(text: str) -> str:
    """``text`` (docs/api.md) with the policy table between its markers made current."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{policy_table()}\n{END}{tail}"


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "docs" / "api.md"
    if "--write" in sys.argv:
        path.write_text(with_policy(path.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(policy_table())
