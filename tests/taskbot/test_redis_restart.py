"""A Redis restart in the middle of a task loses nothing: the state comes back from SQL."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from csbot.context import AppContext
from csbot.demo.shop_process import free_port
from taskbot.bot import TaskBot

from .conftest import Conversation

REDIS_SERVER = shutil.which("redis-server")


class PrivateRedis:
    """A throwaway redis-server without persistence: a restart starts empty."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


async def test_redis_restart_mid_task_state_comes_back_from_sql(settings, db, shop, private_redis: PrivateRedis) -> None:  # type: ignore[no-untyped-def]
    settings.shop_url = shop.url
    ctx = AppContext.create(settings, redis_url=f"redis://127.0.0.1:{private_redis.port}/0")
    bot = TaskBot()
    await bot.load(ctx)
    try:
        conv = Conversation(ctx, bot, session_id="restart")
        for text in ("我要退货", "2026110004"):
            ex = await conv.say(text)
            assert ex.reply is not None
        assert "原因" in ex.reply.text

        private_redis.stop()
        private_redis.start()
        assert redis.Redis(port=private_redis.port).dbsize() == 0  # Redis lost everything

        ex = await conv.say("屏幕碎了")
        assert ex.reply is not None, ex.score
        assert "请确认" in ex.reply.text and "2026110004" in ex.reply.text and "屏幕碎了" in ex.reply.text
        ex = await conv.say("是")
        assert ex.reply is not None and "退货单号" in ex.reply.text
    finally:
        await bot.close()
        await ctx.close()
