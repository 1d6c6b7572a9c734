"""Fixtures of the operations tests: a real csbot server (uvicorn, in a thread) with the console mounted,
a real Celery worker process (`csbot worker`) on the same SQLite file and Redis prefix, a tiny chat model
with the real SmolLM2 tokenizer, and console users of two tenants."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from csbot.config import Settings
from csbot.storage.db import Database
from tests.conftest import MODELS_DIR, REPO

os.environ.setdefault("HF_HUB_OFFLINE", "1")
PASSWORD = "correct horse 42"


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chatbot.lora import build_tiny_chat_model

    prepared = MODELS_DIR / "smollm2"
    tokenizer_dir = prepared if (prepared / "tokenizer.json").exists() else None
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"), tokenizer_dir=tokenizer_dir)


@pytest.fixture
def ops_settings(settings: Settings, tmp_path: Path, tiny_chat: Path) -> Settings:
    """Chat on the tiny model; an empty models dir (no embedder: chitchat retrieval is off, so a message
    that matches no pattern goes to generation); bots task + chat."""
    models = tmp_path / "models"
    models.mkdir()
    return settings.model_copy(update={
        "models": settings.models.model_copy(update={"dir": models, "torch_threads": 1}),
        "llm": settings.llm.model_copy(update={"model": str(tiny_chat), "max_new_tokens": 24, "time_budget_s": 60.0}),
        "pipeline": settings.pipeline.model_copy(update={"bots": ["task", "chat"]}),
    })


def env_of(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CSBOT_ENVIRONMENT": "test",
        "CSBOT_DATA_DIR": str(settings.data_dir),
        "CSBOT_DATABASE_URL": settings.database_url,
        "CSBOT_REDIS_URL": settings.redis_url,
        "CSBOT_REDIS_PREFIX": settings.redis_prefix,
        "CSBOT_MODELS__DIR": str(settings.models_dir),
        "CSBOT_LLM__MODEL": settings.llm.model,
        "CSBOT_TRAINING_TORCH_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": str(REPO),
    })
    if settings.milvus_uri:
        env["CSBOT_MILVUS_URI"] = settings.milvus_uri
    return env


@pytest.fixture
def worker(ops_settings: Settings, db: Database, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`csbot worker` as its own process (Celery prefork pool, one job at a time)."""
    with run_worker(ops_settings, tmp_path, f"test-{ops_settings.redis_prefix}@%h") as proc:
        yield proc


@contextlib.contextmanager
def run_worker(settings: Settings, cwd: Path, hostname: str) -> Iterator[subprocess.Popen[bytes]]:
    """Start `csbot worker` on both queues with these settings; stop it (terminate, then kill)."""
    log = (cwd / "worker.log").open("wb")
    csbot_bin = str(Path(sys.executable).with_name("csbot"))
    proc = subprocess.Popen([csbot_bin, "worker", "--queues", "cpu,gpu", "--concurrency", "1",
                             "--hostname", hostname],
                            env=env_of(settings), stdout=log, stderr=subprocess.STDOUT, cwd=str(cwd))
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    settings: Settings
    app: object


@pytest.fixture
def server(ops_settings: Settings, db: Database) -> Iterator[Server]:
    """The csbot API with the console mounted, served by uvicorn on a free port in this process."""
    import uvicorn

    from csbot.api.app import create_app
    from csbot.bots import BotRegistry
    from ops_console.api import mount

    app = create_app(ops_settings, registry=BotRegistry.from_entry_points(["task", "chat"]), plugins=False)
    mount(app)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.1)
    yield Server(f"http://127.0.0.1:{port}", ops_settings, app)
    srv.should_exit = True
    thread.join(30)


@dataclass
class Tenants:
    keys: dict[str, str]
    tokens: dict[str, str]


def login(url: str, tenant: str, username: str) -> str:
    r = httpx.post(f"{url}/v1/operator/login", json={"tenant": tenant, "username": username, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["token"])


@pytest.fixture
def tenants(server: Server, db: Database) -> Tenants:
    """Tenants acme (chat) and demo (task domains), each with an admin, an operator and an annotator."""
    from csbot.channels.operators import create_console_user
    from csbot.tenants import create_api_key, create_tenant

    keys, tokens = {}, {}
    for tenant in ("acme", "demo"):
        create_tenant(db, tenant)
        keys[tenant] = create_api_key(db, tenant)
        for role in ("admin", "operator", "annotator"):
            create_console_user(db, tenant, f"{tenant}-{role}", PASSWORD, role, display_name=f"{tenant} {role}")
            tokens[f"{tenant}-{role}"] = login(server.url, tenant, f"{tenant}-{role}")
    return Tenants(keys, tokens)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def chat(url: str, key: str, session: str, text: str) -> dict[str, object]:
    r = httpx.post(f"{url}/v1/chat", json={"session_id": session, "text": text}, headers=bearer(key), timeout=120)
    r.raise_for_status()
    return dict(r.json())


def wait_job(url: str, token: str, job_id: str, timeout: float = 600) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        # a generous timeout: on a crowded machine the in-process server answers a poll in seconds
        r = httpx.get(f"{url}/v1/training/jobs/{job_id}", headers=bearer(token), timeout=60)
        r.raise_for_status()
        job = dict(r.json())
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {job['status']} at {job['progress']}")
        time.sleep(0.5)
