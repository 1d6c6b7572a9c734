"""Start and stop the demo shop backend as a real child process.

Used by `csbot up`, the tests and the other bots' tests: the shop is an outside system, so it
always runs as its own HTTP server, never in the caller's process.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

log = logging.getLogger(__name__)

STARTUP_TIMEOUT_S = 30.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ShopProcess:
    """A running `python -m csbot.demo.shop_backend`; `.url` is its base URL."""

    def __init__(
        self, popen: subprocess.Popen[bytes], host: str, port: int, db_path: Path, log_path: Path
    ) -> None:
        self.popen = popen
        self.host = host
        self.port = port
        self.db_path = db_path
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def reset(self) -> None:
        """Re-seed the orders and forget recorded calls and pending faults."""
        httpx.post(f"{self.url}/api/_reset", timeout=10.0).raise_for_status()

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("shop backend pid %d ignored SIGTERM; killing it", self.popen.pid)
            self.popen.kill()
            self.popen.wait(timeout=timeout)

    def __enter__(self) -> ShopProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_shop(
    port: int, db_path: Path, host: str = "127.0.0.1", log_path: Path | None = None
) -> ShopProcess:
    """Launch the shop backend and return once its /healthz answers.

    Raises:
        RuntimeError: the process exited or did not answer within STARTUP_TIMEOUT_S.
    """
    db_path = Path(db_path).absolute()
    if log_path is None:
        log_path = Path(tempfile.gettempdir()) / f"csbot-shop-{port}.log"
    log_file = log_path.open("wb")
    cmd = [
        sys.executable,
        "-m",
        "csbot.demo.shop_backend",
        "--port",
        str(port),
        "--host",
        host,
        "--db",
        str(db_path),
    ]
    # PYTHONSAFEPATH: a `csbot` folder in the caller's working directory (tests/csbot) must not
    # shadow the installed package in the child
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONSAFEPATH": "1"}
    popen = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=env)
    log_file.close()
    shop = ShopProcess(popen, host, port, db_path, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with httpx.Client(base_url=shop.url, timeout=1.0) as client:
        while time.monotonic() < deadline:
            if popen.poll() is not None:
                output = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                raise RuntimeError(f"shop backend exited with code {popen.returncode}:\n{output}")
            try:
                health = client.get("/healthz")
                if health.status_code == 200 and health.json().get("pid") == popen.pid:
                    log.info("shop backend up at %s (pid %d, db %s)", shop.url, popen.pid, db_path)
                    return shop
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    shop.stop()
    raise RuntimeError(
        f"shop backend did not answer on {shop.url} within {STARTUP_TIMEOUT_S:.0f}s (log: {log_path})"
    )
