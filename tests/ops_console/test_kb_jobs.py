"""The KB bot's jobs from the console: rebuild the KB index, fine-tune the embedder, train the reranker —
through a real Celery worker process, a real Milvus Lite server, Redis and SQLite, on a tiny random
encoder with the real tokenizer (the figures mean nothing; the plumbing is the real one)."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis as redis_sync

from csbot.config import Settings
from csbot.models.registry import ModelRegistry
from csbot.services import Service, start_milvus
from csbot.storage.db import Database
from ops_console.jobs.runner import JobContext, run_job
from ops_console.jobs.service import JobCreate, JobPublic, JobService
from ops_console.training_settings import TrainingSettings
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.timeout(900)

TENANT = "acme"
N_ITEMS = 12


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csbot.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("kb-jobs-tiny") / "encoder")


@pytest.fixture
def kb_settings(settings: Settings, tiny_encoder: Path, tmp_path: Path) -> Iterator[Settings]:
    """The tiny encoder as the shipped embedder, and a Milvus Lite server of the test's own."""
    models = tmp_path / "models"
    shutil.copytree(tiny_encoder, models / "e5-small")
    milvus: Service = start_milvus(tmp_path / "milvus-data")
    try:
        yield settings.model_copy(update={
            "milvus_uri": milvus.url,
            "models": settings.models.model_copy(update={"dir": models, "torch_threads": 1})})
    finally:
        milvus.stop()


@pytest.fixture
def faq(kb_settings: Settings, db: Database) -> list[object]:
    """The first demo FAQ items (each with several similar questions) in the tenant's KB draft."""
    from csbot.demo.loader import demo_path
    from kbbot.faq_io import parse_items, read_rows
    from kbbot.kb_store import KBStore

    rows, problems = read_rows(demo_path("faq.jsonl"))
    items, problems2 = parse_items(rows)
    assert not problems and not problems2
    items = [it for it in items if len(it.similar) >= 3][:N_ITEMS]
    assert len(items) == N_ITEMS
    assert KBStore(db).import_items(TENANT, items).ok
    return items  # type: ignore[return-value]


def _wait(svc: JobService, job_id: str, timeout: float = 600) -> JobPublic:
    deadline = time.monotonic() + timeout
    while (job := svc.get(TENANT, job_id)).status not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, f"job {job_id} still {job.status} at {job.progress}"
        time.sleep(0.3)
    return job


@pytest.fixture
def kb_worker(kb_settings: Settings, db: Database, tmp_path: Path) -> Iterator[object]:
    """`csbot worker` on the KB settings (it must see the Milvus server and the tiny encoder)."""
    from tests.ops_console.conftest import run_worker

    with run_worker(kb_settings, tmp_path, f"kb-{kb_settings.redis_prefix}@%h") as proc:
        yield proc


