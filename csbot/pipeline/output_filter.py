"""The last check on what a bot says: sensitive words and leaked PII, for whole replies and streams."""

from __future__ import annotations

from dataclasses import dataclass, field

from csbot.pipeline.pii import find_pii, mask_pii
from csbot.pipeline.sensitive import SensitiveMatcher, WordAction
from csbot.pipeline.texts import text as canned


@dataclass
class FilterResult:
    text: str
    action: str  # pass | mask | block
    detail: str = ""


def filter_text(text: str, matcher: SensitiveMatcher, lang: str) -> FilterResult:
    hits = matcher.find(text)
    worst = matcher.worst(hits)
    if worst in (WordAction.block, WordAction.escalate):
        return FilterResult(canned("output_blocked", lang), "block", ",".join(sorted({h.term for h in hits})))
    out = matcher.mask(text, hits) if hits else text
    out, kinds = mask_pii(out)
    if hits or kinds:
        return FilterResult(out, "mask", ",".join(sorted({*(h.category or "word" for h in hits), *kinds})))
    return FilterResult(out, "pass")


@dataclass
class StreamFilter:
    """Filters a token stream without ever showing a blocked word, even one split across tokens.

    It holds back the last few characters (the longest lexicon term, or a PII-sized tail of digits)
    until it knows they are safe. Once a block-level word appears, nothing more is released and the
    final text is replaced by the canned reply.
    """

    matcher: SensitiveMatcher
    lang: str
    _buffer: str = ""
    _released: int = 0
    blocked: bool = False
    _hold: int = field(init=False)

    def __post_init__(self) -> None:
        # A phone number or bank card split across tokens must not leak its first digits either.
        self._hold = max(self.matcher.max_len - 1, 0)

    def _safe_upto(self) -> int:
        end = len(self._buffer) - self._hold
        # never cut inside a run of digits/PII-ish characters: hold the whole run back
        i = end
        while 0 < i <= len(self._buffer) and (self._buffer[i - 1].isdigit() or self._buffer[i - 1] in "@.-_ "):
            i -= 1
        return max(min(end, i), self._released)

    def feed(self, delta: str) -> str:
        """Add a delta; return the text that is now safe to show (possibly empty)."""
        if self.blocked:
            return ""
        self._buffer += delta
        worst = self.matcher.worst(self.matcher.find(self._buffer))
        if worst in (WordAction.block, WordAction.escalate):
            self.blocked = True
            return ""
        upto = self._safe_upto()
        return self._emit(upto)

    def _emit(self, upto: int) -> str:
        if upto <= self._released:
            return ""
        hits = self.matcher.find(self._buffer)
        masked = self.matcher.mask(self._buffer, hits)
        # mask PII over the whole buffer so spans are judged whole, then release the new part
        masked, _ = mask_pii(masked) if find_pii(masked) else (masked, [])
        if len(masked) != len(self._buffer):
            # PII masking changed the length (it never does for digits, but keep offsets honest)
            masked = masked[: len(self._buffer)].ljust(len(self._buffer), "*")
        out = masked[self._released : upto]
        self._released = upto
        return out

    def finish(self) -> FilterResult:
        """Release the rest; the result's text is the whole filtered reply."""
        if self.blocked:
            return FilterResult(canned("output_blocked", self.lang), "block")
        full = filter_text(self._buffer, self.matcher, self.lang)
        return full

    def tail(self) -> str:
        """What is still held back, filtered, once the stream has ended."""
        if self.blocked:
            return ""
        return self._emit(len(self._buffer))
