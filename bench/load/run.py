"""Load test: N simulated customers against `csbot serve --workers W` on the demo tenant, loopback only.

    .venv/bin/python bench/load/run.py --users 200 --duration 60 --mix faq
    .venv/bin/python bench/load/run.py --users 50,100,200,400 --duration 60 --mix all   # the knee

One command does everything: prepares a demo installation in --data-dir once (migrate, demo tenant,
FAQ and product graph imported into the Milvus Lite server; reused by later runs), starts the demo
shop backend and `csbot serve` (which starts the embedded Redis and Milvus Lite server that all its
workers share), warms every worker up, runs locust headless for each user count, stops everything,
and prints a table and one JSON document (also written to --json).

Figures, per user count, over the turns started after all users were spawned: turns/s, p50/p95/p99
per route (the route is `source.bot` of the reply), error count (non-200, timeouts, replies lacking
contract fields; counted over the whole run, ramp-up included), and the server's CPU seconds per
turn (psutil, over `csbot serve` and its children: uvicorn workers, Redis, Milvus Lite; the shop
backend and locust are reported apart).

Chat generation is switched off (CSBOT_LLM__LOAD_LOCAL=false): chitchat is answered by patterns and
retrieval; a 135M generator on two shared CPU cores is not what a load test should measure. The
per-key request limit is lifted (CSBOT_CHANNELS_API_KEY_REQUESTS_PER_MIN=0): all simulated
customers come through one integration's API key, as a shop's backend would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from scenarios import conversation, load_corpus, parse_mix  # noqa: E402

CSBOT = str(Path(sys.executable).with_name("csbot"))
PREPARED = "load-prepared.json"


def _demo_fingerprint() -> dict[str, float]:
    from csbot.demo import loader

    return {name: loader.demo_path(name).stat().st_mtime for name in ("faq.jsonl", "products.csv")}


def _env(data: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CSBOT_DATA_DIR": str(data), "CSBOT_DATABASE_URL": "",
           "CSBOT_MODELS__DIR": str(REPO / "var" / "models"), "CSBOT_REDIS_PREFIX": "csbot",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "CSBOT_LOG_LEVEL": "WARNING"}
    env.update(extra)
    return env


def prepare(data: Path, faq_limit: int) -> tuple[str, Path | None]:
    """A demo installation in `data`, made once; returns the demo API key and the FAQ file imported."""
    from csbot.services import ServiceGroup, start_milvus, start_redis

    marker = data / PREPARED
    want = {"faq_limit": faq_limit, "demo": _demo_fingerprint()}
    faq_path = data / "faq-subset.jsonl" if faq_limit else None
    if marker.exists() and json.loads(marker.read_text()).get("want") == want:
        return (data / "demo_api_key.txt").read_text().strip(), faq_path
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    t0 = time.monotonic()
    print(f"preparing the demo installation in {data} (once) ...", file=sys.stderr, flush=True)
    group = ServiceGroup()
    try:
        redis = group.add(start_redis(data))
        milvus = group.add(start_milvus(data))
        # shop_url left empty in the tenant: the server gets the shop of each run by CSBOT_SHOP_URL
        env = _env(data, CSBOT_REDIS_URL=redis.url, CSBOT_MILVUS_URI=milvus.url, CSBOT_SHOP_URL="")
        if not faq_limit:
            _run([CSBOT, "demo", "load"], env)
        else:
            from csbot.demo import loader

            lines = loader.demo_path("faq.jsonl").read_text(encoding="utf-8").splitlines()
            faq_path = data / "faq-subset.jsonl"
            faq_path.write_text("\n".join(lines[:faq_limit]) + "\n", encoding="utf-8")
            _run([sys.executable, "-c", "from csbot.config import get_settings; from csbot.storage.db import Database;"
                  "from csbot.storage.migrate import upgrade; from csbot.demo_tenant import seed_demo_tenant;"
                  "s = get_settings(); upgrade(s.database_url); seed_demo_tenant(Database(s.database_url), s)"], env)
            _run([CSBOT, "kb", "import", str(faq_path), "--tenant", "demo", "--publish"], env)
    finally:
        group.stop()
    marker.write_text(json.dumps({"want": want, "prepared_in_s": round(time.monotonic() - t0, 1)}))
    return (data / "demo_api_key.txt").read_text().strip(), faq_path


def _run(argv: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv[:4])} ...` failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


@dataclass
class CpuSampler:
    """CPU seconds of a process tree sampled every `every_s`, so any window can be read afterwards."""

    root: int
    every_s: float = 0.5
    samples: list[tuple[float, float]] = field(default_factory=list)
    _seen: dict[int, tuple[psutil.Process, float]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _total(self) -> float:
        try:
            procs = [psutil.Process(self.root)]
            procs += procs[0].children(recursive=True)
        except psutil.NoSuchProcess:
            procs = []
        for p in procs:
            try:
                t = p.cpu_times()
                self._seen[p.pid] = (p, t.user + t.system)
            except psutil.NoSuchProcess:
                pass
        return sum(v for _, v in self._seen.values())  # a process that ended keeps its last reading

    def start(self) -> CpuSampler:
        def loop() -> None:
            while not self._stop.is_set():
                self.samples.append((time.time(), self._total()))
                self._stop.wait(self.every_s)

        threading.Thread(target=loop, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def between(self, t0: float, t1: float) -> float:
        def at(t: float) -> float:
            best = min(self.samples, key=lambda s: abs(s[0] - t))
            return best[1]

        return at(t1) - at(t0) if self.samples else float("nan")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")


def summarise(records: list[dict[str, Any]], spawned_at: float, duration_s: float, cpu_s: float,
              locust_cpu_s: float, users: int) -> dict[str, Any]:
    """Figures over the turns started in [spawned_at, spawned_at + duration_s); errors over all turns."""
    window = [r for r in records if spawned_at <= r["t"] < spawned_at + duration_s]
    ok = [r for r in window if r["ok"]]
    span = duration_s
    routes: dict[str, dict[str, Any]] = {}
    for route in sorted({r["route"] for r in ok}):
        lat = [r["ms"] for r in ok if r["route"] == route]
        routes[route] = {"turns": len(lat), "p50_ms": round(statistics.median(lat), 1),
                         "p95_ms": round(pct(lat, 0.95), 1), "p99_ms": round(pct(lat, 0.99), 1),
                         "cached_share": round(sum(1 for r in ok if r["route"] == route and r.get("cached")) / len(lat), 3)}
    by_conv: dict[str, dict[str, int]] = {}
    for r in ok:
        by_conv.setdefault(r["conv"], {}).setdefault(r["route"], 0)
        by_conv[r["conv"]][r["route"]] += 1
    errors = [r for r in records if not r["ok"]]
    lat_all = [r["ms"] for r in ok]
    return {
        "users": users,
        "turns": len(window),
        "window_s": round(span, 1),
        "turns_per_s": round(len(window) / span, 2),
        "p50_ms": round(statistics.median(lat_all), 1) if lat_all else None,
        "p95_ms": round(pct(lat_all, 0.95), 1) if lat_all else None,
        "p99_ms": round(pct(lat_all, 0.99), 1) if lat_all else None,
        "errors": len(errors),
        "error_samples": sorted({str(r.get("error")) for r in errors})[:5],
        "routes": routes,
        "routes_by_conversation": by_conv,
        "server_cpu_s_per_turn": round(cpu_s / len(window), 4) if window else None,
        "server_cpu_cores_busy": round(cpu_s / span, 2),
        "locust_cpu_s": round(locust_cpu_s, 1),
    }


def server_steps(db: Path, t0: float, t1: float) -> dict[str, dict[str, float]]:
    """p50/p99 of the pipeline's own step timings (`turns.steps_ms`, in-process) and of its whole
    latency, for the turns the server accepted in [t0, t1): where the server spends a turn, as
    opposed to the client-side latency, which includes HTTP and queueing in front of the pipeline."""
    import sqlite3

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT steps_ms, latency_ms FROM turns WHERE created_at >= ? AND created_at < ?",
                           (t0, t1)).fetchall()
    finally:
        con.close()
    series: dict[str, list[float]] = {}
    for steps, latency in rows:
        for name, ms in (json.loads(steps or "{}") or {}).items():
            series.setdefault(name, []).append(float(ms))
        if latency is not None:
            series.setdefault("pipeline", []).append(float(latency))
    return {name: {"n": len(v), "p50_ms": round(statistics.median(v), 1), "p99_ms": round(pct(v, 0.99), 1)}
            for name, v in sorted(series.items())}


def warm_up(base: str, key: str, workers: int, corpus: Any, timeout_s: float = 600) -> None:
    """Send every kind of turn, `workers`*2 at a time, until a round is fast (each worker has loaded its bots)."""
    import random

    rng = random.Random(7)
    texts = [conversation("faq", corpus, rng)[0], "我的订单2026110003到哪了", "你好", "你吃饭了吗"]

    async def one(client: httpx.AsyncClient, text: str, i: int) -> float:
        t0 = time.perf_counter()
        r = await client.post(f"{base}/v1/chat", json={"session_id": f"warm-{i}-{time.time_ns()}", "text": text},
                              headers={"Authorization": f"Bearer {key}", "Connection": "close"}, timeout=timeout_s)
        if r.status_code != 200:
            raise RuntimeError(f"warm-up turn {text!r} got HTTP {r.status_code}: {r.text[:300]}")
        return time.perf_counter() - t0

    async def rounds() -> None:
        deadline = time.monotonic() + timeout_s
        fast = 0
        async with httpx.AsyncClient() as client:
            while fast < 2:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the server did not settle within {timeout_s:.0f}s of warm-up")
                took = await asyncio.gather(*(one(client, texts[i % len(texts)], i) for i in range(workers * len(texts))))
                print(f"warm-up round: slowest turn {max(took):.1f}s", file=sys.stderr, flush=True)
                fast = fast + 1 if max(took) < 3.0 else 0

    asyncio.run(rounds())


def run_level(base: str, key: str, users: int, args: argparse.Namespace, mix: dict[str, float], faq_path: Path | None,
              sampler: CpuSampler, work: Path) -> dict[str, Any]:
    spawn_rate = args.spawn_rate or max(5.0, users / 10)
    ramp_s = users / spawn_rate
    out = work / f"turns-{users}.jsonl"
    cfg = work / f"config-{users}.json"
    cfg.write_text(json.dumps({"api_key": key, "mix": mix, "think_min": args.think[0], "think_max": args.think[1],
                               "faq_path": str(faq_path) if faq_path else "", "out": str(out), "timeout_s": 30}))
    argv = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless", "-u", str(users),
            # margin: locust's clock starts before its users are spawned; the window is cut after
            "-r", str(spawn_rate), "-t", f"{int(ramp_s + args.duration + 8)}s", "--host", base, "--only-summary",
            "--loglevel", "WARNING", "--stop-timeout", "30", "--exit-code-on-error", "0"]
    load_before = os.getloadavg()
    proc = psutil.Popen(argv, env={**os.environ, "LOAD_CONFIG": str(cfg)}, stdout=subprocess.DEVNULL,
                        stderr=open(work / f"locust-{users}.log", "wb"))
    locust_cpu = 0.0
    while proc.poll() is None:
        try:
            t = proc.cpu_times()
            locust_cpu = t.user + t.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.5)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"locust failed ({proc.returncode}); see {work / f'locust-{users}.log'}")
    lines = out.read_text(encoding="utf-8").splitlines()
    spawned_at = json.loads(lines[0]).get("spawned_at") or 0.0
    records = [json.loads(x) for x in lines[1:]]
    if not spawned_at:
        raise RuntimeError(f"locust never finished spawning {users} users; see {work / f'locust-{users}.log'}")
    last = max((r["t"] for r in records), default=0.0)
    if last < spawned_at + args.duration * 0.9:
        raise RuntimeError(f"locust stopped {spawned_at + args.duration - last:.0f}s before the end of the window")
    cpu_s = sampler.between(spawned_at, spawned_at + args.duration)
    summary = summarise(records, spawned_at, args.duration, cpu_s, locust_cpu, users)
    summary["server_steps"] = server_steps(args.data_dir.resolve() / "csbot.db", spawned_at, spawned_at + args.duration)
    summary["loadavg_before"] = [round(x, 2) for x in load_before]
    summary["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return summary


def _redis_url_from_log(log: Path) -> str | None:
    m = re.search(r"embedded Redis at (redis://\S+)", log.read_text(errors="replace"))
    return m.group(1) if m else None


def flush_answer_cache(redis_url: str | None) -> None:
    """Each user count starts from a cold answer cache, so the levels are comparable."""
    if not redis_url:
        return
    import redis

    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter("csbot:cache:*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


def print_table(result: dict[str, Any]) -> None:
    print(f"\ncsbot load: mix {result['mix']}, {result['workers']} workers, think {result['think_s']} s, "
          f"duration {result['duration_s']} s per level", file=sys.stderr)
    print(f"{'users':>6} {'turns/s':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'errors':>6} {'cpu s/turn':>10}  per route "
          "(turns p50/p95/p99 ms)", file=sys.stderr)
    for lv in result["levels"]:
        routes = "  ".join(f"{k}: {v['turns']} {v['p50_ms']:.0f}/{v['p95_ms']:.0f}/{v['p99_ms']:.0f}"
                           for k, v in lv["routes"].items())
        print(f"{lv['users']:>6} {lv['turns_per_s']:>8.1f} {lv['p50_ms'] or 0:>7.0f} {lv['p95_ms'] or 0:>7.0f} "
              f"{lv['p99_ms'] or 0:>7.0f} {lv['errors']:>6} {lv['server_cpu_s_per_turn'] or 0:>10.4f}  {routes}",
              file=sys.stderr)
        print(f"{'':>6} load average {lv['loadavg_before']} -> {lv['loadavg_after']}", file=sys.stderr)
        steps = "  ".join(f"{k} {v['p50_ms']:.0f}/{v['p99_ms']:.0f}" for k, v in lv.get("server_steps", {}).items())
        print(f"{'':>6} server steps p50/p99 ms: {steps}", file=sys.stderr)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", default="200", help="simulated customers; a comma list runs one level after another")
    ap.add_argument("--duration", type=float, default=60, help="seconds measured per level, after the ramp-up")
    ap.add_argument("--mix", default="faq", help="faq | task | chat | all | weights like faq=6,task=2,chat=2")
    ap.add_argument("--workers", type=int, default=2, help="`csbot serve --workers`")
    ap.add_argument("--think", default="3,10", help="think time between a customer's messages, min,max seconds")
    ap.add_argument("--spawn-rate", type=float, default=0, help="users started per second (default users/10, >= 5)")
    ap.add_argument("--data-dir", type=Path, default=REPO / "var" / "load", help="prepared demo installation (reused)")
    ap.add_argument("--faq-limit", type=int, default=0, help="import only the first N FAQ items (quick smoke runs)")
    ap.add_argument("--json", type=Path, default=None, help="also write the JSON result here")
    ap.add_argument("--warm-cache", action="store_true", help="keep the answer cache between levels")
    args = ap.parse_args(argv)
    try:
        levels = [int(u) for u in str(args.users).split(",")]
        think = [float(x) for x in args.think.split(",")]
        if len(think) != 2 or think[0] < 0 or think[1] < think[0] or any(u <= 0 for u in levels):
            raise ValueError
    except ValueError:
        ap.error("--users takes positive integers (50,100,200); --think takes min,max seconds with min <= max")
    args.think = think
    try:
        mix = parse_mix(args.mix)
    except ValueError as exc:
        ap.error(str(exc))

    from csbot.demo.shop_process import start_shop
    from csbot.services import free_port, start_process

    data = args.data_dir.resolve()
    key, faq_path = prepare(data, args.faq_limit)
    corpus = load_corpus(faq_path)
    work = Path(tempfile.mkdtemp(prefix="csbot-load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    shop = start_shop(free_port(), work / "shop.db", log_path=work / "shop.log")
    api = None
    sampler = None
    result: dict[str, Any] = {"mix": args.mix, "workers": args.workers, "think_s": args.think,
                              "duration_s": args.duration, "cpu_count": os.cpu_count(), "levels": []}
    try:
        # no CSBOT_REDIS_URL / CSBOT_MILVUS_URI: `csbot serve` starts the embedded ones, shared by its workers
        env = _env(data, CSBOT_REDIS_URL="", CSBOT_MILVUS_URI="", CSBOT_SHOP_URL=shop.url,
                   CSBOT_LLM__LOAD_LOCAL="false", CSBOT_CHANNELS_API_KEY_REQUESTS_PER_MIN="0")
        t0 = time.monotonic()
        api = start_process("api", [CSBOT, "serve", "--port", str(port), "--workers", str(args.workers)],
                            work / "logs", env=env, port=port, ready_timeout_s=300)
        warm_up(base, key, args.workers, corpus)
        result["startup_s"] = round(time.monotonic() - t0, 1)
        redis_url = _redis_url_from_log(work / "logs" / "api.log")
        sampler = CpuSampler(api.proc.pid).start()
        shop_cpu0 = psutil.Process(shop.pid).cpu_times()
        for users in levels:
            if not args.warm_cache:
                flush_answer_cache(redis_url)
            print(f"level {users} users ...", file=sys.stderr, flush=True)
            result["levels"].append(run_level(base, key, users, args, mix, faq_path, sampler, work))
        shop_cpu1 = psutil.Process(shop.pid).cpu_times()
        result["shop_cpu_s"] = round(shop_cpu1.user + shop_cpu1.system - shop_cpu0.user - shop_cpu0.system, 1)
    finally:
        if sampler is not None:
            sampler.stop()
        if api is not None:
            api.stop(timeout_s=30)
        shop.stop()
    result["logs"] = str(work)
    print_table(result)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    return result


if __name__ == "__main__":
    main()
