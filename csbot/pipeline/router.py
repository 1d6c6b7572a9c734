"""Picks the bot for a turn and says why.

An active task keeps the conversation unless its bot says the message is not for it (an
interruption); otherwise every bot scores the turn concurrently and the best score wins. Scores
share one scale across bots: >= 0.7 confident, 0.4-0.7 can help, < 0.3 not mine.
"""

from __future__ import annotations

import asyncio
import logging

from csbot.bots import BotRegistry
from csbot.sessions import DialogueState
from csbot.types import BotScore, RouteDecision, Turn

log = logging.getLogger(__name__)

ACTIVE_KEEP_SCORE = 0.5
NO_ROUTE = "none"


class Router:
    def __init__(self, registry: BotRegistry, order: list[str], min_score: float) -> None:
        self.registry = registry
        self.order = [b for b in order if b in registry]
        self.min_score = min_score

    async def _score(self, name: str, turn: Turn, state: DialogueState) -> BotScore:
        try:
            return await self.registry.get(name).score(turn, state)
        except Exception as exc:  # one broken bot must not take the others down
            log.exception("bot %s failed to score", name)
            return BotScore(bot=name, score=0.0, reason=f"score failed: {type(exc).__name__}: {exc}")

    async def route(self, turn: Turn, state: DialogueState) -> RouteDecision:
        scores: dict[str, BotScore] = {}
        active = state.active_bot if state.active_bot and state.active_bot in self.registry else None
        if active:
            own = await self._score(active, turn, state)
            scores[active] = own
            if own.score >= ACTIVE_KEEP_SCORE:
                return RouteDecision(bot=active, reason=f"active task ({own.reason})",
                                     scores={active: own.score}, hint=own.hint)
        others = [b for b in self.order if b not in scores]
        for result in await asyncio.gather(*(self._score(b, turn, state) for b in others)):
            scores[result.bot] = result
        flat = {b: round(s.score, 4) for b, s in scores.items()}
        # Highest score wins; ties go to the earlier bot in the configured order.
        best = max(self.order, key=lambda b: (scores[b].score, -self.order.index(b)), default=None)
        if best is None or scores[best].score < self.min_score:
            return RouteDecision(bot=NO_ROUTE, reason=f"no bot reached {self.min_score}", scores=flat)
        reason = f"best score ({scores[best].reason})"
        if active and best != active:
            reason = f"interruption of active {active}: " + reason
        return RouteDecision(bot=best, reason=reason, scores=flat, hint=scores[best].hint)
