"""SQL tables of the knowledge base: the editable draft, immutable published versions, the graph.

Edits always land in the draft (`kb_items`); publishing copies the draft into `kb_version_items`
under a new version number and moves `kb_tenants.live_version`, so what is served never changes
under a reader's feet and a rollback is only a pointer move.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from csbot.storage.models import Base


def _now() -> float:
    return time.time()


class KBItem(Base):
    """One FAQ item of a tenant's draft."""

    __tablename__ = "kb_items"
    __table_args__ = (UniqueConstraint("tenant_id", "faq_id", name="uq_kb_item"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    faq_id: Mapped[str] = mapped_column(String(128))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    similar: Mapped[list[Any]] = mapped_column(JSON, default=list)
    category: Mapped[str] = mapped_column(String(128), default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    lang: Mapped[str] = mapped_column(String(8), default="")
    valid_from: Mapped[float | None] = mapped_column(Float, nullable=True)
    valid_to: Mapped[float | None] = mapped_column(Float, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[float] = mapped_column(Float, default=_now)


class KBTenant(Base):
    """Per-tenant KB pointer and settings: the live version and the calibrated thresholds."""

    __tablename__ = "kb_tenants"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    live_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: calibrated thresholds for this tenant; empty = the shipped defaults
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    draft_updated_at: Mapped[float] = mapped_column(Float, default=_now)
    updated_at: Mapped[float] = mapped_column(Float, default=_now)


class KBVersion(Base):
    __tablename__ = "kb_versions"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    #: version string of the embedder whose vectors the version's collection holds
    embedder_version: Mapped[str] = mapped_column(String(128), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[float] = mapped_column(Float, default=_now)


class KBVersionItem(Base):
    """A frozen copy of one FAQ item as published in one version."""

    __tablename__ = "kb_version_items"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    faq_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KGTriple(Base):
    """One (subject, relation, object) fact of a tenant's knowledge graph."""

    __tablename__ = "kg_triples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(200))
    relation: Mapped[str] = mapped_column(String(200))
    object: Mapped[str] = mapped_column(Text)


class KGAlias(Base):
    """Another name of a graph entity (for entity linking)."""

    __tablename__ = "kg_aliases"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alias: Mapped[str] = mapped_column(String(200), primary_key=True)
    entity: Mapped[str] = mapped_column(String(200))
