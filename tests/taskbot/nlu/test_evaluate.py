"""Evaluation metrics, as defined for `csbot nlu eval` and the promotion gate."""

from __future__ import annotations

import pytest

from taskbot.nlu.evaluate import intent_metrics


def test_intent_metrics_definitions() -> None:
    gold = ["a", "a", "b", "b", "oos", "oos"]
    pred = ["a", "oos", "b", "a", "oos", "b"]
    m = intent_metrics(gold, pred)
    assert m.n == 6
    assert m.accuracy == pytest.approx(3 / 6, abs=1e-4)
    assert m.in_scope_accuracy == pytest.approx(2 / 4, abs=1e-4)  # the "oos" prediction of an "a" counts wrong
    assert m.oos_recall == pytest.approx(1 / 2, abs=1e-4)
    assert m.oos_precision == pytest.approx(1 / 2, abs=1e-4)
    # F1: a = 2*1/(2+1+1) = .5, b = 2*1/(2+1+1) = .5, oos = 2*1/(2+1+1) = .5
    assert m.macro_f1 == pytest.approx(0.5, abs=1e-4)


def test_intent_metrics_without_oos_rows_or_predictions() -> None:
    m = intent_metrics(["a", "b", "b"], ["a", "b", "a"])
    assert m.oos_recall == 0.0 and m.oos_precision == 0.0
    assert m.accuracy == m.in_scope_accuracy == pytest.approx(2 / 3, abs=1e-4)


def test_intent_metrics_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        intent_metrics(["a"], [])
