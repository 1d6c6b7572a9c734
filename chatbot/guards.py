"""Checks on generated text before it reaches a customer.

- leakage: the reply repeats a stretch of the system prompt (a prompt-injection success);
- support: a grounded answer says things the passages do not (a hallucination);
- language: the reply is not in the customer's language (the 135M model drifts to English).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatbot.prompts import CANNOT_ANSWER
from chatbot.retrieval import units
from csbot.types import Passage

_CJK = re.compile(r"[\u4e00-\u9fff]")
_MARKERS = ("<<<", ">>>", "PASSAGES", "<|im_start|>", "<|im_end|>")


def _windows(seq: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


def leaks_prompt(reply: str, system_prompt: str, lang: str) -> bool:
    """True when the reply contains block markers or a long stretch of the system prompt.

    A stretch is 8 consecutive characters (zh) or 6 consecutive words (en) of the instructions;
    the persona's name or a short common phrase is shorter than that.
    """
    if any(m in reply for m in _MARKERS):
        return True
    for unit_lang, n in (("zh", 8), ("en", 6)):
        prompt_units = units(system_prompt, unit_lang)
        reply_units = units(reply, unit_lang)
        if len(reply_units) >= n and _windows(prompt_units, n) & _windows(reply_units, n):
            return True
    return False


def support(answer: str, passages: Sequence[Passage], lang: str) -> float:
    """Share of the answer's characters/words that occur in the best-matching passage."""
    ans = set(units(answer, lang))
    if not ans:
        return 0.0
    best = 0.0
    for p in passages:
        src = set(units(f"{p.question} {p.answer}", lang))
        best = max(best, len(ans & src) / len(ans))
    return best


def is_refusal(answer: str) -> bool:
    return CANNOT_ANSWER.lower() in answer.lower() or not answer.strip()


def language_ok(text: str, lang: str) -> bool:
    """A Chinese turn needs Chinese characters in the reply; an English one must not be mostly Chinese."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return False
    cjk = sum(1 for ch in letters if _CJK.match(ch))
    return cjk / len(letters) >= 0.3 if lang == "zh" else cjk / len(letters) < 0.5
