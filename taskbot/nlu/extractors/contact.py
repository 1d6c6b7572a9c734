"""Mainland China phone numbers (mobile and landline) and e-mail addresses."""

from __future__ import annotations

import re

from taskbot.nlu.extractors.base import Found

# mobile: 1[3-9]x xxxx xxxx, optionally +86 and separated by spaces or dashes
_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
# landline: area code 0xx(x) then 7-8 digits; a separator is required so that long order numbers
# starting with 0 are not taken for phones
_LANDLINE = re.compile(r"(?<![\d-])(?:\(?(0\d{2,3})\)?[\s-])(\d{7,8})(?:-(\d{1,5}))?(?!\d)")
# deliberately simpler than RFC 5322: customers type plain addresses, and a permissive pattern
# would swallow surrounding punctuation
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])")


def find_phones(text: str) -> list[Found]:
    """Mobile numbers as 11 digits ('13812345678'), landlines as '010-12345678'."""
    out = [
        Found("".join(m.groups()), m.group(0), m.start(), m.end(), "phone")
        for m in _MOBILE.finditer(text)
    ]
    for m in _LANDLINE.finditer(text):
        value = f"{m.group(1)}-{m.group(2)}" + (f"-{m.group(3)}" if m.group(3) else "")
        out.append(Found(value, m.group(0), m.start(), m.end(), "phone"))
    return out


def find_emails(text: str) -> list[Found]:
    """E-mail addresses, lower-cased."""
    return [Found(m.group(0).lower(), m.group(0), m.start(), m.end(), "email") for m in _EMAIL.finditer(text)]
