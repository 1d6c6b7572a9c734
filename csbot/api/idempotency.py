"""Client message ids: a retried chat message gets the first reply back instead of a second turn.

A client that timed out or got a 503 cannot know whether its message was stored; without an id a
retry stores the customer's message twice (and the bot answers twice). With `message_id` the
first request claims `msg:<tenant>:<session>:<id>` in Redis (SET NX), the reply is kept there for
a day, and a retry within that day is answered with it. A retry while the first is still running
gets 409; a first attempt that failed releases the claim, so the retry runs the turn.
"""

from __future__ import annotations

from fastapi import HTTPException
from redis.asyncio import Redis

from csbot.api.schemas import ChatResponse

#: how long a reply stays replayable (clients retry within seconds; a day covers queued offline sends)
REPLAY_TTL_S = 24 * 3600
#: how long an unfinished claim blocks a retry (a turn longer than this has failed anyway)
PENDING_TTL_S = 120
PENDING = "pending"


class MessageReplay:
    """Claim / store / release of one message id; see the module docstring."""

    def __init__(self, redis: Redis, key: str) -> None:
        self.redis = redis
        self.key = key

    async def claim(self) -> ChatResponse | None:
        """None when this request runs the turn; the stored reply when it already ran.

        Raises:
            HTTPException: 409 while the first request with this id is still running.
        """
        if await self.redis.set(self.key, PENDING, nx=True, ex=PENDING_TTL_S):
            return None
        stored = await self.redis.get(self.key)
        if stored is None:  # expired between the two calls: claim again
            return await self.claim()
        if stored == PENDING:
            raise HTTPException(409, "this message_id is still being answered; retry in a moment")
        return ChatResponse.model_validate_json(stored)

    async def store(self, response: ChatResponse) -> None:
        await self.redis.set(self.key, response.model_dump_json(), ex=REPLAY_TTL_S)

    async def release(self) -> None:
        await self.redis.delete(self.key)
