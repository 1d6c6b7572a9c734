"""The one contract for text generation, shared by the in-process and the server-backed generators.

The chat bot talks to a `Generator` and never knows whether tokens come from transformers in this
process, from `csbot llm serve` on another machine, or from vLLM.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol, TypedDict, TypeVar, Unpack, runtime_checkable

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "time", "cancelled"]
T = TypeVar("T")


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True)
class GenerationResult:
    text: str
    finish_reason: FinishReason
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: which weights answered: base model name, plus the adapter when one was used
    model: str = ""
    adapter: str | None = None


class GenerationOptions(TypedDict, total=False):
    """The keyword arguments of `generate` and `stream`, declared once for every generator."""

    max_new_tokens: int
    temperature: float
    adapter: str | None
    stop: Sequence[str]
    time_budget_s: float | None


@dataclass(frozen=True)
class GenerationParams:
    """Limits of one call; every call is bounded in tokens and in wall time."""

    max_new_tokens: int = 96
    temperature: float = 0.0
    adapter: str | None = None
    stop: Sequence[str] = field(default_factory=tuple)
    time_budget_s: float | None = None

    @classmethod
    def of(cls, options: GenerationOptions) -> GenerationParams:
        params = cls(**options)
        return replace(params, max_new_tokens=max(1, params.max_new_tokens), stop=tuple(s for s in params.stop if s))

    def deadline(self) -> float | None:
        """The monotonic time the budget ends, None without a budget."""
        return time.monotonic() + self.time_budget_s if self.time_budget_s else None


class GeneratorUnavailable(RuntimeError):
    """The generator cannot serve now (not loaded, server down, adapter missing)."""


Event = str | GenerationResult


@runtime_checkable
class Generator(Protocol):
    """Chat-completion over a list of messages.

    `stream` yields text deltas whose concatenation is the text `generate` would return for the same
    call (greedy decoding). Both stop at `max_new_tokens`, at a stop string, or at the time budget.
    """

    name: str

    async def generate(self, messages: list[ChatMessage], **options: Unpack[GenerationOptions]) -> GenerationResult: ...

    def stream(self, messages: list[ChatMessage], **options: Unpack[GenerationOptions]) -> AsyncIterator[str]: ...

    async def load_adapter(self, name: str, path: str) -> None:
        """Make adapter `name` available (replacing an adapter of that name) without a restart."""
        ...

    def adapters(self) -> list[str]: ...

    async def close(self) -> None: ...


class EventGenerator(ABC):
    """`generate` and `stream` of a `Generator` built on one stream of events: the text deltas, then
    the `GenerationResult`. Each backend writes only `events`; the assembly is the same for all."""

    name: str

    @abstractmethod
    def events(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[Event]:
        """Deltas then the result. May raise `GeneratorUnavailable` at call time (before iteration)."""

    async def generate(self, messages: list[ChatMessage], **options: Unpack[GenerationOptions]) -> GenerationResult:
        return await collect(self.events(messages, GenerationParams.of(options)))

    async def stream(self, messages: list[ChatMessage], **options: Unpack[GenerationOptions]) -> AsyncIterator[str]:
        events = self.events(messages, GenerationParams.of(options))
        try:
            async for item in events:
                if isinstance(item, str):
                    yield item
        finally:
            await aclose(events)


async def collect(events: AsyncIterator[Event]) -> GenerationResult:
    """The result at the end of an event stream (the deltas are in its text)."""
    result: GenerationResult | None = None
    try:
        async for item in events:
            if isinstance(item, GenerationResult):
                result = item
    finally:
        await aclose(events)
    if result is None:
        raise GeneratorUnavailable("the generation ended without a result")
    return result


async def bounded(stream: AsyncIterator[T], deadline: float | None) -> AsyncGenerator[T, None]:
    """Items of `stream` until `deadline` (monotonic; None: no limit); `TimeoutError` after it, and
    `stream` is closed either way, so a backend stops working for a consumer that stopped waiting."""
    it = stream.__aiter__()
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError
            try:
                item = await asyncio.wait_for(it.__anext__(), remaining)
            except StopAsyncIteration:
                return
            yield item
    finally:
        await aclose(it)


async def aclose(it: object) -> None:
    """Close an async iterator if it can be closed (async generators can; plain iterators need not)."""
    close: Callable[[], Awaitable[None]] | None = getattr(it, "aclose", None)
    if close is not None:
        await close()


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text up to the first stop string, and whether one was found."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if i != -1:
                cut = min(cut, i)
    return text[:cut], cut < len(text)


def safe_prefix_len(text: str, stop: Sequence[str]) -> int:
    """How much of `text` can be emitted now: hold back a tail that may be the start of a stop string."""
    hold = 0
    for s in stop:
        for k in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:k]):
                hold = max(hold, k)
                break
    return len(text) - hold
