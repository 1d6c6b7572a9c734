"""The CRM API: search by every filter, transcripts, export, tags, close, proactive messages, contacts."""

from __future__ import annotations

import csv
import io
import json
import time

from fastapi.testclient import TestClient

from csbot.channels.config import ChannelSettings
from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.models import Tenant
from csbot.tenants import create_api_key
from tests.csbot.channels.conftest import SHOP_ORIGIN, make_client
from tests.csbot.channels.test_widget_api import session, until


def chat(client: TestClient, h: dict[str, str], sid: str, text: str, user_id: str | None = None) -> dict[str, str]:
    body = {"session_id": sid, "text": text, **({"user_id": user_id} if user_id else {})}
    r = client.post("/v1/chat", json=body, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


def test_search_filters_transcript_and_tags(client: TestClient, api_key: str, db: Database) -> None:
    h = {"Authorization": f"Bearer {api_key}"}
    a = chat(client, h, "c-a", "运费怎么算", user_id="u1")
    b = chat(client, h, "c-b", "你好", user_id="u2")
    mid = time.time()
    c = chat(client, h, "c-c", "今天天气", user_id="u1")  # no bot scores: a polite reject
    client.post(f"/v1/conversations/{b['conversation_id']}/handoff", json={}, headers=h)

    def ids(**params: object) -> set[str]:
        r = client.get("/v1/crm/conversations", params=params, headers=h)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert ids() == {a["conversation_id"], b["conversation_id"], c["conversation_id"]}
    assert ids(user_id="u1") == {a["conversation_id"], c["conversation_id"]}
    assert ids(route="kb") == {a["conversation_id"]}
    assert ids(resolution="operator") == {b["conversation_id"]}
    assert ids(since=mid) == {c["conversation_id"]}
    assert ids(until=mid) == {a["conversation_id"], b["conversation_id"]}
    assert ids(q="运费") == {a["conversation_id"]}
    assert ids(status="handoff") == {b["conversation_id"]}
    tagged = client.post(f"/v1/crm/conversations/{a['conversation_id']}/tags", json={"add": ["退款", "vip"]}, headers=h)
    assert tagged.json()["tags"] == ["退款", "vip"]
    client.post(f"/v1/crm/conversations/{c['conversation_id']}/tags", json={"add": ["退款单"]}, headers=h)
    assert ids(tag="退款") == {a["conversation_id"]}, "a tag matches whole tags only"
    client.post(f"/v1/crm/conversations/{a['conversation_id']}/tags", json={"remove": ["退款"]}, headers=h)
    assert ids(tag="退款") == set()
    t = client.get(f"/v1/crm/conversations/{a['conversation_id']}", headers=h).json()
    assert [(m["role"], m["route"]) for m in t["messages"]] == [("user", None), ("bot", "kb")]
    assert t["resolution"] == "bot" and t["routes"] == ["kb"]
    page = client.get("/v1/crm/conversations", params={"limit": 2}, headers=h).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["next_offset"] == 2


def test_tenants_are_isolated_and_scope_is_required(client: TestClient, api_key: str, db: Database) -> None:
    h = {"Authorization": f"Bearer {api_key}"}
    a = chat(client, h, "iso", "运费怎么算")
    other = {"Authorization": f"Bearer {create_api_key(db, 'other')}"}
    assert client.get("/v1/crm/conversations", headers=other).json()["total"] == 0
    assert client.get(f"/v1/crm/conversations/{a['conversation_id']}", headers=other).status_code == 404
    chat_only = {"Authorization": f"Bearer {create_api_key(db, 'acme', scopes=['chat'])}"}
    assert client.get("/v1/crm/conversations", headers=chat_only).status_code == 403


def test_export_jsonl_and_csv(client: TestClient, api_key: str) -> None:
    h = {"Authorization": f"Bearer {api_key}"}
    chat(client, h, "e1", "运费怎么算")
    chat(client, h, "e2", "你好")
    lines = client.get("/v1/crm/export?format=jsonl", headers=h).text.strip().split("\n")
    convs = [json.loads(x) for x in lines]
    assert [c["session_id"] for c in convs] == ["e1", "e2"]
    assert convs[0]["messages"][1]["text"] == "满99元包邮，不满收8元。"
    r = client.get("/v1/crm/export?format=csv", headers=h)
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert [(x["session_id"], x["role"]) for x in rows] == [("e1", "user"), ("e1", "bot"), ("e2", "user"), ("e2", "bot")]
    assert rows[1]["text"] == "满99元包邮，不满收8元。" and rows[1]["route"] == "kb"


def test_proactive_message_reaches_the_widget(client: TestClient, api_key: str, db: Database) -> None:
    from csbot.channels.visitors import user_hash

    h = {"Authorization": f"Bearer {api_key}"}
    assert client.post("/v1/crm/contacts/u-9/messages", json={"text": "x"}, headers=h).status_code == 404
    with db.session() as s:
        secret = s.get(Tenant, "acme").identity_secret  # type: ignore[union-attr]
    sess = session(client, user_id="u-9", user_hash=user_hash(secret, "u-9"))
    with client.websocket_connect(f"/v1/widget/ws?token={sess['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
        until(ws, "ready")
        ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": "9" * 32}))
        until(ws, "reply")
        r = client.post("/v1/crm/contacts/u-9/messages", json={"text": "您的包裹已发货", "author": "小美商城"}, headers=h)
        assert r.status_code == 201
        for _ in range(10):
            ev = json.loads(ws.receive_text())
            if ev["type"] == "message" and ev["message"]["id"] == r.json()["message_id"]:
                assert ev["message"]["text"] == "您的包裹已发货" and ev["message"]["author"] == "小美商城"
                break
        else:
            raise AssertionError("proactive message not delivered")


def test_contact_attributes_reach_the_bots(settings: Settings, db: Database, tenant: Tenant, api_key: str) -> None:
    from csbot.channels.contacts import turn_attributes

    h = {"Authorization": f"Bearer {api_key}"}
    with make_client(settings) as client:
        r = client.patch("/v1/crm/contacts/u-7", json={"attributes": {"crm_id": "C-100", "vip_level": 3}}, headers=h)
        assert r.status_code == 200 and r.json()["attributes"] == {"crm_id": "C-100", "vip_level": 3}
        r = client.patch("/v1/crm/contacts/u-7", json={"attributes": {"vip_level": None, "tier": "gold"}}, headers=h)
        assert r.json()["attributes"] == {"crm_id": "C-100", "tier": "gold"}
        assert client.patch("/v1/crm/contacts/u-7", json={"attributes": {"locale": "en"}}, headers=h).status_code == 422
        assert client.get("/v1/crm/contacts/u-7", headers=h).json()["attributes"]["tier"] == "gold"
    assert turn_attributes(db, "acme", "u-7", "any-session") == {"crm_id": "C-100", "tier": "gold"}


def test_widget_turn_carries_contact_attributes(settings: Settings, db: Database, tenant: Tenant,
                                                api_key: str) -> None:
    """A bot sees the CRM attributes of the widget's verified user (`Turn.attributes`)."""
    from csbot.channels.visitors import user_hash
    from csbot.storage.models import TurnLog
    from tests.csbot.spine_bots import KeywordBot, registry

    seen: list[dict[str, object]] = []

    class AttrBot(KeywordBot):
        async def reply(self, turn, state, hint=None):  # type: ignore[no-untyped-def]
            seen.append(dict(turn.attributes))
            return await super().reply(turn, state, hint)

    from csbot.api.app import create_app

    app = create_app(settings, registry=registry(AttrBot("kb", "运费", 0.9, answer="包邮")), plugins=False)
    app.state.channel_settings = ChannelSettings(dispatcher=False)
    with TestClient(app) as client:
        h = {"Authorization": f"Bearer {api_key}"}
        client.patch("/v1/crm/contacts/vip-1", json={"attributes": {"vip_level": 5}}, headers=h)
        with db.session() as s:
            secret = s.get(Tenant, "acme").identity_secret  # type: ignore[union-attr]
        sess = session(client, user_id="vip-1", user_hash=user_hash(secret, "vip-1"))
        with client.websocket_connect(f"/v1/widget/ws?token={sess['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
            until(ws, "ready")
            ws.send_text(json.dumps({"type": "message", "text": "运费", "client_id": "7" * 32}))
            until(ws, "reply")
    assert seen and seen[0]["vip_level"] == 5
    with db.session() as s:
        assert s.get(TurnLog, "7" * 32) is not None


def test_api_key_rate_limit(settings: Settings, db: Database, tenant: Tenant, api_key: str) -> None:
    other_key = create_api_key(db, "acme")
    with make_client(settings, ChannelSettings(api_key_requests_per_min=3, dispatcher=False)) as client:
        h = {"Authorization": f"Bearer {api_key}"}
        codes = [client.get("/v1/crm/conversations", headers=h).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = client.post("/v1/chat", json={"session_id": "rl", "text": "你好"}, headers=h)
        assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
        assert r.json()["error"] == "too many requests"
        assert client.get("/v1/crm/conversations", headers={"Authorization": f"Bearer {other_key}"}).status_code == 200


def test_widget_settings_admin(client: TestClient, api_key: str, db: Database) -> None:
    h = {"Authorization": f"Bearer {api_key}"}
    before = client.get("/v1/crm/widget-settings", headers=h).json()
    assert before["allowed_origins"] == [SHOP_ORIGIN] and len(before["identity_secret"]) == 64
    bad = client.put("/v1/crm/widget-settings", json={"allowed_origins": ["shop.example"]}, headers=h)
    assert bad.status_code == 422
    new = client.put("/v1/crm/widget-settings", json={"allowed_origins": ["https://New.Example/"],
                                                      "rotate_identity_secret": True}, headers=h).json()
    assert new["allowed_origins"] == ["https://new.example"] and new["identity_secret"] != before["identity_secret"]
    r = client.post("/v1/widget/session", json={"tenant": "acme"}, headers={"Origin": SHOP_ORIGIN})
    assert r.status_code == 403, "the old origin is refused right after the change"
    assert client.post("/v1/widget/session", json={"tenant": "acme"},
                       headers={"Origin": "https://new.example"}).status_code == 200
    no_admin = {"Authorization": f"Bearer {create_api_key(db, 'acme', scopes=['crm'])}"}
    assert client.get("/v1/crm/widget-settings", headers=no_admin).status_code == 403


def test_contact_attribute_drives_a_routing_rule_on_the_chat_api(client: TestClient, api_key: str) -> None:
    """`vip_handoff` set by the CRM sends that user's next message straight to a person."""
    h = {"Authorization": f"Bearer {api_key}"}
    # (not a cacheable FAQ: the spine's answer cache runs before the routing rules)
    assert chat(client, h, "vip-a", "你好", user_id="vip-9")["kind"] != "handoff"
    client.patch("/v1/crm/contacts/vip-9", json={"attributes": {"vip_handoff": True}}, headers=h)
    assert chat(client, h, "vip-b", "你好", user_id="vip-9")["kind"] == "handoff"
    assert chat(client, h, "vip-c", "你好", user_id="someone-else")["kind"] != "handoff"
