"""Operator-editable word lists per tenant (sensitive words, synonyms, ...), reloaded without restart.

Edits bump a version number in Redis; each process checks that number at most once a second per
tenant and rebuilds its in-memory structures when it moved, so an edit in the console reaches every
API replica within a second without a pub/sub subscription per process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import delete, select

from csbot.storage.db import Database
from csbot.storage.models import Lexicon

log = logging.getLogger(__name__)

T = TypeVar("T")
CHECK_EVERY_S = 1.0


@dataclass(frozen=True)
class LexiconEntry:
    term: str
    value: str = ""
    category: str = ""


def read_entries(db: Database, tenant_id: str, kind: str) -> list[LexiconEntry]:
    with db.session() as s:
        rows = s.scalars(select(Lexicon).where(Lexicon.tenant_id == tenant_id, Lexicon.kind == kind)).all()
        return [LexiconEntry(r.term, r.value, r.category) for r in rows]


def replace_entries(db: Database, tenant_id: str, kind: str, entries: Iterable[LexiconEntry]) -> int:
    """Replace a tenant's whole list of one kind in one transaction; returns the number stored."""
    unique = {e.term: e for e in entries if e.term.strip()}
    with db.session() as s:
        s.execute(delete(Lexicon).where(Lexicon.tenant_id == tenant_id, Lexicon.kind == kind))
        s.add_all(
            Lexicon(tenant_id=tenant_id, kind=kind, term=e.term.strip(), value=e.value, category=e.category)
            for e in unique.values()
        )
    return len(unique)


def version_key(prefix: str, tenant_id: str, kind: str) -> str:
    return f"{prefix}:lexicon:{kind}:{tenant_id}:version"


async def bump_version(redis: Redis, prefix: str, tenant_id: str, kind: str) -> None:
    await redis.incr(version_key(prefix, tenant_id, kind))


@dataclass
class _Entry(Generic[T]):
    value: T
    version: str | None
    checked_at: float


class LexiconCache(Generic[T]):
    """Per-tenant compiled structure built from one lexicon kind, rebuilt when its version moves."""

    def __init__(self, db: Database, redis: Redis, prefix: str, kind: str, build: Callable[[list[LexiconEntry]], T]):
        self.db, self.redis, self.prefix, self.kind, self.build = db, redis, prefix, kind, build
        self._cache: dict[str, _Entry[T]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, tenant_id: str) -> T:
        now = time.monotonic()
        entry = self._cache.get(tenant_id)
        if entry is not None and now - entry.checked_at < CHECK_EVERY_S:
            return entry.value
        try:
            raw = await self.redis.get(version_key(self.prefix, tenant_id, self.kind))
            version = None if raw is None else str(raw)
        except RedisError:
            version = entry.version if entry else None  # keep serving what we have
        if entry is not None and version == entry.version:
            entry.checked_at = now
            return entry.value
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            entries = await asyncio.to_thread(read_entries, self.db, tenant_id, self.kind)
            value = self.build(entries)
            self._cache[tenant_id] = _Entry(value, version, now)
            log.info("lexicon %s for tenant %s (re)built: %d entries", self.kind, tenant_id, len(entries))
            return value
