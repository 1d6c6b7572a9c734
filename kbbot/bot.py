"""KB-Bot: answers FAQ questions (and product-graph questions) of a tenant's published KB.

Per tenant, the live version's matcher (BM25 in memory, vectors in Milvus) is built lazily on the
tenant's first turn and rebuilt when a `kb-changed` event arrives or the version number in Redis
moved (so a missed event costs one GET, not a stale answer). `score` does all the work and hands
the result to `reply` through the hint.
"""

from __future__ import annotations

import asyncio
import json
import logging
import string
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from csbot.bots import KNOWLEDGE_SEARCH
from csbot.config import mask_url
from csbot.trace import current as current_trace
from csbot.types import BotEvent, BotScore, Passage, Reply, ReplyKind, Source, Suggestion, Turn
from kbbot.confidence import Calibration, default_calibration, to_router_score
from kbbot.constants import EVENT_KB_CHANGED, KEY_KB, KEY_VERSION, MAX_SUGGESTIONS, SUGGEST_LEAD
from kbbot.dense_index import vector_store_status
from kbbot.graph import GraphAnswer
from kbbot.matcher import Candidate, FaqMatcher, MatchResult
from kbbot.tenant_kb import TenantKB, build_tenant_kb

if TYPE_CHECKING:
    from csbot.context import AppContext
    from csbot.sessions import DialogueState

log = logging.getLogger(__name__)

GRAPH_SCORE = 0.85


@dataclass
class KBHint:
    version: int
    result: MatchResult | None
    graph: GraphAnswer | None
    score: float
    kind: str  # answer | suggestions | graph | none


class _Vars(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill_variables(text: str, values: dict[str, Any]) -> str:
    """Fill `{name}` variables from tenant settings; unknown ones stay as written."""
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(text) if f}
    except ValueError:
        return text
    if not names:
        return text
    out = text
    for name in names:
        if name in values:
            out = out.replace("{" + name + "}", str(values[name]))
    return out


