"""Personal data: delete everything about one customer, and purge what outlived the tenant's retention.

What a customer leaves behind: conversations, their messages and turns (with traces), feedback,
the dialogue-state copy, the contact record, operator annotations made from their turns (and the
lines of exported training sets built from them), webhook deliveries carrying their ids, and in
Redis the dialogue state, rate-limit and live-channel keys named after their sessions, and the
cache's top-queries list. `delete_user` removes all of it; `purge_expired` applies the same erasure
to conversations idle for longer than the tenant's `retention_days` (Tenant.settings), which is
how long PII is kept at most. The audit log keeps who erased what (ids and counts, never content).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis as redis_sync
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from csbot.pipeline.pii import find_pii
from csbot.storage.channels import Contact, WebhookDelivery
from csbot.storage.db import Database
from csbot.storage.models import Conversation, DialogueStateRow, Feedback, Message, Tenant, TurnLog
from csbot.storage.ops import Annotation, AuditEntry, TrainingSet

log = logging.getLogger(__name__)

RETENTION_KEY = "retention_days"
DAY_S = 86400.0


class GdprError(ValueError):
    """Bad input to a GDPR command (unknown tenant, bad retention value)."""


@dataclass
class Erasure:
    """What was removed, by kind (counts only: the report itself must hold no personal data)."""

    tenant_id: str
    user_id: str | None = None
    conversations: int = 0
    removed: Counter[str] = field(default_factory=Counter)

    def as_json(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "user_id": self.user_id, "conversations": self.conversations,
                "removed": dict(sorted(self.removed.items()))}


def _needles(values: Iterable[Any]) -> set[str]:
    """Strings worth searching for: the user's ids and the PII values in their records."""
    out: set[str] = set()
    for v in values:
        if isinstance(v, dict):
            out |= _needles(v.values())
        elif isinstance(v, list):
            out |= _needles(v)
        elif isinstance(v, str | int) and len(str(v)) >= 4:
            out.add(str(v))
    return out


def _erase(s: Session, tenant_id: str, convs: list[Conversation], needles: set[str], report: Erasure,
           redis: redis_sync.Redis | None, prefix: str) -> None:
    """Remove every trace of `convs` (and strings in `needles`) inside one transaction."""
    conv_ids = [c.id for c in convs]
    sessions = sorted({c.session_id for c in convs})
    turn_ids = list(s.scalars(select(TurnLog.id).where(TurnLog.conversation_id.in_(conv_ids)))) if conv_ids else []
    # the user's own words, to find them in annotations, exported sets and Redis
    texts = set(s.scalars(select(Message.text).where(Message.conversation_id.in_(conv_ids), Message.role == "user")))
    texts |= set(s.scalars(select(TurnLog.normalised).where(TurnLog.id.in_(turn_ids))))
    texts = {t for t in texts if t and len(t) >= 2}
    for row in s.scalars(select(DialogueStateRow).where(DialogueStateRow.tenant_id == tenant_id,
                                                        DialogueStateRow.session_id.in_(sessions))):
        needles |= {n for n in _needles([row.data.get("bots", {})]) if find_pii(n)}

    annotations = list(s.scalars(select(Annotation).where(Annotation.tenant_id == tenant_id, or_(
        Annotation.turn_id.in_(turn_ids), Annotation.conversation_id.in_(conv_ids)))))
    if annotations:
        _scrub_training_sets(s, tenant_id, {a.id for a in annotations}, {a.query for a in annotations} | texts,
                             report)
        for a in annotations:
            s.delete(a)
        report.removed["annotations"] += len(annotations)

    def count_delete(table: Any, *where: Any) -> int:
        result = s.execute(delete(table).where(*where))
        return int(getattr(result, "rowcount", 0) or 0)

    if turn_ids:
        report.removed["feedback"] += count_delete(Feedback, Feedback.turn_id.in_(turn_ids))
    if conv_ids:
        report.removed["messages"] += count_delete(Message, Message.conversation_id.in_(conv_ids))
        report.removed["turns"] += count_delete(TurnLog, TurnLog.conversation_id.in_(conv_ids))
        report.removed["dialogue_states"] += count_delete(
            DialogueStateRow, DialogueStateRow.tenant_id == tenant_id, DialogueStateRow.session_id.in_(sessions))
        report.removed["conversations"] += count_delete(Conversation, Conversation.id.in_(conv_ids))
    refs = set(conv_ids) | set(sessions) | set(turn_ids) | {n for n in needles if len(n) >= 6}
    if refs:
        # delivery bodies are JSON copies of events: they name the conversation, session or turn
        ors = [WebhookDelivery.body.contains(r) for r in sorted(refs)]
        report.removed["webhook_deliveries"] += count_delete(
            WebhookDelivery, WebhookDelivery.tenant_id == tenant_id, or_(*ors))
    report.conversations += len(conv_ids)
    if redis is not None:
        _erase_redis(redis, prefix, tenant_id, sessions, needles, texts, report)


def _scrub_training_sets(s: Session, tenant_id: str, ann_ids: set[str], texts: set[str], report: Erasure) -> None:
    """Drop the erased annotations from exported training sets (the row's ids and the file's lines)."""
    escaped = {json.dumps(t, ensure_ascii=False)[1:-1] for t in texts if t and len(t) >= 2}
    for ts in s.scalars(select(TrainingSet).where(TrainingSet.tenant_id == tenant_id)):
        ids = [i for i in (ts.annotation_ids or []) if i not in ann_ids]
        if len(ids) == len(ts.annotation_ids or []):
            continue
        ts.annotation_ids = ids
        path = Path(ts.path) if ts.path else None
        if path is not None and path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            kept = [ln for ln in lines if not any(e in ln for e in escaped)]
            path.write_text("".join(kept), encoding="utf-8")
            ts.n_examples = len(kept)
            report.removed["training_set_lines"] += len(lines) - len(kept)
        report.removed["training_sets_scrubbed"] += 1


