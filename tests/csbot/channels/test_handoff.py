"""Live handoff: queue, accept, operator messages reaching the widget live, release, close, restarts."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.models import Tenant
from tests.csbot.channels.conftest import SHOP_ORIGIN, make_client
from tests.csbot.channels.test_widget_api import collect_until, session, until


def login(client: TestClient, user: dict[str, str]) -> dict[str, str]:
    token = client.post("/v1/operator/login", json=user).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def test_handoff_round_trip(client: TestClient, operator_user: dict[str, str]) -> None:
    op = login(client, operator_user)
    s = session(client, locale="zh-CN")
    with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
        until(ws, "ready")
        ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": "1" * 32}))
        until(ws, "reply")
        ws.send_text(json.dumps({"type": "handoff"}))
        status = until(ws, "status")
        assert status == {"type": "status", "status": "handoff", "operator": None}

        queue = client.get("/v1/operator/queue", headers=op).json()
        assert [q["session_id"] for q in queue["waiting"]] == [s["session_id"]]
        conv_id = queue["waiting"][0]["conversation_id"]
        assert queue["waiting"][0]["wait_s"] >= 0 and queue["waiting"][0]["last_message"] == "你好"

        assert client.post(f"/v1/operator/conversations/{conv_id}/messages", json={"text": "在吗"},
                           headers=op).status_code == 409, "must accept before answering"
        acc = client.post(f"/v1/operator/conversations/{conv_id}/accept", headers=op)
        assert acc.status_code == 200 and acc.json()["operator"] == "alice"
        st = until(ws, "status")
        assert st["operator"] == "小爱", "the customer sees who answers"

        sent = client.post(f"/v1/operator/conversations/{conv_id}/messages", json={"text": "您好，我是小爱"}, headers=op)
        assert sent.status_code == 201
        got = collect_until(ws, lambda e: e["type"] == "message" and e["message"]["role"] == "operator")[-1]
        assert got["message"]["text"] == "您好，我是小爱" and got["message"]["author"] == "小爱"
        assert got["message"]["id"] == sent.json()["id"]

        # the bot stays silent while the operator owns the conversation
        ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": "2" * 32}))
        reply = until(ws, "reply")
        assert reply["silent"] is True and reply["text"] == ""

        rel = client.post(f"/v1/operator/conversations/{conv_id}/release", headers=op)
        assert rel.status_code == 200 and rel.json()["status"] == "open"
        assert until(ws, "status")["status"] == "open"
        ws.send_text(json.dumps({"type": "message", "text": "你好", "client_id": "3" * 32}))
        assert until(ws, "reply")["text"] == "您好，有什么可以帮您？", "the bot answers again after release"

    detail = client.get(f"/v1/operator/conversations/{conv_id}", headers=op).json()
    roles = [m["role"] for m in detail["messages"]]
    assert roles.count("operator") == 1 and roles.count("bot") == 2 and roles.count("system") == 3


def test_second_operator_cannot_take_an_accepted_conversation(client: TestClient, db: Database,
                                                              operator_user: dict[str, str]) -> None:
    from csbot.channels.operators import create_console_user

    create_console_user(db, "acme", "bob", "bob password", "operator", "Bob")
    alice, bob = login(client, operator_user), login(client, {"tenant": "acme", "username": "bob",
                                                              "password": "bob password"})
    annotator = login(client, {"tenant": "acme", "username": "ann", "password": "annotator pw"})
    s = session(client)
    with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
        until(ws, "ready")
        ws.send_text(json.dumps({"type": "handoff"}))
        until(ws, "status")
    conv_id = client.get("/v1/operator/queue", headers=alice).json()["waiting"][0]["conversation_id"]
    assert client.get("/v1/operator/queue", headers=annotator).status_code == 403
    assert client.post(f"/v1/operator/conversations/{conv_id}/accept", headers=alice).status_code == 200
    assert client.post(f"/v1/operator/conversations/{conv_id}/accept", headers=bob).status_code == 409
    assert client.get("/v1/operator/queue", headers=bob).json()["waiting"] == []
    assert [q["conversation_id"] for q in client.get("/v1/operator/queue", headers=alice).json()["mine"]] == [conv_id]


def test_operator_messages_survive_a_server_restart(settings: Settings, db: Database, tenant: Tenant,
                                                    operator_user: dict[str, str]) -> None:
    """The widget is disconnected while the server restarts and the operator writes; it catches up by seq."""
    with make_client(settings) as first:
        s = session(first)
        op = login(first, operator_user)
        with first.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
            until(ws, "ready")
            ws.send_text(json.dumps({"type": "handoff"}))
            until(ws, "status")
        conv_id = first.get("/v1/operator/queue", headers=op).json()["waiting"][0]["conversation_id"]
        first.post(f"/v1/operator/conversations/{conv_id}/accept", headers=op)
        seen = first.get("/v1/widget/messages", headers={"Authorization": f"Bearer {s['token']}"}).json()
        last_seq = max(m["seq"] for m in seen["messages"])
    with make_client(settings) as second:  # a new process: nothing in memory survived
        for text in ("订单已经帮您查到", "明天送达"):
            assert second.post(f"/v1/operator/conversations/{conv_id}/messages", json={"text": text},
                               headers=op).status_code == 201
        with second.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
            ready = until(ws, "ready")
            assert ready["status"] == "handoff" and ready["operator"] == "小爱"
            ws.send_text(json.dumps({"type": "sync", "after_seq": last_seq}))
            synced = until(ws, "sync")
    texts: list[Any] = [m["text"] for m in synced["messages"]]
    assert texts == ["订单已经帮您查到", "明天送达"]


def test_close_by_operator(client: TestClient, operator_user: dict[str, str]) -> None:
    op = login(client, operator_user)
    s = session(client)
    with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
        until(ws, "ready")
        ws.send_text(json.dumps({"type": "handoff"}))
        until(ws, "status")
        conv_id = client.get("/v1/operator/queue", headers=op).json()["waiting"][0]["conversation_id"]
        assert client.post(f"/v1/operator/conversations/{conv_id}/close", headers=op).json()["status"] == "closed"
        assert until(ws, "status")["status"] == "closed"
    assert client.get("/v1/operator/queue", headers=op).json()["waiting"] == []


def test_operator_event_socket_sees_its_tenant_only(client: TestClient, db: Database, settings: Settings,
                                                    operator_user: dict[str, str]) -> None:
    import redis
    from starlette.websockets import WebSocketDisconnect

    from tests.conftest import REDIS_URL

    token = client.post("/v1/operator/login", json=operator_user).json()["token"]
    try:
        with client.websocket_connect("/v1/operator/ws?token=bad") as bad:
            bad.receive_text()
        raise AssertionError("accepted a bad token")
    except WebSocketDisconnect as exc:
        assert exc.code == 4401
    s = session(client)
    with client.websocket_connect(f"/v1/operator/ws?token={token}") as ops:
        ops.send_text("ping")
        assert json.loads(ops.receive_text())["type"] == "pong"
        r = redis.Redis.from_url(REDIS_URL)
        r.publish(f"{settings.redis_prefix}:events:conversation",
                  json.dumps({"id": "x", "type": "handoff.requested", "tenant_id": "other", "at": 0, "data": {}}))
        r.close()
        with client.websocket_connect(f"/v1/widget/ws?token={s['token']}", headers={"Origin": SHOP_ORIGIN}) as ws:
            until(ws, "ready")
            ws.send_text(json.dumps({"type": "handoff"}))
            until(ws, "status")
        seen = [json.loads(ops.receive_text()) for _ in range(2)]
    assert [e["type"] for e in seen] == ["message.created", "handoff.requested"]
    assert all(e["tenant_id"] == "acme" for e in seen)
