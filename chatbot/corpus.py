"""The (message, reply) pairs that retrieval chitchat answers from.

Shipped: our own customer-service small talk (chatbot/data/chitchat_*.jsonl), the demo data's pairs
when present, and the Chinese and English files of the chatterbot corpus (BSD-3-Clause, by Gunther
Cox and contributors: github.com/gunthercox/chatterbot-corpus). Only the small-talk categories of
that corpus are used; politics, history and the like have no place in a customer-service bot.
Tenants add their own pairs (table `chat_pairs`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

DATA = Path(__file__).parent / "data"
DEMO_PAIRS = Path(__file__).resolve().parents[1] / "csbot" / "demo" / "data" / "chitchat_pairs.jsonl"
CHATTERBOT_FILES = ("ai", "conversations", "emotion", "food", "greetings", "humor", "psychology")
CHATTERBOT_LANGS = {"chinese": "zh", "english": "en"}


@dataclass(frozen=True)
class Pair:
    message: str
    reply: str
    lang: str
    origin: str


def read_jsonl(path: Path, origin: str) -> list[Pair]:
    """Rows `{"message", "reply", "lang", "paraphrases"?}`; each paraphrase is indexed as a message of
    its own with the same reply, so a customer's wording is compared with several known wordings."""
    pairs: list[Pair] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            lang, reply = str(row.get("lang", "zh")), str(row["reply"])
            messages = [row["message"], *row.get("paraphrases", [])]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{n}: expected {{\"message\", \"reply\", \"paraphrases\"?}} ({exc!r})") from exc
        pairs += [Pair(str(m), reply, lang, origin) for m in messages]
    return pairs


def chatterbot_pairs() -> list[Pair]:
    """Consecutive lines of each small-talk conversation as (message, reply)."""
    spec = find_spec("chatterbot_corpus")
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations))) / "data"
    pairs: list[Pair] = []
    for folder, lang in CHATTERBOT_LANGS.items():
        for name in CHATTERBOT_FILES:
            path = root / folder / f"{name}.yml"
            if not path.exists():
                continue
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for conv in data.get("conversations", []):
                lines = [str(x).strip() for x in conv if isinstance(x, str | int | float) and str(x).strip()]
                for a, b in zip(lines, lines[1:], strict=False):
                    pairs.append(Pair(a, b, lang, f"chatterbot/{folder}/{name}"))
    return pairs


def shipped_pairs() -> list[Pair]:
    pairs: list[Pair] = []
    for path in sorted(DATA.glob("chitchat_*.jsonl")):
        pairs += read_jsonl(path, f"csbot/{path.name}")
    if DEMO_PAIRS.exists():
        try:
            pairs += read_jsonl(DEMO_PAIRS, "demo")
        except (ValueError, KeyError) as exc:
            log.warning("ignoring %s: %s", DEMO_PAIRS, exc)
    pairs += chatterbot_pairs()
    return dedupe(pairs)


def dedupe(pairs: Iterable[Pair]) -> list[Pair]:
    seen: set[tuple[str, str]] = set()
    out: list[Pair] = []
    for p in pairs:
        key = (p.message, p.reply)
        if key not in seen and p.message and p.reply:
            seen.add(key)
            out.append(p)
    return out
