"""In-process generation with transformers, behind a small continuous-batching scheduler.

One worker thread owns the model: it loads it, runs every forward pass, and loads or replaces LoRA
adapters between batches, so the event loop never blocks on torch and the model is never touched by
two threads. Requests waiting for the same adapter join the running batch at the next decoding step
(their prompts are prefilled and their KV cache is left-padded to the batch's length); a request
whose consumer went away, or that finished, leaves the batch at the next step and frees its slot.

Hand-written rather than `model.generate`: `generate` cannot stream several rows separately, nor
admit or drop rows while it runs; vLLM does all of this on GPUs and is the production path.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Imported here, in the thread that imports this module, not lazily in the loader thread: transformers'
# lazy modules can hand a half-initialised module to a thread that imports them while another thread
# (the embedder loading) is importing too ("cannot import name AutoModelForCausalLM").
from transformers import AutoModelForCausalLM, AutoTokenizer

from chatbot.generator import (
    ChatMessage,
    Event,
    EventGenerator,
    FinishReason,
    GenerationParams,
    GenerationResult,
    GeneratorUnavailable,
    cut_at_stop,
    safe_prefix_len,
)
from chatbot.lora import AdapterSet
from chatbot.model_paths import LOAD_LOCK, ModelLocation

log = logging.getLogger(__name__)


@dataclass
class _Request:
    prompt_ids: list[int]
    max_new_tokens: int
    temperature: float
    adapter: str | None
    stop: tuple[str, ...]
    deadline: float | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Any]]
    cancelled: bool = False
    done: bool = False
    generated: list[int] = field(default_factory=list)
    emitted: str = ""
    submitted_at: float = field(default_factory=time.monotonic)

    def post(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, value))


@dataclass
class SchedulerStats:
    """Counters an operator or a benchmark reads: how well requests were batched."""

    steps: int = 0
    batches: int = 0
    rows_admitted: int = 0
    max_rows: int = 0
    active: int = 0
    waiting: int = 0


class TransformersGenerator(EventGenerator):
    """A `Generator` over a causal LM loaded with transformers (HF directory or GGUF file)."""

    def __init__(
        self,
        location: ModelLocation,
        *,
        max_batch: int = 8,
        threads: int = 1,
        max_prompt_tokens: int = 1536,
        batching: bool = True,
    ) -> None:
        self.location = location
        self.name = location.name
        self.max_batch = max_batch if batching else 1
        self.threads = threads
        self.max_prompt_tokens = max_prompt_tokens
        self.stats = SchedulerStats()
        self._cv = threading.Condition()
        self._pending: deque[_Request] = deque()
        self._ops: deque[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = deque()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._model: Any = None
        self._tokenizer: Any = None
        self._eos: set[int] = set()
        self._adapters = AdapterSet()
        self._load_error: BaseException | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def load(self) -> None:
        """Start the model thread and load the weights in it (about 14 s for SmolLM2 on 2 CPUs)."""
        self._start()
        await self._call(self._load_model)

    def load_blocking(self) -> None:
        """`load` for synchronous callers (the ModelHub's loaders run in a worker thread)."""
        self._start()
        self._op(self._load_model).result()

    def _start(self) -> None:
        with self._cv:
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._worker, name=f"llm-{self.name}", daemon=True)
                self._thread.start()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    async def close(self) -> None:
        with self._cv:
            self._closing = True
            for req in self._pending:
                req.post("error", GeneratorUnavailable("generator closed"))
            self._pending.clear()
            self._cv.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 30)
            self._thread = None

    def adapters(self) -> list[str]:
        return self._adapters.names()

    async def load_adapter(self, name: str, path: str) -> None:
        """Load or replace adapter `name`; runs between batches on the model thread."""
        if not Path(path, "adapter_config.json").exists():
            raise FileNotFoundError(f"{path}: not a LoRA adapter directory (no adapter_config.json)")

        def op() -> None:
            with LOAD_LOCK:
                self._model = self._adapters.attach(self._model, name, path)

        await self._call(op)

    # -- generation ------------------------------------------------------------------------------

    def events(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[Event]:
        """Queue the request now (so an unloaded model or unknown adapter fails at call time)."""
        return self._events(self._submit(messages, params))

    def _submit(self, messages: list[ChatMessage], params: GenerationParams) -> _Request:
        if self._model is None or self._closing:
            raise GeneratorUnavailable(f"model {self.name} is not loaded")
        if params.adapter is not None and params.adapter not in self._adapters.internal:
            raise GeneratorUnavailable(f"adapter {params.adapter!r} is not loaded")
        ids = self._encode(messages)
        req = _Request(
            prompt_ids=ids,
            max_new_tokens=params.max_new_tokens,
            temperature=params.temperature,
            adapter=params.adapter,
            stop=tuple(params.stop),
            deadline=params.deadline(),
            loop=asyncio.get_running_loop(),
            queue=asyncio.Queue(),
        )
        with self._cv:
            self._pending.append(req)
            self.stats.waiting = len(self._pending)
            self._cv.notify_all()
        return req

    async def _events(self, req: _Request) -> AsyncIterator[Event]:
        try:
            while True:
                kind, value = await req.queue.get()
                if kind == "error":
                    raise value
                yield value
                if kind == "done":
                    return
        finally:
            # consumer gone (closed stream, cancelled task, timeout): the model thread drops the row
            if not req.done:
                req.cancelled = True

    def _encode(self, messages: list[ChatMessage]) -> list[int]:
        tok = self._tokenizer
        dicts = [m.as_dict() for m in messages]
        if getattr(tok, "chat_template", None):
            ids = tok.apply_chat_template(dicts, add_generation_prompt=True, tokenize=True)
        else:
            text = "".join(f"{m.role}: {m.content}\n" for m in messages) + "assistant: "
            ids = tok(text)["input_ids"]
        ids = list(ids)
        if len(ids) > self.max_prompt_tokens:
            log.warning("prompt of %d tokens cut to the last %d", len(ids), self.max_prompt_tokens)
            ids = ids[-self.max_prompt_tokens :]
        return ids

    # -- the model thread ------------------------------------------------------------------------

    async def _call(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self._op(fn))

    def _op(self, fn: Callable[[], Any]) -> concurrent.futures.Future[Any]:
        if self._thread is None:
            raise GeneratorUnavailable("generator not started: call load() first")
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._cv:
            self._ops.append((fn, fut))
            self._cv.notify_all()
        return fut

    def _worker(self) -> None:
        while True:
            with self._cv:
                while not (self._ops or self._pending or self._closing):
                    self._cv.wait()
                if self._closing and not self._ops:
                    return
                op = self._ops.popleft() if self._ops else None
            if op is not None:
                fn, fut = op
                try:
                    fut.set_result(fn())
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
                    fut.set_exception(exc)
                continue
            admitted: list[_Request] = []
            try:
                self._run_batch(admitted)
            except Exception as exc:  # a broken batch must not kill the thread
                log.exception("generation batch failed")
                for r in admitted:
                    if not r.done:
                        r.done = True
                        r.post("error", GeneratorUnavailable(f"generation failed: {exc}"))

    def _load_model(self) -> None:
        if self._model is not None:
            return
        import torch

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if self.threads > 0:
            # runs on the model thread: OpenMP's thread count is per calling thread, so this sets the
            # decoding's intra-op threads without touching the embedder's (see LLMSettings.torch_threads)
            torch.set_num_threads(self.threads)
        start = time.perf_counter()
        loc = self.location
        kwargs: dict[str, Any] = {"gguf_file": loc.gguf_file} if loc.gguf_file else {}
        with LOAD_LOCK:
            tok = AutoTokenizer.from_pretrained(str(loc.directory), **kwargs)
            model = AutoModelForCausalLM.from_pretrained(str(loc.directory), dtype=torch.float32, **kwargs)
        model.eval()
        eos: set[int] = set()
        gen_eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        for value in (tok.eos_token_id, gen_eos, model.config.eos_token_id):
            if isinstance(value, int):
                eos.add(value)
            elif isinstance(value, list):
                eos.update(v for v in value if isinstance(v, int))
        for special in ("<|im_end|>", "<|endoftext|>", "</s>"):
            tid = tok.convert_tokens_to_ids(special)
            if isinstance(tid, int) and tid != tok.unk_token_id:
                eos.add(tid)
        self._tokenizer, self._eos, self._model = tok, eos, model
        log.info("chat model %s loaded in %.1fs", loc.describe(), time.perf_counter() - start)

    def _take(self, adapter: str | None, room: int, any_adapter: bool) -> list[_Request]:
        """Waiting requests for `adapter` (or the oldest one's adapter), oldest first; drops expired ones."""
        taken: list[_Request] = []
        now = time.monotonic()
        with self._cv:
            if self._ops:  # an adapter load waits: let the batch drain instead of growing it
                return taken
            keep: deque[_Request] = deque()
            while self._pending:
                req = self._pending.popleft()
                if req.cancelled:
                    req.done = True
                    continue
                if req.deadline is not None and now >= req.deadline:
                    self._finish(req, "time")
                    continue
                if any_adapter and not taken:
                    adapter = req.adapter
                if len(taken) < room and req.adapter == adapter:
                    taken.append(req)
                else:
                    keep.append(req)
            self._pending = keep
            self.stats.waiting = len(keep)
        return taken

    def _adapter_context(self, adapter: str | None) -> Any:
        model = self._model
        if adapter is not None:
            self._adapters.activate(model, adapter)
            return nullcontext()
        if hasattr(model, "disable_adapter"):
            return model.disable_adapter()
        return nullcontext()

    def _run_batch(self, admitted: list[_Request]) -> None:
        import torch

        rows = self._take(None, self.max_batch, any_adapter=True)
        if not rows:
            return
        admitted.extend(rows)
        adapter = rows[0].adapter
        self.stats.batches += 1
        with torch.inference_mode(), self._adapter_context(adapter):
            cache, mask, pos, logits = self._prefill(rows)
            self.stats.rows_admitted += len(rows)
            while rows:
                self.stats.active = len(rows)
                self.stats.max_rows = max(self.stats.max_rows, len(rows))
                tokens = self._choose(logits, rows)
                keep = [i for i, r in enumerate(rows) if not self._feed(r, int(tokens[i]))]
                if len(keep) < len(rows):
                    if not keep:
                        break
                    idx = torch.tensor(keep, dtype=torch.long)
                    cache.batch_select_indices(idx)
                    mask, pos, tokens = mask[idx], pos[idx], tokens[idx]
                    rows = [rows[i] for i in keep]
                mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype)], dim=1)
                out = self._model(
                    input_ids=tokens.view(-1, 1),
                    attention_mask=mask,
                    position_ids=pos.view(-1, 1),
                    past_key_values=cache,
                    use_cache=True,
                )
                self.stats.steps += 1
                pos = pos + 1
                logits = out.logits[:, -1, :].float()
                room = self.max_batch - len(rows)
                if room > 0:
                    joining = self._take(adapter, room, any_adapter=False)
                    if joining:
                        admitted.extend(joining)
                        c2, m2, p2, l2 = self._prefill(joining)
                        cache, mask = _merge_caches(cache, mask, c2, m2)
                        pos = torch.cat([pos, p2])
                        logits = torch.cat([logits, l2])
                        rows = rows + joining
                        self.stats.rows_admitted += len(joining)
        self.stats.active = 0

    def _prefill(self, rows: list[_Request]) -> tuple[Any, Any, Any, Any]:
        import torch
        from transformers import DynamicCache

        width = max(len(r.prompt_ids) for r in rows)
        pad = next(iter(self._eos), 0) if self._tokenizer.pad_token_id is None else self._tokenizer.pad_token_id
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r.prompt_ids)
            ids[i, width - n :] = torch.tensor(r.prompt_ids, dtype=torch.long)
            mask[i, width - n :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = self._model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True)
        self.stats.steps += 1
        return cache, mask, positions[:, -1] + 1, out.logits[:, -1, :].float()

    def _choose(self, logits: Any, rows: list[_Request]) -> Any:
        import torch

        greedy = logits.argmax(-1)
        temps = [r.temperature for r in rows]
        if all(t <= 0 for t in temps):
            return greedy
        t = torch.tensor([max(x, 1e-5) for x in temps]).unsqueeze(1)
        sampled = torch.multinomial(torch.softmax(logits / t, dim=-1), 1).squeeze(1)
        use_greedy = torch.tensor([x <= 0 for x in temps])
        return torch.where(use_greedy, greedy, sampled)

    def _feed(self, req: _Request, token: int) -> bool:
        """Take one token for `req`, send its text delta; True when the request is finished."""
        if req.cancelled:
            req.done = True
            return True
        if token in self._eos:
            self._finish(req, "stop")
            return True
        req.generated.append(token)
        full = self._tokenizer.decode(req.generated, skip_special_tokens=True)
        cut, hit = cut_at_stop(full, req.stop)
        if hit:
            self._emit(req, cut)
            self._finish(req, "stop", flush=False)
            return True
        if len(req.generated) >= req.max_new_tokens:
            self._finish(req, "length", text=full)
            return True
        if req.deadline is not None and time.monotonic() >= req.deadline:
            self._finish(req, "time", text=full)
            return True
        if not full.endswith("\ufffd"):  # an incomplete UTF-8 sequence: wait for the next token
            self._emit(req, full[: safe_prefix_len(full, req.stop)])
        return False

    def _emit(self, req: _Request, upto: str) -> None:
        if len(upto) > len(req.emitted) and upto.startswith(req.emitted):
            req.post("delta", upto[len(req.emitted) :])
            req.emitted = upto

    def _finish(self, req: _Request, reason: FinishReason, *, text: str | None = None, flush: bool = True) -> None:
        if flush:
            full = text if text is not None else self._tokenizer.decode(req.generated, skip_special_tokens=True)
            self._emit(req, full.rstrip("\ufffd"))
        req.done = True
        req.post(
            "done",
            GenerationResult(
                text=req.emitted,
                finish_reason=reason,
                prompt_tokens=len(req.prompt_ids),
                completion_tokens=len(req.generated),
                model=self.name,
                adapter=req.adapter,
            ),
        )


