"""Train the FAQ reranker (a cross-encoder) on the public QQ pair sets plus the tenant's similar questions,
with the KB bot's trainer, and register it as a candidate (role "reranker")."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from csbot.paths import shared_data_dir
from ops_console.jobs.runner import JobContext, JobResult

PAIR_DATA = shared_data_dir()


def run(job: JobContext) -> JobResult:
    from kbbot.devsets import read_pairs
    from kbbot.kb_store import KBStore
    from kbbot.pair_eval import pair_eval
    from kbbot.reranker import ROLE, Reranker
    from kbbot.train_reranker import RerankerTrainConfig, train, training_pairs

    p = job.params
    data_dir = Path(str(p.get("data_dir", PAIR_DATA)))
    sets = [s for s in str(p.get("datasets", "lcqmc,bq,oppo")).split(",") if s]
    cfg = RerankerTrainConfig(epochs=float(p.get("epochs", 1.0)), batch_size=int(p.get("batch_size", job.batch_size * 8)),
                              lr=float(p.get("lr", 4e-5)), max_pairs=p.get("max_pairs"),
                              num_layers=int(p.get("num_layers", RerankerTrainConfig.num_layers)),
                              train_layers=int(p.get("train_layers", 0)),
                              pair_files=[data_dir / s / "train.tsv" for s in sets])
    missing = [str(f) for f in cfg.pair_files if not f.exists()]
    if missing:
        raise ValueError(f"pair files not found: {', '.join(missing)} (datasets {sets} under {data_dir})")
    items = KBStore(job.db).draft_items(job.tenant_id)
    pairs = training_pairs(cfg, items)
    job.log(f"{len(pairs)} training pairs ({len(items)} FAQ items of the tenant)")

    def progress(done: int, total: int) -> None:
        job.progress(0.05 + 0.8 * done / max(1, total))
        job.check_cancel()

    job.settings.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.settings.models_dir, prefix=f"job-{job.job_id}-") as tmp:
        out = Path(tmp) / "reranker"
        train(job.settings.models_dir / "e5-small", out, pairs, cfg, progress=progress)
        metrics: dict[str, Any] = {"train_pairs": len(pairs)}
        dev = data_dir / "lcqmc" / "dev.tsv"
        if dev.exists():
            r = Reranker(out)
            r.load()
            dp = read_pairs(dev)
            half = len(dp) // 2
            rep = pair_eval(r.score_pairs, dp[half:], dp[:half])
            metrics.update(dev_accuracy=rep["accuracy"], dev_f1=rep["f1"], primary=rep["accuracy"])
        info = job.registry.register(job.tenant_id, ROLE, out, metrics=metrics, move=True,
                                     params={"job_id": job.job_id, "kind": "reranker"}, note=f"job {job.job_id}")
    job.log(f"registered reranker {info.version} as a candidate")
    return JobResult(version_id=info.id, metrics=metrics, detail={"version": info.version})
