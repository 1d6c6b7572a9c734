"""The operator API: sign-in, the queue of conversations waiting for a person, and live handoff."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field

from csbot.api.deps import AgentDep, CtxDep, OperatorDep
from csbot.api.schemas import ErrorBody
from csbot.channels import handoff, operators
from csbot.channels.live import messages_after
from csbot.channels.ratelimit import Limit, hit
from csbot.channels.setup import settings_of
from csbot.events import channel as events_channel

router = APIRouter(prefix="/v1/operator", tags=["operator"])

AUTH_ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=200)


class OperatorPublic(BaseModel):
    user_id: str
    tenant_id: str
    username: str
    role: str
    display_name: str


class LoginResponse(OperatorPublic):
    token: str
    token_type: str = "bearer"
    expires_at: int


@router.post("/login", response_model=LoginResponse, responses={401: {"model": ErrorBody}, 429: {"model": ErrorBody}})
async def login(body: LoginRequest, ctx: CtxDep, request: Request) -> LoginResponse:
    """Sign in a console user; send the token as `Authorization: Bearer <token>` afterwards."""
    cs = settings_of(request)
    throttle_key = ctx.key("rl", "login", body.tenant, body.username)
    current = await ctx.redis.get(throttle_key)
    if current is not None and int(current) >= cs.login_attempts_per_5min > 0:
        ttl = await ctx.redis.ttl(throttle_key)
        raise HTTPException(429, "too many failed sign-ins; wait and retry",
                            headers={"Retry-After": str(max(1, ttl))})
    user = await asyncio.to_thread(operators.authenticate, ctx.db, body.tenant, body.username, body.password)
    if user is None:
        await hit(ctx.redis, throttle_key, Limit(1 << 30, 300))
        raise HTTPException(401, "wrong tenant, username or password, or the account is disabled")
    await ctx.redis.delete(throttle_key)
    ident = operators.identity_of(user)
    token = operators.issue_operator_token(ctx.settings, ident)
    return LoginResponse(token=token, expires_at=int(time.time()) + operators.TOKEN_TTL_S, **_public(ident).model_dump())


@router.get("/me", response_model=OperatorPublic, responses=AUTH_ERRORS)
async def me(ident: OperatorDep) -> OperatorPublic:
    """Who the operator token belongs to."""
    return _public(ident)


def _public(ident: operators.OperatorIdentity) -> OperatorPublic:
    return OperatorPublic(user_id=ident.user_id, tenant_id=ident.tenant_id, username=ident.username,
                          role=ident.role, display_name=ident.display_name)


class QueueItemPublic(BaseModel):
    conversation_id: str
    session_id: str
    user_id: str | None
    channel: str
    status: str
    #: username of the operator who accepted it; None while waiting
    operator: str | None
    reason: str | None
    waiting_since: float | None
    wait_s: float
    last_message: str | None


class QueuePublic(BaseModel):
    waiting: list[QueueItemPublic]
    mine: list[QueueItemPublic]


class LiveMessage(BaseModel):
    id: str
    seq: int
    role: str
    text: str
    kind: str | None
    turn_id: str | None
    author: str | None
    created_at: float
    suggestions: list[dict[str, object]] = Field(default_factory=list)
    event: str | None = None


class LiveConversation(BaseModel):
    conversation_id: str
    session_id: str
    user_id: str | None
    status: str
    operator: str | None
    attributes: dict[str, object]
    messages: list[LiveMessage]


class OperatorMessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


class TypingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on: bool = True


class ConversationState(BaseModel):
    conversation_id: str
    status: str
    operator: str | None


def _raise(exc: handoff.HandoffError) -> HTTPException:
    return HTTPException(exc.status, exc.detail)


@router.get("/queue", response_model=QueuePublic, responses=AUTH_ERRORS)
async def get_queue(ident: AgentDep, ctx: CtxDep) -> QueuePublic:
    """Conversations waiting for a person (longest wait first) and those this operator handles."""
    items = await asyncio.to_thread(handoff.queue, ctx, ident.tenant_id, ident.username)
    pub = [QueueItemPublic(**i.__dict__) for i in items]
    return QueuePublic(waiting=[i for i in pub if i.operator is None], mine=[i for i in pub if i.operator])


@router.get("/conversations/{conversation_id}", response_model=LiveConversation, responses=AUTH_ERRORS)
async def get_live_conversation(conversation_id: str, ident: OperatorDep, ctx: CtxDep,
                                after_seq: int = 0) -> LiveConversation:
    """A conversation and its messages after `after_seq` (poll with the last seq you have)."""
    try:
        conv = await asyncio.to_thread(handoff.get_conversation, ctx, ident.tenant_id, conversation_id)
    except handoff.HandoffError as exc:
        raise _raise(exc) from exc
    msgs = await asyncio.to_thread(messages_after, ctx, conv.id, after_seq)
    return LiveConversation(conversation_id=conv.id, session_id=conv.session_id, user_id=conv.user_id,
                            status=conv.status, operator=conv.operator, attributes=dict(conv.attributes or {}),
                            messages=[LiveMessage(**m) for m in msgs])


@router.post("/conversations/{conversation_id}/accept", response_model=ConversationState, responses=AUTH_ERRORS)
async def accept(conversation_id: str, ident: AgentDep, ctx: CtxDep) -> ConversationState:
    """Take the conversation over: the bot stays silent and the customer sees who answers."""
    try:
        conv = await handoff.accept(ctx, ident, conversation_id)
    except handoff.HandoffError as exc:
        raise _raise(exc) from exc
    return ConversationState(conversation_id=conv.id, status=conv.status, operator=conv.operator)


@router.post("/conversations/{conversation_id}/messages", response_model=LiveMessage, status_code=201,
             responses=AUTH_ERRORS)
async def send_message(conversation_id: str, body: OperatorMessageCreate, ident: AgentDep,
                       ctx: CtxDep) -> LiveMessage:
    """Answer the customer (stored first, then delivered live to the widget)."""
    try:
        msg = await handoff.operator_message(ctx, ident, conversation_id, body.text)
    except handoff.HandoffError as exc:
        raise _raise(exc) from exc
    return LiveMessage(**msg)


@router.post("/conversations/{conversation_id}/typing", status_code=204, responses=AUTH_ERRORS)
async def send_typing(conversation_id: str, body: TypingCreate, ident: AgentDep, ctx: CtxDep) -> None:
    """Show or hide the typing indicator in the customer's widget."""
    try:
        await handoff.typing(ctx, ident, conversation_id, body.on)
    except handoff.HandoffError as exc:
        raise _raise(exc) from exc


