"""The webhook outbox: every conversation event becomes one durable delivery row per subscribed endpoint.

Written inside the event's publication (an in-process event hook), so an event announced by
this API process is in SQL before anyone tries to send it; the dispatcher does the sending.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from sqlalchemy import select

from csbot.channels.live import messages_of_turn
from csbot.context import AppContext
from csbot.storage.channels import Webhook, WebhookDelivery

log = logging.getLogger(__name__)

CACHE_TTL_S = 5.0


def event_body(event: dict[str, Any]) -> str:
    """The JSON body sent for an event (identical on every attempt and for every endpoint)."""
    return json.dumps({"id": event["id"], "type": event["type"], "tenant_id": event["tenant_id"],
                       "created_at": event["at"], "data": event["data"]}, ensure_ascii=False, separators=(",", ":"))


class OutboxWriter:
    """An event hook (`ctx.extras["event_hooks"]`) that queues deliveries for the tenant's endpoints."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.wake = asyncio.Event()
        self._hooks: dict[str, tuple[float, list[tuple[str, list[str]]]]] = {}

    def invalidate(self, tenant_id: str) -> None:
        self._hooks.pop(tenant_id, None)

    def _endpoints(self, tenant_id: str) -> list[tuple[str, list[str]]]:
        hit = self._hooks.get(tenant_id)
        if hit and time.monotonic() - hit[0] < CACHE_TTL_S:
            return hit[1]
        with self.ctx.db.session() as s:
            rows = [(w.id, list(w.events or [])) for w in s.scalars(
                select(Webhook).where(Webhook.tenant_id == tenant_id, Webhook.active.is_(True)))]
        self._hooks[tenant_id] = (time.monotonic(), rows)
        return rows

    async def __call__(self, event: dict[str, Any]) -> None:
        try:
            queued = await asyncio.to_thread(self._write, event)
        except Exception:  # the customer's turn must not fail because the outbox did
            log.exception("webhook outbox: event %s not queued", event.get("id"))
            return
        if queued:
            self.wake.set()

    def _write(self, event: dict[str, Any]) -> int:
        targets = [wid for wid, events in self._endpoints(event["tenant_id"])
                   if "*" in events or event["type"] in events]
        if not targets:
            return 0
        data = dict(event["data"])
        if event["type"] == "message.created" and "message" not in data and data.get("turn_id"):
            # the pipeline announces a turn; receivers want the stored messages themselves
            data["messages"] = messages_of_turn(self.ctx, str(data["conversation_id"]), str(data["turn_id"]))
        body = event_body({**event, "data": data})
        now = time.time()
        with self.ctx.db.session() as s:
            for wid in targets:
                s.add(WebhookDelivery(tenant_id=event["tenant_id"], webhook_id=wid, event_id=event["id"],
                                      event_type=event["type"], body=body, status="pending", attempts=0,
                                      next_attempt_at=now, created_at=now))
        return len(targets)
