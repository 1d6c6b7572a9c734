"""Held-out evaluation of the chitchat retrieval layer as the bot uses it: top candidate + threshold.

The calibration figures (`csbot llm calibrate-retrieval`) measure pairwise paraphrase detection on
LCQMC/OPPO; this measures the decision that matters in the cascade on small talk written for this
project (`chatbot/data/retrieval_eval_zh.jsonl`): queries whose wording is in no indexed message,
each naming the corpus message whose reply is right, plus customer-service and off-topic questions
that retrieval must leave alone. Rows carry a split: choose anything on `tune`, report `test`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chatbot.corpus import Pair
from chatbot.retrieval import Calibration, Encoder, PairIndex, calibration_for

EVAL_FILE = Path(__file__).parent / "data" / "retrieval_eval_zh.jsonl"


@dataclass(frozen=True)
class EvalRow:
    query: str
    #: the corpus message whose reply is a right answer; None: retrieval must not answer
    expect: str | None
    split: str


@dataclass(frozen=True)
class RetrievalScores:
    answerable: int
    unanswerable: int
    correct: int
    wrong: int
    false_answers: int

    @property
    def precision(self) -> float:
        answered = self.correct + self.wrong + self.false_answers
        return self.correct / answered if answered else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.answerable if self.answerable else 0.0

    def as_json(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "answerable": self.answerable,
            "unanswerable": self.unanswerable,
            "correct": self.correct,
            "wrong_reply": self.wrong,
            "answered_unanswerable": self.false_answers,
        }


def read_eval(path: Path = EVAL_FILE, split: str | None = None) -> list[EvalRow]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            row = EvalRow(str(r["query"]), r["expect"], str(r["split"]))
        except (ValueError, KeyError) as exc:
            raise ValueError(f"{path}:{n}: not an eval row ({exc})") from exc
        if split is None or row.split == split:
            rows.append(row)
    return rows


@dataclass(frozen=True)
class Outcome:
    """The top candidate's probability for one row, and whether its reply is a right one."""

    row: EvalRow
    probability: float
    right: bool


def outcomes(rows: list[EvalRow], pairs: list[Pair], encoder: Encoder, calibrations: dict[str, Calibration],
             lang: str = "zh", cache_dir: Path | None = None) -> tuple[list[Outcome], Calibration]:
    """Search every row once (as `ChatBot` does); thresholds are applied afterwards by `score`."""
    index = PairIndex.build(pairs, encoder, cache_dir)
    replies: dict[str, set[str]] = {}
    for p in pairs:
        replies.setdefault(p.message, set()).add(p.reply)
    cal = calibration_for(calibrations, lang, str(getattr(encoder, "version", "")))
    qvecs = encoder.encode_queries([r.query for r in rows])
    out = []
    for row, qvec in zip(rows, qvecs, strict=True):
        cands = index.search(qvec, row.query, lang, {lang: cal})
        top = cands[0] if cands else None
        right = top is not None and row.expect is not None and bool(set(top.replies) & replies.get(row.expect, set()))
        out.append(Outcome(row, top.probability if top else 0.0, right))
    return out, cal


def score(results: list[Outcome], threshold: float) -> RetrievalScores:
    """What the bot would do at `threshold`: answer with the top candidate when it reaches it."""
    answered = [o for o in results if o.probability >= threshold]
    answerable = sum(o.row.expect is not None for o in results)
    return RetrievalScores(
        answerable=answerable,
        unanswerable=len(results) - answerable,
        correct=sum(o.right for o in answered),
        wrong=sum(o.row.expect is not None and not o.right for o in answered),
        false_answers=sum(o.row.expect is None for o in answered),
    )


def evaluate(rows: list[EvalRow], pairs: list[Pair], encoder: Encoder, calibrations: dict[str, Calibration],
             lang: str = "zh", threshold: float | None = None, cache_dir: Path | None = None) -> RetrievalScores:
    """Scores at the calibrated threshold (or `threshold`), as `ChatBot` decides."""
    results, cal = outcomes(rows, pairs, encoder, calibrations, lang, cache_dir)
    return score(results, cal.cutoff if threshold is None else threshold)


def choose_threshold(results: list[Outcome], beta: float = 0.5) -> float:
    """The threshold of best F-beta (precision first: a wrong canned reply is worse than none)."""
    best_t, best_f = 0.5, -1.0
    for t in [x / 100 for x in range(20, 91)]:
        sc = score(results, t)
        p, r = sc.precision, sc.recall
        f = (1 + beta**2) * p * r / (beta**2 * p + r) if p + r else 0.0
        if f > best_f + 1e-9:
            best_t, best_f = t, f
    return best_t
