"""Cold-start regex rules: the intent whose patterns cover most of the text wins."""

from __future__ import annotations

from pathlib import Path

from taskbot.nlu.artefact import load_intent_classifier
from taskbot.nlu.rules import RuleIntentClassifier
from taskbot.nlu.types import IntentExample

RULES = {
    "order_status": ["订单.{0,6}(状态|情况)", "查.{0,4}订单", r"order status"],
    "logistics": ["快递", "物流", r"\bpackage\b"],
    "return_refund": ["退(货|款)", r"\brefund\b"],
}


def test_predict_picks_the_matching_intent_with_high_confidence() -> None:
    pred = RuleIntentClassifier(RULES).predict(["帮我查一下订单", "我的快递到哪了", "I want a REFUND"])
    assert [p.intent for p in pred] == ["order_status", "logistics", "return_refund"]
    assert all(p.confidence >= 0.7 for p in pred)


def test_predict_without_match_is_out_of_scope() -> None:
    pred = RuleIntentClassifier(RULES).predict(["你好"])[0]
    assert pred.intent is None and pred.confidence == 0.0 and pred.ranking == []


def test_predict_two_matching_intents_lowers_confidence_and_ranks_both() -> None:
    pred = RuleIntentClassifier(RULES).predict(["快递丢了我要退款"])[0]
    assert {name for name, _ in pred.ranking} == {"logistics", "return_refund"}
    assert pred.confidence < 0.7


def test_fit_reports_intents_without_rules() -> None:
    report = RuleIntentClassifier(RULES).fit(
        [IntentExample(text="查订单", intent="order_status"), IntentExample(text="开发票", intent="invoice")]
    )
    assert report.details["intents_without_rules"] == ["invoice"]
    assert report.dev_metrics["train_accuracy"] == 0.5


def test_save_then_load_predicts_the_same(tmp_path: Path) -> None:
    RuleIntentClassifier(RULES).save(tmp_path)
    loaded = load_intent_classifier(tmp_path)
    assert loaded.predict(["查物流"])[0].intent == "logistics"
