"""`socialrating serve` and `socialrating keys create | list | revoke`: the service."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import typer

from socialrating import settings
from socialrating.cli.app import app, keys_app
from socialrating.cli.common import Db, Json, emit, handles_errors, opened, out, styled, table
from socialrating.cli.help import Command


def server_marker(db: str) -> Path:
    """The file that says a server holds ``db`` (so a command refused the file can say who)."""
    return Path(f"{db}.serve")


@app.command(cls=Command)
@handles_errors
def serve(
    db: Db = settings.DB.default,
    host: Annotated[str, typer.Option(metavar="HOST", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, metavar="PORT", help="Port.")] = 8000,
) -> None:
    """Serve the HTTP API over the database (OpenAPI at /openapi.json, docs at /docs)."""
    import uvicorn

    from socialrating.api import create_app

    # Fail here, in one line, if the file cannot be opened (missing, or held by another).
    with opened(db):
        pass
    url = f"http://{host}:{port}"
    out().print(styled(("serving", "green"), f" {db} on {url} (docs at {url}/docs); Ctrl-C stops"))
    marker = server_marker(db)
    marker.write_text(f"socialrating serve on {url} (PID {os.getpid()})\n", encoding="utf-8")
    # uvicorn shuts down gracefully on SIGTERM or Ctrl-C, then raises the signal again
    # under the handlers it found: these make that a normal stop (exit 0), not a kill.
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvicorn.run(create_app(db, warm=True), host=host, port=port, log_level="warning")
    except _Stopped:
        pass
    finally:
        marker.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out().print(f"stopped serving {db}")


class _Stopped(Exception):
    """The server was asked to stop (SIGTERM, Ctrl-C), and has."""


def _stop(signum: int, frame: object) -> None:
    raise _Stopped


@keys_app.command("create", cls=Command)
@handles_errors
def keys_create(
    role: Annotated[
        str,
        typer.Option(
            metavar="ROLE",
            help="admin, institution, provider, subject, reviewer, analyst or public.",
        ),
    ],
    acts_for: Annotated[
        list[str] | None,
        typer.Option(
            "--for",
            metavar="CODE",
            help="What the key acts for: an institution's code, a provider's service codes, "
            "a subject's code (repeat for several).",
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="Also write the secret to FILE (readable by you alone)."),
    ] = None,
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """Make an API key for a role and print its secret, this once (only a hash is kept)."""
    from socialrating.service.keys import create_key
    from socialrating.service.policy import Role

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(
            f"{role!r} is not a role (one of {', '.join(r.value for r in Role)})",
            param_hint="--role",
        ) from None
    with opened(db) as store:
        key, secret = create_key(store, chosen, tuple(acts_for or ()))
    if save is not None:
        save.touch(mode=0o600)
        save.write_text(secret + "\n", encoding="utf-8")
    if as_json:
        emit({**key.as_dict(), "secret": secret})
        return
    out().print(
        f"key {key.key_id} for {key.role.value}"
        + (f" ({', '.join(key.acts_for)})" if key.acts_for else "")
    )
    out().print(secret)
    out().print("Keep it: it is not shown again. Send it as: Authorization: Bearer <key>")


@keys_app.command("list", cls=Command)
@handles_errors
def keys_list(db: Db = settings.DB.default, as_json: Json = False) -> None:
    """Every API key (never its secret), newest first, revoked ones too."""
    from socialrating.service.keys import list_keys

    with opened(db) as store:
        found = list_keys(store)
    if as_json:
        emit([k.as_dict() for k in found])
        return
    shown = table("key", "role", "acts for", "created (UTC)", "revoked (UTC)")
    for k in found:
        shown.add_row(str(k.key_id), k.role.value, ", ".join(k.acts_for), k.created_at,
                      k.revoked_at or "")  # fmt: skip
    out().print(shown)


@keys_app.command("link", cls=Command)
@handles_errors
def keys_link(
    key_id: Annotated[int, typer.Argument(metavar="KEY", help="The key's number.")],
    url: Annotated[
        str,
        typer.Option(metavar="URL", help="Where the server is reached."),
    ] = "http://127.0.0.1:8765",
    minutes: Annotated[
        int, typer.Option(metavar="N", min=1, max=24 * 60, help="How long the link works.")
    ] = 15,
    as_json: Json = False,
) -> None:
    """Print a one-time link that signs a browser in to the web pages with key KEY.

    The link is signed with SOCIALRATING_WEB_SECRET, which `serve` must have too; it works
    once, for N minutes, and not at all once the key is revoked. Send it to the key's
    holder as you would the key.
    """
    from socialrating.web.session import link_token

    token = link_token(key_id, minutes)
    link = f"{url.rstrip('/')}/signin/link?token={token}"
    if as_json:
        emit({"key_id": key_id, "minutes": minutes, "link": link})
        return
    out().print(link, soft_wrap=True)
    out().print(f"It signs in as key {key_id} once, within {minutes} minutes.")


@keys_app.command("revoke", cls=Command)
@handles_errors
def keys_revoke(
    key_id: Annotated[int, typer.Argument(metavar="KEY", help="The key's number.")],
    db: Db = settings.DB.default,
    as_json: Json = False,
) -> None:
    """Revoke an API key: it stops working at once."""
    from socialrating.service.keys import revoke_key

    with opened(db) as store:
        key = revoke_key(store, key_id)
    if as_json:
        emit(key.as_dict())
    else:
        out().print(f"key {key.key_id} ({key.role.value}) revoked on {key.revoked_at}")
