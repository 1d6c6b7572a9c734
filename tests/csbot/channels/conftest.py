"""Fixtures of the channel tests: a tenant, its keys, an operator, and the app on real Redis/SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from csbot.api.app import create_app
from csbot.channels.config import ChannelSettings
from csbot.channels.operators import create_console_user
from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.models import Tenant
from csbot.tenants import create_api_key, create_tenant
from tests.csbot.spine_bots import KeywordBot, StreamBot, registry

SHOP_ORIGIN = "http://shop.example:8080"


@pytest.fixture
def tenant(db: Database) -> Tenant:
    t, _ = create_tenant(db, "acme")
    with db.session() as s:
        row = s.get(Tenant, "acme")
        assert row is not None
        row.settings = {"allowed_origins": [SHOP_ORIGIN]}
    create_tenant(db, "other")
    with db.session() as s:
        other = s.get(Tenant, "other")
        assert other is not None
        other.settings = {"allowed_origins": ["http://other.example"]}
    return t


@pytest.fixture
def api_key(db: Database, tenant: Tenant) -> str:
    return create_api_key(db, "acme")


@pytest.fixture
def operator_user(db: Database, tenant: Tenant) -> dict[str, str]:
    create_console_user(db, "acme", "alice", "correct horse", "operator", "小爱")
    create_console_user(db, "acme", "ann", "annotator pw", "annotator")
    return {"tenant": "acme", "username": "alice", "password": "correct horse"}


def make_client(settings: Settings, channel_settings: ChannelSettings | None = None) -> TestClient:
    reg = registry(KeywordBot("kb", "运费", 0.9, answer="满99元包邮，不满收8元。", cacheable=True),
                   StreamBot("chat", "你好", 0.8, ["您好", "，有什么", "可以帮您？"]))
    app = create_app(settings, registry=reg, plugins=False)
    app.state.channel_settings = channel_settings or ChannelSettings(webhook_backoff_s=0.2, webhook_poll_s=0.1)
    return TestClient(app)


@pytest.fixture
def client(settings: Settings, db: Database, tenant: Tenant) -> Iterator[TestClient]:
    with make_client(settings) as c:
        yield c
