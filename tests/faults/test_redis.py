"""Redis killed mid-conversation, chat goes on without it, then it comes back empty.

Extends tests/taskbot/test_redis_restart.py (the bot alone, Redis restarted between turns) to the
whole HTTP pipeline with Redis *down* for several turns: the answer cache is skipped, the dialogue
state is read from its SQL copy, the open task resumes after the restart, and every turn is in the
conversation log.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.config import Settings
from csbot.demo.shop_process import ShopProcess
from csbot.storage.db import Database
from csbot.storage.models import TurnLog
from csbot.tenants import create_api_key, create_tenant

from .conftest import Proc, report

pytestmark = pytest.mark.slow


def test_redis_down_then_back_mid_task_loses_nothing(settings: Settings, db: Database, shop: ShopProcess,
                                                     private_redis: Proc, tmp_path: Path) -> None:
    create_tenant(db, "demo", "demo")
    h = {"Authorization": f"Bearer {create_api_key(db, 'demo')}"}
    app_settings = settings.model_copy(update={
        "shop_url": shop.url, "redis_url": f"redis://127.0.0.1:{private_redis.port}/0",
        "pipeline": settings.pipeline.model_copy(update={"bots": ["task"]}),
    })

    def say(client: TestClient, text: str) -> dict[str, object]:
        r = client.post("/v1/chat", json={"session_id": "r1", "text": text}, headers=h)
        assert r.status_code == 200, r.text
        return dict(r.json())

    with TestClient(create_app(app_settings)) as client:
        assert "订单号" in str(say(client, "我要退货")["text"])
        assert "原因" in str(say(client, "2026110004")["text"])

        private_redis.kill()
        t0 = time.monotonic()
        body = say(client, "屏幕碎了")  # state comes from SQL while Redis is down
        report("turn answered with Redis down", time.monotonic() - t0)
        assert "请确认" in str(body["text"]) and "2026110004" in str(body["text"]), body
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("error")
        # a new conversation while Redis is down: answered, the answer cache skipped (said in the trace)
        r = client.post("/v1/chat", json={"session_id": "r2", "text": "帮我查下物流"}, headers=h)
        assert r.status_code == 200 and "订单号" in r.json()["text"], r.text
        with db.session() as s:
            trace = s.get(TurnLog, r.json()["turn_id"]).trace  # type: ignore[union-attr]
        cache = next(e for e in trace if e.get("type") == "funnel" and e.get("stage") == "cache")
        assert cache["detail"].startswith("skipped: redis unavailable"), cache

        t0 = time.monotonic()
        private_redis.start()  # empty: no persistence
        while client.get("/readyz").json()["checks"]["redis"] != "ok":
            assert time.monotonic() - t0 < 20
            time.sleep(0.05)
        report("redis back -> /readyz redis ok", time.monotonic() - t0)
        body = say(client, "是")  # the open task resumes and runs its action
        assert "退货单号" in str(body["text"]), body
        calls = httpx.get(f"{shop.url}/api/_calls").json()["calls"]
        assert [c["path"] for c in calls if c["method"] == "POST"] == ["/api/returns"]

        hist = client.get(f"/v1/conversations/{body['conversation_id']}", headers=h).json()
    texts = [(m["role"], m["text"]) for m in hist["messages"]]
    assert [t for r, t in texts if r == "user"] == ["我要退货", "2026110004", "屏幕碎了", "是"]
    assert [r for r, _ in texts] == ["user", "bot"] * 4
