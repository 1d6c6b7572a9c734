"""The FastAPI application: an explicit list of routers plus those other packages declare.

Other packages add routes through the `csbot.api` entry-point group (an `APIRouter`, or a callable
`mount(app)` for ASGI sub-apps such as the console), so csbot never imports their internals.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import entry_points

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

import csbot
from csbot import logsafe
from csbot.api import promotions
from csbot.api.limits import BodySizeLimit
from csbot.api.openapi import document_errors
from csbot.api.routes import chat, conversations, crm, gdpr, health, operator, webhooks, widget
from csbot.bots import BotRegistry
from csbot.channels.setup import install as install_channels
from csbot.config import Settings
from csbot.context import AppContext
from csbot.metrics import METRICS
from csbot.pipeline.pipeline import Pipeline
from csbot.recovery import close_interrupted
from csbot.tenants import KeyVerifier

log = logging.getLogger(__name__)

ROUTERS = [health.router, chat.router, conversations.router]
ROUTERS += [widget.router, widget.static_router, operator.router, crm.router, webhooks.router, gdpr.router]
API_ENTRY_POINTS = "csbot.api"


def create_app(settings: Settings, *, registry: BotRegistry | None = None, redis_url: str | None = None,
               milvus_uri: str | None = None, plugins: bool = True, freeze_gc: bool = False) -> FastAPI:
    """Build the app; bots are created and loaded in the lifespan, once per process.

    `freeze_gc` (the served process: `csbot.api.factory`) moves everything alive after start-up out
    of the garbage collector's reach; not for processes that build many apps (tests), where frozen
    objects of earlier apps could never be collected.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx = AppContext.create(settings, redis_url=redis_url, milvus_uri=milvus_uri)
        reg = registry if registry is not None else BotRegistry.from_entry_points(settings.pipeline.bots)
        for bot in reg.bots.values():
            await bot.load(ctx)
        app.state.ctx = ctx
        app.state.registry = reg
        app.state.pipeline = Pipeline(ctx, reg)
        app.state.keys = KeyVerifier(ctx.db)
        try:
            closed = await asyncio.to_thread(close_interrupted, ctx.db)
            if closed:
                log.warning("closed %d turns left pending by a stopped process", closed)
        except Exception as exc:  # housekeeping must never keep the API from starting
            log.warning("could not close interrupted turns (%s); retried at the next start", type(exc).__name__)
        for hook in app.state.startup_hooks:
            await hook(app)
        if freeze_gc:
            # The models, jieba's dictionary and the indexes are ~370k long-lived objects that every
            # full collection walks: a 100-200 ms pause of the whole process (event loop and threads)
            # each time, a tail-latency spike under load. Frozen, they are skipped
            # (bench/bench_gc_pause.py, docs/performance.md).
            gc.collect()
            gc.freeze()
        log.info("csbot ready: bots %s", sorted(reg.bots))
        try:
            yield
        finally:
            for hook in app.state.shutdown_hooks:
                await hook(app)
            for bot in reg.bots.values():
                close = getattr(bot, "close", None)
                if close is not None:
                    await close()
            await ctx.close()

    app = FastAPI(title="csbot", version=csbot.__version__, lifespan=lifespan,
                  description="Customer-service bot API: chat (JSON, SSE, WebSocket), conversations, feedback, "
                              "handoff, and the integration APIs.")
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    app.state.settings = settings
    for r in ROUTERS:
        app.include_router(r)
    if plugins:
        for ep in sorted(entry_points(group=API_ENTRY_POINTS), key=lambda e: e.name):
            obj = ep.load()
            if isinstance(obj, APIRouter):
                app.include_router(obj)
            elif callable(obj):
                obj(app)
            else:
                raise TypeError(f"entry point {ep.name} in {API_ENTRY_POINTS} is neither an APIRouter nor mount(app)")
    install_channels(app)
    promotions.install(app)
    install_error_handlers(app)
    document_errors(app)
    logsafe.install()
    app.add_middleware(BodySizeLimit, max_bytes=settings.pipeline.max_body_bytes)
    return app


def install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON `{"error", "detail"}`; bad input is a 4xx that says what and where."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        METRICS.http_rejects.labels(status="422").inc()
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return JSONResponse({"error": "invalid request", "detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        METRICS.http_rejects.labels(status=str(exc.status_code)).inc()
        return JSONResponse({"error": _TITLES.get(exc.status_code, "error"), "detail": exc.detail},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _db_down(request: Request, exc: OperationalError) -> JSONResponse:
        METRICS.errors.labels(stage="database").inc()
        return JSONResponse({"error": "service unavailable", "detail": "the database is unavailable; retry shortly"},
                            status_code=503, headers={"Retry-After": "5"})



_TITLES = {400: "bad request", 401: "unauthorized", 403: "forbidden", 404: "not found", 405: "method not allowed",
           409: "conflict", 413: "request too large", 422: "invalid request", 429: "too many requests",
           503: "service unavailable"}
