"""Shared fixtures: every test gets its own data dir, SQLite file, Redis key prefix and PG schema.

Real services only: Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 (database `test`)
run on every development and CI machine of this project.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis

from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("CSBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URL = os.environ.get("CSBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: converted real models, prepared once by `make test` (csbot models prepare)
MODELS_DIR = Path(os.environ.get("CSBOT_TEST_MODELS_DIR", REPO / "var" / "models"))


def clear_redis_prefix(prefix: str) -> None:
    """Delete every key a test wrote under its prefix on the shared Redis."""
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"csbot-test-{uuid.uuid4().hex[:10]}"
    yield prefix
    clear_redis_prefix(prefix)


@pytest.fixture
def settings(tmp_path: Path, redis_prefix: str) -> Settings:
    return Settings(
        environment="test",
        data_dir=tmp_path,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        milvus_uri=str(tmp_path / "milvus.db"),
        models={"dir": MODELS_DIR},
    )


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    yield database
    database.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema on the machine's server, dropped afterwards."""
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
async def ctx(settings: Settings, db: Database) -> AsyncIterator[object]:
    from csbot.context import AppContext

    context = AppContext.create(settings)
    yield context
    await context.close()
