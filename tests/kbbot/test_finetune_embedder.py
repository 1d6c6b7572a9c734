"""Embedder fine-tuning (also the ops console's embedder job) on a tiny encoder: runs, saves, loads, moved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csbot.models.embedder import Embedder
from kbbot.faq_io import load_file
from kbbot.finetune_embedder import EmbedderTrainConfig, finetune, triplets
from kbbot.matcher import DOC_PREFIX
from tests.kbbot.conftest import FAQ_SMALL


def test_triplets_pair_each_similar_question_with_its_item_and_a_near_miss() -> None:
    items, _ = load_file(FAQ_SMALL)
    trips = triplets(items, seed=1)
    assert len(trips) == sum(len(it.similar) for it in items)
    by_similar = {a: (p, n) for a, p, n in trips}
    pos, neg = by_similar[DOC_PREFIX + "邮费多少钱"]
    assert pos == DOC_PREFIX + "运费怎么算？" and neg != pos


def test_finetune_needs_two_items_with_similar_questions(tiny_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    items, _ = load_file(FAQ_SMALL)
    with pytest.raises(ValueError, match="at least two items"):
        finetune(Path(tiny_encoder.model_dir), items[:1], EmbedderTrainConfig(max_pairs=1), out=tmp_path / "x")


def test_finetune_tiny_encoder_writes_a_loadable_changed_model(tiny_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    items, _ = load_file(FAQ_SMALL)
    steps: list[tuple[int, int]] = []
    res = finetune(Path(tiny_encoder.model_dir), items, EmbedderTrainConfig(epochs=1, batch_size=8, lr=1e-3),
                   out=tmp_path / "emb", progress=lambda s, m: steps.append((s, m)))
    assert res["triplets"] == sum(len(it.similar) for it in items)
    assert steps and steps[-1][0] == steps[-1][1]  # progress reached the last step
    tuned = Embedder(Path(res["path"]))
    tuned.load()
    texts = ["运费怎么算？", "邮费多少钱"]
    before, after = tiny_encoder.encode(texts), tuned.encode(texts)
    assert after.shape == before.shape
    assert np.allclose(np.linalg.norm(after, axis=1), 1.0, atol=1e-4)
    assert not np.allclose(before, after, atol=1e-4)  # training moved the weights