class KBBot:
    name = "kb"

    def __init__(self) -> None:
        self.ctx: AppContext | None = None
        self.calibration: Calibration | None = None
        self._tenants: dict[str, TenantKB | None] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._listener: asyncio.Task[None] | None = None
        self._reranker_state = "not loaded yet"

    async def load(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.calibration = default_calibration()
        ctx.extras[KNOWLEDGE_SEARCH] = self.search
        try:
            self._listener = asyncio.get_running_loop().create_task(self._listen())
        except RuntimeError:
            self._listener = None

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass

    # --- per-tenant state ----------------------------------------------------------------------
    async def _listen(self) -> None:
        assert self.ctx is not None
        channel = self.ctx.key("events", EVENT_KB_CHANGED)
        while True:
            pubsub = self.ctx.redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        body = json.loads(message["data"])
                        await self.reload(str(body["tenant_id"]))
                    except Exception:
                        log.exception("bad kb-changed event %r", message.get("data"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis went away: retry, the version check covers the gap
                log.warning("kb-changed listener: %s; retrying", exc)
                await asyncio.sleep(1.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:
                    pass

    async def reload(self, tenant_id: str) -> TenantKB | None:
        """Rebuild the tenant's matcher for its live version, then swap it in."""
        assert self.ctx is not None and self.calibration is not None
        lock = self._locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            kb = await asyncio.to_thread(build_tenant_kb, self.ctx, tenant_id, self.calibration)
            self._tenants[tenant_id] = kb
            if kb is not None:
                self._reranker_state = "ok" if kb.matcher and kb.matcher.reranker else kb.reranker_note
            return kb

    async def tenant(self, tenant_id: str) -> TenantKB | None:
        assert self.ctx is not None
        kb = self._tenants.get(tenant_id)
        try:
            live = await self.ctx.redis.get(self.ctx.key(KEY_KB, KEY_VERSION, tenant_id))
        except Exception:  # Redis down: keep serving what is loaded
            live = None
        if tenant_id in self._tenants and (live is None or (kb is not None and str(kb.version) == str(live))):
            return kb
        return await self.reload(tenant_id)

    # --- the Bot protocol ----------------------------------------------------------------------
    async def score(self, turn: Turn, state: DialogueState) -> BotScore:
        kb = await self.tenant(turn.tenant_id)
        if kb is None:
            return BotScore(bot=self.name, score=0.0, reason="no published knowledge base")
        hint = await asyncio.to_thread(self._match, kb, turn)
        return BotScore(bot=self.name, score=round(hint.score, 4), reason=hint.kind, hint=hint)

    def _match(self, kb: TenantKB, turn: Turn) -> KBHint:
        t0 = time.perf_counter()
        graph = kb.graph.answer(turn.query, turn.lang) if kb.graph is not None else None
        result = kb.match(turn.query, channel=turn.channel) if kb.matcher is not None else None
        cal = kb.calibration.for_mode(result.mode, turn.query) if result is not None else None
        faq_score = to_router_score(result.probability, cal) if result is not None and cal else 0.0
        if not (result and result.candidates):
            faq_score = 0.0
        kind = "none"
        if result is not None and cal is not None and result.candidates:
            kind = ("answer" if result.probability >= cal.high
                    else "suggestions" if result.probability >= cal.low else "none")
        score = faq_score
        if graph is not None and GRAPH_SCORE > faq_score:
            kind, score = "graph", GRAPH_SCORE
        trace = current_trace()
        data: dict[str, Any] = {
            "version": kb.version, "mode": result.mode if result else None,
            "probability": round(result.probability, 4) if result else None,
            "features": {k: round(v, 4) for k, v in (result.features.items() if result else [])},
            "thresholds": {"high": cal.high, "low": cal.low} if cal else {},
            "candidates": [_cand_json(c) for c in (result.candidates[:5] if result else [])],
            "timings_ms": {k: round(v, 2) for k, v in (result.timings_ms.items() if result else [])},
            "embedder": kb.embedder_version, "reranker": kb.reranker_version or kb.reranker_note,
            "note": result.note if result else "",
            "graph": graph.trace if graph else None, "ms": round((time.perf_counter() - t0) * 1000, 2),
        }
        if result is not None and result.degraded:
            trace.add(BotEvent(bot=self.name, step="kb.degraded", detail=result.degraded,
                               data={"fallback": "bm25", "uri": mask_url(self.ctx.milvus_uri) if self.ctx else ""}))
        trace.add(BotEvent(bot=self.name, step="kb.match", detail=f"{kind} score={score:.3f}", data=data))
        return KBHint(version=kb.version, result=result, graph=graph, score=score, kind=kind)

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        if not isinstance(hint, KBHint):
            scored = await self.score(turn, state)
            hint = scored.hint
        kb = self._tenants.get(turn.tenant_id)
        lang = turn.lang
        if not isinstance(hint, KBHint) or kb is None:
            return self._no_answer(lang)
        if hint.kind == "graph" and hint.graph is not None:
            return Reply(text=hint.graph.text, kind=ReplyKind.answer, confidence=hint.score,
                         source=Source(bot=self.name, kb_version=hint.version, model_version="graph"),
                         cacheable=True)
        res = hint.result
        if res is None or not res.candidates or hint.kind == "none":
            return self._no_answer(lang, hint.version)
        top = res.candidates[0]
        if hint.kind == "answer":
            item = kb.items[top.faq_id]
            return Reply(text=fill_variables(item.answer, kb.variables), kind=ReplyKind.answer,
                         confidence=round(hint.score, 4), cacheable=True,
                         source=Source(bot=self.name, faq_id=top.faq_id, kb_version=hint.version,
                                       model_version=kb.model_version))
        picks = res.candidates[:MAX_SUGGESTIONS]
        return Reply(text=SUGGEST_LEAD.get(lang, SUGGEST_LEAD["en"]), kind=ReplyKind.suggestions,
                     confidence=round(hint.score, 4),
                     suggestions=[Suggestion(text=c.question, faq_id=c.faq_id) for c in picks],
                     source=Source(bot=self.name, faq_ids=[c.faq_id for c in picks], kb_version=hint.version,
                                   model_version=kb.model_version))

    def _no_answer(self, lang: str, version: int | None = None) -> Reply:
        text = "抱歉，知识库里没有找到这个问题的答案。" if lang == "zh" else "Sorry, I found no answer to that."
        return Reply(text=text, kind=ReplyKind.reject, source=Source(bot=self.name, kb_version=version),
                     failed=True)

    def ready(self) -> dict[str, str]:
        if self.ctx is None:
            return {"kb": "not loaded"}
        return {"kb": "ok", "kb.reranker": self._reranker_state,
                "vectors": vector_store_status(self.ctx.milvus_uri)}

    # --- knowledge search for other bots -------------------------------------------------------
    async def search(self, tenant_id: str, query: str, k: int = 5) -> list[Passage]:
        kb = await self.tenant(tenant_id)
        if kb is None or kb.matcher is None:
            return []
        res = await asyncio.to_thread(kb.match, query)
        out = []
        for c in res.candidates[:k]:
            item = kb.items[c.faq_id]
            out.append(Passage(faq_id=c.faq_id, question=item.question,
                               answer=fill_variables(item.answer, kb.variables),
                               score=round(float(c.key(res.mode)), 4), kb_version=kb.version))
        return out


def _cand_json(c: Candidate) -> dict[str, Any]:
    return {"faq_id": c.faq_id, "question": c.question, "matched": c.text, "bm25": round(c.bm25, 3),
            "dense": round(c.dense, 4), "fused": round(c.fused, 4),
            "rerank": None if c.rerank is None else round(c.rerank, 3),
            "mixed": None if c.mixed is None else round(c.mixed, 4)}


__all__ = ["KBBot", "KBHint", "FaqMatcher", "fill_variables"]
