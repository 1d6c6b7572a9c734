"""Fault-test fixtures: real processes the test owns, kills with SIGKILL and starts again.

Every fault is a real process going away (redis-server, the Milvus Lite server, a TCP proxy in
front of PostgreSQL, a misbehaving LLM server, `csbot serve` itself); nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from csbot.demo.pytest_shop import shop, shop_server  # noqa: F401
from csbot.services import free_port, wait_for_port

HERE = Path(__file__).resolve().parent


class Proc:
    """A restartable server process on a fixed port; `kill()` is SIGKILL, like a crash."""

    def __init__(self, name: str, argv: list[str], port: int, log_dir: Path, env: dict[str, str] | None = None,
                 ready_timeout_s: float = 30) -> None:
        self.name, self.argv, self.port, self.env = name, argv, port, env
        self.log_path = log_dir / f"{name}.log"
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start and wait until the port accepts connections; returns the seconds that took."""
        t0 = time.monotonic()
        with self.log_path.open("ab") as fh:
            self.proc = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONSAFEPATH": "1", **(self.env or {})},
                                         start_new_session=True)
        try:
            wait_for_port("127.0.0.1", self.port, self.ready_timeout_s, self.proc)
        except Exception as exc:
            self.kill()
            raise RuntimeError(f"{self.name} did not start: {exc}\n{self.log()}") from exc
        return time.monotonic() - t0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the whole group: milvus-lite forks a server child
            self.proc.wait(timeout=10)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Proc]:
    """A redis-server without persistence: after a kill and restart it is empty."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    p = Proc("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                       "--dir", str(tmp_path)], port, tmp_path)
    p.start()
    yield p
    p.kill()


def tcp_proxy(target_host: str, target_port: int, log_dir: Path) -> Proc:
    port = free_port()
    return Proc("proxy", [sys.executable, str(HERE / "tcp_proxy.py"), str(port), target_host, str(target_port)],
                port, log_dir)


def fake_llm(mode: str, log_dir: Path) -> Proc:
    port = free_port()
    return Proc(f"llm-{mode}", [sys.executable, str(HERE / "fake_llm.py"), str(port), mode], port, log_dir)


def report(what: str, seconds: float) -> None:
    """Recovery figures go to stdout (`pytest -s`) and to the file docs/reliability.md cites."""
    line = f"[faults] {what}: {seconds:.2f} s"
    print(line)
    out = os.environ.get("CSBOT_FAULTS_REPORT")
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
