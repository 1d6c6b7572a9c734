"""The one Celery task: run the training job whose SQL row is given (the row says which kind)."""

from __future__ import annotations

import logging
import os
from typing import Any

import redis as redis_sync
from celery import shared_task

from csbot.config import get_settings
from csbot.storage.db import Database
from ops_console.constants import TASK_NAME
from ops_console.jobs import job_function
from ops_console.jobs.runner import JobContext, run_job
from ops_console.training_settings import TrainingSettings

log = logging.getLogger(__name__)


@shared_task(name=TASK_NAME, bind=True)
def run_training_job(self: Any, job_id: str) -> str:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = get_settings()
    training = TrainingSettings()
    if training.torch_threads > 0:
        import torch

        torch.set_num_threads(training.torch_threads)
    db = Database(settings.database_url)
    redis = redis_sync.Redis.from_url(settings.redis_url, decode_responses=True) if settings.redis_url else None
    try:
        job = JobContext(job_id, settings, db, redis, training)
        job.load()
        redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
        return run_job(job, job_function(job.kind), redelivered=redelivered)
    finally:
        db.dispose()
        if redis is not None:
            redis.close()
