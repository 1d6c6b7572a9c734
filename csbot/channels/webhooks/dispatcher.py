"""Sends queued webhook deliveries: in order per endpoint, signed, retried with exponential back-off.

Runs as an asyncio task in every API process (started from `app.state.startup_hooks`). A Redis
lock per endpoint makes one process send a given endpoint's next delivery; an endpoint that is
down only delays its own queue, never chat.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from csbot.channels.config import ChannelSettings
from csbot.channels.webhooks import signature
from csbot.channels.webhooks.outbox import OutboxWriter
from csbot.context import AppContext
from csbot.storage.channels import Webhook, WebhookDelivery

log = logging.getLogger(__name__)


def backoff_s(attempts: int, cs: ChannelSettings) -> float:
    """Delay before the next attempt after `attempts` failures: base, 2x base, 4x base... capped."""
    return float(min(cs.webhook_backoff_s * (2 ** max(0, attempts - 1)), cs.webhook_backoff_max_s))


class WebhookDispatcher:
    def __init__(self, ctx: AppContext, settings: ChannelSettings, writer: OutboxWriter) -> None:
        self.ctx = ctx
        self.settings = settings
        self.writer = writer
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None

    def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.settings.webhook_timeout_s, follow_redirects=False,
                                         headers={"User-Agent": "csbot-webhooks/1"})
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            await self._client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher tick failed")
            try:
                await asyncio.wait_for(self.writer.wake.wait(), timeout=self.settings.webhook_poll_s)
            except TimeoutError:
                pass
            self.writer.wake.clear()

    def _due_heads(self) -> list[tuple[WebhookDelivery, Webhook | None]]:
        """The oldest pending delivery of each endpoint, when its next attempt is due."""
        now = time.time()
        with self.ctx.db.session() as s:
            heads = select(func.min(WebhookDelivery.id)).where(WebhookDelivery.status == "pending") \
                .group_by(WebhookDelivery.webhook_id)
            rows = s.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(heads),
                                                           WebhookDelivery.next_attempt_at <= now)).all()
            return [(r, s.get(Webhook, r.webhook_id)) for r in rows]

    async def run_once(self) -> int:
        """Attempt every due head once; returns how many were attempted."""
        due = await asyncio.to_thread(self._due_heads)
        await asyncio.gather(*(self._attempt(d, w) for d, w in due))
        return len(due)

    async def _attempt(self, delivery: WebhookDelivery, hook: Webhook | None) -> None:
        lock = self.ctx.key("webhook-lock", delivery.webhook_id)
        ttl_ms = int((self.settings.webhook_timeout_s + 5) * 1000)
        if not await self.ctx.redis.set(lock, str(delivery.id), nx=True, px=ttl_ms):
            return
        try:
            if hook is None or not hook.active:
                await asyncio.to_thread(self._record, delivery.id, None, "endpoint deleted or disabled", final=True)
                return
            body = delivery.body.encode("utf-8")
            headers = {"Content-Type": "application/json", signature.HEADER: signature.sign(hook.secret, body),
                       "X-Csbot-Event": delivery.event_type, "X-Csbot-Event-Id": delivery.event_id,
                       "X-Csbot-Delivery": str(delivery.id), "X-Csbot-Attempt": str(delivery.attempts + 1)}
            code: int | None = None
            error: str | None = None
            try:
                assert self._client is not None
                resp = await self._client.post(hook.url, content=body, headers=headers)
                code = resp.status_code
                if not 200 <= code < 300:
                    error = f"HTTP {code}: {resp.text[:200]}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            await asyncio.to_thread(self._record, delivery.id, code, error, final=False)
        finally:
            await self.ctx.redis.delete(lock)

    def _record(self, delivery_id: int, code: int | None, error: str | None, *, final: bool) -> None:
        now = time.time()
        with self.ctx.db.session() as s:
            d = s.get(WebhookDelivery, delivery_id)
            if d is None or d.status != "pending":
                return
            d.attempts += 1
            d.last_status_code = code
            d.last_error = error
            if error is None:
                d.status, d.delivered_at = "delivered", now
            elif final or d.attempts >= self.settings.webhook_max_attempts:
                d.status = "failed"
                log.warning("webhook delivery %s given up after %d attempts: %s", d.id, d.attempts, error)
            else:
                d.next_attempt_at = now + backoff_s(d.attempts, self.settings)


async def start_dispatcher(app: FastAPI) -> None:
    """Startup hook: queue every event in the outbox and, unless disabled, start sending."""
    from csbot.channels.setup import channel_settings

    ctx: AppContext = app.state.ctx
    cs = channel_settings(app)
    writer = OutboxWriter(ctx)
    hooks = cast(list[Any], ctx.extras.setdefault("event_hooks", []))
    hooks.append(writer)
    app.state.webhook_outbox = writer
    if cs.dispatcher:
        dispatcher = WebhookDispatcher(ctx, cs, writer)
        dispatcher.start()
        app.state.webhook_dispatcher = dispatcher


async def stop_dispatcher(app: FastAPI) -> None:
    dispatcher: WebhookDispatcher | None = getattr(app.state, "webhook_dispatcher", None)
    if dispatcher is not None:
        await dispatcher.stop()
