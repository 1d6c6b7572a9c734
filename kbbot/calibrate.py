"""`kb calibrate`: choose the fusion weights, fit the confidence model and pick thresholds, per mode.

Every dev query is retrieved once (one encoding, one Milvus search); the fusion grid then re-scores
the same candidates. The dev queries are split in two halves by a stable hash of their text:
everything (fusion weights, logistic model, thresholds) is fitted on the `fit` half and the
figures that matter (`heldout`) are measured on the other half, so no headline is in-sample.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from kbbot.confidence import FEATURES, Calibration, ModeCalibration, fit_logistic, pick_thresholds
from kbbot.devsets import EvalQuery
from kbbot.evaluate import QueryOutcome
from kbbot.fusion import FusionParams, LangFusion, query_lang
from kbbot.matcher import Candidate, FaqMatcher

#: the fusion grid `kb calibrate` searches per query language
DENSE_WEIGHTS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
VOTE_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3)
RERANK_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 20.0)
#: share of the out-of-domain dev queries allowed at or above `low` (i.e. offered suggestions)
OOD_SUGGEST_SHARE = 0.1
#: the cross-encoder costs a batched forward per turn (about 40 ms of CPU on two cores, a fifth of
#: an API worker's CPU under load): it is switched on for a language only when, on the fit half, it
#: raises top-1 by at least this share of the queries AND the queries it fixes outnumber those it
#: breaks by two standard deviations of a fair coin (sign test), so a lucky few do not buy it
RERANK_MIN_GAIN = 0.01
#: a language gets its own confidence model and thresholds when the fit half holds at least this
#: many wrong top-1 answers in it: the logistic model learns from the mistakes, and a language whose
#: fit half is nearly all right (LCQMC dev: 4 errors in 207) overfits on its own (measured: held-out
#: answered precision 0.92 alone vs 0.95 pooled); with fewer the pooled fit serves it
MIN_LANG_ERRORS = 30


@dataclass
class _Retrieved:
    matcher: FaqMatcher
    query: EvalQuery
    cands: list[Candidate]
    fit: bool


def in_fit_half(text: str) -> bool:
    """Stable split (same on every run and machine): half the queries fit, the other half test."""
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0


def calibrate(matcher: FaqMatcher, queries: list[EvalQuery], base: Calibration, *,
              target_precision: float = 0.95, fitted_on: str = "",
              progress: Callable[[int, int], None] | None = None) -> Calibration:
    """A calibration for the fusion mode and, when a reranker serves, the rerank mode too."""
    return calibrate_sets([(matcher, queries)], base, target_precision=target_precision, fitted_on=fitted_on,
                          progress=progress)


def choose_fusion(rows: list[_Retrieved], current: FusionParams) -> FusionParams:
    """Per query language, the (dense weight, vote weight) with the best top-1 on the fit half."""
    by_lang: dict[str, LangFusion] = {}
    for lang in sorted({query_lang(r.query.query) for r in rows}):
        mine = [r for r in rows if r.fit and r.query.expected is not None and query_lang(r.query.query) == lang]
        if not mine:
            continue
        best_key: tuple[int, float, float] | None = None
        best = (current.dense_weight, current.vote_weight)
        for dw in DENSE_WEIGHTS:
            for vw in VOTE_WEIGHTS:
                p = current.model_copy(update={"dense_weight": dw, "vote_weight": vw, "by_lang": {}})
                hits = 0
                for r in mine:
                    top = FaqMatcher.fuse(r.query.query, r.cands, p)
                    hits += bool(top) and top[0].faq_id == r.query.expected
                # ties: the smaller vote bonus, then the weight nearer the default 0.7
                key = (hits, -vw, -abs(dw - 0.7))
                if best_key is None or key > best_key:
                    best_key, best = key, (dw, vw)
        by_lang[lang] = LangFusion(dense_weight=best[0], vote_weight=best[1])
    return current.model_copy(update={"by_lang": by_lang})


def choose_rerank_weight(rows: list[tuple[_Retrieved, list[Candidate]]], fusion: FusionParams) -> FusionParams:
    """Per query language, how much the cross-encoder moves the fused order (best top-1, fit half)."""
    by_lang = dict(fusion.by_lang)
    for lang in sorted({query_lang(r.query.query) for r, _ in rows}):
        mine = [(r, ranked) for r, ranked in rows
                if r.fit and r.query.expected is not None and query_lang(r.query.query) == lang]
        if not mine:
            continue
        best_key: tuple[int, float] | None = None
        best = fusion.rerank_weight
        right: dict[float, list[bool]] = {}
        for w in RERANK_WEIGHTS:
            p = fusion.model_copy(update={"rerank_weight": w, "by_lang": {}})
            right[w] = []
            for r, ranked in mine:
                FaqMatcher.mix(r.query.query, ranked, p)
                top = FaqMatcher.rank(ranked, "rerank")
                right[w].append(bool(top) and top[0].faq_id == r.query.expected)
            key = (sum(right[w]), -w)  # ties: the smaller weight (fusion is calibrated on its own too)
            if best_key is None or key > best_key:
                best_key, best = key, w
        if best and not _pays_for_itself(right[0.0], right[best]):
            best = 0.0
        cur = by_lang.get(lang) or LangFusion(dense_weight=fusion.dense_weight, vote_weight=fusion.vote_weight)
        by_lang[lang] = cur.model_copy(update={"rerank_weight": best})
    return fusion.model_copy(update={"by_lang": by_lang})


def _pays_for_itself(fused: list[bool], reranked: list[bool]) -> bool:
    """RERANK_MIN_GAIN and the sign test over the queries whose top-1 the reranker changes."""
    fixed = sum(r and not f for f, r in zip(fused, reranked, strict=True))
    broken = sum(f and not r for f, r in zip(fused, reranked, strict=True))
    gain = fixed - broken
    return gain >= RERANK_MIN_GAIN * len(fused) and gain >= 2.0 * math.sqrt(fixed + broken)


def calibrate_sets(sets: list[tuple[FaqMatcher, list[EvalQuery]]], base: Calibration, *,
                   target_precision: float = 0.95, fitted_on: str = "", tune_fusion: bool = True,
                   progress: Callable[[int, int], None] | None = None) -> Calibration:
    """One calibration fitted on the pooled outcomes of several (matcher, dev queries) sets, so a
    shipped default holds for Chinese and English FAQs alike."""
    modes = ("fusion", "rerank") if all(m.reranker is not None for m, _ in sets) else ("fusion",)
    total = sum(len(q) for _, q in sets)
    done = 0
    rows: list[_Retrieved] = []
    for matcher, queries in sets:
        for q in queries:
            rows.append(_Retrieved(matcher, q, matcher.retrieve(q.query), in_fit_half(q.query)))
            done += 1
            if progress:
                progress(done, total * (2 if "rerank" in modes else 1))
    fusion = FusionParams.model_validate(base.fusion) if base.fusion else sets[0][0].config.fusion
    if tune_fusion:
        fusion = choose_fusion(rows, fusion)
    for matcher, _ in sets:
        matcher.config.fusion = fusion
    ranked_rows: list[tuple[_Retrieved, list[Candidate]]] = []
    for r in rows:
        ranked = FaqMatcher.fuse(r.query.query, r.cands, fusion)
        if "rerank" in modes:
            r.matcher.rerank(r.query.query, ranked)
            done += 1
            if progress:
                progress(done, total * 2)
        ranked_rows.append((r, ranked))
    if "rerank" in modes and tune_fusion:
        fusion = choose_rerank_weight(ranked_rows, fusion)
        for matcher, _ in sets:
            matcher.config.fusion = fusion
    outcomes: dict[str, list[tuple[bool, QueryOutcome]]] = {m: [] for m in modes}
    for r, ranked in ranked_rows:
        FaqMatcher.mix(r.query.query, ranked, fusion)
        for mode in modes:
            res = FaqMatcher.decide(r.query.query, ranked, mode, base.for_mode(mode))
            outcomes[mode].append((r.fit, QueryOutcome(
                query=r.query.query, expected=r.query.expected, ranked=[c.faq_id for c in res.candidates[:10]],
                probability=0.0, features=res.features, answered=False, suggested=False)))
    out = Calibration(modes=dict(base.modes), fusion=fusion.model_dump(),
                      compare={lang: ranking_figures([(r, ranked) for r, ranked in ranked_rows
                                                      if not r.fit and query_lang(r.query.query) == lang], modes)
                               for lang in sorted({query_lang(r.query.query) for r, _ in ranked_rows})})
    for mode, pairs in outcomes.items():
        fit = [o for is_fit, o in pairs if is_fit]
        test = [o for is_fit, o in pairs if not is_fit]
        cal = fit_mode(fit, target_precision, fitted_on + " (fit half)")
        cal.heldout = figures(cal, test)
        cal.heldout_by_lang = {lang: figures(cal, [o for o in test if query_lang(o.query) == lang])
                               for lang in sorted({query_lang(o.query) for o in test})}
        out.modes[mode] = cal
        for lang, own in per_language(fit, test, target_precision, fitted_on).items():
            out.by_lang.setdefault(lang, {})[mode] = own
    return out


def per_language(fit: list[QueryOutcome], test: list[QueryOutcome], target_precision: float,
                 fitted_on: str) -> dict[str, ModeCalibration]:
    """A model and thresholds of its own for each language with enough mistakes in the fit half:
    English paraphrases of intents and Chinese LCQMC-style questions reach the same precision at
    different scores."""
    out: dict[str, ModeCalibration] = {}
    for lang in sorted({query_lang(o.query) for o in fit}):
        mine = [o for o in fit if query_lang(o.query) == lang]
        if sum(o.expected is not None and o.ranked[:1] != [o.expected] for o in mine) < MIN_LANG_ERRORS:
            continue
        own = fit_mode(mine, target_precision, f"{fitted_on} (fit half, {lang})")
        own.heldout = figures(own, [o for o in test if query_lang(o.query) == lang])
        out[lang] = own
    return out


def ranking_figures(rows: list[tuple[_Retrieved, list[Candidate]]], modes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """top-1 / MRR@5 / recall@5 of every mode over the same candidates (in-domain queries)."""
    out: dict[str, dict[str, float]] = {}
    mine = [(r, ranked) for r, ranked in rows if r.query.expected is not None]
    for mode in ("bm25", "dense", "fusion", *[m for m in modes if m == "rerank"]):
        top1 = mrr = rec5 = 0.0
        for r, ranked in mine:
            ids = [c.faq_id for c in FaqMatcher.rank(ranked, mode)[:5]]
            if ids[:1] == [r.query.expected]:
                top1 += 1
            if r.query.expected in ids:
                rec5 += 1
                mrr += 1.0 / (ids.index(r.query.expected) + 1)
        n = max(1, len(mine))
        out["fusion+rerank" if mode == "rerank" else mode] = {
            "n": len(mine), "top1": round(top1 / n, 4), "mrr5": round(mrr / n, 4), "recall5": round(rec5 / n, 4)}
    return out


def _arrays(cal: ModeCalibration | None, outcomes: list[QueryOutcome]) -> tuple[np.ndarray, ...]:
    x = np.asarray([[o.features.get(f, 0.0) for f in FEATURES] for o in outcomes], dtype=np.float64)
    correct = np.asarray([o.expected is not None and o.ranked[:1] == [o.expected] for o in outcomes], dtype=bool)
    in_top3 = np.asarray([o.expected is not None and o.expected in o.ranked[:3] for o in outcomes], dtype=bool)
    nulls = np.asarray([o.expected is None for o in outcomes], dtype=bool)
    probs = (np.asarray([cal.probability(dict(zip(FEATURES, row, strict=True))) for row in x])
             if cal is not None else np.zeros(len(outcomes)))
    return x, correct, in_top3, nulls, probs


def figures(cal: ModeCalibration, outcomes: list[QueryOutcome]) -> dict[str, float]:
    """Decision figures of `cal` on `outcomes` (the held-out half when reported)."""
    _, correct, in_top3, nulls, probs = _arrays(cal, outcomes)
    answered = probs >= cal.high
    suggested = (probs >= cal.low) & ~answered
    ind = ~nulls
    return {
        "n": len(outcomes),
        "n_out_of_domain": int(nulls.sum()),
        "top1": round(float(correct[ind].mean()) if ind.any() else 0.0, 4),
        "answered_precision": round(float(correct[answered].mean()) if answered.any() else 0.0, 4),
        "answered_rate": round(float(answered.mean()) if len(outcomes) else 0.0, 4),
        "reject_recall": round(float((~answered[nulls]).mean()) if nulls.any() else 0.0, 4),
        #: out-of-domain queries sent to the fallback (neither answered nor offered suggestions)
        "ood_fallback": round(float((probs[nulls] < cal.low).mean()) if nulls.any() else 0.0, 4),
        #: in-domain queries offered suggestions whose three contain the right item
        "suggest_hit": round(float(in_top3[suggested & ind].mean()) if (suggested & ind).any() else 0.0, 4),
    }


def fit_mode(outcomes: list[QueryOutcome], target_precision: float, fitted_on: str) -> ModeCalibration:
    """Logistic model + thresholds. `low` is also bounded by the out-of-domain queries: at most
    OOD_SUGGEST_SHARE of them may score at or above it, so off-topic turns reach the fallback
    instead of getting "did you mean" questions."""
    x, correct, in_top3, nulls, _ = _arrays(None, outcomes)
    weights, bias = fit_logistic(x, correct.astype(int))
    cal = ModeCalibration(weights=weights, bias=bias, fitted_on=fitted_on)
    _, _, _, _, probs = _arrays(cal, outcomes)
    cal.high, cal.low = pick_thresholds(probs, correct, in_top3, target_precision=target_precision)
    if nulls.any():
        ood_bound = float(np.quantile(probs[nulls], 1.0 - OOD_SUGGEST_SHARE))
        cal.low = min(cal.high, max(cal.low, ood_bound + 1e-6))
    cal.metrics = figures(cal, outcomes)
    return cal
