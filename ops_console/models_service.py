"""The model registry as a console user sees it: their tenant's versions (plus the shared ones), promote
and roll back with role checks and an audit entry."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from csbot.models.registry import GLOBAL_TENANT, ROLES, ModelRegistry, ModelVersionInfo
from ops_console import audit


class VersionPublic(BaseModel):
    id: str
    tenant_id: str
    role: str
    version: str
    status: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    note: str
    created_at: float
    promoted_at: float | None
    promoted_by: str | None
    primary: float | None

    @classmethod
    def of(cls, v: ModelVersionInfo) -> VersionPublic:
        return cls(id=v.id, tenant_id=v.tenant_id, role=v.role, version=v.version, status=v.status,
                   metrics=v.metrics, params=v.params, note=v.note, created_at=v.created_at,
                   promoted_at=v.promoted_at, promoted_by=v.promoted_by, primary=v.primary)


class ModelsService:
    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry

    def list(self, tenant_id: str, role: str | None = None) -> dict[str, list[VersionPublic]]:
        """role -> versions (the tenant's own, then the shared ones), newest first."""
        roles = [role] if role else list(ROLES)
        out: dict[str, list[VersionPublic]] = {}
        for r in roles:
            own = self.registry.list(tenant_id, r)
            shared = self.registry.list(GLOBAL_TENANT, r) if tenant_id != GLOBAL_TENANT else []
            out[r] = [VersionPublic.of(v) for v in own + shared]
        return out

    def owned(self, tenant_id: str, version_id: str) -> ModelVersionInfo:
        info = self.registry.get(version_id)
        if info.tenant_id != tenant_id:
            # a tenant's users neither see nor change another tenant's (or the shared) versions
            raise LookupError(f"no model version {version_id} of tenant {tenant_id}")
        return info

    def promote(self, tenant_id: str, actor: str, version_id: str, *, force: bool = False) -> VersionPublic:
        self.owned(tenant_id, version_id)
        info = self.registry.promote(version_id, actor, force=force)
        audit.record(self.registry.db, tenant_id, actor, "model.promote", version_id,
                     {"role": info.role, "version": info.version, "force": force})
        return VersionPublic.of(info)

    def rollback(self, tenant_id: str, actor: str, role: str) -> VersionPublic | None:
        info = self.registry.rollback(tenant_id, role, actor)
        audit.record(self.registry.db, tenant_id, actor, "model.rollback", role,
                     {"now_serving": info.version if info else None})
        return VersionPublic.of(info) if info else None
