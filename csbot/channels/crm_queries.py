"""Searching and exporting conversations for integrators (by time, user, route, resolution, tag, text)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, String, cast, exists, func, select

from csbot.storage.db import Database
from csbot.storage.models import Conversation, Message, TurnLog

Resolution = Literal["bot", "operator", "none"]


@dataclass(frozen=True)
class ConversationFilter:
    since: float | None = None
    until: float | None = None
    user_id: str | None = None
    route: str | None = None
    resolution: Resolution | None = None
    tag: str | None = None
    status: str | None = None
    channel: str | None = None
    #: words in any message of the conversation
    q: str | None = None


def _query(tenant_id: str, f: ConversationFilter) -> Select[Conversation]:  # type: ignore[type-var]
    q = select(Conversation).where(Conversation.tenant_id == tenant_id)
    if f.since is not None:
        q = q.where(Conversation.created_at >= f.since)
    if f.until is not None:
        q = q.where(Conversation.created_at < f.until)
    if f.user_id:
        q = q.where(Conversation.user_id == f.user_id)
    if f.status:
        q = q.where(Conversation.status == f.status)
    if f.channel:
        q = q.where(Conversation.channel == f.channel)
    if f.route:
        q = q.where(exists().where(TurnLog.conversation_id == Conversation.id, TurnLog.route == f.route))
    if f.tag:
        # tags are a JSON list; its text holds the JSON-encoded tag, which works on SQLite and PostgreSQL alike
        q = q.where(cast(Conversation.tags, String).contains(json.dumps(f.tag), autoescape=True))
    bot_replied = exists().where(Message.conversation_id == Conversation.id, Message.role == "bot")
    if f.resolution == "operator":
        q = q.where(Conversation.handoff_at.is_not(None))
    elif f.resolution == "bot":
        q = q.where(Conversation.handoff_at.is_(None), bot_replied)
    elif f.resolution == "none":
        q = q.where(Conversation.handoff_at.is_(None), ~bot_replied)
    if f.q:
        q = q.where(exists().where(Message.conversation_id == Conversation.id,
                                   Message.text.icontains(f.q, autoescape=True)))
    return q


def resolution_of(conv: Conversation, bot_replied: bool) -> Resolution:
    if conv.handoff_at is not None:
        return "operator"
    return "bot" if bot_replied else "none"


def summary(s: Any, conv: Conversation) -> dict[str, Any]:
    counts = dict(s.execute(select(Message.role, func.count()).where(Message.conversation_id == conv.id)
                            .group_by(Message.role)).all())
    routes = sorted(r for r in s.scalars(select(TurnLog.route).where(TurnLog.conversation_id == conv.id)
                                         .distinct()) if r)
    return {"id": conv.id, "session_id": conv.session_id, "user_id": conv.user_id, "channel": conv.channel,
            "status": conv.status, "operator": conv.operator, "tags": list(conv.tags or []),
            "attributes": dict(conv.attributes or {}), "routes": routes,
            "resolution": resolution_of(conv, counts.get("bot", 0) > 0),
            "message_count": sum(counts.values()), "handoff_reason": conv.handoff_reason,
            "created_at": conv.created_at, "updated_at": conv.updated_at}


def search(db: Database, tenant_id: str, f: ConversationFilter, limit: int, offset: int) -> tuple[int, list[dict[str, Any]]]:
    q = _query(tenant_id, f)
    with db.session() as s:
        total = s.scalar(select(func.count()).select_from(q.subquery())) or 0
        rows = s.scalars(q.order_by(Conversation.created_at.desc(), Conversation.id).limit(limit).offset(offset)).all()
        return total, [summary(s, c) for c in rows]


def transcript(db: Database, tenant_id: str, conversation_id: str) -> dict[str, Any] | None:
    from sqlalchemy import or_

    with db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id, or_(
            Conversation.id == conversation_id, Conversation.session_id == conversation_id)))
        if conv is None:
            return None
        out = summary(s, conv)
        msgs = s.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.seq)).all()
        turns = {t.id: t for t in s.scalars(select(TurnLog).where(TurnLog.conversation_id == conv.id))}
        out["messages"] = [{
            "id": m.id, "seq": m.seq, "role": m.role, "text": m.text, "kind": m.kind, "author": m.author,
            "turn_id": m.turn_id, "created_at": m.created_at,
            "route": turns[m.turn_id].route if m.turn_id in turns and m.role == "bot" else None,
            "confidence": turns[m.turn_id].confidence if m.turn_id in turns and m.role == "bot" else None,
        } for m in msgs]
        return out


CSV_FIELDS = ["conversation_id", "session_id", "user_id", "channel", "status", "tags", "seq", "role", "author",
              "text", "route", "created_at"]


def export(db: Database, tenant_id: str, f: ConversationFilter, fmt: Literal["jsonl", "csv"],
           batch: int = 200) -> Iterator[str]:
    """JSONL: one conversation (with its messages) per line. CSV: one message per row."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
        writer.writeheader()
        yield "\ufeff" + buf.getvalue()  # BOM: Excel opens Chinese text correctly
    offset = 0
    while True:
        with db.session() as s:
            ids = s.scalars(_query(tenant_id, f).with_only_columns(Conversation.id)
                            .order_by(Conversation.created_at, Conversation.id).limit(batch).offset(offset)).all()
        if not ids:
            return
        offset += len(ids)
        for cid in ids:
            t = transcript(db, tenant_id, cid)
            if t is None:
                continue
            if fmt == "jsonl":
                yield json.dumps(t, ensure_ascii=False) + "\n"
                continue
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
            for m in t["messages"]:
                writer.writerow({"conversation_id": t["id"], "session_id": t["session_id"], "user_id": t["user_id"],
                                 "channel": t["channel"], "status": t["status"], "tags": "|".join(t["tags"]),
                                 "seq": m["seq"], "role": m["role"], "author": m["author"] or "", "text": m["text"],
                                 "route": m["route"] or "", "created_at": m["created_at"]})
            yield buf.getvalue()


def set_tags(db: Database, tenant_id: str, conversation_id: str, add: list[str], remove: list[str]) -> list[str] | None:
    from sqlalchemy import or_

    with db.session() as s:
        conv = s.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id, or_(
            Conversation.id == conversation_id, Conversation.session_id == conversation_id)))
        if conv is None:
            return None
        tags = [t for t in (conv.tags or []) if t not in remove]
        tags += [t for t in add if t not in tags]
        conv.tags = tags
        return tags


def open_conversation_of_user(db: Database, tenant_id: str, user_id: str) -> Conversation | None:
    """The user's most recently active conversation that is not closed."""
    with db.session() as s:
        return s.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                   Conversation.user_id == user_id,
                                                   Conversation.status != "closed")
                        .order_by(Conversation.updated_at.desc()).limit(1))
