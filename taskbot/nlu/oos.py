"""Choosing the out-of-scope threshold on the top intent probability, from a calibration split.

Never guessed: the probability scale depends on the number of intents, the data and the features,
so the threshold is picked on held-out examples each time a model is trained.
"""

from __future__ import annotations

import numpy as np

from taskbot.nlu.types import OOS_LABEL


def choose_threshold(
    top_prob: np.ndarray,
    top_intent: np.ndarray,
    gold: np.ndarray,
    *,
    oos_weight: float = 0.2,
    reject_rate_without_oos: float = 0.02,
) -> float:
    """The threshold below which a prediction becomes out of scope.

    With out-of-scope examples in the calibration split it maximises
    `(1 - oos_weight) * in_scope_accuracy + oos_weight * oos_recall` (ties: the lower threshold).
    Without them it rejects the `reject_rate_without_oos` least confident in-scope examples, so a bot
    trained on in-scope data alone still refuses what it has never seen.

    Args:
        top_prob: probability of the best in-scope intent, per example.
        top_intent: the predicted label per example (may be `oos` when an oos class was trained).
        gold: the gold label per example (`oos` for out of scope).
    """
    is_oos = gold == OOS_LABEL
    if not is_oos.any():
        return float(np.quantile(top_prob, reject_rate_without_oos)) if len(top_prob) else 0.0
    n_in, n_oos = int((~is_oos).sum()), int(is_oos.sum())
    candidates = np.unique(np.concatenate([[0.0], np.round(top_prob, 4)]))
    best_t, best_score = 0.0, -1.0
    for t in candidates:
        rejected = (top_prob < t) | (top_intent == OOS_LABEL)
        in_acc = float(((top_intent == gold) & ~rejected & ~is_oos).sum() / max(n_in, 1))
        oos_rec = float((rejected & is_oos).sum() / n_oos)
        score = (1 - oos_weight) * in_acc + oos_weight * oos_rec
        if score > best_score + 1e-12:
            best_t, best_score = float(t), score
    return best_t
