"""KB test fixtures: a real Milvus Lite file per test, the real or a tiny encoder, real Redis/SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from csbot.config import Settings
from csbot.models.embedder import Embedder
from csbot.storage.db import Database
from kbbot.dense_index import close_client

DATA = Path(__file__).parent / "data"
FAQ_SMALL = DATA / "faq_small.jsonl"


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Embedder:
    from csbot.models.tiny import build_tiny_encoder

    d = build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))
    emb = Embedder(d, batch_size=32)
    emb.load()
    return emb


@pytest.fixture(autouse=True)
def _close_milvus(settings: Settings) -> Iterator[None]:
    yield
    close_client(settings.milvus_uri)


@pytest.fixture
def redis_sync(settings: Settings) -> Iterator[object]:
    import redis

    r = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield r
    r.close()


@pytest.fixture
def tiny_service(settings: Settings, db: Database, redis_sync: object, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A KBService whose encoder (the tiny one) is only built when something publishes."""
    from kbbot.service import KBService

    return KBService(db, settings.milvus_uri, lambda: request.getfixturevalue("tiny_encoder"), redis_sync,  # type: ignore[arg-type]
                     settings.redis_prefix)


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    from tests.conftest import MODELS_DIR

    emb = Embedder(MODELS_DIR / "e5-small")
    emb.load()
    return emb


@pytest.fixture
async def kb_ctx(ctx, real_embedder: Embedder):  # type: ignore[no-untyped-def]
    """The test's AppContext serving the one real embedder loaded for the session (loading it per
    test would cost seconds each; it is the same shipped model the hub would load)."""
    ctx.models.embedder = lambda tenant_id=None: real_embedder
    yield ctx


@pytest.fixture
def kb_service(kb_ctx):  # type: ignore[no-untyped-def]
    from kbbot.service import KBService

    return KBService(kb_ctx.db, kb_ctx.milvus_uri, kb_ctx.models.embedder, kb_ctx.redis_sync(),
                     kb_ctx.settings.redis_prefix)