@router.post("/conversations/{conversation_id}/release", response_model=ConversationState, responses=AUTH_ERRORS)
async def release(conversation_id: str, ident: AgentDep, ctx: CtxDep) -> ConversationState:
    """Give the conversation back to the bot."""
    try:
        conv = await handoff.release(ctx, ident, conversation_id)
    except handoff.HandoffError as exc:
        raise _raise(exc) from exc
    return ConversationState(conversation_id=conv.id, status=conv.status, operator=conv.operator)


@router.post("/conversations/{conversation_id}/close", response_model=ConversationState, responses=AUTH_ERRORS)
async def close(conversation_id: str, ident: AgentDep, ctx: CtxDep) -> ConversationState:
    """Close the conversation."""
    try:
        conv = await handoff.close(ctx, ident.tenant_id, conversation_id, by=ident.username)
    except handoff.HandoffError as exc:
        raise _raise(exc) from exc
    return ConversationState(conversation_id=conv.id, status=conv.status, operator=conv.operator)


@router.websocket("/ws")
async def operator_events(ws: WebSocket) -> None:
    """Live conversation events of the operator's tenant (`?token=<operator token>`), for consoles:
    every `{"id", "type", "tenant_id", "at", "data"}` event as published (see docs/integration.md),
    so a console refreshes its queue and open conversations without polling."""
    ident = operators.verify_operator_token(ws.app.state.settings, ws.query_params.get("token", ""))
    if ident is None:
        await ws.close(code=4401, reason="invalid or expired operator token")
        return
    ctx = ws.app.state.ctx
    user = await asyncio.to_thread(operators.get_user, ctx.db, ident.user_id)
    if user is None or user.disabled:
        await ws.close(code=4401, reason="this console account is disabled or deleted")
        return
    await ws.accept()
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(events_channel(ctx))

    async def relay() -> None:
        async for msg in pubsub.listen():
            if msg.get("type") != "message":
                continue
            try:
                event = json.loads(msg["data"])
            except ValueError:
                continue
            if event.get("tenant_id") == ident.tenant_id:
                await ws.send_text(msg["data"])

    task = asyncio.create_task(relay())
    try:
        while True:  # the client only keeps the socket open (and may send pings)
            if await ws.receive_text() == "ping":
                await ws.send_text('{"type": "pong"}')
    except WebSocketDisconnect:
        pass
    finally:
        task.cancel()
        await pubsub.aclose()
