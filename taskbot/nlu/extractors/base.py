"""The shared result of every extractor before it becomes a named `SlotValue`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Found:
    """A value found at text[start:end]; `anchored` = introduced by a keyword ("订单号", "order #")."""

    value: str
    raw: str
    start: int
    end: int
    extractor: str
    anchored: bool = False
