"""The trained intent classifier: learns intents, rejects out-of-scope text, persists and reloads."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskbot.nlu.artefact import load_intent_classifier, needs_encoder
from taskbot.nlu.embedding_classifier import EmbeddingClassifierConfig, EmbeddingIntentClassifier
from taskbot.nlu.types import IntentClassifier, IntentExample

from .conftest import HELD_OUT


@pytest.fixture
def trained(tiny_encoder, shop_examples: list[IntentExample]) -> EmbeddingIntentClassifier:
    clf = EmbeddingIntentClassifier(tiny_encoder)
    clf.fit(shop_examples)
    return clf


def test_fit_reports_intents_threshold_and_calibration(tiny_encoder, shop_examples: list[IntentExample]) -> None:
    clf = EmbeddingIntentClassifier(tiny_encoder)
    report = clf.fit(shop_examples)
    assert isinstance(clf, IntentClassifier)
    assert report.intents == ["invoice", "logistics", "order_status", "return_refund"]
    assert report.n_examples == len(shop_examples)
    assert report.details["n_calibration"] > 0
    assert report.details["encoder_version"] == tiny_encoder.version
    assert report.oos_threshold is not None and 0.0 <= report.oos_threshold < 1.0


def test_predict_classifies_unseen_paraphrases(trained: EmbeddingIntentClassifier) -> None:
    preds = trained.predict([text for text, _ in HELD_OUT])
    correct = sum(p.intent == gold for p, (_, gold) in zip(preds, HELD_OUT, strict=True))
    assert correct >= len(HELD_OUT) - 1
    for p in preds:
        assert p.ranking[0][0] in trained.intents
        probs = [prob for _, prob in p.ranking]
        assert probs == sorted(probs, reverse=True)
        assert p.confidence == pytest.approx(p.ranking[0][1])


def test_predict_rejects_out_of_scope_text(trained: EmbeddingIntentClassifier) -> None:
    preds = trained.predict(["给我讲个笑话吧", "tell me a funny joke", "今天天气好吗"])
    assert sum(p.intent is None for p in preds) >= 2


def test_save_then_load_predicts_the_same(trained: EmbeddingIntentClassifier, tiny_encoder, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")
    assert needs_encoder(tmp_path / "m")
    loaded = load_intent_classifier(tmp_path / "m", encoder=tiny_encoder)
    texts = [t for t, _ in HELD_OUT] + ["随便聊聊"]
    assert [p.model_dump() for p in loaded.predict(texts)] == [p.model_dump() for p in trained.predict(texts)]


def test_load_refuses_another_encoder(trained: EmbeddingIntentClassifier, tiny_encoder, tmp_path: Path) -> None:
    trained.save(tmp_path / "m")

    class OtherEncoder:
        version = "some-other-encoder"

        def encode_queries(self, texts: list[str]):  # pragma: no cover - never reached
            return tiny_encoder.encode_queries(texts)

    with pytest.raises(ValueError, match="retrain"):
        EmbeddingIntentClassifier.load(tmp_path / "m", encoder=OtherEncoder())
    with pytest.raises(ValueError, match="encoder"):
        EmbeddingIntentClassifier.load(tmp_path / "m")


def test_ngram_only_model_needs_no_encoder(shop_examples: list[IntentExample], tmp_path: Path) -> None:
    clf = EmbeddingIntentClassifier(None, EmbeddingClassifierConfig(use_embeddings=False))
    clf.fit(shop_examples)
    clf.save(tmp_path / "m")
    assert not needs_encoder(tmp_path / "m")
    loaded = load_intent_classifier(tmp_path / "m")
    assert loaded.predict(["我要退货"])[0].intent == "return_refund"


def test_without_oos_examples_threshold_still_rejects_least_confident(tiny_encoder, shop_examples) -> None:
    in_scope = [e for e in shop_examples if e.intent != "oos"]
    clf = EmbeddingIntentClassifier(tiny_encoder, EmbeddingClassifierConfig(reject_rate_without_oos=0.2))
    report = clf.fit(in_scope)
    assert report.oos_threshold is not None and report.oos_threshold > 1 / len(report.intents)


def test_fit_needs_two_intents(tiny_encoder) -> None:
    with pytest.raises(ValueError, match="two"):
        EmbeddingIntentClassifier(tiny_encoder).fit([IntentExample(text="查订单", intent="order_status")] * 5)


def test_predict_before_training_is_an_error(tiny_encoder) -> None:
    with pytest.raises(RuntimeError):
        EmbeddingIntentClassifier(tiny_encoder).predict(["查订单"])
