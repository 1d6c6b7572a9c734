"""Reading and splitting intent data (JSONL `{"text", "intent"}`, one example a line)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path

from taskbot.nlu.types import IntentExample


def read_jsonl(path: Path) -> list[IntentExample]:
    """Examples from a JSONL file; blank lines are skipped, a malformed line is an error with its number."""
    out: list[IntentExample] = []
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(IntentExample.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{no}: {exc}") from exc
    return out


def write_jsonl(path: Path, examples: list[IntentExample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(ex.model_dump(exclude_none=True), ensure_ascii=False) + "\n")


def stratified_split(
    examples: list[IntentExample], fraction: float, *, seed: int = 0
) -> tuple[list[IntentExample], list[IntentExample]]:
    """(rest, held_out): about `fraction` of each intent held out; intents with < 3 examples stay whole."""
    by_intent: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        by_intent[ex.intent].append(i)
    rng = random.Random(seed)
    held: set[int] = set()
    for idx in by_intent.values():
        if len(idx) < 3:
            continue
        k = max(1, round(len(idx) * fraction))
        held.update(rng.sample(idx, k))
    rest = [ex for i, ex in enumerate(examples) if i not in held]
    out = [ex for i, ex in enumerate(examples) if i in held]
    return rest, out