def _merge_caches(cache: Any, mask: Any, cache2: Any, mask2: Any) -> tuple[Any, Any]:
    """Append the rows of (cache2, mask2) to (cache, mask), left-padding the shorter side."""
    import torch

    t1, t2 = mask.shape[1], mask2.shape[1]
    width = max(t1, t2)

    def pad(t: Any, n: int) -> Any:
        if n == 0:
            return t
        shape = list(t.shape)
        shape[2] = n
        return torch.cat([t.new_zeros(shape), t], dim=2)

    for layer, layer2 in zip(cache.layers, cache2.layers, strict=True):
        layer.keys = torch.cat([pad(layer.keys, width - t1), pad(layer2.keys, width - t2)], dim=0)
        layer.values = torch.cat([pad(layer.values, width - t1), pad(layer2.values, width - t2)], dim=0)
    m1 = torch.cat([mask.new_zeros((mask.shape[0], width - t1)), mask], dim=1)
    m2 = torch.cat([mask2.new_zeros((mask2.shape[0], width - t2)), mask2], dim=1)
    return cache, torch.cat([m1, m2], dim=0)


def from_settings(settings: Any, location: ModelLocation | None = None) -> TransformersGenerator:
    """The in-process generator configured by `settings.llm` and `settings.models`."""
    from chatbot.model_paths import resolve_chat_model

    return TransformersGenerator(
        location or resolve_chat_model(settings),
        max_batch=settings.llm.max_batch,
        threads=settings.llm.torch_threads,
    )
