"""Fine-tune the embedder on the tenant's QQ pairs (FAQ questions and their similar questions) with the
KB bot's fine-tuning function, registered as a candidate (role "embedder")."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ops_console.jobs.runner import JobContext, JobResult


def run(job: JobContext) -> JobResult:
    from kbbot.kb_store import KBStore

    try:
        mod = import_module("kbbot.finetune_embedder")
    except ImportError as exc:
        raise RuntimeError("the KB bot has no embedder fine-tuning yet (kbbot.finetune_embedder)") from exc
    items = KBStore(job.db).draft_items(job.tenant_id)
    if not items:
        raise ValueError(f"tenant {job.tenant_id} has no FAQ items to fine-tune on")
    p = job.params
    cfg = mod.EmbedderTrainConfig(epochs=float(p.get("epochs", 1.0)), batch_size=int(p.get("batch_size", job.batch_size * 8)),
                                  lr=float(p.get("lr", 2e-5)), max_pairs=p.get("max_pairs"))
    job.progress(0.05)
    result: Any = mod.finetune(job.settings.models_dir / "e5-small", items, cfg, out=None, progress=None,
                               registry=(job.settings, job.db, job.redis), tenant_id=job.tenant_id)
    data = result if isinstance(result, dict) else getattr(result, "__dict__", {})
    job.log(f"fine-tuned: {data}")
    return JobResult(version_id=data.get("version_id"), metrics=dict(data.get("metrics", {})))
