"""Keyword / regex intent rules: a tenant's bot works from the first minute, before any training.

Each intent lists regexes; the intent whose patterns cover most of the text wins. It is also the
fallback when no trained model is registered, and a way to pin down intents a model gets wrong.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any, Self

from taskbot.nlu.types import OOS_LABEL, IntentExample, IntentPrediction, TrainReport

ARTEFACT_FILE = "rules.json"


class RuleIntentClassifier:
    """Intent = the intent whose regexes match the longest stretch of the text; no match = out of scope.

    Confidence is deliberately coarse (a rule either fires or not): 0.9 for one matching intent,
    lower when several intents match, so the router's shared score scale still means something.
    """

    name = "rules"

    def __init__(self, rules: dict[str, list[str]] | None = None, *, flags: int = re.IGNORECASE) -> None:
        self.rules = dict(rules or {})
        self.flags = flags
        self._compiled: dict[str, list[re.Pattern[str]]] | None = None

    def _patterns(self) -> dict[str, list[re.Pattern[str]]]:
        if self._compiled is None:
            self._compiled = {
                intent: [re.compile(p, self.flags) for p in patterns] for intent, patterns in self.rules.items()
            }
        return self._compiled

    def fit(self, examples: list[IntentExample]) -> TrainReport:
        """Rules are not learned; fitting checks that every example's intent has rules (and compiles them)."""
        start = time.perf_counter()
        self._compiled = None
        patterns = self._patterns()
        known = {e.intent for e in examples if e.intent != OOS_LABEL}
        missing = sorted(known - set(patterns))
        preds = self.predict([e.text for e in examples]) if examples else []
        hits = sum(1 for e, p in zip(examples, preds, strict=True) if (p.intent or OOS_LABEL) == e.intent)
        return TrainReport(
            classifier=self.name,
            n_examples=len(examples),
            intents=sorted(patterns),
            train_s=time.perf_counter() - start,
            dev_metrics={"train_accuracy": hits / len(examples)} if examples else {},
            details={"intents_without_rules": missing},
        )

    def predict(self, texts: list[str]) -> list[IntentPrediction]:
        patterns = self._patterns()
        out: list[IntentPrediction] = []
        for text in texts:
            cover: dict[str, int] = {}
            for intent, regexes in patterns.items():
                spans = [m.span() for rx in regexes for m in rx.finditer(text) if m.end() > m.start()]
                if spans:
                    cover[intent] = _covered(spans)
            if not cover:
                out.append(IntentPrediction(intent=None, confidence=0.0, ranking=[]))
                continue
            ranked = sorted(cover.items(), key=lambda kv: (-kv[1], kv[0]))
            top, top_len = ranked[0]
            runner_up = ranked[1][1] if len(ranked) > 1 else 0
            # a clear winner is trusted; a near tie is "can help, not sure"
            conf = 0.9 if runner_up == 0 else round(0.5 + 0.4 * (top_len - runner_up) / top_len, 4)
            total = sum(cover.values())
            ranking = [(intent, round(n / total, 4)) for intent, n in ranked[:5]]
            out.append(IntentPrediction(intent=top, confidence=conf, ranking=ranking))
        return out

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / ARTEFACT_FILE).write_text(
            json.dumps({"kind": self.name, "rules": self.rules}, ensure_ascii=False, indent=1), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: Path, **deps: Any) -> Self:
        data = json.loads((path / ARTEFACT_FILE).read_text(encoding="utf-8"))
        return cls(data["rules"])


def _covered(spans: list[tuple[int, int]]) -> int:
    """Number of characters covered by the union of spans."""
    total, cur_start, cur_end = 0, -1, -1
    for s, e in sorted(spans):
        if s > cur_end:
            total += max(0, cur_end - cur_start)
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    return total + max(0, cur_end - cur_start)
