"""The admin CLI contract: tenant create, apikey create (key alone on the last line), config show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

CSBOT = str(Path(sys.executable).with_name("csbot"))


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CSBOT, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path, redis_prefix: str) -> dict[str, str]:
    return {**os.environ, "CSBOT_DATA_DIR": str(tmp_path), "CSBOT_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CSBOT_REDIS_PREFIX": redis_prefix, "CSBOT_SECRET_KEY": "s3cr3t-value",
            "CSBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}


def test_tenant_and_apikey_commands(env: dict[str, str]) -> None:
    assert run(["migrate"], env).returncode == 0
    first = run(["tenant", "create", "shop"], env)
    again = run(["tenant", "create", "shop"], env)
    assert first.returncode == again.returncode == 0 and "exists" in again.stdout
    out = run(["apikey", "create", "--tenant", "shop"], env)
    assert out.returncode == 0
    key = out.stdout.strip().splitlines()[-1]
    assert key.startswith("csk_") and " " not in key
    bad = run(["apikey", "create", "--tenant", "ghost"], env)
    assert bad.returncode != 0 and "unknown tenant" in bad.stderr


def test_config_show_masks_secrets(env: dict[str, str]) -> None:
    env = {**env, "CSBOT_DATABASE_URL": "postgresql://app:hunter2@db:5432/csbot"}
    out = run(["config", "show"], env)
    assert out.returncode == 0
    assert "hunter2" not in out.stdout and "s3cr3t-value" not in out.stdout
    assert "app:****@db" in out.stdout


@pytest.mark.parametrize("group", [[], ["tenant"], ["apikey"], ["config"], ["apikey", "create"]])
def test_help_on_every_level(group: list[str], env: dict[str, str]) -> None:
    out = run([*group, "--help"], env)
    assert out.returncode == 0 and "Usage" in out.stdout


def test_serve_starts_on_a_set_up_installation(env: dict[str, str], tmp_path: Path) -> None:
    """`csbot serve` with embedded Milvus (no URI set) answers health checks, then stops cleanly."""
    from csbot.services import free_port, wait_for_port

    port = free_port()
    env = {**env, "CSBOT_PIPELINE__BOTS": "[]", "CSBOT_LLM__LOAD_LOCAL": "false"}
    run(["migrate"], env)
    proc = subprocess.Popen([CSBOT, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port("127.0.0.1", port, 120, proc)  # type: ignore[arg-type]
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(30)
    assert proc.returncode is not None


def test_serve_stops_its_embedded_services_on_sigterm(env: dict[str, str], tmp_path: Path) -> None:
    import psutil

    from csbot.services import free_port, wait_for_port

    port = free_port()
    env = {**env, "CSBOT_PIPELINE__BOTS": "[]"}
    run(["migrate"], env)
    proc = subprocess.Popen([CSBOT, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port, 120, proc)  # type: ignore[arg-type]
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("milvus-lite" in " ".join(c.cmdline()) for c in children)
    finally:
        proc.terminate()
        proc.wait(60)
    gone, alive = psutil.wait_procs(children, timeout=20)
    assert alive == []
