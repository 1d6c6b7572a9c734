"""The conversation log: every turn is written to SQL when accepted and completed with its reply.

Writing the user's turn before any bot runs means a crash, a bot exception or a dropped
connection after that point never loses what the customer said.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from csbot.pipeline.pii import mask_pii
from csbot.sessions import DialogueState, write_state_row
from csbot.storage.db import Database
from csbot.storage.models import Conversation, Feedback, Message, TurnLog
from csbot.types import JsonValue, Reply, Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AcceptedTurn:
    conversation_id: str
    turn_id: str
    user_message_id: str
    created: bool


class ConversationLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get_or_create(self, s: Session, tenant_id: str, session_id: str, *, user_id: str | None = None,
                      channel: str = "api") -> tuple[Conversation, bool]:
        conv = s.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                   Conversation.session_id == session_id))
        if conv is not None:
            return conv, False
        conv = Conversation(tenant_id=tenant_id, session_id=session_id, user_id=user_id, channel=channel)
        try:
            with s.begin_nested():
                s.add(conv)
            return conv, True
        except IntegrityError:  # created concurrently by another request
            conv = s.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                       Conversation.session_id == session_id))
            assert conv is not None
            return conv, False

    def _next_seq(self, s: Session, conversation_id: str) -> int:
        current = s.scalar(select(func.max(Message.seq)).where(Message.conversation_id == conversation_id))
        return (current or 0) + 1

    def accept(self, turn: Turn, masked_text: str) -> AcceptedTurn:
        """Store the user's message and a pending turn row; returns ids for completing it later."""
        with self.db.session() as s:
            conv, created = self.get_or_create(s, turn.tenant_id, turn.session_id, user_id=turn.user_id,
                                               channel=turn.channel)
            if turn.user_id and not conv.user_id:
                conv.user_id = turn.user_id
            if conv.status == "closed":
                conv.status = "open"
            conv.updated_at = time.time()
            msg = Message(tenant_id=turn.tenant_id, conversation_id=conv.id, seq=self._next_seq(s, conv.id),
                          role="user", text=masked_text, turn_id=turn.turn_id)
            s.add(msg)
            s.add(TurnLog(id=turn.turn_id, tenant_id=turn.tenant_id, conversation_id=conv.id,
                          user_text=masked_text, normalised="", status="pending"))
            s.flush()
            return AcceptedTurn(conv.id, turn.turn_id, msg.id, created)

    def complete(self, accepted: AcceptedTurn, turn: Turn, *, normalised: str, reply: Reply | None, route: str,
                 scores: dict[str, float], steps_ms: dict[str, float], trace: list[dict[str, object]],
                 latency_ms: float, error: str | None = None, silent: bool = False,
                 state: DialogueState | None = None) -> str | None:
        """Fill in the turn row and store the bot's message; returns the bot message id.

        `state` is the dialogue state after the turn: its SQL copy is written in the same
        transaction, so a completed turn costs one commit, and the log and the state never disagree.
        """
        with self.db.session() as s:
            if state is not None:
                self._write_state(s, state)
            values: dict[str, object] = dict(
                normalised=mask_pii(normalised)[0], route=route, scores=scores, steps_ms=steps_ms, trace=trace,
                latency_ms=latency_ms, error=error, status="failed" if error else "done",
            )
            if reply is not None:
                values.update(reply_text=reply.text, kind=reply.kind.value, confidence=reply.confidence,
                              source=reply.source.model_dump(mode="json"), cached=reply.source.cached)
            s.execute(update(TurnLog).where(TurnLog.id == accepted.turn_id).values(**values))
            if reply is None or silent:
                return None
            payload: dict[str, JsonValue] = {
                "suggestions": [sg.model_dump(mode="json") for sg in reply.suggestions],
                "source": reply.source.model_dump(mode="json"),
                "confidence": reply.confidence,
            }
            msg = Message(tenant_id=turn.tenant_id, conversation_id=accepted.conversation_id,
                          seq=self._next_seq(s, accepted.conversation_id), role="bot", text=reply.text,
                          kind=reply.kind.value, turn_id=accepted.turn_id, payload=payload)
            s.add(msg)
            s.flush()
            return msg.id

    @staticmethod
    def _write_state(s: Session, state: DialogueState) -> None:
        try:
            data = state.model_dump(mode="json")
        except Exception as exc:  # a bot's unstorable state must not cost the turn its completion
            log.warning("dialogue state of %s/%s not stored: %s", state.tenant_id, state.session_id, exc)
            return
        write_state_row(s, state.tenant_id, state.session_id, data, state.updated_at)

    def add_message(self, tenant_id: str, conversation_id: str, role: str, text: str, *,
                    author: str | None = None, kind: str | None = None,
                    payload: dict[str, JsonValue] | None = None) -> Message:
        with self.db.session() as s:
            msg = Message(tenant_id=tenant_id, conversation_id=conversation_id,
                          seq=self._next_seq(s, conversation_id), role=role, text=text, author=author,
                          kind=kind, payload=payload or {})
            s.add(msg)
            s.execute(update(Conversation).where(Conversation.id == conversation_id)
                      .values(updated_at=time.time()))
            s.flush()
            return msg

    def set_handoff(self, tenant_id: str, session_id: str, reason: str) -> Conversation:
        with self.db.session() as s:
            conv, _ = self.get_or_create(s, tenant_id, session_id)
            if conv.status != "handoff":
                conv.status = "handoff"
                conv.handoff_reason = reason
                conv.handoff_at = time.time()
            return conv

    def record_feedback(self, tenant_id: str, turn_id: str, rating: int, comment: str) -> Feedback | None:
        with self.db.session() as s:
            row = s.get(TurnLog, turn_id)
            if row is None or row.tenant_id != tenant_id:
                return None
            fb = Feedback(tenant_id=tenant_id, turn_id=turn_id, rating=rating, comment=comment)
            s.add(fb)
            s.flush()
            return fb
