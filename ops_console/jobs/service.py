"""Launching, cancelling and reading training jobs (what the API, the console and the CLI call)."""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

import redis as redis_sync
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from csbot.config import Settings
from csbot.storage.db import Database
from csbot.storage.ops import TrainingJob, TrainingJobEvent
from ops_console import audit
from ops_console.jobs import JOB_KINDS
from ops_console.jobs.runner import cancel_key

FINISHED = ("succeeded", "failed", "cancelled")


class JobCreate(BaseModel):
    kind: str
    #: cpu | gpu; defaults to the kind's usual queue
    queue: str | None = None
    training_set_id: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    kind: str
    queue: str
    status: str
    progress: float
    params: dict[str, Any]
    training_set_id: str | None
    cancel_requested: bool
    result: dict[str, Any]
    error: str
    created_by: str
    created_at: float
    started_at: float | None
    finished_at: float | None


class JobEvent(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    text: str
    step: int | None
    value: float | None
    at: float


class JobNotFound(LookupError):
    pass


class JobService:
    def __init__(self, settings: Settings, db: Database, redis: redis_sync.Redis | None = None) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis

    @cached_property
    def celery(self) -> Any:
        from ops_console.celery_factory import make_celery

        return make_celery(self.settings)

    def launch(self, tenant_id: str, actor: str, data: JobCreate) -> JobPublic:
        """Create the job row, then hand it to a worker on its queue."""
        from ops_console.constants import QUEUES, TASK_NAME

        if data.kind not in JOB_KINDS:
            raise ValueError(f"unknown job kind {data.kind!r}; expected one of {sorted(JOB_KINDS)}")
        queue = data.queue or (JOB_KINDS[data.kind][1] if self.settings_has_gpu() else "cpu")
        if queue not in QUEUES:
            raise ValueError(f"unknown queue {queue!r}; expected one of {QUEUES}")
        row = TrainingJob(tenant_id=tenant_id, kind=data.kind, queue=queue, params=data.params,
                          training_set_id=data.training_set_id, created_by=actor)
        with self.db.session() as s:
            s.add(row)
            s.flush()
            job_id = row.id
        result = self.celery.send_task(TASK_NAME, args=[job_id], queue=queue)
        with self.db.session() as s:
            stored = s.get(TrainingJob, job_id)
            assert stored is not None
            stored.celery_id = result.id
        audit.record(self.db, tenant_id, actor, "job.launch", job_id, {"kind": data.kind, "queue": queue})
        return self.get(tenant_id, job_id)

    def settings_has_gpu(self) -> bool:
        """Whether GPU-kind jobs go to the `gpu` queue by default (CSBOT_TRAINING_DEVICE=cuda workers exist)."""
        from ops_console.training_settings import TrainingSettings

        return TrainingSettings().device.startswith("cuda")

    def cancel(self, tenant_id: str, actor: str, job_id: str) -> JobPublic:
        """Cancel: a queued job never starts (revoked); a running one stops at its next training step."""
        with self.db.session() as s:
            row = s.get(TrainingJob, job_id)
            if row is None or row.tenant_id != tenant_id:
                raise JobNotFound(f"no job {job_id}")
            if row.status in FINISHED:
                return JobPublic.model_validate(row)
            row.cancel_requested = True
            celery_id, status = row.celery_id, row.status
            if status == "queued":
                row.status, row.finished_at = "cancelled", time.time()
        if self.redis is not None:
            self.redis.set(cancel_key(self.settings.redis_prefix, job_id), "1", ex=7 * 24 * 3600)
        if celery_id and status == "queued":
            self.celery.control.revoke(celery_id)
        audit.record(self.db, tenant_id, actor, "job.cancel", job_id)
        return self.get(tenant_id, job_id)

    def get(self, tenant_id: str, job_id: str) -> JobPublic:
        with self.db.session() as s:
            row = s.get(TrainingJob, job_id)
            if row is None or row.tenant_id != tenant_id:
                raise JobNotFound(f"no job {job_id}")
            return JobPublic.model_validate(row)

    def list(self, tenant_id: str, limit: int = 50) -> list[JobPublic]:
        stmt = (select(TrainingJob).where(TrainingJob.tenant_id == tenant_id)
                .order_by(TrainingJob.created_at.desc()).limit(limit))
        with self.db.session() as s:
            return [JobPublic.model_validate(r) for r in s.scalars(stmt)]

    def events(self, tenant_id: str, job_id: str, *, after: int = 0, kind: str | None = None) -> list[JobEvent]:
        self.get(tenant_id, job_id)  # tenant check
        stmt = select(TrainingJobEvent).where(TrainingJobEvent.job_id == job_id, TrainingJobEvent.id > after)
        if kind:
            stmt = stmt.where(TrainingJobEvent.kind == kind)
        with self.db.session() as s:
            return [JobEvent.model_validate(r) for r in s.scalars(stmt.order_by(TrainingJobEvent.id))]
