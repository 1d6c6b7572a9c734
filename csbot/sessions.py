"""Dialogue state per conversation: Redis with a TTL, written through to SQL.

Redis is the fast path; the SQL copy means a Redis restart (or eviction) loses no open task:
a miss in Redis falls back to SQL and re-warms Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from csbot.storage.db import Database
from csbot.storage.models import DialogueStateRow
from csbot.types import JsonValue

log = logging.getLogger(__name__)

STATE_TTL_S = 7 * 24 * 3600


class DialogueState(BaseModel):
    """What the pipeline remembers about a conversation between turns.

    `bots` is each bot's own corner (keyed by bot name): csbot stores it and never reads it.
    """

    tenant_id: str
    session_id: str
    #: a bot that owns the conversation until it lets go (an active task)
    active_bot: str | None = None
    #: a person owns the conversation; the bot stays silent
    handoff: bool = False
    failures: int = 0
    turns: int = 0
    bots: dict[str, JsonValue] = Field(default_factory=dict)
    updated_at: float = Field(default_factory=time.time)


class StateStore:
    def __init__(self, db: Database, redis: Redis, prefix: str, ttl_s: int = STATE_TTL_S) -> None:
        self.db = db
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, tenant_id: str, session_id: str) -> str:
        return f"{self.prefix}:state:{tenant_id}:{session_id}"

    async def load(self, tenant_id: str, session_id: str) -> DialogueState:
        key = self._key(tenant_id, session_id)
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:
            log.warning("redis unavailable for state load, using SQL: %s", exc)
            raw = None
        if raw:
            return DialogueState.model_validate_json(raw)
        state = await asyncio.to_thread(self._load_sql, tenant_id, session_id)
        if state is None:
            return DialogueState(tenant_id=tenant_id, session_id=session_id)
        try:
            await self.redis.set(key, state.model_dump_json(), ex=self.ttl_s)
        except RedisError:
            pass
        return state

    async def save(self, state: DialogueState) -> None:
        state.updated_at = time.time()
        # SQL first: it is the copy that survives; Redis is best-effort.
        await asyncio.to_thread(self._save_sql, state)
        await self.put_redis(state)

    async def put_redis(self, state: DialogueState) -> None:
        """The Redis copy only, for a state whose SQL row was written in the caller's transaction
        (the pipeline writes it with the turn's log completion: one commit per turn, not two)."""
        try:
            await self.redis.set(self._key(state.tenant_id, state.session_id), state.model_dump_json(), ex=self.ttl_s)
        except RedisError as exc:
            log.warning("redis unavailable for state save (kept in SQL): %s", exc)

    def _load_sql(self, tenant_id: str, session_id: str) -> DialogueState | None:
        with self.db.session() as s:
            row = s.get(DialogueStateRow, (tenant_id, session_id))
            return DialogueState.model_validate(row.data) if row else None

    def _save_sql(self, state: DialogueState) -> None:
        with self.db.session() as s:
            write_state_row(s, state.tenant_id, state.session_id, state.model_dump(mode="json"), state.updated_at)


def write_state_row(s: Session, tenant_id: str, session_id: str, data: dict[str, JsonValue], updated_at: float) -> None:
    """Upsert the SQL copy of a dialogue state inside the caller's session (one statement, no read).

    Hand-written dispatch because SQLAlchemy's ON CONFLICT construct is per dialect; both dialects we
    support (SQLite, PostgreSQL) have the same `on_conflict_do_update`.
    """
    values = {"tenant_id": tenant_id, "session_id": session_id, "data": data, "updated_at": updated_at}
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(DialogueStateRow).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=["tenant_id", "session_id"],
                                      set_={"data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at})
    s.execute(stmt)
