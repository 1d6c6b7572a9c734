"""Job lifecycle without the HTTP layer: failing cleanly, cancelling a queued job (revoked, never runs) and
a running one (stops at the next step), and neither ever touches the serving version."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import redis as redis_sync

from csbot.config import Settings
from csbot.models.registry import ModelRegistry
from csbot.storage.db import Database
from ops_console.annotations import AnnotationCreate, AnnotationService
from ops_console.jobs import job_function
from ops_console.jobs.runner import JobContext, run_job
from ops_console.jobs.service import JobCreate, JobService
from ops_console.training_settings import TrainingSettings
from tests.conftest import REDIS_URL


def _service(settings: Settings, db: Database) -> JobService:
    return JobService(settings, db, redis_sync.Redis.from_url(REDIS_URL))


def _run(settings: Settings, db: Database, job_id: str) -> str:
    ctx = JobContext(job_id, settings, db, redis_sync.Redis.from_url(REDIS_URL), TrainingSettings(torch_threads=1))
    ctx.load()
    return run_job(ctx, job_function(ctx.kind))


def test_job_without_data_fails_cleanly_with_a_reason(ops_settings: Settings, db: Database) -> None:
    svc = _service(ops_settings, db)
    for kind, reason in (("sft", "no SFT examples"), ("dpo", "no preference pairs")):
        job = svc.launch("acme", "tester", JobCreate(kind=kind, queue="cpu"))  # no worker: stays queued
        assert svc.get("acme", job.id).status == "queued"
        assert _run(ops_settings, db, job.id) == "failed"
        done = svc.get("acme", job.id)
        assert done.status == "failed" and reason in done.error and done.finished_at is not None
        assert any(reason in e.text for e in svc.events("acme", job.id))
    assert ModelRegistry(ops_settings, db).list("acme") == []


def test_cancelled_queued_job_never_runs(ops_settings: Settings, db: Database) -> None:
    svc = _service(ops_settings, db)
    job = svc.launch("acme", "tester", JobCreate(kind="nlu"))
    assert svc.cancel("acme", "tester", job.id).status == "cancelled"
    assert _run(ops_settings, db, job.id) == "cancelled"  # a worker that still receives it does nothing
    assert svc.get("acme", job.id).started_at is None


def test_cancel_stops_a_running_sft_and_keeps_the_serving_adapter(ops_settings: Settings, db: Database,
                                                                  tmp_path: Path) -> None:
    registry = ModelRegistry(ops_settings, db)
    serving_dir = tmp_path / "old-adapter"
    serving_dir.mkdir()
    (serving_dir / "adapter_config.json").write_text("{}")
    serving = registry.promote(registry.register("acme", "chat-lora", serving_dir, metrics={"win_rate": 0.5}).id, "t")
    AnnotationService(db).create("acme", "t", AnnotationCreate(kind="reply", query="hello?", bot_reply="zzz",
                                                               reply="Hello! How can I help?"))
    svc = _service(ops_settings, db)
    job = svc.launch("acme", "tester", JobCreate(kind="sft", queue="cpu", params={"max_steps": 10_000}))
    result: list[str] = []
    runner = threading.Thread(target=lambda: result.append(_run(ops_settings, db, job.id)))
    runner.start()
    # wait for the first optimizer step (progress moves past the 0.05 set before training), not for
    # the first logged loss: with 10 000 steps the trainer logs only every 250th
    deadline = time.monotonic() + 600
    while svc.get("acme", job.id).progress <= 0.05 and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert svc.get("acme", job.id).status == "running"
    svc.cancel("acme", "tester", job.id)
    runner.join(120)
    assert result == ["cancelled"]
    done = svc.get("acme", job.id)
    assert done.status == "cancelled" and done.progress < 0.5
    versions = registry.list("acme", "chat-lora")
    assert [v.id for v in versions] == [serving.id] and registry.serving("acme", "chat-lora").id == serving.id  # type: ignore[union-attr]
