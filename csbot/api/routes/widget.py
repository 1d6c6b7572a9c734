"""Endpoints of the embeddable widget: visitor sessions, history catch-up, the chat socket, and the script.

Browsers call these from the shop's own pages, so every response carries CORS headers for the
tenant's allowed origins and the socket checks the `Origin` header; visitors authenticate with a
signed visitor token, never with an API key.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from csbot.api.schemas import LOCALE, ErrorBody
from csbot.channels import handoff, visitors
from csbot.channels.contacts import turn_attributes
from csbot.channels.live import (
    conversation_by_session,
    live_channel,
    messages_after,
    publish_turn_messages,
)
from csbot.channels.origins import WidgetConfig, WidgetConfigCache
from csbot.channels.ratelimit import Limit, hit
from csbot.channels.setup import channel_settings
from csbot.context import AppContext
from csbot.events import publish
from csbot.pipeline.pipeline import Delta, Pipeline
from csbot.storage.channels import ConsoleUser
from csbot.storage.models import TurnLog
from csbot.types import Turn, new_id

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/widget", tags=["widget"])
static_router = APIRouter(tags=["widget"], include_in_schema=False)

STATIC = Path(__file__).resolve().parents[2] / "widget" / "static"
CORS_HEADERS = "Authorization, Content-Type"
CLIENT_ID = re.compile(r"^[0-9a-f]{32}$")


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str = Field(min_length=1, max_length=64)
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    user_hash: str | None = Field(default=None, max_length=128)
    locale: str | None = Field(default=None, pattern=LOCALE)
    #: a previous visitor token, to keep the same anonymous visitor (and conversation)
    visitor_token: str | None = Field(default=None, max_length=4096)


class SessionPublic(BaseModel):
    token: str
    visitor_id: str
    session_id: str
    user_id: str | None
    identified: bool
    expires_at: int
    tenant_name: str


class HistoryPublic(BaseModel):
    conversation_id: str | None
    status: str
    operator: str | None
    messages: list[dict[str, Any]]


def widget_configs(app: Any) -> WidgetConfigCache:
    cache = getattr(app.state, "widget_configs", None)
    if cache is None:
        cache = WidgetConfigCache(app.state.ctx.db, app.state.settings.environment)
        app.state.widget_configs = cache
    return cache


def _own_origin(conn: Request | WebSocket) -> str:
    scheme = "https" if conn.url.scheme in ("https", "wss") else "http"
    return f"{scheme}://{conn.headers.get('host', '')}"


def _cors(origin: str | None) -> dict[str, str]:
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": "Retry-After"}


def _error(status: int, error: str, detail: str, origin: str | None, headers: dict[str, str] | None = None,
           cors: bool = True) -> JSONResponse:
    h = dict(headers or {})
    if cors:
        h.update(_cors(origin))
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=h)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.options("/{path:path}", include_in_schema=False)
async def preflight(path: str, request: Request) -> Response:
    """CORS preflight: the tenant is not known yet, so an origin any tenant allows gets through;
    the real request is then checked against its own tenant."""
    origin = request.headers.get("origin")
    if not origin or not await asyncio.to_thread(widget_configs(request.app).any_tenant_allows, origin):
        return Response(status_code=403)
    return Response(status_code=204, headers={
        **_cors(origin), "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
        "Access-Control-Allow-Headers": CORS_HEADERS, "Access-Control-Max-Age": "600"})


@router.post("/session", response_model=SessionPublic,
             responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}, 404: {"model": ErrorBody},
                        429: {"model": ErrorBody}})
async def create_session(body: SessionCreate, request: Request) -> Response:
    """Start (or resume) a widget visitor: returns a signed visitor token.

    With `user_id`, `user_hash` must be HMAC-SHA256(user_id, the tenant's identity secret); a wrong
    hash is refused with 401 and the widget continues as an anonymous visitor.
    """
    app = request.app
    ctx: AppContext = app.state.ctx
    cs = channel_settings(app)
    origin = request.headers.get("origin")
    cfg = await asyncio.to_thread(widget_configs(app).get, body.tenant)
    if cfg is None:
        return _error(404, "not found", f"unknown tenant {body.tenant!r}", origin)
    if not widget_configs(app).allowed(cfg, origin, _own_origin(request)):
        return _error(403, "forbidden", f"origin {origin} may not embed this tenant's widget", origin, cors=False)
    rate = await hit(ctx.redis, ctx.key("rl", "session", _client_ip(request)), Limit(cs.sessions_per_min, 60))
    if not rate.allowed:
        return _error(429, "too many requests", "too many new widget sessions from this address", origin,
                      {"Retry-After": str(rate.retry_after_s)})
    user_id: str | None = None
    if body.user_id is not None:
        if not visitors.check_user_hash(cfg.identity_secret, body.user_id, body.user_hash or ""):
            log.info("widget identity refused for tenant %s", cfg.tenant_id)
            return _error(401, "unauthorized", "user_hash does not match user_id (identity validation failed)",
                          origin)
        user_id = body.user_id
    previous = visitors.verify_visitor_token(ctx.settings, body.visitor_token) if body.visitor_token else None
    visitor_id = visitors.new_visitor_id()
    if previous is not None and previous.tenant_id == cfg.tenant_id and previous.user_id == user_id:
        visitor_id = previous.visitor_id
    ident = visitors.VisitorIdentity(cfg.tenant_id, visitor_id, user_id, body.locale)
    token = visitors.issue_visitor_token(ctx.settings, ident, cs.visitor_token_ttl_s)
    out = SessionPublic(token=token, visitor_id=visitor_id, session_id=ident.session_id, user_id=user_id,
                        identified=user_id is not None, expires_at=visitors.token_expiry(ctx.settings, token),
                        tenant_name=cfg.name)
    return JSONResponse(out.model_dump(), headers=_cors(origin))


def _visitor_from(request: Request | WebSocket) -> visitors.VisitorIdentity | None:
    token = request.query_params.get("token") or \
        request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return visitors.verify_visitor_token(request.app.state.ctx.settings, token) if token else None


def _operator_name(ctx: AppContext, tenant_id: str, username: str | None) -> str | None:
    if not username:
        return None
    with ctx.db.session() as s:
        name = s.scalar(select(ConsoleUser.display_name).where(ConsoleUser.tenant_id == tenant_id,
                                                               ConsoleUser.username == username))
    return name or username


def load_history(ctx: AppContext, ident: visitors.VisitorIdentity, after_seq: int) -> HistoryPublic:
    conv = conversation_by_session(ctx, ident.tenant_id, ident.session_id)
    if conv is None:
        return HistoryPublic(conversation_id=None, status="new", operator=None, messages=[])
    return HistoryPublic(conversation_id=conv.id, status=conv.status,
                         operator=_operator_name(ctx, ident.tenant_id, conv.operator),
                         messages=messages_after(ctx, conv.id, after_seq))


@router.get("/messages", response_model=HistoryPublic, responses={401: {"model": ErrorBody}})
async def get_messages(request: Request, after_seq: int = 0) -> Response:
    """The visitor's conversation: messages after `after_seq` (0 = all), status and operator.

    Authenticate with `Authorization: Bearer <visitor token>`.
    """
    origin = request.headers.get("origin")
    ident = _visitor_from(request)
    if ident is None:
        return _error(401, "unauthorized", "missing or invalid visitor token", origin)
    cfg = await asyncio.to_thread(widget_configs(request.app).get, ident.tenant_id)
    if cfg is None or not widget_configs(request.app).allowed(cfg, origin, _own_origin(request)):
        return _error(403, "forbidden", "origin not allowed", origin, cors=False)
    hist = await asyncio.to_thread(load_history, request.app.state.ctx, ident, max(0, after_seq))
    return JSONResponse(hist.model_dump(mode="json"), headers=_cors(origin))


class _Socket:
    """Serialises sends: the turn and the live relay write to the same socket from two tasks."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.lock = asyncio.Lock()

    async def send(self, data: dict[str, Any] | str) -> None:
        async with self.lock:
            if isinstance(data, str):
                await self.ws.send_text(data)
            else:
                await self.ws.send_text(json.dumps(data, ensure_ascii=False))


@router.websocket("/ws")
async def widget_ws(ws: WebSocket) -> None:
    """The widget's chat socket (`?token=<visitor token>`). See docs/integration.md for the protocol."""
    app = ws.app
    ctx: AppContext = app.state.ctx
    ident = _visitor_from(ws)
    if ident is None:
        await ws.close(code=4401, reason="invalid or missing visitor token")
        return
    configs = widget_configs(app)
    cfg = await asyncio.to_thread(configs.get, ident.tenant_id)
    if cfg is None or not configs.allowed(cfg, ws.headers.get("origin"), _own_origin(ws)):
        await ws.close(code=4403, reason="origin not allowed")
        return
    await ws.accept()
    sock = _Socket(ws)
    pubsub = ctx.redis.pubsub()
    await pubsub.subscribe(live_channel(ctx, ident.tenant_id, ident.session_id))
    relay = asyncio.create_task(_relay(pubsub, sock))
    try:
        hist = await asyncio.to_thread(load_history, ctx, ident, 1 << 30)
        await sock.send({"type": "ready", "session_id": ident.session_id, "conversation_id": hist.conversation_id,
                         "status": hist.status, "operator": hist.operator, "user_id": ident.user_id})
        while True:
            raw = await ws.receive_text()
            try:
                data = json.loads(raw)
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
            except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep for the parser
                detail = "the message is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
                await sock.send({"type": "error", "error": "invalid message", "detail": detail})
                continue
            await _handle(data, sock, ctx, app.state.pipeline, ident, cfg, app)
    except WebSocketDisconnect:
        pass
    finally:
        relay.cancel()
        try:
            await pubsub.aclose()
        except Exception:
            pass


async def _relay(pubsub: Any, sock: _Socket) -> None:
    try:
        async for msg in pubsub.listen():
            if msg.get("type") == "message":
                await sock.send(msg["data"])
    except (asyncio.CancelledError, WebSocketDisconnect):
        pass
    except Exception as exc:  # the client resyncs by seq after reconnecting
        log.info("widget relay stopped: %s", exc)


class _Incoming(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None
    client_id: str | None = Field(default=None, max_length=64)
    after_seq: int = 0
    turn_id: str | None = Field(default=None, max_length=64)
    rating: str | None = None
    comment: str = Field(default="", max_length=2000)


async def _handle(data: dict[str, Any], sock: _Socket, ctx: AppContext, pipeline: Pipeline,
                  ident: visitors.VisitorIdentity, cfg: WidgetConfig, app: Any) -> None:
    try:
        msg = _Incoming.model_validate(data)
    except ValidationError as exc:
        await sock.send({"type": "error", "error": "invalid message", "detail": exc.errors(include_url=False)})
        return
    if msg.type == "ping":
        await sock.send({"type": "pong"})
    elif msg.type == "sync":
        hist = await asyncio.to_thread(load_history, ctx, ident, max(0, msg.after_seq))
        await sock.send({"type": "sync", **hist.model_dump(mode="json")})
    elif msg.type == "message":
        await _chat_turn(msg, sock, ctx, pipeline, ident, app)
    elif msg.type == "handoff":
        conv = await asyncio.to_thread(handoff.ensure_conversation, ctx, ident.tenant_id, ident.session_id,
                                       user_id=ident.user_id, channel="widget", locale=ident.locale)
        await handoff.request_handoff(ctx, conv, "asked in the widget")
    elif msg.type == "feedback":
        await _feedback(msg, sock, ctx, pipeline, ident)
    else:
        await sock.send({"type": "error", "error": "invalid message", "detail": f"unknown type {msg.type!r}"})


async def _chat_turn(msg: _Incoming, sock: _Socket, ctx: AppContext, pipeline: Pipeline,
                     ident: visitors.VisitorIdentity, app: Any) -> None:
    text = (msg.text or "").strip()
    limit = ctx.settings.pipeline.max_message_chars
    if not text or len(text) > limit:
        await sock.send({"type": "error", "error": "invalid message", "client_id": msg.client_id,
                         "detail": f"text must have 1 to {limit} characters"})
        return
    cs = channel_settings(app)
    rate = await hit(ctx.redis, ctx.key("rl", "visitor", ident.tenant_id, ident.visitor_id),
                     Limit(cs.visitor_messages_per_min, 60))
    if not rate.allowed:
        await sock.send({"type": "error", "error": "too many requests", "client_id": msg.client_id,
                         "retry_after": rate.retry_after_s, "status": 429})
        return
    # The widget's client id becomes the turn id, so a message re-sent after a dropped connection
    # is recognised (the turn exists) instead of being answered twice.
    turn_id = msg.client_id if msg.client_id and CLIENT_ID.match(msg.client_id) else new_id()
    if await asyncio.to_thread(_turn_exists, ctx, turn_id):
        await sock.send({"type": "ack", "client_id": msg.client_id, "turn_id": turn_id, "duplicate": True})
        return
    attrs = await asyncio.to_thread(turn_attributes, ctx.db, ident.tenant_id, ident.user_id, ident.session_id)
    turn = Turn(tenant_id=ident.tenant_id, session_id=ident.session_id, text=text, user_id=ident.user_id,
                locale=ident.locale, channel="widget", attributes=attrs, turn_id=turn_id)
    # acknowledged only once stored: an acked message survives the server dying mid-reply
    accepted = await pipeline.accept(turn)
    await sock.send({"type": "ack", "client_id": msg.client_id, "turn_id": turn.turn_id})
    result = None
    async for item in pipeline.run(turn, stream=True, accepted=accepted):
        if isinstance(item, Delta):
            await sock.send({"type": "delta", "turn_id": turn.turn_id, "text": item.text})
        else:
            result = item
    assert result is not None
    r = result.reply
    await sock.send({"type": "reply", "turn_id": turn.turn_id, "client_id": msg.client_id, "text": r.text,
                     "kind": r.kind.value, "silent": result.silent, "conversation_id": result.conversation_id,
                     "suggestions": [s.model_dump(mode="json") for s in r.suggestions],
                     "source": r.source.bot})
    await publish_turn_messages(ctx, ident.tenant_id, ident.session_id, result.conversation_id, turn.turn_id)


def _turn_exists(ctx: AppContext, turn_id: str) -> bool:
    with ctx.db.session() as s:
        return s.get(TurnLog, turn_id) is not None


async def _feedback(msg: _Incoming, sock: _Socket, ctx: AppContext, pipeline: Pipeline,
                    ident: visitors.VisitorIdentity) -> None:
    if msg.rating not in ("up", "down") or not msg.turn_id:
        await sock.send({"type": "error", "error": "invalid message", "detail": "feedback needs turn_id and rating"})
        return

    def owned() -> bool:
        conv = conversation_by_session(ctx, ident.tenant_id, ident.session_id)
        with ctx.db.session() as s:
            row = s.get(TurnLog, msg.turn_id)
            return conv is not None and row is not None and row.conversation_id == conv.id

    if not await asyncio.to_thread(owned):
        await sock.send({"type": "error", "error": "not found", "detail": "no such turn in this conversation"})
        return
    rating = 1 if msg.rating == "up" else -1
    await asyncio.to_thread(pipeline.log.record_feedback, ident.tenant_id, msg.turn_id, rating, msg.comment)
    try:
        await publish(ctx, "feedback.given", ident.tenant_id,
                      {"turn_id": msg.turn_id, "rating": msg.rating, "comment": msg.comment,
                       "session_id": ident.session_id})
    except Exception as exc:
        log.warning("feedback event not published: %s", exc)
    await sock.send({"type": "feedback_ok", "turn_id": msg.turn_id, "rating": msg.rating})


@static_router.get("/widget.js")
async def widget_js() -> FileResponse:
    return FileResponse(STATIC / "widget.js", media_type="application/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


@static_router.get("/widget/demo", response_class=HTMLResponse)
async def widget_demo(request: Request, tenant: str = "demo", locale: str = "zh") -> HTMLResponse:
    """A same-origin demo page (the demo shop on another origin is `csbot.widget.demo_site`)."""
    from csbot.widget.demo_site import render_page

    base = str(request.base_url).rstrip("/")
    return HTMLResponse(render_page(base, {"tenant": tenant, "locale": locale}))
