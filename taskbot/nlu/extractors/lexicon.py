"""Terms from a word list (product names, enum values with synonyms), longest match first.

pyahocorasick scans the text once for all terms, which matters for catalogues of thousands of
products.
"""

from __future__ import annotations

import ahocorasick

from taskbot.nlu.extractors.base import Found


def enum_lexicon(values: list[str]) -> dict[str, list[str]]:
    """['refund|退款|退钱', 'exchange|换货'] -> {'refund': ['退款', '退钱'], 'exchange': ['换货']}."""
    lex: dict[str, list[str]] = {}
    for entry in values:
        value, *synonyms = [part.strip() for part in entry.split("|")]
        if value:
            lex.setdefault(value, []).extend(s for s in synonyms if s)
    return lex


def find_terms(text: str, lexicon: dict[str, list[str]], *, extractor: str) -> list[Found]:
    """Matches of the canonical names and their aliases (case-insensitive); value = canonical name.

    Latin terms must stand as whole words ("pro" does not match inside "problem"); CJK terms match
    anywhere, since Chinese has no spaces.
    """
    if not lexicon:
        return []
    automaton = ahocorasick.Automaton()
    for name, aliases in lexicon.items():
        for term in (name, *aliases):
            key = term.lower().strip()
            if key:
                automaton.add_word(key, (key, name))
    automaton.make_automaton()
    low = text.lower()
    hits: list[tuple[int, int, str]] = []
    for end_idx, (key, name) in automaton.iter(low):
        start, end = end_idx - len(key) + 1, end_idx + 1
        if key[0].isascii() and key[0].isalnum() and start > 0 and low[start - 1].isascii() and low[start - 1].isalnum():
            continue
        if key[-1].isascii() and key[-1].isalnum() and end < len(low) and low[end].isascii() and low[end].isalnum():
            continue
        hits.append((start, end, name))
    hits.sort(key=lambda h: (-(h[1] - h[0]), h[0]))
    out: list[Found] = []
    for start, end, name in hits:
        if any(start < f.end and f.start < end for f in out):
            continue
        out.append(Found(name, text[start:end], start, end, extractor))
    out.sort(key=lambda f: f.start)
    return out
