"""Applies model promotions inside every serving process: reload the role in the ModelHub, then tell the bots.

A promotion (console, API or `csbot kb train-reranker --promote`) is announced on Redis pub/sub
(`<prefix>:events:model-promoted`). Every `csbot serve` subscribes from its lifespan (`install`),
with or without the operator console mounted: the ModelHub loads the new version first and then swaps
it in (requests in flight finish on the old object); bots that keep a per-tenant runtime built from a
model (TaskBot's intent classifier, the KB bot's matcher) rebuild it on their next turn once
invalidated. Idempotent: a reload of an unchanged version does nothing. (The ChatBot follows
`chat-lora` promotions with its own subscription.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import FastAPI

from csbot.models.registry import GLOBAL_TENANT, promoted_channel

log = logging.getLogger(__name__)

#: model role -> bots whose per-tenant runtime holds that model
DEPENDENT_BOTS: dict[str, tuple[str, ...]] = {"nlu": ("task",), "embedder": ("kb", "task"), "reranker": ("kb",)}


async def apply(app: FastAPI, body: dict[str, Any]) -> None:
    ctx = app.state.ctx
    role, tenant = str(body.get("role", "")), body.get("tenant_id")
    changed = await asyncio.to_thread(ctx.models.reload, role, tenant)
    bots = getattr(app.state, "registry", None)
    for name in DEPENDENT_BOTS.get(role, ()):
        bot = bots.bots.get(name) if bots is not None else None
        invalidate = getattr(bot, "invalidate", None)
        if invalidate is None:
            continue
        targets = list(getattr(bot, "_tenants", {}) or []) if tenant in (None, GLOBAL_TENANT) else [tenant]
        for t in targets:
            invalidate(t)
    log.info("promotion of %s for %s applied (%d slot(s) swapped)", role, tenant, len(changed))


async def listen(app: FastAPI, ready: asyncio.Event | None = None) -> None:
    ctx = app.state.ctx
    channel = promoted_channel(ctx.settings.redis_prefix)
    while True:
        pubsub = ctx.redis.pubsub()
        try:
            await pubsub.subscribe(channel)
            if ready is not None:
                ready.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    await apply(app, json.loads(message["data"]))
                except Exception:  # a bad message or a failed load must not stop the listener
                    log.exception("could not apply promotion %r", message.get("data"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Redis away: retry
            log.warning("promotion listener: %s; retrying", exc)
            await asyncio.sleep(1.0)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()


async def start(app: FastAPI) -> None:
    ready = asyncio.Event()
    app.state.promotion_listener = asyncio.create_task(listen(app, ready))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ready.wait(), 5)


async def stop(app: FastAPI) -> None:
    task = getattr(app.state, "promotion_listener", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def install(app: FastAPI) -> None:
    """Start the listener with the app's lifespan and stop it at shutdown."""
    app.state.startup_hooks.append(start)
    app.state.shutdown_hooks.append(stop)
