"""The one intent evaluator: used by `csbot nlu eval`, the benchmark and the promotion gate alike.

Definitions (gold and predicted labels, `oos` for out of scope):
- accuracy: over all rows, `oos` counting as a label;
- in_scope_accuracy: over rows whose gold label is not `oos` (a prediction of `oos` is wrong);
- oos_recall: of gold-`oos` rows, the share predicted `oos` (0 when there are none);
- oos_precision: of rows predicted `oos`, the share gold `oos` (0 when none is predicted);
- macro_f1: F1 averaged over the gold labels (`oos` included when present).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from pydantic import BaseModel

from taskbot.nlu.types import OOS_LABEL, IntentClassifier, IntentExample


class IntentMetrics(BaseModel):
    n: int
    accuracy: float
    in_scope_accuracy: float
    oos_recall: float
    oos_precision: float
    macro_f1: float


class EvalReport(IntentMetrics):
    train_s: float
    p50_ms: float
    n_train: int
    classifier: str
    oos_threshold: float | None = None


def intent_metrics(gold: list[str], pred: list[str]) -> IntentMetrics:
    """Metrics of predicted labels against gold labels (both with `oos` for out of scope)."""
    if len(gold) != len(pred):
        raise ValueError("gold and predicted labels differ in length")
    n = len(gold)
    pairs = list(zip(gold, pred, strict=True))
    in_scope = [(g, p) for g, p in pairs if g != OOS_LABEL]
    gold_oos = [p for g, p in pairs if g == OOS_LABEL]
    pred_oos = [g for g, p in pairs if p == OOS_LABEL]
    f1s = []
    for label in sorted(set(gold)):
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return IntentMetrics(
        n=n,
        accuracy=_ratio(sum(g == p for g, p in pairs), n),
        in_scope_accuracy=_ratio(sum(g == p for g, p in in_scope), len(in_scope)),
        oos_recall=_ratio(sum(p == OOS_LABEL for p in gold_oos), len(gold_oos)),
        oos_precision=_ratio(sum(g == OOS_LABEL for g in pred_oos), len(pred_oos)),
        macro_f1=round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
    )


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def evaluate(
    classifier: IntentClassifier,
    train: list[IntentExample],
    test: list[IntentExample],
    *,
    latency_samples: int = 200,
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Train on `train`, predict `test` in batches, and time single-query predictions for p50 latency."""
    start = time.perf_counter()
    report = classifier.fit(train)
    train_s = time.perf_counter() - start
    texts = [e.text for e in test]
    pred: list[str] = []
    for i in range(0, len(texts), batch_size):
        for p in classifier.predict(texts[i : i + batch_size]):
            pred.append(p.intent or OOS_LABEL)
        if progress:
            progress(min(i + batch_size, len(texts)), len(texts))
    timings = []
    for text in texts[:latency_samples]:
        t0 = time.perf_counter()
        classifier.predict([text])
        timings.append((time.perf_counter() - t0) * 1000)
    metrics = intent_metrics([e.intent for e in test], pred)
    return EvalReport(
        **metrics.model_dump(),
        train_s=round(train_s, 2),
        p50_ms=round(statistics.median(timings), 2) if timings else 0.0,
        n_train=len(train),
        classifier=report.classifier,
        oos_threshold=report.oos_threshold,
    )
