"""Calibration logic without models: fusion grid per language, kNN votes, the out-of-domain bound on `low`."""

from __future__ import annotations

import numpy as np

from kbbot.calibrate import OOD_SUGGEST_SHARE, _Retrieved, choose_fusion, fit_mode, in_fit_half
from kbbot.devsets import EvalQuery
from kbbot.evaluate import QueryOutcome
from kbbot.fusion import FusionParams, LangFusion, query_lang
from kbbot.matcher import Candidate, FaqMatcher


def _cands(lucky_dense: float = 0.95, voted_dense: float = 0.93, bm25_lucky: float = 0.5) -> list[Candidate]:
    # "lucky": one near-duplicate question, lexically close; "voted": many of its questions match
    return [Candidate(faq_id="lucky", question="q1", text="t1", dense=lucky_dense, bm25_norm=bm25_lucky,
                      bm25_rank=1, dense_rank=1, votes=1),
            Candidate(faq_id="voted", question="q2", text="t2", dense=voted_dense, bm25_norm=0.2,
                      bm25_rank=2, dense_rank=2, votes=8)]


def test_votes_let_an_item_with_many_matching_questions_win() -> None:
    plain = FusionParams(dense_weight=0.7)
    assert FaqMatcher.fuse("why was i charged", _cands(), plain)[0].faq_id == "lucky"
    voting = FusionParams(dense_weight=0.7, vote_weight=0.3, vote_k=10)
    assert FaqMatcher.fuse("why was i charged", _cands(), voting)[0].faq_id == "voted"


def test_language_overrides_apply_by_query_script() -> None:
    p = FusionParams(dense_weight=0.5, by_lang={"en": LangFusion(dense_weight=1.0, vote_weight=0.2)})
    assert query_lang("运费怎么算") == "zh" and query_lang("iphone 保修多久") == "zh"
    assert query_lang("what is the fee?") == "en"
    assert p.for_query("what is the fee?").dense_weight == 1.0
    assert p.for_query("运费怎么算").dense_weight == 0.5


def test_choose_fusion_picks_per_language_weights_on_the_fit_half_only() -> None:
    rows = []
    for i in range(40):
        en, zh = f"english query {i}", f"中文问题{i}"
        # English: the voted item is right (dense + votes must win); Chinese: the lexical one is right
        rows.append(_Retrieved(None, EvalQuery(query=en, expected="voted"), _cands(), in_fit_half(en)))  # type: ignore[arg-type]
        rows.append(_Retrieved(None, EvalQuery(query=zh, expected="lucky"), _cands(), in_fit_half(zh)))  # type: ignore[arg-type]
    p = choose_fusion(rows, FusionParams())
    en_p, zh_p = p.for_query("english"), p.for_query("中文")
    assert FaqMatcher.fuse("english", _cands(), en_p)[0].faq_id == "voted"
    assert FaqMatcher.fuse("中文", _cands(), zh_p)[0].faq_id == "lucky"
    assert sum(r.fit for r in rows) not in (0, len(rows))  # the split really holds some out


def _outcome(expected: str | None, top: str, score: float) -> QueryOutcome:
    return QueryOutcome(query="", expected=expected, ranked=[top, "other1", "other2"], probability=0.0,
                        features={"score": score, "margin": score / 2, "dense": 0.9, "overlap": 0.3},
                        answered=False, suggested=False)


def test_low_threshold_keeps_out_of_domain_queries_out_of_suggestions() -> None:
    rng = np.random.default_rng(0)
    outs = [_outcome("a", "a", float(s)) for s in rng.uniform(0.5, 1.0, 200)]  # right, high scores
    outs += [_outcome("a", "b", float(s)) for s in rng.uniform(0.0, 0.6, 60)]  # wrong, low scores
    outs += [_outcome(None, "b", float(s)) for s in rng.uniform(0.0, 0.55, 100)]  # out of domain
    cal = fit_mode(outs, 0.95, "synthetic")
    assert cal.low <= cal.high
    assert cal.metrics["answered_precision"] >= 0.95
    # at most the allowed share of the out-of-domain queries reach the "did you mean" band
    assert cal.metrics["ood_fallback"] >= 1.0 - OOD_SUGGEST_SHARE - 0.01
