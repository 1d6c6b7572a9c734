"""What a running job sees: its row, a log, progress, loss points and a cooperative cancel flag.

A job function receives a `JobContext` and returns a `JobResult`; `run_job` does the bookkeeping
around it (status transitions, timings, errors) so a job module holds only its training logic.
"""

from __future__ import annotations

import logging
import resource
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis as redis_sync
from sqlalchemy import select, update

from csbot.config import Settings
from csbot.models.registry import ModelRegistry
from csbot.storage.db import Database
from csbot.storage.ops import TrainingJob, TrainingJobEvent
from ops_console.training_settings import TrainingSettings

log = logging.getLogger(__name__)

#: seconds between two SQL reads of the cancel flag (the Redis flag is read every time)
CANCEL_POLL_S = 2.0


class JobCancelled(Exception):
    """Raised inside a job when an operator cancelled it."""


@dataclass
class JobResult:
    """What a job produced: the registered version (if any), its metrics, and anything worth showing."""

    version_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)


def cancel_key(prefix: str, job_id: str) -> str:
    return f"{prefix}:jobs:cancel:{job_id}"


def progress_channel(prefix: str) -> str:
    """Redis pub/sub channel announcing job progress (the console polls SQL; this is for live viewers)."""
    return f"{prefix}:events:job-progress"


class JobContext:
    """Handle of one running job; every method is safe to call from a trainer callback."""

    def __init__(self, job_id: str, settings: Settings, db: Database, redis: redis_sync.Redis | None,
                 training: TrainingSettings) -> None:
        self.job_id = job_id
        self.settings = settings
        self.db = db
        self.redis = redis
        self.training = training
        self.tenant_id = ""
        self.kind = ""
        self.params: dict[str, Any] = {}
        self.training_set_id: str | None = None
        self.created_by = ""
        self._last_sql_check = 0.0
        self._cancelled = False

    def load(self) -> None:
        with self.db.session() as s:
            row = s.get(TrainingJob, self.job_id)
            if row is None:
                raise LookupError(f"no training job {self.job_id}")
            self.tenant_id, self.kind, self.params = row.tenant_id, row.kind, dict(row.params or {})
            self.training_set_id, self.created_by = row.training_set_id, row.created_by

    @property
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.settings, self.db, self.redis)

    @property
    def device(self) -> str:
        return str(self.params.get("device") or self.training.device)

    @property
    def batch_size(self) -> int:
        return int(self.params.get("batch_size") or self.training.batch_size)

    def log(self, text: str) -> None:
        log.info("job %s: %s", self.job_id, text)
        with self.db.session() as s:
            s.add(TrainingJobEvent(job_id=self.job_id, kind="log", text=text[:4000]))

    def loss(self, step: int, value: float) -> None:
        with self.db.session() as s:
            s.add(TrainingJobEvent(job_id=self.job_id, kind="loss", step=step, value=float(value)))

    def progress(self, fraction: float) -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        with self.db.session() as s:
            s.execute(update(TrainingJob).where(TrainingJob.id == self.job_id).values(progress=fraction))
        if self.redis is not None:
            try:
                self.redis.publish(progress_channel(self.settings.redis_prefix),
                                   f'{{"job_id": "{self.job_id}", "progress": {fraction:.4f}}}')
            except redis_sync.RedisError:
                pass

    def cancel_requested(self) -> bool:
        if self._cancelled:
            return True
        if self.redis is not None:
            try:
                if self.redis.exists(cancel_key(self.settings.redis_prefix, self.job_id)):
                    self._cancelled = True
                    return True
            except redis_sync.RedisError:
                pass
        now = time.monotonic()
        if now - self._last_sql_check >= CANCEL_POLL_S:
            self._last_sql_check = now
            with self.db.session() as s:
                flag = s.scalar(select(TrainingJob.cancel_requested).where(TrainingJob.id == self.job_id))
            self._cancelled = bool(flag)
        return self._cancelled

    def check_cancel(self) -> None:
        if self.cancel_requested():
            raise JobCancelled(f"job {self.job_id} cancelled")


def _set(db: Database, job_id: str, **values: Any) -> None:
    with db.session() as s:
        s.execute(update(TrainingJob).where(TrainingJob.id == job_id).values(**values))


def run_job(job: JobContext, fn: Callable[[JobContext], JobResult], *, redelivered: bool = False) -> str:
    """Run `fn` with status bookkeeping; returns the final status. Never raises for a job's own failure.

    `redelivered`: the broker handed the job out again because its worker died; a job left "running"
    is then started again from the beginning (nothing of the lost run was registered).
    """
    job.load()
    with job.db.session() as s:
        row = s.get(TrainingJob, job.job_id)
        assert row is not None
        if row.status == "running" and redelivered:
            log.warning("job %s: its worker was lost; starting it again", job.job_id)
        elif row.status != "queued":
            log.warning("job %s is %s, not queued: not run again", job.job_id, row.status)
            return row.status
        if row.cancel_requested:
            row.status, row.finished_at = "cancelled", time.time()
            return "cancelled"
        row.status, row.started_at = "running", time.time()
    job.log(f"started {job.kind} for tenant {job.tenant_id} on {job.device} (batch {job.batch_size})")
    start = time.perf_counter()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        result = fn(job)
        job.check_cancel()  # a cancel that arrived after the last step still wins over "succeeded"
    except JobCancelled:
        _discard(job, None)
        job.log("cancelled: nothing was registered, the serving version is untouched")
        _set(job.db, job.job_id, status="cancelled", finished_at=time.time())
        return "cancelled"
    except Exception as exc:
        job.log("failed: " + "".join(traceback.format_exception_only(type(exc), exc)).strip())
        log.exception("job %s failed", job.job_id)
        _set(job.db, job.job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:4000],
             finished_at=time.time())
        return "failed"
    elapsed = round(time.perf_counter() - start, 2)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = round(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 1)
    payload = {"version_id": result.version_id, "metrics": result.metrics, "seconds": elapsed, "cpu_seconds": cpu_s,
               # the worker process's peak resident memory so far (an upper bound for this job)
               "peak_rss_mb": round(after.ru_maxrss / 1024, 1), **result.detail}
    job.log(f"succeeded in {elapsed}s" + (f": candidate {result.version_id}" if result.version_id else ""))
    _set(job.db, job.job_id, status="succeeded", progress=1.0, result=payload, finished_at=time.time())
    return "succeeded"


def _discard(job: JobContext, version_id: str | None) -> None:
    if version_id:
        job.registry.mark_failed(version_id, note="job cancelled")
