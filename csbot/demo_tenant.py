"""Seeding the bundled demo tenant: tenant row, word lists, API key, and the bots' own imports."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from csbot.config import Settings
from csbot.demo import loader
from csbot.lexicon import LexiconEntry, replace_entries
from csbot.storage.db import Database
from csbot.storage.models import Tenant
from csbot.tenants import create_api_key, create_tenant, hash_key

log = logging.getLogger(__name__)

DEMO_TENANT = "demo"
DEMO_SETTINGS = {
    "shop_name": "小智商城",
    "out_of_scope": {
        "investment": r"(股票|基金|炒股|比特币|stock tips?|crypto)",
        "medical": r"(看病|吃什么药|诊断|medical advice)",
    },
}


def seed_demo_tenant(db: Database, settings: Settings) -> str:
    """Create or refresh the demo tenant; returns its API key (kept in the data dir, made once)."""
    create_tenant(db, DEMO_TENANT, "小智商城 SmartMall (demo)")
    with db.session() as s:
        tenant = s.get(Tenant, DEMO_TENANT)
        assert tenant is not None
        tenant.settings = {**DEMO_SETTINGS, **(tenant.settings or {}), "shop_url": settings.shop_url}
        if not tenant.identity_secret:
            tenant.identity_secret = secrets.token_hex(32)
    replace_entries(db, DEMO_TENANT, "sensitive",
                    [LexiconEntry(w.term, w.action, w.category) for w in loader.load_sensitive_words()])
    replace_entries(db, DEMO_TENANT, "synonym", [LexiconEntry(s.term, s.canonical) for s in loader.load_synonyms()])
    return demo_api_key(db, settings.data_dir)


def demo_api_key(db: Database, data_dir: Path) -> str:
    """The demo key from `<data_dir>/demo_api_key.txt` if it still works, else a new one written there."""
    from csbot.tenants import KeyVerifier

    path = data_dir / "demo_api_key.txt"
    if path.exists():
        key = path.read_text().strip()
        if KeyVerifier(db).verify(key) is not None:
            return key
        log.info("stored demo key %s... is no longer valid; making a new one", hash_key(key)[:8])
    key = create_api_key(db, DEMO_TENANT, name="demo")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
