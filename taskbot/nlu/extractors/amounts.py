"""Money amounts: "500元", "五百块", "¥1,299.00", "$20", "20 dollars", "三百二十块五".

The value is the number alone in canonical form ("1299", "20.5"): the shop's currency is known
to the tenant, and actions compare numbers.
"""

from __future__ import annotations

import re
from decimal import Decimal

from taskbot.nlu.extractors.base import Found
from taskbot.nlu.extractors.numbers import AR_NUMBER, CN_DIGITS, NUMBER, canonical, to_decimal

_PREFIX = re.compile(rf"(?:[¥￥$]|RMB|CNY|USD|US\$)\s?({AR_NUMBER})(?!\d)", re.IGNORECASE)
_SUFFIX = re.compile(
    rf"(?<![\d.,])({NUMBER})\s?"
    rf"(?:(元|块钱?|圆)([{CN_DIGITS}\d])?(?:角|毛)?钱?"
    r"|(?:rmb|cny|yuan|dollars?|bucks|usd)\b)",
    re.IGNORECASE,
)


def find_amounts(text: str) -> list[Found]:
    out: list[Found] = []
    for m in _PREFIX.finditer(text):
        value = to_decimal(m.group(1))
        if value is not None:
            out.append(Found(canonical(value), m.group(0), m.start(), m.end(), "amount"))
    for m in _SUFFIX.finditer(text):
        value = to_decimal(m.group(1))
        if value is None:
            continue
        if m.group(3):  # "三百二十块五" = 320.5: a digit after 块/元 counts tenths
            tenths = to_decimal(m.group(3))
            if tenths is not None and tenths < 10:
                value += tenths / Decimal(10)
        out.append(Found(canonical(value), m.group(0), m.start(), m.end(), "amount"))
    return out
