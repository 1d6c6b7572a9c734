"""Lexical recall over standard and similar questions with `bm25s` (a maintained BM25 library)."""

from __future__ import annotations

import logging

import bm25s
import numpy as np

log = logging.getLogger(__name__)


class BM25Retriever:
    """BM25 over pre-tokenised documents; `search` returns (doc index, score) best first."""

    def __init__(self, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._bm25: bm25s.BM25 | None = None
        self.size = 0

    def index(self, docs: list[list[str]]) -> None:
        bm25 = bm25s.BM25(k1=self.k1, b=self.b)
        # an empty token list would make bm25s drop the document and shift every index after it
        bm25.index([d if d else [""] for d in docs], show_progress=False)
        self._bm25 = bm25
        self.size = len(docs)

    def scores(self, tokens: list[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (unknown tokens count for nothing)."""
        if self._bm25 is None or self.size == 0:
            return np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        known = [t for t in tokens if t in vocab and t]
        if not known:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(known), dtype=np.float32)

    def search(self, tokens: list[str], k: int) -> list[tuple[int, float]]:
        s = self.scores(tokens)
        if s.size == 0:
            return []
        k = min(k, s.size)
        top = np.argpartition(-s, k - 1)[:k]
        top = top[np.argsort(-s[top], kind="stable")]
        return [(int(i), float(s[i])) for i in top if s[i] > 0]
