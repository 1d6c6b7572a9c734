"""Builds the Celery application of the training jobs (see ops_console.celery_app for the worker's one)."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from csbot.config import Settings
from ops_console.constants import QUEUES


def redis_url_for_celery(url: str) -> str:
    """Celery/kombu spell a Unix-socket Redis `redis+socket://PATH` (redis-py says `unix://PATH`)."""
    if url.startswith("unix://"):
        return "redis+socket://" + url[len("unix://") :]
    return url


def make_celery(settings: Settings) -> Celery:
    if not settings.redis_url:
        raise RuntimeError("no Redis URL: set CSBOT_REDIS_URL (the Celery broker) or start through `csbot up`")
    url = redis_url_for_celery(settings.redis_url)
    app = Celery("csbot", broker=url, backend=url, include=["ops_console.jobs.tasks"])
    prefix = f"{settings.redis_prefix}:celery:"
    app.conf.update(
        task_queues=[Queue(q) for q in QUEUES],
        task_default_queue="cpu",
        # a job may train for hours: the broker must not hand it to a second worker meanwhile
        broker_transport_options={"global_keyprefix": prefix, "visibility_timeout": 24 * 3600},
        result_backend_transport_options={"global_keyprefix": prefix},
        # training jobs are long: take one at a time, and acknowledge only once done so a killed
        # worker's job is redelivered instead of lost
        worker_prefetch_multiplier=1,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_track_started=True,
        result_expires=7 * 24 * 3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    return app