def test_kb_index_embedder_and_reranker_jobs_through_a_celery_worker(kb_settings: Settings, db: Database,
                                                                     faq: list[object], kb_worker: object) -> None:
    from kbbot.kb_store import KBStore
    from kbbot.reranker import Reranker

    svc = JobService(kb_settings, db, redis_sync.Redis.from_url(REDIS_URL))
    store = KBStore(db)

    # kb-index: the draft becomes a published version; a second run re-encodes only what changed
    first = _wait(svc, svc.launch(TENANT, "t", JobCreate(kind="kb-index", queue="cpu")).id)
    assert first.status == "succeeded", first.error
    assert first.result["kb_version"] == 1 and store.live_version(TENANT) == 1
    assert first.result["encoded"] == first.result["questions"] > N_ITEMS
    item = store.draft_items(TENANT)[0]
    store.upsert_item(TENANT, item.model_copy(update={"similar": [*item.similar, "这个到底几天能发出来呢"]}))
    second = _wait(svc, svc.launch(TENANT, "t", JobCreate(kind="kb-index", queue="cpu")).id)
    assert second.status == "succeeded", second.error
    assert second.result["kb_version"] == 2 and store.live_version(TENANT) == 2
    assert second.result["encoded"] == 1 and second.result["questions"] == first.result["questions"] + 1

    registry = ModelRegistry(kb_settings, db)
    # embedder: fine-tuned from the serving (tiny) encoder, a before/after report on held-out questions
    emb = svc.launch(TENANT, "t", JobCreate(kind="embedder", queue="cpu",
                                            params={"epochs": 2, "batch_size": 8, "lr": 5e-4}))
    done = _wait(svc, emb.id)
    assert done.status == "succeeded", done.error
    assert done.progress == 1.0
    report = done.result["metrics"]
    assert report["n_heldout"] >= N_ITEMS and report["primary"] == report["top1"]
    for key in ("top1", "pair_accuracy", "top1_before", "pair_accuracy_before"):
        assert 0.0 <= report[key] <= 1.0, key
    (version,) = registry.list(TENANT, "embedder")
    assert version.id == done.result["version_id"] and version.status == "candidate"
    assert version.metrics["top1"] == report["top1"]
    from csbot.models.embedder import Embedder

    base, tuned = Embedder(kb_settings.models_dir / "e5-small"), Embedder(Path(version.path))
    base.load()
    tuned.load()
    text = ["多久发货"]
    assert not np.allclose(base.encode(text), tuned.encode(text))  # the weights did change

    # reranker: a cross-encoder on public pairs + the tenant's similar questions, with a dev report
    rr = svc.launch(TENANT, "t", JobCreate(kind="reranker", queue="cpu", params={
        "datasets": "lcqmc", "max_pairs": 48, "batch_size": 16, "num_layers": 0}))
    done = _wait(svc, rr.id)
    assert done.status == "succeeded", done.error
    metrics = done.result["metrics"]
    assert metrics["train_pairs"] == 48 and 0.0 <= metrics["dev_accuracy"] <= 1.0
    assert metrics["primary"] == metrics["dev_accuracy"]
    (rversion,) = registry.list(TENANT, "reranker")
    assert rversion.id == done.result["version_id"] and rversion.status == "candidate"
    reranker = Reranker(Path(rversion.path))
    reranker.load()
    assert reranker.score_pairs([("多久发货", "下单后多久发货？")]).shape == (1,)
    assert registry.serving(TENANT, "embedder") is None and registry.serving(TENANT, "reranker") is None


def test_reranker_job_with_a_missing_pair_set_fails_with_the_path(kb_settings: Settings, db: Database,
                                                                  faq: list[object], tmp_path: Path) -> None:
    svc = JobService(kb_settings, db, redis_sync.Redis.from_url(REDIS_URL))
    job = svc.launch(TENANT, "t", JobCreate(kind="reranker", queue="cpu",
                                            params={"datasets": "nope", "data_dir": str(tmp_path)}))
    ctx = JobContext(job.id, kb_settings, db, redis_sync.Redis.from_url(REDIS_URL), TrainingSettings(torch_threads=1))
    from ops_console.jobs import job_function

    assert run_job(ctx, job_function("reranker")) == "failed"
    done = svc.get(TENANT, job.id)
    assert str(tmp_path / "nope" / "train.tsv") in done.error
    assert ModelRegistry(kb_settings, db).list(TENANT) == []


def test_cancel_stops_a_running_embedder_job_and_registers_nothing(kb_settings: Settings, db: Database,
                                                                   faq: list[object]) -> None:
    svc = JobService(kb_settings, db, redis_sync.Redis.from_url(REDIS_URL))
    # many epochs: the job is still training when the cancel arrives
    job = svc.launch(TENANT, "t", JobCreate(kind="embedder", queue="cpu", params={"epochs": 500, "batch_size": 4}))
    ctx = JobContext(job.id, kb_settings, db, redis_sync.Redis.from_url(REDIS_URL), TrainingSettings(torch_threads=1))
    from ops_console.jobs import job_function

    result: list[str] = []
    runner = threading.Thread(target=lambda: result.append(run_job(ctx, job_function("embedder"))))
    runner.start()
    deadline = time.monotonic() + 300
    while svc.get(TENANT, job.id).progress <= 0.1 and runner.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert svc.get(TENANT, job.id).status == "running"
    svc.cancel(TENANT, "t", job.id)
    runner.join(120)
    assert result == ["cancelled"]
    done = svc.get(TENANT, job.id)
    assert done.status == "cancelled" and 0.1 < done.progress < 0.5
    assert ModelRegistry(kb_settings, db).list(TENANT) == []
