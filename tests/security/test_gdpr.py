"""Per-user erasure and retention (issue 10, PII): after `DELETE /v1/users/{id}` or
`csbot gdpr delete`, no SQL table and no Redis key or value of the installation holds the user's id,
session ids, phone, e-mail or name; another customer's data is untouched. Real API (TestClient over
the ASGI app, with its webhook outbox), real SQLite, real Redis, the real CLI in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_sync
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from csbot.api.app import create_app
from csbot.bots import BotRegistry
from csbot.config import Settings
from csbot.gdpr import purge_expired
from csbot.pipeline.pii import find_pii
from csbot.sessions import DialogueState
from csbot.storage import all_models
from csbot.storage.channels import Contact
from csbot.storage.db import Database
from csbot.storage.models import Conversation, Message, Tenant, TurnLog
from csbot.storage.ops import Annotation, TrainingSet
from csbot.tenants import create_api_key, create_tenant
from csbot.types import BotScore, Reply, ReplyKind, Source, Turn
from tests.conftest import REDIS_URL
from tests.csbot.spine_bots import KeywordBot

CSBOT = str(Path(sys.executable).with_name("csbot"))
T = "gdpr-shop"
U, U_PHONE, U_EMAIL, U_NAME = "cust-lee-7788", "13700001111", "lee.leilei@example.com", "李雷雷"
V, V_PHONE = "cust-han-4455", "13500003333"
OTHER, O_PHONE = "cust-other-5566", "13600002222"


class SlotBot:
    """Keeps the phone number of the message in its own corner of the dialogue state, as a task does."""

    name = "task"

    async def load(self, ctx: object) -> None:
        return None

    async def score(self, turn: Turn, state: DialogueState) -> BotScore:
        return BotScore(bot=self.name, score=0.9 if "电话" in turn.query else 0.0, reason="phone slot")

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        phones = [turn.text[p.start : p.end] for p in find_pii(turn.text) if p.kind == "phone"]
        state.bots[self.name] = {"slots": {"phone": phones[0] if phones else None}}
        return Reply(text=f"好的，已记下您的电话{phones[0] if phones else ''}。", kind=ReplyKind.answer,
                     source=Source(bot=self.name))

    def ready(self) -> dict[str, str]:
        return {"model": "ok"}


def _registry() -> BotRegistry:
    reg = BotRegistry(bots={})
    reg.register("kb", KeywordBot("kb", "运费", 0.9, cacheable=True, answer="满99元包邮。"))
    reg.register("task", SlotBot())
    return reg


@pytest.fixture
def client(settings: Settings, db: Database) -> Iterator[tuple[TestClient, str]]:
    create_tenant(db, T)
    key = create_api_key(db, T)
    with TestClient(create_app(settings, registry=_registry(), plugins=False)) as c:
        yield c, key


def _chat(c: TestClient, key: str, user: str, session: str, text: str) -> None:
    r = c.post("/v1/chat", headers={"Authorization": f"Bearer {key}"},
               json={"session_id": session, "user_id": user, "text": text})
    assert r.status_code == 200, r.text


def _talk(c: TestClient, key: str, db: Database, settings: Settings, user: str, phone: str, *,
          email: str = "", name: str = "") -> None:
    """A customer's footprint: two sessions, a phone in the task state, a cached FAQ, feedback, an
    annotation and an exported training line made from their turn, a contact record, rate keys."""
    for n in (1, 2):
        _chat(c, key, user, f"s-{user}-{n}", f"我叫{name or user}，电话{phone}，邮箱{email or 'none'}")
        _chat(c, key, user, f"s-{user}-{n}", "运费多少")
    _chat(c, key, user, f"s-{user}-1", "运费多少")  # a cache hit: the query lands in the top-queries list
    with db.session() as s:
        turn = s.scalars(select(TurnLog).join(Conversation, TurnLog.conversation_id == Conversation.id)
                         .where(Conversation.user_id == user).order_by(TurnLog.created_at)).first()
        assert turn is not None
        s.add(Contact(tenant_id=T, user_id=user, attributes={"phone": phone, "email": email, "name": name}))
        ann = Annotation(tenant_id=T, turn_id=turn.id, conversation_id=turn.conversation_id, kind="faq",
                         query=f"{name}的电话{phone}", correction={"faq_id": "ship-fee"}, author="op")
        s.add(ann)
        s.flush()
        turn_id, ann_id, ann_query = turn.id, ann.id, ann.query
    r = c.post("/v1/feedback", headers={"Authorization": f"Bearer {key}"},
               json={"turn_id": turn_id, "rating": "down", "comment": f"{name} 不满意"})
    assert r.status_code in (200, 201), r.text
    export = settings.data_dir / "training-sets" / T / "faq.jsonl"
    export.parent.mkdir(parents=True, exist_ok=True)
    with export.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"query": ann_query, "faq_id": "ship-fee"}, ensure_ascii=False) + "\n")
    with db.session() as s:
        ts = s.scalar(select(TrainingSet).where(TrainingSet.tenant_id == T))
        if ts is None:
            s.add(TrainingSet(tenant_id=T, kind="faq", path=str(export), annotation_ids=[ann_id], n_examples=1))
        else:
            ts.annotation_ids = [*ts.annotation_ids, ann_id]
    r = redis_sync.Redis.from_url(REDIS_URL)
    r.set(f"{settings.redis_prefix}:rl:visitor:{T}:{user}", 3, ex=60)
    r.close()


def _needles(user: str, phone: str, email: str, name: str) -> list[str]:
    return [user, phone, f"{phone[:3]}****{phone[-4:]}", email, name, f"s-{user}-1", f"s-{user}-2"]


def _sql_hits(db: Database, needles: list[str]) -> list[str]:
    """(table, needle) for every SQL row of every table whose text holds a needle."""
    hits = []
    with db.engine.connect() as conn:
        for table in all_models.Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                text = json.dumps([v if isinstance(v, str | int | float | None) else str(v) for v in row],
                                  ensure_ascii=False) + json.dumps(row._asdict(), ensure_ascii=False, default=str)
                hits += [f"{table.name}: {n}" for n in needles if n and n in text]
    return sorted(set(hits))


def _redis_hits(prefix: str, needles: list[str]) -> list[str]:
    r = redis_sync.Redis.from_url(REDIS_URL, decode_responses=True)
    hits = []
    try:
        for key in r.scan_iter(f"{prefix}:*", count=1000):
            value: Any = _value(r, key)
            text = key + json.dumps(value, ensure_ascii=False, default=str)
            hits += [f"{key}: {n}" for n in needles if n and n in text]
    finally:
        r.close()
    return sorted(set(hits))


def _value(r: redis_sync.Redis, key: str) -> Any:
    kind = r.type(key)
    if kind == "string":
        return r.get(key)
    if kind == "hash":
        return r.hgetall(key)
    if kind == "zset":
        return r.zrange(key, 0, -1)
    if kind == "list":
        return r.lrange(key, 0, -1)
    if kind == "set":
        return sorted(r.smembers(key))
    return ""


def _wait_deliveries(db: Database, n: int) -> None:
    from csbot.storage.channels import WebhookDelivery

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with db.session() as s:
            if len(s.scalars(select(WebhookDelivery.id)).all()) >= n:
                return
        time.sleep(0.1)


def test_delete_user_leaves_no_trace_and_spares_others(client: tuple[TestClient, str], settings: Settings,
                                                        db: Database) -> None:
    c, key = client
    hook = c.post("/v1/webhooks", headers={"Authorization": f"Bearer {key}"},
                  json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert hook.status_code == 201, hook.text
    _talk(c, key, db, settings, U, U_PHONE, email=U_EMAIL, name=U_NAME)
    _talk(c, key, db, settings, V, V_PHONE, email="han.meimei@example.com", name="韩梅梅")
    _talk(c, key, db, settings, OTHER, O_PHONE, email="other.person@example.com", name="王小明")
    _wait_deliveries(db, 3)
    u_needles = _needles(U, U_PHONE, U_EMAIL, U_NAME)
    # the footprint is really there before: the scan can find what it looks for
    before = _sql_hits(db, u_needles)
    assert {h.split(":")[0] for h in before} >= {"conversations", "dialogue_states", "contacts", "annotations"}
    assert _redis_hits(settings.redis_prefix, u_needles)

    # U through the integrators' API; the report holds counts, not data
    r = c.delete(f"/v1/users/{U}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["conversations"] == 2 and report["removed"]["messages"] >= 8
    assert not any(n in json.dumps(report, ensure_ascii=False) for n in u_needles[1:])

    # V through the CLI
    env = {**os.environ, "CSBOT_DATA_DIR": str(settings.data_dir), "CSBOT_REDIS_URL": REDIS_URL,
           "CSBOT_REDIS_PREFIX": settings.redis_prefix, "CSBOT_DATABASE_URL": settings.database_url}
    out = subprocess.run([CSBOT, "gdpr", "delete", "--tenant", T, "--user", V, "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["conversations"] == 2

    for user, phone, email, name in ((U, U_PHONE, U_EMAIL, U_NAME), (V, V_PHONE, "han.meimei@example.com", "韩梅梅")):
        needles = _needles(user, phone, email, name)
        assert _sql_hits(db, needles) == []
        assert _redis_hits(settings.redis_prefix, needles) == []
        assert not any(n in (settings.data_dir / "training-sets" / T / "faq.jsonl").read_text(encoding="utf-8")
                       for n in needles)
    # the other customer keeps everything
    o_hits = {h.split(":")[0] for h in _sql_hits(db, _needles(OTHER, O_PHONE, "other.person@example.com", "王小明"))}
    assert o_hits >= {"conversations", "dialogue_states", "contacts", "annotations"}
    assert O_PHONE in (settings.data_dir / "training-sets" / T / "faq.jsonl").read_text(encoding="utf-8")
    # erasing again is harmless; bad input gets a clear error
    again = c.delete(f"/v1/users/{U}", headers={"Authorization": f"Bearer {key}"})
    assert again.status_code == 200 and again.json()["conversations"] == 0
    bad = subprocess.run([CSBOT, "gdpr", "delete", "--tenant", "no-such-tenant", "--user", OTHER], env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown tenant 'no-such-tenant'" in bad.stderr


def test_logs_and_traces_hold_pii_masked(client: tuple[TestClient, str], db: Database, settings: Settings) -> None:
    c, key = client
    _chat(c, key, U, "s-mask", f"我的电话{U_PHONE}，邮箱{U_EMAIL}")
    with db.session() as s:
        rows = s.scalars(select(TurnLog)).all()
        msgs = s.scalars(select(Message)).all()
        text = json.dumps([[r.user_text, r.normalised, r.reply_text, r.trace] for r in rows]
                          + [m.text for m in msgs], ensure_ascii=False)
    assert U_PHONE not in text and U_EMAIL not in text and "137****1111" in text


def test_retention_purges_expired_conversations(client: tuple[TestClient, str], db: Database,
                                                settings: Settings) -> None:
    c, key = client
    _chat(c, key, U, "s-old", f"旧的对话，电话{U_PHONE}")
    _chat(c, key, OTHER, "s-new", f"新的对话，电话{O_PHONE}")
    env = {**os.environ, "CSBOT_DATA_DIR": str(settings.data_dir), "CSBOT_REDIS_URL": REDIS_URL,
           "CSBOT_REDIS_PREFIX": settings.redis_prefix, "CSBOT_DATABASE_URL": settings.database_url}
    assert purge_expired(db) == []  # no retention setting: everything is kept
    out = subprocess.run([CSBOT, "gdpr", "retention", "--tenant", T, "--days", "30"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    with db.session() as s:
        assert (s.get(Tenant, T).settings or {})["retention_days"] == 30  # type: ignore[union-attr]
        s.execute(update(Conversation).where(Conversation.session_id == "s-old")
                  .values(updated_at=time.time() - 31 * 86400))
    purged = subprocess.run([CSBOT, "gdpr", "purge-expired", "--json"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)[0]["conversations"] == 1
    with db.session() as s:
        sessions = set(s.scalars(select(Conversation.session_id)))
    assert sessions == {"s-new"}
    assert _sql_hits(db, ["s-old", "137****1111"]) == []
    assert _redis_hits(settings.redis_prefix, ["s-old"]) == []
    bad = subprocess.run([CSBOT, "gdpr", "retention", "--tenant", T, "--days", "-3"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "retention_days must be positive" in bad.stderr


def test_log_lines_hold_pii_masked(caplog: pytest.LogCaptureFixture) -> None:
    """Any csbot logger, also a child one, writes customers' phone numbers and e-mails masked."""
    import logging

    from csbot import logsafe

    with caplog.at_level(logging.INFO):
        logsafe.install()
        logging.getLogger("csbot.pipeline.pipeline").warning("turn failed for text %r", f"电话{U_PHONE} {U_EMAIL}")
    assert U_PHONE not in caplog.text and U_EMAIL not in caplog.text and "137****1111" in caplog.text
