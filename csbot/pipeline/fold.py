"""Folding of evasive spellings, for matching only: the text shown or stored is never changed.

Attackers (and customers dodging a filter) write a blocked word or an instruction so that a plain
substring match misses it: full-width letters, zero-width characters inside a word, Cyrillic or
Greek look-alikes, leetspeak digits, spaces or dots between the letters ("f.u.c.k", "毒 品").
`fold` maps a text to a canonical skeleton and keeps, for every skeleton character, the index of
the original character it came from, so a match can be masked in the original.

Hand-written because no maintained PyPI package does confusables + offset mapping in one pass;
the look-alike table is deliberately small (the letters that actually occur in such attacks).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

#: zero-width and other invisible format characters (category Cf covers most of them)
_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e"}

#: Cyrillic and Greek letters that look like Latin ones
_LOOKALIKE = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t",
    "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ӏ": "l", "ɡ": "g", "ս": "u",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
    "χ": "x", "ϲ": "c", "ѵ": "v", "ɑ": "a", "ƒ": "f", "ı": "i",
})
#: digits and symbols used as letters inside a word ("h4ck", "$ex"); applied only between letters
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: separators someone may put between the letters of one word
#: (not sentence punctuation: "中毒。品质" must not read as "毒品")
_SEPARATORS = set(" \t\r\n.-_*·•|/\\'\"`~+^")


@dataclass(frozen=True)
class Folded:
    text: str
    #: index in the original text of each character of `text`
    origin: list[int]

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Original [start, end) of the folded span [start, end)."""
        return self.origin[start], self.origin[end - 1] + 1


def _char_fold(ch: str) -> str:
    if ch in _INVISIBLE or unicodedata.category(ch) == "Cf":
        return ""
    return unicodedata.normalize("NFKC", ch).lower().translate(_LOOKALIKE)


def fold(text: str) -> Folded:
    """NFKC, lower case, look-alikes, invisible characters dropped; offsets kept."""
    out: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for c in _char_fold(ch):
            out.append(c)
            origin.append(i)
    return Folded("".join(out), origin)


def _is_letter(c: str) -> bool:
    return c.isalpha() or bool(_CJK.match(c))


def squeeze(f: Folded) -> Folded:
    """`f` with leet digits read as letters and separators inside a spelled-out word removed.

    "f u c k" / "f.u.c.k" / "毒 品" / "毒*品" become "fuck" / "毒品": a separator is dropped when the
    characters around it are single letters or CJK characters, so ordinary words keep their spaces
    ("my class" does not become "myclass").
    """
    t = f.text
    chars = list(t)
    # leet: a digit/symbol between two letters is a letter ("h4ck"), or at a word edge next to one
    for i, c in enumerate(t):
        if c in _LEET:
            prev = t[i - 1] if i > 0 else " "
            nxt = t[i + 1] if i + 1 < len(t) else " "
            if (prev.isalpha() and prev.isascii()) or (nxt.isalpha() and nxt.isascii()):
                chars[i] = _LEET[c]
    s = "".join(chars)
    keep: list[int] = []
    n = len(s)
    i = 0
    while i < n:
        c = s[i]
        if c in _SEPARATORS:
            j = i
            while j < n and s[j] in _SEPARATORS:
                j += 1
            before = s[i - 1] if i > 0 else ""
            after = s[j] if j < n else ""
            if before and after and _single(s, i - 1, backwards=True) and _single(s, j, backwards=False) \
                    and _is_letter(before) and _is_letter(after):
                i = j  # drop the separator run inside a spelled-out word
                continue
            keep.extend(range(i, j))
            i = j
            continue
        keep.append(i)
        i += 1
    return Folded("".join(s[k] for k in keep), [f.origin[k] for k in keep])


def _single(s: str, i: int, *, backwards: bool) -> bool:
    """True when the letter at i stands alone (a CJK character always does: each one is a word)."""
    if _CJK.match(s[i]):
        return True
    j = i - 1 if backwards else i + 1
    return not (0 <= j < len(s) and s[j].isalnum())


def skeleton(text: str) -> str:
    """Only the letters, digits and CJK of the folded text (no leet reading): for comparing codes."""
    return "".join(c for c in fold(text).text if c.isalnum())
