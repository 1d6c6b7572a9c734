"""Order numbers: "订单号2026110001", "order #2026110001", or a bare run of 10+ digits."""

from __future__ import annotations

import re

from taskbot.nlu.extractors.base import Found

_KEYWORD = (
    r"(?:订单(?:号码|编号|号)?|单号|运单号|物流单号|快递单号"
    r"|order(?:\s*(?:number|no\.?|id|num))?\s*(?:is\s*)?#?|#)"
)
_ANCHORED = re.compile(rf"{_KEYWORD}\s*(?:是|为)?\s*[:：#]?\s*([A-Za-z]{{0,4}}\d[\dA-Za-z-]{{5,31}})(?![A-Za-z0-9-])", re.IGNORECASE)
_BARE = re.compile(r"(?<![A-Za-z0-9-])([A-Za-z]{0,4}\d{10,24})(?![A-Za-z0-9-])")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def find_order_ids(text: str) -> list[Found]:
    """Order ids, upper-cased. A bare 11-digit run shaped like a mobile number is left to the phone slot."""
    out: list[Found] = []
    anchored_spans: list[tuple[int, int]] = []
    for m in _ANCHORED.finditer(text):
        value = m.group(1).upper()
        if sum(ch.isdigit() for ch in value) < 6:
            continue
        out.append(Found(value, m.group(0), m.start(), m.end(), "order_id", anchored=True))
        anchored_spans.append(m.span(1))
    for m in _BARE.finditer(text):
        if any(s <= m.start(1) < e for s, e in anchored_spans):
            continue
        if _MOBILE.fullmatch(m.group(1)):
            continue
        out.append(Found(m.group(1).upper(), m.group(0), m.start(1), m.end(1), "order_id"))
    return out
