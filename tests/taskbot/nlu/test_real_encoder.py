"""The intent model on the real shipped encoder (multilingual-e5-small), on a slice of public data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from csbot.models.embedder import Embedder
from csbot.paths import shared_data_dir
from taskbot.nlu.embedding_classifier import EmbeddingIntentClassifier
from taskbot.nlu.evaluate import evaluate
from taskbot.nlu.types import IntentExample
from tests.conftest import MODELS_DIR

from .conftest import HELD_OUT

ENCODER = MODELS_DIR / "e5-small"
CLINC = shared_data_dir() / "clinc150"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ENCODER / "config.json").is_file(), reason="run `csbot models prepare` first"),
]


@pytest.fixture(scope="module")
def encoder() -> Embedder:
    embedder = Embedder(ENCODER)
    embedder.load()
    return embedder


def _slice(path: Path, intents: set[str], per_intent: int) -> list[IntentExample]:
    counts: dict[str, int] = {}
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        ex = IntentExample.model_validate_json(line)
        if ex.intent in intents and counts.get(ex.intent, 0) < per_intent:
            counts[ex.intent] = counts.get(ex.intent, 0) + 1
            out.append(ex)
    return out


@pytest.mark.skipif(not CLINC.is_dir(), reason="CLINC150 data not found")
def test_real_encoder_clinc_slice_meets_accuracy_and_rejects_oos(encoder: Embedder) -> None:
    intents = sorted({json.loads(line)["intent"] for line in (CLINC / "dev.jsonl").read_text().splitlines()} - {"oos"})
    chosen = set(intents[::15])  # 10 intents across the domains
    train = _slice(CLINC / "train.jsonl", chosen, 30) + _slice(CLINC / "train.jsonl", {"oos"}, 60)
    test = _slice(CLINC / "dev.jsonl", chosen, 20) + _slice(CLINC / "dev.jsonl", {"oos"}, 40)
    report = evaluate(EmbeddingIntentClassifier(encoder), train, test, latency_samples=20)
    assert report.in_scope_accuracy >= 0.9
    assert report.oos_recall >= 0.5
    assert report.p50_ms > 0  # latency itself is measured by `csbot nlu eval`, not asserted on a shared machine


def test_real_encoder_chinese_shop_intents(encoder: Embedder, shop_examples: list[IntentExample]) -> None:
    clf = EmbeddingIntentClassifier(encoder)
    clf.fit(shop_examples)
    preds = clf.predict([text for text, _ in HELD_OUT])
    assert [p.intent for p in preds] == [gold for _, gold in HELD_OUT]
    assert clf.predict(["给我推荐一首好听的歌"])[0].intent is None
