"""Pipeline overhead without real bots (normalise + funnel + router + log), and the cache-hit path
against a bare Redis GET measured in the same run.

    .venv/bin/python bench/bench_pipeline.py [--turns 2000] [--redis redis://127.0.0.1:6379/0]

Prints turns/s and p50/p99 latency for: a full miss (router + an instant bot + SQL log), a cache
hit, and a bare `GET` on the same Redis; the figure is the ratio cache-hit / bare GET.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis
from sqlalchemy import event, select

from csbot.bots import BotRegistry
from csbot.config import Settings
from csbot.context import AppContext
from csbot.pipeline.pipeline import Pipeline
from csbot.sessions import DialogueState
from csbot.storage.migrate import upgrade
from csbot.storage.models import TurnLog
from csbot.tenants import create_tenant
from csbot.types import BotScore, Reply, ReplyKind, Source, Turn


class InstantBot:
    """Answers at once, so what is measured is the spine around it."""

    name = "kb"

    async def load(self, ctx: object) -> None:
        return None

    async def score(self, turn: Turn, state: DialogueState) -> BotScore:
        return BotScore(bot="kb", score=0.9)

    async def reply(self, turn: Turn, state: DialogueState, hint: object | None = None) -> Reply:
        return Reply(text="满99元包邮。", kind=ReplyKind.answer, source=Source(bot="kb"), cacheable=True,
                     confidence=0.9)

    def ready(self) -> dict[str, str]:
        return {}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))]


def report(name: str, lat_ms: list[float], wall_s: float) -> None:
    print(f"{name:<22} {len(lat_ms) / wall_s:>9.0f} turns/s   p50 {statistics.median(lat_ms):7.3f} ms"
          f"   p99 {pct(lat_ms, 0.99):7.3f} ms")


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def print_steps(ctx: AppContext) -> None:
    """p50 of each pipeline step as stored with the turns (log.complete is not in it: it stores them)."""
    with ctx.db.session() as s:
        rows = s.execute(select(TurnLog.cached, TurnLog.steps_ms).where(TurnLog.tenant_id == "bench")).all()
    for cached, label in ((False, "miss"), (True, "cache hit")):
        steps: dict[str, list[float]] = {}
        for row_cached, row_steps in rows:
            if bool(row_cached) == cached:
                for name, ms in (row_steps or {}).items():
                    steps.setdefault(name, []).append(float(ms))
        shown = ", ".join(f"{name} {statistics.median(v):.2f}" for name, v in steps.items()
                          if statistics.median(v) >= 0.05)
        print(f"steps p50 ms, {label}: {shown}")


async def main(turns: int, redis_url: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="csbot-bench-"))
    settings = Settings(environment="test", data_dir=tmp, redis_url=redis_url,
                        redis_prefix=f"bench-{uuid.uuid4().hex[:8]}")
    upgrade(settings.database_url)
    ctx = AppContext.create(settings)
    create_tenant(ctx.db, "bench")
    reg = BotRegistry(bots={})
    reg.register("kb", InstantBot())
    pipe = Pipeline(ctx, reg)

    commits = [0]
    event.listen(ctx.db.engine, "commit", lambda conn: commits.__setitem__(0, commits[0] + 1))
    cost: dict[str, tuple[float, float]] = {}

    async def run(texts: list[str], label: str = "") -> tuple[list[float], float]:
        lat: list[float] = []
        c0, cpu0 = commits[0], _cpu_s()
        t0 = time.perf_counter()
        for i, text in enumerate(texts):
            s = time.perf_counter()
            await pipe.handle(Turn(tenant_id="bench", session_id=f"s{i % 50}", text=text))
            lat.append((time.perf_counter() - s) * 1000)
        if label:
            # CPU time of the process (all threads) and commits per turn: far less sensitive to a
            # busy shared machine than wall-clock latency
            cost[label] = ((_cpu_s() - cpu0) * 1000 / len(texts), (commits[0] - c0) / len(texts))
        return lat, time.perf_counter() - t0

    await pipe.handle(Turn(tenant_id="bench", session_id="warm", text="预热"))
    miss_lat, miss_wall = await run([f"运费怎么算 {i}" for i in range(turns)], "miss")
    hit_lat, hit_wall = await run(["运费怎么算"] * turns, "cache hit")

    bare = aioredis.Redis.from_url(redis_url)
    await bare.set("bench-bare-key", "x" * 200)
    bare_lat: list[float] = []
    t0 = time.perf_counter()
    for _ in range(turns):
        s = time.perf_counter()
        await bare.get("bench-bare-key")
        bare_lat.append((time.perf_counter() - s) * 1000)
    bare_wall = time.perf_counter() - t0
    await bare.delete("bench-bare-key")
    await bare.aclose()

    print(f"csbot pipeline benchmark: {turns} turns each, SQLite log, Redis {redis_url}")
    report("miss (router+bot+log)", miss_lat, miss_wall)
    report("cache hit", hit_lat, hit_wall)
    report("bare Redis GET", bare_lat, bare_wall)
    print(f"cache-hit p50 / bare GET p50 = {statistics.median(hit_lat) / statistics.median(bare_lat):.1f}x")
    for label, (cpu_ms, n_commits) in cost.items():
        print(f"{label:<22} CPU {cpu_ms:.2f} ms/turn (process, all threads), SQL commits {n_commits:.2f}/turn")
    print_steps(ctx)
    await ctx.redis.delete(*[k async for k in ctx.redis.scan_iter(f"{settings.redis_prefix}:*")] or ["none"])
    await ctx.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--turns", type=int, default=2000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    asyncio.run(main(args.turns, args.redis))
