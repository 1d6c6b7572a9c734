"""How long a full garbage collection stops an API process, with and without the start-up objects
frozen (`gc.freeze()` at the end of the app's lifespan start-up), measured in the same run.

    .venv/bin/python bench/bench_gc_pause.py [--data-dir var/load] [--repeat 5]

Starts the app in-process on a prepared installation (`bench/load/run.py` prepares var/load: the
demo tenant, its FAQ and graph), sends a few turns of every kind so lazily loaded parts are in,
then times `gc.collect(2)` with every object unfrozen (what a process without the freeze pays on
each full collection) and with the start-up objects frozen again. Prints both medians, in milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TURNS = ["运费怎么算", "怎么退货", "你好", "我的订单2026110001到哪了", "how long is the warranty?"]


def _full_collection_ms(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        gc.collect(2)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", type=Path, default=REPO / "var" / "load")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    key_file = args.data_dir / "demo_api_key.txt"
    if not key_file.exists():
        sys.exit(f"{args.data_dir} is not a prepared installation: run bench/load/run.py once (it prepares var/load)")
    os.environ.update(CSBOT_DATA_DIR=str(args.data_dir), CSBOT_MODELS__DIR=str(REPO / "var" / "models"),
                      CSBOT_LLM__LOAD_LOCAL="false", CSBOT_LOG_LEVEL="WARNING")
    from fastapi.testclient import TestClient

    from csbot.api.app import create_app
    from csbot.config import get_settings
    from csbot.services import ServiceGroup, start_milvus, start_redis

    group = ServiceGroup()
    try:
        redis = group.add(start_redis(Path(tempfile.mkdtemp(prefix="gc-bench-"))))
        milvus = group.add(start_milvus(args.data_dir))
        os.environ.update(CSBOT_REDIS_URL=redis.url, CSBOT_MILVUS_URI=milvus.url)
        settings = get_settings()
        app = create_app(settings, freeze_gc=settings.server.gc_freeze)
        headers = {"Authorization": f"Bearer {key_file.read_text().strip()}"}
        with TestClient(app) as client:
            for i, text in enumerate(TURNS):
                client.post("/v1/chat", json={"session_id": f"gc-{i}", "message": text}, headers=headers)
            frozen_at_start = gc.get_freeze_count()
            gc.unfreeze()
            tracked = len(gc.get_objects())
            unfrozen = _full_collection_ms(args.repeat)
            gc.freeze()
            frozen = _full_collection_ms(args.repeat)
    finally:
        group.stop()
    result = {"objects_tracked": tracked, "frozen_by_the_app_at_start": frozen_at_start,
              "full_collection_ms_unfrozen": round(unfrozen, 1), "full_collection_ms_frozen": round(frozen, 3)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
