"""An OpenAI-compatible chat-completions server over the in-process generator (`csbot llm serve`).

It speaks the subset of the protocol that vLLM speaks and that `OpenAIGenerator` uses: so a worker
fleet can share one model process, and the same client code reaches vLLM on a GPU node. LoRA
adapters are addressed as models by name, as in `vllm serve --enable-lora`, and can be loaded at run
time with vLLM's `/v1/load_lora_adapter` request.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from chatbot.generator import (
    ChatMessage,
    GenerationParams,
    GenerationResult,
    GeneratorUnavailable,
    aclose,
    collect,
)
from chatbot.transformers_generator import TransformersGenerator
from csbot.types import new_id

log = logging.getLogger(__name__)


class ChatMessageIn(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatCompletionRequest(BaseModel):
    model: str = ""
    messages: list[ChatMessageIn]
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float = 0.0
    stop: str | list[str] | None = None
    stream: bool = False


class LoadAdapterRequest(BaseModel):
    lora_name: str
    lora_path: str


class UnloadAdapterRequest(BaseModel):
    lora_name: str


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "csbot"
    parent: str | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def create_app(
    generator: TransformersGenerator,
    *,
    adapters: dict[str, str] | None = None,
    default_max_tokens: int = 96,
    time_budget_s: float = 60.0,
) -> FastAPI:
    """The app; the generator (and `adapters`, name -> directory) load when the app starts."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await generator.load()
        for name, path in (adapters or {}).items():
            await generator.load_adapter(name, path)
        try:
            yield
        finally:
            await generator.close()

    app = FastAPI(title="csbot llm", lifespan=lifespan)
    started = int(time.time())

    def adapter_for(model: str) -> str | None:
        if not model or model == generator.name:
            return None
        if model in generator.adapters():
            return model
        raise HTTPException(404, detail={"error": {"message": f"model {model!r} not found", "type": "NotFoundError"}})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok" if generator.loaded else "loading"}

    @app.get("/v1/models", response_model=ModelList)
    async def models() -> ModelList:
        cards = [ModelCard(id=generator.name, created=started)]
        cards += [ModelCard(id=a, created=started, parent=generator.name) for a in generator.adapters()]
        return ModelList(data=cards)

    @app.post("/v1/load_lora_adapter")
    async def load_adapter(body: LoadAdapterRequest) -> dict[str, str]:
        try:
            await generator.load_adapter(body.lora_name, body.lora_path)
        except FileNotFoundError as exc:
            raise HTTPException(400, detail=str(exc)) from exc
        return {"status": "ok", "lora_name": body.lora_name}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(body: ChatCompletionRequest) -> StreamingResponse | dict[str, object]:
        if not generator.loaded:
            raise HTTPException(503, detail="model is loading")
        adapter = adapter_for(body.model)
        messages = [ChatMessage(m.role, m.content) for m in body.messages]
        params = GenerationParams.of({
            "max_new_tokens": body.max_completion_tokens or body.max_tokens or default_max_tokens,
            "temperature": body.temperature,
            "adapter": adapter,
            "stop": [body.stop] if isinstance(body.stop, str) else list(body.stop or []),
            "time_budget_s": time_budget_s,
        })
        cid = f"chatcmpl-{new_id()}"
        model_name = body.model or generator.name
        created = int(time.time())
        try:
            events = generator.events(messages, params)
            if not body.stream:
                result = await collect(events)
        except GeneratorUnavailable as exc:
            raise HTTPException(503, detail=str(exc)) from exc
        if not body.stream:
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model_name,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": result.text},
                        "finish_reason": _finish(result),
                    }
                ],
                "usage": _usage(result),
            }

        def chunk(delta: dict[str, str], finish: str | None, usage: dict[str, int] | None = None) -> str:
            data: dict[str, object] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            if usage is not None:
                data["usage"] = usage
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def sse() -> AsyncIterator[str]:
            # when the client disconnects, Starlette cancels this generator; closing `events`
            # marks the request cancelled and the model thread drops its row at the next step
            try:
                yield chunk({"role": "assistant", "content": ""}, None)
                async for item in events:
                    if isinstance(item, GenerationResult):
                        yield chunk({}, _finish(item), _usage(item))
                    else:
                        yield chunk({"content": item}, None)
                yield "data: [DONE]\n\n"
            finally:
                await aclose(events)

        return StreamingResponse(sse(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    return app


def _finish(result: GenerationResult) -> str:
    return "length" if result.finish_reason in ("length", "time") else "stop"


def _usage(result: GenerationResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.prompt_tokens + result.completion_tokens,
    }
