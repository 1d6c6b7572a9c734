"""Fixtures of the chat bot tests: a tiny random chat model with the real SmolLM2 tokenizer, a random
LoRA adapter for it, and a tiny random encoder standing in for e5 where meaning does not matter."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from csbot.config import Settings
from tests.conftest import MODELS_DIR

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chatbot.lora import build_tiny_chat_model, smollm2_tokenizer_dir

    # the tokenizer converted from the GGUF is a build product kept beside the prepared models
    tokenizer_dir = smollm2_tokenizer_dir(MODELS_DIR)
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"), tokenizer_dir=tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_adapter_dir(tiny_chat_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chatbot.lora import build_random_adapter

    return build_random_adapter(tiny_chat_dir, tmp_path_factory.mktemp("tiny-adapter"), seed=7)


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from csbot.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder") / "e5-small")


@pytest.fixture
def chat_settings(settings: Settings, tmp_path: Path, tiny_chat_dir: Path, tiny_encoder_dir: Path) -> Settings:
    """Test settings whose models dir holds the tiny encoder as `e5-small`, and the tiny chat model."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "e5-small").symlink_to(tiny_encoder_dir, target_is_directory=True)
    return settings.model_copy(update={
        "models": settings.models.model_copy(update={"dir": models}),
        "llm": settings.llm.model_copy(update={"model": str(tiny_chat_dir), "max_new_tokens": 24, "time_budget_s": 10.0}),
    })


@pytest.fixture
async def chat_ctx(chat_settings: Settings, db: object) -> AsyncIterator[object]:
    from csbot.context import AppContext

    context = AppContext.create(chat_settings)
    yield context
    await context.close()
