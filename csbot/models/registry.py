"""The eval-gated model registry: register candidates, promote (or refuse), roll back, announce.

Every trained artefact (embedder, reranker, NLU, chat model, chat LoRA) is stored under
`<models_dir>/registry/<tenant>/<role>/<id>/` with its fingerprint and evaluation report. Promotion
compares the candidate's primary metric (higher is better) with the serving version's and refuses a
regression unless forced; each promotion or rollback is published on Redis so that every process's
ModelHub swaps the new version in.
"""

from __future__ import annotations

import builtins
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import redis as redis_sync
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.registry import ModelVersion
from csbot.types import new_id

log = logging.getLogger(__name__)

Role = Literal["embedder", "reranker", "nlu", "chat", "chat-lora"]
ROLES: tuple[str, ...] = ("embedder", "reranker", "nlu", "chat", "chat-lora")
Status = Literal["candidate", "serving", "retired", "failed"]
#: tenant id for models shared by every tenant (the embedder, the base chat model)
GLOBAL_TENANT = "_global"
#: the metric compared at promotion when the report has no explicit "primary" entry (higher is better)
PRIMARY_METRIC: dict[str, str] = {
    "embedder": "recall@5",
    "reranker": "mrr@10",
    "nlu": "intent_f1",
    "chat": "win_rate",
    "chat-lora": "win_rate",
}
PROMOTED_CHANNEL = "events:model-promoted"


class RegistryError(RuntimeError):
    """Base class of registry refusals."""


class PromotionRefused(RegistryError):
    """The candidate may not be promoted; `reason` says why (e.g. its metric is worse)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NothingToRollBack(RegistryError):
    """No serving version (or no earlier one) for this tenant and role."""


class VersionNotFound(RegistryError, LookupError):
    pass


class ModelVersionInfo(BaseModel):
    """A registry row as handed to callers (detached from the SQL session)."""

    model_config = ConfigDict(from_attributes=True, frozen=True)

    id: str
    tenant_id: str
    role: str
    version: str
    path: str
    fingerprint: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    status: str
    previous_id: str | None
    note: str
    created_at: float
    promoted_at: float | None
    promoted_by: str | None

    @property
    def primary(self) -> float | None:
        return primary_metric(self.role, self.metrics)


def primary_metric(role: str, metrics: dict[str, Any]) -> float | None:
    """The number promotion compares: metrics["primary"], else the role's declared metric."""
    value = metrics.get("primary", metrics.get(PRIMARY_METRIC.get(role, ""), None))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def promoted_channel(prefix: str) -> str:
    return f"{prefix}:{PROMOTED_CHANNEL}"


