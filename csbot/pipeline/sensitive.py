"""Sensitive-word matching with Aho-Corasick (pyahocorasick), used on input and on output."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import ahocorasick

from csbot.lexicon import LexiconEntry
from csbot.pipeline.fold import fold, squeeze


class WordAction(StrEnum):
    block = "block"
    mask = "mask"
    escalate = "escalate"


_SEVERITY = {WordAction.mask: 0, WordAction.block: 1, WordAction.escalate: 2}


@dataclass(frozen=True)
class WordHit:
    term: str
    start: int
    end: int
    action: WordAction
    category: str


class SensitiveMatcher:
    """All lexicon hits in a text; ASCII terms must stand as whole words ("ass" is not in "class")."""

    def __init__(self, entries: list[LexiconEntry]) -> None:
        self._automaton: ahocorasick.Automaton | None = None
        self.max_len = 0
        if not entries:
            return
        auto = ahocorasick.Automaton()
        for e in entries:
            term = fold(e.term.strip()).text
            if not term:
                continue
            try:
                action = WordAction(e.value or "block")
            except ValueError:
                action = WordAction.block
            auto.add_word(term, (term, action, e.category))
            self.max_len = max(self.max_len, len(term))
        auto.make_automaton()
        self._automaton = auto

    def find(self, text: str) -> list[WordHit]:
        """Hits in `text`, also when the word is disguised (see csbot.pipeline.fold); spans are original offsets."""
        if self._automaton is None:
            return []
        folded = fold(text)
        hits: dict[tuple[int, int, str], WordHit] = {}
        for view in (folded, squeeze(folded)):
            for h in self._scan(view.text):
                start, end = view.span(h.start, h.end)
                hits.setdefault((start, end, h.term), WordHit(h.term, start, end, h.action, h.category))
        return sorted(hits.values(), key=lambda h: (h.start, h.end))

    def _scan(self, low: str) -> list[WordHit]:
        assert self._automaton is not None
        hits: list[WordHit] = []
        for end, (term, action, category) in self._automaton.iter(low):
            start = end - len(term) + 1
            if term.isascii() and term[:1].isalnum():
                before = low[start - 1] if start > 0 else " "
                after = low[end + 1] if end + 1 < len(low) else " "
                if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()):
                    continue
            hits.append(WordHit(term, start, end + 1, action, category))
        return hits

    @staticmethod
    def worst(hits: list[WordHit]) -> WordAction | None:
        return max((h.action for h in hits), key=_SEVERITY.__getitem__, default=None)

    @staticmethod
    def mask(text: str, hits: list[WordHit]) -> str:
        chars = list(text)
        for h in hits:
            for i in range(h.start, h.end):
                chars[i] = "*"
        return "".join(chars)
