"""OpenAIGenerator against a real `csbot llm serve` process (tiny model, one LoRA adapter)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chatbot.generator import ChatMessage, GeneratorUnavailable
from chatbot.openai_generator import OpenAIGenerator

pytestmark = pytest.mark.timeout(300)
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tiny_chat_dir: Path, tiny_adapter_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("llm-serve") / "serve.log").open("w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CSBOT_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbot.cli", "serve", "--port", str(port), "--model", str(tiny_chat_dir),
         "--adapter", f"shop-a={tiny_adapter_dir}", "--max-batch", "2"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).json().get("status") == "ok":
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llm serve did not start: see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage("user", text)]


async def test_models_lists_base_and_adapters(server: str) -> None:
    gen = OpenAIGenerator(server)
    try:
        await gen.load()
        assert gen.model.startswith("tiny-chat")
        assert gen.adapters() == ["shop-a"]
    finally:
        await gen.close()


async def test_streamed_deltas_join_to_generated_text(server: str) -> None:
    gen = OpenAIGenerator(server)
    try:
        await gen.load()
        full = await gen.generate(ask("Where is my parcel?"), max_new_tokens=10)
        deltas = [d async for d in gen.stream(ask("Where is my parcel?"), max_new_tokens=10)]
        assert len(deltas) > 1 and "".join(deltas) == full.text
        assert full.completion_tokens == 10 or full.finish_reason == "stop"
    finally:
        await gen.close()


async def test_adapter_selected_by_model_name(server: str) -> None:
    gen = OpenAIGenerator(server)
    try:
        await gen.load()
        base = await gen.generate(ask("Where is my parcel?"), max_new_tokens=10)
        tuned = await gen.generate(ask("Where is my parcel?"), max_new_tokens=10, adapter="shop-a")
        assert tuned.text != base.text
        with pytest.raises(GeneratorUnavailable):
            await gen.generate(ask("hi"), adapter="no-such-adapter")
    finally:
        await gen.close()


async def test_disconnected_client_frees_server_slot(server: str) -> None:
    gen = OpenAIGenerator(server)
    try:
        await gen.load()
        streams = [gen.stream(ask(f"talk forever {i}"), max_new_tokens=4000) for i in range(2)]
        for s in streams:  # both slots of the server (--max-batch 2) are busy
            await anext(s)
        for s in streams:
            await s.aclose()  # the clients went away
        start = time.monotonic()
        other = await gen.generate(ask("hi"), max_new_tokens=3)
        assert other.text is not None and time.monotonic() - start < 20
    finally:
        await gen.close()


async def test_server_down_is_reported_quickly() -> None:
    gen = OpenAIGenerator(f"http://127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(GeneratorUnavailable):
        await gen.generate(ask("hi"))
    assert time.monotonic() - start < 5
    await gen.close()
