"""The in-process generator on a tiny random model (real architecture, real SmolLM2 tokenizer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatbot.generator import ChatMessage, GeneratorUnavailable
from chatbot.lora import build_random_adapter
from chatbot.model_paths import ModelLocation
from chatbot.transformers_generator import TransformersGenerator

pytestmark = pytest.mark.timeout(300)


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage("system", "You are a helpful assistant."), ChatMessage("user", text)]


@pytest.fixture
async def gen(tiny_chat_dir: Path) -> AsyncIterator[TransformersGenerator]:
    g = TransformersGenerator(ModelLocation(tiny_chat_dir, None, "tiny"), max_batch=8)
    await g.load()
    yield g
    await g.close()


async def test_stream_deltas_join_to_generated_text(gen: TransformersGenerator) -> None:
    result = await gen.generate(ask("What are your opening hours?"), max_new_tokens=16)
    deltas = [d async for d in gen.stream(ask("What are your opening hours?"), max_new_tokens=16)]
    assert len(deltas) > 1
    assert "".join(deltas) == result.text
    assert result.completion_tokens <= 16 and result.text


async def test_batched_requests_equal_one_at_a_time(gen: TransformersGenerator) -> None:
    prompts = [ask("hi"), ask("where is my parcel, I ordered it last week"), ask("refund please"),
               ask("a much longer question about the warranty of the blue kettle I bought in May")]
    alone = [(await gen.generate(p, max_new_tokens=12)).text for p in prompts]
    together = await asyncio.gather(*(gen.generate(p, max_new_tokens=12) for p in prompts))
    assert [r.text for r in together] == alone
    assert gen.stats.max_rows >= 2  # they really shared decoding steps


async def test_request_arriving_mid_batch_joins_and_matches(gen: TransformersGenerator) -> None:
    first = asyncio.create_task(gen.generate(ask("first question"), max_new_tokens=40))
    await asyncio.sleep(0.05)
    late = await gen.generate(ask("a later, longer second question about delivery"), max_new_tokens=8)
    await first
    alone = await gen.generate(ask("a later, longer second question about delivery"), max_new_tokens=8)
    assert late.text == alone.text


async def test_consumer_that_goes_away_frees_its_slot(tiny_chat_dir: Path) -> None:
    g = TransformersGenerator(ModelLocation(tiny_chat_dir, None, "tiny"), max_batch=1)
    await g.load()
    try:
        stream = g.stream(ask("tell me everything"), max_new_tokens=100_000)
        got = [await anext(stream), await anext(stream)]
        assert got
        await stream.aclose()  # the client disconnected
        start = time.monotonic()
        other = await g.generate(ask("hi"), max_new_tokens=4)
        assert other.completion_tokens >= 1
        assert time.monotonic() - start < 5.0  # the one slot was released, not held for 100k tokens
        assert g.stats.active <= 1 and g.stats.waiting == 0
    finally:
        await g.close()


async def test_time_budget_ends_generation(gen: TransformersGenerator) -> None:
    start = time.monotonic()
    result = await gen.generate(ask("go on forever"), max_new_tokens=100_000, time_budget_s=0.5)
    assert time.monotonic() - start < 3.0
    assert result.finish_reason in ("time", "stop")


async def test_stop_string_cuts_the_text(gen: TransformersGenerator) -> None:
    full = await gen.generate(ask("What are your opening hours?"), max_new_tokens=16)
    stop = full.text[len(full.text) // 2 : len(full.text) // 2 + 2]
    if not stop.strip():
        pytest.skip("random model produced whitespace only")
    cut = await gen.generate(ask("What are your opening hours?"), max_new_tokens=16, stop=[stop])
    assert stop not in cut.text and full.text.startswith(cut.text)
    deltas = [d async for d in gen.stream(ask("What are your opening hours?"), max_new_tokens=16, stop=[stop])]
    assert "".join(deltas) == cut.text


async def test_adapter_switch_changes_reply_without_restart(
    gen: TransformersGenerator, tiny_adapter_dir: Path, tmp_path: Path, tiny_chat_dir: Path
) -> None:
    messages = ask("What are your opening hours?")
    base = (await gen.generate(messages, max_new_tokens=12)).text
    await gen.load_adapter("shop-a", str(tiny_adapter_dir))
    tuned = (await gen.generate(messages, max_new_tokens=12, adapter="shop-a")).text
    assert tuned != base
    assert (await gen.generate(messages, max_new_tokens=12)).text == base  # base still served alongside

    second = build_random_adapter(tiny_chat_dir, tmp_path / "v2", seed=99)
    await gen.load_adapter("shop-a", str(second))  # a promotion replaces the adapter in place
    retuned = (await gen.generate(messages, max_new_tokens=12, adapter="shop-a")).text
    assert retuned not in (tuned, base)
    assert gen.adapters() == ["shop-a"]


async def test_unknown_adapter_is_refused(gen: TransformersGenerator) -> None:
    with pytest.raises(GeneratorUnavailable):
        await gen.generate(ask("hi"), adapter="nope")
