"""Scripted multi-turn dialogues ("stories") run against a live csbot API and the shop backend.

Like `rasa test` stories: each step says what the user types and what must happen — the reply's
kind, words in its text, the task, the open slots, and the calls the backend must (or must not)
receive. The runner talks HTTP only, so it tests the deployed system, not a copy of it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listify(v: object) -> object:
    """One string or a list; numbers (order ids written bare in YAML) become strings."""
    items = v if isinstance(v, list) else [v]
    return [str(x) for x in items]


class BotExpect(_Strict):
    kind: str | None = None
    contains: list[str] = Field(default_factory=list)
    not_contains: list[str] = Field(default_factory=list)
    #: Source.task of the reply; "" means no task
    task: str | None = None
    #: open slots of the active task (checked through the state store when the runner can read it)
    slots: dict[str, str] | None = None
    suggestions: list[str] = Field(default_factory=list)

    _c = field_validator("contains", "not_contains", "suggestions", mode="before")(_listify)


class CallExpect(_Strict):
    method: str
    path: str | None = None
    path_prefix: str | None = None
    body: dict[str, Any] = Field(default_factory=dict)

    def matches(self, call: dict[str, Any]) -> bool:
        if call.get("method", "").upper() != self.method.upper():
            return False
        path = call.get("path", "")
        if self.path is not None and path != self.path:
            return False
        if self.path_prefix is not None and not path.startswith(self.path_prefix):
            return False
        body = call.get("body") or {}
        return all(isinstance(body, dict) and _same(body.get(k), v) for k, v in self.body.items())

    def __str__(self) -> str:
        where = self.path or f"{self.path_prefix}*"
        return f"{self.method} {where}" + (f" {self.body}" if self.body else "")


def _same(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) < 1e-6
    return str(a) == str(b)


class Fault(_Strict):
    path_prefix: str = "/api/"
    delay_s: float = 0.0
    status: int | None = None
    times: int = 1


class Step(_Strict):
    user: str | None = None
    expect: BotExpect | None = None
    backend: list[CallExpect] = Field(default_factory=list)
    backend_not: list[CallExpect] = Field(default_factory=list)
    fault: Fault | None = None

    @field_validator("user", mode="before")
    @classmethod
    def _text(cls, v: object) -> object:
        return None if v is None else str(v)


class Story(_Strict):
    name: str
    locale: str | None = None
    steps: list[Step]


class StoryFile(_Strict):
    stories: list[Story]


class StepResult(BaseModel):
    index: int
    user: str | None
    ok: bool
    problems: list[str] = Field(default_factory=list)
    reply: dict[str, Any] | None = None


class StoryResult(BaseModel):
    name: str
    ok: bool
    steps: list[StepResult]
    seconds: float

    @property
    def first_problem(self) -> str:
        for s in self.steps:
            if not s.ok:
                return f"step {s.index + 1} ({s.user!r}): " + "; ".join(s.problems)
        return ""


def load_stories(path: Path) -> list[Story]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return StoryFile.model_validate(data).stories


SlotReader = Callable[[str], dict[str, str] | None]


class StoryRunner:
    """Plays stories over HTTP: POST {url}/v1/chat, and the shop's `/api/_calls` hooks."""

    def __init__(self, url: str, api_key: str, shop_url: str, slot_reader: SlotReader | None = None, timeout_s: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.shop_url = shop_url.rstrip("/")
        self.slot_reader = slot_reader
        self.timeout_s = timeout_s

    def run(self, story: Story) -> StoryResult:
        start = time.perf_counter()
        session = f"story-{uuid.uuid4().hex[:12]}"
        results: list[StepResult] = []
        with httpx.Client(timeout=self.timeout_s) as http:
            http.post(f"{self.shop_url}/api/_reset").raise_for_status()
            for i, step in enumerate(story.steps):
                res = self._step(http, story, session, i, step)
                results.append(res)
                if not res.ok:
                    break
        ok = all(r.ok for r in results) and len(results) == len(story.steps)
        return StoryResult(name=story.name, ok=ok, steps=results, seconds=round(time.perf_counter() - start, 2))

    def _step(self, http: httpx.Client, story: Story, session: str, i: int, step: Step) -> StepResult:
        if step.fault is not None:
            http.post(f"{self.shop_url}/api/_faults", json=step.fault.model_dump(exclude_none=True)).raise_for_status()
        if step.user is None:
            return StepResult(index=i, user=None, ok=True)
        before = len(http.get(f"{self.shop_url}/api/_calls").json()["calls"])
        body: dict[str, Any] = {"session_id": session, "text": step.user}
        if story.locale:
            body["locale"] = story.locale
        try:
            resp = http.post(f"{self.url}/v1/chat", json=body, headers={"Authorization": f"Bearer {self.api_key}"})
        except httpx.HTTPError as exc:
            return StepResult(index=i, user=step.user, ok=False, problems=[f"no answer from the API: {type(exc).__name__} {exc}"])
        problems: list[str] = []
        if resp.status_code != 200:
            return StepResult(index=i, user=step.user, ok=False, problems=[f"HTTP {resp.status_code}: {resp.text[:200]}"])
        reply = resp.json()
        calls = http.get(f"{self.shop_url}/api/_calls").json()["calls"][before:]
        problems.extend(check_reply(step.expect, reply))
        if step.expect and step.expect.slots is not None:
            problems.extend(self._check_slots(session, step.expect.slots))
        for want in step.backend:
            if not any(want.matches(c) for c in calls):
                seen = ", ".join(f"{c['method']} {c['path']}" for c in calls) or "none"
                problems.append(f"backend was not called with {want} (calls: {seen})")
        for never in step.backend_not:
            if any(never.matches(c) for c in calls):
                problems.append(f"backend must not be called with {never}")
        return StepResult(index=i, user=step.user, ok=not problems, problems=problems, reply=reply)

    def _check_slots(self, session: str, want: dict[str, str]) -> list[str]:
        if self.slot_reader is None:
            return []  # the runner cannot read the state store (no --tenant): slots are not checked
        have = self.slot_reader(session) or {}
        return [f"slot {k}={have.get(k)!r}, expected {v!r}" for k, v in want.items() if have.get(k) != v]


def check_reply(expect: BotExpect | None, reply: dict[str, Any]) -> list[str]:
    if expect is None:
        return []
    problems: list[str] = []
    text = reply.get("text", "")
    if expect.kind is not None and reply.get("kind") != expect.kind:
        problems.append(f"kind {reply.get('kind')!r}, expected {expect.kind!r} (text: {text[:120]!r})")
    for word in expect.contains:
        if word.lower() not in text.lower():
            problems.append(f"text lacks {word!r}: {text[:160]!r}")
    for word in expect.not_contains:
        if word.lower() in text.lower():
            problems.append(f"text contains {word!r}: {text[:160]!r}")
    if expect.task is not None:
        task = (reply.get("source") or {}).get("task") or ""
        if task != expect.task:
            problems.append(f"task {task!r}, expected {expect.task!r}")
    offered = [s.get("text") for s in reply.get("suggestions") or []]
    for sug in expect.suggestions:
        if sug not in offered:
            problems.append(f"suggestion {sug!r} missing (offered: {offered})")
    return problems
