"""Fine-tune the embedder on the tenant's QQ pairs (FAQ questions and their similar questions) with the
KB bot's fine-tuning (`kbbot.finetune_embedder`), evaluate it before/after on held-out similar
questions, and register it as a candidate (role "embedder").

The report: `top1` (a held-out similar question's nearest standard question is its own item) and
`pair_accuracy` (held-out positive and hard-negative pairs scored by cosine, threshold chosen on the
training pairs), each for the serving embedder (`*_before`) and the fine-tuned one; `primary` is the
fine-tuned top-1, compared with the serving version's at promotion. After a promotion, a `kb-index`
job re-encodes the tenant's FAQ with the new embedder.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ops_console.jobs.runner import JobContext, JobResult

ROLE = "embedder"
#: similar questions held out per item (only from items that keep at least one for training)
HOLDOUT_FRACTION = 0.2


def split_items(items: list[Any], fraction: float, seed: int) -> tuple[list[Any], list[tuple[str, int]]]:
    """(training items, held-out (similar question, item index)): a fraction of every item's similar
    questions is held out, always leaving at least one for training."""
    rng = random.Random(seed)
    train, held = [], []
    for i, item in enumerate(items):
        sims = list(item.similar)
        rng.shuffle(sims)
        n_out = min(len(sims) - 1, round(len(sims) * fraction)) if len(sims) > 1 else 0
        held += [(s, i) for s in sims[:n_out]]
        train.append(item.model_copy(update={"similar": sims[n_out:]}))
    return train, held


def evaluate(model_dir: Path, items: list[Any], train: list[Any], held: list[tuple[str, int]],
             settings: Any) -> dict[str, float]:
    """top-1 and pair accuracy of the encoder in `model_dir` on the held-out questions."""
    from csbot.models.embedder import Embedder
    from kbbot.matcher import DOC_PREFIX
    from kbbot.pair_eval import pair_eval

    enc = Embedder(model_dir, device=settings.models.device, torch_threads=settings.models.torch_threads)
    enc.load()
    standards = [it.question for it in items]
    std_vecs = enc.encode(standards, prefix=DOC_PREFIX)
    q_vecs = enc.encode([q for q, _ in held], prefix=DOC_PREFIX)
    sims = q_vecs @ std_vecs.T
    top1 = float(np.mean(np.argmax(sims, axis=1) == np.asarray([i for _, i in held])))

    def pairs_of(questions: list[tuple[str, int]], vecs: np.ndarray) -> list[tuple[str, str, int]]:
        """Each question with its own standard question (1) and the closest other one (0, a hard negative)."""
        out = []
        for (q, i), row in zip(questions, vecs @ std_vecs.T, strict=True):
            row = row.copy()
            row[i] = -np.inf
            out += [(q, standards[i], 1), (q, standards[int(np.argmax(row))], 0)]
        return out

    train_q = [(s, i) for i, it in enumerate(train) for s in it.similar]
    dev = pairs_of(train_q, enc.encode([q for q, _ in train_q], prefix=DOC_PREFIX)) if train_q else None
    test = pairs_of(held, q_vecs)

    def score(ps: list[tuple[str, str]]) -> np.ndarray:
        a = enc.encode([p[0] for p in ps], prefix=DOC_PREFIX)
        b = enc.encode([p[1] for p in ps], prefix=DOC_PREFIX)
        return np.sum(a * b, axis=1)

    rep = pair_eval(score, test, dev)
    return {"top1": round(top1, 4), "pair_accuracy": float(rep["accuracy"]), "pair_f1": float(rep["f1"])}


def serving_embedder(job: JobContext) -> tuple[Path, str]:
    """The embedder serving the tenant (its own, the shared one, else the shipped one): the starting point."""
    from csbot.models.embedder import dir_version
    from csbot.models.hub import EMBEDDER_DIR
    from csbot.models.registry import GLOBAL_TENANT

    for owner in (job.tenant_id, GLOBAL_TENANT):
        row = job.registry.serving(owner, ROLE)
        if row is not None:
            return Path(row.path), row.version
    path = job.settings.models_dir / EMBEDDER_DIR
    if not path.exists():
        raise ValueError(f"no embedder to start from: {path} is missing (csbot models prepare)")
    return path, dir_version(path)


def run(job: JobContext) -> JobResult:
    from kbbot.finetune_embedder import EmbedderTrainConfig, finetune
    from kbbot.kb_store import KBStore

    items = [it for it in KBStore(job.db).draft_items(job.tenant_id) if it.enabled]
    if not items:
        raise ValueError(f"tenant {job.tenant_id} has no FAQ items to fine-tune on")
    p = job.params
    seed = int(p.get("seed", 13))
    train, held = split_items(items, float(p.get("holdout_fraction", HOLDOUT_FRACTION)), seed)
    if not held:
        raise ValueError(f"tenant {job.tenant_id}: no item has two similar questions, nothing to hold out "
                         "for the evaluation report")
    base_path, base_version = serving_embedder(job)
    job.log(f"base embedder {base_version}; {len(items)} FAQ items, {len(held)} held-out similar questions")
    cfg = EmbedderTrainConfig(epochs=float(p.get("epochs", 1.0)), batch_size=int(p.get("batch_size", job.batch_size * 8)),
                              lr=float(p.get("lr", 2e-5)), max_pairs=p.get("max_pairs"), seed=seed)
    before = evaluate(base_path, items, train, held, job.settings)
    job.log(f"before: top1 {before['top1']}, pair accuracy {before['pair_accuracy']}")
    job.progress(0.1)
    job.check_cancel()

    def progress(done: int, total: int) -> None:
        job.progress(0.1 + 0.75 * done / max(1, total))
        job.check_cancel()  # JobCancelled raised from the trainer callback ends training at this step

    job.settings.models_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=job.settings.models_dir, prefix=f"job-{job.job_id}-") as tmp:
        out = Path(tmp) / "embedder"
        trained = finetune(base_path, train, cfg, out=out, progress=progress)
        job.check_cancel()
        after = evaluate(out, items, train, held, job.settings)
        job.log(f"after: top1 {after['top1']}, pair accuracy {after['pair_accuracy']}")
        metrics: dict[str, Any] = {**after, **{f"{k}_before": v for k, v in before.items()},
                                   "primary": after["top1"], "n_heldout": len(held),
                                   "triplets": int(trained.get("triplets", 0)), "base_version": base_version}
        job.progress(0.95)
        job.check_cancel()
        info = job.registry.register(job.tenant_id, ROLE, out, metrics=metrics, move=True,
                                     params={"job_id": job.job_id, "kind": "embedder", "from": base_version,
                                             **{k: str(v) for k, v in cfg.__dict__.items()}},
                                     note=f"job {job.job_id}")
    job.log(f"registered {ROLE} {info.version} as a candidate (publish the KB after promoting it)")
    return JobResult(version_id=info.id, metrics=metrics, detail={"version": info.version})
