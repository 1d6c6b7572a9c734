"""FAQ matching for one (tenant, version): BM25 + dense recall, fusion, optional rerank, confidence.

Everything for one query is computed once and kept on the `Candidate`s, so `kb eval --compare`
can rank the same candidates by BM25 alone, dense alone, fusion, or fusion+rerank in one run.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from kbbot.bm25_retriever import BM25Retriever
from kbbot.confidence import Calibration, ModeCalibration, char_overlap
from kbbot.dense_index import DenseIndex, collection_name
from kbbot.fusion import FusionParams, rrf, weighted
from kbbot.schema import FaqItem
from kbbot.text import TextProcessor

log = logging.getLogger(__name__)

#: indexed questions and queries are both questions: e5 wants the same "query: " prefix on both
#: sides for symmetric matching (measured on the dev data, see docs/kbbot.md)
DOC_PREFIX = "query: "
MODES = ("bm25", "dense", "fusion", "rerank")


class Encoder(Protocol):
    version: str
    dim: int

    def encode(self, texts: list[str], prefix: str = "query: ") -> np.ndarray: ...


class PairScorer(Protocol):
    version: str

    def score_pairs(self, pairs: list[tuple[str, str]]) -> np.ndarray: ...


@dataclass
class Doc:
    pk: int
    faq_id: str
    text: str


@dataclass
class Candidate:
    faq_id: str
    question: str  # the standard question
    text: str  # the question (standard or similar) that matched best
    bm25: float = 0.0
    bm25_norm: float = 0.0
    dense: float = 0.0
    fused: float = 0.0
    rerank: float | None = None
    #: the rerank mode's ordering score: fused + rerank_weight * sigmoid(rerank)
    mixed: float | None = None
    bm25_rank: int | None = None
    dense_rank: int | None = None
    #: how many of the item's questions are among the top `vote_k` dense hits
    votes: int = 0

    def key(self, mode: str) -> float:
        if mode == "bm25":
            return self.bm25
        if mode == "dense":
            return self.dense
        if mode == "rerank" and self.mixed is not None:
            return self.mixed
        return self.fused


@dataclass
class MatchResult:
    mode: str
    candidates: list[Candidate]
    probability: float = 0.0
    features: dict[str, float] = field(default_factory=dict)
    timings_ms: dict[str, float] = field(default_factory=dict)
    #: why dense recall was skipped (vector store down): the result is BM25 only
    degraded: str = ""
    #: why the served mode differs from the matcher's own (e.g. an uncalibrated reranker skipped)
    note: str = ""

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


@dataclass
class MatchConfig:
    recall_k: int = 50
    rerank_k: int = 10
    fusion: FusionParams = field(default_factory=FusionParams)


def features(query: str, ranked: Sequence[Candidate], mode: str) -> dict[str, float]:
    if not ranked:
        return {"score": 0.0, "margin": 0.0, "dense": 0.0, "overlap": 0.0, "score_margin": 0.0}
    top = ranked[0]
    second = ranked[1].key(mode) if len(ranked) > 1 else 0.0
    s = top.key(mode)
    if mode == "bm25":  # raw BM25 is unbounded; its per-query normalised form is comparable
        s, second = top.bm25_norm, (ranked[1].bm25_norm if len(ranked) > 1 else 0.0)
    return {"score": s, "margin": s - second, "dense": top.dense, "overlap": char_overlap(query, top.text),
            "score_margin": s * (s - second)}


class FaqMatcher:
    """Built once per published version; `match` is safe to call from several threads."""

    def __init__(self, tenant_id: str, version: int, items: list[FaqItem], processor: TextProcessor,
                 encoder: Encoder, dense: DenseIndex, config: MatchConfig | None = None,
                 reranker: PairScorer | None = None) -> None:
        self.tenant_id = tenant_id
        self.version = version
        self.items = {it.faq_id: it for it in items}
        self.processor = processor
        self.encoder = encoder
        self.dense = dense
        self.config = config or MatchConfig()
        self.reranker = reranker
        self.docs: list[Doc] = []
        self.bm25 = BM25Retriever()
        self.collection = collection_name(tenant_id, version)

    @staticmethod
    def docs_of(items: list[FaqItem]) -> list[Doc]:
        docs: list[Doc] = []
        # sorted: the Milvus primary keys written at publish must match the docs rebuilt at load
        for it in sorted(items, key=lambda i: i.faq_id):
            for q in it.questions():
                docs.append(Doc(pk=len(docs), faq_id=it.faq_id, text=q))
        return docs

    def load(self) -> None:
        """Build the in-memory lexical index (the vectors are already in Milvus)."""
        self.docs = self.docs_of(list(self.items.values()))
        self.bm25.index([self.processor.tokens(d.text) for d in self.docs])

    @property
    def mode(self) -> str:
        return "rerank" if self.reranker is not None else "fusion"

    def encode_query(self, query: str) -> np.ndarray:
        return self.encoder.encode([query], prefix=DOC_PREFIX)[0]

    def retrieve(self, query: str, qvec: np.ndarray | None = None,
                 timings: dict[str, float] | None = None, *, use_dense: bool = True) -> list[Candidate]:
        """Candidates (one per FAQ item) from both recalls (or BM25 alone), sorted by the fused score.

        Raises DenseUnavailable when the vector store cannot be searched.
        """
        t = timings if timings is not None else {}
        k = self.config.recall_k
        t0 = time.perf_counter()
        tokens = self.processor.tokens(query)
        all_bm25 = self.bm25.scores(tokens)
        t1 = time.perf_counter()
        if qvec is None and use_dense:
            qvec = self.encode_query(query)
        t2 = time.perf_counter()
        dense_hits = (self.dense.search(self.collection, qvec[None, :], k)[0]
                      if self.docs and use_dense and qvec is not None else [])
        t3 = time.perf_counter()
        t.update(bm25=(t1 - t0) * 1000, encode=(t2 - t1) * 1000, milvus=(t3 - t2) * 1000)

        cands: dict[str, Candidate] = {}

        def cand(doc: Doc) -> Candidate:
            c = cands.get(doc.faq_id)
            if c is None:
                c = Candidate(faq_id=doc.faq_id, question=self.items[doc.faq_id].question, text=doc.text)
                cands[doc.faq_id] = c
            return c

        dense_floor = dense_hits[-1][1] if dense_hits else 0.0
        vote_k = self.config.fusion.vote_k
        rank = 0
        for i_hit, (pk, cos) in enumerate(dense_hits):
            doc = self.docs[pk]
            c = cand(doc)
            if i_hit < vote_k:
                c.votes += 1
            if c.dense_rank is None:
                rank += 1
                c.dense_rank, c.dense, c.text = rank, cos, doc.text
        if all_bm25.size:
            kk = min(k, all_bm25.size)
            top = np.argpartition(-all_bm25, kk - 1)[:kk]
            top = top[np.argsort(-all_bm25[top], kind="stable")]
            best = float(all_bm25[top[0]]) if top.size else 0.0
            rank = 0
            for i in top:
                score = float(all_bm25[i])
                if score <= 0:
                    break
                doc = self.docs[int(i)]
                c = cand(doc)
                if c.bm25_rank is None:
                    rank += 1
                    c.bm25_rank, c.bm25 = rank, score
                    c.bm25_norm = score / best if best > 0 else 0.0
                    if c.dense_rank is None:
                        c.text = doc.text
                        c.dense = dense_floor
        return self.fuse(query, list(cands.values()), self.config.fusion)

    @staticmethod
    def fuse(query: str, cands: list[Candidate], params: FusionParams) -> list[Candidate]:
        """Set each candidate's fused score (the query's language picks the weights); best first."""
        p = params.for_query(query)
        for c in cands:
            c.fused = (rrf([c.bm25_rank, c.dense_rank], p.rrf_k) if p.method == "rrf"
                       else weighted(c.dense, c.bm25_norm, p, c.votes))
        return sorted(cands, key=lambda c: -c.fused)

    def rerank(self, query: str, ranked: list[Candidate], timings: dict[str, float] | None = None) -> None:
        if self.reranker is None or not ranked:
            return
        t0 = time.perf_counter()
        head = ranked[: self.config.rerank_k]
        scores = self.reranker.score_pairs([(query, c.text) for c in head])
        for c, s in zip(head, scores, strict=True):
            c.rerank = float(s)
        self.mix(query, head, self.config.fusion)
        if timings is not None:
            timings["rerank"] = (time.perf_counter() - t0) * 1000

    @staticmethod
    def mix(query: str, ranked: list[Candidate], params: FusionParams) -> None:
        """Set the rerank mode's ordering score of the reranked candidates."""
        w = params.for_query(query).rerank_weight
        for c in ranked:
            if c.rerank is not None:
                c.mixed = c.fused + w / (1.0 + math.exp(-max(-50.0, min(50.0, c.rerank))))

    @staticmethod
    def rank(ranked: list[Candidate], mode: str) -> list[Candidate]:
        if mode == "bm25":
            pool = [c for c in ranked if c.bm25_rank is not None]
            return sorted(pool, key=lambda c: -c.bm25)
        if mode == "dense":
            pool = [c for c in ranked if c.dense_rank is not None]
            return sorted(pool, key=lambda c: -c.dense)
        if mode == "rerank":
            head = [c for c in ranked if c.mixed is not None]
            rest = [c for c in ranked if c.mixed is None]
            return sorted(head, key=lambda c: -(c.mixed or 0.0)) + rest
        return list(ranked)

    def match(self, query: str, calibration: Calibration, mode: str | None = None) -> MatchResult:
        mode = mode or self.mode
        timings: dict[str, float] = {}
        ranked = self.retrieve(query, timings=timings)
        if mode == "rerank":
            self.rerank(query, ranked, timings)
        return self.decide(query, ranked, mode, calibration.for_mode(mode, query), timings)

    @staticmethod
    def decide(query: str, ranked: list[Candidate], mode: str, cal: ModeCalibration,
               timings: dict[str, float] | None = None) -> MatchResult:
        ordered = FaqMatcher.rank(ranked, mode)
        feats = features(query, ordered, mode)
        prob = cal.probability(feats) if ordered else 0.0
        return MatchResult(mode=mode, candidates=ordered, probability=prob, features=feats,
                           timings_ms=timings or {})
