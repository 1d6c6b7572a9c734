"""A `csbot serve` app without the operator console still follows model promotions announced on Redis:
the hub swaps the promoted version in, and back on a rollback, without a restart."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.bots import BotRegistry
from csbot.config import Settings
from csbot.models.registry import ModelRegistry
from csbot.storage.db import Database
from tests.conftest import REDIS_URL


def _model_dir(path: Path, marker: str) -> Path:
    path.mkdir(parents=True)
    (path / "weights.txt").write_text(marker)
    return path


def _wait_for(predicate, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_server_without_console_swaps_a_promoted_model(settings: Settings, db: Database, tmp_path: Path) -> None:
    shipped = _model_dir(tmp_path / "shipped", "shipped")
    app = create_app(settings, registry=BotRegistry.from_entry_points([]), plugins=False)
    assert not any(str(getattr(r, "path", "")).startswith("/console") for r in app.routes)
    client = redis.Redis.from_url(REDIS_URL)
    registry = ModelRegistry(settings, db, client)

    def load(path: Path) -> str:
        return (path / "weights.txt").read_text()

    with TestClient(app):
        hub = app.state.ctx.models
        assert hub.get("nlu", load, tenant_id="acme", default=shipped) == "shipped"
        candidate = registry.register("acme", "nlu", _model_dir(tmp_path / "v2", "trained"),
                                      metrics={"intent_f1": 0.9})
        registry.promote(candidate.id, "test")  # announced on Redis pub/sub
        _wait_for(lambda: hub.get("nlu", load, tenant_id="acme") == "trained", "promotion not applied")
        assert hub.current("nlu", "acme").version_id == candidate.id
        registry.rollback("acme", "nlu", "test")
        _wait_for(lambda: hub.get("nlu", load, tenant_id="acme") == "shipped", "rollback not applied")
    assert app.state.promotion_listener.done()  # stopped with the server
    client.close()
