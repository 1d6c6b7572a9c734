"""Tables of the channels: console users, contacts, webhook endpoints and the webhook outbox."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from csbot.storage.models import Base
from csbot.types import new_id


def _now() -> float:
    return time.time()


class ConsoleUser(Base):
    """A person who signs in to the console or the operator API (admin, operator or annotator)."""

    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("tenant_id", "username", name="uq_console_user_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    #: "scrypt$n$r$p$<salt hex>$<hash hex>"
    password_hash: Mapped[str] = mapped_column(String(300))
    #: admin | operator | annotator
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[float] = mapped_column(Float, default=_now)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class Contact(Base):
    """Attributes an integrator keeps about one end user of a tenant (CRM id, VIP level...)."""

    __tablename__ = "contacts"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Float, default=_now)
    updated_at: Mapped[float] = mapped_column(Float, default=_now)


class Webhook(Base):
    """A tenant's webhook endpoint and the events it wants."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    #: event types, or ["*"] for all
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(200), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Float, default=_now)


class WebhookDelivery(Base):
    """One event for one endpoint: the persistent outbox row, retried until delivered or given up.

    `id` is an increasing integer, so per endpoint it is also the delivery order (`sequence`).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(32), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    #: the exact JSON body sent on every attempt
    body: Mapped[str] = mapped_column(Text)
    #: pending | delivered | failed (given up after the last attempt)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, default=_now)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[float] = mapped_column(Float, default=_now)
    delivered_at: Mapped[float | None] = mapped_column(Float, nullable=True)
