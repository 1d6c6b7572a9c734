"""Calibrated confidence and the answer / suggest / fall back decision.

Raw retrieval scores mean different things per corpus and per mode, so a small logistic model
over corpus-independent features (top score, its margin over the runner-up, dense cosine,
character overlap, and score x margin) turns them into P(top item is right). Thresholds are set on
that probability for a target precision (`csbot kb calibrate`), and then mapped onto the router's
shared scale.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from kbbot.fusion import query_lang

#: `score_margin` (score x margin) lets one linear model trust a clear winner with a moderate score
#: (a small shop FAQ, items far apart: paraphrases score ~0.94 with a wide margin) without trusting
#: a high score whose runner-up is as high (a large FAQ of near-duplicate questions, where most
#: mistakes are); measured on the dev sets it is what lets the shipped default reach the target
#: precision on both kinds (docs/kbbot.md)
FEATURES = ("score", "margin", "dense", "overlap", "score_margin")

#: `high` is the lowest threshold whose answered precision on the fit half is, at this one-sided
#: confidence (z = 2.33: 99%), at least the target (Wilson lower bound). Taking the bare fit-half
#: precision, the held-out precision came out 1-3 points under the target (the running precision's
#: last crossing of the target is an optimistic pick), and a small dev set would be trusted as much
#: as a large one.
PRECISION_Z = 2.33

#: router scale (csbot): >= 0.7 answer outright, 0.4-0.7 suggestions, < 0.3 not mine
ROUTER_ANSWER = 0.7
ROUTER_SUGGEST = 0.4
ROUTER_NOT_MINE = 0.29


class ModeCalibration(BaseModel):
    """Logistic weights (over FEATURES) and thresholds for one scoring mode."""

    weights: list[float] = Field(default_factory=lambda: [0.0] * len(FEATURES))
    bias: float = 0.0
    high: float = 0.8
    low: float = 0.4
    #: what the numbers were measured on (shown by `kb calibrate` and in docs)
    fitted_on: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    #: the same figures on the dev queries NOT used for fitting (the ones to quote)
    heldout: dict[str, float] = Field(default_factory=dict)
    heldout_by_lang: dict[str, dict[str, float]] = Field(default_factory=dict)

    @field_validator("weights")
    @classmethod
    def _pad(cls, weights: list[float]) -> list[float]:
        """Calibrations stored before a feature was added weigh it 0 (same probabilities as before)."""
        if len(weights) > len(FEATURES):
            raise ValueError(f"{len(weights)} weights for {len(FEATURES)} features {FEATURES}")
        return [*weights, *[0.0] * (len(FEATURES) - len(weights))]

    def probability(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(w * feats.get(f, 0.0) for w, f in zip(self.weights, FEATURES, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


class Calibration(BaseModel):
    """Per mode ("fusion" without a reranker, "rerank" with one)."""

    modes: dict[str, ModeCalibration] = Field(default_factory=dict)
    fusion: dict[str, Any] = Field(default_factory=dict)
    #: per query language, ranking figures per mode (bm25, dense, fusion, rerank) on the held-out half
    compare: dict[str, dict[str, dict[str, float]]] = Field(default_factory=dict)
    #: per query language ("zh" / "en", as `kbbot.fusion.query_lang`), per mode: a calibration of its
    #: own where the dev data had enough queries of that language; `modes` serves the others
    by_lang: dict[str, dict[str, ModeCalibration]] = Field(default_factory=dict)

    def for_mode(self, mode: str, query: str | None = None) -> ModeCalibration:
        """The calibration of `mode` for this query's language (the pooled one when it has none)."""
        if query is not None:
            own = self.by_lang.get(query_lang(query), {})
            if mode in own:
                return own[mode]
            if mode not in self.modes and "fusion" in own:
                return own["fusion"]
        if mode in self.modes:
            return self.modes[mode]
        return self.modes.get("fusion", ModeCalibration())

    def merged(self, override: dict[str, Any]) -> Calibration:
        """Tenant values (from `kb calibrate`) over the shipped defaults, mode by mode."""
        if not override:
            return self
        data = self.model_dump()
        if override.get("modes"):
            # the tenant's own fit replaces the shipped per-language ones too (it may have none)
            data["by_lang"] = override.get("by_lang") or {}
        for mode, values in (override.get("modes") or {}).items():
            data["modes"][mode] = values
        if override.get("fusion"):
            data["fusion"] = override["fusion"]
        return Calibration.model_validate(data)


