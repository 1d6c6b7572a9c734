"""Prometheus metrics of the serving process (exposed at /metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.turns = Counter("csbot_turns_total", "Turns answered, by route", ["route"], registry=r)
        self.latency = Histogram("csbot_turn_latency_seconds", "End-to-end turn latency, by route", ["route"],
                                 buckets=_BUCKETS, registry=r)
        self.cache_hits = Counter("csbot_cache_hits_total", "Turns answered from the answer cache", registry=r)
        self.errors = Counter("csbot_errors_total", "Errors, by stage", ["stage"], registry=r)
        self.http_rejects = Counter("csbot_http_rejected_total", "Requests refused, by status", ["status"],
                                    registry=r)

    def observe_turn(self, route: str, seconds: float, *, cached: bool) -> None:
        self.turns.labels(route=route).inc()
        self.latency.labels(route=route).observe(seconds)
        if cached:
            self.cache_hits.inc()


METRICS = Metrics()
