"""The process-wide context handed to every bot and service: settings, SQL, Redis, state, models."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis as redis_sync
from redis.asyncio import Redis

from csbot.config import Settings
from csbot.models.hub import ModelHub
from csbot.sessions import StateStore
from csbot.storage.db import Database


@dataclass
class AppContext:
    settings: Settings
    db: Database
    redis: Redis
    states: StateStore
    models: ModelHub
    #: resolved Milvus URI: a server URL, or a Milvus Lite file for single-process use
    milvus_uri: str = ""
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, *, redis_url: str | None = None, milvus_uri: str | None = None) -> AppContext:
        """Build the context; constructs clients but connects lazily (nothing is loaded here)."""
        db = Database(settings.database_url)
        url = redis_url or settings.redis_url
        if not url:
            raise RuntimeError("no Redis URL: set CSBOT_REDIS_URL or start through `csbot up`/`csbot serve`")
        redis = Redis.from_url(url, decode_responses=True)
        return cls(
            settings=settings,
            db=db,
            redis=redis,
            states=StateStore(db, redis, settings.redis_prefix),
            models=ModelHub(settings, db),
            milvus_uri=milvus_uri if milvus_uri is not None else settings.milvus_uri,
        )

    def key(self, *parts: str) -> str:
        """A Redis key under this installation's prefix."""
        return ":".join((self.settings.redis_prefix, *parts))

    def redis_sync(self) -> redis_sync.Redis:
        """A blocking Redis client on the same server, for threads and CLI commands."""
        kwargs = self.redis.connection_pool.connection_kwargs
        pool_cls = self.redis.connection_pool.connection_class
        if "path" in kwargs:
            return redis_sync.Redis(unix_socket_path=kwargs["path"], db=kwargs.get("db", 0), decode_responses=True)
        del pool_cls
        return redis_sync.Redis(
            host=kwargs.get("host", "localhost"),
            port=kwargs.get("port", 6379),
            db=kwargs.get("db", 0),
            password=kwargs.get("password"),
            decode_responses=True,
        )

    async def close(self) -> None:
        await self.redis.aclose()
        self.db.dispose()
