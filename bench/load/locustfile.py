"""Simulated customers for `bench/load/run.py` (locust, headless).

Each locust user is one customer: it opens a conversation (a new session id) of a kind drawn from
the mix, sends its messages one by one with a think time between them (a person reading the reply
and typing the next line), then starts the next conversation. Every turn is recorded with the route
taken from the reply JSON (`source.bot`), and written to LOAD_OUT as JSON lines when locust quits;
`run.py` computes the figures from those records, counting only turns started after all users
were spawned.

Configuration comes from run.py through the environment (LOAD_CONFIG: a JSON file).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

from locust import FastHttpUser, between, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scenarios import conversation, load_corpus  # noqa: E402

CONFIG = json.loads(Path(os.environ["LOAD_CONFIG"]).read_text())
CORPUS = load_corpus(Path(CONFIG["faq_path"]) if CONFIG.get("faq_path") else None)
KINDS = list(CONFIG["mix"])
WEIGHTS = [CONFIG["mix"][k] for k in KINDS]
RECORDS: list[dict[str, object]] = []
STATE: dict[str, float] = {}


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: object) -> None:
    STATE["spawned_at"] = time.time()


@events.quitting.add_listener
def _write(environment: object, **_: object) -> None:
    out = Path(CONFIG["out"])
    with out.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps({"spawned_at": STATE.get("spawned_at")}) + "\n")
        for rec in RECORDS:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


class Customer(FastHttpUser):
    wait_time = between(CONFIG["think_min"], CONFIG["think_max"])
    network_timeout = float(CONFIG.get("timeout_s", 30))
    connection_timeout = float(CONFIG.get("timeout_s", 30))

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"Authorization": f"Bearer {CONFIG['api_key']}"}
        self._new_conversation()

    def _new_conversation(self) -> None:
        self.kind = self.rng.choices(KINDS, WEIGHTS)[0]
        self.session = f"load-{uuid.uuid4().hex[:12]}"
        self.messages = conversation(self.kind, CORPUS, self.rng)

    @task
    def turn(self) -> None:
        if not self.messages:
            self._new_conversation()
        text = self.messages.pop(0)
        started = time.time()
        t0 = time.perf_counter()
        rec: dict[str, object] = {"t": started, "conv": self.kind, "ok": False}
        # one request name for all turns: locust's own table is not used, the records are
        with self.client.post("/v1/chat", json={"session_id": self.session, "text": text}, headers=self.headers,
                              name="/v1/chat", catch_response=True) as resp:
            rec["ms"] = (time.perf_counter() - t0) * 1000
            rec["status"] = resp.status_code
            try:
                if resp.status_code != 200:
                    raise ValueError(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                body = resp.json()
                missing = [k for k in ("text", "kind", "suggestions", "source", "confidence", "trace_id") if k not in body]
                if missing:
                    raise ValueError(f"reply lacks {missing}")
                rec["route"] = body["source"].get("bot") or "?"
                rec["cached"] = bool(body["source"].get("cached"))
                rec["kind"] = body["kind"]
                rec["ok"] = True
                resp.success()
            except Exception as exc:  # recorded and counted as an error, never raised into locust
                rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
                resp.failure(rec["error"])
        RECORDS.append(rec)
