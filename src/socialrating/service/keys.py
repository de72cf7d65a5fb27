"""API keys: made once, shown once, kept only as a hash; listed and revoked by the operator."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from socialrating.errors import SocialRatingError
from socialrating.ledger.integrity import record_registries
from socialrating.ledger.store import Store
from socialrating.service.policy import SCOPED, Principal, Role
from socialrating.service.tables import ensure_tables

PREFIX = "sr_"


class KeyError_(SocialRatingError):
    """A key cannot be made or revoked as asked."""


@dataclass(frozen=True)
class Key:
    """A stored key (never its secret)."""

    key_id: int
    role: Role
    acts_for: tuple[str, ...]
    created_at: str
    revoked_at: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "key_id": self.key_id,
            "role": self.role.value,
            "acts_for": list(self.acts_for),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _known(store: Store, role: Role, codes: tuple[str, ...]) -> list[str]:
    """The codes a scoped role names that the registries (or the active rulebook) lack."""
    from socialrating.ledger.rulebooks import active_rulebook

    kind = SCOPED[role]
    if kind == "subject":
        found = {
            str(c)
            for (c,) in store.rows(
                "SELECT code FROM subjects WHERE list_contains(?, code)", [list(codes)]
            )
        }
    elif kind == "institution":
        found = {i.code for i in active_rulebook(store).spec.institutions}
    else:
        found = {s.code for s in active_rulebook(store).spec.services}
    return [c for c in codes if c not in found]


def create_key(store: Store, role: Role, acts_for: tuple[str, ...] = ()) -> tuple[Key, str]:
    """A new key for ``role`` (acting for ``acts_for``): the stored key and its secret,
    which is shown this once and kept only as a hash.

    Raises:
        KeyError_: a scoped role without codes, codes for a role that takes none, or codes
            the registries do not know.
    """
    if role in SCOPED and not acts_for:
        raise KeyError_(f"a {role.value} key acts for one or more {SCOPED[role]} codes: use --for")
    if role not in SCOPED and acts_for:
        raise KeyError_(f"a {role.value} key acts for no code: leave out --for")
    unknown = _known(store, role, acts_for) if role in SCOPED else []
    if unknown:
        raise KeyError_(f"unknown {SCOPED[role]} code(s): {', '.join(unknown)}")
    ensure_tables(store)
    token = PREFIX + secrets.token_urlsafe(32)
    with store.transaction():
        key_id = store.next_id("api_keys", "key_id")
        store.run(
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, now()::TIMESTAMP, NULL)",
            [key_id, _digest(token), role.value, ",".join(acts_for)],
        )
        record_registries(store, ("api_keys",))
    return key(store, key_id), token


def key(store: Store, key_id: int) -> Key:
    row = store.one(
        "SELECT key_id, role, acts_for, created_at, revoked_at FROM api_keys WHERE key_id = ?",
        [key_id],
    )
    if row is None:
        raise KeyError_(f"no key {key_id}")
    return _key(row)


def _key(row: tuple[object, ...]) -> Key:
    key_id, role, acts_for, created, revoked = row
    return Key(
        int(key_id),  # type: ignore[call-overload]
        Role(str(role)),
        tuple(c for c in str(acts_for or "").split(",") if c),
        f"{created:%Y-%m-%d %H:%M:%S}",
        None if revoked is None else f"{revoked:%Y-%m-%d %H:%M:%S}",
    )


def list_keys(store: Store) -> list[Key]:
    """Every key, newest first, revoked ones too."""
    ensure_tables(store)
    return [
        _key(row)
        for row in store.rows(
            "SELECT key_id, role, acts_for, created_at, revoked_at FROM api_keys "
            "ORDER BY key_id DESC"
        )
    ]


def revoke_key(store: Store, key_id: int) -> Key:
    """Revoke a key: it stops working at once.

    Raises:
        KeyError_: no such key, or revoked already.
    """
    ensure_tables(store)
    found = key(store, key_id)
    if found.revoked_at is not None:
        raise KeyError_(f"key {key_id} was revoked on {found.revoked_at}")
    with store.transaction():
        store.run("UPDATE api_keys SET revoked_at = now()::TIMESTAMP WHERE key_id = ?", [key_id])
        record_registries(store, ("api_keys",))
    _KNOWN.clear()  # at once, in this process too
    return key(store, key_id)


_KNOWN: dict[tuple[str, str], tuple[float, Principal]] = {}
"""Keys found valid lately, by database and hash, with when: a busy service reads a key's
row once a second, not on every request. Revoking a key forgets them all (no other process
can revoke one meanwhile: the server holds the database)."""
KNOWN_FOR = 1.0
"""Seconds a key found valid is taken as valid without reading its row again."""


def known_principal(path: str, token: str | None) -> Principal | None:
    """Who a secret belongs to, if a key found valid lately says so from memory (no
    query); None when only its row can say (``principal_for``)."""
    if not token or not token.startswith(PREFIX):
        return None
    known = _KNOWN.get((path, _digest(token)))
    return known[1] if known is not None and time.monotonic() - known[0] < KNOWN_FOR else None


def _principal(role: object, acts_for: object, key_id: int) -> Principal:
    """A key's principal from its row's role and comma-separated codes."""
    return Principal(Role(str(role)), tuple(c for c in str(acts_for or "").split(",") if c), key_id)


def principal_of_key(store: Store, key_id: int) -> Principal | None:
    """Who key ``key_id`` is, or None when it is unknown or revoked (a web session and a
    sign-in link name a key by its number, and are worth nothing once it is revoked)."""
    row = store.one(
        "SELECT role, acts_for FROM api_keys WHERE key_id = ? AND revoked_at IS NULL", [key_id]
    )
    return None if row is None else _principal(row[0], row[1], key_id)


def principal_for(store: Store, token: str | None) -> Principal | None:
    """Who a secret belongs to, or None (no key, unknown, revoked)."""
    if not token or not token.startswith(PREFIX):
        return None
    digest = _digest(token)
    now = time.monotonic()
    known = _KNOWN.get((store.path, digest))
    if known is not None and now - known[0] < KNOWN_FOR:
        return known[1]
    row = store.one(
        "SELECT key_id, role, acts_for FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        [digest],
    )
    if row is None:
        _KNOWN.pop((store.path, digest), None)
        return None
    found = _principal(row[1], row[2], int(row[0]))
    _KNOWN[(store.path, digest)] = (now, found)
    return found
