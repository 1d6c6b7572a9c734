"""PII detection and masking: mainland phone numbers, ID-card numbers, bank cards, e-mail.

Used on what is logged (the user's text) and on what bots say (the output filter). Bots still see
the raw text of the current turn: a task needs the phone number the customer typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_ID_CARD = re.compile(r"(?<!\d)[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){15,18}\d(?!\d)")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class PiiMatch:
    kind: str
    start: int
    end: int


def find_pii(text: str) -> list[PiiMatch]:
    """Non-overlapping PII spans, most specific kind first (an ID card is not also a bank card)."""
    found: list[PiiMatch] = []
    taken: list[tuple[int, int]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e in taken)

    for kind, rx in (("email", _EMAIL), ("id_card", _ID_CARD), ("phone", _PHONE), ("bank_card", _CARD)):
        for m in rx.finditer(text):
            if kind == "bank_card" and not _luhn_ok(re.sub(r"\D", "", m.group())):
                continue
            if free(m.start(), m.end()):
                found.append(PiiMatch(kind, m.start(), m.end()))
                taken.append((m.start(), m.end()))
    return sorted(found, key=lambda p: p.start)


def _mask_span(value: str, kind: str) -> str:
    if kind == "email":
        user, _, domain = value.partition("@")
        return (user[:1] + "***@" + domain) if user else "***@" + domain
    digits = re.sub(r"\D", "", value)
    keep_head = 3 if kind == "phone" else 4
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def mask_pii(text: str) -> tuple[str, list[str]]:
    """The text with every PII span masked (head and tail digits kept), and the kinds found."""
    matches = find_pii(text)
    if not matches:
        return text, []
    out, pos = [], 0
    for m in matches:
        out.append(text[pos : m.start])
        out.append(_mask_span(text[m.start : m.end], m.kind))
        pos = m.end
    out.append(text[pos:])
    return "".join(out), [m.kind for m in matches]


def mask_json(value: object) -> object:
    """`value` (JSON-like: dicts, lists, strings) with PII masked in every string, keys included."""
    if isinstance(value, str):
        return mask_pii(value)[0] if find_pii(value) else value
    if isinstance(value, dict):
        return {mask_json(k): mask_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_json(v) for v in value]
    return value
