"""The audit log: every change made through the console or the operations API, who and when."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from csbot.storage.db import Database
from csbot.storage.ops import AuditEntry


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    tenant_id: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    at: float


def record(db: Database, tenant_id: str, actor: str, action: str, target: str = "",
           detail: dict[str, Any] | None = None) -> None:
    with db.session() as s:
        s.add(AuditEntry(tenant_id=tenant_id, actor=actor, action=action, target=target[:200], detail=detail or {}))


def entries(db: Database, tenant_id: str, limit: int = 200, action: str | None = None) -> list[AuditPublic]:
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    with db.session() as s:
        return [AuditPublic.model_validate(r) for r in s.scalars(stmt)]
