"""normalise -> safety funnel -> router -> bot -> output filter -> log, for one turn.

One code path serves both the JSON and the streaming API: `run` yields text deltas and then one
`TurnResult`; `handle` simply keeps the result.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from csbot.bots import BotRegistry, StreamingBot
from csbot.context import AppContext
from csbot.conversations import AcceptedTurn, ConversationLog
from csbot.lexicon import LexiconCache
from csbot.metrics import METRICS
from csbot.pipeline.funnel import (
    AnswerCache,
    CacheStage,
    FunnelStage,
    InjectionStage,
    RejectStage,
    SensitiveWordStage,
)
from csbot.pipeline.handoff import HandoffStage
from csbot.pipeline.normalise import normalise
from csbot.pipeline.output_filter import StreamFilter, filter_text
from csbot.pipeline.pii import mask_pii
from csbot.pipeline.router import NO_ROUTE, Router
from csbot.pipeline.sensitive import SensitiveMatcher
from csbot.pipeline.texts import text as canned
from csbot.sessions import DialogueState
from csbot.storage.models import Tenant
from csbot.trace import TraceRecorder, recording
from csbot.types import (
    BotEvent,
    ErrorEvent,
    FunnelEvent,
    NormaliseEvent,
    OutputFilterEvent,
    Reply,
    ReplyKind,
    RouteDecision,
    RouterEvent,
    Source,
    Turn,
    VerdictAction,
)

log = logging.getLogger(__name__)

#: characters per synthetic delta when a non-streaming bot's reply is streamed
STREAM_CHUNK = 8


@dataclass(frozen=True)
class TurnResult:
    reply: Reply
    turn_id: str
    trace_id: str
    conversation_id: str
    route: str
    #: True while a person owns the conversation: the bot said nothing
    silent: bool = False


@dataclass(frozen=True)
class Delta:
    text: str


class Pipeline:
    def __init__(self, ctx: AppContext, registry: BotRegistry) -> None:
        self.ctx = ctx
        self.registry = registry
        p = ctx.settings.pipeline
        prefix = ctx.settings.redis_prefix
        self.log = ConversationLog(ctx.db)
        self.matchers: LexiconCache[SensitiveMatcher] = LexiconCache(ctx.db, ctx.redis, prefix, "sensitive",
                                                                     SensitiveMatcher)
        self.cache = AnswerCache(ctx.redis, prefix, p.cache_ttl_s)
        self.stages: list[FunnelStage] = [
            SensitiveWordStage(self.matchers),
            InjectionStage(),
            HandoffStage(p.handoff_after_failures),
            CacheStage(self.cache),
            RejectStage(self._out_of_scope_topics),
        ]
        self.router = Router(registry, p.bots, p.min_route_score)
        self._topics: dict[str, tuple[float, list[tuple[str, re.Pattern[str]]]]] = {}

    async def _out_of_scope_topics(self, tenant_id: str) -> list[tuple[str, re.Pattern[str]]]:
        cached = self._topics.get(tenant_id)
        if cached and time.monotonic() - cached[0] < 30:
            return cached[1]

        def read() -> list[tuple[str, re.Pattern[str]]]:
            with self.ctx.db.session() as s:
                tenant = s.get(Tenant, tenant_id)
                topics = (tenant.settings or {}).get("out_of_scope", {}) if tenant else {}
            return [(name, re.compile(rx)) for name, rx in topics.items()]

        topics = await asyncio.to_thread(read)
        self._topics[tenant_id] = (time.monotonic(), topics)
        return topics

    async def handle(self, turn: Turn) -> TurnResult:
        result: TurnResult | None = None
        async for event in self.run(turn, stream=False):
            if isinstance(event, TurnResult):
                result = event
        assert result is not None
        return result

    async def accept(self, turn: Turn) -> AcceptedTurn:
        """Store the user's message (PII masked) and a pending turn row.

        Streaming endpoints call this before they answer 2xx, so an acknowledged message is
        already in SQL if the process dies mid-stream; a database outage fails the request here.
        """
        masked, _ = mask_pii(turn.text)
        return await asyncio.to_thread(self.log.accept, turn, masked)

    async def run(self, turn: Turn, *, stream: bool = True,
                  accepted: AcceptedTurn | None = None) -> AsyncIterator[Delta | TurnResult]:
        started = time.perf_counter()
        rec = TraceRecorder()
        with recording(rec):
            with rec.step("log.accept"):
                if accepted is None:
                    accepted = await self.accept(turn)
            decision: RouteDecision | None = None
            reply: Reply | None = None
            error: str | None = None
            silent = False
            state: DialogueState | None = None
            try:
                with rec.step("normalise"):
                    turn = turn.model_copy(update={"normalised": normalise(turn.text)})
                rec.add(NormaliseEvent(text=turn.normalised, ms=rec.steps_ms["normalise"]))
                with rec.step("state.load"):
                    state = await self.ctx.states.load(turn.tenant_id, turn.session_id)
                state.turns += 1
                turn, reply, decision, silent = await self._decide(turn, state, rec)
                if reply is None and decision is not None:
                    async for item in self._bot_reply(turn, state, decision, rec, stream):
                        if isinstance(item, Delta):
                            yield item
                        else:
                            reply = item
                elif reply is not None and stream and reply.text and not silent:
                    for i in range(0, len(reply.text), STREAM_CHUNK):
                        yield Delta(reply.text[i : i + STREAM_CHUNK])
            except (asyncio.CancelledError, GeneratorExit):
                # The client went away mid-turn: the user's message is already stored; close the
                # turn row honestly so it is not left pending, then let the cancellation proceed.
                await asyncio.shield(asyncio.to_thread(
                    self.log.complete, accepted, turn, normalised=turn.normalised, reply=None,
                    route=decision.bot if decision else "", scores=decision.scores if decision else {},
                    steps_ms=dict(rec.steps_ms), trace=rec.as_json(),
                    latency_ms=round((time.perf_counter() - started) * 1000, 3), error="client disconnected"))
                raise
            except Exception as exc:
                log.exception("turn %s failed", turn.turn_id)
                error = f"{type(exc).__name__}: {exc}"
                rec.add(ErrorEvent(stage="pipeline", error=error))
                METRICS.errors.labels(stage="pipeline").inc()
                reply = Reply(text=canned("error", turn.lang), kind=ReplyKind.reject, source=Source(bot="error"),
                              failed=True)
                if stream:
                    yield Delta(reply.text)
            assert reply is not None
            route = decision.bot if decision else reply.source.bot
            if state is not None:
                await self._after(turn, state, reply, rec, error is not None)
            latency = (time.perf_counter() - started) * 1000
            with rec.step("log.complete"):
                await asyncio.shield(asyncio.to_thread(
                    self.log.complete, accepted, turn, normalised=turn.normalised, reply=reply, route=route,
                    scores=decision.scores if decision else {}, steps_ms=dict(rec.steps_ms),
                    trace=rec.as_json(), latency_ms=round(latency, 3), error=error, silent=silent, state=state,
                ))
            if state is not None:
                # the SQL copy went in with the log completion above; Redis (the fast path) after it
                await self.ctx.states.put_redis(state)
            METRICS.observe_turn(route, latency / 1000, cached=reply.source.cached)
            await self._publish(turn, accepted, reply, silent)
            yield TurnResult(reply=reply, turn_id=turn.turn_id, trace_id=rec.trace_id,
                             conversation_id=accepted.conversation_id, route=route, silent=silent)

    async def _decide(self, turn: Turn, state: DialogueState,
                      rec: TraceRecorder) -> tuple[Turn, Reply | None, RouteDecision | None, bool]:
        """Everything before the bot: handoff, funnel, router.

        Returns the turn as the funnel left it (masked words), an early reply or a route, and
        whether the bot stays silent.
        """
        if state.handoff:
            rec.add(FunnelEvent(stage="handoff", action="silent", detail="conversation owned by an operator"))
            return turn, Reply(text="", kind=ReplyKind.handoff, source=Source(bot="operator")), None, True
        for stage in self.stages:
            with rec.step(f"funnel.{stage.name}"):
                verdict = await stage.check(turn, state)
            rec.add(FunnelEvent(stage=stage.name, action=verdict.action.value, detail=verdict.detail,
                                ms=rec.steps_ms[f"funnel.{stage.name}"]))
            if verdict.text is not None:
                turn = turn.model_copy(update={"normalised": verdict.text})
            if verdict.reply is not None:
                if verdict.action is VerdictAction.escalate:
                    await self._start_handoff(turn, state, f"{stage.name}: {verdict.detail}")
                    return turn, verdict.reply, RouteDecision(bot="handoff", reason=verdict.detail), False
                return turn, verdict.reply, None, False
        with rec.step("router"):
            decision = await self.router.route(turn, state)
        rec.add(RouterEvent(bot=decision.bot, reason=decision.reason, scores=decision.scores,
                            ms=rec.steps_ms["router"]))
        if decision.bot == NO_ROUTE:
            return (turn, Reply(text=canned("no_route", turn.lang), kind=ReplyKind.reject, source=Source(bot="router"),
                          failed=True), decision, False)
        return turn, None, decision, False

    async def _bot_reply(self, turn: Turn, state: DialogueState, decision: RouteDecision, rec: TraceRecorder,
                         stream: bool) -> AsyncIterator[Delta | Reply]:
        bot = self.registry.get(decision.bot)
        matcher = await self.matchers.get(turn.tenant_id)
        with rec.step(f"bot.{bot.name}"):
            if stream and isinstance(bot, StreamingBot):
                sf = StreamFilter(matcher, turn.lang)
                final: Reply | None = None
                async for item in bot.stream(turn, state, decision.hint):
                    if isinstance(item, Reply):
                        final = item
                        break
                    safe = sf.feed(item)
                    if safe:
                        yield Delta(safe)
                if final is None:
                    raise RuntimeError(f"bot {bot.name} ended its stream without a Reply")
                tail = sf.tail()
                if tail:
                    yield Delta(tail)
                result = sf.finish()
                reply = final.model_copy(update={"text": result.text})
                rec.add(OutputFilterEvent(action=result.action, detail=result.detail))
                yield reply
                return
            reply = await bot.reply(turn, state, decision.hint)
        rec.add(BotEvent(bot=bot.name, step="reply", detail=reply.kind.value, ms=rec.steps_ms[f"bot.{bot.name}"]))
        with rec.step("output_filter"):
            result = filter_text(reply.text, matcher, turn.lang)
        rec.add(OutputFilterEvent(action=result.action, detail=result.detail))
        if result.action != "pass":
            reply = reply.model_copy(update={"text": result.text, "cacheable": False})
        if reply.kind is ReplyKind.handoff:
            await self._start_handoff(turn, state, f"requested by {bot.name}")
        if stream:
            for i in range(0, len(reply.text), STREAM_CHUNK):
                yield Delta(reply.text[i : i + STREAM_CHUNK])
        yield reply

    async def _start_handoff(self, turn: Turn, state: DialogueState, reason: str) -> None:
        state.handoff = True
        state.active_bot = None
        conv = await asyncio.to_thread(self.log.set_handoff, turn.tenant_id, turn.session_id, reason)
        await self._notify("handoff.requested", turn.tenant_id,
                           {"conversation_id": conv.id, "session_id": turn.session_id, "reason": reason})

    async def _after(self, turn: Turn, state: DialogueState, reply: Reply, rec: TraceRecorder, errored: bool) -> None:
        """Update failures and store cacheable answers. Never raises: the turn is answered.

        The state itself is saved by the log completion (same SQL transaction) and then to Redis.
        """
        try:
            if reply.kind is not ReplyKind.handoff:
                state.failures = state.failures + 1 if (reply.failed or errored) else 0
            state.updated_at = time.time()
            if not reply.source.cached and reply.cacheable:
                with rec.step("cache.store"):
                    await self.cache.store(turn, reply)
        except Exception as exc:
            log.warning("post-reply bookkeeping failed for turn %s: %s", turn.turn_id, exc)
            rec.add(ErrorEvent(stage="after", error=f"{type(exc).__name__}: {exc}"))

    async def _publish(self, turn: Turn, accepted: AcceptedTurn, reply: Reply, silent: bool) -> None:
        data = {"conversation_id": accepted.conversation_id, "session_id": turn.session_id,
                "turn_id": turn.turn_id, "kind": reply.kind.value, "silent": silent}
        if accepted.created:
            await self._notify("conversation.created", turn.tenant_id, data)
        await self._notify("message.created", turn.tenant_id, data)

    async def _notify(self, event: str, tenant_id: str, data: Mapping[str, object]) -> None:
        from csbot.events import publish

        try:
            await publish(self.ctx, event, tenant_id, data)
        except Exception as exc:  # a notification must never fail a customer's turn
            log.warning("event %s not published: %s", event, exc)
