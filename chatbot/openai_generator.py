"""A `Generator` over an OpenAI-compatible chat-completions server: vLLM or `csbot llm serve`.

Streams with `stream: true` and reads the server-sent events; a LoRA adapter is selected the vLLM
way, by passing its name as `model`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import httpx

from chatbot.generator import (
    ChatMessage,
    Event,
    EventGenerator,
    FinishReason,
    GenerationParams,
    GenerationResult,
    GeneratorUnavailable,
    bounded,
)

log = logging.getLogger(__name__)


class OpenAIGenerator(EventGenerator):
    def __init__(self, base_url: str, *, model: str = "", api_key: str = "", connect_timeout_s: float = 3.0) -> None:
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model = model
        self.name = model or self.base_url
        self.api_key = api_key
        self.connect_timeout_s = connect_timeout_s
        self._client: httpx.AsyncClient | None = None
        self._adapters: list[str] = []

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=httpx.Timeout(None, connect=self.connect_timeout_s),
            )
        return self._client

    async def load(self) -> None:
        """Learn the base model name and adapters from `/v1/models`; the server may still be down."""
        try:
            await self.refresh()
        except GeneratorUnavailable as exc:
            log.warning("LLM server %s not reachable yet: %s", self.base_url, exc)

    async def refresh(self) -> list[str]:
        try:
            resp = await self._http().get("/models", timeout=self.connect_timeout_s + 2)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise GeneratorUnavailable(f"{self.base_url}/models: {exc!r}") from exc
        cards = resp.json().get("data", [])
        bases = [c["id"] for c in cards if not c.get("parent")]
        self._adapters = sorted(c["id"] for c in cards if c.get("parent"))
        if not self.model and bases:
            self.model = bases[0]
            self.name = self.model
        return [c["id"] for c in cards]

    def adapters(self) -> list[str]:
        return list(self._adapters)

    async def load_adapter(self, name: str, path: str) -> None:
        """vLLM's run-time LoRA loading (needs VLLM_ALLOW_RUNTIME_LORA_UPDATING=True there)."""
        try:
            resp = await self._http().post("/load_lora_adapter", json={"lora_name": name, "lora_path": path})
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise GeneratorUnavailable(f"loading adapter {name} on {self.base_url}: {exc!r}") from exc
        if name not in self._adapters:
            self._adapters = sorted([*self._adapters, name])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _body(self, messages: list[ChatMessage], params: GenerationParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": params.adapter or self.model,
            "messages": [m.as_dict() for m in messages],
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if params.stop:
            body["stop"] = list(params.stop)
        return body

    async def events(self, messages: list[ChatMessage], params: GenerationParams) -> AsyncIterator[Event]:
        body = self._body(messages, params)
        text: list[str] = []
        finish: FinishReason = "stop"
        usage: dict[str, int] = {}
        try:
            async with self._http().stream("POST", "/chat/completions", json=body) as resp:
                if resp.status_code != 200:
                    detail = (await resp.aread()).decode("utf-8", "replace")[:300]
                    raise GeneratorUnavailable(f"{self.base_url} answered {resp.status_code}: {detail}")
                try:
                    async with aclosing(bounded(resp.aiter_lines(), params.deadline())) as lines:
                        async for line in lines:
                            if not line.startswith("data:"):
                                continue
                            payload = line[5:].strip()
                            if payload == "[DONE]":
                                break
                            data = json.loads(payload)
                            if data.get("usage"):
                                usage = data["usage"]
                            for choice in data.get("choices", []):
                                delta = (choice.get("delta") or {}).get("content")
                                if delta:
                                    text.append(delta)
                                    yield delta
                                if choice.get("finish_reason") == "length":
                                    finish = "length"
                except TimeoutError:
                    finish = "time"
        except httpx.HTTPError as exc:
            raise GeneratorUnavailable(f"{self.base_url}: {exc!r}") from exc
        yield GenerationResult(
            text="".join(text),
            finish_reason=finish,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            model=self.model,
            adapter=params.adapter,
        )
