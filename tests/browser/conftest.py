"""A real installation for the browser tests: the demo tenant loaded once, `csbot serve` with the real
task and KB bots, the demo shop page on another origin, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from csbot.channels.operators import create_console_user
from csbot.services import Service, ServiceGroup, free_port, start_milvus, start_process
from csbot.storage.db import Database
from csbot.storage.models import Tenant

REPO = Path(__file__).resolve().parents[2]
CSBOT = str(Path(sys.executable).with_name("csbot"))
MODELS_DIR = Path(os.environ.get("CSBOT_TEST_MODELS_DIR", REPO / "var" / "models"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = REPO / "docs" / "screenshots"
OPERATOR = {"tenant": "demo", "username": "xiaomei", "password": "operator-pass-1", "display_name": "小美"}


@dataclass
class Installation:
    api_base: str
    demo_base: str
    api_key: str
    identity_secret: str
    env: dict[str, str]
    log_dir: Path
    port: int
    group: ServiceGroup
    api: Service | None = None

    def start_api(self) -> None:
        self.api = start_process("api", [CSBOT, "serve", "--port", str(self.port)], self.log_dir, env=self.env,
                                 port=self.port, ready_timeout_s=300)

    def stop_api(self) -> None:
        if self.api is not None:
            self.api.stop()
            self.api = None

    def operator_headers(self) -> dict[str, str]:
        r = httpx.post(f"{self.api_base}/v1/operator/login", json={k: OPERATOR[k] for k in
                                                                    ("tenant", "username", "password")}, timeout=30)
        r.raise_for_status()
        return {"Authorization": f"Bearer {r.json()['token']}"}


@pytest.fixture(scope="session")
def installation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installation]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `apt-get install -y chromium` (make test does)")
    data = tmp_path_factory.mktemp("browser-install")
    prefix = f"csbot-browser-{uuid.uuid4().hex[:8]}"
    group = ServiceGroup()
    milvus = group.add(start_milvus(data))
    port, demo_port = free_port(), free_port()
    api_base, demo_base = f"http://127.0.0.1:{port}", f"http://localhost:{demo_port}"
    env = {**os.environ, "CSBOT_DATA_DIR": str(data), "CSBOT_REDIS_URL": "redis://127.0.0.1:6379/0",
           "CSBOT_REDIS_PREFIX": prefix, "CSBOT_MILVUS_URI": milvus.url, "CSBOT_MODELS__DIR": str(MODELS_DIR),
           "CSBOT_SECRET_KEY": "browser-test-secret", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           # the generative chat bot is left out: these tests are about the widget, and it costs minutes on CPU
           "CSBOT_PIPELINE__BOTS": '["task", "kb"]', "CSBOT_CHANNELS_WEBHOOK_POLL_S": "2"}
    inst = None
    try:
        load = subprocess.run([CSBOT, "demo", "load"], env=env, capture_output=True, text=True, timeout=900)
        assert load.returncode == 0, load.stderr[-3000:]
        key = load.stdout.strip().splitlines()[-1]
        db = Database(f"sqlite:///{data / 'csbot.db'}")
        # in this process, not `csbot user create` (tested in tests/csbot/channels): one CLI start less
        create_console_user(db, "demo", OPERATOR["username"], OPERATOR["password"], "operator",
                            display_name=OPERATOR["display_name"])
        with db.session() as s:
            tenant = s.get(Tenant, "demo")
            assert tenant is not None
            # only the demo shop's origin may embed the widget (the csbot origin itself is always allowed)
            tenant.settings = {**(tenant.settings or {}), "allowed_origins": [demo_base]}
            secret = tenant.identity_secret
        db.dispose()
        from csbot.widget.demo_site import start_demo_site

        group.add(start_demo_site(demo_port, api_base, data / "logs"))
        inst = Installation(api_base, demo_base, key, secret, env, data / "logs", port, group)
        inst.start_api()
        # the first message of a tenant loads its KB and models; do it once here, not in a test
        warm = httpx.post(f"{api_base}/v1/chat", json={"session_id": "warm-up", "text": "运费怎么算？"},
                          headers={"Authorization": f"Bearer {key}"}, timeout=600)
        assert warm.status_code == 200, warm.text
        yield inst
    finally:
        if inst is not None:
            inst.stop_api()
        group.stop()
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


# Module scope: the sync Playwright API runs an event loop in this thread while it is open, which
# would break every asyncio test collected after this module.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")  # type: ignore[attr-defined]
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.errors = errors
    yield pg
    context.close()
