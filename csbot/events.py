"""Conversation events (created, message, handoff, feedback...) announced to the rest of the system.

Events go on Redis pub/sub for live listeners (widget sockets, the operator console) under
`<prefix>:events:conversation`; durable consumers (webhooks) read them from their own outbox.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from csbot.types import new_id

if TYPE_CHECKING:
    from csbot.context import AppContext

#: extra in-process consumers of every event (e.g. the webhook outbox), kept in ctx.extras["event_hooks"]
EventHook = Callable[[dict[str, Any]], Awaitable[None]]

EVENT_TYPES = (
    "conversation.created",
    "conversation.closed",
    "message.created",
    "handoff.requested",
    "handoff.accepted",
    "handoff.released",
    "feedback.given",
)


def channel(ctx: AppContext) -> str:
    return ctx.key("events", "conversation")


async def publish(ctx: AppContext, event: str, tenant_id: str, data: Mapping[str, object]) -> str:
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event!r}")
    event_id = new_id()
    body = {"id": event_id, "type": event, "tenant_id": tenant_id, "at": time.time(), "data": dict(data)}
    await ctx.redis.publish(channel(ctx), json.dumps(body, ensure_ascii=False))
    hooks = cast(list[EventHook], ctx.extras.get("event_hooks", []))
    for hook in hooks:
        await hook(body)
    return event_id
