"""Chat generation throughput: batched scheduler against one request at a time, same run, same model.

Prints time to first token (TTFT) and tokens/s at 1, 4 and 8 concurrent streams for both modes,
the aggregate speed-up, and the process's peak memory. The model is loaded once; for each number of
streams the two modes run back to back (the scheduler's `max_batch` set to 8, then to 1), and each
pair is repeated `--rounds` times keeping the best, so that a shared machine's changing load lands
on both modes alike instead of on whichever ran second. Usage:

    .venv/bin/python bench/bench_llm.py [--model DIR_OR_GGUF] [--tokens 32] [--streams 1,4,8] [--rounds 2] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from chatbot.generator import ChatMessage, GenerationParams  # noqa: E402
from chatbot.model_paths import resolve_chat_model  # noqa: E402
from chatbot.transformers_generator import TransformersGenerator  # noqa: E402
from csbot.config import get_settings  # noqa: E402

QUESTIONS = [
    "How long does delivery usually take?",
    "Can I return a product after two weeks?",
    "What payment methods do you accept?",
    "Do you ship to other countries?",
    "How do I change my delivery address?",
    "Is there a warranty on electronics?",
    "How can I track my order?",
    "Can I cancel my order?",
]


async def one_stream(gen: TransformersGenerator, i: int, tokens: int) -> tuple[float, int, float]:
    messages = [ChatMessage("system", "You are a helpful shop assistant. Answer briefly."),
                ChatMessage("user", QUESTIONS[i % len(QUESTIONS)])]
    start = time.perf_counter()
    first = None
    n = 0
    async for item in gen.events(messages, GenerationParams(max_new_tokens=tokens)):
        if isinstance(item, str):
            first = first if first is not None else time.perf_counter() - start
        else:
            n = item.completion_tokens
    return first or 0.0, n, time.perf_counter() - start


async def run_streams(gen: TransformersGenerator, c: int, tokens: int) -> dict[str, float]:
    start = time.perf_counter()
    results = await asyncio.gather(*(one_stream(gen, i, tokens) for i in range(c)))
    wall = time.perf_counter() - start
    total = sum(n for _, n, _ in results)
    return {
        "streams": c,
        "ttft_p50_s": round(statistics.median(r[0] for r in results), 3),
        "ttft_max_s": round(max(r[0] for r in results), 3),
        "tokens": total,
        "wall_s": round(wall, 2),
        "agg_tok_s": round(total / wall, 1),
        "per_stream_tok_s": round(statistics.mean(n / t for _, n, t in results), 1),
    }


async def run_pairs(gen: TransformersGenerator, streams: list[int], tokens: int, rounds: int) -> dict[str, list]:
    """For each stream count: batched then sequential, `rounds` times; the best round of each mode."""
    await one_stream(gen, 0, 4)  # warm-up
    out: dict[str, list] = {"batched": [], "sequential": []}
    for c in streams:
        best: dict[str, dict[str, float]] = {}
        for _ in range(rounds):
            for mode, max_batch in (("batched", max(streams)), ("sequential", 1)):
                gen.max_batch = max_batch
                row = await run_streams(gen, c, tokens)
                if mode not in best or row["agg_tok_s"] > best[mode]["agg_tok_s"]:
                    best[mode] = row
        for mode in out:
            out[mode].append(best[mode])
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="")
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--streams", default="1,4,8")
    ap.add_argument("--threads", type=int, default=0, help="torch threads of the model thread (0: llm.torch_threads)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"llm": settings.llm.model_copy(update={"model": args.model})})
    location = resolve_chat_model(settings)
    streams = [int(x) for x in args.streams.split(",")]
    out: dict[str, object] = {"model": location.describe(), "max_new_tokens": args.tokens, "threads": args.threads}
    threads = args.threads or settings.llm.torch_threads
    out["threads"] = threads
    gen = TransformersGenerator(location, max_batch=max(streams), threads=threads)
    t = time.perf_counter()
    await gen.load()
    out["load_s"] = round(time.perf_counter() - t, 1)
    out["load_avg_before"] = os.getloadavg()[0]
    out.update(await run_pairs(gen, streams, args.tokens, args.rounds))
    out["load_avg_after"] = os.getloadavg()[0]
    out["decode_steps"] = gen.stats.steps
    await gen.close()
    b = {r["streams"]: r["agg_tok_s"] for r in out["batched"]}  # type: ignore[attr-defined]
    s = {r["streams"]: r["agg_tok_s"] for r in out["sequential"]}  # type: ignore[attr-defined]
    out["speedup"] = {c: round(b[c] / s[c], 2) for c in streams if s.get(c)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if args.json:
        print(json.dumps(out))
        return
    print(f"model {out['model']}  max_new_tokens {args.tokens}  torch threads {out['threads']}")
    print(f"{'mode':<11}{'streams':>8}{'TTFT p50':>10}{'TTFT max':>10}{'agg tok/s':>11}{'per-stream':>12}")
    for mode in ("batched", "sequential"):
        for r in out[mode]:  # type: ignore[attr-defined]
            print(f"{mode:<11}{r['streams']:>8}{r['ttft_p50_s']:>10}{r['ttft_max_s']:>10}{r['agg_tok_s']:>11}{r['per_stream_tok_s']:>12}")
    print(f"speed-up (aggregate tok/s, batched / sequential): {out['speedup']}")
    print(f"peak RSS: {out['peak_rss_mb']} MB; load average {out['load_avg_before']} before, {out['load_avg_after']} after")


if __name__ == "__main__":
    asyncio.run(main())
