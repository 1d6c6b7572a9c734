"""The shop's backend (the outside business system) times out: the task says so and offers retry
or a person, and the conversation goes on; no turn waits longer than the domain's timeout allows.

The timeout is per action in the domain YAML (`timeout_s`, `retries`); the demo shop backend runs
as a real process and is made slow through its `/api/_faults` hook.
"""

from __future__ import annotations

import shutil
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.config import Settings
from csbot.demo.shop_process import ShopProcess
from csbot.storage.db import Database
from csbot.storage.models import TurnLog
from csbot.tenants import create_api_key, create_tenant
from taskbot.domain import PACKAGED_DOMAINS

from .conftest import report

pytestmark = pytest.mark.slow
TIMEOUT_S = 0.5  # per attempt; the demo domain makes 2 attempts


def test_backend_timeout_offers_retry_and_handoff(settings: Settings, db: Database, shop: ShopProcess) -> None:
    own = settings.data_dir / "tasks" / "demo"  # the tenant's own copy, with a short timeout
    shutil.copytree(PACKAGED_DOMAINS / "demo", own)
    path = own / "logistics.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("timeout_s: 3", f"timeout_s: {TIMEOUT_S}"),
                    encoding="utf-8")
    create_tenant(db, "demo", "demo")
    h = {"Authorization": f"Bearer {create_api_key(db, 'demo')}"}
    app_settings = settings.model_copy(update={
        "shop_url": shop.url, "pipeline": settings.pipeline.model_copy(update={"bots": ["task"]})})
    httpx.post(f"{shop.url}/api/_faults", json={"path_prefix": "/api/logistics", "delay_s": 3, "times": 4})

    with TestClient(create_app(app_settings)) as c:
        def say(text: str) -> dict[str, object]:
            r = c.post("/v1/chat", json={"session_id": "b1", "text": text}, headers=h)
            assert r.status_code == 200, r.text
            return dict(r.json())

        t0 = time.monotonic()
        body = say("帮我查下物流，订单号2026110003")
        took = time.monotonic() - t0
        report(f"task turn with the shop backend hanging (2 x {TIMEOUT_S} s timeout)", took)
        with db.session() as s:
            row = s.get(TurnLog, body["turn_id"])
            assert row is not None
            action = next(e for e in row.trace if e.get("step") == "action" and e.get("detail") == "get_logistics")
        # the backend call is bounded by the domain's timeout x attempts (the rest of the turn is NLU
        # on a shared CPU, so the whole turn only gets a loose bound)
        assert action["data"]["timeout"] and action["data"]["attempts"] == 2
        assert action["data"]["ms"] < 2 * TIMEOUT_S * 1000 + 600, action
        assert took < 2 * TIMEOUT_S + 10.0
        assert body["kind"] == "task_prompt" and "没有响应" in str(body["text"]), body
        assert [s["text"] for s in body["suggestions"]] == ["重试", "转人工"]  # type: ignore[attr-defined]

        body = say("重试")  # still timing out: same honest answer, the task stays open
        assert body["kind"] == "task_prompt" and "没有响应" in str(body["text"]), body

        body = say("转人工")
        assert body["kind"] == "handoff", body
        conv = c.get(f"/v1/conversations/{body['conversation_id']}", headers=h).json()
    assert conv["status"] == "handoff"
    assert [m["role"] for m in conv["messages"]] == ["user", "bot"] * 3
