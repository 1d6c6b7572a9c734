"""`kb calibrate`: fit the confidence model and pick thresholds on dev sets, per scoring mode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kbbot.confidence import FEATURES, Calibration, ModeCalibration, fit_logistic, pick_thresholds
from kbbot.devsets import EvalQuery
from kbbot.evaluate import QueryOutcome, evaluate
from kbbot.matcher import FaqMatcher


def calibrate(matcher: FaqMatcher, queries: list[EvalQuery], base: Calibration, *,
              target_precision: float = 0.95, fitted_on: str = "",
              progress: Callable[[int, int], None] | None = None) -> Calibration:
    """A calibration for the fusion mode and, when a reranker serves, the rerank mode too."""
    return calibrate_sets([(matcher, queries)], base, target_precision=target_precision, fitted_on=fitted_on,
                          progress=progress)


def calibrate_sets(sets: list[tuple[FaqMatcher, list[EvalQuery]]], base: Calibration, *,
                   target_precision: float = 0.95, fitted_on: str = "",
                   progress: Callable[[int, int], None] | None = None) -> Calibration:
    """One calibration fitted on the pooled outcomes of several (matcher, dev queries) sets, so a
    shipped default holds for Chinese and English FAQs alike."""
    modes = ("fusion", "rerank") if all(m.reranker is not None for m, _ in sets) else ("fusion",)
    pooled: dict[str, list[QueryOutcome]] = {m: [] for m in modes}
    for matcher, queries in sets:
        reports = evaluate(matcher, queries, base, modes=modes, progress=progress)
        for mode in modes:
            pooled[mode] += reports[mode].outcomes
    out = Calibration(modes=dict(base.modes), fusion=sets[0][0].config.fusion.model_dump())
    for mode, outcomes in pooled.items():
        out.modes[mode] = fit_mode(outcomes, target_precision, fitted_on)
    return out


def fit_mode(outcomes: list[QueryOutcome], target_precision: float, fitted_on: str) -> ModeCalibration:
    x = np.asarray([[o.features.get(f, 0.0) for f in FEATURES] for o in outcomes], dtype=np.float64)
    correct = np.asarray([o.expected is not None and o.ranked[:1] == [o.expected] for o in outcomes])
    in_top3 = np.asarray([o.expected is not None and o.expected in o.ranked[:3] for o in outcomes])
    weights, bias = fit_logistic(x, correct.astype(int))
    cal = ModeCalibration(weights=weights, bias=bias, fitted_on=fitted_on)
    probs = np.asarray([cal.probability(dict(zip(FEATURES, row, strict=True))) for row in x])
    cal.high, cal.low = pick_thresholds(probs, correct, in_top3, target_precision=target_precision)
    answered = probs >= cal.high
    nulls = np.asarray([o.expected is None for o in outcomes])
    cal.metrics = {
        "n": len(outcomes),
        "answered_precision": round(float(correct[answered].mean()) if answered.any() else 0.0, 4),
        "answered_rate": round(float(answered.mean()), 4),
        "reject_recall": round(float((~answered[nulls]).mean()) if nulls.any() else 0.0, 4),
        "top1": round(float(correct[~nulls].mean()) if (~nulls).any() else 0.0, 4),
    }
    return cal
