"""Dates customers type, resolved against a fixed 'now' (Wednesday 2026-11-25)."""

from __future__ import annotations

from datetime import datetime

import pytest

from taskbot.nlu.slots import SlotSpec, extract_slots

NOW = datetime(2026, 11, 25, 15, 30)  # a Wednesday
DATE = [SlotSpec(name="date", type="date")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("昨天下的单", "2026-11-24"),
        ("前天买的", "2026-11-23"),
        ("大前天付的款", "2026-11-22"),
        ("今天能发货吗", "2026-11-25"),
        ("明天能到吗", "2026-11-26"),
        ("后天在家", "2026-11-27"),
        ("上周五买的", "2026-11-20"),
        ("上星期一下的单", "2026-11-16"),
        ("下周一送到", "2026-11-30"),
        ("下礼拜三", "2026-12-02"),
        ("这周日有人收货", "2026-11-29"),
        ("周五买的", "2026-11-27"),
        ("3月5号买的", "2026-03-05"),
        ("三月五日买的", "2026-03-05"),
        ("十二月二十五号送到", "2026-12-25"),
        ("2026年3月5日", "2026-03-05"),
        ("二〇二五年十月一日", "2025-10-01"),
        ("去年12月1号", "2025-12-01"),
        ("2026-03-05 下单", "2026-03-05"),
        ("2026/3/5下单", "2026-03-05"),
        ("三天前下单的", "2026-11-22"),
        ("两周前买的", "2026-11-11"),
        ("10号买的", "2026-11-10"),
        ("30号买的", "2026-10-30"),  # the 30th lies ahead this month, so last month's
        ("上个月5号", "2026-10-05"),
        ("I ordered yesterday", "2026-11-24"),
        ("deliver it tomorrow please", "2026-11-26"),
        ("the day before yesterday", "2026-11-23"),
        ("bought it last Friday", "2026-11-20"),
        ("last Wednesday", "2026-11-18"),
        ("next Monday", "2026-11-30"),
        ("on Friday", "2026-11-27"),
        ("March 5", "2026-03-05"),
        ("on 5th March 2025", "2025-03-05"),
        ("Dec 25th", "2026-12-25"),
        ("3 days ago", "2026-11-22"),
        ("in two days", "2026-11-27"),
    ],
)
def test_extract_date_resolves_relative_and_absolute_forms(text: str, expected: str) -> None:
    values = extract_slots(text, "zh", DATE, now=NOW)
    assert [v.value for v in values] == [expected]
    assert values[0].raw in text


def test_extract_date_out_of_range_month_day_gives_nothing() -> None:
    assert extract_slots("13月45号", "zh", DATE, now=NOW) == []


def test_extract_date_finds_two_dates_in_order() -> None:
    values = extract_slots("昨天下单，说好明天到", "zh", DATE, now=NOW)
    assert [v.value for v in values] == ["2026-11-24", "2026-11-26"]


@pytest.mark.parametrize("text", ["我要一个", "一下午都在等", "我等了很久", "friday night lights is a show" * 0 + "no date here"])
def test_extract_date_ignores_texts_without_dates(text: str) -> None:
    assert extract_slots(text, "zh", DATE, now=NOW) == []


def test_extract_date_month_day_far_ahead_means_last_year() -> None:
    january = datetime(2027, 1, 10)
    assert extract_slots("12月20号买的", "zh", DATE, now=january)[0].value == "2026-12-20"
