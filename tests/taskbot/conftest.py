"""Fixtures for TaskBot tests: the real shop backend process, a context pointed at it, and a
`Conversation` that plays turns the way the spine does (load state, score, reply, save state)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from csbot.demo.pytest_shop import shop, shop_server  # noqa: F401
from csbot.demo.shop_process import ShopProcess
from csbot.trace import TraceRecorder, recording
from csbot.types import BotScore, Reply, Turn
from taskbot.bot import TaskBot

TENANT = "demo"


@dataclass
class Exchange:
    score: BotScore
    reply: Reply | None
    trace: TraceRecorder


@dataclass
class Conversation:
    """Plays a dialogue against a TaskBot through the state store, like the spine's pipeline."""

    ctx: object
    bot: TaskBot
    session_id: str
    tenant_id: str = TENANT
    locale: str | None = None
    history: list[Exchange] = field(default_factory=list)

    async def say(self, text: str, *, force: bool = False) -> Exchange:
        """One user turn; the bot answers if its score would win the route (>= 0.5), or if forced."""
        states = self.ctx.states  # type: ignore[attr-defined]
        state = await states.load(self.tenant_id, self.session_id)
        state.turns += 1
        turn = Turn(tenant_id=self.tenant_id, session_id=self.session_id, text=text, locale=self.locale)
        rec = TraceRecorder()
        with recording(rec):
            score = await self.bot.score(turn, state)
            reply = await self.bot.reply(turn, state, score.hint) if force or score.score >= 0.5 else None
        await states.save(state)
        ex = Exchange(score, reply, rec)
        self.history.append(ex)
        return ex

    async def state(self):  # type: ignore[no-untyped-def]
        return await self.ctx.states.load(self.tenant_id, self.session_id)  # type: ignore[attr-defined]


@pytest.fixture
async def task_ctx(ctx, shop: ShopProcess):  # type: ignore[no-untyped-def]  # noqa: F811
    ctx.settings.shop_url = shop.url
    return ctx


@pytest.fixture
async def bot(task_ctx) -> AsyncIterator[TaskBot]:  # type: ignore[no-untyped-def]
    b = TaskBot()
    await b.load(task_ctx)
    yield b
    await b.close()


@pytest.fixture
def conv(task_ctx, bot: TaskBot, request: pytest.FixtureRequest) -> Conversation:  # type: ignore[no-untyped-def]
    return Conversation(task_ctx, bot, session_id=f"s-{request.node.name}"[:120])
