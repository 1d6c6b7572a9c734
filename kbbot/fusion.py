"""Fusion of the lexical and dense candidate lists (per FAQ item, not per question)."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

_CJK = re.compile(r"[\u3400-\u9fff]")


class LangFusion(BaseModel):
    """Per-language overrides chosen by `kb calibrate` (short English paraphrases share fewer
    words with their standard question than Chinese ones share characters)."""

    dense_weight: float
    vote_weight: float = 0.0
    rerank_weight: float | None = None


class FusionParams(BaseModel):
    """How the two recall lists are combined; defaults tuned on the shared dev data (docs/kbbot.md)."""

    method: str = "weighted"  # "weighted" | "rrf"
    #: weight of the dense score in the weighted sum (BM25 gets 1 - w)
    dense_weight: float = 0.7
    rrf_k: int = 60
    #: dense cosines of this encoder sit in a narrow band; rescaled from [floor, 1] to [0, 1]
    dense_floor: float = 0.75
    #: item-level aggregation: bonus = vote_weight * (the item's questions among the top vote_k
    #: dense hits) / vote_k, so an item many of whose similar questions match beats an item with
    #: one lucky near-duplicate (kNN voting over the questions)
    vote_weight: float = 0.0
    vote_k: int = 10
    #: rerank mode orders the head by fused + rerank_weight * sigmoid(cross-encoder logit): large =
    #: the cross-encoder decides, 0 = fusion order. `kb calibrate` picks it per language; until a
    #: calibration has, the reranker scores are traced but do not move the order (an uncalibrated
    #: cross-encoder must not override a calibrated fusion)
    rerank_weight: float = 0.0
    #: "zh" (the query has Chinese characters) / "en" (it does not) -> overrides
    by_lang: dict[str, LangFusion] = Field(default_factory=dict)

    def for_query(self, query: str) -> FusionParams:
        """The parameters for this query's language."""
        o = self.by_lang.get(query_lang(query))
        if o is None:
            return self
        update = {"dense_weight": o.dense_weight, "vote_weight": o.vote_weight, "by_lang": {}}
        if o.rerank_weight is not None:
            update["rerank_weight"] = o.rerank_weight
        return self.model_copy(update=update)


def query_lang(query: str) -> str:
    return "zh" if _CJK.search(query) else "en"


def rrf(ranks: list[int | None], k: int) -> float:
    return sum(1.0 / (k + r) for r in ranks if r is not None)


def weighted(dense: float, bm25_norm: float, p: FusionParams, votes: int = 0) -> float:
    d = max(0.0, (dense - p.dense_floor) / (1.0 - p.dense_floor))
    bonus = p.vote_weight * min(votes, p.vote_k) / max(1, p.vote_k)
    return p.dense_weight * d + (1.0 - p.dense_weight) * bm25_norm + bonus