def _erase_redis(redis: redis_sync.Redis, prefix: str, tenant_id: str, sessions: list[str], needles: set[str],
                 texts: set[str], report: Erasure) -> None:
    """Keys of this tenant named after the user's sessions or ids; their queries in sorted sets."""
    names = set(sessions) | {n for n in needles if len(n) >= 4}
    for k in redis.scan_iter(f"{prefix}:*", count=1000):
        parts = str(k).split(":")
        if tenant_id not in parts:
            continue
        if names & set(parts):
            report.removed["redis_keys"] += int(redis.delete(k))
        elif redis.type(k) == "zset":  # e.g. the answer cache's top queries
            members = [str(m) for m in redis.zrange(k, 0, -1)
                       if str(m) in texts or any(n in str(m) for n in names if len(n) >= 6)]
            if members:
                report.removed["redis_members"] += int(redis.zrem(k, *members))


def _redis(url: str | None) -> redis_sync.Redis | None:
    return redis_sync.Redis.from_url(url, decode_responses=True) if url else None


def delete_user(db: Database, tenant_id: str, user_id: str, *, redis: redis_sync.Redis | None = None,
                prefix: str = "csbot", actor: str = "system") -> Erasure:
    """Erase every trace of `user_id` in `tenant_id`; idempotent (a second call removes nothing)."""
    if not user_id.strip():
        raise GdprError("user id is empty: pass the id the integration sends as `user_id`")
    report = Erasure(tenant_id, user_id)
    with db.session() as s:
        if s.get(Tenant, tenant_id) is None:
            raise GdprError(f"unknown tenant {tenant_id!r}")
        convs = list(s.scalars(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                          Conversation.user_id == user_id)))
        contact = s.get(Contact, (tenant_id, user_id))
        needles = {user_id} | _needles([c.attributes for c in convs])
        if contact is not None:
            needles |= _needles([contact.attributes])
            s.delete(contact)
            report.removed["contacts"] += 1
        _erase(s, tenant_id, convs, needles, report, redis, prefix)
        s.add(AuditEntry(tenant_id=tenant_id, actor=actor, action="gdpr.delete_user", target="(erased user)",
                         detail={"removed": dict(report.removed), "conversations": report.conversations}))
    log.info("gdpr: erased a user of %s: %s", tenant_id, dict(report.removed))
    return report


def retention_days(settings: dict[str, Any] | None) -> float | None:
    """The tenant's retention in days, or None when it keeps conversations indefinitely."""
    value = (settings or {}).get(RETENTION_KEY)
    if value in (None, "", 0):
        return None
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise GdprError(f"{RETENTION_KEY} must be a number of days, got {value!r}") from None
    if days <= 0:
        raise GdprError(f"{RETENTION_KEY} must be positive, got {value!r}")
    return days


def set_retention(db: Database, tenant_id: str, days: float | None) -> None:
    """Set (or clear, with None) how many days a tenant's conversations are kept after their last message."""
    if days is not None:
        retention_days({RETENTION_KEY: days})
    with db.session() as s:
        tenant = s.get(Tenant, tenant_id)
        if tenant is None:
            raise GdprError(f"unknown tenant {tenant_id!r}")
        settings = dict(tenant.settings or {})
        if days is None:
            settings.pop(RETENTION_KEY, None)
        else:
            settings[RETENTION_KEY] = days
        tenant.settings = settings


def purge_expired(db: Database, *, redis: redis_sync.Redis | None = None, prefix: str = "csbot",
                  now: float | None = None, tenant_id: str | None = None) -> list[Erasure]:
    """Erase conversations idle for longer than their tenant's retention; tenants without one are skipped."""
    now = time.time() if now is None else now
    reports = []
    with db.session() as s:
        tenants = [(t.id, t.settings) for t in s.scalars(select(Tenant))
                   if tenant_id is None or t.id == tenant_id]
    for tid, settings in tenants:
        try:
            days = retention_days(settings)
        except GdprError as exc:
            log.warning("gdpr: tenant %s skipped: %s", tid, exc)
            continue
        if days is None:
            continue
        cutoff = now - days * DAY_S
        report = Erasure(tid)
        with db.session() as s:
            convs = list(s.scalars(select(Conversation).where(Conversation.tenant_id == tid,
                                                              Conversation.updated_at < cutoff)))
            needles = _needles([c.attributes for c in convs])
            _erase(s, tid, convs, needles, report, redis, prefix)
            # contacts not seen since the cutoff and with no conversation left
            live = set(s.scalars(select(Conversation.user_id).where(Conversation.tenant_id == tid)))
            for c in s.scalars(select(Contact).where(Contact.tenant_id == tid, Contact.updated_at < cutoff)):
                if c.user_id not in live:
                    s.delete(c)
                    report.removed["contacts"] += 1
            if report.removed:
                s.add(AuditEntry(tenant_id=tid, actor="system", action="gdpr.purge_expired", target=f"{days:g} days",
                                 detail={"removed": dict(report.removed), "conversations": report.conversations}))
        reports.append(report)
    return reports
