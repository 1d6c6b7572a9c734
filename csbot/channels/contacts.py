"""Contact attributes set by integrators (CRM id, VIP level...), readable by bots as `Turn.attributes`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from csbot.storage.channels import Contact
from csbot.storage.db import Database
from csbot.storage.models import Conversation
from csbot.types import JsonScalar, Turn

#: attribute names csbot itself writes on conversations
RESERVED = frozenset({"locale"})


def get_contact(db: Database, tenant_id: str, user_id: str) -> dict[str, Any] | None:
    with db.session() as s:
        c = s.get(Contact, (tenant_id, user_id))
        return None if c is None else {"user_id": c.user_id, "attributes": dict(c.attributes or {}),
                                       "created_at": c.created_at, "updated_at": c.updated_at}


def set_attributes(db: Database, tenant_id: str, user_id: str, changes: dict[str, JsonScalar]) -> dict[str, Any]:
    """Merge `changes` (a None value deletes the attribute) into the contact and its open conversations."""
    with db.session() as s:
        c = s.get(Contact, (tenant_id, user_id))
        if c is None:
            c = Contact(tenant_id=tenant_id, user_id=user_id, attributes={})
            s.add(c)
        merged = _merge(dict(c.attributes or {}), changes)
        c.attributes = merged
        c.updated_at = time.time()
        for conv in s.scalars(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                         Conversation.user_id == user_id,
                                                         Conversation.status != "closed")):
            conv.attributes = _merge(dict(conv.attributes or {}), changes)
        s.flush()
        return {"user_id": user_id, "attributes": merged, "created_at": c.created_at, "updated_at": c.updated_at}


def _merge(base: dict[str, Any], changes: dict[str, JsonScalar]) -> dict[str, Any]:
    for k, v in changes.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def turn_attributes(db: Database, tenant_id: str, user_id: str | None, session_id: str) -> dict[str, JsonScalar]:
    """What bots and routing rules see as `Turn.attributes`: the contact's, then the conversation's."""
    out: dict[str, JsonScalar] = {}
    with db.session() as s:
        if user_id:
            c = s.get(Contact, (tenant_id, user_id))
            if c is not None:
                out.update(c.attributes or {})
        conv_attrs = s.scalar(select(Conversation.attributes).where(Conversation.tenant_id == tenant_id,
                                                                    Conversation.session_id == session_id))
        if conv_attrs:
            out.update(conv_attrs)
    return {k: v for k, v in out.items() if isinstance(v, (str, int, float, bool)) or v is None}


async def with_contact_attributes(db: Database, turn: Turn) -> Turn:
    """The turn with its user's contact and conversation attributes (the turn's own ones win)."""
    attrs = await asyncio.to_thread(turn_attributes, db, turn.tenant_id, turn.user_id, turn.session_id)
    if not attrs:
        return turn
    return turn.model_copy(update={"attributes": {**attrs, **turn.attributes}})
