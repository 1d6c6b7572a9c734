"""ChatBot: small talk and grounded answers through a cascade of patterns, retrieval and generation.

    patterns   operator-written replies for greetings, thanks, goodbyes (instant, exact)
    retrieval  the reply of the most similar known message (carries Chinese small talk: the shipped
               135M model speaks little Chinese)
    grounded   when the KB found related FAQ items below its answer threshold, the generator answers
               from them, cites them, and refuses when its answer is not supported by them
    generation free reply in the tenant's persona, checked for prompt leakage and language

Each layer shows in the turn's trace and in `Source.model_version`. A generator that is down, slow
or not loaded never surfaces as an error: the reply is a polite fallback within the time budget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot import guards
from chatbot.corpus import shipped_pairs
from chatbot.generator import Generator, GeneratorUnavailable, bounded
from chatbot.patterns import PatternMatch, PatternSet, compile_specs, merge_specs, shipped_specs
from chatbot.prompts import Persona, chat_messages, fallback_text, grounded_messages, refusal_text
from chatbot.retrieval import Calibration, Candidate, PairIndex, calibration_for, load_calibrations
from chatbot.tenant_store import TenantChatData, read_tenant
from csbot import trace
from csbot.bots import KNOWLEDGE_SEARCH
from csbot.types import BotEvent, BotScore, Passage, Reply, ReplyKind, Source, Suggestion, Turn

if TYPE_CHECKING:
    from csbot.context import AppContext
    from csbot.sessions import DialogueState

log = logging.getLogger(__name__)

CHANGED_EVENT = "chat-changed"
PATTERN_MIN_COVERAGE = 0.6
SUPPORT_MIN = {"zh": 0.6, "en": 0.5}
#: held back from a stream until the language and leakage checks have seen enough text
STREAM_HOLD_CHARS = 24

#: the shipped corpus index, shared by every ChatBot of the process, per encoder version
_SHIPPED_INDEXES: dict[str, PairIndex] = {}


@dataclass(frozen=True)
class ChatHint:
    """What `score` found, handed back to `reply` so nothing is computed twice."""

    layer: str  # "pattern" | "retrieval" | "grounded" | "generation" | "none"
    pattern: PatternMatch | None = None
    candidate: Candidate | None = None
    passages: tuple[Passage, ...] = ()


@dataclass
class _Tenant:
    patterns: PatternSet
    index: PairIndex | None
    persona: dict[str, Persona]
    adapter_path: str
    shop_name: str = ""
    loaded_at: float = field(default_factory=time.time)


class ChatBot:
    name = "chat"

    def __init__(self) -> None:
        self.ctx: AppContext | None = None
        self._tenants: dict[str, _Tenant] = {}
        self._tenant_locks: dict[str, asyncio.Lock] = {}
        self._shipped_index: PairIndex | None = None
        self._shipped_lock = asyncio.Lock()
        self._calibrations: dict[str, Calibration] = {}
        self._remote: Generator | None = None
        self._gen_task: asyncio.Task[Generator | None] | None = None
        self._gen_error = ""
        self._listener: asyncio.Task[None] | None = None
        self._warm: asyncio.Task[None] | None = None
        #: tenant -> (adapter name, path) resolved for it; cleared by a promotion
        self._adapters: dict[str, tuple[str, str] | None] = {}
        self._embedder_error = ""

    # -- lifecycle -------------------------------------------------------------------------------

    async def load(self, ctx: AppContext) -> None:
        """Fast: reads calibrations, starts loading the generator in the background, subscribes to events."""
        self.ctx = ctx
        self._calibrations = load_calibrations()
        llm = ctx.settings.llm
        if llm.url:
            from chatbot.openai_generator import OpenAIGenerator

            remote = OpenAIGenerator(llm.url, model=llm.model, api_key=llm.api_key.get_secret_value())
            self._remote = remote
            self._gen_task = asyncio.create_task(self._load_remote(remote))
        self._listener = asyncio.create_task(self._listen())
        self._warm = asyncio.create_task(self.warm_up())
        if not llm.url and llm.load_local:
            self._gen_task = asyncio.create_task(self._load_local_after_warm_up())

    async def _load_local_after_warm_up(self) -> Generator:
        # one model load at a time: concurrent from_pretrained calls corrupt each other (LOAD_LOCK)
        if self._warm is not None:
            await asyncio.wait({self._warm})
        return await asyncio.to_thread(self._local_generator)

    async def warm_up(self) -> None:
        """Load the embedder and index the shipped corpus now rather than on the first turn."""
        try:
            await self._shipped()
        except Exception:  # noqa: BLE001 - retried on the first turn; ready() reports the cause
            log.exception("chitchat corpus warm-up failed")

    async def _load_remote(self, remote: Any) -> Generator:
        await remote.load()
        return remote  # type: ignore[no-any-return]

    def _local_generator(self) -> Generator:
        """The in-process generator, loaded once per process through the ModelHub (role "chat")."""
        assert self.ctx is not None
        from chatbot.model_paths import resolve_chat_model
        from chatbot.transformers_generator import TransformersGenerator

        settings = self.ctx.settings
        default = resolve_chat_model(settings)

        def loader(path: Path) -> TransformersGenerator:
            from chatbot.model_paths import ModelLocation, _from_dir

            loc = default if path == default.directory else (_from_dir(path) or ModelLocation(path, None, path.name))
            gen = TransformersGenerator(loc, max_batch=settings.llm.max_batch, threads=settings.llm.torch_threads)
            gen.load_blocking()
            return gen

        try:
            # TransformersGenerator holds LOAD_LOCK while its model thread loads the weights
            return self.ctx.models.get("chat", loader, default=default.directory)  # type: ignore[no-any-return]
        except Exception as exc:
            self._gen_error = f"{type(exc).__name__}: {exc}"
            log.exception("chat model failed to load: generation disabled")
            raise

    async def wait_generator(self, timeout: float | None = None) -> Generator | None:
        """The generator once loaded (None when generation is off or failed); for tests and warm-up."""
        if self._gen_task is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(self._gen_task), timeout)
        except Exception:  # noqa: BLE001 - failure is reported by ready()
            return None

    def _generator(self) -> Generator | None:
        task = self._gen_task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return None
        if self._remote is None and self.ctx is not None:
            # re-ask the hub each time: a promoted "chat" version replaces the instance
            slot = self.ctx.models.current("chat")
            if slot is not None:
                return self.ctx.models.get("chat", lambda p: None)  # type: ignore[no-any-return,arg-type,return-value]
        return task.result()

    def ready(self) -> dict[str, str]:
        status: dict[str, str] = {}
        llm = self.ctx.settings.llm if self.ctx else None
        if llm is None:
            return {"chat": "not loaded"}
        if not llm.url and not llm.load_local:
            status["chat.generation"] = "off (llm.load_local=false): cascade ends at retrieval, then a polite fallback"
        elif self._gen_task is None or not self._gen_task.done():
            status["chat.generation"] = "loading"
        elif self._generator() is None:
            cause = self._gen_error or ("cancelled" if self._gen_task.cancelled() else repr(self._gen_task.exception()))
            status["chat.generation"] = f"unavailable: {cause}"
        else:
            status["chat.generation"] = "ok"
        status["chat.retrieval"] = "ok" if not self._embedder_error else f"unavailable: {self._embedder_error}"
        status["chat.patterns"] = "ok"
        return status

    async def close(self) -> None:
        for task in (self._listener, self._gen_task, self._warm):
            if task is not None and not task.done():
                task.cancel()
        if self._remote is not None:
            await self._remote.close()

    # -- per-tenant data ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Drop a tenant's cached content on `chat-changed`, its adapter on a chat-lora promotion."""
        assert self.ctx is not None
        changed, promoted = self.ctx.key("events", CHANGED_EVENT), self.ctx.key("events", "model-promoted")
        while True:
            pubsub = self.ctx.redis.pubsub()
            try:
                await pubsub.subscribe(changed, promoted)
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        body = json.loads(message["data"])
                    except (TypeError, ValueError):
                        continue
                    tenant = body.get("tenant_id")
                    if message["channel"] == changed:
                        self._tenants.pop(tenant, None) if tenant else self._tenants.clear()
                    elif body.get("role") in ("chat-lora", "chat"):
                        # the adapter is re-resolved (and loaded) on the tenant's next turn
                        self._adapters.clear() if tenant in (None, "_global") else self._adapters.pop(tenant, None)
                        if body.get("role") == "chat" and self._remote is None:
                            await asyncio.to_thread(self.ctx.models.reload, "chat", None)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: retry, the cached content stays valid meanwhile
                log.warning("chat event listener: %s; retrying", exc)
                await asyncio.sleep(2.0)
            finally:
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001
                    pass

    async def _tenant(self, tenant_id: str) -> _Tenant:
        cached = self._tenants.get(tenant_id)
        if cached is not None:
            return cached
        lock = self._tenant_locks.setdefault(tenant_id, asyncio.Lock())
        async with lock:
            cached = self._tenants.get(tenant_id)
            if cached is not None:
                return cached
            assert self.ctx is not None
            data: TenantChatData = await asyncio.to_thread(read_tenant, self.ctx.db, tenant_id)
            patterns = compile_specs(merge_specs(shipped_specs(), data.patterns))
            index = None
            if data.pairs:
                embedder = await self._embedder()
                if embedder is not None:
                    cache = self.ctx.settings.data_dir / "cache" / "chat"
                    index = await asyncio.to_thread(PairIndex.build, data.pairs, embedder, cache)
            personas = {lang: Persona.default(lang, data.bot_name) for lang in ("zh", "en")}
            if data.system_prompt:
                personas = {lang: Persona(p.bot_name, data.system_prompt) for lang, p in personas.items()}
            tenant = _Tenant(patterns, index, personas, data.adapter_path, data.shop_name)
            self._tenants[tenant_id] = tenant
            return tenant

    async def _embedder(self) -> Any:
        assert self.ctx is not None
        try:
            return await asyncio.to_thread(self._embedder_locked)
        except Exception as exc:  # noqa: BLE001 - retrieval is skipped, the rest of the cascade works
            if not self._embedder_error:
                log.warning("embedder unavailable, chitchat retrieval off: %s", exc)
            self._embedder_error = f"{type(exc).__name__}: {exc}"
            return None

    def _embedder_locked(self) -> Any:
        from chatbot.model_paths import LOAD_LOCK

        assert self.ctx is not None
        if self.ctx.models.current("embedder") is not None:
            return self.ctx.models.embedder()
        with LOAD_LOCK:
            return self.ctx.models.embedder()

    async def _shipped(self) -> PairIndex | None:
        if self._shipped_index is not None:
            return self._shipped_index
        async with self._shipped_lock:
            if self._shipped_index is None:
                embedder = await self._embedder()
                if embedder is None:
                    return None
                assert self.ctx is not None
                key = str(getattr(embedder, "version", "")) or str(id(embedder))
                index = _SHIPPED_INDEXES.get(key)
                if index is None:
                    cache = self.ctx.settings.data_dir / "cache" / "chat"
                    pairs = await asyncio.to_thread(shipped_pairs)
                    index = await asyncio.to_thread(PairIndex.build, pairs, embedder, cache)
                    _SHIPPED_INDEXES[key] = index
                    log.info("chitchat corpus: %d messages indexed", len(index))
                self._shipped_index = index
        return self._shipped_index

    async def _adapter(self, tenant_id: str, tenant: _Tenant, generator: Generator) -> str | None:
        """The tenant's LoRA adapter name on `generator`, loading it there first if needed."""
        assert self.ctx is not None
        if tenant_id not in self._adapters:
            self._adapters[tenant_id] = await asyncio.to_thread(self._resolve_adapter, tenant_id, tenant)
        chosen = self._adapters[tenant_id]
        if chosen is None:
            return None
        name, path = chosen
        if name not in generator.adapters():
            try:
                await generator.load_adapter(name, path)
            except (OSError, GeneratorUnavailable, ValueError) as exc:
                log.warning("adapter %s for %s not loaded (%s): base model answers", name, tenant_id, exc)
                self._adapters[tenant_id] = None
                return None
        return name

    def _resolve_adapter(self, tenant_id: str, tenant: _Tenant) -> tuple[str, str] | None:
        assert self.ctx is not None
        try:
            ref = self.ctx.models.resolve("chat-lora", tenant_id)
            return f"{ref.tenant_id}-{ref.version}", str(ref.path)
        except Exception as exc:  # noqa: BLE001 - no registry version: configured path or none
            log.debug("no chat-lora version for %s: %s", tenant_id, exc)
        path = tenant.adapter_path or self.ctx.settings.llm.adapters.get(tenant_id, "")
        if path:
            return f"{tenant_id}-{Path(path).name}", path
        return None

    # -- scoring -----------------------------------------------------------------------------------

    async def score(self, turn: Turn, state: DialogueState) -> BotScore:
        tenant = await self._tenant(turn.tenant_id)
        rec = trace.current()
        text, lang = turn.query, turn.lang
        match = tenant.patterns.match(text, lang)
        if match is not None and match.coverage >= PATTERN_MIN_COVERAGE:
            rec.add(BotEvent(bot=self.name, step="pattern", detail=match.name,
                             data={"coverage": round(match.coverage, 3), "matched": match.matched}))
            return BotScore(bot=self.name, score=0.8, reason=f"pattern {match.name}",
                            hint=ChatHint("pattern", pattern=match))

        best, cal = await self._retrieve(turn, tenant)
        if best is not None and best.probability >= cal.cutoff:
            s = 0.5 + 0.25 * (best.probability - cal.cutoff) / max(1e-6, 1.0 - cal.cutoff)
            return BotScore(bot=self.name, score=round(min(s, 0.75), 4), reason="retrieval",
                            hint=ChatHint("retrieval", candidate=best))

        generator = self._generator()
        if generator is None:
            return BotScore(bot=self.name, score=0.1, reason="no pattern or retrieval hit; generation unavailable",
                            hint=ChatHint("none"))
        passages = await self._passages(turn)
        llm = self.ctx.settings.llm if self.ctx else None
        assert llm is not None
        if passages:
            return BotScore(bot=self.name, score=llm.grounded_route_score, reason="grounded on KB passages",
                            hint=ChatHint("grounded", passages=tuple(passages)))
        return BotScore(bot=self.name, score=llm.generation_route_score, reason="generation",
                        hint=ChatHint("generation"))

    async def _retrieve(self, turn: Turn, tenant: _Tenant) -> tuple[Candidate | None, Calibration]:
        shipped = await self._shipped()
        indexes = [i for i in (tenant.index, shipped) if i is not None and len(i)]
        embedder = await self._embedder() if indexes else None
        version = str(getattr(embedder, "version", ""))
        cal = calibration_for(self._calibrations, turn.lang, version)
        if embedder is None:
            return None, cal
        qvec = (await asyncio.to_thread(embedder.encode_queries, [turn.query]))[0]
        cands: list[Candidate] = []
        for idx in indexes:
            cands += idx.search(qvec, turn.query, turn.lang, {turn.lang: cal}, k=5)
        cands.sort(key=lambda c: -c.probability)
        trace.current().add(BotEvent(
            bot=self.name, step="retrieval.candidates",
            detail=f"threshold {cal.cutoff} ({cal.source or 'fitted'})",
            data={"candidates": [dict(c.as_json()) for c in cands[:5]]},  # type: ignore[misc]
        ))
        return (cands[0] if cands else None), cal

    async def _passages(self, turn: Turn) -> list[Passage]:
        assert self.ctx is not None
        search = self.ctx.extras.get(KNOWLEDGE_SEARCH)
        if search is None:
            return []
        try:
            found: list[Passage] = await search(turn.tenant_id, turn.query, 3)  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - grounding is optional
            log.warning("knowledge search failed: %s", exc)
            return []
        floor = self.ctx.settings.llm.grounding_min_passage_score
        return [p for p in found if p.score >= floor]

    # -- replying ----------------------------------------------------------------------------------

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        final: Reply | None = None
        async for item in self.stream(turn, state, hint):
            if isinstance(item, Reply):
                final = item
        assert final is not None
        return final

    async def stream(self, turn: Turn, state: DialogueState, hint: object | None = None) -> AsyncIterator[str | Reply]:
        """Text deltas, then the Reply; the Reply's text is exactly the deltas joined."""
        if not isinstance(hint, ChatHint):
            hint = (await self.score(turn, state)).hint
        assert isinstance(hint, ChatHint)
        tenant = await self._tenant(turn.tenant_id)
        lang = turn.lang
        rec = trace.current()
        if hint.layer == "pattern" and hint.pattern is not None:
            text = hint.pattern.reply(state.turns, tenant.persona[lang].bot_name, tenant.shop_name)
            yield text
            yield Reply(text=text, kind=ReplyKind.chitchat, confidence=0.8,
                        source=Source(bot=self.name, model_version=f"pattern:{hint.pattern.name}"))
            return
        if hint.layer == "retrieval" and hint.candidate is not None:
            c = hint.candidate
            text = c.replies[state.turns % len(c.replies)]
            embedder = await self._embedder()
            rec.add(BotEvent(bot=self.name, step="retrieval", detail=c.message,
                             data={"p": round(c.probability, 4), "cosine": round(c.cosine, 4), "origin": c.origin}))
            yield text
            yield Reply(text=text, kind=ReplyKind.chitchat, confidence=round(c.probability, 4),
                        source=Source(bot=self.name, model_version=f"retrieval:{getattr(embedder, 'version', '')}"))
            return
        generator = self._generator()
        if generator is None or hint.layer == "none":
            text = fallback_text(lang)
            rec.add(BotEvent(bot=self.name, step="fallback", detail="generation unavailable"))
            yield text
            yield Reply(text=text, kind=ReplyKind.chitchat, failed=True, source=Source(bot=self.name))
            return
        if hint.layer == "grounded":
            async for item in self._grounded(turn, state, tenant, generator, list(hint.passages)):
                yield item
            return
        async for item in self._generated(turn, tenant, generator):
            yield item

    async def _generated(self, turn: Turn, tenant: _Tenant, generator: Generator) -> AsyncIterator[str | Reply]:
        """Free generation in the persona, streamed with a hold-back window for the output checks."""
        assert self.ctx is not None
        lang, llm, rec = turn.lang, self.ctx.settings.llm, trace.current()
        persona = tenant.persona[lang]
        messages = chat_messages(persona, lang, turn.query)
        allowed = f"{turn.text}\n{persona.system_prompt}"
        adapter = await self._adapter(turn.tenant_id, tenant, generator)
        start = time.monotonic()
        text, sent, problem = "", "", ""
        try:
            async for delta in bounded(generator.stream(messages, max_new_tokens=llm.max_new_tokens,
                                                         temperature=0.0, adapter=adapter,
                                                         time_budget_s=llm.time_budget_s), start + llm.time_budget_s):
                text = text + delta if sent else (text + delta).lstrip()
                if guards.leaks_prompt(text, messages[0].content, lang):
                    problem = "prompt leakage"
                    break
                if guards.foreign_identifiers(text, allowed):
                    problem = "identifier the customer never gave"
                    break
                if len(text) >= STREAM_HOLD_CHARS and not sent and not guards.language_ok(text, lang):
                    problem = "wrong language"
                    break
                if len(text) - STREAM_HOLD_CHARS > len(sent):
                    out = text[len(sent) : len(text) - STREAM_HOLD_CHARS]
                    sent += out
                    yield out
        except GeneratorUnavailable as exc:
            problem = f"generator unavailable: {exc}"
        except TimeoutError:
            problem = "" if sent else "time budget spent"
        text = text.strip() if not sent else text
        if not problem and not sent and not guards.language_ok(text, lang):
            problem = "wrong language" if text else "empty reply"
        ms = round((time.monotonic() - start) * 1000, 1)
        version = f"{generator.name}+{adapter}" if adapter else generator.name
        if problem:
            rec.add(BotEvent(bot=self.name, step="generation", detail=f"rejected: {problem}",
                             data={"ms": ms, "model": version}))
            tail = "" if sent else fallback_text(lang)
            if sent:
                tail = "…"
            if tail:
                yield tail
            yield Reply(text=sent + tail, kind=ReplyKind.chitchat, failed=not sent,
                        source=Source(bot=self.name, model_version=version))
            return
        rest = text[len(sent) :]
        if rest:
            yield rest
        rec.add(BotEvent(bot=self.name, step="generation", detail="generated",
                         data={"ms": ms, "model": version, "chars": len(text)}))
        yield Reply(text=sent + rest, kind=ReplyKind.chitchat, confidence=0.4,
                    source=Source(bot=self.name, model_version=version))

    async def _grounded(self, turn: Turn, state: DialogueState, tenant: _Tenant, generator: Generator,
                        passages: list[Passage]) -> AsyncIterator[str | Reply]:
        """Answer from passages; checked (support, leakage) before a word is sent, so not token-streamed."""
        assert self.ctx is not None
        lang, llm, rec = turn.lang, self.ctx.settings.llm, trace.current()
        persona = tenant.persona[lang]
        messages = grounded_messages(persona, lang, turn.query, passages)
        adapter = await self._adapter(turn.tenant_id, tenant, generator)
        version = f"{generator.name}+{adapter}" if adapter else generator.name
        ids = [p.faq_id for p in passages]
        suggestions = [Suggestion(text=p.question, faq_id=p.faq_id) for p in passages]
        start = time.monotonic()
        answer, problem = "", ""
        try:
            result = await asyncio.wait_for(
                generator.generate(messages, max_new_tokens=llm.max_new_tokens, temperature=0.0, adapter=adapter,
                                   time_budget_s=llm.time_budget_s),
                llm.time_budget_s + 1.0,
            )
            answer = result.text.strip()
        except GeneratorUnavailable as exc:
            problem = f"generator unavailable: {exc}"
        except TimeoutError:
            problem = "time budget spent"
        sup = guards.support(answer, passages, lang) if answer else 0.0
        if not problem:
            # leakage first: an answer that leaks and also says CANNOT_ANSWER must be reported as a leak
            if guards.leaks_prompt(answer, messages[0].content.split("<<<PASSAGES")[0], lang):
                problem = "prompt leakage"
            elif guards.is_refusal(answer):
                problem = "model declined: passages do not answer"
            elif guards.foreign_identifiers(answer, "\n".join(
                    [turn.text, persona.system_prompt, *(f"{p.question} {p.answer}" for p in passages)])):
                problem = "identifier the customer never gave"
            elif sup < SUPPORT_MIN.get(lang, 0.5):
                problem = f"unsupported by passages (support {sup:.2f})"
            elif not guards.language_ok(answer, lang):
                problem = "wrong language"
        rec.add(BotEvent(bot=self.name, step="grounded", detail=problem or "answered",
                         data={"faq_ids": ids, "support": round(sup, 3), "model": version,  # type: ignore[dict-item]
                               "ms": round((time.monotonic() - start) * 1000, 1)}))
        if problem:
            text = refusal_text(lang)
            yield text
            yield Reply(text=text, kind=ReplyKind.suggestions, suggestions=suggestions, failed=True,
                        source=Source(bot=self.name, faq_ids=ids, model_version=version,
                                      kb_version=passages[0].kb_version))
            return
        yield answer
        yield Reply(text=answer, kind=ReplyKind.answer, confidence=round(min(0.69, sup), 3), suggestions=suggestions,
                    source=Source(bot=self.name, faq_ids=ids, faq_id=ids[0], model_version=version,
                                  kb_version=passages[0].kb_version))
