"""Who is signed in to the web pages: a signed session cookie, and a CSRF token per session.

Signing in takes an API key (the same keys as the API's; the pages are the service seen
through a browser, under the same roles). The cookie holds the key's id, a random CSRF
token and when it was made, signed with the server's secret (``itsdangerous``); it is
``HttpOnly`` and ``SameSite=Strict``, and lasts ``web_session_hours``. On every request
the key is read again: a revoked key signs its sessions out at once. Every form carries
the session's CSRF token, and a form without it (or with another) is refused.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from socialrating import settings
from socialrating.errors import SettingsError
from socialrating.ledger.store import Store
from socialrating.service.keys import principal_of_key
from socialrating.service.policy import Forbidden, Principal

COOKIE = "socialrating_session"
SALT = "socialrating-web-session"


@dataclass(frozen=True)
class Session:
    """A signed-in browser: who (the key's principal) and its CSRF token."""

    principal: Principal
    csrf: str


def secret() -> str:
    """The secret that signs cookies (``web_secret``), or a random one for this process.

    Raises:
        SettingsError: a secret is set but shorter than 32 characters.
    """
    value = settings.WEB_SECRET.value()
    if not value:
        return secrets.token_urlsafe(32)
    if len(value) < 32:
        raise SettingsError(f"{settings.WEB_SECRET.env} must be at least 32 characters long")
    return value


class Sessions:
    """Makes and reads session cookies with one secret."""

    def __init__(self, key: str, hours: int | None = None) -> None:
        self.key = key
        self.signer = URLSafeTimedSerializer(key, salt=SALT)
        self.max_age = 3600 * (hours or settings.WEB_SESSION_HOURS.count())

    def cookie(self, key_id: int) -> tuple[str, str]:
        """A new session's cookie value and CSRF token."""
        token = secrets.token_urlsafe(24)
        return self.signer.dumps({"k": key_id, "c": token}), token

    def read(self, store: Store, value: str | None) -> Session | None:
        """The session a cookie stands for, or None (no cookie, a bad or old signature, a
        revoked or unknown key)."""
        if not value:
            return None
        try:
            data = self.signer.loads(value, max_age=self.max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("k"), int):
            return None
        principal = principal_of_key(store, data["k"])
        return None if principal is None else Session(principal, str(data["c"]))


LINK_SALT = "socialrating-web-link"


LINK_MAX_MINUTES = 24 * 60
"""The longest a sign-in link may last."""


def link_token(key_id: int, minutes: int = 15) -> str:
    """A one-time sign-in token for key ``key_id``, signed with ``web_secret`` (which
    `serve` must share): `socialrating keys link` prints it in a link.

    Raises:
        SettingsError: ``web_secret`` is not set (a random per-process secret signs
            nothing another process can check).
    """
    if not settings.WEB_SECRET.value():
        raise SettingsError(
            f"a sign-in link needs {settings.WEB_SECRET.env} set, the same for `keys link` "
            "and `serve` (at least 32 characters)"
        )
    if not 1 <= minutes <= LINK_MAX_MINUTES:
        raise SettingsError(f"a sign-in link lasts 1 to {LINK_MAX_MINUTES} minutes")
    signer = URLSafeTimedSerializer(secret(), salt=LINK_SALT)
    payload = {"k": int(key_id), "n": secrets.token_urlsafe(16), "m": int(minutes)}
    return str(signer.dumps(payload))


def read_link(key: str, token: str) -> tuple[int, str] | None:
    """The key id and nonce of a sign-in link's token, if it is signed with ``key`` and
    still within the minutes it was made for; else None."""
    try:
        data, made = URLSafeTimedSerializer(key, salt=LINK_SALT).loads(
            token, max_age=LINK_MAX_MINUTES * 60, return_timestamp=True
        )
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("k"), int):
        return None
    minutes = int(data.get("m", 15))
    if (dt.datetime.now(dt.UTC) - made).total_seconds() > 60 * minutes:
        return None
    return int(data["k"]), str(data.get("n", ""))


def check_csrf(session: Session, token: str | None) -> None:
    """A form's CSRF token must be the session's.

    Raises:
        Forbidden: it is missing or another.
    """
    if not token or not hmac.compare_digest(token, session.csrf):
        raise Forbidden("the form is out of date or did not come from this site: reload the page")


__all__ = [
    "COOKIE",
    "Session",
    "Sessions",
    "SettingsError",
    "check_csrf",
    "link_token",
    "read_link",
    "secret",
]
