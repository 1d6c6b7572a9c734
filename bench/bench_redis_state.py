"""Redis memory per conversation, measured on the keys a running `csbot serve` writes.

    .venv/bin/python bench/bench_redis_state.py --base http://127.0.0.1:8000 --key KEY \
        --redis redis://127.0.0.1:6379/0 --prefix PREFIX [--conversations 30] [--json]

Drives short conversations of three kinds through `POST /v1/chat` — FAQ questions, a return task
left open halfway (its slots live in the dialogue state), chitchat — then reads `MEMORY USAGE` of
every key under the installation's Redis prefix (the one the server was started with) and prints
bytes per key family and per conversation. Used for the sizing in docs/deploy.md.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections import defaultdict

import httpx
import redis

FAQ = ["运费怎么算？", "多久能发货？", "支持七天无理由退货吗？", "How much is shipping?"]
TASK = ["我要退货", "订单号是1234567890"]
CHAT = ["你好", "你是机器人吗", "谢谢你"]


def run_conversation(client: httpx.Client, kind: str, texts: list[str]) -> int:
    session = f"mem-{kind}-{uuid.uuid4().hex[:10]}"
    errors = 0
    for text in texts:
        r = client.post("/v1/chat", json={"session_id": session, "text": text, "user_id": session})
        errors += r.status_code != 200
    return errors


def family(key: str, prefix: str) -> str:
    """`<prefix>:state:<tenant>:<session>` -> `state`; keys of Celery and others by their first part."""
    rest = key[len(prefix) + 1 :] if key.startswith(prefix + ":") else key
    return rest.split(":", 1)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True)
    ap.add_argument("--key", required=True, help="API key of the tenant")
    ap.add_argument("--redis", required=True)
    ap.add_argument("--prefix", required=True, help="CSBOT_REDIS_PREFIX of the server")
    ap.add_argument("--conversations", type=int, default=30, help="per kind")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    r = redis.Redis.from_url(args.redis, decode_responses=True)
    started = time.monotonic()
    errors = 0
    with httpx.Client(
        base_url=args.base, headers={"Authorization": f"Bearer {args.key}"}, timeout=120
    ) as client:
        for i in range(args.conversations):
            errors += run_conversation(client, "faq", [FAQ[i % len(FAQ)], FAQ[(i + 1) % len(FAQ)]])
            errors += run_conversation(client, "task", TASK)
            errors += run_conversation(client, "chat", CHAT[: 1 + i % len(CHAT)])
    wall = time.monotonic() - started

    sizes: dict[str, list[int]] = defaultdict(list)
    for key in r.scan_iter(match=f"{args.prefix}:*", count=1000):
        usage = r.memory_usage(key, samples=0)
        if usage is not None:
            sizes[family(key, args.prefix)].append(int(usage))
    states = sizes.get("state", [])
    n_conv = 3 * args.conversations
    result = {
        "conversations": n_conv,
        "http_errors": errors,
        "wall_s": round(wall, 1),
        "families": {
            f: {"keys": len(v), "bytes": sum(v), "mean": round(sum(v) / len(v))} for f, v in sizes.items()
        },
        "state_bytes_mean": round(sum(states) / len(states)) if states else None,
        "state_bytes_max": max(states) if states else None,
        "bytes_per_conversation": round(sum(sum(v) for v in sizes.values()) / n_conv),
        "used_memory_dataset": r.info("memory").get("used_memory_dataset"),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{n_conv} conversations in {wall:.0f} s, {errors} HTTP errors")
    for f, v in sorted(result["families"].items()):
        print(f"  {f:<12} {v['keys']:>5} keys  {v['bytes']:>9} B  mean {v['mean']:>6} B")
    print(f"  dialogue state: mean {result['state_bytes_mean']} B, max {result['state_bytes_max']} B")
    print(f"  all keys under the prefix / conversation: {result['bytes_per_conversation']} B")


if __name__ == "__main__":
    main()
