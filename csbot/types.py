"""Typed messages that cross stage and package boundaries.

Every bot, funnel stage and the router speak these types and nothing looser: a `Turn` goes in,
a `Reply` comes out, and what happened in between is a list of `TraceEvent`s.
"""

from __future__ import annotations

import time
import uuid
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

JsonScalar = str | int | float | bool | None


def new_id() -> str:
    """A short random id for turns, traces and messages."""
    return uuid.uuid4().hex


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Turn(Frozen):
    """One customer message after it was accepted by a channel."""

    tenant_id: str
    session_id: str
    text: str
    user_id: str | None = None
    channel: str = "api"
    locale: str | None = None
    turn_id: str = Field(default_factory=new_id)
    #: text after normalisation (set by the pipeline); bots read this one
    normalised: str = ""
    #: contact attributes set by integrators (CRM id, VIP level), readable by bots and rules
    attributes: dict[str, JsonScalar] = Field(default_factory=dict)

    @property
    def query(self) -> str:
        return self.normalised or self.text

    @property
    def lang(self) -> str:
        """'zh' or 'en': the locale when given, else guessed from the text."""
        if self.locale:
            return "zh" if self.locale.lower().startswith("zh") else "en"
        return "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in self.text) else "en"


class ReplyKind(StrEnum):
    answer = "answer"
    suggestions = "suggestions"
    task_prompt = "task_prompt"
    chitchat = "chitchat"
    reject = "reject"
    handoff = "handoff"


class Source(Frozen):
    """Where a reply came from: enough for an operator to find and fix it."""

    bot: str
    faq_id: str | None = None
    faq_ids: list[str] = Field(default_factory=list)
    task: str | None = None
    model_version: str | None = None
    kb_version: int | None = None
    cached: bool = False


class Suggestion(Frozen):
    """A clickable follow-up: sending `payload` (default: `text`) as the next message."""

    text: str
    payload: str | None = None
    faq_id: str | None = None


class Reply(Frozen):
    """The one reply type every bot returns."""

    text: str
    kind: ReplyKind
    source: Source
    confidence: float = 0.0
    suggestions: list[Suggestion] = Field(default_factory=list)
    #: whether the funnel's answer cache may store this reply (FAQ answers, never personal data)
    cacheable: bool = False
    #: True when the bot could not help (counts towards handoff after N failures)
    failed: bool = False


class TraceEventBase(Frozen):
    at: float = Field(default_factory=time.time)
    ms: float = 0.0


class NormaliseEvent(TraceEventBase):
    type: Literal["normalise"] = "normalise"
    text: str


class FunnelEvent(TraceEventBase):
    type: Literal["funnel"] = "funnel"
    stage: str
    action: str
    detail: str = ""


class RouterEvent(TraceEventBase):
    type: Literal["router.decision"] = "router.decision"
    bot: str
    reason: str
    scores: dict[str, float] = Field(default_factory=dict)


class BotEvent(TraceEventBase):
    type: Literal["bot"] = "bot"
    bot: str
    step: str
    detail: str = ""
    data: dict[str, JsonValue] = Field(default_factory=dict)


class OutputFilterEvent(TraceEventBase):
    type: Literal["output_filter"] = "output_filter"
    action: str
    detail: str = ""


class ErrorEvent(TraceEventBase):
    type: Literal["error"] = "error"
    stage: str
    error: str


TraceEvent = Annotated[
    NormaliseEvent | FunnelEvent | RouterEvent | BotEvent | OutputFilterEvent | ErrorEvent,
    Field(discriminator="type"),
]


class BotScore(Frozen):
    """How sure a bot is that it should answer; `hint` is opaque to csbot and handed back to `reply`."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    bot: str
    score: float
    reason: str = ""
    hint: object | None = None


class RouteDecision(Frozen):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    bot: str
    reason: str
    scores: dict[str, float] = Field(default_factory=dict)
    hint: object | None = None


class VerdictAction(StrEnum):
    passed = "pass"
    mask = "mask"
    block = "block"
    escalate = "escalate"
    reject = "reject"
    hit = "hit"


class Verdict(Frozen):
    """What a funnel stage decided about a turn."""

    stage: str
    action: VerdictAction
    detail: str = ""
    #: text after this stage (masked words replaced); None means unchanged
    text: str | None = None
    #: a reply that ends the pipeline (block, reject, cache hit)
    reply: Reply | None = None


class Passage(Frozen):
    """A knowledge item that a bot (e.g. grounded generation) may cite."""

    faq_id: str
    question: str
    answer: str
    score: float
    kb_version: int | None = None
