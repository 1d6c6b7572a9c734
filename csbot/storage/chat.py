"""Tenant-editable chitchat content: reply patterns, (message, reply) pairs and the persona.

Shipped defaults (chatbot/data, the demo data and the chatterbot corpus) apply to every tenant;
these rows add to them or override them by name, and are edited from the console.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from csbot.storage.models import Base


def _now() -> float:
    return time.time()


class ChatPattern(Base):
    """Regex or keyword patterns with reply variants; a row named like a shipped pattern replaces it."""

    __tablename__ = "chat_patterns"
    __table_args__ = (UniqueConstraint("tenant_id", "name", "lang", name="uq_chat_pattern_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    patterns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    replies: Mapped[list[Any]] = mapped_column(JSON, default=list)
    #: False disables the shipped pattern of the same name for this tenant
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[float] = mapped_column(Float, default=_now)


class ChatPair(Base):
    """One (message, reply) example for retrieval chitchat."""

    __tablename__ = "chat_pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    message: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(8), default="zh")
    created_at: Mapped[float] = mapped_column(Float, default=_now)


class ChatPersona(Base):
    """The tenant's bot persona: name and system prompt for generated replies."""

    __tablename__ = "chat_personas"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bot_name: Mapped[str] = mapped_column(String(100), default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    #: directory of a LoRA adapter used when the model registry serves no "chat-lora" version
    adapter_path: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[float] = mapped_column(Float, default=_now)
