"""The uvicorn options `csbot serve` uses, in one place so tests serve the app exactly the same way."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from csbot.config import Settings


class HeaderTimeoutH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus what uvicorn lacks: a client gets `server.header_timeout_s` to send a
    request's line and headers, from connecting or from its first byte after a keep-alive pause, and
    is disconnected after that (slowloris). Body reads and responses are not timed: a long upload or
    a streamed reply is not cut. A subclass of uvicorn's own protocol because no setting or library
    adds this to uvicorn."""

    header_timeout_s: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self._header_timer is None and self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the request line and headers are complete
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self.header_timeout_s > 0:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _on_header_timeout(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.info("closing a connection that sent no complete request headers in time")
            self.transport.close()


_PROTOCOL_PREFIX = "HeaderTimeoutH11Protocol_ms"


def protocol_class(header_timeout_s: float) -> type[HeaderTimeoutH11Protocol]:
    """The protocol with this timeout, as a class named in this module: `csbot serve --workers N` sends
    the uvicorn config to spawned processes by pickling, which finds classes by module and name."""
    return __getattr__(f"{_PROTOCOL_PREFIX}{round(header_timeout_s * 1000)}")  # type: ignore[no-any-return]


def __getattr__(name: str) -> Any:
    if not name.startswith(_PROTOCOL_PREFIX) or not name[len(_PROTOCOL_PREFIX):].isdigit():
        raise AttributeError(name)
    cls = type(name, (HeaderTimeoutH11Protocol,), {"__module__": __name__, "__qualname__": name,
                                                   "header_timeout_s": int(name[len(_PROTOCOL_PREFIX):]) / 1000})
    globals()[name] = cls
    return cls


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Bounds on idle, slow and greedy clients: an idle keep-alive connection is closed after
    `server.keep_alive_s`; past `server.limit_concurrency` connections a worker answers 503 instead of
    queueing; a request line plus headers larger than `server.max_header_bytes` is refused. Uvicorn
    has no timeout for a client that sends its headers slowly: each such client holds one connection
    (counted against the limit) while the event loop keeps serving everyone else, so our protocol class
    adds one (`server.header_timeout_s`); see docs/security.md."""
    srv = settings.server
    return {
        # h11, not httptools: uvicorn applies no header-size limit with httptools, so a client could grow
        # one request's headers without bound; h11 refuses past `max_header_bytes`
        "http": protocol_class(srv.header_timeout_s),
        # a WebSocket message is held whole in memory: no larger than an HTTP body may be
        "ws_max_size": settings.pipeline.max_body_bytes,
        "timeout_keep_alive": srv.keep_alive_s,
        "limit_concurrency": srv.limit_concurrency or None,
        "h11_max_incomplete_event_size": srv.max_header_bytes,
        "timeout_graceful_shutdown": 5,
    }
