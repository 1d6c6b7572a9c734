"""Live handoff: the queue of conversations waiting for a person, accept, answer, release, close.

Each step stores its message first, then publishes it live and as a conversation event, so a
restart between the two loses nothing (clients catch up by sequence number).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from csbot.channels.live import message_public, publish_live
from csbot.channels.operators import OperatorIdentity
from csbot.context import AppContext
from csbot.conversations import ConversationLog
from csbot.events import publish
from csbot.storage.models import Conversation
from csbot.types import JsonValue

_TEXTS = {
    "requested": {"zh": "正在为您转接人工客服，请稍候。", "en": "Connecting you to a person, please wait."},
    "accepted": {"zh": "客服 {name} 为您服务。", "en": "{name} has joined the conversation."},
    "released": {"zh": "人工客服已离开，智能助手继续为您服务。", "en": "The agent has left; the assistant is back."},
    "closed": {"zh": "本次会话已结束，感谢您的咨询。", "en": "This conversation is closed. Thank you!"},
}


class HandoffError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class QueueItem:
    conversation_id: str
    session_id: str
    user_id: str | None
    channel: str
    status: str
    operator: str | None
    reason: str | None
    waiting_since: float | None
    wait_s: float
    last_message: str | None


def _text(key: str, lang: str, **kw: str) -> str:
    return _TEXTS[key]["en" if lang == "en" else "zh"].format(**kw)


def conversation_lang(conv: Conversation) -> str:
    return str((conv.attributes or {}).get("locale", "zh"))[:2] or "zh"


def get_conversation(ctx: AppContext, tenant_id: str, conversation_id: str) -> Conversation:
    with ctx.db.session() as s:
        conv = s.scalar(select(Conversation).where(
            Conversation.tenant_id == tenant_id,
            or_(Conversation.id == conversation_id, Conversation.session_id == conversation_id)))
    if conv is None:
        raise HandoffError(404, f"no conversation {conversation_id!r} for this tenant")
    return conv


async def post_message(ctx: AppContext, conv: Conversation, role: str, text: str, *, author: str | None = None,
                       kind: str | None = None, payload: dict[str, JsonValue] | None = None) -> dict[str, Any]:
    """Store a message, then deliver it live and announce it (message.created)."""
    log = ConversationLog(ctx.db)
    msg = await asyncio.to_thread(log.add_message, conv.tenant_id, conv.id, role, text, author=author, kind=kind,
                                  payload=payload)
    public = message_public(msg)
    await publish_live(ctx, conv.tenant_id, conv.session_id, {"type": "message", "message": public})
    await _event(ctx, "message.created", conv, {"message": public})
    return public


async def _event(ctx: AppContext, event: str, conv: Conversation, extra: dict[str, object]) -> None:
    try:
        await publish(ctx, event, conv.tenant_id, {"conversation_id": conv.id, "session_id": conv.session_id,
                                                   **extra})
    except Exception:  # an announcement must never undo what was stored
        import logging

        logging.getLogger(__name__).warning("event %s for %s not published", event, conv.id, exc_info=True)


async def _status(ctx: AppContext, conv: Conversation, status: str, operator: str | None) -> None:
    await publish_live(ctx, conv.tenant_id, conv.session_id, {"type": "status", "status": status,
                                                              "operator": operator})


async def _set_bot_silent(ctx: AppContext, conv: Conversation, silent: bool) -> None:
    state = await ctx.states.load(conv.tenant_id, conv.session_id)
    state.handoff = silent
    state.active_bot = None
    if not silent:
        state.failures = 0
    await ctx.states.save(state)


def ensure_conversation(ctx: AppContext, tenant_id: str, session_id: str, *, user_id: str | None,
                        channel: str, locale: str | None) -> Conversation:
    log = ConversationLog(ctx.db)
    with ctx.db.session() as s:
        conv, _ = log.get_or_create(s, tenant_id, session_id, user_id=user_id, channel=channel)
        if locale and (conv.attributes or {}).get("locale") != locale[:2]:
            conv.attributes = {**(conv.attributes or {}), "locale": locale[:2]}
        return conv


async def request_handoff(ctx: AppContext, conv: Conversation, reason: str) -> Conversation:
    """The customer asks for a person: the bot goes silent and the conversation joins the queue."""
    if conv.status == "handoff":
        return conv
    await _set_bot_silent(ctx, conv, True)
    conv = await asyncio.to_thread(ConversationLog(ctx.db).set_handoff, conv.tenant_id, conv.session_id, reason)
    await post_message(ctx, conv, "system", _text("requested", conversation_lang(conv)), kind="handoff",
                       payload={"event": "handoff.requested"})
    await _status(ctx, conv, "handoff", None)
    await _event(ctx, "handoff.requested", conv, {"reason": reason})
    return conv


def queue(ctx: AppContext, tenant_id: str, operator: str | None = None) -> list[QueueItem]:
    """Conversations waiting for a person (longest wait first), then those `operator` owns."""
    now = time.time()
    with ctx.db.session() as s:
        waiting = s.scalars(select(Conversation).where(
            Conversation.tenant_id == tenant_id, Conversation.status == "handoff",
            or_(Conversation.operator.is_(None), Conversation.operator == (operator or "")))
            .order_by(Conversation.handoff_at)).all()
        items = []
        for c in waiting:
            from csbot.storage.models import Message

            last = s.scalar(select(Message.text).where(Message.conversation_id == c.id, Message.role == "user")
                            .order_by(Message.seq.desc()).limit(1))
            items.append(QueueItem(c.id, c.session_id, c.user_id, c.channel, c.status, c.operator, c.handoff_reason,
                                   c.handoff_at, round(now - (c.handoff_at or now), 1), last))
    items.sort(key=lambda i: (i.operator is not None, -i.wait_s))
    return items


async def accept(ctx: AppContext, ident: OperatorIdentity, conversation_id: str) -> Conversation:
    """Take the conversation over; 409 when another operator already owns it."""
    conv = await asyncio.to_thread(get_conversation, ctx, ident.tenant_id, conversation_id)
    if conv.operator == ident.username and conv.status == "handoff":
        return conv

    def claim() -> bool:
        with ctx.db.session() as s:
            res = s.execute(update(Conversation).where(
                Conversation.id == conv.id,
                or_(Conversation.operator.is_(None), Conversation.operator == ident.username))
                .values(operator=ident.username, status="handoff",
                        handoff_at=conv.handoff_at or time.time(),
                        handoff_reason=conv.handoff_reason or f"taken over by {ident.username}"))
            return bool(getattr(res, "rowcount", 0))

    if not await asyncio.to_thread(claim):
        raise HandoffError(409, f"conversation {conv.id} is already handled by {conv.operator}")
    await _set_bot_silent(ctx, conv, True)
    conv = await asyncio.to_thread(get_conversation, ctx, ident.tenant_id, conv.id)
    await post_message(ctx, conv, "system", _text("accepted", conversation_lang(conv), name=ident.display_name),
                       kind="handoff", payload={"event": "handoff.accepted", "operator": ident.display_name})
    await _status(ctx, conv, "handoff", ident.display_name)
    await _event(ctx, "handoff.accepted", conv, {"operator": ident.username, "operator_name": ident.display_name})
    return conv


def _owned(conv: Conversation, ident: OperatorIdentity) -> None:
    if conv.operator != ident.username and not (ident.role == "admin" and conv.operator):
        raise HandoffError(409, "accept the conversation first" if conv.operator is None
                           else f"conversation {conv.id} is handled by {conv.operator}")


async def operator_message(ctx: AppContext, ident: OperatorIdentity, conversation_id: str,
                           text: str) -> dict[str, Any]:
    conv = await asyncio.to_thread(get_conversation, ctx, ident.tenant_id, conversation_id)
    _owned(conv, ident)
    return await post_message(ctx, conv, "operator", text, author=ident.display_name,
                              payload={"operator": ident.username})


async def typing(ctx: AppContext, ident: OperatorIdentity, conversation_id: str, on: bool) -> None:
    conv = await asyncio.to_thread(get_conversation, ctx, ident.tenant_id, conversation_id)
    _owned(conv, ident)
    await publish_live(ctx, conv.tenant_id, conv.session_id, {"type": "typing", "on": on,
                                                              "author": ident.display_name})


async def release(ctx: AppContext, ident: OperatorIdentity, conversation_id: str) -> Conversation:
    """Hand the conversation back to the bot."""
    conv = await asyncio.to_thread(get_conversation, ctx, ident.tenant_id, conversation_id)
    if conv.status != "handoff":
        raise HandoffError(409, f"conversation {conv.id} is not handed off (status {conv.status})")
    if conv.operator is not None:
        _owned(conv, ident)

    def write() -> None:
        with ctx.db.session() as s:
            s.execute(update(Conversation).where(Conversation.id == conv.id)
                      .values(status="open", operator=None, updated_at=time.time()))

    await asyncio.to_thread(write)
    await _set_bot_silent(ctx, conv, False)
    await post_message(ctx, conv, "system", _text("released", conversation_lang(conv)), kind="handoff",
                       payload={"event": "handoff.released"})
    await _status(ctx, conv, "open", None)
    await _event(ctx, "handoff.released", conv, {"operator": ident.username})
    return await asyncio.to_thread(get_conversation, ctx, ident.tenant_id, conv.id)


async def close(ctx: AppContext, tenant_id: str, conversation_id: str, by: str) -> Conversation:
    """Close the conversation (a later customer message reopens it, with the bot answering)."""
    conv = await asyncio.to_thread(get_conversation, ctx, tenant_id, conversation_id)
    if conv.status == "closed":
        return conv

    def write() -> None:
        with ctx.db.session() as s:
            s.execute(update(Conversation).where(Conversation.id == conv.id)
                      .values(status="closed", operator=None, updated_at=time.time()))

    await asyncio.to_thread(write)
    await _set_bot_silent(ctx, conv, False)
    await post_message(ctx, conv, "system", _text("closed", conversation_lang(conv)), kind="closed",
                       payload={"event": "conversation.closed"})
    await _status(ctx, conv, "closed", None)
    await _event(ctx, "conversation.closed", conv, {"by": by})
    return await asyncio.to_thread(get_conversation, ctx, tenant_id, conv.id)
