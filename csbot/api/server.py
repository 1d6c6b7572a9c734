"""The uvicorn options `csbot serve` uses, in one place so tests serve the app exactly the same way."""

from __future__ import annotations

from typing import Any

from csbot.config import Settings


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Bounds on idle, slow and greedy clients: an idle keep-alive connection is closed after
    `server.keep_alive_s`; past `server.limit_concurrency` connections a worker answers 503 instead of
    queueing; a request line plus headers larger than `server.max_header_bytes` is refused. Uvicorn
    has no timeout for a client that sends its headers slowly: each such client holds one connection
    (counted against the limit) while the event loop keeps serving everyone else; put a reverse proxy
    with a header timeout in front for the internet (docs/security.md)."""
    srv = settings.server
    return {
        # h11, not httptools: uvicorn applies no header-size limit with httptools, so a client could grow
        # one request's headers without bound; h11 refuses past `max_header_bytes`
        "http": "h11",
        # a WebSocket message is held whole in memory: no larger than an HTTP body may be
        "ws_max_size": settings.pipeline.max_body_bytes,
        "timeout_keep_alive": srv.keep_alive_s,
        "limit_concurrency": srv.limit_concurrency or None,
        "h11_max_incomplete_event_size": srv.max_header_bytes,
        "timeout_graceful_shutdown": 5,
    }
