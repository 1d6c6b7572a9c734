"""Slot extraction: find the values a task needs (order id, phone, date, amount, address...) in a text.

One extractor per slot type lives in `taskbot.nlu.extractors`; this module runs the ones a domain
asks for and settles overlaps, so that "13812345678" is not both a phone and an order number.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime

from taskbot.nlu.extractors import addresses, amounts, contact, dates, lexicon, numbers, order_ids
from taskbot.nlu.extractors.base import Found
from taskbot.nlu.types import SlotSpec, SlotType, SlotValue

log = logging.getLogger(__name__)

__all__ = ["SlotSpec", "SlotValue", "extract_slots"]


def extract_slots(
    text: str,
    lang: str,
    spec: list[SlotSpec],
    *,
    now: datetime | None = None,
    lexicon: dict[str, list[str]] | None = None,
) -> list[SlotValue]:
    """All values for the slots in `spec` found in `text`, in text order.

    Args:
        text: the (normalised) utterance.
        lang: "zh" or "en"; both languages' patterns run, `lang` only breaks ties of ambiguous forms.
        spec: the slots to look for; a slot with `pattern` uses that regex instead of its type's extractor.
        now: reference time for relative dates ("昨天", "last Friday"); defaults to the current time.
        lexicon: product names, canonical name -> aliases, for `product` slots.

    Returns:
        Non-overlapping slot values; where two slots claim the same characters, the value found with a
        keyword anchor ("订单号…") wins, then the longer one, then the slot listed first in `spec`.
    """
    ref = now or datetime.now()
    candidates: list[tuple[int, Found, SlotSpec]] = []
    for order, slot in enumerate(spec):
        try:
            found = _run(slot, text, lang, ref, lexicon)
        except re.error as exc:  # a tenant's bad pattern must not break the turn
            log.warning("slot %s: bad pattern %r: %s", slot.name, slot.pattern, exc)
            continue
        candidates.extend((order, f, slot) for f in found)
    candidates.sort(key=lambda c: (-c[1].anchored, -(c[1].end - c[1].start), c[0], c[1].start))
    taken: list[tuple[int, int]] = []
    out: list[SlotValue] = []
    for _, f, slot in candidates:
        if any(f.start < e and s < f.end for s, e in taken):
            continue
        taken.append((f.start, f.end))
        out.append(
            SlotValue(name=slot.name, value=f.value, raw=f.raw, start=f.start, end=f.end, extractor=f.extractor)
        )
    out.sort(key=lambda v: (v.start, v.name))
    return out


def _run(
    slot: SlotSpec, text: str, lang: str, now: datetime, lex: dict[str, list[str]] | None
) -> list[Found]:
    if slot.pattern:
        return _by_pattern(slot.pattern, text)
    return _EXTRACTORS[slot.type](text, lang, now, slot, lex)


def _by_pattern(pattern: str, text: str) -> list[Found]:
    out = []
    for m in re.finditer(pattern, text, re.IGNORECASE):
        group = 1 if m.re.groups and m.group(1) is not None else 0
        if m.end(group) > m.start(group):
            out.append(Found(m.group(group), m.group(0), m.start(), m.end(), "pattern", anchored=True))
    return out


def _no_free_text(text: str, lang: str, now: datetime, slot: SlotSpec, lex: object) -> list[Found]:
    # a free-text slot (e.g. a complaint) has no shape to look for: the state tracker fills it
    # with the whole answer when the bot has just asked for it
    return []


Extractor = Callable[[str, str, datetime, SlotSpec, dict[str, list[str]] | None], list[Found]]

_EXTRACTORS: dict[SlotType, Extractor] = {
    "order_id": lambda t, lang, now, s, lex: order_ids.find_order_ids(t),
    "phone": lambda t, lang, now, s, lex: contact.find_phones(t),
    "email": lambda t, lang, now, s, lex: contact.find_emails(t),
    "date": lambda t, lang, now, s, lex: dates.find_dates(t, now, lang=lang),
    "amount": lambda t, lang, now, s, lex: amounts.find_amounts(t),
    "address": lambda t, lang, now, s, lex: addresses.find_addresses(t),
    "product": lambda t, lang, now, s, lex: lexicon.find_terms(t, lex or {}, extractor="product_lexicon"),
    "enum": lambda t, lang, now, s, lex: lexicon.find_terms(t, lexicon.enum_lexicon(s.values), extractor="enum"),
    "number": lambda t, lang, now, s, lex: numbers.find_numbers(t),
    "text": _no_free_text,
}
