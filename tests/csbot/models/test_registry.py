"""Model registry on real SQLite and PostgreSQL, with promotions announced on real Redis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from csbot.config import Settings
from csbot.models.registry import (
    GLOBAL_TENANT,
    ModelRegistry,
    NothingToRollBack,
    PromotionRefused,
    promoted_channel,
)
from csbot.storage.db import Database
from csbot.storage.migrate import upgrade
from tests.conftest import REDIS_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Database]:
    url = settings.database_url if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def registry(settings: Settings, database: Database, client: redis.Redis, tmp_path: Path) -> ModelRegistry:
    settings.models.dir = tmp_path / "models"  # the registry writes under models_dir/registry
    return ModelRegistry(settings, database, client)


def artefact(tmp_path: Path, name: str, content: str = "weights") -> Path:
    d = tmp_path / "train-out" / name
    d.mkdir(parents=True)
    (d / "model.bin").write_text(content)
    return d


def test_register_stores_files_under_the_registry(registry: ModelRegistry, tmp_path: Path) -> None:
    src = artefact(tmp_path, "a", "v1")
    info = registry.register(
        "t1",
        "reranker",
        src,
        version="rr-1",
        fingerprint="abc",
        metrics={"mrr@10": 0.5},
        params={"epochs": 1},
    )
    assert info.status == "candidate"
    assert Path(info.path) == registry.root / "t1" / "reranker" / info.id
    assert (Path(info.path) / "model.bin").read_text() == "v1"
    assert src.exists()  # copied, not moved
    listed = registry.list("t1", "reranker")
    assert [v.id for v in listed] == [info.id]
    assert listed[0].metrics == {"mrr@10": 0.5} and listed[0].params == {"epochs": 1}
    assert registry.serving("t1", "reranker") is None


def test_register_rejects_unknown_role(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="role"):
        registry.register("t1", "summariser", artefact(tmp_path, "x"))


def test_promotion_is_gated_on_the_primary_metric(registry: ModelRegistry, tmp_path: Path) -> None:
    first = registry.register("t1", "nlu", artefact(tmp_path, "a"), metrics={"primary": 0.80})
    better = registry.register("t1", "nlu", artefact(tmp_path, "b"), metrics={"primary": 0.85})
    worse = registry.register("t1", "nlu", artefact(tmp_path, "c"), metrics={"primary": 0.70})

    assert registry.promote(first.id, "alice").status == "serving"
    promoted = registry.promote(better.id, "bob")
    assert promoted.previous_id == first.id and promoted.promoted_by == "bob"
    assert registry.get(first.id).status == "retired"

    with pytest.raises(PromotionRefused) as refused:
        registry.promote(worse.id, "carol")
    assert "0.7000" in refused.value.reason and "0.8500" in refused.value.reason
    serving = registry.serving("t1", "nlu")
    assert serving is not None and serving.id == better.id
    assert registry.get(worse.id).status == "candidate"


def test_forced_promotion_overrides_the_gate(registry: ModelRegistry, tmp_path: Path) -> None:
    good = registry.register("t1", "nlu", artefact(tmp_path, "a"), metrics={"intent_f1": 0.9})
    worse = registry.register("t1", "nlu", artefact(tmp_path, "b"), metrics={"intent_f1": 0.6})
    registry.promote(good.id, "alice")
    forced = registry.promote(worse.id, "alice", force=True)
    assert forced.status == "serving"
    assert {v.id: v.status for v in registry.list("t1", "nlu")} == {worse.id: "serving", good.id: "retired"}


def test_version_without_metric_or_failed_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    unevaluated = registry.register("t1", "reranker", artefact(tmp_path, "a"))
    with pytest.raises(PromotionRefused, match="no primary metric"):
        registry.promote(unevaluated.id, "alice")
    failed = registry.register(
        "t1", "reranker", artefact(tmp_path, "b"), metrics={"primary": 1.0}, status="failed"
    )
    with pytest.raises(PromotionRefused, match="failed"):
        registry.promote(failed.id, "alice", force=True)


def test_tenants_and_roles_are_independent(registry: ModelRegistry, tmp_path: Path) -> None:
    a = registry.register("t1", "nlu", artefact(tmp_path, "a"), metrics={"primary": 0.9})
    b = registry.register("t2", "nlu", artefact(tmp_path, "b"), metrics={"primary": 0.1})
    c = registry.register("t1", "reranker", artefact(tmp_path, "c"), metrics={"primary": 0.1})
    for v in (a, b, c):
        registry.promote(v.id, "ops")
    assert {(v.tenant_id, v.role) for v in registry.list() if v.status == "serving"} == {
        ("t1", "nlu"),
        ("t2", "nlu"),
        ("t1", "reranker"),
    }


def test_rollback_returns_to_the_previous_version(registry: ModelRegistry, tmp_path: Path) -> None:
    v1 = registry.register("t1", "chat-lora", artefact(tmp_path, "a"), metrics={"primary": 0.5})
    v2 = registry.register("t1", "chat-lora", artefact(tmp_path, "b"), metrics={"primary": 0.6})
    v3 = registry.register("t1", "chat-lora", artefact(tmp_path, "c"), metrics={"primary": 0.7})
    for v in (v1, v2, v3):
        registry.promote(v.id, "ops")

    back = registry.rollback("t1", "chat-lora", "ops")
    assert back is not None and back.id == v2.id
    assert registry.get(v3.id).status == "retired"
    back = registry.rollback("t1", "chat-lora", "ops")
    assert back is not None and back.id == v1.id
    assert registry.rollback("t1", "chat-lora", "ops") is None  # back to the shipped default
    assert registry.serving("t1", "chat-lora") is None
    with pytest.raises(NothingToRollBack):
        registry.rollback("t1", "chat-lora", "ops")


def test_promotion_and_rollback_are_announced_on_redis(
    registry: ModelRegistry, client: redis.Redis, tmp_path: Path
) -> None:
    pubsub = client.pubsub()
    pubsub.subscribe(promoted_channel(registry.settings.redis_prefix))
    try:
        confirmed = pubsub.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "subscribe"
        v1 = registry.register(GLOBAL_TENANT, "embedder", artefact(tmp_path, "a"), metrics={"primary": 0.1})
        v2 = registry.register(GLOBAL_TENANT, "embedder", artefact(tmp_path, "b"), metrics={"primary": 0.2})
        registry.promote(v1.id, "ops")
        registry.promote(v2.id, "ops")
        registry.rollback(GLOBAL_TENANT, "embedder", "ops")
        messages = []
        deadline = time.monotonic() + 10
        while len(messages) < 3 and time.monotonic() < deadline:
            m = pubsub.get_message(timeout=1)
            if m is not None and m["type"] == "message":
                messages.append(json.loads(m["data"]))
    finally:
        pubsub.close()
    assert messages == [
        {"tenant_id": GLOBAL_TENANT, "role": "embedder", "version_id": v1.id},
        {"tenant_id": GLOBAL_TENANT, "role": "embedder", "version_id": v2.id},
        {"tenant_id": GLOBAL_TENANT, "role": "embedder", "version_id": v1.id},
    ]


def test_at_most_one_serving_row_per_tenant_and_role(
    registry: ModelRegistry, database: Database, tmp_path: Path
) -> None:
    from sqlalchemy.exc import IntegrityError

    from csbot.storage.registry import ModelVersion

    a = registry.register("t1", "nlu", artefact(tmp_path, "a"), metrics={"primary": 0.5})
    b = registry.register("t1", "nlu", artefact(tmp_path, "b"), metrics={"primary": 0.5})
    registry.promote(a.id, "ops")
    with pytest.raises(IntegrityError):
        with database.session() as s:
            row = s.get(ModelVersion, b.id)
            assert row is not None
            row.status = "serving"
