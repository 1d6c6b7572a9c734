"""Reranker training (tiny config) and the bot switching to fusion+rerank when one serves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kbbot.faq_io import load_file
from kbbot.reranker import Reranker
from kbbot.text import TextProcessor
from kbbot.train_reranker import RerankerTrainConfig, mine_near_misses, tenant_pairs, train
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
