"""Reranker training (tiny config) and the bot switching to fusion+rerank when one serves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kbbot.faq_io import load_file
from kbbot.reranker import Reranker
from kbbot.text import TextProcessor
from kbbot.train_reranker import (
    RerankerTrainConfig,
    mine_dense_near_misses,
    mine_near_misses,
    tenant_pairs,
    train,
)
from tests.kbbot.conftest import FAQ_SMALL


def test_mined_negatives_are_near_misses_not_positives() -> None:
    pairs = [("运费怎么算", "邮费多少钱", 1), ("运费险怎么买", "怎么买运费险", 1), ("发票怎么开", "开发票", 1)]
    negs = mine_near_misses(pairs, TextProcessor(), 1, seed=1)
    assert len(negs) == 3 and all(lab == 0 for _, _, lab in negs)
    assert ("邮费多少钱", "运费怎么算", 0) not in negs
    items, _ = load_file(FAQ_SMALL)
    tp = tenant_pairs(items, TextProcessor(), seed=1)
    assert ("邮费多少钱", "运费怎么算？", 1) in tp
    assert sum(1 for *_, lab in tp if lab == 0) >= 1


def _char_vectors(texts: list[str]) -> np.ndarray:
    """A stand-in encoder for the mining logic: normalised character counts."""
    vocab = sorted({c for t in texts for c in t})
    m = np.asarray([[t.count(c) for c in vocab] for t in texts], dtype=np.float32)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_dense_mining_takes_the_closest_first_question_that_is_not_a_paraphrase() -> None:
    pairs = [("运费怎么算", "邮费怎么算", 1), ("邮费怎么算呢", "邮费怎么算", 1), ("运费险怎么买", "怎么买运费险", 1),
             ("发票怎么开", "开发票", 1), ("怎么退货", "退货流程", 0)]
    texts = sorted({t for a, b, _ in pairs for t in (a, b)})
    table = dict(zip(texts, _char_vectors(texts), strict=True))
    negs = mine_dense_near_misses(pairs, lambda xs: np.stack([table[x] for x in xs]), 1)
    assert all(lab == 0 for *_, lab in negs) and len(negs) == 4
    # "邮费怎么算" is a paraphrase of both 运费怎么算 and 邮费怎么算呢: never mined as their negative
    assert not any(q == "邮费怎么算" and cand in ("运费怎么算", "邮费怎么算呢") for q, cand, _ in negs)
    assert ("怎么买运费险", "运费怎么算", 0) in negs or ("怎么买运费险", "邮费怎么算呢", 0) in negs


@pytest.mark.slow
def test_train_tiny_reranker_and_bot_uses_it(tiny_encoder, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    items, _ = load_file(FAQ_SMALL)
    pairs = tenant_pairs(items, TextProcessor(), seed=1)
    out = train(Path(tiny_encoder.model_dir), tmp_path / "rr", pairs,
                RerankerTrainConfig(epochs=1, batch_size=8, num_layers=0, max_length=32))
    r = Reranker(out)
    r.load()
    s = r.score_pairs([("运费怎么算", "邮费多少钱"), ("运费怎么算", "怎么开发票？")])
    assert s.shape == (2,) and np.all(np.isfinite(s))
    assert r.version
