"""`kb calibrate`: fit the confidence model and pick thresholds on a dev set, per scoring mode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kbbot.confidence import FEATURES, Calibration, ModeCalibration, fit_logistic, pick_thresholds
from kbbot.devsets import EvalQuery
from kbbot.evaluate import evaluate
from kbbot.matcher import FaqMatcher


def calibrate(matcher: FaqMatcher, queries: list[EvalQuery], base: Calibration, *,
              target_precision: float = 0.95, fitted_on: str = "",
              progress: Callable[[int, int], None] | None = None) -> Calibration:
    """A calibration for the fusion mode and, when a reranker serves, the rerank mode too."""
    modes = ("fusion", "rerank") if matcher.reranker is not None else ("fusion",)
    reports = evaluate(matcher, queries, base, modes=modes, progress=progress)
    out = Calibration(modes=dict(base.modes), fusion=matcher.config.fusion.model_dump())
    for mode, rep in reports.items():
        x = np.asarray([[o.features.get(f, 0.0) for f in FEATURES] for o in rep.outcomes], dtype=np.float64)
        correct = np.asarray([o.expected is not None and o.ranked[:1] == [o.expected] for o in rep.outcomes])
        in_top3 = np.asarray([o.expected is not None and o.expected in o.ranked[:3] for o in rep.outcomes])
        weights, bias = fit_logistic(x, correct.astype(int))
        cal = ModeCalibration(weights=weights, bias=bias, fitted_on=fitted_on)
        probs = np.asarray([cal.probability(dict(zip(FEATURES, row, strict=True))) for row in x])
        cal.high, cal.low = pick_thresholds(probs, correct, in_top3, target_precision=target_precision)
        answered = probs >= cal.high
        nulls = np.asarray([o.expected is None for o in rep.outcomes])
        cal.metrics = {
            "answered_precision": round(float(correct[answered].mean()) if answered.any() else 0.0, 4),
            "answered_rate": round(float(answered.mean()), 4),
            "reject_recall": round(float((~answered[nulls]).mean()) if nulls.any() else 0.0, 4),
            "top1": round(float(correct[~nulls].mean()) if (~nulls).any() else 0.0, 4),
        }
        out.modes[mode] = cal
    return out