class ModelRegistry:
    """Registry service over the `model_versions` table and the files under `models_dir/registry`."""

    def __init__(self, settings: Settings, db: Database, redis: redis_sync.Redis | None = None) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis

    @property
    def root(self) -> Path:
        return self.settings.models_dir / "registry"

    def register(
        self,
        tenant_id: str,
        role: str,
        source_dir: Path,
        *,
        version: str = "",
        fingerprint: str = "",
        metrics: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        status: Status = "candidate",
        note: str = "",
        move: bool = False,
    ) -> ModelVersionInfo:
        """Store the files of `source_dir` as a new version (copied, or moved when `move`).

        Args:
            tenant_id: owner tenant, or GLOBAL_TENANT for shared models.
            role: one of ROLES.
            source_dir: directory written by a trainer.
            version: label; defaults to "<role>-<id[:8]>".
            fingerprint: hash of training data + config.
            metrics: evaluation report; its primary metric gates promotion.
            params: training parameters, kept for the record.
            status: "candidate", or "failed" to record a failed training.
        """
        if role not in ROLES:
            raise ValueError(f"unknown model role {role!r}; expected one of {ROLES}")
        if status not in ("candidate", "failed"):
            raise ValueError("a new version is registered as candidate or failed")
        source_dir = Path(source_dir)
        if not source_dir.is_dir():
            raise FileNotFoundError(f"no model directory at {source_dir}")
        vid = new_id()
        dest = self.root / _safe(tenant_id) / role / vid
        dest.parent.mkdir(parents=True, exist_ok=True)
        if move:
            shutil.move(str(source_dir), dest)
        else:
            shutil.copytree(source_dir, dest)
        row = ModelVersion(
            id=vid,
            tenant_id=tenant_id,
            role=role,
            version=version or f"{role}-{vid[:8]}",
            path=str(dest),
            fingerprint=fingerprint,
            metrics=metrics or {},
            params=params or {},
            status=status,
            note=note,
        )
        try:
            with self.db.session() as s:
                s.add(row)
                s.flush()
                info = ModelVersionInfo.model_validate(row)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        log.info("registered %s %s for %s (%s)", role, info.version, tenant_id, status)
        return info

    def get(self, version_id: str) -> ModelVersionInfo:
        with self.db.session() as s:
            row = s.get(ModelVersion, version_id)
            if row is None:
                raise VersionNotFound(f"no model version {version_id}")
            return ModelVersionInfo.model_validate(row)

    def list(self, tenant_id: str | None = None, role: str | None = None) -> builtins.list[ModelVersionInfo]:
        """Versions, newest first, optionally filtered by tenant and role."""
        stmt = select(ModelVersion).order_by(ModelVersion.created_at.desc())
        if tenant_id is not None:
            stmt = stmt.where(ModelVersion.tenant_id == tenant_id)
        if role is not None:
            stmt = stmt.where(ModelVersion.role == role)
        with self.db.session() as s:
            return [ModelVersionInfo.model_validate(r) for r in s.scalars(stmt)]

    def serving(self, tenant_id: str, role: str) -> ModelVersionInfo | None:
        with self.db.session() as s:
            row = _serving_row(s, tenant_id, role)
            return ModelVersionInfo.model_validate(row) if row is not None else None

    def mark_failed(self, version_id: str, note: str = "") -> ModelVersionInfo:
        with self.db.session() as s:
            row = s.get(ModelVersion, version_id)
            if row is None:
                raise VersionNotFound(f"no model version {version_id}")
            if row.status == "serving":
                raise RegistryError("a serving version cannot be marked failed; roll back first")
            row.status = "failed"
            row.note = note or row.note
            return ModelVersionInfo.model_validate(row)

    def promote(self, version_id: str, actor: str, *, force: bool = False) -> ModelVersionInfo:
        """Make `version_id` the serving version of its tenant and role.

        Raises:
            PromotionRefused: the candidate failed, has no primary metric, or scores below the serving
                version (the last two are overridden by `force`).
        """
        with self.db.session() as s:
            row = s.get(ModelVersion, version_id, with_for_update=True)
            if row is None:
                raise VersionNotFound(f"no model version {version_id}")
            if row.status == "serving":
                return ModelVersionInfo.model_validate(row)
            if row.status == "failed":
                raise PromotionRefused(f"version {row.version} failed and cannot be promoted")
            if not Path(row.path).is_dir():
                raise PromotionRefused(f"files of version {row.version} are missing ({row.path})")
            current = _serving_row(s, row.tenant_id, row.role, lock=True)
            if not force:
                _check_gate(row, current)
            now = time.time()
            if current is not None:
                current.status = "retired"
                s.flush()  # retire first: at most one serving row per (tenant, role)
            row.status = "serving"
            row.previous_id = current.id if current is not None else None
            row.promoted_at = now
            row.promoted_by = actor
            s.flush()
            info = ModelVersionInfo.model_validate(row)
        log.info(
            "promoted %s %s for %s by %s%s",
            info.role,
            info.version,
            info.tenant_id,
            actor,
            " (forced)" if force else "",
        )
        self._announce(info.tenant_id, info.role, info.id)
        return info

    def rollback(self, tenant_id: str, role: str, actor: str = "") -> ModelVersionInfo | None:
        """Serve again the version that served before the current one.

        Returns the version now serving, or None when the rolled-back version was the first one (the
        role then falls back to its shipped default, if it has one).
        """
        with self.db.session() as s:
            current = _serving_row(s, tenant_id, role, lock=True)
            if current is None:
                raise NothingToRollBack(f"nothing serves {role} for {tenant_id}")
            previous = s.get(ModelVersion, current.previous_id) if current.previous_id else None
            if previous is not None and (previous.status == "failed" or not Path(previous.path).is_dir()):
                raise NothingToRollBack(
                    f"previous version {previous.version} is failed or its files are gone"
                )
            current.status = "retired"
            s.flush()
            info: ModelVersionInfo | None = None
            if previous is not None:
                previous.status = "serving"
                previous.promoted_at = time.time()
                previous.promoted_by = actor or "rollback"
                s.flush()
                info = ModelVersionInfo.model_validate(previous)
        log.info(
            "rolled back %s for %s to %s", role, tenant_id, info.version if info else "the shipped default"
        )
        self._announce(tenant_id, role, info.id if info else None)
        return info

    def _announce(self, tenant_id: str, role: str, version_id: str | None) -> None:
        if self.redis is None:
            return
        message = json.dumps({"tenant_id": tenant_id, "role": role, "version_id": version_id})
        try:
            self.redis.publish(promoted_channel(self.settings.redis_prefix), message)
        except redis_sync.RedisError:
            # the database is the truth; a missed message is repaired by the next reload or restart
            log.exception("could not announce promotion of %s/%s", tenant_id, role)


def _serving_row(s: Session, tenant_id: str, role: str, *, lock: bool = False) -> ModelVersion | None:
    stmt = select(ModelVersion).where(
        ModelVersion.tenant_id == tenant_id, ModelVersion.role == role, ModelVersion.status == "serving"
    )
    if lock:
        stmt = stmt.with_for_update()
    return s.scalars(stmt).first()


def _check_gate(candidate: ModelVersion, current: ModelVersion | None) -> None:
    new = primary_metric(candidate.role, candidate.metrics)
    if new is None:
        name = PRIMARY_METRIC.get(candidate.role, "primary")
        raise PromotionRefused(f"version {candidate.version} has no primary metric ('primary' or '{name}')")
    if current is None:
        return
    old = primary_metric(current.role, current.metrics)
    if old is not None and new < old:
        raise PromotionRefused(
            f"version {candidate.version} scores {new:.4f}, below the serving {current.version} ({old:.4f})"
        )


def _safe(part: str) -> str:
    """A tenant id as a single path component."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in part)
    if cleaned in ("", ".", ".."):
        raise ValueError(f"invalid tenant id {part!r}")
    return cleaned
