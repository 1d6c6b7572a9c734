"""The HTTP API end to end (real Redis, real SQLite), every refusal path included."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.config import Settings
from csbot.storage.db import Database
from csbot.tenants import create_api_key, create_tenant, revoke_api_key
from tests.csbot.spine_bots import KeywordBot, StreamBot, registry


@pytest.fixture
def keys(db: Database) -> dict[str, str]:
    create_tenant(db, "acme")
    create_tenant(db, "other")
    return {
        "acme": create_api_key(db, "acme"),
        "other": create_api_key(db, "other"),
        "revoked": create_api_key(db, "acme"),
        "kb_only": create_api_key(db, "acme", scopes=["kb"]),
    }


@pytest.fixture
def client(settings: Settings, db: Database, keys: dict[str, str]) -> Iterator[TestClient]:
    revoke_api_key(db, keys["revoked"])
    reg = registry(KeywordBot("kb", "运费", 0.9, answer="满99元包邮，不满收8元。"),
                   StreamBot("chat", "你好", 0.8, ["您好", "，有什么", "可以帮您？"]))
    with TestClient(create_app(settings, registry=reg, plugins=False)) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_chat_returns_the_contract_fields(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/chat", json={"session_id": "s1", "text": "运费怎么算", "user_id": "u1", "locale": "zh-CN"},
                    headers=auth(keys["acme"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert {"text", "kind", "suggestions", "source", "confidence", "trace_id"} <= set(body)
    assert body["text"] == "满99元包邮，不满收8元。" and body["kind"] == "answer" and body["source"]["bot"] == "kb"


def test_history_feedback_and_handoff(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["acme"])
    first = client.post("/v1/chat", json={"session_id": "s2", "text": "运费怎么算"}, headers=h).json()
    hist = client.get(f"/v1/conversations/{first['conversation_id']}", headers=h).json()
    assert [m["role"] for m in hist["messages"]] == ["user", "bot"]
    assert client.get("/v1/conversations/s2", headers=h).json()["id"] == first["conversation_id"]
    fb = client.post("/v1/feedback", json={"turn_id": first["turn_id"], "rating": "down", "comment": "太慢"}, headers=h)
    assert fb.status_code == 201 and fb.json()["rating"] == "down"
    ho = client.post(f"/v1/conversations/{first['conversation_id']}/handoff", json={}, headers=h)
    assert ho.status_code == 200 and ho.json()["status"] == "handoff"
    silent = client.post("/v1/chat", json={"session_id": "s2", "text": "运费怎么算"}, headers=h).json()
    assert silent["kind"] == "handoff" and silent["silent"] and silent["text"] == ""


def test_stream_ends_with_same_text_as_json(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["acme"])
    plain = client.post("/v1/chat", json={"session_id": "p", "text": "你好"}, headers=h).json()
    with client.stream("POST", "/v1/chat/stream", json={"session_id": "q", "text": "你好"}, headers=h) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        raw = "".join(r.iter_text())
    events = [(blk.split("\n")[0][7:], json.loads(blk.split("\n")[1][6:])) for blk in raw.strip().split("\n\n")]
    deltas = "".join(d["text"] for e, d in events if e == "delta")
    assert events[-1][0] == "final" and len(events) > 2
    assert deltas == events[-1][1]["text"] == plain["text"]


def test_websocket_chat(client: TestClient, keys: dict[str, str]) -> None:
    with client.websocket_connect(f"/v1/ws?api_key={keys['acme']}") as ws:
        ws.send_text(json.dumps({"type": "message", "session_id": "w1", "text": "运费"}))
        msgs = []
        while True:
            m = ws.receive_json()
            msgs.append(m)
            if m["type"] == "reply":
                break
        assert msgs[-1]["text"] == "满99元包邮，不满收8元。"
        ws.send_text("{not json")
        assert ws.receive_json()["type"] == "error"
        # a message re-sent with its message_id gets the first reply back, not a second turn
        replies = []
        for _ in range(2):
            ws.send_text(json.dumps({"type": "message", "session_id": "w1", "text": "运费", "message_id": "w-1"}))
            while (m := ws.receive_json())["type"] != "reply":
                pass
            replies.append(m)
        assert replies[0]["turn_id"] == replies[1]["turn_id"]


def test_websocket_refuses_bad_key(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as exc:
        with client.websocket_connect("/v1/ws?api_key=csk_nope_nope") as ws:
            ws.receive_json()
    assert exc.value.code == 4401


@pytest.mark.parametrize(
    ("case", "status", "needle"),
    [
        ("missing key", 401, "missing API key"),
        ("wrong key", 401, "invalid or revoked"),
        ("revoked key", 401, "invalid or revoked"),
        ("scope", 403, "'chat' scope"),
        ("empty text", 422, "text"),
        ("blank text", 422, "whitespace"),
        ("too long text", 422, "limit is"),
        ("malformed json", 422, "json"),
        ("not an object", 422, "body"),
        ("unknown field", 422, "extra"),
        ("bad session id", 422, "session_id"),
        ("bad locale", 422, "locale"),
        ("missing text", 422, "text"),
        ("body too large", 413, "limit"),
    ],
)
def test_chat_refuses_bad_input_with_clear_4xx(client: TestClient, keys: dict[str, str], case: str, status: int,
                                               needle: str) -> None:
    body: object = {"session_id": "s", "text": "运费"}
    headers = auth(keys["acme"])
    content: bytes | None = None
    match case:
        case "missing key":
            headers = {}
        case "wrong key":
            headers = auth("csk_0000_notakey")
        case "revoked key":
            headers = auth(keys["revoked"])
        case "scope":
            headers = auth(keys["kb_only"])
        case "empty text":
            body = {"session_id": "s", "text": ""}
        case "blank text":
            body = {"session_id": "s", "text": "   \n"}
        case "too long text":
            body = {"session_id": "s", "text": "运" * 2001}
        case "malformed json":
            content = b'{"session_id": "s", "text": '
        case "not an object":
            content = b'["x"]'
        case "unknown field":
            body = {"session_id": "s", "text": "hi", "tenant": "other"}
        case "bad session id":
            body = {"session_id": "a b/c", "text": "hi"}
        case "bad locale":
            body = {"session_id": "s", "text": "hi", "locale": "klingon"}
        case "missing text":
            body = {"session_id": "s"}
        case "body too large":
            content = json.dumps({"session_id": "s", "text": "x" * 70_000}).encode()
    if content is not None:
        r = client.post("/v1/chat", content=content, headers={**headers, "Content-Type": "application/json"})
    else:
        r = client.post("/v1/chat", json=body, headers=headers)
    assert r.status_code == status, r.text
    assert needle.lower() in r.text.lower()
    assert "error" in r.json()


def test_other_paths_refuse_clearly(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["acme"])
    turn = client.post("/v1/chat", json={"session_id": "mine", "text": "运费"}, headers=h).json()
    other = auth(keys["other"])
    assert client.get(f"/v1/conversations/{turn['conversation_id']}", headers=other).status_code == 404
    assert client.get("/v1/conversations/nope", headers=h).status_code == 404
    r = client.post("/v1/feedback", json={"turn_id": turn["turn_id"], "rating": "up"}, headers=other)
    assert r.status_code == 404
    assert client.post("/v1/feedback", json={"turn_id": "t", "rating": "meh"}, headers=h).status_code == 422
    assert client.post("/v1/conversations/nope/handoff", json={}, headers=h).status_code == 404
    assert client.get("/v1/chat", headers=h).status_code == 405


def test_health_ready_metrics(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    client.post("/v1/chat", json={"session_id": "m", "text": "运费"}, headers=auth(keys["acme"]))
    text = client.get("/metrics").text
    assert 'csbot_turns_total{route="kb"}' in text and "csbot_turn_latency_seconds_bucket" in text


def test_openapi_documents_the_contract(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/chat", "/v1/chat/stream", "/v1/feedback", "/v1/conversations/{conversation_id}"} <= set(spec["paths"])
    props = spec["components"]["schemas"]["ChatResponse"]["properties"]
    assert {"text", "kind", "suggestions", "source", "confidence", "trace_id"} <= set(props)


def test_a_retried_message_id_gets_the_first_reply_and_stores_one_turn(client: TestClient, keys: dict[str, str]) -> None:
    h = auth(keys["acme"])
    msg = {"session_id": "retry", "text": "运费怎么算", "message_id": "m-1"}
    first = client.post("/v1/chat", json=msg, headers=h)
    again = client.post("/v1/chat", json=msg, headers=h)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    # the stream endpoint replays it too (one delta with the whole text, then the same final)
    with client.stream("POST", "/v1/chat/stream", json=msg, headers=h) as r:
        events = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert json.loads(events[-1][6:])["turn_id"] == first.json()["turn_id"]
    hist = client.get(f"/v1/conversations/{first.json()['conversation_id']}", headers=h).json()
    assert [m["role"] for m in hist["messages"]] == ["user", "bot"]
    # a new id is a new message; the same id in another conversation is another message
    client.post("/v1/chat", json={**msg, "message_id": "m-2"}, headers=h)
    other = client.post("/v1/chat", json={**msg, "session_id": "retry-2"}, headers=h).json()
    assert other["turn_id"] != first.json()["turn_id"]
    hist = client.get(f"/v1/conversations/{first.json()['conversation_id']}", headers=h).json()
    assert [m["role"] for m in hist["messages"]] == ["user", "bot", "user", "bot"]
    bad = client.post("/v1/chat", json={**msg, "message_id": "has space"}, headers=h)
    assert bad.status_code == 422 and "message_id" in bad.text


async def test_a_message_id_claim_blocks_retries_until_stored_or_released(settings: Settings) -> None:
    from fastapi import HTTPException
    from redis.asyncio import Redis

    from csbot.api.idempotency import MessageReplay
    from csbot.api.schemas import ChatResponse

    redis = Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        first, retry = (MessageReplay(redis, f"{settings.redis_prefix}:msg:t:s:1") for _ in range(2))
        assert await first.claim() is None  # this request runs the turn
        with pytest.raises(HTTPException) as exc:
            await retry.claim()  # the first is still running
        assert exc.value.status_code == 409
        await first.release()  # the first attempt failed: the retry runs the turn
        assert await retry.claim() is None
        reply = ChatResponse(text="ok", kind="answer", suggestions=[], source={"bot": "kb"}, confidence=0.9,
                             trace_id="t", turn_id="1", conversation_id="c", session_id="s")
        await retry.store(reply)
        assert await first.claim() == reply
    finally:
        await redis.aclose()
