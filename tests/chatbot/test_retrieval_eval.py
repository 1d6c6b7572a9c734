"""The retrieval eval's arithmetic: what counts as right, wrong, and a false answer at a threshold."""

from __future__ import annotations

from chatbot.retrieval_eval import EvalRow, Outcome, choose_threshold, score


def outcome(expect: str | None, p: float, right: bool) -> Outcome:
    return Outcome(EvalRow("q", expect, "tune"), p, right)


RESULTS = [
    outcome("a", 0.9, True),
    outcome("b", 0.6, True),
    outcome("c", 0.5, False),  # a wrong reply above 0.45
    outcome("d", 0.3, True),   # right, but below every sensible threshold
    outcome(None, 0.55, False),  # a business question that retrieval would take at <= 0.55
    outcome(None, 0.1, False),
]


def test_score_counts_what_the_bot_would_answer() -> None:
    s = score(RESULTS, 0.45)
    assert (s.correct, s.wrong, s.false_answers, s.answerable, s.unanswerable) == (2, 1, 1, 4, 2)
    assert s.precision == 0.5 and s.recall == 0.5
    strict = score(RESULTS, 0.58)
    assert (strict.correct, strict.wrong, strict.false_answers) == (2, 0, 0)


def test_chosen_threshold_prefers_precision() -> None:
    t = choose_threshold(RESULTS)
    assert 0.55 < t <= 0.6  # drops the wrong reply and the false answer, keeps both right ones
