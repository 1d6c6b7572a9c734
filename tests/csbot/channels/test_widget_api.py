"""Widget endpoints on the real app (real Redis, real SQLite): sessions, identity, origins, socket, history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from csbot.channels.visitors import user_hash
from csbot.storage.db import Database
from csbot.storage.models import Tenant
from tests.csbot.channels.conftest import SHOP_ORIGIN

EVIL = "http://evil.example"


def session(client: TestClient, origin: str = SHOP_ORIGIN, **extra: Any) -> dict[str, Any]:
    r = client.post("/v1/widget/session", json={"tenant": "acme", **extra}, headers={"Origin": origin})
    assert r.status_code == 200, r.text
    return r.json()


def secret(db: Database) -> str:
    with db.session() as s:
        t = s.get(Tenant, "acme")
        assert t is not None
        return t.identity_secret


def until(ws: WebSocketTestSession, kind: str, limit: int = 50) -> dict[str, Any]:
    for _ in range(limit):
        ev = json.loads(ws.receive_text())
        if ev["type"] == kind:
            return ev
    raise AssertionError(f"no {kind} event")


def collect_until(ws: WebSocketTestSession, pred: Any, limit: int = 50) -> list[dict[str, Any]]:
    out = []
    for _ in range(limit):
        ev = json.loads(ws.receive_text())
        out.append(ev)
        if pred(ev):
            return out
    raise AssertionError(f"condition not met; got {out}")


def test_anonymous_session_and_allowed_origin_gets_cors(client: TestClient) -> None:
    r = client.post("/v1/widget/session", json={"tenant": "acme", "locale": "zh-CN"}, headers={"Origin": SHOP_ORIGIN})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP_ORIGIN
    body = r.json()
    assert body["identified"] is False and body["session_id"].startswith("w:") and body["token"]


def test_disallowed_origin_is_refused_without_cors(client: TestClient) -> None:
    r = client.post("/v1/widget/session", json={"tenant": "acme"}, headers={"Origin": EVIL})
    assert r.status_code == 403
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/v1/widget/session", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 403
    ok = client.options("/v1/widget/session", headers={"Origin": SHOP_ORIGIN, "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "content-type"})
    assert ok.status_code == 204 and ok.headers["access-control-allow-origin"] == SHOP_ORIGIN
    assert "POST" in ok.headers["access-control-allow-methods"]


def test_identity_validation(client: TestClient, db: Database) -> None:
    good = session(client, user_id="u-42", user_hash=user_hash(secret(db), "u-42"))
    assert good["identified"] is True and good["user_id"] == "u-42"
    again = session(client, user_id="u-42", user_hash=user_hash(secret(db), "u-42"))
    assert again["session_id"] == good["session_id"], "a verified user keeps one conversation"
    bad = client.post("/v1/widget/session", json={"tenant": "acme", "user_id": "u-42", "user_hash": "0" * 64},
                      headers={"Origin": SHOP_ORIGIN})
    assert bad.status_code == 401 and bad.headers["access-control-allow-origin"] == SHOP_ORIGIN
    other_user = client.post("/v1/widget/session", json={"tenant": "acme", "user_id": "u-43",
                                                         "user_hash": user_hash(secret(db), "u-42")},
                             headers={"Origin": SHOP_ORIGIN})
    assert other_user.status_code == 401


def test_anonymous_visitor_keeps_its_conversation(client: TestClient) -> None:
    first = session(client)
    second = session(client, visitor_token=first["token"])
    assert second["session_id"] == first["session_id"]
    assert session(client)["session_id"] != first["session_id"]


def test_socket_refuses_bad_token_and_foreign_origin(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    s = session(client)
    try:
        with client.websocket_connect("/v1/widget/ws?token=bogus", headers={"Origin": SHOP_ORIGIN}) as ws:
            ws.receive_text()
        raise AssertionError("accepted a bad token")
    except WebSocketDisconnect as exc:
        assert exc.code == 4401
    try:
        with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": EVIL}) as ws:
            ws.receive_text()
        raise AssertionError("accepted a foreign origin")
    except WebSocketDisconnect as exc:
        assert exc.code == 4403


def test_chat_streams_then_stored_messages_arrive_with_ids(client: TestClient) -> None:
    s = session(client, locale="zh-CN")
    cid = "a" * 32
    with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
        assert until(ws, "ready")["status"] == "new"
        ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": cid}))
        events = collect_until(ws, lambda e: e["type"] == "message" and e["message"]["role"] == "bot")
        kinds = [e["type"] for e in events]
        assert kinds[0] == "ack" and events[0]["turn_id"] == cid
        deltas = [e["text"] for e in events if e["type"] == "delta"]
        reply = next(e for e in events if e["type"] == "reply")
        assert len(deltas) >= 2 and "".join(deltas) == reply["text"] == "您好，有什么可以帮您？"
        stored = [e["message"] for e in events if e["type"] == "message"]
        assert [m["role"] for m in stored] == ["user", "bot"] and all(m["turn_id"] == cid for m in stored)
        # the same client id again (a resend after a dropped connection) is not answered twice
        ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": cid}))
        assert until(ws, "ack")["duplicate"] is True
    hist = client.get("/v1/widget/messages", headers={"Authorization": f"Bearer {s['token']}"}).json()
    assert [(m["role"], m["seq"]) for m in hist["messages"]] == [("user", 1), ("bot", 2)]
    later = client.get("/v1/widget/messages?after_seq=1", headers={"Authorization": f"Bearer {s['token']}"}).json()
    assert [m["seq"] for m in later["messages"]] == [2]


def test_feedback_from_the_widget(client: TestClient, db: Database) -> None:
    from csbot.storage.models import Feedback

    s = session(client)
    with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
        until(ws, "ready")
        ws.send_text(json.dumps({"type": "message", "text": "运费怎么算", "client_id": "b" * 32}))
        until(ws, "reply")
        ws.send_text(json.dumps({"type": "feedback", "turn_id": "b" * 32, "rating": "down"}))
        assert until(ws, "feedback_ok")["rating"] == "down"
        ws.send_text(json.dumps({"type": "feedback", "turn_id": "c" * 32, "rating": "up"}))
        assert until(ws, "error")["error"] == "not found"
    with db.session() as sess:
        assert [f.rating for f in sess.query(Feedback).all()] == [-1]


def test_visitor_rate_limit(settings: Any, db: Database, tenant: Tenant) -> None:
    from csbot.channels.config import ChannelSettings
    from tests.csbot.channels.conftest import make_client

    with make_client(settings, ChannelSettings(visitor_messages_per_min=2, dispatcher=False)) as client:
        s = session(client)
        with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
            until(ws, "ready")
            for i in range(2):
                ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": f"{i:032x}"}))
                until(ws, "reply")
            ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": "f" * 32}))
            err = until(ws, "error")
            assert err["status"] == 429 and 1 <= err["retry_after"] <= 60 and err["client_id"] == "f" * 32


def test_widget_script_is_served(client: TestClient) -> None:
    r = client.get("/widget.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"]
    assert "attachShadow" in r.text and "innerHTML" not in r.text.split("*/", 1)[1]


@pytest.mark.parametrize(("environment", "listed", "origin", "allowed"), [
    ("development", [], "http://any.example", True),
    ("production", [], "http://any.example", False),
    ("production", ["*"], "http://any.example", True),
    ("production", ["https://shop.example"], "https://shop.example", True),
    ("production", ["https://shop.example"], "https://SHOP.example/", True),
    ("production", ["https://shop.example"], "http://shop.example", False),
    ("production", ["https://shop.example"], None, True),
])
def test_origin_policy(environment: str, listed: list[str], origin: str | None, allowed: bool) -> None:
    from csbot.channels.origins import WidgetConfig, WidgetConfigCache

    cache = WidgetConfigCache(None, environment)  # type: ignore[arg-type]
    cfg = WidgetConfig("t", "T", "secret", tuple(listed))
    assert cache.allowed(cfg, origin) is allowed
