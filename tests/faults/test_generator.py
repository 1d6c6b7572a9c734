"""The LLM server hangs or drips tokens: the customer gets a polite fallback within the time budget.

A refused connection is covered at the bot level by
tests/chatbot/test_bot.py::test_generator_down_gives_polite_fallback_within_budget; here a real
misbehaving server process (tests/faults/fake_llm.py) sits behind the whole HTTP pipeline, JSON
and SSE.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from chatbot.bot import ChatBot
from csbot.api.app import create_app
from csbot.bots import BotRegistry
from csbot.config import Settings
from csbot.models.embedder import Embedder
from csbot.storage.db import Database
from csbot.storage.models import TurnLog
from csbot.tenants import create_api_key, create_tenant
from tests.kbbot.conftest import tiny_encoder  # noqa: F401

from .conftest import fake_llm, report

pytestmark = pytest.mark.slow
BUDGET_S = 3.0


@pytest.mark.parametrize("mode", ["hang", "slow"])
def test_generator_hanging_or_slow_gives_fallback_within_budget(mode: str, settings: Settings, db: Database,
                                                                tmp_path: Path, tiny_encoder: Embedder) -> None:  # noqa: F811
    server = fake_llm(mode, tmp_path)
    server.start()
    models = tmp_path / "models"
    models.mkdir()
    (models / "e5-small").symlink_to(tiny_encoder.model_dir, target_is_directory=True)
    app_settings = settings.model_copy(update={
        "models": settings.models.model_copy(update={"dir": models}),
        "llm": settings.llm.model_copy(update={"url": f"http://127.0.0.1:{server.port}", "model": "slow-model",
                                               "time_budget_s": BUDGET_S}),
    })
    create_tenant(db, "g1")
    h = {"Authorization": f"Bearer {create_api_key(db, 'g1')}"}
    reg = BotRegistry(bots={})
    bot = ChatBot()
    reg.register("chat", bot)
    question = {"session_id": f"g-{mode}", "text": "Zorblat quixotic fnord vexillology?", "locale": "en"}
    try:
        with TestClient(create_app(app_settings, registry=reg, plugins=False)) as c:
            c.portal.call(bot.wait_generator, 15)  # type: ignore[union-attr]
            c.portal.call(bot.warm_up)  # type: ignore[union-attr]
            t0 = time.monotonic()
            r = c.post("/v1/chat", json=question, headers=h)
            took = time.monotonic() - t0
            report(f"chat reply with the LLM server {'hanging' if mode == 'hang' else 'slow'} (budget {BUDGET_S:.0f} s)", took)
            assert r.status_code == 200, r.text
            body = r.json()
            # the generation step keeps to its budget; routing before it (embedding the question) is
            # CPU-bound and slow on a loaded machine, so the whole turn gets a loose bound
            assert took < BUDGET_S + 8.0
            assert body["kind"] == "chitchat" and "sorry" in body["text"].lower(), body

            t0 = time.monotonic()
            with c.stream("POST", "/v1/chat/stream", json={**question, "text": "Blorptastic wibble quux?"},
                          headers=h) as s:
                assert s.status_code == 200
                raw = "".join(s.iter_text())
            assert time.monotonic() - t0 < BUDGET_S + 8.0
            final = json.loads(raw.strip().split("\n\n")[-1].split("\n")[1][6:])
            assert final["text"] and ("sorry" in final["text"].lower() or final["text"].endswith("…")), final
        with db.session() as s:
            row = s.get(TurnLog, body["turn_id"])
            assert row is not None and row.status == "done"
            report(f"  of which the chat bot step ({mode})", row.steps_ms["bot.chat"] / 1000)
            assert row.steps_ms["bot.chat"] < (BUDGET_S + 0.5) * 1000, row.steps_ms
            gen = [e for e in row.trace if e.get("type") == "bot" and e.get("step") == "generation"]
            assert gen and gen[0]["detail"].startswith("rejected:"), row.trace
    finally:
        server.kill()
