"""The chat endpoints: JSON, Server-Sent Events, and a two-way WebSocket."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from csbot.api.deps import ChatPrincipal, PipelineDep
from csbot.api.idempotency import MessageReplay
from csbot.api.schemas import ChatRequest, ChatResponse, ErrorBody
from csbot.channels.contacts import with_contact_attributes
from csbot.pipeline.pipeline import Delta, Pipeline, TurnResult
from csbot.types import Turn

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["chat"])


def make_turn(tenant_id: str, req: ChatRequest) -> Turn:
    return Turn(tenant_id=tenant_id, session_id=req.session_id, text=req.text, user_id=req.user_id,
                locale=req.locale, channel=req.channel)


def to_response(result: TurnResult, session_id: str) -> ChatResponse:
    r = result.reply
    return ChatResponse(text=r.text, kind=r.kind, suggestions=r.suggestions, source=r.source,
                        confidence=round(r.confidence, 4), trace_id=result.trace_id, turn_id=result.turn_id,
                        conversation_id=result.conversation_id, session_id=session_id, silent=result.silent)


def check_length(req: ChatRequest, request_or_ws: Request | WebSocket) -> None:
    limit = request_or_ws.app.state.ctx.settings.pipeline.max_message_chars
    if len(req.text) > limit:
        from fastapi import HTTPException

        raise HTTPException(422, f"text is {len(req.text)} characters long; the limit is {limit}")


def replay_of(pipeline: Pipeline, tenant_id: str, req: ChatRequest) -> MessageReplay:
    key = pipeline.ctx.key("msg", tenant_id, req.session_id, req.message_id) if req.message_id else None
    return MessageReplay(pipeline.ctx.redis, key)


@router.post("/chat", response_model=ChatResponse,
             responses={401: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}})
async def chat(req: ChatRequest, principal: ChatPrincipal, pipeline: PipelineDep, request: Request) -> ChatResponse:
    """Send one customer message and get the bot's reply (with `message_id`, retries are safe)."""
    check_length(req, request)
    replay = replay_of(pipeline, principal.tenant_id, req)
    if (stored := await replay.claim()) is not None:
        return stored
    try:
        turn = await with_contact_attributes(pipeline.ctx.db, make_turn(principal.tenant_id, req))
        response = to_response(await pipeline.handle(turn), req.session_id)
        await replay.store(response)
    finally:
        await replay.release()
    return response


def sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post("/chat/stream", responses={200: {"content": {"text/event-stream": {}},
                                              "description": "`delta` events, then one `final` event"}})
async def chat_stream(req: ChatRequest, principal: ChatPrincipal, pipeline: PipelineDep,
                      request: Request) -> StreamingResponse:
    """Like `/v1/chat`, streamed as Server-Sent Events: `delta` {text} events, then `final` {ChatResponse}.
    A retry of an answered `message_id` gets the stored reply as one `delta` and the `final`."""
    check_length(req, request)
    replay = replay_of(pipeline, principal.tenant_id, req)
    stored = await replay.claim()
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    if stored is not None:
        body = [sse("delta", {"text": stored.text}), sse("final", stored.model_dump(mode="json"))]
        return StreamingResponse(iter(body), media_type="text/event-stream", headers=headers)
    try:
        turn = await with_contact_attributes(pipeline.ctx.db, make_turn(principal.tenant_id, req))
        # Stored before the 200 goes out: a message the client saw accepted survives a crash
        # mid-stream, and a database outage is a 503 rather than a broken stream.
        accepted = await pipeline.accept(turn)
    except BaseException:
        await replay.release()
        raise

    async def events() -> AsyncIterator[str]:
        try:
            async for item in pipeline.run(turn, stream=True, accepted=accepted):
                if isinstance(item, Delta):
                    yield sse("delta", {"text": item.text})
                else:
                    response = to_response(item, req.session_id)
                    await replay.store(response)
                    yield sse("final", response.model_dump(mode="json"))
        finally:
            await replay.release()

    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


async def run_ws_turn(ws: WebSocket, pipeline: Pipeline, tenant_id: str, req: ChatRequest) -> None:
    replay = replay_of(pipeline, tenant_id, req)
    try:
        stored = await replay.claim()
    except HTTPException as exc:
        await ws.send_json({"type": "error", "error": "duplicate message", "detail": exc.detail})
        return
    if stored is not None:
        await ws.send_json({"type": "reply", **stored.model_dump(mode="json")})
        return
    try:
        turn = await with_contact_attributes(pipeline.ctx.db, make_turn(tenant_id, req))
        async for item in pipeline.run(turn, stream=True):
            if isinstance(item, Delta):
                await ws.send_json({"type": "delta", "text": item.text})
            else:
                response = to_response(item, req.session_id)
                await replay.store(response)
                await ws.send_json({"type": "reply", **response.model_dump(mode="json")})
    finally:
        await replay.release()


@router.websocket("/ws")
async def chat_ws(ws: WebSocket) -> None:
    """Two-way chat: send `{"type": "message", "session_id", "text"}`; receive `delta` and `reply`
    events, and, during a handoff, the live channel's `message` (an operator's message, with its id
    and seq), `status` and `typing` events. Authenticate with `?api_key=` or an
    `Authorization: Bearer` header."""
    app = ws.app
    key = ws.query_params.get("api_key") or ws.headers.get("authorization", "").removeprefix("Bearer ").strip()
    principal = await asyncio.to_thread(app.state.keys.verify, key) if key else None
    if principal is None or "chat" not in principal.scopes:
        await ws.close(code=4401, reason="invalid or missing API key")
        return
    await ws.accept()
    pipeline: Pipeline = app.state.pipeline
    listener: asyncio.Task[None] | None = None
    try:
        while True:
            raw = await ws.receive_text()
            try:
                data = json.loads(raw)
                if not isinstance(data, dict) or data.get("type", "message") != "message":
                    raise ValueError("expected a JSON object with type 'message'")
                data.pop("type", None)
                req = ChatRequest.model_validate(data)
            except (ValueError, ValidationError, RecursionError) as exc:  # RecursionError: nested too deep
                detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else \
                    "the message is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                await ws.send_json({"type": "error", "error": "invalid message", "detail": detail})
                continue
            if listener is None:
                listener = asyncio.create_task(forward_operator_messages(ws, principal.tenant_id, req.session_id))
            await run_ws_turn(ws, pipeline, principal.tenant_id, req)
    except WebSocketDisconnect:
        pass
    finally:
        if listener is not None:
            listener.cancel()


async def forward_operator_messages(ws: WebSocket, tenant_id: str, session_id: str) -> None:
    """Relay this session's operator messages (published by the live-handoff API) to the socket."""
    ctx = ws.app.state.ctx
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(ctx.key("live", tenant_id, session_id))
    try:
        async for msg in pubsub.listen():
            if msg.get("type") == "message":
                await ws.send_text(msg["data"])
    finally:
        await pubsub.aclose()
