"""Tables of the operations platform: annotations (versioned), training sets, training jobs, audit log."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from csbot.storage.models import Base
from csbot.types import new_id


def _now() -> float:
    return time.time()


class Annotation(Base):
    """An operator's correction of one turn (or a free-standing example).

    Versioned: editing creates a new row with `version + 1` that `supersedes` the old one, and only the
    newest row of a chain is `current`, so exports see one answer per correction and history is kept.
    """

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_tenant_kind", "tenant_id", "kind", "current"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    turn_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    conversation_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: intent | faq | reply | sensitive
    kind: Mapped[str] = mapped_column(String(16))
    #: the user's text the correction is about
    query: Mapped[str] = mapped_column(Text, default="")
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    #: what the bot did (its reply, intent, FAQ id) as logged
    bot_output: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: the correction: {"intent"}, {"faq_id" | "new_question"}, {"reply"}, {"sensitive", "note"}
    correction: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: the first row of this annotation's chain (stable id across versions)
    chain_id: Mapped[str] = mapped_column(String(32), index=True, default="")
    supersedes: Mapped[str | None] = mapped_column(String(32), nullable=True)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    author: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[float] = mapped_column(Float, default=_now, index=True)


class TrainingSet(Base):
    """An exported training set: which annotations, in which format, where the JSONL file is."""

    __tablename__ = "training_sets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    #: sft | dpo | nlu | qq
    kind: Mapped[str] = mapped_column(String(16))
    #: trl | llamafactory
    format: Mapped[str] = mapped_column(String(16), default="trl")
    path: Mapped[str] = mapped_column(Text, default="")
    n_examples: Mapped[int] = mapped_column(Integer, default=0)
    annotation_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    fingerprint: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[float] = mapped_column(Float, default=_now)


class TrainingJob(Base):
    """One Celery training job: status, progress, result; its log and loss points are TrainingJobEvent rows."""

    __tablename__ = "training_jobs"
    __table_args__ = (Index("ix_training_jobs_tenant_status", "tenant_id", "status"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(String(64))
    #: kb-index | nlu | embedder | reranker | sft | dpo
    kind: Mapped[str] = mapped_column(String(16))
    queue: Mapped[str] = mapped_column(String(16), default="cpu")
    #: queued | running | succeeded | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    training_set_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    celery_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    #: registered model version, metrics, timings
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[float] = mapped_column(Float, default=_now, index=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)


class TrainingJobEvent(Base):
    """A log line (`kind="log"`) or a loss point (`kind="loss"`, with step and value) of a job."""

    __tablename__ = "training_job_events"
    __table_args__ = (Index("ix_training_job_events_job", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8), default="log")
    text: Mapped[str] = mapped_column(Text, default="")
    step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    at: Mapped[float] = mapped_column(Float, default=_now)


class AuditEntry(Base):
    """Who changed what, when: every change made through the console or the operations API."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[float] = mapped_column(Float, default=_now)
