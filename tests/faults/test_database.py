"""PostgreSQL briefly unreachable (a TCP proxy in front of it, killed and restarted).

Requests fail with 503, a clear message and `Retry-After`; a turn is never half-written (a bot
message exists only with its completed turn row); the same process recovers without a restart.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.config import Settings
from csbot.recovery import INTERRUPTED_ERROR, close_interrupted
from csbot.sessions import DialogueState
from csbot.storage.db import Database
from csbot.storage.migrate import upgrade
from csbot.storage.models import Message, TurnLog
from csbot.tenants import create_api_key, create_tenant
from csbot.types import Reply, Turn
from tests.csbot.spine_bots import KeywordBot, registry

from .conftest import Proc, report, tcp_proxy

pytestmark = pytest.mark.slow


class SlowBot(KeywordBot):
    """Takes a while to answer, so the database can go away between accept and complete."""

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        await asyncio.sleep(1.5)
        return await super().reply(turn, state, hint)


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[tuple[str, Proc]]:
    """The schema migrated directly; csbot reaches it only through the proxy."""
    upgrade(pg_url)
    url = sa.make_url(pg_url)
    proxy = tcp_proxy(url.host or "127.0.0.1", url.port or 5432, tmp_path)
    proxy.start()
    yield pg_url.replace(f":{url.port or 5432}/", f":{proxy.port}/", 1), proxy
    proxy.kill()


def test_database_outage_is_503_without_half_written_turns_and_recovers(settings: Settings, pg_url: str,
                                                                         pg: tuple[str, Proc]) -> None:
    via_proxy, proxy = pg
    direct = Database(pg_url)
    create_tenant(direct, "acme")
    key = create_api_key(direct, "acme")
    h = {"Authorization": f"Bearer {key}"}
    app_settings = settings.model_copy(update={"database_url": via_proxy})
    reg = registry(KeywordBot("kb", "运费", 0.9, answer="满99元包邮。"), SlowBot("task", "慢", 0.9, answer="好的。"))
    ok_turns: list[str] = []
    with TestClient(create_app(app_settings, registry=reg, plugins=False)) as client:
        r = client.post("/v1/chat", json={"session_id": "s1", "text": "运费多少"}, headers=h)
        assert r.status_code == 200, r.text
        ok_turns.append(r.json()["turn_id"])

        # down before the turn starts: nothing is written, the client is told to retry
        proxy.kill()
        r = client.post("/v1/chat", json={"session_id": "s1", "text": "运费呢"}, headers=h)
        assert r.status_code == 503, r.text
        assert r.headers["Retry-After"].isdigit()
        assert r.json() == {"error": "service unavailable", "detail": "the database is unavailable; retry shortly"}
        assert key not in r.text and "postgres" not in r.text.lower()  # no DSN, no secret
        with client.stream("POST", "/v1/chat/stream", json={"session_id": "s1", "text": "运费?"}, headers=h) as sr:
            assert sr.status_code == 503  # refused before the stream starts, not a broken stream
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith("error")

        # back, then down again while the bot is thinking (after accept, before complete)
        proxy.start()
        box: dict[str, httpx.Response] = {}
        worker = threading.Thread(target=lambda: box.setdefault(
            "r", client.post("/v1/chat", json={"session_id": "s2", "text": "慢慢来"}, headers=h)))
        worker.start()
        time.sleep(0.8)
        proxy.kill()
        worker.join(30)
        assert box["r"].status_code == 503, box["r"].text

        # recovery in the same process: the pool re-connects (pre-ping) as soon as the DB is back
        t0 = time.monotonic()
        proxy.start()
        while True:
            r = client.post("/v1/chat", json={"session_id": "s1", "text": "运费怎么算"}, headers=h)
            if r.status_code == 200:
                break
            assert r.status_code == 503 and time.monotonic() - t0 < 20, r.text
            time.sleep(0.1)
        report("database back -> first 200 (same process)", time.monotonic() - t0)
        ok_turns.append(r.json()["turn_id"])
        assert client.get("/readyz").json()["checks"]["database"] == "ok"

    with direct.session() as s:
        turns = {t.id: t for t in s.scalars(sa.select(TurnLog))}
        msgs = list(s.scalars(sa.select(Message)))
    # what a later start-up does with it (there with a 5 min margin): closed as interrupted, words kept
    assert close_interrupted(direct, older_than_s=0) == 1
    with direct.session() as s:
        closed = s.scalars(sa.select(TurnLog).where(TurnLog.user_text == "慢慢来")).one()
        assert closed.status == "failed" and closed.error == INTERRUPTED_ERROR
    direct.dispose()
    bot_msgs = {m.turn_id for m in msgs if m.role == "bot"}
    user_msgs = {m.turn_id for m in msgs if m.role == "user"}
    for tid in ok_turns:  # every 200 is fully logged
        assert turns[tid].status == "done" and tid in bot_msgs and tid in user_msgs
    for tid in bot_msgs:  # no bot message without its completed turn
        assert turns[tid].status == "done"
    for tid, t in turns.items():  # a turn is done with both messages, or pending with the user's words only
        assert t.status in ("done", "pending"), (tid, t.status)
        assert tid in user_msgs
        assert (t.status == "done") == (tid in bot_msgs)
    # the turn cut off mid-way kept what the customer said
    assert [t.user_text for t in turns.values() if t.status == "pending"] == ["慢慢来"]
