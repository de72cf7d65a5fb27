"""What every command shares: the consoles, the common options, errors, JSON and progress.

Data is never markup: both consoles have Rich's markup and emoji codes switched off, so a
reason code such as ``GRADE:A`` or a subject code such as ``[x]`` prints as it is. Style
is added only to our own words, with ``styled``. Rich is imported when a command first
prints, not when ``--help`` runs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from socialrating import settings
from socialrating.errors import ProblemsError, SocialRatingError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

Db = Annotated[
    str,
    typer.Option(
        "--db", envvar=settings.DB.env, help=settings.DB.help, metavar="PATH", show_default=True
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")]

Backdate = Annotated[
    str | None,
    typer.Option(
        metavar="REASON",
        help="Install a version that takes effect before today, saying why; the reason "
        "is stored in the ledger with the activation.",
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        "--as-of", metavar="DATE", help="Score as of this date (YYYY-MM-DD); default today (UTC)."
    ),
]
Run = Annotated[
    int | None,
    typer.Option(
        metavar="N", help="The scoring run (see `socialrating runs`) [default: the latest]."
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def _console(**options: Any) -> Console:
    from rich.console import Console

    class Quiet(Console):
        def on_broken_pipe(self) -> None:
            # The reader has all it wanted (`socialrating … | head`): not an error.
            self.quiet = True
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(0)

    return Quiet(highlight=False, markup=False, emoji=False, **options)


@cache
def out() -> Console:
    """The console for results (stdout); wide outside a terminal, where tables would wrap."""
    return _console(width=None if sys.stdout.isatty() else 160)


@cache
def err() -> Console:
    """The console for errors, spinners and progress (stderr)."""
    return _console(stderr=True)


def styled(*parts: str | tuple[str, str]) -> Text:
    """A line of text: plain strings as they are, ``(text, style)`` pairs styled."""
    from rich.text import Text

    return Text.assemble(*parts)


def bold(text: object) -> tuple[str, str]:
    return (str(text), "bold")


def table(*headers: str) -> Table:
    """A table whose cells print as they are (markup is off on both consoles); a value too
    long for a narrow terminal folds onto the next line rather than being cut short."""
    from rich.table import Column, Table

    return Table(*(Column(h, overflow="fold") for h in headers))


def handles_errors(fn: F) -> F:
    """Turn library errors into a clear message (JSON with --json) and exit status 1; end
    quietly when the reader of stdout goes away (``socialrating show … | head``)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SocialRatingError as exc:
            if kwargs.get("as_json"):
                doc: dict[str, Any] = {
                    "error": type(exc).__name__,
                    "message": str(exc).split("\n")[0],
                }
                if isinstance(exc, ProblemsError):
                    doc["problems"] = [p.as_dict() for p in exc.problems]
                print(json.dumps(doc, indent=2))
            else:
                err().print(styled(("error:", "bold red"), " ", str(exc)), soft_wrap=True)
            raise typer.Exit(1) from None
        except BrokenPipeError:
            # The reader has all it wanted; writes (and the flush at exit) go nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(0) from None

    return wrapper  # type: ignore[return-value]


def emit(doc: object) -> None:
    """Print one JSON document."""
    print(json.dumps(doc, indent=2, default=_json_default))


def _json_default(value: object) -> object:
    # DuckDB returns sums as Decimal: they are numbers in JSON, not strings.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


def parse_date(text: str | None, option: str = "--as-of") -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {text!r}", param_hint=option) from None


@contextmanager
def working(message: str, as_json: bool) -> Iterator[None]:
    """A spinner on stderr while a step runs (none with --json, whose output is parsed)."""
    if as_json:
        yield
        return
    with err().status(message, spinner="dots"):
        yield


@contextmanager
def opened(db: str, *, create: bool = False, read_only: bool = False) -> Iterator[Any]:
    """The store at ``db``, closed when the block ends."""
    from socialrating.errors import LedgerError
    from socialrating.ledger import open_store

    try:
        store = open_store(db, create=create, read_only=read_only)
    except LedgerError as exc:
        held = serving(db, str(exc)) if "in use by another process" in str(exc) else None
        if held is not None:
            raise LedgerError(
                f"{db} is held by {held}: ask the server (its HTTP API), or stop it first"
            ) from None
        raise
    try:
        yield store
    finally:
        store.close()


def serving(db: str, refusal: str = "") -> str | None:
    """The server holding ``db``, as its marker file names it ("socialrating serve on URL
    (PID n)"), or None when no server runs on it.

    ``socialrating serve`` writes the marker while it runs and removes it when it stops; a
    server that was killed leaves it behind. So the marker counts only while its process
    lives, and, when ``refusal`` (DuckDB's lock error) names the process holding the lock,
    only if that is the same process.
    """
    marker = Path(f"{db}.serve")
    try:
        held = marker.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    found = re.search(r"\(PID (\d+)\)$", held)
    if found is None:
        return None
    pid = int(found.group(1))
    holder = re.search(r"PID (\d+)\)", refusal)
    if holder is not None:
        return held if int(holder.group(1)) == pid else None
    return held if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True
