"""When a conversation goes to a person: asked for, repeated failure, or a rule."""

from __future__ import annotations

import re

from csbot.pipeline.texts import text
from csbot.sessions import DialogueState
from csbot.types import Reply, ReplyKind, Source, Turn, Verdict, VerdictAction

_ASK_HUMAN = re.compile(
    r"(转人工|人工客服|人工服务|找人工|要人工|真人|接人工|^人工$|"
    r"\b(talk|speak|chat) (to|with) (a |an )?(human|person|agent|someone|representative)\b|"
    r"^(agent|human|operator|representative)$|\breal person\b|\blive agent\b)"
)
_ANGRY = re.compile(r"(投诉你们|我要投诉|太差劲|垃圾客服|什么破|\bterrible service\b|\bi want to complain\b)")


def handoff_reason(turn: Turn, state: DialogueState, max_failures: int) -> str | None:
    """The reason to hand this turn to a person before any bot runs, or None."""
    q = turn.query
    if _ASK_HUMAN.search(q):
        return "asked for a person"
    if _ANGRY.search(q):
        return "negative sentiment"
    if turn.attributes.get("vip_handoff") is True:
        return "rule: vip_handoff"
    if max_failures and state.failures >= max_failures:
        return f"{state.failures} consecutive failed replies"
    return None


class HandoffStage:
    """Funnel stage for the handoff rules; it runs before the answer cache, so a rule such as a
    VIP contact going straight to a person is never bypassed by a cached FAQ answer."""

    name = "handoff"

    def __init__(self, max_failures: int) -> None:
        self.max_failures = max_failures

    async def check(self, turn: Turn, state: DialogueState) -> Verdict:
        reason = handoff_reason(turn, state, self.max_failures)
        if reason is None:
            return Verdict(stage=self.name, action=VerdictAction.passed)
        reply = Reply(text=text("handoff", turn.lang), kind=ReplyKind.handoff, source=Source(bot="handoff"),
                      confidence=1.0)
        return Verdict(stage=self.name, action=VerdictAction.escalate, detail=reason, reply=reply)
