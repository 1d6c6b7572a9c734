"""The chat prompt of a user message exactly as the ChatBot builds it, so that a LoRA trained on it
sees at training time what it will see when serving (same persona, same guard rules, same template)."""

from __future__ import annotations

import logging
import re

from csbot.storage.db import Database

log = logging.getLogger(__name__)

_CJK = re.compile(r"[\u4e00-\u9fff]")


def guess_lang(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def chat_prompt(db: Database, tenant_id: str, lang: str, query: str) -> list[dict[str, str]]:
    """System + user messages for `query` in the tenant's persona (the ChatBot's own prompt builder)."""
    try:
        from chatbot.prompts import Persona, chat_messages
        from chatbot.tenant_store import read_tenant
    except ImportError:  # chat bot not installed: a bare user message
        return [{"role": "user", "content": query}]
    try:
        data = read_tenant(db, tenant_id)
        bot_name, system_prompt = data.bot_name, data.system_prompt
    except Exception as exc:  # noqa: BLE001 - no chat tables yet: the default persona
        log.debug("tenant chat data unavailable (%s): default persona", exc)
        bot_name, system_prompt = "", ""
    # the same choice as ChatBot._tenant: the tenant's system prompt wins over the default persona
    persona = Persona.default(lang, bot_name)
    if system_prompt:
        persona = Persona(persona.bot_name, system_prompt)
    return [m.as_dict() for m in chat_messages(persona, lang, query)]
