"""Per-tenant widget settings (allowed origins, identity secret), cached briefly per process.

`Tenant.settings["allowed_origins"]` lists the origins (scheme://host[:port]) that may embed the
widget; "*" allows any. An empty or missing list allows any origin outside production, so a fresh
installation works, and none in production, so a forgotten setting fails closed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select

from csbot.storage.db import Database
from csbot.storage.models import Tenant

CACHE_TTL_S = 5.0


@dataclass(frozen=True)
class WidgetConfig:
    tenant_id: str
    name: str
    identity_secret: str
    allowed_origins: tuple[str, ...]


class WidgetConfigCache:
    def __init__(self, db: Database, environment: str) -> None:
        self.db = db
        self.environment = environment
        self._items: dict[str, tuple[float, WidgetConfig | None]] = {}
        self._all: tuple[float, frozenset[str]] | None = None

    def get(self, tenant_id: str) -> WidgetConfig | None:
        hit = self._items.get(tenant_id)
        if hit and time.monotonic() - hit[0] < CACHE_TTL_S:
            return hit[1]
        with self.db.session() as s:
            t = s.get(Tenant, tenant_id)
            cfg = None if t is None else WidgetConfig(
                t.id, t.name, t.identity_secret or "",
                tuple(normalise_origin(o) for o in (t.settings or {}).get("allowed_origins", []) or []))
        if len(self._items) > 10_000:
            self._items.clear()
        self._items[tenant_id] = (time.monotonic(), cfg)
        return cfg

    def invalidate(self, tenant_id: str) -> None:
        self._items.pop(tenant_id, None)
        self._all = None

    def allowed(self, cfg: WidgetConfig, origin: str | None, own_origin: str | None = None) -> bool:
        """Whether a browser page at `origin` may use this tenant's widget endpoints."""
        if not origin:
            return True  # not a browser (or same-origin GET): API keys and tokens still apply
        origin = normalise_origin(origin)
        if own_origin and origin == normalise_origin(own_origin):
            return True
        if "*" in cfg.allowed_origins:
            return True
        if not cfg.allowed_origins:
            return self.environment != "production"
        return origin in cfg.allowed_origins

    def any_tenant_allows(self, origin: str) -> bool:
        """For CORS preflights, which do not say the tenant: is the origin allowed anywhere?"""
        now = time.monotonic()
        if self._all is None or now - self._all[0] >= CACHE_TTL_S:
            origins: set[str] = set()
            open_tenant = False
            with self.db.session() as s:
                for settings in s.scalars(select(Tenant.settings)):
                    listed = (settings or {}).get("allowed_origins") or []
                    if not listed:
                        open_tenant = True
                    origins.update(normalise_origin(o) for o in listed)
            if open_tenant and self.environment != "production":
                origins.add("*")
            self._all = (now, frozenset(origins))
        return "*" in self._all[1] or normalise_origin(origin) in self._all[1]


def normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()
