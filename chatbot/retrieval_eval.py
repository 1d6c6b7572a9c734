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


def evaluate(rows: list[EvalRow], pairs: list[Pair], encoder: Encoder, calibrations: dict[str, Calibration],
             lang: str = "zh", threshold: float | None = None) -> RetrievalScores:
    """Scores of the top candidate at the calibrated threshold (or `threshold`), as `ChatBot` decides."""
    index = PairIndex.build(pairs, encoder)
    replies: dict[str, set[str]] = {}
    for p in pairs:
        replies.setdefault(p.message, set()).add(p.reply)
    cal = calibration_for(calibrations, lang, str(getattr(encoder, "version", "")))
    cut = cal.threshold if threshold is None else threshold
    qvecs = encoder.encode_queries([r.query for r in rows])
    correct = wrong = false_answers = 0
    for row, qvec in zip(rows, qvecs, strict=True):
        cands = index.search(qvec, row.query, lang, {lang: cal})
        if not cands or cands[0].probability < cut:
            continue
        if row.expect is None:
            false_answers += 1
        elif set(cands[0].replies) & replies.get(row.expect, set()):
            correct += 1
        else:
            wrong += 1
    answerable = sum(r.expect is not None for r in rows)
    return RetrievalScores(answerable, len(rows) - answerable, correct, wrong, false_answers)
