"""Fusion of the lexical and dense candidate lists (per FAQ item, not per question)."""

from __future__ import annotations

from pydantic import BaseModel


class FusionParams(BaseModel):
    """How the two recall lists are combined; defaults tuned on the shared dev data (docs/kbbot.md)."""

    method: str = "weighted"  # "weighted" | "rrf"
    #: weight of the dense score in the weighted sum (BM25 gets 1 - w)
    dense_weight: float = 0.7
    rrf_k: int = 60
    #: dense cosines of this encoder sit in a narrow band; rescaled from [floor, 1] to [0, 1]
    dense_floor: float = 0.75


def rrf(ranks: list[int | None], k: int) -> float:
    return sum(1.0 / (k + r) for r in ranks if r is not None)


def weighted(dense: float, bm25_norm: float, p: FusionParams) -> float:
    d = max(0.0, (dense - p.dense_floor) / (1.0 - p.dense_floor))
    return p.dense_weight * d + (1.0 - p.dense_weight) * bm25_norm
