"""Storage on both databases we support: SQLite (default) and PostgreSQL (by URL)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from csbot.conversations import ConversationLog
from csbot.sessions import DialogueState, StateStore
from csbot.storage.db import Database
from csbot.storage.migrate import upgrade
from csbot.storage.models import ApiKey, Message, TurnLog
from csbot.tenants import KeyVerifier, TenantError, create_api_key, create_tenant, hash_key, revoke_api_key
from csbot.types import Reply, ReplyKind, Source, Turn
from tests.conftest import REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> Database:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


def test_tenant_create_is_idempotent_and_validated(database: Database) -> None:
    assert create_tenant(database, "shop-1")[1] is True
    assert create_tenant(database, "shop-1")[1] is False
    with pytest.raises(TenantError, match="invalid tenant id"):
        create_tenant(database, "Bad Tenant!")


def test_api_keys_are_hashed_verified_and_revocable(database: Database) -> None:
    create_tenant(database, "t1")
    key = create_api_key(database, "t1")
    with database.session() as s:
        stored = s.scalars(select(ApiKey.key_hash)).all()
    assert stored == [hash_key(key)] and key not in stored
    verifier = KeyVerifier(database, ttl_s=0)
    principal = verifier.verify(key)
    assert principal is not None and principal.tenant_id == "t1"
    assert revoke_api_key(database, key)
    assert verifier.verify(key) is None
    with pytest.raises(TenantError, match="unknown tenant"):
        create_api_key(database, "ghost")


def test_conversation_log_keeps_order_and_masks(database: Database) -> None:
    create_tenant(database, "t1")
    log = ConversationLog(database)
    turns = [Turn(tenant_id="t1", session_id="s", text=f"问题{i}") for i in range(3)]
    for t in turns:
        acc = log.accept(t, t.text)
        log.complete(acc, t, normalised=t.text, reply=Reply(text="答", kind=ReplyKind.answer, source=Source(bot="kb")),
                     route="kb", scores={"kb": 0.9}, steps_ms={"router": 1.0}, trace=[], latency_ms=3.0)
    with database.session() as s:
        msgs = s.scalars(select(Message).order_by(Message.seq)).all()
        assert [(m.seq, m.role) for m in msgs] == [(1, "user"), (2, "bot"), (3, "user"), (4, "bot"), (5, "user"),
                                                   (6, "bot")]
        assert all(r.status == "done" for r in s.scalars(select(TurnLog)))


async def test_state_survives_redis_loss_through_sql(database: Database, redis_prefix: str) -> None:
    redis = aioredis.Redis.from_url(REDIS_URL, decode_responses=True)
    store = StateStore(database, redis, redis_prefix)
    state = DialogueState(tenant_id="t1", session_id="s", active_bot="task", bots={"task": {"slots": {"order": "1"}}})
    await store.save(state)
    await redis.delete(store._key("t1", "s"))  # as after a Redis restart without persistence
    back = await store.load("t1", "s")
    assert back.active_bot == "task" and back.bots == {"task": {"slots": {"order": "1"}}}
    assert await redis.exists(store._key("t1", "s"))  # re-warmed
    await redis.aclose()
