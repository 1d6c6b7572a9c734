"""ModelHub: load once, serve the registry's version, swap on promotion without dropping callers."""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.asyncio import Redis as AsyncRedis

from csbot.config import Settings
from csbot.models.embedder import Embedder, dir_version
from csbot.models.hub import ModelHub, ModelNotAvailable
from csbot.models.registry import GLOBAL_TENANT, ModelRegistry
from csbot.storage.db import Database
from tests.conftest import REDIS_URL


@pytest.fixture
def hub_settings(settings: Settings, tmp_path: Path, tiny_encoder_dir: Path) -> Settings:
    settings.models.dir = tmp_path / "models"
    shutil.copytree(tiny_encoder_dir, settings.models_dir / "e5-small")
    return settings


@pytest.fixture
def sync_redis() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def registry(hub_settings: Settings, db: Database, sync_redis: redis.Redis) -> ModelRegistry:
    return ModelRegistry(hub_settings, db, sync_redis)


@pytest.fixture
def hub(hub_settings: Settings, db: Database) -> Iterator[ModelHub]:
    h = ModelHub(hub_settings, db)
    yield h
    h.close()


def promote_embedder(registry: ModelRegistry, source: Path) -> str:
    info = registry.register(GLOBAL_TENANT, "embedder", source, metrics={"primary": 0.5})
    registry.promote(info.id, "test", force=True)
    return info.id


def test_embedder_is_loaded_once_for_concurrent_callers(hub: ModelHub, hub_settings: Settings) -> None:
    got: list[Embedder] = []
    threads = [threading.Thread(target=lambda: got.append(hub.embedder())) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 6 and all(e is got[0] for e in got)
    assert got[0].version == dir_version(hub_settings.models_dir / "e5-small")
    ref = hub.current("embedder")
    assert ref is not None and ref.version_id is None  # the shipped default


def test_get_caches_by_role_and_version(hub: ModelHub, tiny_encoder_dir: Path) -> None:
    calls: list[Path] = []

    def loader(path: Path) -> str:
        calls.append(path)
        return f"model at {path}"

    first = hub.get("reranker", loader, default=tiny_encoder_dir)
    again = hub.get("reranker", loader, default=tiny_encoder_dir)
    other_tenant = hub.get("reranker", loader, tenant_id="t9", default=tiny_encoder_dir)
    assert first is again is other_tenant
    assert calls == [tiny_encoder_dir]
    with pytest.raises(ModelNotAvailable):
        hub.get("nlu", loader)


def test_tenant_version_overrides_the_default(hub: ModelHub, registry: ModelRegistry, tmp_path: Path) -> None:
    default, own = tmp_path / "default-nlu", tmp_path / "t1-nlu"
    for d in (default, own):
        d.mkdir()
        (d / "model.json").write_text(d.name)
    info = registry.register("t1", "nlu", own, metrics={"intent_f1": 0.9})
    registry.promote(info.id, "test")

    def loader(path: Path) -> str:
        return (path / "model.json").read_text()

    assert hub.get("nlu", loader, tenant_id="t1", default=default) == "t1-nlu"
    assert hub.get("nlu", loader, tenant_id="t2", default=default) == "default-nlu"


def test_reload_swaps_the_embedder_under_concurrent_callers(
    hub: ModelHub, registry: ModelRegistry, tiny_encoder_dir_b: Path
) -> None:
    before = hub.embedder()
    seen: set[str] = set()
    errors: list[BaseException] = []
    stop = threading.Event()

    def caller() -> None:
        while not stop.is_set():
            try:
                embedder = hub.embedder()
                vectors = embedder.encode_queries(["退货怎么办", "where is my order"])
                assert vectors.shape == (2, embedder.dim)
                seen.add(embedder.version)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    workers = [threading.Thread(target=caller) for _ in range(3)]
    for w in workers:
        w.start()
    version_id = promote_embedder(registry, tiny_encoder_dir_b)
    assert hub.embedder() is before  # nothing changes until the hub is told
    changed = hub.reload("embedder")
    after = hub.embedder()
    time.sleep(0.5)
    stop.set()
    for w in workers:
        w.join()

    assert not errors
    assert [r.version_id for r in changed] == [version_id]
    assert after is not before and after.version == dir_version(tiny_encoder_dir_b)
    assert after.version in seen
    # a caller still holding the old instance can finish its work
    assert before.encode_queries(["仍然可用"]).shape == (1, before.dim)


async def test_listen_promotions_reloads_on_message(
    hub: ModelHub, registry: ModelRegistry, hub_settings: Settings, tiny_encoder_dir_b: Path
) -> None:
    hub.embedder()
    client = AsyncRedis.from_url(REDIS_URL, decode_responses=True)
    ready = asyncio.Event()
    task = asyncio.create_task(hub.listen_promotions(client, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        version_id = await asyncio.to_thread(promote_embedder, registry, tiny_encoder_dir_b)
        deadline = time.monotonic() + 120
        while (ref := hub.current("embedder")) is None or ref.version_id != version_id:
            assert time.monotonic() < deadline, "hub did not reload after the promotion message"
            await asyncio.sleep(0.1)
        assert hub.embedder().version == dir_version(tiny_encoder_dir_b)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await client.aclose()


def test_listener_thread_follows_rollback_to_the_default(
    hub: ModelHub, registry: ModelRegistry, sync_redis: redis.Redis, tiny_encoder_dir_b: Path
) -> None:
    version_id = promote_embedder(registry, tiny_encoder_dir_b)
    first = hub.embedder()
    assert hub.current("embedder").version_id == version_id  # type: ignore[union-attr]
    listener = hub.listen_promotions_in_thread(sync_redis)
    try:
        assert listener.ready.wait(10)
        registry.rollback(GLOBAL_TENANT, "embedder", "test")
        deadline = time.monotonic() + 120
        while hub.current("embedder").version_id is not None:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "hub did not follow the rollback"
            time.sleep(0.1)
    finally:
        listener.stop()
    assert not listener.is_alive()
    assert hub.embedder() is not first
    a = hub.embedder().encode_queries(["同一句话"])
    b = first.encode_queries(["同一句话"])
    assert not np.allclose(a, b, atol=1e-3)  # different weights serve now
