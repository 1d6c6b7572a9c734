"""`/v1/kb/...` and a chat turn answered from the FAQ, through the real FastAPI app."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.bots import BotRegistry
from csbot.config import Settings
from csbot.storage.db import Database
from csbot.tenants import create_api_key, create_tenant
from kbbot.bot import KBBot
from kbbot.service import KBService
from tests.kbbot.conftest import FAQ_SMALL

pytestmark = pytest.mark.slow


@pytest.fixture
def client(settings: Settings, db: Database, real_embedder, redis_sync):  # type: ignore[no-untyped-def]
    create_tenant(db, "api1", "API shop")
    key = create_api_key(db, "api1", name="t")
    svc = KBService(db, settings.milvus_uri, lambda: real_embedder, redis_sync, settings.redis_prefix)
    assert svc.import_file("api1", FAQ_SMALL, publish=True).ok
    from kbbot.dense_index import close_client

    close_client(settings.milvus_uri)
    registry = BotRegistry(bots={})
    registry.register("kb", KBBot())
    app = create_app(settings, registry=registry, plugins=True)

    async def share_embedder(app) -> None:  # type: ignore[no-untyped-def]
        # the same shipped model, loaded once for the test session instead of once per app
        app.state.ctx.models.embedder = lambda tenant_id=None: real_embedder

    app.state.startup_hooks.append(share_embedder)
    with TestClient(app) as c:
        c.headers["Authorization"] = f"Bearer {key}"
        yield c


def test_chat_answers_faq_question_in_chinese(client: TestClient) -> None:
    r = client.post("/v1/chat", json={"session_id": "s1", "text": "请问怎么开发票？"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "answer" and body["source"]["faq_id"] == "invoice"
    assert "申请发票" in body["text"]


def test_kb_item_edit_publish_search_rollback(client: TestClient) -> None:
    r = client.put("/v1/kb/items/gift-card", params={"publish": "true"},
                   json={"question": "礼品卡怎么用？", "answer": "结算时选择礼品卡抵扣。", "similar": ["购物卡能用吗"]})
    assert r.status_code == 200 and r.json()["published_version"] == 2
    hits = client.get("/v1/kb/search", params={"q": "购物卡可以用吗", "k": 3}).json()
    assert hits[0]["faq_id"] == "gift-card" and hits[0]["kb_version"] == 2
    versions = client.get("/v1/kb/versions").json()
    assert versions["live"] == 2 and [v["version"] for v in versions["versions"]] == [1, 2]
    assert client.post("/v1/kb/rollback", json={}).json() == {"version": 1}
    hits = client.get("/v1/kb/search", params={"q": "购物卡可以用吗", "k": 3}).json()
    assert all(h["faq_id"] != "gift-card" for h in hits)


def test_kb_item_conflict_and_missing(client: TestClient) -> None:
    r = client.post("/v1/kb/items", json={"id": "dup", "question": "新问题", "answer": "a", "similar": ["包邮吗"]})
    assert r.status_code == 409 and "ship-fee" in r.text
    assert client.get("/v1/kb/items/nope").status_code == 404
    assert client.delete("/v1/kb/items/nope").status_code == 404
