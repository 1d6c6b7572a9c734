"""Checks on generated text before it reaches a customer.

- leakage: the reply repeats a stretch of the system prompt (a prompt-injection success);
- support: a grounded answer says things the passages do not (a hallucination);
- language: the reply is not in the customer's language (the 135M model drifts to English);
- identifiers: a generated reply shows a long number the customer never gave (another user's data).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from chatbot.prompts import CANNOT_ANSWER
from chatbot.retrieval import units
from csbot.pipeline.fold import fold, skeleton, squeeze
from csbot.types import Passage

_CJK = re.compile(r"[\u4e00-\u9fff]")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")
#: a code-like token of the prompt (internal note, canary, voucher code): letters and digits mixed
_SECRET = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{4,}[A-Za-z0-9]")
#: a run of digits, possibly split by spaces or dashes, optionally after a short letter prefix
_ID_RUN = re.compile(r"(?<![0-9])(?:[a-z]{1,4}[-_]?)?\d(?:[\d -]{4,}\d)")
_ID_MIN_DIGITS = 6
_MARKERS = ("<<<", ">>>", "PASSAGES", "<|im_start|>", "<|im_end|>")


def _windows(seq: Sequence[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


def leaks_prompt(reply: str, system_prompt: str, lang: str) -> bool:
    """True when the reply gives away the instructions, in any spelling.

    Caught: block markers; 8 consecutive characters (zh) or 6 consecutive words (en) of the
    instructions, also when disguised (full width, look-alikes, spaced-out letters, zero-width
    characters), reversed, or base64-encoded; and any code-like secret of the prompt (a token mixing
    letters and digits, e.g. an internal note or a canary) however short. The persona's name or a
    short common phrase is shorter than a window.
    """
    if any(m in reply for m in _MARKERS):
        return True
    return _leaks(reply, system_prompt, lang, depth=0)


def _leaks(reply: str, system_prompt: str, lang: str, depth: int) -> bool:
    folded = squeeze(fold(reply)).text
    prompt = _prompt_views(system_prompt)
    for unit_lang, n in (("zh", 8), ("en", 6)):
        for view in (folded, folded[::-1]):  # the reply, and the reply read backwards
            reply_units = units(view, unit_lang)
            if len(reply_units) >= n and prompt.windows[unit_lang] & _windows(reply_units, n):
                return True
    flat = skeleton(reply)
    if any(secret in flat for secret in prompt.secrets):
        return True
    if any(secret in flat[::-1] for secret in prompt.secrets):
        return True
    if depth == 0:
        for run in _B64.findall(reply):
            decoded = _b64(run)
            if decoded and _leaks(decoded, system_prompt, lang, depth=1):
                return True
    return False


@dataclass(frozen=True)
class _PromptViews:
    windows: dict[str, set[tuple[str, ...]]]
    secrets: tuple[str, ...]


@lru_cache(maxsize=256)
def _prompt_views(system_prompt: str) -> _PromptViews:
    folded = fold(system_prompt).text
    windows = {"zh": _windows(units(folded, "zh"), 8), "en": _windows(units(folded, "en"), 6)}
    secrets = tuple(sorted({skeleton(t) for t in _SECRET.findall(system_prompt)
                            if any(c.isdigit() for c in t) and any(c.isalpha() for c in t)}))
    return _PromptViews(windows, secrets)


def _b64(run: str) -> str:
    try:
        raw = base64.b64decode(run + "=" * (-len(run) % 4), validate=False)
        return raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def foreign_identifiers(reply: str, allowed: str) -> list[str]:
    """Identifier-like numbers in a generated reply that come from nowhere the customer can see.

    A generated reply may repeat an order or phone number the customer typed, or one of the
    tenant's own texts (persona, passages); any other long number is either invented or someone
    else's (a model fine-tuned on logs can regurgitate another customer's order), so it must not
    be shown. Compared on digits only, so spacing and dashes change nothing.
    """
    allowed_runs = {re.sub(r"\D", "", m) for m in _ID_RUN.findall(fold(allowed).text)}
    out = []
    for m in _ID_RUN.findall(fold(reply).text):
        digits = re.sub(r"\D", "", m)
        if len(digits) < _ID_MIN_DIGITS:
            continue
        if digits in allowed_runs or any(digits in a for a in allowed_runs):
            continue
        out.append(m.strip())
    return out


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
