"""Abuse of a real server (uvicorn run with the options of `csbot serve`): oversized and deeply nested
bodies, slow and oversized headers, and floods of widget sessions and API requests are refused or
limited with a clear answer, and the service keeps answering everyone else meanwhile and afterwards.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from csbot.channels.config import ChannelSettings
from csbot.storage.models import Tenant
from tests.security.conftest import Stack, bearer

SHOP = "http://shop.example"
#: a short header timeout, so the slowloris test sees the server cut slow clients off
STACK_SETTINGS = {"server": {"header_timeout_s": 3.0}}


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=30) as c:
        yield c


def still_serving(client: httpx.Client, stack: Stack, session: str = "ok") -> None:
    """A normal customer turn still gets its answer."""
    r = client.post("/v1/chat", headers=bearer(stack.keys["other"]), json={"session_id": session, "text": "你好"})
    assert r.status_code == 200 and r.json()["text"] == "您好，有什么可以帮您？", r.text


def test_oversized_bodies_get_413(stack: Stack, client: httpx.Client) -> None:
    limit = stack.settings.pipeline.max_body_bytes
    big = '{"session_id": "s", "text": "' + "x" * limit + '"}'
    r = client.post("/v1/chat", headers={**bearer(stack.keys["acme"]), "content-type": "application/json"},
                    content=big)
    assert r.status_code == 413
    assert r.json() == {"error": "request too large",
                        "detail": f"request body is {len(big)} bytes; the limit is {limit}"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096

    r = client.post("/v1/kb/items", headers={**bearer(stack.keys["acme"]), "content-type": "application/json"},
                    content=chunks())
    assert r.status_code == 413 and f"limit of {limit} bytes" in r.json()["detail"]
    port = int(stack.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:  # clients refuse to send this
        sock.sendall(b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 12x\r\n\r\n{}")
        assert sock.recv(100).startswith(b"HTTP/1.1 400")
    still_serving(client, stack)


@pytest.mark.parametrize("depth", [50, 1_000, 30_000])
def test_deeply_nested_json_is_refused_cleanly(stack: Stack, client: httpx.Client, depth: int) -> None:
    key = {**bearer(stack.keys["acme"]), "content-type": "application/json"}
    nested = "[" * depth + "]" * depth
    targets = [
        ("POST", "/v1/chat", '{"session_id": "s", "text": "hi", "extra": ' + nested + "}"),
        ("POST", "/v1/chat", nested),
        ("PATCH", "/v1/crm/contacts/u1", '{"attributes": {"a": ' + nested + "}}"),
        ("POST", "/v1/webhooks", '{"url": "http://127.0.0.1:9/", "events": ' + nested + "}"),
        ("POST", "/v1/kb/items", '{"id": "n", "question": "q", "answer": "a", "tags": ' + nested + "}"),
        ("POST", "/v1/operator/login", '{"tenant": ' + nested + "}"),
    ]
    for method, path, body in targets:
        r = client.request(method, path, headers=key, content=body)
        assert r.status_code in (400, 422), f"{method} {path} depth {depth}: {r.status_code} {r.text[:200]}"
        assert r.json()["error"] in ("bad request", "invalid request")
    # the chat socket answers a nested message with an error and stays usable
    with connect(f"{stack.url.replace('http', 'ws')}/v1/ws?api_key={stack.keys['acme']}") as ws:
        ws.send('{"type": "message", "session_id": "n", "text": ' + nested + "}")
        assert '"error"' in ws.recv(timeout=30)
        ws.send('{"type": "message", "session_id": "n", "text": "你好"}')
        replies = [ws.recv(timeout=30) for _ in range(4)]
        assert any(json.loads(m)["type"] == "reply" for m in replies), replies
    still_serving(client, stack)


def _slow_client(port: int, stop: threading.Event, sent: list[int], cut: list[float]) -> None:
    """Slowloris: a request whose headers arrive a byte at a time and never end; records after how
    long the server cut it off."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 10_000
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for i in range(len(head)):
                if stop.is_set():
                    return
                s.sendall(head[i:i + 1])
                sent[0] += 1
                time.sleep(0.05)
    except OSError:  # reset or closed by the server
        cut.append(time.monotonic() - t0)


