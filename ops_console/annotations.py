"""Annotations: operators' corrections of turns, versioned, and the unanswered queue they work through.

Kinds and what their correction holds:
    intent     {"intent": right intent}                        -> NLU training examples
    faq        {"faq_id": right item, "add_similar": bool}      -> a similar question for that FAQ item
    reply      {"reply": better reply}                          -> an SFT example and a DPO pair
    sensitive  {"sensitive": true, "note": ...}                 -> excluded from every training set
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select

from csbot.storage.db import Database
from csbot.storage.models import Feedback, TurnLog
from csbot.storage.ops import Annotation
from ops_console import audit
from ops_console.prompting import guess_lang

Kind = Literal["intent", "faq", "reply", "sensitive"]
KINDS: tuple[str, ...] = ("intent", "faq", "reply", "sensitive")


class AnnotationError(ValueError):
    """The annotation cannot be stored (unknown turn, wrong tenant, missing correction)."""


class NotFound(AnnotationError, LookupError):
    pass


class AnnotationCreate(BaseModel):
    kind: Kind
    turn_id: str | None = None
    #: the user's text; taken from the turn when `turn_id` is given
    query: str | None = Field(default=None, max_length=4000)
    lang: str | None = None
    #: what the bot said, when not taken from the turn (e.g. an imported example)
    bot_reply: str | None = Field(default=None, max_length=8000)
    intent: str | None = Field(default=None, max_length=128)
    faq_id: str | None = Field(default=None, max_length=64)
    add_similar: bool = True
    reply: str | None = Field(default=None, max_length=8000)
    sensitive: bool = False
    note: str = Field(default="", max_length=2000)
    tags: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> AnnotationCreate:
        needed = {"intent": self.intent, "faq": self.faq_id, "reply": self.reply}.get(self.kind, "ok")
        if not (needed or "").strip():
            raise ValueError(f"a {self.kind} annotation needs its correction "
                             f"({ {'intent': 'intent', 'faq': 'faq_id', 'reply': 'reply'}[self.kind] })")
        return self

    def correction(self) -> dict[str, Any]:
        if self.kind == "intent":
            return {"intent": self.intent}
        if self.kind == "faq":
            return {"faq_id": self.faq_id, "add_similar": self.add_similar}
        if self.kind == "reply":
            return {"reply": (self.reply or "").strip()}
        return {"sensitive": True, "note": self.note}


class AnnotationPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant_id: str
    turn_id: str | None
    conversation_id: str | None
    kind: str
    query: str
    lang: str
    bot_output: dict[str, Any]
    correction: dict[str, Any]
    tags: list[Any]
    version: int
    chain_id: str
    supersedes: str | None
    current: bool
    deleted: bool
    author: str
    created_at: float


class UnansweredTurn(BaseModel):
    turn_id: str
    conversation_id: str
    query: str
    reply: str
    kind: str | None
    route: str | None
    confidence: float | None
    created_at: float


class AnnotationService:
    """Create, version, list and bulk-apply annotations of one database (tenant-checked)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant_id: str, actor: str, data: AnnotationCreate) -> AnnotationPublic:
        """Store a correction; a second correction of the same turn and kind becomes its next version."""
        query, lang, bot_output, conv_id = (data.query or "").strip(), data.lang, {}, None
        if data.turn_id is None and not query:
            raise AnnotationError("give the turn_id of the turn to correct, or the query of a new example")
        with self.db.session() as s:
            if data.turn_id is not None:
                turn = s.get(TurnLog, data.turn_id)
                if turn is None or turn.tenant_id != tenant_id:
                    raise NotFound(f"no turn {data.turn_id}")
                query = query or turn.normalised or turn.user_text
                conv_id = turn.conversation_id
                bot_output = {"reply": turn.reply_text or "", "route": turn.route, "kind": turn.kind,
                              "confidence": turn.confidence, "source": turn.source or {},
                              "intent": _traced_intent(turn.trace or [])}
                previous = s.scalars(select(Annotation).where(
                    Annotation.tenant_id == tenant_id, Annotation.turn_id == data.turn_id,
                    Annotation.kind == data.kind, Annotation.current.is_(True))).first()
            else:
                previous = None
            if data.bot_reply is not None:
                bot_output["reply"] = data.bot_reply
            row = Annotation(tenant_id=tenant_id, turn_id=data.turn_id, conversation_id=conv_id, kind=data.kind,
                             query=query, lang=lang or guess_lang(query), bot_output=bot_output,
                             correction=data.correction(), tags=list(data.tags), author=actor)
            if previous is not None:
                previous.current = False
                row.version, row.chain_id, row.supersedes = previous.version + 1, previous.chain_id, previous.id
            s.add(row)
            s.flush()
            if not row.chain_id:
                row.chain_id = row.id
            out = AnnotationPublic.model_validate(row)
        audit.record(self.db, tenant_id, actor, "annotation.create" if out.version == 1 else "annotation.update",
                     out.id, {"kind": out.kind, "turn_id": out.turn_id, "version": out.version})
        return out

    def update(self, tenant_id: str, actor: str, annotation_id: str, data: AnnotationCreate) -> AnnotationPublic:
        """A new version of annotation `annotation_id` (which must be the current one of its chain)."""
        with self.db.session() as s:
            old = s.get(Annotation, annotation_id)
            if old is None or old.tenant_id != tenant_id:
                raise NotFound(f"no annotation {annotation_id}")
            if not old.current:
                raise AnnotationError(f"annotation {annotation_id} was superseded; edit the current version")
            old.current = False
            row = Annotation(tenant_id=tenant_id, turn_id=old.turn_id, conversation_id=old.conversation_id,
                             kind=data.kind, query=(data.query or old.query).strip(), lang=data.lang or old.lang,
                             bot_output=dict(old.bot_output) | ({"reply": data.bot_reply} if data.bot_reply else {}),
                             correction=data.correction(), tags=list(data.tags), author=actor,
                             version=old.version + 1, chain_id=old.chain_id, supersedes=old.id)
            s.add(row)
            s.flush()
            out = AnnotationPublic.model_validate(row)
        audit.record(self.db, tenant_id, actor, "annotation.update", out.id, {"version": out.version})
        return out

    def delete(self, tenant_id: str, actor: str, annotation_id: str) -> None:
        """Withdraw an annotation from the training sets (its history stays)."""
        with self.db.session() as s:
            row = s.get(Annotation, annotation_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound(f"no annotation {annotation_id}")
            row.deleted = True
        audit.record(self.db, tenant_id, actor, "annotation.delete", annotation_id)

    def get(self, tenant_id: str, annotation_id: str) -> AnnotationPublic:
        with self.db.session() as s:
            row = s.get(Annotation, annotation_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound(f"no annotation {annotation_id}")
            return AnnotationPublic.model_validate(row)

    def list(self, tenant_id: str, kind: str | None = None, *, turn_id: str | None = None,
             history: bool = False, limit: int = 500) -> list[AnnotationPublic]:
        """Current, not deleted annotations (every version with `history`), newest first."""
        stmt = select(Annotation).where(Annotation.tenant_id == tenant_id)
        if not history:
            stmt = stmt.where(Annotation.current.is_(True), Annotation.deleted.is_(False))
        if kind:
            stmt = stmt.where(Annotation.kind == kind)
        if turn_id:
            stmt = stmt.where(Annotation.turn_id == turn_id)
        stmt = stmt.order_by(Annotation.created_at.desc(), Annotation.version.desc()).limit(limit)
        with self.db.session() as s:
            return [AnnotationPublic.model_validate(r) for r in s.scalars(stmt)]

    def versions(self, tenant_id: str, chain_id: str) -> list[AnnotationPublic]:
        stmt = (select(Annotation).where(Annotation.tenant_id == tenant_id, Annotation.chain_id == chain_id)
                .order_by(Annotation.version))
        with self.db.session() as s:
            return [AnnotationPublic.model_validate(r) for r in s.scalars(stmt)]

    def bulk(self, tenant_id: str, actor: str, items: list[AnnotationCreate]) -> list[AnnotationPublic]:
        """Apply many annotations (e.g. the same intent to a cluster of unanswered questions)."""
        return [self.create(tenant_id, actor, item) for item in items]

    def unanswered(self, tenant_id: str, *, since: float | None = None, limit: int = 200) -> list[UnansweredTurn]:
        """Turns the bot did not answer well (rejected, handed off, low confidence, thumbs down) and that
        nobody has annotated yet, newest first."""
        annotated = select(Annotation.turn_id).where(Annotation.tenant_id == tenant_id,
                                                     Annotation.turn_id.is_not(None), Annotation.deleted.is_(False))
        disliked = select(Feedback.turn_id).where(Feedback.tenant_id == tenant_id, Feedback.rating < 0)
        weak = (TurnLog.kind.in_(("reject", "handoff")) | TurnLog.route.in_(("reject", "none"))
                | ((TurnLog.confidence < 0.4) & (TurnLog.kind != "chitchat")) | TurnLog.id.in_(disliked))
        stmt = (select(TurnLog).where(TurnLog.tenant_id == tenant_id, TurnLog.status == "done", weak,
                                      TurnLog.id.not_in(annotated))
                .order_by(TurnLog.created_at.desc()).limit(limit))
        if since is not None:
            stmt = stmt.where(TurnLog.created_at >= since)
        with self.db.session() as s:
            return [UnansweredTurn(turn_id=t.id, conversation_id=t.conversation_id, query=t.normalised or t.user_text,
                                   reply=t.reply_text or "", kind=t.kind, route=t.route, confidence=t.confidence,
                                   created_at=t.created_at) for t in s.scalars(stmt)]

    def counts(self, tenant_id: str) -> dict[str, int]:
        stmt = (select(Annotation.kind, func.count()).where(Annotation.tenant_id == tenant_id,
                Annotation.current.is_(True), Annotation.deleted.is_(False)).group_by(Annotation.kind))
        with self.db.session() as s:
            return {k: int(n) for k, n in s.execute(stmt)}


def _traced_intent(trace: list[Any]) -> str | None:
    """The intent the task bot recognised in this turn, from its trace event (None if it did not run)."""
    for ev in trace:
        if isinstance(ev, dict) and ev.get("bot") == "task" and isinstance(ev.get("data"), dict):
            intent = ev["data"].get("intent")
            if intent:
                return str(intent)
    return None


def now() -> float:
    return time.time()
