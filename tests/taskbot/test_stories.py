"""`csbot task test`: the demo stories through a real API process (task bot only) and the shop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from csbot.demo.shop_process import free_port
from csbot.storage.db import Database
from csbot.tenants import create_api_key, create_tenant
from taskbot.cli import task_app
from taskbot.stories import BotExpect, CallExpect, check_reply, load_stories

STORIES = Path(__file__).resolve().parents[2] / "taskbot" / "stories" / "demo.yml"


def test_load_stories_demo_file_is_valid() -> None:
    stories = load_stories(STORIES)
    assert len(stories) >= 15
    assert all(s.steps for s in stories)


def test_check_reply_and_call_matching() -> None:
    reply = {"text": "订单 2026110002 已发货", "kind": "answer", "source": {"task": "order_status"}, "suggestions": []}
    assert check_reply(BotExpect(kind="answer", contains=["已发货"], task="order_status"), reply) == []
    problems = check_reply(BotExpect(kind="task_prompt", contains=["运单号"], task="logistics"), reply)
    assert len(problems) == 3
    call = {"method": "POST", "path": "/api/returns", "body": {"order_id": "2026110004", "amount": 6999.0}}
    assert CallExpect(method="post", path="/api/returns", body={"amount": 6999}).matches(call)
    assert not CallExpect(method="POST", path_prefix="/api/orders").matches(call)


@pytest.fixture
def api(tmp_path: Path, settings, db, shop) -> Iterator[tuple[str, str]]:  # type: ignore[no-untyped-def]
    create_tenant(db, "demo", "demo")
    key = create_api_key(Database(settings.database_url), "demo", name="stories")
    port = free_port()
    env = {
        **os.environ,
        "CSBOT_ENVIRONMENT": "test",
        "CSBOT_DATA_DIR": str(settings.data_dir),
        "CSBOT_REDIS_URL": settings.redis_url,
        "CSBOT_REDIS_PREFIX": settings.redis_prefix,
        "CSBOT_SHOP_URL": shop.url,
        "CSBOT_MILVUS_URI": str(tmp_path / "milvus.db"),
        "CSBOT_PIPELINE__BOTS": '["task"]',
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "csbot.api.factory:app_from_env", "--factory", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, (tmp_path / "api.log").read_text()[-2000:]
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
            if time.monotonic() > deadline:
                pytest.fail("API did not start within 300 s:\n" + (tmp_path / "api.log").read_text()[-2000:])
        yield url, key
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def test_task_test_runs_stories_against_the_api(api, shop, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, key = api
    runner = CliRunner()
    args = ["test", str(STORIES), "--url", url, "--api-key", key, "--shop-url", shop.url, "--json"]
    result = runner.invoke(task_app, [*args, "--only", "happy path"])
    assert result.exit_code == 0, result.output
    # a story whose expectation is wrong must fail the run
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "stories:\n  - name: wrong\n    steps:\n      - user: 我要退货\n        expect: {kind: answer, task: logistics}\n",
        encoding="utf-8",
    )
    result = runner.invoke(task_app, ["test", str(bad), "--url", url, "--api-key", key, "--shop-url", shop.url])
    assert result.exit_code == 1
    assert "FAIL" in result.output
