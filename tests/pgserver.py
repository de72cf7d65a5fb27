"""A throwaway PostgreSQL server for tests and benchmarks: a real server, started from
Debian's binaries in a temporary directory, listening on loopback only.

``make test`` (and so CI) installs the ``postgresql`` package when it is missing. The
server runs as the ``postgres`` system user when this process is root (PostgreSQL
refuses to run as root), with ``trust`` authentication on loopback and its socket in the
directory; it is stopped, and its directory removed, when the context ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",  # a test server: nothing in it outlives the run
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "256MB",
    "work_mem": "64MB",
    "max_connections": "40",
}


def binaries() -> Path | None:
    """The directory of the newest installed PostgreSQL server's binaries, if any."""
    root = Path("/usr/lib/postgresql")
    found = sorted(
        (p / "bin" for p in root.glob("*") if (p / "bin" / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return found[-1] if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a PostgreSQL server; yields its URL (database ``postgres``, user ``postgres``)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise RuntimeError(
            "no PostgreSQL server is installed: `make test` installs it as root "
            "(apt-get install postgresql)"
        )
    home = Path(tempfile.mkdtemp(prefix="socialrating-pg-"))
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    port = _free_port()
    run = dict(check=True, capture_output=True, text=True)
    try:
        subprocess.run(
            _as_server_user(
                [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
            ),
            **run,  # type: ignore[call-overload]
        )
        options = " ".join(f"-c {k}={v}" for k, v in SETTINGS.items())
        subprocess.run(
            _as_server_user(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(home / "log"),
                    "-w",
                    "-o",
                    f"-p {port} -k {home} {options}",
                    "start",
                ]
            ),
            **run,  # type: ignore[call-overload]
        )
    except subprocess.CalledProcessError as e:
        log = home / "log"
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(home, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {e.stderr or e.stdout}{detail}") from e
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"]),
            capture_output=True,
        )
        time.sleep(0.1)
        shutil.rmtree(home, ignore_errors=True)
