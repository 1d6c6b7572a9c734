"""Dialogue state tracking for tasks: what the user has said so far, kept in `state.bots["task"]`.

The state is a stack of frames (one per open task): interrupting a return to ask about delivery
pushes a frame, finishing it pops back to the return with its slots kept. Values marked `shared`
(the order number) carry over to a new frame. `TaskState` is plain JSON so the spine's Redis +
SQL write-through keeps it across restarts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, JsonValue

from taskbot.domain import DomainSet, TaskDomain
from taskbot.nlu.types import IntentPrediction, SlotValue

#: slot types filled with the user's whole answer when the bot has just asked for them
FREE_TEXT_TYPES = {"text", "address"}


class SlotFill(BaseModel):
    value: str
    #: the conversation turn (DialogueState.turns) that gave the value
    turn: int
    raw: str = ""


class Frame(BaseModel):
    """One open task."""

    domain: str
    slots: dict[str, SlotFill] = Field(default_factory=dict)
    #: JSON the backend returned for lookups (e.g. the order), for templates and rules
    vars: dict[str, JsonValue] = Field(default_factory=dict)
    requested: str | None = None
    pending: Literal["confirm", "retry"] | None = None
    confirmed: bool = False
    failures: int = 0
    started_turn: int = 0

    def values(self) -> dict[str, str]:
        return {k: v.value for k, v in self.slots.items()}


class TaskState(BaseModel):
    stack: list[Frame] = Field(default_factory=list)
    #: values handed across frames (slots declared `shared`)
    shared: dict[str, SlotFill] = Field(default_factory=dict)
    #: DialogueState.turns when this bot last replied: a gap means another bot answered in between
    last_turn: int | None = None
    #: language of the conversation so far (a bare order number carries no language)
    lang: str | None = None

    @property
    def active(self) -> Frame | None:
        return self.stack[-1] if self.stack else None

    def find(self, domain: str) -> int | None:
        for i, frame in enumerate(self.stack):
            if frame.domain == domain:
                return i
        return None


# --- the user's dialogue acts, recognised by rules (zh + en) -----------------------------------

_PUNCT = re.compile(r"[\s,.!?;:~，。！？；：、…~\"'“”‘’（）()]+")
_AFFIRM = re.compile(
    r"^(是|是的|对|对的|对啊|好|好的|好啊|嗯|嗯嗯|确认|确定|确认提交|提交|可以|行|没问题|没错|对没错|ok|okay|yes|yeah|yep|y|sure|"
    r"confirm|confirmed|correct|right|go ahead|please do|do it|yes please)(的|吧|啊|呀|了)?$",
    re.IGNORECASE,
)
_DENY = re.compile(r"^(不|不是|不对|否|不行|错了|不对的|no|nope|wrong|not right|incorrect)(的|吧|啊)?$", re.IGNORECASE)
_CORRECTION = re.compile(r"(不对|不是|错了|搞错|改成|换成|应该是|是另一个|另外一个|actually|i meant|wrong|not that|instead)", re.IGNORECASE)
_CANCEL = re.compile(
    r"(算了|不用了|不要了|不办了|先不办|先不了|不需要了|不弄了|取消吧|别办了|never ?mind|forget it|forget about it|^cancel( it| that| this)?$|^取消$|^stop$|don'?t bother)",
    re.IGNORECASE,
)
_HANDOFF = re.compile(r"(人工|真人|客服人员|找客服|human|real person|agent|representative|operator|talk to (a )?person)", re.IGNORECASE)
_RETRY = re.compile(r"^(重试|再试一次|再试试|再查一次|再来一次|retry|try again|again)$", re.IGNORECASE)
_QUESTION = re.compile(
    r"([?？吗呢么]$|怎么|怎样|如何|什么|为什么|为啥|哪|几|多少|多久|能不能|可不可以|是否|^(how|what|when|where|why|which|can|do|does|is|are|will)\b)",
    re.IGNORECASE,
)


def _bare(text: str) -> str:
    return _PUNCT.sub(" ", text).strip()


@dataclass
class UserAct:
    """What one user turn means for the task: intent, values and dialogue acts."""

    text: str
    intent: str | None = None
    intent_confidence: float = 0.0
    #: domain of the predicted intent (None: no task intent)
    domain: str | None = None
    ranking: list[tuple[str, float]] = field(default_factory=list)
    slots: list[SlotValue] = field(default_factory=list)
    affirm: bool = False
    deny: bool = False
    correction: bool = False
    cancel: bool = False
    handoff: bool = False
    retry: bool = False
    question: bool = False
    classifier: str = "rules"

    def as_trace(self) -> dict[str, JsonValue]:
        return {
            "intent": self.intent,
            "confidence": round(self.intent_confidence, 4),
            "domain": self.domain,
            "ranking": [[i, round(p, 4)] for i, p in self.ranking],
            "slots": [{"name": s.name, "value": s.value, "extractor": s.extractor} for s in self.slots],
            "acts": [a for a in ("affirm", "deny", "correction", "cancel", "handoff", "retry", "question") if getattr(self, a)],
            "classifier": self.classifier,
        }


def recognise_acts(text: str, pred: IntentPrediction, slots: list[SlotValue], dset: DomainSet, classifier: str) -> UserAct:
    bare = _bare(text)
    intent = pred.intent
    domain = dset.intent_to_domain().get(intent) if intent else None
    act = UserAct(
        text=text,
        intent=intent if domain else None,
        intent_confidence=pred.confidence if domain else 0.0,
        domain=domain,
        ranking=list(pred.ranking),
        slots=slots,
        classifier=classifier,
    )
    act.affirm = bool(_AFFIRM.match(bare))
    act.deny = bool(_DENY.match(bare))
    act.retry = bool(_RETRY.match(bare))
    act.handoff = bool(_HANDOFF.search(text))
    act.cancel = bool(_CANCEL.search(bare)) and not slots
    act.correction = bool(_CORRECTION.search(text)) and not act.deny
    act.question = bool(_QUESTION.search(text.strip()))
    return act


# --- the tracker ---------------------------------------------------------------------------------


@dataclass
class TurnUpdate:
    """What the tracker changed this turn, for the policy and for the trace."""

    pushed: str | None = None
    resumed: str | None = None
    filled: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)


class StateTracker:
    """Applies a user act to the task state: opens / switches frames and fills slots."""

    def update(self, ts: TaskState, act: UserAct, dset: DomainSet, turn_no: int, min_intent: float = 0.5) -> TurnUpdate:
        upd = TurnUpdate()
        before = ts.active
        if act.domain and act.intent_confidence >= min_intent and (before is None or act.domain != before.domain):
            idx = ts.find(act.domain)
            if idx is not None:
                ts.stack.append(ts.stack.pop(idx))
                upd.resumed = act.domain
            else:
                new = Frame(domain=act.domain, started_turn=turn_no)
                for name, slot in dset.domains[act.domain].slots.items():
                    if slot.shared and name in ts.shared:
                        new.slots[name] = ts.shared[name].model_copy()
                        upd.carried.append(name)
                ts.stack.append(new)
                upd.pushed = act.domain
        frame = ts.active
        if frame is None:
            return upd
        dom = dset.domains[frame.domain]
        for sv in act.slots:
            if sv.name not in dom.slots or sv.name in upd.filled:
                continue
            self._fill(ts, frame, dom, sv.name, sv.value, sv.raw, turn_no, upd)
        # a free-text answer to the question just asked (reason, invoice title, address)
        req = frame.requested
        if (
            req
            and not upd.filled
            and upd.pushed is None
            and upd.resumed is None
            and dom.slots[req].type in FREE_TEXT_TYPES
            and not (act.affirm or act.deny or act.cancel or act.handoff or act.retry)
            and not (act.domain and act.domain == frame.domain)
        ):
            value = act.text.strip().strip("。.!！")
            if value:
                self._fill(ts, frame, dom, req, value, act.text, turn_no, upd)
        return upd

    def _fill(self, ts: TaskState, frame: Frame, dom: TaskDomain, name: str, value: str, raw: str, turn_no: int, upd: TurnUpdate) -> None:
        old = frame.slots.get(name)
        if old is not None and old.value != value:
            upd.corrected.append(name)
            # a new order number invalidates what was looked up for the old one
            check = dom.slots[name].validation
            if check and check.lookup:
                frame.vars.pop(check.store_as or check.lookup, None)
        fill = SlotFill(value=value, turn=turn_no, raw=raw)
        frame.slots[name] = fill
        upd.filled.append(name)
        if dom.slots[name].shared:
            ts.shared[name] = fill
        if upd.corrected or old is None:
            frame.confirmed = False
