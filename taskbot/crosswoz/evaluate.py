"""CrossWOZ DST evaluation as ConvLab-2 does it: after each user turn, the predicted state is compared
with the `sys_state_init` of the following system turn (`selectedResults` left out).

The tracker sees only text: the user's utterances and the system's previous utterances, never
the annotated dialogue acts or states.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel

from taskbot.crosswoz.lexicon import DEFAULT_DB_DIR, Lexicon
from taskbot.crosswoz.tracker import SLOTS, CrossWOZTracker, State

Dialogue = dict[str, object]


class DSTReport(BaseModel):
    n_dialogues: int
    n_turns: int
    joint_accuracy: float
    slot_accuracy: float
    slot_f1: float
    split: str = "all"


def load_dialogues(path: Path) -> dict[str, Dialogue]:
    """A CrossWOZ file: `.json` or a `.zip` holding one."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".json"))
            return json.loads(zf.read(name).decode("utf-8"))
    return json.loads(path.read_text(encoding="utf-8"))


def split_of(dialogue_id: str, dev_percent: int = 20) -> str:
    """Stable train/dev split by a hash of the dialogue id (never reshuffled)."""
    h = int(hashlib.md5(dialogue_id.encode()).hexdigest(), 16) % 100
    return "dev" if h < dev_percent else "train"


def gold_state(sys_state_init: dict[str, dict[str, object]]) -> State:
    return {d: {s: str(sys_state_init.get(d, {}).get(s, "") or "").strip() for s in slots} for d, slots in SLOTS.items()}


@dataclass
class TurnPair:
    dialogue_id: str
    turn: int
    user: str
    predicted: State
    gold: State


def track(dialogues: dict[str, Dialogue], tracker: CrossWOZTracker, progress: Callable[[Iterable[str]], Iterable[str]] | None = None) -> list[TurnPair]:
    out: list[TurnPair] = []
    ids: Iterable[str] = progress(list(dialogues)) if progress else list(dialogues)
    for did in ids:
        messages = cast(list[dict[str, Any]], dialogues[did]["messages"])
        state, ctx = tracker.new()
        last_user = ""
        for i, msg in enumerate(messages):
            if msg["role"] == "usr":
                state = tracker.update(state, ctx, msg["content"])
                last_user = msg["content"]
            else:
                out.append(TurnPair(did, i, last_user, state, gold_state(msg["sys_state_init"])))
                tracker.observe_system(state, ctx, msg["content"])
    return out


def score(pairs: list[TurnPair], n_dialogues: int, split: str = "all") -> DSTReport:
    joint = slots_ok = slots_total = 0
    tp = fp = fn = 0
    for p in pairs:
        all_ok = True
        for d, slots in SLOTS.items():
            for s in slots:
                pv, gv = _norm(p.predicted[d][s]), _norm(p.gold[d][s])
                slots_total += 1
                if pv == gv:
                    slots_ok += 1
                else:
                    all_ok = False
                if pv and gv and pv == gv:
                    tp += 1
                else:
                    fp += bool(pv)
                    fn += bool(gv)
        joint += all_ok
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return DSTReport(
        n_dialogues=n_dialogues,
        n_turns=len(pairs),
        joint_accuracy=round(joint / len(pairs), 4) if pairs else 0.0,
        slot_accuracy=round(slots_ok / slots_total, 4) if slots_total else 0.0,
        slot_f1=round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0,
        split=split,
    )


def _norm(v: str) -> str:
    return "".join(v.split())


def evaluate(path: Path, split: str = "all", db_dir: Path = DEFAULT_DB_DIR, progress: Callable[[Iterable[str]], Iterable[str]] | None = None) -> DSTReport:
    dialogues = load_dialogues(path)
    if split != "all":
        dialogues = {k: v for k, v in dialogues.items() if split_of(k) == split}
    tracker = CrossWOZTracker(Lexicon.from_dir(db_dir))
    pairs = track(dialogues, tracker, progress)
    return score(pairs, len(dialogues), split)
