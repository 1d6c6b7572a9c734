"""Dates, absolute and relative, Chinese and English, resolved against a reference time.

Hand-written on purpose: the date libraries on PyPI either parse a whole string as one date
(dateutil, dateparser) instead of finding dates inside a sentence, or do not know the Chinese
relative forms customers use ("上周五", "大前天", "三天前"). The forms are few and tested by a
case table in tests/taskbot/nlu/test_dates.py.

Conventions: "上周五" is Friday of the previous calendar week (weeks start on Monday), "周五" is
Friday of this week, "下周五" of the next. English "last Friday" is the latest Friday before
today, "next Friday" the first after today, a bare "Friday" the one of this week. A month and day
without a year ("3月5号") take the reference year, unless that lies more than half a year ahead,
then the previous year (customers talk about past orders more than about far future ones).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from taskbot.nlu.extractors.base import Found
from taskbot.nlu.extractors.numbers import CN_DIGITS, to_int

_N = rf"(?:\d{{1,2}}|[{CN_DIGITS}]{{1,3}})"
_YEAR = rf"(?:(\d{{4}}|[{CN_DIGITS}]{{4}}|\d{{2}})年|(今年|去年|明年|前年))"

_RELATIVE_DAYS = {
    "大前天": -3, "前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0, "当天": 0,
    "明天": 1, "明日": 1, "后天": 2, "大后天": 3,
    "day before yesterday": -2, "yesterday": -1, "today": 0, "tonight": 0,
    "day after tomorrow": 2, "tomorrow": 1,
}
_YEAR_WORDS = {"前年": -2, "去年": -1, "今年": 0, "明年": 1}
_CN_WEEKDAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6, "末": 5}
_CN_WEEK_SHIFT = {"上上": -2, "上": -1, "这": 0, "本": 0, "": 0, "下": 1, "下下": 2}
_EN_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_EN_WEEKDAY_RX = r"(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|rsday|urday)?\.?"
_EN_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_EN_MONTH_RX = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)

_ISO = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_CN_FULL = re.compile(rf"{_YEAR}?\s*({_N})\s*月\s*(?:份\s*)?({_N})\s*[日号號]?")
_CN_DAY_ONLY = re.compile(rf"(?<![月\d{CN_DIGITS}])(本月|这个月|上个?月|下个?月)?({_N})\s*[号號](?![码])")
_CN_REL = re.compile("|".join(sorted((k for k in _RELATIVE_DAYS if not k.isascii()), key=len, reverse=True)))
_CN_WEEK = re.compile(r"(上上|下下|上|下|这|本)?(?:个)?(?:周|星期|礼拜)([一二三四五六日天末1-7])")
_CN_AGO = re.compile(rf"({_N})\s*(天|周|个?星期|个?礼拜|个?月)(前|以前|之前|后|以后|之后)")
_EN_REL = re.compile(
    r"\b(?:the\s+)?(" + "|".join(sorted((k for k in _RELATIVE_DAYS if k.isascii()), key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_EN_WEEK = re.compile(rf"\b(?:(last|next|this|on|past|coming)\s+)?{_EN_WEEKDAY_RX}(?![a-z])", re.IGNORECASE)
_EN_MONTH_DAY = re.compile(
    rf"\b{_EN_MONTH_RX}\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b", re.IGNORECASE
)
_EN_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_EN_MONTH_RX}(?:,?\s+(\d{{4}}))?\b", re.IGNORECASE)
_EN_AGO = re.compile(r"\b(\d{1,3}|a|one|two|three|four|five|six|seven)\s+(days?|weeks?)\s+ago\b", re.IGNORECASE)
_EN_IN = re.compile(r"\bin\s+(\d{1,3}|a|one|two|three|four|five|six|seven)\s+(days?|weeks?)\b", re.IGNORECASE)
_EN_SMALL = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}


def find_dates(text: str, now: datetime, *, lang: str = "zh") -> list[Found]:
    """Dates in the text as ISO strings ('2026-03-05'); overlapping forms keep the longest."""
    today = now.date()
    found: list[Found] = []

    def add(day: date | None, m: re.Match[str], start: int | None = None) -> None:
        if day is not None:
            s = m.start() if start is None else start
            found.append(Found(day.isoformat(), text[s : m.end()].strip(), s, m.end(), "date"))

    for m in _ISO.finditer(text):
        add(_safe_date(int(m.group(1)), int(m.group(2)), int(m.group(3))), m)
    for m in _CN_FULL.finditer(text):
        add(_cn_full(m, today), m)
    for m in _CN_DAY_ONLY.finditer(text):
        add(_cn_day_only(m, today), m)
    for m in _CN_REL.finditer(text):
        add(today + timedelta(days=_RELATIVE_DAYS[m.group(0)]), m)
    for m in _CN_WEEK.finditer(text):
        add(_cn_weekday(m, today), m)
    for m in _CN_AGO.finditer(text):
        add(_cn_ago(m, today), m)
    for m in _EN_REL.finditer(text):
        add(today + timedelta(days=_RELATIVE_DAYS[m.group(1).lower()]), m)
    for m in _EN_WEEK.finditer(text):
        add(_en_weekday(m, today), m)
    for m in _EN_MONTH_DAY.finditer(text):
        add(_month_day(_month_no(m.group(1)), int(m.group(2)), m.group(3), today), m)
    for m in _EN_DAY_MONTH.finditer(text):
        add(_month_day(_month_no(m.group(2)), int(m.group(1)), m.group(3), today), m)
    for m in _EN_AGO.finditer(text):
        add(_en_offset(m, today, sign=-1), m)
    for m in _EN_IN.finditer(text):
        add(_en_offset(m, today, sign=1), m)
    return _longest(found)


def _longest(found: list[Found]) -> list[Found]:
    found.sort(key=lambda f: (-(f.end - f.start), f.start))
    out: list[Found] = []
    for f in found:
        if not any(f.start < o.end and o.start < f.end for o in out):
            out.append(f)
    return sorted(out, key=lambda f: f.start)


def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year(raw: str | None, word: str | None, today: date) -> int | None:
    if word:
        return today.year + _YEAR_WORDS[word]
    if not raw:
        return None
    if raw[0].isdigit():
        year = int(raw)
        return year + 2000 if year < 100 else year
    # "二〇二六" is read digit by digit, not as a quantity
    digits = [to_int(ch if ch != "〇" else "零") for ch in raw]
    if any(d is None for d in digits):
        return None
    return int("".join(str(d) for d in digits))


def _month_day(month: int | None, day: int | None, year_raw: str | None, today: date) -> date | None:
    if month is None or day is None:
        return None
    year = int(year_raw) if year_raw else None
    if year is not None:
        return _safe_date(year, month, day)
    guess = _safe_date(today.year, month, day)
    if guess is not None and (guess - today).days > 183:
        return _safe_date(today.year - 1, month, day)
    return guess


def _cn_full(m: re.Match[str], today: date) -> date | None:
    year = _year(m.group(1), m.group(2), today)
    month, day = to_int(m.group(3)), to_int(m.group(4))
    if month is None or day is None:
        return None
    if year is not None:
        return _safe_date(year, month, day)
    return _month_day(month, day, None, today)


def _shift_month(today: date, months: int) -> tuple[int, int]:
    index = today.year * 12 + today.month - 1 + months
    return index // 12, index % 12 + 1


def _cn_day_only(m: re.Match[str], today: date) -> date | None:
    day = to_int(m.group(2))
    if day is None or not 1 <= day <= 31:
        return None
    which = m.group(1) or ""
    shift = -1 if which.startswith("上") else 1 if which.startswith("下") else 0
    year, month = _shift_month(today, shift)
    guess = _safe_date(year, month, day)
    if not which and guess is not None and guess > today + timedelta(days=3):
        # "5号买的" said on the 20th means this month; said on the 2nd it means last month
        year, month = _shift_month(today, -1)
        guess = _safe_date(year, month, day)
    return guess


def _cn_weekday(m: re.Match[str], today: date) -> date:
    raw_day = m.group(2)
    weekday = int(raw_day) - 1 if raw_day.isdigit() else _CN_WEEKDAYS[raw_day]
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(weeks=_CN_WEEK_SHIFT[m.group(1) or ""], days=weekday)


def _cn_ago(m: re.Match[str], today: date) -> date | None:
    n = to_int(m.group(1))
    if n is None:
        return None
    unit, direction = m.group(2), m.group(3)
    sign = -1 if "前" in direction else 1
    if unit == "天":
        return today + timedelta(days=sign * n)
    if unit.endswith("月"):
        year, month = _shift_month(today, sign * n)
        return _safe_date(year, month, min(today.day, 28)) if today.day > 28 else _safe_date(year, month, today.day)
    return today + timedelta(weeks=sign * n)


def _month_no(raw: str) -> int:
    return _EN_MONTHS.index(raw.lower()[:3]) + 1


def _en_weekday(m: re.Match[str], today: date) -> date | None:
    weekday = next(i for i, name in enumerate(_EN_WEEKDAYS) if name.startswith(m.group(2).lower()[:3]))
    which = (m.group(1) or "").lower()
    if which in ("last", "past"):
        delta = (today.weekday() - weekday) % 7 or 7
        return today - timedelta(days=delta)
    if which in ("next", "coming"):
        delta = (weekday - today.weekday()) % 7 or 7
        return today + timedelta(days=delta)
    return today - timedelta(days=today.weekday()) + timedelta(days=weekday)


def _en_offset(m: re.Match[str], today: date, *, sign: int) -> date:
    raw = m.group(1).lower()
    n = int(raw) if raw.isdigit() else _EN_SMALL[raw]
    days = n * (7 if m.group(2).lower().startswith("week") else 1)
    return today + timedelta(days=sign * days)
