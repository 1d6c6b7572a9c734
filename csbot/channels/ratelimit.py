"""Fixed-window rate limits in Redis, shared by every API process.

Hand-written (INCR + EXPIRE in one transaction) rather than a library: one counter per key and
window is all csbot needs, and the Redis client is already there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError


@dataclass(frozen=True)
class Limit:
    """`limit` requests per `window_s` seconds; `limit` 0 means unlimited."""

    limit: int
    window_s: float = 60.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after_s: int


async def hit(redis: Redis, key: str, rule: Limit) -> RateDecision:
    """Count one request under `key`; refuse once the window's budget is spent.

    When Redis is unreachable the request is allowed: a limiter must not take the service down.
    """
    if rule.limit <= 0:
        return RateDecision(True, 1 << 30, 0)
    window_ms = int(rule.window_s * 1000)
    try:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.pexpire(key, window_ms, nx=True)
            pipe.pttl(key)
            count, _, ttl_ms = await pipe.execute()
    except RedisError:
        return RateDecision(True, rule.limit, 0)
    if ttl_ms is None or ttl_ms < 0:
        ttl_ms = window_ms
    if int(count) > rule.limit:
        return RateDecision(False, 0, max(1, math.ceil(ttl_ms / 1000)))
    return RateDecision(True, rule.limit - int(count), 0)
