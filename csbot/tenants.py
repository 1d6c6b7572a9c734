"""Tenants and their API keys. Keys are stored as SHA-256 hashes and shown once, at creation."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from csbot.storage.db import Database
from csbot.storage.models import ApiKey, Tenant

TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
KEY_PREFIX = "csk_"
DEFAULT_SCOPES = ["chat", "conversations", "kb", "crm", "admin"]


class TenantError(ValueError):
    pass


def validate_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID.match(tenant_id):
        raise TenantError(
            f"invalid tenant id {tenant_id!r}: use 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"
        )
    return tenant_id


def create_tenant(db: Database, tenant_id: str, name: str | None = None) -> tuple[Tenant, bool]:
    """Create a tenant; a no-op (returns created=False) when it exists."""
    validate_tenant_id(tenant_id)
    with db.session() as s:
        existing = s.get(Tenant, tenant_id)
        if existing is not None:
            return existing, False
        tenant = Tenant(id=tenant_id, name=name or tenant_id, identity_secret=secrets.token_hex(32))
        s.add(tenant)
        return tenant, True


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_api_key(db: Database, tenant_id: str, name: str = "", scopes: list[str] | None = None) -> str:
    """Create a key for an existing tenant and return it in clear (the only time it is visible)."""
    with db.session() as s:
        if s.get(Tenant, tenant_id) is None:
            raise TenantError(f"unknown tenant {tenant_id!r}: create it first with `csbot tenant create {tenant_id}`")
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(24)}"
        s.add(ApiKey(tenant_id=tenant_id, prefix=prefix, key_hash=hash_key(key), name=name,
                     scopes=scopes or list(DEFAULT_SCOPES)))
    return key


def revoke_api_key(db: Database, key: str) -> bool:
    with db.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
        if row is None:
            return False
        row.revoked = True
        return True


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    key_id: str
    scopes: tuple[str, ...]


class KeyVerifier:
    """Checks bearer keys against SQL, remembering results briefly so the hot path skips the query.

    A revoked key stops working within `ttl_s` seconds on every replica.
    """

    def __init__(self, db: Database, ttl_s: float = 5.0) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def verify(self, key: str) -> Principal | None:
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit and now - hit[0] < self.ttl_s:
            return hit[1]
        with self.db.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            principal = None
            if row is not None and not row.revoked:
                principal = Principal(row.tenant_id, row.id, tuple(row.scopes or ()))
                row.last_used_at = time.time()
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, principal)
        return principal
