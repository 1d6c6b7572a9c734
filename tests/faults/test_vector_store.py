"""The Milvus Lite server process killed: KB-Bot answers from BM25, says so, and recovers.

The fallback is visible in the turn's trace (a `kb.degraded` event) and in `/readyz`
(`kb.vectors: degraded: ...`, still 200: FAQ answers keep flowing); once the server is back the
next search after the retry pause uses the vectors again.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.bots import BotRegistry
from csbot.config import Settings
from csbot.services import Service, start_milvus
from csbot.storage.db import Database
from csbot.storage.models import TurnLog
from csbot.tenants import create_api_key, create_tenant
from kbbot.bot import KBBot
from kbbot.dense_index import RETRY_AFTER_S, SEARCH_TIMEOUT_S, close_client
from kbbot.service import KBService
from tests.kbbot.conftest import FAQ_SMALL, tiny_encoder  # noqa: F401

from .conftest import report

pytestmark = pytest.mark.slow


def kill9(svc: Service) -> None:
    os.killpg(svc.proc.pid, signal.SIGKILL)
    svc.proc.wait(10)


@pytest.fixture
def milvus(tmp_path: Path) -> Iterator[list[Service]]:
    box = [start_milvus(tmp_path)]
    yield box
    close_client(box[0].url)
    for svc in box:
        if svc.proc.poll() is None:
            kill9(svc)


def kb_events(db: Database, turn_id: str) -> list[dict[str, Any]]:
    with db.session() as s:
        row = s.get(TurnLog, turn_id)
        assert row is not None
        return [e for e in row.trace if e.get("type") == "bot" and e.get("bot") == "kb"]


def test_vector_store_killed_falls_back_to_bm25_and_recovers(settings: Settings, db: Database, tmp_path: Path,
                                                             milvus: list[Service], tiny_encoder) -> None:  # noqa: F811
    uri = milvus[0].url
    port = int(uri.rsplit(":", 1)[1])
    create_tenant(db, "m1", "shop")
    key = create_api_key(db, "m1")
    r = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    assert KBService(db, uri, lambda: tiny_encoder, r, settings.redis_prefix).import_file("m1", FAQ_SMALL,
                                                                                         publish=True).ok
    r.close()
    reg = BotRegistry(bots={})
    reg.register("kb", KBBot())
    app = create_app(settings, registry=reg, milvus_uri=uri, plugins=False)

    async def tiny(app: Any) -> None:
        app.state.ctx.models.embedder = lambda tenant_id=None: tiny_encoder

    app.state.startup_hooks.append(tiny)

    def ask(c: TestClient, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        resp = c.post("/v1/chat", json={"session_id": "v1", "text": text},
                      headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        return body, kb_events(db, body["turn_id"])

    with TestClient(app) as c:
        body, events = ask(c, "运费怎么算？")
        assert body["source"]["faq_id"] == "ship-fee"
        assert not [e for e in events if e["step"] == "kb.degraded"]
        assert c.get("/readyz").json()["checks"]["kb.vectors"] == "ok"

        kill9(milvus[0])
        t0 = time.monotonic()
        body, events = ask(c, "邮费多少钱")  # a new question each time: cached answers skip the KB
        took = time.monotonic() - t0
        report("FAQ turn with the vector store just killed", took)
        assert took < SEARCH_TIMEOUT_S + 2
        assert body["source"]["faq_id"] == "ship-fee" and body["kind"] == "answer", body
        degraded = [e for e in events if e["step"] == "kb.degraded"]
        assert degraded and "BM25 only" in degraded[0]["detail"] and degraded[0]["data"]["fallback"] == "bm25"
        match = next(e for e in events if e["step"] == "kb.match")
        assert match["data"]["mode"] == "bm25"
        ready = c.get("/readyz")
        assert ready.status_code == 200  # degraded, not down: answers still flow
        assert ready.json()["checks"]["kb.vectors"].startswith("degraded: vector store unavailable")
        t0 = time.monotonic()
        body, events = ask(c, "怎么开发票？")  # while it is down, turns skip the store without waiting
        assert time.monotonic() - t0 < 1.5 and body["source"]["faq_id"] == "invoice"

        t0 = time.monotonic()
        milvus.append(start_milvus(tmp_path, port=port))
        report("milvus-lite server restart (same data dir)", time.monotonic() - t0)
        t0 = time.monotonic()
        questions = iter(["要付运费吗", "包邮吗", "什么时候发货", "几天能发货", "发货要多久", "能退货吗",
                          "怎么申请退货", "不想要了可以退吗", "钱什么时候退回来", "退款几天到账", "能开发票吗",
                          "发票怎么申请", "需要增值税发票", "下单后多久发货？", "退款多久到账？"])
        while True:
            body, events = ask(c, next(questions))
            if not [e for e in events if e["step"] == "kb.degraded"]:
                break
            assert time.monotonic() - t0 < RETRY_AFTER_S + 30, events
            time.sleep(0.5)
        report("vector store back -> first turn with dense recall", time.monotonic() - t0)
        assert next(e for e in events if e["step"] == "kb.match")["data"]["mode"] != "bm25"
        assert c.get("/readyz").json()["checks"]["kb.vectors"] == "ok"
