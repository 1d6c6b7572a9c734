"""The CRM integration API: search and export conversations, tag and close them, message a user,
set contact attributes, and (admin) the widget's allowed origins and identity secret."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from csbot.api.deps import AdminPrincipal, CrmPrincipal, CtxDep
from csbot.api.schemas import ErrorBody
from csbot.channels import contacts, crm_queries, handoff
from csbot.channels.origins import normalise_origin
from csbot.storage.models import Tenant
from csbot.types import JsonScalar

router = APIRouter(prefix="/v1/crm", tags=["crm"])

ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                                           404: {"model": ErrorBody}}


class ConversationSummary(BaseModel):
    id: str
    session_id: str
    user_id: str | None
    channel: str
    status: str
    operator: str | None
    tags: list[str]
    attributes: dict[str, Any]
    #: bots that answered in this conversation
    routes: list[str]
    #: operator = handed to a person; bot = answered by bots only; none = no bot answer
    resolution: crm_queries.Resolution
    message_count: int
    handoff_reason: str | None
    created_at: float
    updated_at: float


class ConversationPage(BaseModel):
    total: int
    items: list[ConversationSummary]
    next_offset: int | None


class TranscriptMessage(BaseModel):
    id: str
    seq: int
    role: str
    text: str
    kind: str | None
    author: str | None
    turn_id: str | None
    created_at: float
    route: str | None
    confidence: float | None


class Transcript(ConversationSummary):
    messages: list[TranscriptMessage]


class TagsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("add", "remove")
    @classmethod
    def _tags(cls, v: list[str]) -> list[str]:
        for t in v:
            if not t.strip() or len(t) > 64:
                raise ValueError("a tag has 1 to 64 characters")
        return [t.strip() for t in v]


class TagsPublic(BaseModel):
    conversation_id: str
    tags: list[str]


class ProactiveMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    #: the name shown to the customer
    author: str = Field(default="", max_length=128)


class MessagePosted(BaseModel):
    conversation_id: str
    message_id: str
    seq: int


class ContactPublic(BaseModel):
    user_id: str
    attributes: dict[str, Any]
    created_at: float | None = None
    updated_at: float | None = None


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: merged into the contact; a null value deletes that attribute
    attributes: dict[str, JsonScalar]

    @field_validator("attributes")
    @classmethod
    def _names(cls, v: dict[str, JsonScalar]) -> dict[str, JsonScalar]:
        bad = [k for k in v if not k or len(k) > 64 or k in contacts.RESERVED]
        if bad:
            raise ValueError(f"invalid attribute names {bad}: 1-64 characters, not {sorted(contacts.RESERVED)}")
        if len(v) > 100:
            raise ValueError("at most 100 attributes per request")
        return v


class StateOut(BaseModel):
    conversation_id: str
    status: str


class WidgetSettings(BaseModel):
    allowed_origins: list[str]
    identity_secret: str


class WidgetSettingsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] | None = None
    rotate_identity_secret: bool = False

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return None
        for o in v:
            host = o.rstrip("/").split("://", 1)[-1]
            if o != "*" and (not o.startswith(("http://", "https://")) or not host or "/" in host):
                raise ValueError(f"{o!r} is not an origin like https://shop.example.com (no path) or '*'")
        return [normalise_origin(o) for o in v]


def _filters(since: float | None, until: float | None, user_id: str | None, route: str | None,
             resolution: crm_queries.Resolution | None, tag: str | None, status: str | None, channel: str | None,
             q: str | None) -> crm_queries.ConversationFilter:
    return crm_queries.ConversationFilter(since=since, until=until, user_id=user_id, route=route,
                                          resolution=resolution, tag=tag, status=status, channel=channel, q=q)


@router.get("/conversations", response_model=ConversationPage, responses=ERRORS)
async def list_conversations(principal: CrmPrincipal, ctx: CtxDep, since: float | None = None,
                             until: float | None = None, user_id: str | None = None, route: str | None = None,
                             resolution: crm_queries.Resolution | None = None, tag: str | None = None,
                             status: Literal["open", "handoff", "closed"] | None = None, channel: str | None = None,
                             q: str | None = None, limit: int = 50, offset: int = 0) -> ConversationPage:
    """Search conversations, newest first. Times are unix seconds (`since` inclusive, `until` exclusive)."""
    limit = max(1, min(limit, 500))
    f = _filters(since, until, user_id, route, resolution, tag, status, channel, q)
    total, items = await asyncio.to_thread(crm_queries.search, ctx.db, principal.tenant_id, f, limit, max(0, offset))
    nxt = offset + len(items) if offset + len(items) < total else None
    return ConversationPage(total=total, items=[ConversationSummary(**i) for i in items], next_offset=nxt)


@router.get("/conversations/{conversation_id}", response_model=Transcript, responses=ERRORS)
async def get_transcript(conversation_id: str, principal: CrmPrincipal, ctx: CtxDep) -> Transcript:
    """A conversation with every message, and for bot messages the route and confidence."""
    t = await asyncio.to_thread(crm_queries.transcript, ctx.db, principal.tenant_id, conversation_id)
    if t is None:
        raise HTTPException(404, f"no conversation {conversation_id!r} for this tenant")
    return Transcript(**t)


@router.get("/export", responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}, **ERRORS})
async def export(principal: CrmPrincipal, ctx: CtxDep, format: Literal["jsonl", "csv"] = "jsonl",
                 since: float | None = None, until: float | None = None, user_id: str | None = None,
                 route: str | None = None, resolution: crm_queries.Resolution | None = None, tag: str | None = None,
                 status: Literal["open", "handoff", "closed"] | None = None, channel: str | None = None,
                 q: str | None = None) -> StreamingResponse:
    """Export matching conversations, oldest first: JSONL (a transcript per line) or CSV (a message per row)."""
    f = _filters(since, until, user_id, route, resolution, tag, status, channel, q)
    media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
    return StreamingResponse(crm_queries.export(ctx.db, principal.tenant_id, f, format), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="conversations.{format}"'})


@router.post("/conversations/{conversation_id}/tags", response_model=TagsPublic, responses=ERRORS)
async def tag_conversation(conversation_id: str, body: TagsUpdate, principal: CrmPrincipal, ctx: CtxDep) -> TagsPublic:
    """Add and remove tags."""
    tags = await asyncio.to_thread(crm_queries.set_tags, ctx.db, principal.tenant_id, conversation_id, body.add,
                                   body.remove)
    if tags is None:
        raise HTTPException(404, f"no conversation {conversation_id!r} for this tenant")
    return TagsPublic(conversation_id=conversation_id, tags=tags)


@router.post("/conversations/{conversation_id}/close", response_model=StateOut, responses=ERRORS)
async def close_conversation(conversation_id: str, principal: CrmPrincipal, ctx: CtxDep) -> StateOut:
    """Close a conversation (the customer sees it closed; a new message reopens it)."""
    try:
        conv = await handoff.close(ctx, principal.tenant_id, conversation_id, by="api")
    except handoff.HandoffError as exc:
        raise HTTPException(exc.status, exc.detail) from exc
    return StateOut(conversation_id=conv.id, status=conv.status)


@router.post("/contacts/{user_id}/messages", response_model=MessagePosted, status_code=201, responses=ERRORS)
async def proactive_message(user_id: str, body: ProactiveMessage, principal: CrmPrincipal, ctx: CtxDep) -> MessagePosted:
    """Send a message into the user's open conversation (e.g. "your parcel has shipped")."""
    conv = await asyncio.to_thread(crm_queries.open_conversation_of_user, ctx.db, principal.tenant_id, user_id)
    if conv is None:
        raise HTTPException(404, f"user {user_id!r} has no open conversation")
    msg = await handoff.post_message(ctx, conv, "operator", body.text, author=body.author or None,
                                     payload={"proactive": True})
    return MessagePosted(conversation_id=conv.id, message_id=msg["id"], seq=msg["seq"])


