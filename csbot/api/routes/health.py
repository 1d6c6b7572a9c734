"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from csbot.api.schemas import Health
from csbot.metrics import METRICS

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> JSONResponse:
    """Database, Redis, vector store and models: 200 when all are usable, 503 otherwise."""
    ctx = request.app.state.ctx
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(ctx.db.ping)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await asyncio.wait_for(ctx.redis.ping(), timeout=2)
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    for name, bot in request.app.state.registry.bots.items():
        try:
            for component, status in bot.ready().items():
                checks[f"{name}.{component}"] = status
        except Exception as exc:
            checks[f"{name}"] = f"error: {type(exc).__name__}: {exc}"
    # Components may report degraded-but-working states ("fusion only, no reranker"); only errors fail.
    ok = all(not v.startswith(("error", "missing", "down")) for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus metrics: turns by route, latency histograms, cache hits, errors."""
    return Response(generate_latest(METRICS.registry), media_type=CONTENT_TYPE_LATEST)
