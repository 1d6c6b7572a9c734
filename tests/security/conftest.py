"""Fixtures of the security tests: the full csbot app (every plugin route: KB, console) served by a real
uvicorn on loopback, and two tenants each with API keys and console users.

The app and its server are built once per test module (building it mounts the Gradio console, which
takes seconds); each module gets its own data dir, SQLite file and Redis prefix.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn

from csbot.api.server import uvicorn_options
from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.migrate import upgrade
from tests.conftest import MODELS_DIR, REDIS_URL, clear_redis_prefix

PASSWORD = "Tr0ub4dor&3-sec"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(app: Any, **config: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields the base URL."""
    port = free_port()
    cfg = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **config)
    server = uvicorn.Server(cfg)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@dataclass
class Stack:
    url: str
    app: Any
    settings: Settings
    db: Database
    #: name -> API key in clear ("acme", "other", "acme_revoked", ...)
    keys: dict[str, str] = field(default_factory=dict)
    #: "<tenant>-<role>" -> operator token
    tokens: dict[str, str] = field(default_factory=dict)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def module_settings(tmp: Any, prefix: str, **update: Any) -> Settings:
    return Settings(environment="test", data_dir=tmp, redis_url=REDIS_URL, redis_prefix=prefix,
                    milvus_uri=str(tmp / "milvus.db"), models={"dir": MODELS_DIR}, **update)


def build_app(settings: Settings) -> Any:
    """The app as `csbot serve` builds it (all plugin routes), with the real KB bot and a scripted chat
    bot (the spine's test plugin) so no generator model is loaded."""
    from csbot.api.app import create_app
    from csbot.bots import BotRegistry
    from tests.csbot.spine_bots import StreamBot

    reg = BotRegistry.from_entry_points(["kb"])
    reg.register("chat", StreamBot("chat", "你好", 0.8, ["您好", "，有什么", "可以帮您？"]))
    return create_app(settings, registry=reg)


def add_tenants(stack: Stack, *tenants: str) -> None:
    """Each tenant: a full key, a revoked key, a chat-only key, and an admin, operator and annotator."""
    from csbot.channels.operators import create_console_user
    from csbot.tenants import create_api_key, create_tenant, revoke_api_key

    for t in tenants:
        create_tenant(stack.db, t)
        stack.keys[t] = create_api_key(stack.db, t)
        stack.keys[f"{t}_revoked"] = create_api_key(stack.db, t)
        revoke_api_key(stack.db, stack.keys[f"{t}_revoked"])
        stack.keys[f"{t}_chat_only"] = create_api_key(stack.db, t, scopes=["chat"])
        for role in ("admin", "operator", "annotator"):
            create_console_user(stack.db, t, f"{t}-{role}", PASSWORD, role)
            r = httpx.post(f"{stack.url}/v1/operator/login",
                           json={"tenant": t, "username": f"{t}-{role}", "password": PASSWORD})
            r.raise_for_status()
            stack.tokens[f"{t}-{role}"] = r.json()["token"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The full app on a real uvicorn run as `csbot serve` runs it, tenants `acme` and `other`; a test
    module may set `STACK_SETTINGS` (Settings fields) to change its own stack."""
    tmp = tmp_path_factory.mktemp("security")
    prefix = f"csbot-test-{uuid.uuid4().hex[:10]}"
    settings = module_settings(tmp, prefix, **getattr(request.module, "STACK_SETTINGS", {}))
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    app = build_app(settings)
    try:
        with serve(app, **uvicorn_options(settings)) as url:
            s = Stack(url, app, settings, db)
            add_tenants(s, "acme", "other")
            yield s
    finally:
        db.dispose()
        clear_redis_prefix(prefix)
