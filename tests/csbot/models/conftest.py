"""Fixtures of the model tests: a tiny random encoder with the real tokenizer, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from csbot.models.tiny import build_tiny_encoder


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny") / "encoder")


@pytest.fixture(scope="session")
def tiny_encoder_dir_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny encoder with other weights: a different version to promote."""
    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-b") / "encoder", seed=1)
