"""Arabic and Chinese numerals ("1,299.00", "五百", "两千三", "二〇二六") to numbers.

Conversion of a Chinese numeral run is left to `cn2an`; this module only finds the runs and keeps
their positions in the original text, which `cn2an.transform` would lose.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import cn2an

from taskbot.nlu.extractors.base import Found

CN_DIGITS = "零〇一二两三四五六七八九十百千万亿幺"
#: a Chinese numeral run (with an optional decimal part: "三点五")
CN_NUMBER = rf"[{CN_DIGITS}]+(?:点[{CN_DIGITS}]+)?"
#: an Arabic number with optional thousands separators and decimals
AR_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
NUMBER = rf"(?:{AR_NUMBER}|{CN_NUMBER})"

_NUMBER_RX = re.compile(rf"(?<![\d.,]){NUMBER}(?![\d])")
#: a lone "一" in "一下", "一起", "一直" is no number
_NOT_NUMBERS = {"一", "万", "亿", "点", "十万", "零"}


def to_decimal(raw: str) -> Decimal | None:
    """'1,299.00' -> 1299.00, '五百' -> 500, '两千三' -> 2300; None when it is not a number."""
    raw = raw.strip()
    if not raw:
        return None
    if raw[0].isdigit():
        try:
            return Decimal(raw.replace(",", ""))
        except InvalidOperation:
            return None
    try:
        value = cn2an.cn2an(raw, "smart")
    except (ValueError, KeyError):
        return None
    return Decimal(str(value))


def canonical(value: Decimal) -> str:
    """'1299.00' -> '1299', '20.50' -> '20.5': one spelling per number for slot values."""
    text = format(value.normalize(), "f")
    return text


def to_int(raw: str) -> int | None:
    value = to_decimal(raw)
    if value is None or value != value.to_integral_value():
        return None
    return int(value)


def find_numbers(text: str) -> list[Found]:
    """Every number in the text, Arabic or Chinese."""
    out: list[Found] = []
    for m in _NUMBER_RX.finditer(text):
        raw = m.group(0)
        if raw in _NOT_NUMBERS:
            continue
        value = to_decimal(raw)
        if value is not None:
            out.append(Found(canonical(value), raw, m.start(), m.end(), "number"))
    return out
