"""Reads a tenant's chitchat content (patterns, pairs, persona) from SQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from chatbot.corpus import Pair
from chatbot.patterns import PatternSpec
from csbot.storage.chat import ChatPair, ChatPattern, ChatPersona
from csbot.storage.db import Database
from csbot.storage.models import Tenant


@dataclass(frozen=True)
class TenantChatData:
    patterns: list[PatternSpec]
    pairs: list[Pair]
    bot_name: str
    system_prompt: str
    adapter_path: str
    #: the tenant's shop name (Tenant.settings["shop_name"], else its display name) for `{shop_name}`
    shop_name: str = ""


def read_tenant(db: Database, tenant_id: str) -> TenantChatData:
    with db.session() as s:
        patterns = [
            PatternSpec(name=r.name, lang=r.lang, patterns=list(r.patterns or []), keywords=list(r.keywords or []),
                        replies=list(r.replies or []), enabled=r.enabled)
            for r in s.scalars(select(ChatPattern).where(ChatPattern.tenant_id == tenant_id))
        ]
        pairs = [
            Pair(r.message, r.reply, r.lang, "tenant")
            for r in s.scalars(select(ChatPair).where(ChatPair.tenant_id == tenant_id).order_by(ChatPair.id))
        ]
        persona = s.get(ChatPersona, tenant_id)
        tenant = s.get(Tenant, tenant_id)
        shop_name = str((tenant.settings or {}).get("shop_name") or tenant.name) if tenant else ""
        return TenantChatData(
            patterns=patterns,
            pairs=pairs,
            bot_name=persona.bot_name if persona else "",
            system_prompt=persona.system_prompt if persona else "",
            adapter_path=persona.adapter_path if persona else "",
            shop_name=shop_name,
        )
