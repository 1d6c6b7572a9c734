"""The turn's trace: every stage appends typed events with timings; the log stores them.

A contextvar holds the recorder of the turn being processed, so bots deep in a call stack can add
detail without the recorder being threaded through every signature.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import cast

from pydantic import TypeAdapter

from csbot.pipeline.pii import mask_json
from csbot.types import TraceEvent, new_id

_EVENTS: TypeAdapter[list[TraceEvent]] = TypeAdapter(list[TraceEvent])


@dataclass
class TraceRecorder:
    trace_id: str = field(default_factory=new_id)
    events: list[TraceEvent] = field(default_factory=list)
    steps_ms: dict[str, float] = field(default_factory=dict)

    def add(self, event: TraceEvent) -> None:
        self.events.append(event)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a pipeline step; the duration lands in `steps_ms[name]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.steps_ms[name] = round(self.steps_ms.get(name, 0.0) + (time.perf_counter() - start) * 1000, 3)

    def as_json(self) -> list[dict[str, object]]:
        """The events for storage, with PII masked in every string (the trace is kept as long as the log)."""
        return cast(list[dict[str, object]], mask_json(_EVENTS.dump_python(self.events, mode="json")))


_current: ContextVar[TraceRecorder | None] = ContextVar("csbot_trace", default=None)


def current() -> TraceRecorder:
    """The recorder of the turn in progress (a throwaway one outside a turn)."""
    rec = _current.get()
    return rec if rec is not None else TraceRecorder()


@contextmanager
def recording(recorder: TraceRecorder) -> Iterator[TraceRecorder]:
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)
