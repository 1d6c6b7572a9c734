"""Postal addresses: Chinese ones through `cpca` (province / city / district gazetteer), English by pattern.

`cpca` (the maintained `cpca-new` fork, which ships its own administrative-division table and
needs no download) recognises "上海浦东新区", "杭州西湖区" and fills in the province and city; the
street part after the district is kept as typed, up to the end of the clause.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

from taskbot.nlu.extractors.base import Found

_CLAUSE_END = re.compile(r"[，,。！!？?；;\s]|谢谢|麻烦|可以吗|行吗|好吗|吧")
#: what a detail part is made of: something like a street plus a house number
_DETAIL = re.compile(r"\S*?(?:路|街|道|巷|弄|村|镇|乡|小区|大厦|广场|园|苑|号|栋|幢|楼|室|单元)")
_EN_ADDRESS = re.compile(
    r"\b\d{1,6}\s+(?:[A-Z][A-Za-z]*\.?\s+){1,4}"
    r"(?:Street|St|Road|Rd|Avenue|Ave|Boulevard|Blvd|Lane|Ln|Drive|Dr|Way|Court|Ct|Place|Pl)\b\.?"
    r"(?:,?\s+(?:Apt|Suite|Unit)\.?\s*\w+)?(?:,\s*[A-Z][A-Za-z]+(?:\s[A-Z][A-Za-z]+)*)?(?:,\s*[A-Z]{2}\s*\d{5})?"
)


@lru_cache(maxsize=1)
def _cpca() -> Any:
    import cpca_new  # imported late: it builds its gazetteer (~0.5 s, pandas) on import

    return cpca_new


def find_addresses(text: str) -> list[Found]:
    out = _chinese(text)
    out.extend(
        Found(m.group(0).strip(), m.group(0), m.start(), m.end(), "address_pattern")
        for m in _EN_ADDRESS.finditer(text)
    )
    return out


def _chinese(text: str) -> list[Found]:
    if not any("\u4e00" <= ch <= "\u9fff" for ch in text):
        return []
    row = _cpca().transform([text], pos_sensitive=True).iloc[0].to_dict()
    positions = [int(row[k]) for k in ("省_pos", "市_pos", "区_pos") if _present(row.get(k)) and int(row[k]) >= 0]
    if not positions:
        return []
    start = min(positions)
    detail = row.get("地址") if _present(row.get("地址")) else ""
    tail_at = text.find(detail, start) if detail else -1
    if tail_at < 0:
        # only province/city/district named: the address ends with the last of them
        names = [(int(row[k]), str(row[n])) for n, k in (("省", "省_pos"), ("市", "市_pos"), ("区", "区_pos"))
                 if _present(row.get(k)) and int(row[k]) >= 0]
        end = max(pos + _surface_len(text, pos, name) for pos, name in names)
        detail_part = ""
    else:
        cut = _CLAUSE_END.search(text, tail_at)
        end = cut.start() if cut else len(text)
        detail_part = text[tail_at:end]
        if not _DETAIL.match(detail_part):
            end = tail_at  # "上海的天气" is a place name, not an address detail
            detail_part = ""
    if end <= start:
        return []
    levels = [str(row[n]) for n in ("省", "市", "区") if _present(row.get(n))]
    value = "".join(dict.fromkeys(x for x in levels if x != "市辖区")) + detail_part
    # a lone city name ("北京") is rarely an address; demand a district or a street detail
    if not (_present(row.get("区")) or detail_part):
        return []
    return [Found(value, text[start:end], start, end, "cpca")]


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value != ""


def _surface_len(text: str, pos: int, name: str) -> int:
    """Length of the name as typed: "浦东新区" in full, "朝阳" where the customer left out "区"."""
    n = len(name)
    while n > 1 and not text.startswith(name[:n], pos):
        n -= 1
    return n
