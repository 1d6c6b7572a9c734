"""Table of the model registry: every trained or shipped model version, per tenant and role."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Float, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from csbot.storage.models import Base
from csbot.types import new_id


def _now() -> float:
    return time.time()


class ModelVersion(Base):
    """One model version: files under `models_dir/registry/<tenant>/<role>/<id>/` plus its eval report.

    At most one row per (tenant, role) is `serving` (a partial unique index guarantees it).
    """

    __tablename__ = "model_versions"
    __table_args__ = (
        Index("ix_model_versions_tenant_role", "tenant_id", "role", "status"),
        Index(
            "uq_model_versions_serving",
            "tenant_id",
            "role",
            unique=True,
            sqlite_where=text("status = 'serving'"),
            postgresql_where=text("status = 'serving'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    #: embedder | reranker | nlu | chat | chat-lora
    role: Mapped[str] = mapped_column(String(32))
    #: human label, e.g. "reranker-2026-11-25" or "e5-small-42ed9917411b"
    version: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(Text)
    #: hash of training data + config, so an identical retraining is recognisable
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: candidate | serving | retired | failed
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    #: the version that was serving when this one was promoted (what `rollback` returns to)
    previous_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float, default=_now)
    promoted_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    promoted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
