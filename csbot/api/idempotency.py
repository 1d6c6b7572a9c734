"""Client message ids: a retried chat message gets the first reply back instead of a second turn.

A client that timed out or got a 503 cannot know whether its message was stored; without an id a
retry stores the customer's message twice (and the bot answers twice). With `message_id` the
first request claims `msg:<tenant>:<session>:<id>` in Redis (SET NX), the reply is kept there for
a day, and a retry within that day is answered with it. A retry while the first is still running
gets 409; a first attempt that failed releases the claim, so the retry runs the turn.

The widget dedups differently (its `client_id` becomes the turn id and a re-send is acknowledged
as a duplicate): its protocol only needs "already have it", while the JSON, SSE and WebSocket
APIs must hand back the reply itself, which the turn row does not hold whole (suggestions, trace id).
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
    """Claim / store / release of one message id (`key` None: a message without an id, all no-ops).

    Use: `claim()` before the turn; `store(reply)` once it is answered; `release()` in a `finally`
    (it frees the claim only when no reply was stored, so a failed attempt can be retried).
    """

    def __init__(self, redis: Redis, key: str | None) -> None:
        self.redis = redis
        self.key = key
        self._stored = False

    async def claim(self) -> ChatResponse | None:
        """None when this request runs the turn; the stored reply when it already ran.

        Raises:
            HTTPException: 409 while the first request with this id is still running.
        """
        if self.key is None or await self.redis.set(self.key, PENDING, nx=True, ex=PENDING_TTL_S):
            return None
        stored = await self.redis.get(self.key)
        if stored is None:  # expired between the two calls: claim again
            return await self.claim()
        if stored == PENDING:
            raise HTTPException(409, "this message_id is still being answered; retry in a moment")
        return ChatResponse.model_validate_json(stored)

    async def store(self, response: ChatResponse) -> None:
        if self.key is not None:
            await self.redis.set(self.key, response.model_dump_json(), ex=REPLAY_TTL_S)
            self._stored = True

    async def release(self) -> None:
        if self.key is not None and not self._stored:
            await self.redis.delete(self.key)
