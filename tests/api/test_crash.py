"""A server killed at random moments loses nothing it acknowledged and stores no half batch.

A real `socialrating serve` takes a stream of record batches (each with keys of its own)
from a client thread and is killed with SIGKILL at random moments, then started again
(over the marker file the killed server left behind), more than twenty times. Then: every
acknowledged batch is in the ledger, each record once; no batch is partly there; the
batches never acknowledged, sent again, are stored once; and `socialrating verify` passes.

The marker file (``<db>.serve``) names the server that holds a database, for a command
refused the file; one left by a killed server must neither stop a new server nor be named
as the holder.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import pytest
from tests.conftest import DATA

from socialrating.ledger import open_store
from socialrating.service.keys import create_key
from socialrating.service.policy import Role

SR = str(Path(sys.executable).parent / "socialrating")
KILLS = 20
SUBJECTS = 40
BUDGET = 240.0
"""Seconds the kill-and-restart phase may take at most (about 50 on 2 idle cores)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SOCIALRATING_")}


def sr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SR, *args], env=env(), capture_output=True, text=True, timeout=120)


def start(db: str, port: int, **settings: str) -> subprocess.Popen[bytes]:
    """`socialrating serve` on ``port`` (with ``settings``, environment variables),
    answering health checks; what it writes goes to ``<db>.log``."""
    with open(f"{db}.log", "ab") as log:
        server = subprocess.Popen(
            [SR, "serve", "--db", db, "--port", str(port)],
            env=env() | settings, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server did not start: {log_of(db)}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.kill()
    server.wait()
    raise AssertionError(f"the server did not answer in 30 s: {log_of(db)}")


def log_of(db: str) -> str:
    return Path(f"{db}.log").read_text(errors="replace")[-3000:]


@contextmanager
def serving(db: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A server stopped gracefully (SIGTERM) when the block ends."""
    server = start(db, port)
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)
        assert server.returncode == 0, log_of(db)


@dataclass
class Batch:
    number: int
    records: list[dict[str, str]]
    status: int | None = None  # the answer's status; None: no answer (the server died)
    answer: dict[str, object] = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        return [r["key"] for r in self.records]


def batch(number: int, rng: random.Random) -> Batch:
    """A few records about random subjects, each with a key no other batch uses."""
    size = rng.randint(2, 8)
    return Batch(
        number,
        [
            {
                "key": f"b{number}-{i}",
                "subject": f"c{rng.randint(1, SUBJECTS)}",
                "parameter": rng.choice(["debtor", "paid", "tax_debt"]),
                "date": f"2021-0{rng.randint(1, 9)}-{rng.randint(10, 28)}",
            }
            for i in range(size)
        ],
    )


class Client(threading.Thread):
    """Sends batch after batch over one keep-alive connection, reconnecting when the server
    is gone, and remembers each batch's answer (or that none came)."""

    def __init__(self, url: str, secret: str) -> None:
        super().__init__(daemon=True)
        self.url, self.secret = url, secret
        self.batches: list[Batch] = []
        self.answered = 0  # batches answered 200
        self.stop = threading.Event()
        self.rng = random.Random(11)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.secret}"}
        with httpx.Client(headers=headers, timeout=30) as client:
            sent = batch(1, self.rng)
            while not self.stop.is_set():
                try:
                    response = client.post(self.url, json={"records": sent.records})
                except httpx.ConnectError:
                    time.sleep(0.02)  # the server is down, and got nothing: send it again
                    continue
                except httpx.TransportError:
                    pass  # the server died while it had the batch: no answer
                else:
                    sent.status = response.status_code
                    sent.answer = response.json()
                    self.answered += response.status_code == 200
                self.batches.append(sent)
                sent = batch(len(self.batches) + 1, self.rng)


def stored(db: str) -> dict[str, int]:
    """How many entries carry each idempotency key."""
    with open_store(db, read_only=True) as store:
        return {
            str(key): int(n)
            for key, n in store.rows(
                "SELECT idem_key, count(*) FROM entries WHERE idem_key IS NOT NULL GROUP BY 1"
            )
        }


@pytest.fixture
def ledger(tmp_path: Path) -> tuple[str, str]:
    """A ledger with subjects c1..c40 and a key for the court; its path and the key."""
    db = str(tmp_path / "crash.duckdb")
    assert sr("init", "--db", db, "--rulebook", str(DATA / "consequences.yaml")).returncode == 0
    rows = "".join(f"c{i},citizen,1980-01-01,F,north\n" for i in range(1, SUBJECTS + 1))
    (tmp_path / "s.csv").write_text("code,kind,born,sex,region\n" + rows)
    assert sr("subjects", "import", str(tmp_path / "s.csv"), "--db", db).returncode == 0
    with open_store(db) as store:
        _, secret = create_key(store, Role.INSTITUTION, ("court",))
    return db, secret


@pytest.mark.slow
def test_a_killed_server_keeps_every_acknowledged_batch_whole(ledger: tuple[str, str]) -> None:
    db, secret = ledger
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/institutions/court/records"
    rng = random.Random(5)
    client = Client(url, secret)
    kills = 0
    began = time.monotonic()
    server = start(db, port)
    client.start()
    try:
        # At least KILLS kills, and at least KILLS batches acknowledged among them (on a
        # loaded machine a restarted server may be killed before it answers one).
        while (kills < KILLS or client.answered < KILLS) and time.monotonic() - began < BUDGET:
            # Mostly at a random moment once the server has answered a batch (its first
            # request imports much, under a loaded machine for a second or more); now and
            # then at a random moment from its start.
            if rng.random() < 0.75:
                answered, waited = client.answered, time.monotonic()
                while client.answered == answered and time.monotonic() - waited < 20:
                    time.sleep(0.01)
            time.sleep(rng.uniform(0.05, 1.0))
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            kills += 1
            assert Path(f"{db}.serve").is_file()  # left behind by the killed server
            server = start(db, port)
    finally:
        client.stop.set()
        client.join(timeout=60)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
    assert kills >= 20, f"only {kills} kills in {BUDGET} s"

    batches = client.batches
    acked = [b for b in batches if b.status == 200]
    unanswered = [b for b in batches if b.status is None]
    assert all(b.status in (200, None) for b in batches), log_of(db)
    assert len(acked) >= 20 and unanswered, (len(acked), len(unanswered))
    for b in acked:  # each acknowledged batch was new: all its rows stored then
        assert b.answer["stored"] == len(b.records) and b.answer["duplicates"] == 0, b.answer

    counts = stored(db)
    assert all(n == 1 for n in counts.values()), "a key stored twice"
    for b in acked:
        assert all(counts.get(k) == 1 for k in b.keys), f"acknowledged batch {b.number} lost"
    partial = [b.number for b in batches if 0 < sum(k in counts for k in b.keys) < len(b.keys)]
    assert not partial, f"batches partly stored: {partial}"

    # The batches never answered, sent again: stored once (now, or before the kill).
    before = sum(counts.values())
    already = sum(len(b.records) for b in unanswered if b.keys[0] in counts)
    with serving(db, port), httpx.Client(headers={"Authorization": f"Bearer {secret}"}) as again:
        for b in unanswered:
            response = again.post(url, json={"records": b.records}, timeout=30)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["stored"] + answer["duplicates"] == len(b.records)
            assert answer["duplicates"] in (0, len(b.records))
            assert (answer["duplicates"] > 0) == (b.keys[0] in counts)
    counts = stored(db)
    assert all(n == 1 for n in counts.values()), "a key stored twice"
    assert all(k in counts for b in batches for k in b.keys)
    sent_again = sum(len(b.records) for b in unanswered) - already
    assert sum(counts.values()) == before + sent_again
    assert not Path(f"{db}.serve").exists()  # the last server stopped gracefully

    verified = sr("verify", "--db", db)
    assert verified.returncode == 0, verified.stdout + verified.stderr


HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


@contextmanager
def held(db: str) -> Iterator[subprocess.Popen[str]]:
    """Another process (not a server) holding ``db`` open for writing."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, db], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.communicate(timeout=30)


def dead_pid() -> int:
    """The PID of a process that has ended."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_marker_left_by_a_killed_server_names_no_one(ledger: tuple[str, str]) -> None:
    db, _ = ledger
    marker = Path(f"{db}.serve")
    marker.write_text(f"socialrating serve on http://127.0.0.1:1 (PID {dead_pid()})\n")
    result = sr("runs", "--db", db)  # the file is free: the stale marker does not matter
    assert result.returncode == 0, result.stderr
    with held(db) as holder:
        result = sr("runs", "--db", db)
        assert result.returncode == 1
        assert "socialrating serve" not in result.stderr, result.stderr
        assert "in use by another process" in result.stderr
        assert f"PID {holder.pid}" in result.stderr
        # A live process named by the marker, but not the one holding the file: not named.
        marker.write_text(f"socialrating serve on http://127.0.0.1:1 (PID {os.getpid()})\n")
        assert "socialrating serve" not in sr("runs", "--db", db).stderr
        # The holder named by the marker: named, as a server.
        marker.write_text(f"socialrating serve on http://127.0.0.1:1 (PID {holder.pid})\n")
        result = sr("runs", "--db", db)
        assert f"is held by socialrating serve on http://127.0.0.1:1 (PID {holder.pid})" in (
            result.stderr
        )


@pytest.mark.slow
def test_a_server_starts_over_a_stale_marker_and_removes_it(ledger: tuple[str, str]) -> None:
    db, _ = ledger
    marker = Path(f"{db}.serve")
    marker.write_text(f"socialrating serve on http://127.0.0.1:1 (PID {dead_pid()})\n")
    port = free_port()
    with serving(db, port) as server:
        assert f"(PID {server.pid})" in marker.read_text()
        result = sr("runs", "--db", db)
        assert f"is held by socialrating serve on http://127.0.0.1:{port} (PID {server.pid})" in (
            result.stderr
        )
    assert not marker.exists()


@pytest.mark.slow
def test_a_killed_server_keeps_every_read_it_answered_in_the_access_log(
    ledger: tuple[str, str],
) -> None:
    """A read is answered once it is in the access log's journal (``service.journal``), not
    yet in the database: a server killed then leaves the journal, and the next one imports
    it, each answered read once."""
    from socialrating.service.journal import _read, journal_path

    db, _ = ledger
    assert sr("score", "--db", db, "--as-of", "2021-12-31").returncode == 0
    with open_store(db) as store:
        _, provider = create_key(store, Role.PROVIDER, ("loan",))
    port = free_port()
    # Imported only when the server stops (or is killed first: then by the next one).
    server = start(db, port, SOCIALRATING_ACCESS_JOURNAL_SECONDS="3600")
    answered = 0
    try:
        with httpx.Client(headers={"Authorization": f"Bearer {provider}"}, timeout=30) as client:
            for i in range(60):
                url = f"http://127.0.0.1:{port}/v1/decisions/loan/c{i % SUBJECTS + 1}"
                response = client.get(url)
                assert response.status_code == 200, response.text
                answered += 1
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)

    def reads() -> int:
        with open_store(db, read_only=True) as store:
            return int(store.scalar("SELECT count(*) FROM access_log WHERE action = 'decide'"))

    with open_store(db, read_only=True) as store:
        through = store.scalar("SELECT max(imported_through) FROM access_journal") or 0
    waiting = [n for n, _, _ in _read(journal_path(db)) if n > through]
    assert reads() == 0 and len(waiting) == answered
    with serving(db, port):
        pass  # imports the journal as it starts, and removes it as it stops
    assert reads() == answered
    assert not journal_path(db).exists()