def default_calibration() -> Calibration:
    """The calibration shipped with the package (fitted on the shared dev data)."""
    text = resources.files("kbbot.data").joinpath("default_calibration.json").read_text(encoding="utf-8")
    return Calibration.model_validate(json.loads(text))


def char_overlap(a: str, b: str) -> float:
    """Jaccard overlap of the character sets: a corpus-independent lexical similarity."""
    sa, sb = set(a.lower().replace(" ", "")), set(b.lower().replace(" ", ""))
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def to_router_score(p: float, cal: ModeCalibration) -> float:
    """Map the calibrated probability onto the router's shared scale, piecewise linearly."""
    high, low = cal.high, min(cal.low, cal.high)
    if p >= high:
        return ROUTER_ANSWER + (1.0 - ROUTER_ANSWER) * ((p - high) / max(1e-9, 1.0 - high))
    if p >= low:
        return ROUTER_SUGGEST + (ROUTER_ANSWER - 0.001 - ROUTER_SUGGEST) * ((p - low) / max(1e-9, high - low))
    return ROUTER_NOT_MINE * (p / max(1e-9, low))


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[list[float], float]:
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        raise ValueError("calibration needs both right and wrong top answers in the dev set")
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(x, y)
    return [float(w) for w in model.coef_[0]], float(model.intercept_[0])


def precision_lower_bound(hits: np.ndarray, n: np.ndarray, z: float = PRECISION_Z) -> np.ndarray:
    """One-sided Wilson lower bound of a precision of `hits` out of `n` (elementwise)."""
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.asarray((centre - spread) / (1 + z * z / n))


def pick_thresholds(probs: np.ndarray, correct: np.ndarray, in_top3: np.ndarray, *,
                    target_precision: float = 0.95, suggest_precision: float = 0.5) -> tuple[float, float]:
    """high: lowest threshold whose answered precision reaches the target (its Wilson lower bound at
    PRECISION_Z, see there); low: below it, the lowest threshold at which the offered three
    suggestions still contain the right item often enough.

    Args:
        probs: calibrated probability of each dev query's top item.
        correct: whether the top item is the expected one (null queries: never).
        in_top3: whether the expected item is among the top three (null queries: never).
    """
    order = np.argsort(-probs)
    p_sorted, c_sorted = probs[order], correct[order].astype(float)
    hits, n = np.cumsum(c_sorted), np.arange(1, len(c_sorted) + 1)
    ok = np.where(precision_lower_bound(hits, n) >= target_precision)[0]
    if not ok.size and len(n) < PRECISION_Z**2 * target_precision / (1.0 - target_precision):
        # too few dev queries for the bound to reach the target even if all were right (103 at
        # 0.95): the bare precision decides, so a small tenant's own calibration still answers
        ok = np.where(hits / n >= target_precision)[0]
    # the last position where the running precision still meets the target
    high = float(p_sorted[ok[-1]]) if ok.size else 1.0
    high = min(max(high, 0.05), 0.999)
    below = probs < high
    low = high
    if below.any():
        pb, tb = probs[below], in_top3[below].astype(float)
        ob = np.argsort(-pb)
        prec3 = np.cumsum(tb[ob]) / np.arange(1, len(ob) + 1)
        ok3 = np.where(prec3 >= suggest_precision)[0]
        if ok3.size:
            low = float(pb[ob][ok3[-1]])
    return high, min(low, high)
