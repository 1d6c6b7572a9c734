"""Dialogue policy: given the open frame, what the bot does next.

`Policy` is the seam for a trained policy later; `FormPolicy` is form filling plus the domain's
rules: hand off after repeated failures, ask for the first missing required slot, confirm before
any side effect (and whenever a rule says so), then run the action.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal, Protocol

from taskbot.domain import Condition, TaskDomain
from taskbot.dst import Frame
from taskbot.nlg import lookup_path

log = logging.getLogger(__name__)

#: failures after which a frame is handed to a person when the domain has no such rule
DEFAULT_MAX_FAILURES = 3


@dataclass
class PolicyAction:
    kind: Literal["ask", "confirm", "execute", "handoff"]
    slot: str | None = None
    #: extra responses to say (rule notices)
    say: list[str] = field(default_factory=list)
    reason: str = ""


class Policy(Protocol):
    def next_action(self, frame: Frame, domain: TaskDomain) -> PolicyAction: ...


def condition_holds(cond: Condition, frame: Frame) -> bool:
    if cond.failures is not None:
        return frame.failures >= cond.failures
    assert cond.slot is not None
    raw = frame.slots[cond.slot].value if cond.slot in frame.slots else lookup_path(frame.vars, cond.slot)
    if raw is None:
        return False
    if cond.op == "in":
        return str(raw) in [str(v) for v in (cond.value if isinstance(cond.value, list) else [cond.value])]
    if cond.op in ("==", "!="):
        same = str(raw) == str(cond.value)
        return same if cond.op == "==" else not same
    try:
        left, right = float(str(raw)), float(str(cond.value))
    except ValueError:
        return False
    return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[cond.op]


class FormPolicy:
    """Form filling with rules; deterministic, so stories and tests can pin it down."""

    def next_action(self, frame: Frame, domain: TaskDomain) -> PolicyAction:
        max_failures = next(
            (r.when.failures for r in domain.rules if r.when.failures is not None and r.then.handoff),
            DEFAULT_MAX_FAILURES,
        )
        if frame.failures >= max_failures:
            return PolicyAction("handoff", reason=f"{frame.failures} failures")
        for name in domain.form.required:
            if name not in frame.slots:
                return PolicyAction("ask", slot=name)
        say: list[str] = []
        confirm = domain.side_effect
        for rule in domain.rules:
            if rule.when.failures is not None:
                continue
            if condition_holds(rule.when, frame):
                if rule.then.handoff:
                    return PolicyAction("handoff", say=[rule.then.say] if rule.then.say else [], reason=rule.name)
                confirm = confirm or rule.then.confirm
                if rule.then.say:
                    say.append(rule.then.say)
        if confirm and not frame.confirmed:
            return PolicyAction("confirm", say=say)
        return PolicyAction("execute", say=say)
