"""The one contract for text generation, shared by the in-process and the server-backed generators.

The chat bot talks to a `Generator` and never knows whether tokens come from transformers in this
process, from `csbot llm serve` on another machine, or from vLLM.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length", "time", "cancelled"]


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


@dataclass(frozen=True)
class GenerationParams:
    """Limits of one call; every call is bounded in tokens and in wall time."""

    max_new_tokens: int = 96
    temperature: float = 0.0
    adapter: str | None = None
    stop: Sequence[str] = field(default_factory=tuple)
    time_budget_s: float | None = None


class GeneratorUnavailable(RuntimeError):
    """The generator cannot serve now (not loaded, server down, adapter missing)."""


@runtime_checkable
class Generator(Protocol):
    """Chat-completion over a list of messages.

    `stream` yields text deltas whose concatenation is the text `generate` would return for the same
    call (greedy decoding). Both stop at `max_new_tokens`, at a stop string, or at the time budget.
    """

    name: str

    async def generate(
        self,
        messages: list[ChatMessage],
        *,
        max_new_tokens: int = 96,
        temperature: float = 0.0,
        adapter: str | None = None,
        stop: Sequence[str] = (),
        time_budget_s: float | None = None,
    ) -> GenerationResult: ...

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_new_tokens: int = 96,
        temperature: float = 0.0,
        adapter: str | None = None,
        stop: Sequence[str] = (),
        time_budget_s: float | None = None,
    ) -> AsyncIterator[str]: ...

    async def load_adapter(self, name: str, path: str) -> None:
        """Make adapter `name` available (replacing an adapter of that name) without a restart."""
        ...

    def adapters(self) -> list[str]: ...

    async def close(self) -> None: ...


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
