"""Live delivery to widget sockets: stored messages and status changes on a per-conversation channel.

Every message is stored in SQL before it is published here, and carries its id and sequence
number, so a client that missed a publication (disconnected, server restarted) fetches it with
`after_seq` and drops what it has already seen: delivery is at least once, display exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from sqlalchemy import select

from csbot.context import AppContext
from csbot.storage.models import Conversation, Message

log = logging.getLogger(__name__)


def live_channel(ctx: AppContext, tenant_id: str, session_id: str) -> str:
    """The Redis pub/sub channel the spine's `/v1/ws` and the widget socket relay to clients."""
    return ctx.key("live", tenant_id, session_id)


def message_public(m: Message) -> dict[str, Any]:
    payload = m.payload or {}
    return {"id": m.id, "seq": m.seq, "role": m.role, "text": m.text, "kind": m.kind, "turn_id": m.turn_id,
            "author": m.author, "created_at": m.created_at,
            "suggestions": payload.get("suggestions", []), "event": payload.get("event")}


async def publish_live(ctx: AppContext, tenant_id: str, session_id: str, event: dict[str, Any]) -> None:
    """Best effort: a failed publication is caught up by the client's `after_seq` fetch."""
    try:
        await ctx.redis.publish(live_channel(ctx, tenant_id, session_id), json.dumps(event, ensure_ascii=False))
    except Exception as exc:
        log.warning("live publication to %s/%s failed: %s", tenant_id, session_id, exc)


def messages_after(ctx: AppContext, conversation_id: str, after_seq: int, limit: int = 500) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.scalars(select(Message).where(Message.conversation_id == conversation_id, Message.seq > after_seq)
                         .order_by(Message.seq).limit(limit)).all()
        return [message_public(m) for m in rows]


def messages_of_turn(ctx: AppContext, conversation_id: str, turn_id: str) -> list[dict[str, Any]]:
    with ctx.db.session() as s:
        rows = s.scalars(select(Message).where(Message.conversation_id == conversation_id, Message.turn_id == turn_id)
                         .order_by(Message.seq)).all()
        return [message_public(m) for m in rows]


def conversation_by_session(ctx: AppContext, tenant_id: str, session_id: str) -> Conversation | None:
    with ctx.db.session() as s:
        return s.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                   Conversation.session_id == session_id))


async def publish_turn_messages(ctx: AppContext, tenant_id: str, session_id: str, conversation_id: str,
                                turn_id: str) -> list[dict[str, Any]]:
    """After a pipeline turn: announce its stored user and bot messages (with ids) to every socket."""
    msgs = await asyncio.to_thread(messages_of_turn, ctx, conversation_id, turn_id)
    for m in msgs:
        await publish_live(ctx, tenant_id, session_id, {"type": "message", "message": m})
    return msgs
