"""Cost of the training jobs on the demo data with the shipped models: wall and CPU seconds, peak memory.

    python bench/bench_ops_jobs.py [SFT_STEPS] [DPO_STEPS]

Runs the job functions through the same runner as the Celery worker (no broker) on a scratch data dir,
after annotating 4 better replies (with the bot's worse ones) and 2 intent fixes for the demo tenant;
prints one JSON line per job (figures in docs/operations.md). Needs Redis at 127.0.0.1:6379 and the
prepared models in var/models (`csbot models prepare`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAIRS = [
    ("do you ship abroad?", "We ship to most countries; delivery takes 5-10 working days.", "I like to chat!"),
    ("can i change the colour after ordering?", "Yes, within 2 hours of ordering: open the order and choose Edit.", "Sure."),
    ("is there a discount for students?", "Students get 10% off with a valid student card.", "Discounts are fun."),
    ("how do i contact a person?", "Type \"human\" and a member of our team will join.", "Hello!"),
]
FIXES = [("the courier never came by with my stuff", "track_logistics"),
         ("i want my money back for the broken mug", "return_refund")]


def main(sft_steps: int, dpo_steps: int) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import redis

    from csbot.config import Settings
    from csbot.storage.db import Database
    from csbot.storage.migrate import upgrade
    from csbot.storage.ops import TrainingJob
    from ops_console.annotations import AnnotationCreate, AnnotationService
    from ops_console.jobs import job_function
    from ops_console.jobs.runner import JobContext, run_job
    from ops_console.training_settings import TrainingSettings

    root = Path(os.environ.get("BENCH_DIR", "/tmp/csbot-bench-ops"))
    shutil.rmtree(root, ignore_errors=True)
    models = root / "models"
    models.mkdir(parents=True)
    for name in ("e5-small", "smollm2"):
        (models / name).symlink_to(REPO / "var" / "models" / name, target_is_directory=True)
    settings = Settings(environment="test", data_dir=root, redis_url="redis://127.0.0.1:6379/0",
                        redis_prefix="bench-ops", models={"dir": models})
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    annotations = AnnotationService(db)
    for query, good, bad in PAIRS:
        annotations.create("demo", "bench", AnnotationCreate(kind="reply", query=query, bot_reply=bad, reply=good))
    for query, intent in FIXES:
        annotations.create("demo", "bench", AnnotationCreate(kind="intent", query=query, intent=intent))
    training = TrainingSettings()
    if training.torch_threads > 0:  # as the Celery task does (CSBOT_TRAINING_TORCH_THREADS)
        import torch

        torch.set_num_threads(training.torch_threads)
    for kind, params in (("nlu", {}), ("sft", {"max_steps": sft_steps}), ("dpo", {"max_steps": dpo_steps})):
        with db.session() as s:
            row = TrainingJob(tenant_id="demo", kind=kind, params=params)
            s.add(row)
            s.flush()
            job_id = row.id
        ctx = JobContext(job_id, settings, db, redis.Redis.from_url(settings.redis_url), training)
        status = run_job(ctx, job_function(kind))
        with db.session() as s:
            done = s.get(TrainingJob, job_id)
            assert done is not None
            result = dict(done.result)
            metrics = {k: v for k, v in result.pop("metrics", {}).items() if not isinstance(v, (list, dict))}
            print(json.dumps({"kind": kind, "status": status, "error": done.error, **result, "metrics": metrics}),
                  flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20, int(sys.argv[2]) if len(sys.argv) > 2 else 10)
