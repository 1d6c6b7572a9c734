"""Pair matching figures (LCQMC style): accuracy and F1 at a threshold chosen on a dev file."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PairScoreFn = Callable[[list[tuple[str, str]]], np.ndarray]


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximising accuracy (midpoint between neighbouring scores)."""
    order = np.argsort(scores)
    s, y = scores[order], labels[order]
    # predicting positive for everything from position i on: correct = negatives before + positives after
    neg_before = np.concatenate([[0], np.cumsum(1 - y)])
    pos_after = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    acc = neg_before + pos_after
    i = int(np.argmax(acc))
    if i == 0:
        return float(s[0]) - 1e-6
    if i == len(s):
        return float(s[-1]) + 1e-6
    return float((s[i - 1] + s[i]) / 2)


def figures(scores: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    pred = scores >= threshold
    y = labels.astype(bool)
    tp = float(np.sum(pred & y))
    fp = float(np.sum(pred & ~y))
    fn = float(np.sum(~pred & y))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"n": int(len(labels)), "accuracy": round(float(np.mean(pred == y)), 4), "f1": round(f1, 4),
            "precision": round(precision, 4), "recall": round(recall, 4), "threshold": round(threshold, 5)}


def pair_eval(score: PairScoreFn, pairs: list[tuple[str, str, int]],
              dev: list[tuple[str, str, int]] | None = None) -> dict[str, float]:
    """Accuracy/F1 on `pairs` at the threshold that is best on `dev` (on `pairs` itself if no dev:
    then the figure is optimistic and says so)."""
    s = score([(a, b) for a, b, _ in pairs])
    y = np.asarray([lab for _, _, lab in pairs])
    if dev:
        threshold = best_threshold(score([(a, b) for a, b, _ in dev]), np.asarray([lab for _, _, lab in dev]))
    else:
        threshold = best_threshold(s, y)
    out = figures(s, y, threshold)
    out["threshold_from"] = "dev" if dev else "same-file (optimistic)"  # type: ignore[assignment]
    return out
