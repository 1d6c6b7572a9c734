"""Webhook endpoints of a tenant: register, list, change, delete, and see each delivery's status."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator
from sqlalchemy import select

from csbot.api.deps import CrmPrincipal, CtxDep
from csbot.api.schemas import ErrorBody
from csbot.context import AppContext
from csbot.events import EVENT_TYPES
from csbot.storage.channels import Webhook, WebhookDelivery

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

ERRORS: dict[int | str, dict[str, object]] = {401: {"model": ErrorBody}, 403: {"model": ErrorBody},
                                              404: {"model": ErrorBody}}


def _check_events(v: list[str]) -> list[str]:
    unknown = [e for e in v if e != "*" and e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event types {unknown}; use '*' or any of {', '.join(EVENT_TYPES)}")
    return sorted(set(v))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    events: list[str] = Field(min_length=1, description="Event types, or ['*'] for all")
    #: HMAC secret for the signature header; generated when omitted
    secret: str | None = Field(default=None, min_length=16, max_length=128)
    description: str = Field(default="", max_length=200)

    _events = field_validator("events")(_check_events)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    events: list[str] | None = None
    active: bool | None = None
    description: str | None = Field(default=None, max_length=200)

    @field_validator("events")
    @classmethod
    def _ev(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _check_events(v)


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str
    active: bool
    created_at: float


class WebhookCreated(WebhookPublic):
    #: shown only in this response
    secret: str


class DeliveryPublic(BaseModel):
    id: int
    event_id: str
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: float | None
    last_status_code: int | None
    last_error: str | None
    created_at: float
    delivered_at: float | None


def _public(w: Webhook) -> WebhookPublic:
    return WebhookPublic(id=w.id, url=w.url, events=list(w.events or []), description=w.description,
                         active=w.active, created_at=w.created_at)


def _get(ctx: AppContext, tenant_id: str, webhook_id: str) -> Webhook:
    with ctx.db.session() as s:
        w = s.get(Webhook, webhook_id)
    if w is None or w.tenant_id != tenant_id:
        raise HTTPException(404, f"no webhook {webhook_id!r} for this tenant")
    return w


def _invalidate(request: Request, tenant_id: str) -> None:
    writer = getattr(request.app.state, "webhook_outbox", None)
    if writer is not None:
        writer.invalidate(tenant_id)


@router.post("", response_model=WebhookCreated, status_code=201, responses=ERRORS)
async def create_webhook(body: WebhookCreate, principal: CrmPrincipal, ctx: CtxDep, request: Request) -> WebhookCreated:
    """Register an endpoint; the response holds the signing secret (shown once)."""
    secret = body.secret or "whsec_" + secrets.token_urlsafe(24)

    def write() -> Webhook:
        with ctx.db.session() as s:
            w = Webhook(tenant_id=principal.tenant_id, url=str(body.url), events=body.events, secret=secret,
                        description=body.description, active=True, created_at=time.time())
            s.add(w)
            s.flush()
            return w

    w = await asyncio.to_thread(write)
    _invalidate(request, principal.tenant_id)
    return WebhookCreated(**_public(w).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookPublic], responses=ERRORS)
async def list_webhooks(principal: CrmPrincipal, ctx: CtxDep) -> list[WebhookPublic]:
    def read() -> list[WebhookPublic]:
        with ctx.db.session() as s:
            return [_public(w) for w in s.scalars(select(Webhook).where(Webhook.tenant_id == principal.tenant_id)
                                                  .order_by(Webhook.created_at))]

    return await asyncio.to_thread(read)


@router.get("/{webhook_id}", response_model=WebhookPublic, responses=ERRORS)
async def get_webhook(webhook_id: str, principal: CrmPrincipal, ctx: CtxDep) -> WebhookPublic:
    return _public(await asyncio.to_thread(_get, ctx, principal.tenant_id, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookPublic, responses=ERRORS)
async def update_webhook(webhook_id: str, body: WebhookUpdate, principal: CrmPrincipal, ctx: CtxDep,
                         request: Request) -> WebhookPublic:
    await asyncio.to_thread(_get, ctx, principal.tenant_id, webhook_id)

    def write() -> Webhook:
        with ctx.db.session() as s:
            w = s.get(Webhook, webhook_id)
            assert w is not None
            if body.url is not None:
                w.url = str(body.url)
            if body.events is not None:
                w.events = body.events
            if body.active is not None:
                w.active = body.active
            if body.description is not None:
                w.description = body.description
            return w

    w = await asyncio.to_thread(write)
    _invalidate(request, principal.tenant_id)
    return _public(w)


@router.delete("/{webhook_id}", status_code=204, responses=ERRORS)
async def delete_webhook(webhook_id: str, principal: CrmPrincipal, ctx: CtxDep, request: Request) -> Response:
    await asyncio.to_thread(_get, ctx, principal.tenant_id, webhook_id)

    def write() -> None:
        with ctx.db.session() as s:
            w = s.get(Webhook, webhook_id)
            if w is not None:
                s.delete(w)

    await asyncio.to_thread(write)
    _invalidate(request, principal.tenant_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryPublic], responses=ERRORS)
async def list_deliveries(webhook_id: str, principal: CrmPrincipal, ctx: CtxDep,
                          status: Literal["pending", "delivered", "failed"] | None = None,
                          limit: int = 100) -> list[DeliveryPublic]:
    """The endpoint's deliveries, newest first, with attempts, last response and next retry."""
    await asyncio.to_thread(_get, ctx, principal.tenant_id, webhook_id)

    def read() -> list[DeliveryPublic]:
        with ctx.db.session() as s:
            q = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            if status:
                q = q.where(WebhookDelivery.status == status)
            rows = s.scalars(q.order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 1000)))).all()
            return [DeliveryPublic(id=d.id, event_id=d.event_id, event_type=d.event_type, status=d.status,  # type: ignore[arg-type]
                                   attempts=d.attempts,
                                   next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
                                   last_status_code=d.last_status_code, last_error=d.last_error,
                                   created_at=d.created_at, delivered_at=d.delivered_at) for d in rows]

    return await asyncio.to_thread(read)


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202, responses=ERRORS)
async def redeliver(webhook_id: str, delivery_id: int, principal: CrmPrincipal, ctx: CtxDep,
                    request: Request) -> dict[str, str]:
    """Queue a failed (or delivered) delivery again, with the same event id and body."""
    await asyncio.to_thread(_get, ctx, principal.tenant_id, webhook_id)

    def write() -> bool:
        with ctx.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None or d.webhook_id != webhook_id:
                return False
            d.status, d.next_attempt_at, d.attempts = "pending", time.time(), 0
            return True

    if not await asyncio.to_thread(write):
        raise HTTPException(404, f"no delivery {delivery_id} for this webhook")
    writer = getattr(request.app.state, "webhook_outbox", None)
    if writer is not None:
        writer.wake.set()
    return {"status": "pending"}
