"""Plugin bots for testing the spine's mechanics in isolation from the real bots.

They implement the public `Bot` protocol exactly as a third-party bot would; the real bots have
their own suites (tests/kbbot, tests/taskbot, tests/chatbot) and the end-to-end tests use them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from csbot.bots import BotRegistry
from csbot.sessions import DialogueState
from csbot.types import BotScore, Reply, ReplyKind, Source, Turn


class KeywordBot:
    """Answers when its keyword is in the query, with a fixed score; records what it was given."""

    def __init__(self, name: str, keyword: str, score: float, *, cacheable: bool = False, owns: bool = False,
                 answer: str | None = None) -> None:
        self.name = name
        self.keyword = keyword
        self._score = score
        self.cacheable = cacheable
        self.owns = owns
        self.answer = answer
        self.calls: list[str] = []

    async def load(self, ctx: object) -> None:
        return None

    async def score(self, turn: Turn, state: DialogueState) -> BotScore:
        hit = self.keyword in turn.query
        return BotScore(bot=self.name, score=self._score if hit else 0.05, reason="keyword" if hit else "miss",
                        hint={"kw": hit})

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        self.calls.append(turn.query)
        if self.owns:
            state.active_bot = self.name if "done" not in turn.query else None
        text = self.answer or f"{self.name} answers: {turn.query}"
        return Reply(text=text, kind=ReplyKind.answer, source=Source(bot=self.name), confidence=self._score,
                     cacheable=self.cacheable)

    def ready(self) -> dict[str, str]:
        return {"model": "ok"}


class RaisingBot(KeywordBot):
    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        raise RuntimeError("bot exploded")


class StreamBot(KeywordBot):
    """Streams its answer in small deltas, like a generator would."""

    def __init__(self, name: str, keyword: str, score: float, chunks: list[str]) -> None:
        super().__init__(name, keyword, score)
        self.chunks = chunks

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        return Reply(text="".join(self.chunks), kind=ReplyKind.chitchat, source=Source(bot=self.name))

    async def stream(self, turn: Turn, state: DialogueState, hint: object | None = None) -> AsyncIterator[str | Reply]:
        for c in self.chunks:
            yield c
        yield await self.reply(turn, state, hint)


def registry(*bots: KeywordBot) -> BotRegistry:
    reg = BotRegistry(bots={})
    for b in bots:
        reg.register(b.name, b)
    return reg
