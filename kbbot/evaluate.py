"""The one evaluator of FAQ matching: used by `kb eval`, `kb calibrate`, the bench and the docs.

Every query is retrieved (and reranked) once; each mode then ranks the same candidates, so the
compared figures come from one run over one index.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kbbot.confidence import Calibration
from kbbot.devsets import EvalQuery
from kbbot.matcher import FaqMatcher, MatchResult


@dataclass
class QueryOutcome:
    query: str
    expected: str | None
    ranked: list[str]
    probability: float
    features: dict[str, float]
    answered: bool
    suggested: bool


@dataclass
class ModeReport:
    mode: str
    outcomes: list[QueryOutcome] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, float | int]:
        with_exp = [o for o in self.outcomes if o.expected is not None]
        nulls = [o for o in self.outcomes if o.expected is None]
        top1 = sum(1 for o in with_exp if o.ranked[:1] == [o.expected])
        mrr = sum(1.0 / (o.ranked[:5].index(o.expected) + 1) for o in with_exp if o.expected in o.ranked[:5])
        rec5 = sum(1 for o in with_exp if o.expected in o.ranked[:5])
        answered = [o for o in self.outcomes if o.answered]
        answered_ok = sum(1 for o in answered if o.expected is not None and o.ranked[:1] == [o.expected])
        rejected_nulls = sum(1 for o in nulls if not o.answered)
        lat = np.asarray(self.latencies_ms or [0.0])
        n_exp = max(1, len(with_exp))
        return {
            "n": len(self.outcomes),
            "top1": round(top1 / n_exp, 4),
            "mrr5": round(mrr / n_exp, 4),
            "recall5": round(rec5 / n_exp, 4),
            "answered_precision": round(answered_ok / len(answered), 4) if answered else 0.0,
            "answered_rate": round(len(answered) / max(1, len(self.outcomes)), 4),
            "reject_recall": round(rejected_nulls / len(nulls), 4) if nulls else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
        }


def outcome(q: EvalQuery, res: MatchResult, calibration: Calibration) -> QueryOutcome:
    cal = calibration.for_mode(res.mode, q.query)
    return QueryOutcome(query=q.query, expected=q.expected, ranked=[c.faq_id for c in res.candidates[:10]],
                        probability=res.probability, features=res.features,
                        answered=res.probability >= cal.high, suggested=cal.low <= res.probability < cal.high)


def evaluate(matcher: FaqMatcher, queries: list[EvalQuery], calibration: Calibration, *,
             modes: tuple[str, ...] | None = None,
             answer_fn: Callable[[str], object] | None = None, served: str | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, ModeReport]:
    """Figures per mode. Latency of the served mode (`served`, default the matcher's) is end to end
    through `answer_fn` when given (the bot's own reply path), otherwise through retrieval + rerank
    + decision."""
    served = served or matcher.mode
    modes = modes or (served,)
    reports = {m: ModeReport(m) for m in modes}
    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        ranked = matcher.retrieve(q.query)
        t_retrieve = time.perf_counter() - t0
        t_rerank = 0.0
        if "rerank" in modes and matcher.reranker is not None:
            t1 = time.perf_counter()
            matcher.rerank(q.query, ranked)
            t_rerank = time.perf_counter() - t1
        for m in modes:
            t2 = time.perf_counter()
            res = FaqMatcher.decide(q.query, ranked, m, calibration.for_mode(m, q.query))
            t_decide = time.perf_counter() - t2
            reports[m].outcomes.append(outcome(q, res, calibration))
            reports[m].latencies_ms.append((t_retrieve + (t_rerank if m == "rerank" else 0.0) + t_decide) * 1000)
        if answer_fn is not None:
            t3 = time.perf_counter()
            answer_fn(q.query)
            reports[served].latencies_ms[-1] = (time.perf_counter() - t3) * 1000
        if progress:
            progress(i + 1, len(queries))
    return reports