@pytest.mark.slow
def test_slow_clients_do_not_stop_the_service(stack: Stack, client: httpx.Client) -> None:
    port = int(stack.url.rsplit(":", 1)[1])
    timeout = stack.settings.server.header_timeout_s
    stop, sent, cut = threading.Event(), [0], []
    slow = [threading.Thread(target=_slow_client, args=(port, stop, sent, cut), daemon=True) for _ in range(40)]
    for t in slow:
        t.start()
    try:
        time.sleep(0.5)
        latencies = []
        for i in range(8):
            t0 = time.monotonic()
            assert client.get("/healthz").status_code == 200
            still_serving(client, stack, session=f"slowloris-{i}")
            latencies.append(time.monotonic() - t0)
            time.sleep(0.1)
        assert sent[0] > 40 * 5, "the slow clients were not sending"
        assert max(latencies) < 10, latencies
        # every slow client is disconnected once the header timeout passes
        deadline = time.monotonic() + timeout + 10
        while len(cut) < len(slow) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(cut) == len(slow), f"{len(cut)} of {len(slow)} slow clients cut off"
        assert timeout - 0.5 < min(cut) and max(cut) < timeout + 10, cut
    finally:
        stop.set()
        for t in slow:
            t.join(5)
    # headers beyond the limit end the connection with an error instead of filling memory
    limit = stack.settings.server.max_header_bytes
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (limit * 2))
        answer = s.recv(200)
    assert answer == b"" or answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), answer
    # an idle keep-alive connection is closed after server.keep_alive_s
    with socket.create_connection(("127.0.0.1", port), timeout=stack.settings.server.keep_alive_s + 10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert s.recv(4096) == b""  # closed by the server
        assert time.monotonic() - t0 < stack.settings.server.keep_alive_s + 5
    still_serving(client, stack)


def test_session_floods_are_limited(stack: Stack, client: httpx.Client) -> None:
    with stack.db.session() as s:
        row = s.get(Tenant, "acme")
        assert row is not None
        row.settings = {**(row.settings or {}), "allowed_origins": [SHOP]}
    stack.app.state.channel_settings = ChannelSettings(sessions_per_min=5, api_key_requests_per_min=25,
                                                       dispatcher=False)
    try:
        # one address opening widget sessions: 5 a minute, then 429 with Retry-After (and CORS, so the
        # widget on the shop's page can read it)
        statuses = []
        for _ in range(8):
            r = client.post("/v1/widget/session", headers={"origin": SHOP}, json={"tenant": "acme"})
            statuses.append(r.status_code)
        assert statuses == [200] * 5 + [429] * 3, statuses
        assert 0 < int(r.headers["retry-after"]) <= 60
        assert r.headers["access-control-allow-origin"] == SHOP
        assert "widget sessions" in r.json()["detail"]
        # one API key opening conversation after conversation: its budget runs out, others' does not
        codes = [client.post("/v1/chat", headers=bearer(stack.keys["acme"]),
                             json={"session_id": f"flood-{i}", "text": "你好"}).status_code for i in range(30)]
        assert codes.count(200) <= 25 and codes[-1] == 429, codes
        r = client.post("/v1/chat", headers=bearer(stack.keys["acme"]), json={"session_id": "x", "text": "你好"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "per minute" in r.json()["detail"]
        still_serving(client, stack, session="after-flood")
        assert client.get("/healthz").status_code == 200
    finally:
        stack.app.state.channel_settings = None


def test_websocket_message_over_the_body_limit_closes_the_socket(stack: Stack, client: httpx.Client) -> None:
    from websockets.exceptions import ConnectionClosed

    ws_url = f"{stack.url.replace('http', 'ws')}/v1/ws?api_key={stack.keys['other']}"
    with connect(ws_url, max_size=None) as ws:
        ws.send('{"type": "message", "session_id": "big", "text": "' + "x" * stack.settings.pipeline.max_body_bytes + '"}')
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    still_serving(client, stack, session="after-big-ws")


def test_sign_in_guessing_is_throttled(stack: Stack, client: httpx.Client) -> None:
    from tests.security.conftest import PASSWORD

    stack.app.state.channel_settings = ChannelSettings(login_attempts_per_5min=3, dispatcher=False)
    try:
        codes = [client.post("/v1/operator/login", json={"tenant": "other", "username": "other-annotator",
                                                         "password": f"guess-{i}"}).status_code for i in range(4)]
        assert codes == [401, 401, 401, 429], codes
        # refused even with the right password until the window passes; another account is unaffected
        r = client.post("/v1/operator/login",
                        json={"tenant": "other", "username": "other-annotator", "password": PASSWORD})
        assert r.status_code == 429 and 0 < int(r.headers["retry-after"]) <= 300
        r = client.post("/v1/operator/login",
                        json={"tenant": "other", "username": "other-operator", "password": PASSWORD})
        assert r.status_code == 200
    finally:
        stack.app.state.channel_settings = None


def test_connections_past_the_limit_get_503(settings: Any, db: Any) -> None:
    """Held connections (slow or idle clients) count against `server.limit_concurrency`: past it a worker
    answers 503 at once instead of queueing, and serves again once they are gone."""
    from csbot.api.app import create_app
    from csbot.api.server import uvicorn_options
    from csbot.bots import BotRegistry
    from tests.security.conftest import serve

    st = settings.model_copy(update={"server": settings.server.model_copy(update={"limit_concurrency": 4})})
    with serve(create_app(st, registry=BotRegistry(bots={}), plugins=False), **uvicorn_options(st)) as url:
        port = int(url.rsplit(":", 1)[1])
        held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(5)]
        try:
            for s in held:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a")  # headers never finished
            time.sleep(0.5)
            r = httpx.get(f"{url}/healthz", timeout=10)
            assert r.status_code == 503  # uvicorn's own plain-text "Service Unavailable"
        finally:
            for s in held:
                s.close()
        time.sleep(0.5)
        assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
