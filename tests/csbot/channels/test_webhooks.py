"""Webhooks against a real HTTP receiver: signatures, retries with back-off, order and ids, status API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from csbot.channels.config import ChannelSettings
from csbot.channels.webhooks import signature
from csbot.channels.webhooks.dispatcher import backoff_s
from csbot.config import Settings
from csbot.services import free_port
from csbot.storage.db import Database
from csbot.storage.models import Tenant
from tests.csbot.channels.conftest import make_client
from tests.csbot.channels.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def wait_for(cond: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def register(client: TestClient, key: str, url: str, events: list[str]) -> dict[str, str]:
    r = client.post("/v1/webhooks", json={"url": url, "events": events}, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text
    return r.json()


def test_signed_events_survive_two_failures_in_order(settings: Settings, db: Database, tenant: Tenant,
                                                     api_key: str, receiver: Receiver) -> None:
    receiver.fail_first = 2
    receiver.start()
    h = {"Authorization": f"Bearer {api_key}"}
    with make_client(settings, ChannelSettings(webhook_backoff_s=0.2, webhook_poll_s=0.05)) as client:
        hook = register(client, api_key, receiver.url, ["*"])
        reply = client.post("/v1/chat", json={"session_id": "wh1", "text": "运费怎么算"}, headers=h).json()
        wait_for(lambda: len(receiver.delivered()) == 2)
        deliveries = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=h).json()
    attempts = receiver.requests
    assert [r.status for r in attempts] == [500, 500, 200, 200]
    # the failed event is retried with the same event id and body, and nothing overtakes it
    assert len({r.headers["x-csbot-event-id"] for r in attempts[:3]}) == 1
    assert [r.headers["x-csbot-attempt"] for r in attempts[:3]] == ["1", "2", "3"]
    assert attempts[0].body == attempts[2].body
    bodies = [json.loads(r.body) for r in receiver.delivered()]
    assert [b["type"] for b in bodies] == ["conversation.created", "message.created"]
    assert all(b["data"]["conversation_id"] == reply["conversation_id"] for b in bodies)
    assert [m["role"] for m in bodies[1]["data"]["messages"]] == ["user", "bot"]
    assert bodies[1]["data"]["messages"][1]["text"] == "满99元包邮，不满收8元。"
    sequences = [int(r.headers["x-csbot-delivery"]) for r in receiver.delivered()]
    assert sequences == sorted(sequences)
    for r in receiver.delivered():
        assert signature.verify(hook["secret"], r.headers["x-csbot-signature"], r.body)
        assert not signature.verify(hook["secret"], r.headers["x-csbot-signature"], r.body + b" ")
        assert not signature.verify("whsec_wrong-secret-123", r.headers["x-csbot-signature"], r.body)
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert sorted(d["attempts"] for d in deliveries) == [1, 3]


def test_receiver_down_never_blocks_chat_and_is_given_up(settings: Settings, db: Database, tenant: Tenant,
                                                         api_key: str) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/hook"
    h = {"Authorization": f"Bearer {api_key}"}
    cs = ChannelSettings(webhook_backoff_s=0.1, webhook_poll_s=0.05, webhook_max_attempts=2, webhook_timeout_s=2)
    with make_client(settings, cs) as client:
        hook = register(client, api_key, dead_url, ["message.created"])
        started = time.perf_counter()
        for _ in range(3):
            assert client.post("/v1/chat", json={"session_id": "wh2", "text": "你好"}, headers=h).status_code == 200
        assert time.perf_counter() - started < 3

        def all_failed() -> bool:
            ds = client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=h).json()
            return len(ds) == 3 and all(d["status"] == "failed" for d in ds)

        wait_for(all_failed)
        ds = client.get(f"/v1/webhooks/{hook['id']}/deliveries?status=failed", headers=h).json()
        assert all(d["attempts"] == 2 and "ConnectError" in (d["last_error"] or "") for d in ds)
        again = client.post(f"/v1/webhooks/{hook['id']}/deliveries/{ds[0]['id']}/redeliver", headers=h)
        assert again.status_code == 202


def test_only_subscribed_events_are_sent(settings: Settings, db: Database, tenant: Tenant, api_key: str,
                                         receiver: Receiver, operator_user: dict[str, str]) -> None:
    receiver.start()
    h = {"Authorization": f"Bearer {api_key}"}
    with make_client(settings) as client:
        register(client, api_key, receiver.url, ["handoff.requested", "handoff.accepted"])
        first = client.post("/v1/chat", json={"session_id": "wh3", "text": "你好"}, headers=h).json()
        client.post(f"/v1/conversations/{first['conversation_id']}/handoff", json={"reason": "test"}, headers=h)
        token = client.post("/v1/operator/login", json=operator_user).json()["token"]
        client.post(f"/v1/operator/conversations/{first['conversation_id']}/accept",
                    headers={"Authorization": f"Bearer {token}"})
        wait_for(lambda: len(receiver.delivered()) == 2)
        time.sleep(0.3)
    types = [json.loads(r.body)["type"] for r in receiver.requests]
    assert types == ["handoff.requested", "handoff.accepted"]
    assert json.loads(receiver.requests[1].body)["data"]["operator"] == "alice"


def test_registration_validates_and_is_per_tenant(client: TestClient, db: Database, api_key: str) -> None:
    from csbot.tenants import create_api_key

    h = {"Authorization": f"Bearer {api_key}"}
    bad = client.post("/v1/webhooks", json={"url": "ftp://x", "events": ["*"]}, headers=h)
    assert bad.status_code == 422
    bad_event = client.post("/v1/webhooks", json={"url": "http://x.example/h", "events": ["nope"]}, headers=h)
    assert bad_event.status_code == 422
    hook = register(client, api_key, "http://x.example/h", ["feedback.given"])
    assert "secret" not in client.get("/v1/webhooks", headers=h).json()[0]
    other = {"Authorization": f"Bearer {create_api_key(db, 'other')}"}
    assert client.get(f"/v1/webhooks/{hook['id']}", headers=other).status_code == 404
    assert client.delete(f"/v1/webhooks/{hook['id']}", headers=h).status_code == 204
    no_scope = {"Authorization": f"Bearer {create_api_key(db, 'acme', scopes=['chat'])}"}
    assert client.get("/v1/webhooks", headers=no_scope).status_code == 403


@pytest.mark.parametrize(("attempts", "expected"), [(1, 5.0), (2, 10.0), (3, 20.0), (20, 3600.0)])
def test_backoff_doubles_up_to_the_cap(attempts: int, expected: float) -> None:
    assert backoff_s(attempts, ChannelSettings()) == expected


def test_signature_rejects_old_timestamps() -> None:
    body = b'{"id":"x"}'
    old = signature.sign("s" * 20, body, timestamp=int(time.time()) - 3600)
    assert not signature.verify("s" * 20, old, body)
    assert signature.verify("s" * 20, signature.sign("s" * 20, body), body)
