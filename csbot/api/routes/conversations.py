"""Conversation history, feedback and handoff requests for API clients."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException
from sqlalchemy import or_, select

from csbot.api.deps import ChatPrincipal, ConversationsPrincipal, CtxDep, PipelineDep
from csbot.api.schemas import (
    ConversationPublic,
    ErrorBody,
    FeedbackCreate,
    FeedbackPublic,
    HandoffCreate,
    HandoffPublic,
    MessagePublic,
)
from csbot.context import AppContext
from csbot.events import publish
from csbot.storage.models import Conversation, Message

router = APIRouter(prefix="/v1", tags=["conversations"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}


def find_conversation(ctx: AppContext, tenant_id: str, ref: str) -> Conversation | None:
    """By conversation id or by the caller's session id, within the tenant only."""
    with ctx.db.session() as s:
        return s.scalar(select(Conversation).where(
            Conversation.tenant_id == tenant_id, or_(Conversation.id == ref, Conversation.session_id == ref)))


def load_history(ctx: AppContext, tenant_id: str, ref: str) -> ConversationPublic | None:
    conv = find_conversation(ctx, tenant_id, ref)
    if conv is None:
        return None
    with ctx.db.session() as s:
        msgs = s.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.seq)).all()
        return ConversationPublic(
            id=conv.id, session_id=conv.session_id, user_id=conv.user_id, channel=conv.channel, status=conv.status,
            operator=conv.operator, created_at=conv.created_at, updated_at=conv.updated_at,
            tags=list(conv.tags or []),
            messages=[MessagePublic(id=m.id, seq=m.seq, role=m.role, text=m.text, kind=m.kind, turn_id=m.turn_id,
                                    author=m.author, created_at=m.created_at) for m in msgs],
        )


@router.get("/conversations/{conversation_id}", response_model=ConversationPublic, responses=NOT_FOUND)
async def get_conversation(conversation_id: str, principal: ConversationsPrincipal, ctx: CtxDep) -> ConversationPublic:
    """A conversation's full history (by conversation id or session id)."""
    conv = await asyncio.to_thread(load_history, ctx, principal.tenant_id, conversation_id)
    if conv is None:
        raise HTTPException(404, f"no conversation {conversation_id!r} for this tenant")
    return conv


@router.post("/feedback", response_model=FeedbackPublic, status_code=201, responses=NOT_FOUND)
async def feedback(body: FeedbackCreate, principal: ChatPrincipal, ctx: CtxDep,
                   pipeline: PipelineDep) -> FeedbackPublic:
    """Thumbs up or down, with an optional comment, on one bot turn."""
    rating = 1 if body.rating == "up" else -1
    fb = await asyncio.to_thread(pipeline.log.record_feedback, principal.tenant_id, body.turn_id, rating, body.comment)
    if fb is None:
        raise HTTPException(404, f"no turn {body.turn_id!r} for this tenant")
    await publish(ctx, "feedback.given", principal.tenant_id,
                  {"turn_id": body.turn_id, "rating": body.rating, "comment": body.comment})
    return FeedbackPublic(id=fb.id, turn_id=fb.turn_id, rating=body.rating, comment=fb.comment)


@router.post("/conversations/{conversation_id}/handoff", response_model=HandoffPublic, responses=NOT_FOUND)
async def request_handoff(conversation_id: str, body: HandoffCreate, principal: ChatPrincipal,
                          ctx: CtxDep, pipeline: PipelineDep) -> HandoffPublic:
    """Ask for a person: the conversation waits in the operators' queue and the bot goes silent."""
    conv = await asyncio.to_thread(find_conversation, ctx, principal.tenant_id, conversation_id)
    if conv is None:
        raise HTTPException(404, f"no conversation {conversation_id!r} for this tenant")
    state = await ctx.states.load(principal.tenant_id, conv.session_id)
    state.handoff = True
    state.active_bot = None
    await ctx.states.save(state)
    conv = await asyncio.to_thread(pipeline.log.set_handoff, principal.tenant_id, conv.session_id, body.reason)
    await publish(ctx, "handoff.requested", principal.tenant_id,
                  {"conversation_id": conv.id, "session_id": conv.session_id, "reason": body.reason})
    return HandoffPublic(conversation_id=conv.id, status=conv.status, reason=conv.handoff_reason)
