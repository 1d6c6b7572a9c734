"""What the simulated customers say: FAQ, task and chitchat conversations built from the demo tenant's data.

Kept free of locust and gevent so that `run.py` and the tests can import it.

Realism, stated plainly:
- FAQ: a customer asks 1-3 questions in one conversation, drawn from the standard questions and the
  paraphrases the demo FAQ lists for them (5 per item), and from the held-out evaluation queries.
  Half of them get a small variation a person would type ("请问", "你好，", "呢", a trailing "?"),
  so not every repeated question is an exact answer-cache hit.
- Task: read-only shop tasks on the seeded orders (order status, logistics), one or two turns,
  sometimes ending with a thank-you; nothing that changes the shop's data, so runs are repeatable.
- Chitchat: greetings, thanks and small talk from the demo's chitchat patterns and pairs.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from csbot.demo import loader

#: orders the demo shop seeds (csbot/demo/shop_seed.py: 2026110001 onward, 40 orders)
ORDER_IDS = [str(2026110001 + i) for i in range(40)]
KINDS = ("faq", "task", "chat")

_ZH_PREFIX = ["请问", "你好，", "想问下", "咨询一下，"]
_ZH_SUFFIX = ["呢", "？", "啊", "呀"]
_EN_PREFIX = ["hi, ", "quick question: ", "hello, "]
_EN_SUFFIX = ["?", " please", " thanks"]

_CHAT_FIXED = ["你好", "您好", "谢谢", "好的谢谢", "再见", "在吗", "你是机器人吗", "哈哈哈", "hello", "thanks", "bye"]


@dataclass(frozen=True)
class Corpus:
    faq: list[tuple[str, str]]  # (text, lang)
    chat: list[str]


def load_corpus(faq_path: Path | None = None) -> Corpus:
    """Questions of the FAQ file the server imported (so a `--faq-limit` subset asks only what it knows)."""
    items = loader.load_faq(faq_path)
    ids = {i.id for i in items}
    shop = "小智商城"
    faq: list[tuple[str, str]] = []
    for item in items:
        for q in [item.question, *item.similar]:
            faq.append((q.replace("{shop_name}", shop if item.lang == "zh" else "SmartMall"), item.lang))
    if faq_path is None or faq_path == loader.demo_path("faq.jsonl"):
        for ev in loader.load_faq_eval():
            if ev.expected in ids:
                faq.append((ev.query, "en" if ev.query.isascii() else "zh"))
    chat = list(_CHAT_FIXED) + [p.message for p in loader.load_chitchat_pairs()]
    return Corpus(faq=faq, chat=chat)


def _vary(text: str, lang: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return text
    if lang == "en":
        return rng.choice(_EN_PREFIX) + text.rstrip("?") + rng.choice(_EN_SUFFIX)
    return rng.choice(_ZH_PREFIX) + text.rstrip("？?") + rng.choice(_ZH_SUFFIX)


def conversation(kind: str, corpus: Corpus, rng: random.Random) -> list[str]:
    """The messages of one conversation of `kind`, in order."""
    if kind == "faq":
        return [_vary(*rng.choice(corpus.faq), rng) for _ in range(rng.choice((1, 1, 2, 3)))]
    if kind == "task":
        order = rng.choice(ORDER_IDS)
        script = rng.choice([
            ["帮我查一下订单状态", order],
            ["我的快递到哪了", f"订单号 {order}"],
            [f"我的订单{order}到哪了"],
            [f"查一下订单{order}的物流"],
        ])
        return script + (["谢谢"] if rng.random() < 0.3 else [])
    if kind == "chat":
        return [rng.choice(corpus.chat) for _ in range(rng.choice((1, 2, 2, 3)))]
    raise ValueError(f"unknown conversation kind {kind!r}; expected one of {', '.join(KINDS)}")


def parse_mix(spec: str) -> dict[str, float]:
    """`faq`, `all`, or weights such as `faq=6,task=2,chat=2` -> normalised weights."""
    if spec == "all":
        spec = "faq=6,task=2,chat=2"
    weights: dict[str, float] = {}
    for part in spec.split(","):
        name, _, w = part.strip().partition("=")
        if name not in KINDS:
            raise ValueError(f"--mix: unknown conversation kind {name!r} in {spec!r}; use {', '.join(KINDS)} or all")
        try:
            weights[name] = float(w) if w else 1.0
        except ValueError:
            raise ValueError(f"--mix: weight {w!r} of {name} is not a number") from None
        if weights[name] < 0:
            raise ValueError(f"--mix: weight of {name} is negative")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"--mix {spec!r}: weights sum to zero")
    return {k: v / total for k, v in weights.items()}


def dump_config(path: Path, **values: object) -> None:
    path.write_text(json.dumps(values, ensure_ascii=False))
