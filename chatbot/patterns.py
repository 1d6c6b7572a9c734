"""The first layer of the cascade: regex/keyword patterns with reply variants (zh/en).

Patterns answer the small talk that must never go wrong or slow (greetings, thanks, goodbyes) with
replies the operator wrote. A rule answers outright only when it covers most of the message, so
"你好，我要退货" goes to the task bot and not to the greeting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

log = logging.getLogger(__name__)

SHIPPED = Path(__file__).parent / "data" / "patterns.yml"
DEMO = Path(__file__).resolve().parents[1] / "csbot" / "demo" / "data" / "chitchat_patterns.yml"
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)


class PatternSpec(BaseModel):
    """One rule as written in YAML or stored in `chat_patterns`."""

    name: str
    lang: str = "zh"
    patterns: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    replies: list[str] = Field(default_factory=list)
    enabled: bool = True


@dataclass(frozen=True)
class PatternRule:
    name: str
    lang: str
    regexes: tuple[re.Pattern[str], ...]
    keywords: tuple[str, ...]
    replies: tuple[str, ...]


@dataclass(frozen=True)
class PatternMatch:
    name: str
    lang: str
    replies: tuple[str, ...]
    #: share of the message's letters the match covers (1.0 = the whole message)
    coverage: float
    matched: str

    def reply(self, seed: int, bot_name: str, shop_name: str = "") -> str:
        text = self.replies[seed % len(self.replies)].replace("{bot_name}", bot_name)
        return text.replace("{shop_name}", shop_name) if shop_name else text


def _letters(text: str) -> int:
    return len(_PUNCT.sub("", text))


@dataclass
class PatternSet:
    rules: list[PatternRule] = field(default_factory=list)

    def match(self, text: str, lang: str) -> PatternMatch | None:
        """The best-covering rule of `lang` (then of any language) matching `text`."""
        query = text.strip().lower()
        total = max(_letters(query), 1)
        best: PatternMatch | None = None
        for rule in self.rules:
            hit = ""
            for rx in rule.regexes:
                m = rx.search(query)
                if m and len(m.group(0)) > len(hit):
                    hit = m.group(0)
            for kw in rule.keywords:
                if kw.lower() in query and len(kw) > len(hit):
                    hit = kw
            if not hit:
                continue
            coverage = min(1.0, _letters(hit) / total)
            if rule.lang != lang:
                coverage *= 0.8  # a greeting in the other language still counts, a little less
            if best is None or coverage > best.coverage:
                best = PatternMatch(rule.name, rule.lang, rule.replies, coverage, hit)
        return best


def read_specs(path: Path) -> list[PatternSpec]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of patterns")
    return [PatternSpec.model_validate(item) for item in data]


def shipped_specs() -> list[PatternSpec]:
    """The shipped rules, then the demo data's rules (which override shipped ones by name and lang)."""
    specs = read_specs(SHIPPED)
    if DEMO.exists():
        try:
            specs = merge_specs(specs, read_specs(DEMO))
        except (ValueError, yaml.YAMLError) as exc:
            log.warning("ignoring %s: %s", DEMO, exc)
    return specs


def merge_specs(base: Iterable[PatternSpec], overrides: Iterable[PatternSpec]) -> list[PatternSpec]:
    merged = {(s.name, s.lang): s for s in base}
    for s in overrides:
        merged[(s.name, s.lang)] = s
    return list(merged.values())


def compile_specs(specs: Iterable[PatternSpec]) -> PatternSet:
    """Compile enabled rules; a bad regex from a tenant disables that rule, not the bot."""
    rules: list[PatternRule] = []
    for s in specs:
        if not s.enabled or not s.replies:
            continue
        try:
            regexes = tuple(re.compile(p, re.IGNORECASE) for p in s.patterns)
        except re.error as exc:
            log.warning("pattern %s/%s has a bad regex (%s): skipped", s.name, s.lang, exc)
            continue
        rules.append(PatternRule(s.name, s.lang, regexes, tuple(k for k in s.keywords if k), tuple(s.replies)))
    return PatternSet(rules)
