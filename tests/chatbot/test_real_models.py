"""The shipped models themselves: SmolLM2 (GGUF) answers in English within the time budget, and the
real e5 encoder carries Chinese small talk through the retrieval layer."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from chatbot.bot import ChatBot
from chatbot.generator import ChatMessage
from chatbot.model_paths import resolve_chat_model
from chatbot.transformers_generator import TransformersGenerator
from csbot.config import Settings
from csbot.sessions import DialogueState
from csbot.trace import TraceRecorder, recording
from csbot.types import BotEvent, Turn
from tests.conftest import MODELS_DIR

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("question", ["What is the capital of France?"])
async def test_smollm2_answers_english_question_within_budget(settings: Settings, question: str) -> None:
    location = resolve_chat_model(settings)
    gen = TransformersGenerator(location, threads=settings.llm.torch_threads)
    await gen.load()
    try:
        start = time.monotonic()
        result = await gen.generate(
            [ChatMessage("system", "You are a helpful assistant. Answer in one short sentence."),
             ChatMessage("user", question)],
            max_new_tokens=settings.llm.max_new_tokens, time_budget_s=settings.llm.time_budget_s,
        )
        assert time.monotonic() - start <= settings.llm.time_budget_s + 2.0
        assert "paris" in result.text.lower()
    finally:
        await gen.close()


@pytest.fixture
async def real_bot(settings: Settings, db: Any) -> AsyncIterator[ChatBot]:
    from csbot.context import AppContext

    if not (MODELS_DIR / "e5-small" / "config.json").exists():
        pytest.fail(f"the converted e5 encoder is missing under {MODELS_DIR}: run `csbot models prepare`")
    llm = settings.llm.model_copy(update={"load_local": False})
    ctx = AppContext.create(settings.model_copy(update={"llm": llm}))
    bot = ChatBot()
    await bot.load(ctx)
    await bot.warm_up()
    yield bot
    await bot.close()
    await ctx.close()


async def route(bot: ChatBot, text: str) -> tuple[str, str]:
    t = Turn(tenant_id="t1", session_id="s", text=text, normalised=text)
    s = DialogueState(tenant_id="t1", session_id="s")
    with recording(TraceRecorder()) as rec:
        scored = await bot.score(t, s)
        reply = await bot.reply(t, s, scored.hint)
    layers = [e.step for e in rec.events if isinstance(e, BotEvent) and e.step in ("pattern", "retrieval", "fallback")]
    return (layers[-1] if layers else "none"), reply.text


@pytest.mark.parametrize("text", [
    "给我讲一个笑话吧",
    "你都会做些什么",  # missed before the corpus had paraphrases and a chitchat-tuned threshold
    "今天我心情很不好",
])
async def test_chinese_small_talk_paraphrase_found_by_retrieval(real_bot: ChatBot, text: str) -> None:
    layer, reply = await route(real_bot, text)
    assert layer == "retrieval", reply


@pytest.mark.parametrize("text", ["我的订单什么时候发货", "退货运费谁承担", "发票怎么开"])
async def test_customer_service_question_not_taken_by_small_talk(real_bot: ChatBot, text: str) -> None:
    layer, _ = await route(real_bot, text)
    assert layer != "retrieval"
