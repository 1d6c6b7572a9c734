"""Request and response models of the public API (`/v1`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from csbot.types import ReplyKind, Source, Suggestion

SESSION_ID = r"^[A-Za-z0-9_.:@-]{1,128}$"
LOCALE = r"^(zh|en)([-_][A-Za-z]{2,4})?$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(pattern=SESSION_ID, description="The caller's id for this conversation")
    text: str = Field(min_length=1, description="The customer's message")
    user_id: str | None = Field(default=None, max_length=128)
    locale: str | None = Field(default=None, pattern=LOCALE)
    channel: str = Field(default="api", pattern=r"^[a-z0-9_-]{1,32}$")
    message_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="The caller's id for this message: a retry with the same id within a day gets the "
                    "first reply back instead of a second turn (409 while the first is still running)")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("text is empty or only whitespace")
        return v


class ChatResponse(BaseModel):
    text: str
    kind: ReplyKind
    suggestions: list[Suggestion]
    source: Source
    confidence: float
    trace_id: str
    turn_id: str
    conversation_id: str
    session_id: str
    #: True while an operator owns the conversation: the bot said nothing
    silent: bool = False


class MessagePublic(BaseModel):
    id: str
    seq: int
    role: str
    text: str
    kind: str | None
    turn_id: str | None
    author: str | None
    created_at: float


class ConversationPublic(BaseModel):
    id: str
    session_id: str
    user_id: str | None
    channel: str
    status: str
    operator: str | None
    created_at: float
    updated_at: float
    tags: list[str]
    messages: list[MessagePublic]


class FeedbackCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    turn_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str = Field(default="", max_length=2000)


class FeedbackPublic(BaseModel):
    id: str
    turn_id: str
    rating: Literal["up", "down"]
    comment: str


class HandoffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="asked by API", max_length=200)


class HandoffPublic(BaseModel):
    conversation_id: str
    status: str
    reason: str | None


class ErrorBody(BaseModel):
    error: str
    detail: str | list[dict[str, object]] | None = None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = Field(default_factory=dict)
