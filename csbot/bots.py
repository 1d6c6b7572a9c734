"""The one contract between csbot and the bots, and the registry that finds them.

csbot never imports a bot's internals: bots are named in the `csbot.bots` entry-point group of
the distribution (see pyproject.toml) and created once per process by `BotRegistry.from_entry_points`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from csbot.types import BotScore, Passage, Reply, Turn

if TYPE_CHECKING:
    from csbot.context import AppContext
    from csbot.sessions import DialogueState

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "csbot.bots"


@runtime_checkable
class Bot(Protocol):
    """A bot answers turns it is good at and says how good it is at each.

    `score` is cheap enough to run for every bot on every turn that has no active task; the router
    compares the scores. `reply` gets back the `BotScore.hint` of its own `score` call so that work
    (retrieval, classification) is not done twice.
    """

    name: str

    async def load(self, ctx: AppContext) -> None:
        """Load models and indexes; called once at start-up, before the first turn."""
        ...

    async def score(self, turn: Turn, state: DialogueState) -> BotScore: ...

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply: ...

    def ready(self) -> dict[str, str]:
        """Readiness detail for `/readyz`: component -> status ('ok' or what is missing)."""
        ...


@runtime_checkable
class StreamingBot(Bot, Protocol):
    """A bot that can produce its text incrementally (chat generation)."""

    def stream(self, turn: Turn, state: DialogueState, hint: object | None = None) -> AsyncIterator[str | Reply]:
        """Yield text deltas, then exactly one final `Reply` whose text is the whole answer."""
        ...


class RegistryError(RuntimeError):
    pass


@dataclass
class BotRegistry:
    """Bots by name, filled explicitly; a duplicate name or a non-Bot is a start-up error."""

    bots: dict[str, Bot]

    @classmethod
    def from_entry_points(cls, enabled: list[str] | None = None) -> BotRegistry:
        registry = cls(bots={})
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if enabled is not None and ep.name not in enabled:
                continue
            factory = ep.load()
            registry.register(ep.name, factory())
        if enabled is not None:
            missing = set(enabled) - set(registry.bots)
            if missing:
                raise RegistryError(f"bots enabled in config but not installed: {sorted(missing)}")
        return registry

    def register(self, key: str, bot: object) -> None:
        if key in self.bots:
            raise RegistryError(f"duplicate bot key {key!r}")
        if not isinstance(bot, Bot):
            raise RegistryError(f"{type(bot).__name__} registered as {key!r} does not implement Bot")
        if bot.name != key:
            raise RegistryError(f"bot registered as {key!r} calls itself {bot.name!r}")
        self.bots[key] = bot

    def get(self, key: str) -> Bot:
        return self.bots[key]

    def __contains__(self, key: str) -> bool:
        return key in self.bots


class KnowledgeSearch(Protocol):
    """Search over a tenant's published knowledge, offered by the KB bot to the others.

    Registered under `ctx.extras[KNOWLEDGE_SEARCH]` by the bot that provides it, so that the chat
    bot can ground its answers without importing the KB bot.
    """

    async def __call__(self, tenant_id: str, query: str, k: int = 5) -> list[Passage]: ...


KNOWLEDGE_SEARCH = "knowledge.search"