@router.get("/contacts/{user_id}", response_model=ContactPublic, responses=ERRORS)
async def get_contact(user_id: str, principal: CrmPrincipal, ctx: CtxDep) -> ContactPublic:
    c = await asyncio.to_thread(contacts.get_contact, ctx.db, principal.tenant_id, user_id)
    if c is None:
        raise HTTPException(404, f"no contact {user_id!r}")
    return ContactPublic(**c)


@router.patch("/contacts/{user_id}", response_model=ContactPublic, responses=ERRORS)
async def update_contact(user_id: str, body: ContactUpdate, principal: CrmPrincipal, ctx: CtxDep) -> ContactPublic:
    """Set contact attributes (e.g. `crm_id`, `vip_level`); bots and routing rules read them as
    `Turn.attributes` from the user's next message on."""
    c = await asyncio.to_thread(contacts.set_attributes, ctx.db, principal.tenant_id, user_id, body.attributes)
    return ContactPublic(**c)


@router.get("/widget-settings", response_model=WidgetSettings, responses=ERRORS)
async def get_widget_settings(principal: AdminPrincipal, ctx: CtxDep) -> WidgetSettings:
    """The widget's allowed origins and the identity secret your server signs user ids with (admin scope)."""
    def read() -> WidgetSettings:
        with ctx.db.session() as s:
            t = s.get(Tenant, principal.tenant_id)
            assert t is not None
            return WidgetSettings(allowed_origins=list((t.settings or {}).get("allowed_origins", [])),
                                  identity_secret=t.identity_secret)

    return await asyncio.to_thread(read)


@router.put("/widget-settings", response_model=WidgetSettings, responses=ERRORS)
async def put_widget_settings(body: WidgetSettingsUpdate, principal: AdminPrincipal, ctx: CtxDep,
                              request: Request) -> WidgetSettings:
    """Set the allowed origins and/or rotate the identity secret (admin scope)."""
    def write() -> WidgetSettings:
        with ctx.db.session() as s:
            t = s.get(Tenant, principal.tenant_id)
            assert t is not None
            if body.allowed_origins is not None:
                t.settings = {**(t.settings or {}), "allowed_origins": body.allowed_origins}
            if body.rotate_identity_secret:
                t.identity_secret = secrets.token_hex(32)
            return WidgetSettings(allowed_origins=list((t.settings or {}).get("allowed_origins", [])),
                                  identity_secret=t.identity_secret)

    out = await asyncio.to_thread(write)
    cache = getattr(request.app.state, "widget_configs", None)
    if cache is not None:
        cache.invalidate(principal.tenant_id)
    return out
