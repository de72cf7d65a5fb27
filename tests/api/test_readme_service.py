"""The README's service section, run as written in one shell after a small demo, against
a real `socialrating serve` on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.api.test_crash import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def service_lines() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("## The service", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_service_section_runs_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALRATING_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    demo = subprocess.run(
        ["socialrating", "demo", "--citizens", "500", "--organisations", "50", "--days", "60"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    # One shell, so that `&` and `kill %1` refer to the same job; every line must succeed.
    script = "set -e\n" + "\n".join(
        f"echo '>>> {i}'\n{line}" for i, line in enumerate(service_lines())
    )
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The output of line i follows ">>> i"; the server, in the background, may print too.
    outputs = {int(b.split("\n", 1)[0]): b for b in done.stdout.split(">>> ")[1:]}

    def answer(i: int) -> dict[str, object]:
        (body,) = [x for x in outputs[i].splitlines() if x.startswith("{")]
        found: dict[str, object] = json.loads(body)
        return found

    assert answer(3)["ok"] is True
    decision = answer(4)
    assert decision["service"] == "flight" and "score" not in json.dumps(decision)
    assert answer(5)["error"] == "forbidden"
    rows = outputs[6].strip().splitlines()[1:]
    assert rows[0].startswith('"subject","decision","reasons","terms"'), rows
    assert [r.split(",")[0] for r in rows[1:3]] == ['"C000000055"', '"C000000056"']
    assert "revoked" in outputs[8]
    assert "/signin/link?token=" in outputs[11] and "once, within 15 minutes" in outputs[11]
    assert (tmp_path / "provider.key").stat().st_mode & 0o077 == 0  # readable by its owner only
    assert not (tmp_path / "socialrating.duckdb.serve").exists()  # the server said it stopped


@pytest.mark.slow
def test_a_command_on_a_served_database_names_the_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALRATING_")}
    db = str(tmp_path / "held.duckdb")
    sr = str(BIN / "socialrating")
    subprocess.run([sr, "init", "--db", db], check=True, env=env, capture_output=True)
    port = free_port()  # a fixed one may be taken by another server on the machine
    server = subprocess.Popen(
        [sr, "serve", "--db", db, "--port", str(port)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(120):
            if Path(db + ".serve").exists() or server.poll() is not None:
                break
            time.sleep(0.5)
        assert server.poll() is None, f"the server stopped: {server.communicate()[1]}"
        result = subprocess.run([sr, "runs", "--db", db], env=env, capture_output=True, text=True)
        assert result.returncode == 1
        assert (
            f"{db} is held by socialrating serve on http://127.0.0.1:{port} (PID" in result.stderr
        )
        assert "Traceback" not in result.stderr
    finally:
        server.terminate()
        server.communicate(timeout=30)
